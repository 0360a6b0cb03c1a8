-- Reconciliation schedule for transactions with an unknown PSP outcome.
ALTER TABLE transactions ADD COLUMN next_reconcile_at BIGINT;
ALTER TABLE transactions ADD COLUMN reconcile_attempts BIGINT NOT NULL DEFAULT 0;
CREATE INDEX transactions_psp_tx ON transactions (merchant_id, psp_tx_id);

-- Every authentic PSP notification as received (still encrypted), once per dedupe key.
CREATE TABLE notifications (
    id             BIGSERIAL PRIMARY KEY,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    psp            TEXT NOT NULL,
    dedupe_key     TEXT NOT NULL,
    received_at    BIGINT NOT NULL,
    iv             TEXT NOT NULL,
    tag            TEXT NOT NULL,
    body           BYTEA NOT NULL,
    event          TEXT NOT NULL,
    psp_tx_id      TEXT,
    transaction_id TEXT,
    outcome        TEXT NOT NULL,
    UNIQUE (merchant_id, dedupe_key)
);
