-- Payment state integrity. A notification consumes its event key only when it was applied,
-- verified or parked (`consumes`); one that was not (PSP status unavailable) never shadows a
-- later authentic copy. A parked event waits for the transaction it refers to (`parked`,
-- with its PSP-neutral `event_data`). SQLite cannot drop an inline UNIQUE, so the table is
-- rebuilt with the same columns plus the new ones.
CREATE TABLE notifications_v4 (
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
    consumes       INTEGER NOT NULL DEFAULT 1,
    parked         INTEGER NOT NULL DEFAULT 0,
    event_data     TEXT
);
INSERT INTO notifications_v4 (id, merchant_id, psp, dedupe_key, received_at, iv, tag, body, event,
    psp_tx_id, transaction_id, outcome)
SELECT id, merchant_id, psp, dedupe_key, received_at, iv, tag, body, event, psp_tx_id,
    transaction_id, outcome FROM notifications;
DROP TABLE notifications;
ALTER TABLE notifications_v4 RENAME TO notifications;
CREATE UNIQUE INDEX notifications_event ON notifications (merchant_id, dedupe_key) WHERE consumes = 1;
CREATE INDEX notifications_parked ON notifications (merchant_id, transaction_id) WHERE parked = 1;

-- `payment` for money collected, `chargeback_reversal` for a chargeback the bank withdrew.
ALTER TABLE payment_items ADD COLUMN item_kind TEXT NOT NULL DEFAULT 'payment';
