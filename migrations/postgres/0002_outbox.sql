-- Outbox worker: topics (agreement webhooks do not coalesce with the transaction's own), a version
-- bumped on every coalescing update (a change that lands while a delivery is in flight is not
-- lost), and the start of the current pending period (the give-up horizon restarts on redelivery).
ALTER TABLE outbox ADD COLUMN topic TEXT NOT NULL DEFAULT 'transaction';
ALTER TABLE outbox ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN pending_since BIGINT NOT NULL DEFAULT 0;
UPDATE outbox SET pending_since = created_at;
UPDATE outbox SET topic = 'agreement' WHERE webhook_type = 4;
DROP INDEX outbox_pending_per_tx;
CREATE UNIQUE INDEX outbox_pending_per_topic ON outbox (merchant_id, transaction_id, topic)
    WHERE state = 'pending';
CREATE INDEX outbox_updated ON outbox (updated_at);
