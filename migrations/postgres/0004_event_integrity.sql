-- Payment state integrity. A notification consumes its event key only when it was applied,
-- verified or parked (`consumes`); one that was not (PSP status unavailable) never shadows a
-- later authentic copy. A parked event waits for the transaction it refers to (`parked`,
-- with its PSP-neutral `event_data`).
ALTER TABLE notifications DROP CONSTRAINT notifications_merchant_id_dedupe_key_key;
ALTER TABLE notifications ADD COLUMN consumes BIGINT NOT NULL DEFAULT 1;
ALTER TABLE notifications ADD COLUMN parked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN event_data TEXT;
CREATE UNIQUE INDEX notifications_event ON notifications (merchant_id, dedupe_key) WHERE consumes = 1;
CREATE INDEX notifications_parked ON notifications (merchant_id, transaction_id) WHERE parked = 1;

-- `payment` for money collected, `chargeback_reversal` for a chargeback the bank withdrew.
ALTER TABLE payment_items ADD COLUMN item_kind TEXT NOT NULL DEFAULT 'payment';
