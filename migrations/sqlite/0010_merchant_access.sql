-- Token rotation with an overlap, and disabling a merchant. Additive only (expand/contract): the
-- previous release reads and writes merchants without knowing these columns.
-- previous_token_hash: the token replaced by the last rotation, accepted until
-- previous_token_expires_at (ticks); disabled_at (ticks): the API refuses the merchant's tokens.
ALTER TABLE merchants ADD COLUMN previous_token_hash BLOB;
ALTER TABLE merchants ADD COLUMN previous_token_expires_at INTEGER;
ALTER TABLE merchants ADD COLUMN disabled_at INTEGER;
CREATE INDEX merchants_previous_token ON merchants (previous_token_hash);
