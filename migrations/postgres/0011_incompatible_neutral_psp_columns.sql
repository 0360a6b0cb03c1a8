-- The PSP seam speaks no PSP's vocabulary: an agreement keeps an adapter-owned credential (a
-- card or account token, a customer and mandate, ...), a checkout adapter-owned data (a widget's
-- integrity value, the PSP page's URL), and a notification the authentication parts its
-- adapter names, as a JSON object of headers (NULL where none were sent). Releases before this
-- one write the old columns, so this migration is marked incompatible with them.
ALTER TABLE agreements RENAME COLUMN registration_id TO credential;
CREATE INDEX agreements_credential ON agreements (merchant_id, credential);
ALTER TABLE transactions RENAME COLUMN checkout_integrity TO checkout_data;
ALTER TABLE notifications ADD COLUMN auth TEXT;
UPDATE notifications SET auth = json_build_object('x-initialization-vector', iv, 'x-authentication-tag', tag)::text
    WHERE iv <> '' OR tag <> '';
ALTER TABLE notifications DROP COLUMN iv;
ALTER TABLE notifications DROP COLUMN tag;
