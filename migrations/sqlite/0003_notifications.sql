-- Reconciliation schedule for transactions with an unknown PSP outcome.
ALTER TABLE transactions ADD COLUMN next_reconcile_at INTEGER;
ALTER TABLE transactions ADD COLUMN reconcile_attempts INTEGER NOT NULL DEFAULT 0;
CREATE INDEX transactions_psp_tx ON transactions (merchant_id, psp_tx_id);

-- Every authentic PSP notification as received (still encrypted), once per dedupe key.
CREATE TABLE notifications (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id    TEXT NOT NULL REFERENCES merchants (id),
    psp            TEXT NOT NULL,
    dedupe_key     TEXT NOT NULL,
    received_at    INTEGER NOT NULL,
    iv             TEXT NOT NULL,
    tag            TEXT NOT NULL,
    body           BLOB NOT NULL,
    event          TEXT NOT NULL,
    psp_tx_id      TEXT,
    transaction_id TEXT,
    outcome        TEXT NOT NULL,
    UNIQUE (merchant_id, dedupe_key)
);
