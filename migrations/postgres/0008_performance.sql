-- Leading-edge webhooks look up a transaction's latest delivery by (transaction, topic).
CREATE INDEX outbox_by_transaction ON outbox (transaction_id, topic, updated_at);
