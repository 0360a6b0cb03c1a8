-- Initial schema (SQLite). Same tables and columns as migrations/postgres/0001_init.sql.
-- Types are chosen so sqlx's Any driver decodes both backends alike: TEXT for strings, exact
-- decimals and dates; INTEGER for ticks and 0/1 flags; BLOB for bytes; JSON as TEXT.

CREATE TABLE merchants (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    psp         TEXT NOT NULL,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

CREATE TABLE merchant_settings (
    merchant_id TEXT PRIMARY KEY REFERENCES merchants (id),
    sealed      BLOB NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE agreements (
    merchant_id       TEXT NOT NULL REFERENCES merchants (id),
    agreement_id      TEXT NOT NULL,
    status            TEXT NOT NULL,
    role              TEXT,
    currency          TEXT,
    bearer            TEXT NOT NULL,
    registration_id   TEXT,
    initial_psp_tx_id TEXT,
    is_debit          INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    PRIMARY KEY (merchant_id, agreement_id)
);

CREATE TABLE transactions (
    id                     TEXT PRIMARY KEY,
    merchant_id            TEXT NOT NULL REFERENCES merchants (id),
    kind                   TEXT NOT NULL,
    billwerk_id            TEXT NOT NULL,
    agreement_id           TEXT,
    role                   TEXT,
    currency               TEXT NOT NULL,
    requested_amount       TEXT NOT NULL,
    authorized_amount      TEXT NOT NULL,
    status                 TEXT NOT NULL,
    psp_tx_id              TEXT,
    webhook_target         TEXT NOT NULL,
    parent_id              TEXT,
    is_initial             INTEGER NOT NULL,
    expires_at             INTEGER,
    checkout_id            TEXT,
    checkout_integrity     TEXT,
    checkout_token         TEXT,
    success_url            TEXT,
    error_url              TEXT,
    abort_url              TEXT,
    language               TEXT,
    reference_text         TEXT,
    planned_execution_date TEXT,
    booking_date           TEXT,
    error                  TEXT,
    needs_reconcile        INTEGER NOT NULL,
    created_at             INTEGER NOT NULL,
    last_updated           INTEGER NOT NULL,
    UNIQUE (merchant_id, billwerk_id)
);
CREATE INDEX transactions_checkout_token ON transactions (checkout_token);
CREATE INDEX transactions_reconcile ON transactions (needs_reconcile, status);
CREATE INDEX transactions_parent ON transactions (merchant_id, parent_id);

CREATE TABLE transaction_history (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id TEXT NOT NULL REFERENCES transactions (id),
    merchant_id    TEXT NOT NULL,
    status         TEXT NOT NULL,
    at             INTEGER NOT NULL,
    note           TEXT NOT NULL
);
CREATE INDEX transaction_history_tx ON transaction_history (transaction_id);

CREATE TABLE payment_items (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id   TEXT NOT NULL REFERENCES transactions (id),
    merchant_id      TEXT NOT NULL,
    external_item_id TEXT,
    amount           TEXT NOT NULL,
    booking_date     TEXT NOT NULL,
    description      TEXT
);
CREATE INDEX payment_items_tx ON payment_items (transaction_id);

CREATE TABLE chargebacks (
    id                 INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id     TEXT NOT NULL REFERENCES transactions (id),
    merchant_id        TEXT NOT NULL,
    external_item_id   TEXT,
    amount             TEXT NOT NULL,
    booking_date       TEXT NOT NULL,
    description        TEXT,
    fee_amount         TEXT,
    reason             TEXT NOT NULL,
    psp_reason_code    TEXT,
    psp_reason_message TEXT
);
CREATE INDEX chargebacks_tx ON chargebacks (transaction_id);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    merchant_id     TEXT NOT NULL,
    transaction_id  TEXT NOT NULL REFERENCES transactions (id),
    billwerk_id     TEXT NOT NULL,
    agreement_id    TEXT,
    webhook_type    INTEGER NOT NULL,
    target_url      TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_until     INTEGER,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    last_error      TEXT
);
-- One pending notification per transaction: a newer change overwrites it (coalescing).
CREATE UNIQUE INDEX outbox_pending_per_tx ON outbox (merchant_id, transaction_id)
    WHERE state = 'pending';
CREATE INDEX outbox_due ON outbox (state, next_attempt_at);

CREATE TABLE outbox_attempts (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id        INTEGER NOT NULL REFERENCES outbox (id),
    at               INTEGER NOT NULL,
    http_status      INTEGER,
    latency_ms       INTEGER NOT NULL,
    response_excerpt TEXT,
    error            TEXT
);
CREATE INDEX outbox_attempts_outbox ON outbox_attempts (outbox_id);
