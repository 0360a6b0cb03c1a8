-- The operator console (README: "Operator console"). New tables only (expand/contract): a release
-- without the console never reads them. Same tables and columns as the SQLite file.

-- Operator accounts (CLI `operators …`). password_hash: an Argon2id PHC string. role: viewer or
-- operator. merchants: merchant ids the operator may see, comma-separated; empty: all.
CREATE TABLE console_operators (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('viewer', 'operator')),
    merchants     TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL
);

-- Signed-in sessions: the SHA-256 of the cookie's random token (hex), never the token itself.
-- csrf: the synchronizer token every form of this session carries.
CREATE TABLE console_sessions (
    token_hash  TEXT PRIMARY KEY,
    operator_id TEXT NOT NULL REFERENCES console_operators (id),
    csrf        TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX console_sessions_operator ON console_sessions (operator_id);

-- What operators did (sign-ins, refusals, actions), newest shown first.
CREATE TABLE console_audit (
    id       BIGSERIAL PRIMARY KEY,
    at       BIGINT NOT NULL,
    operator TEXT NOT NULL,
    action   TEXT NOT NULL,
    target   TEXT NOT NULL,
    outcome  TEXT NOT NULL
);
CREATE INDEX console_audit_at ON console_audit (at);

-- Each call to the payment provider about a transaction, written in the same DB transaction as
-- the change it led to: operation, the provider's result code and text, how long it took. No
-- card or account data.
CREATE TABLE provider_calls (
    id             BIGSERIAL PRIMARY KEY,
    transaction_id TEXT NOT NULL,
    merchant_id    TEXT NOT NULL,
    at             BIGINT NOT NULL,
    operation      TEXT NOT NULL,
    result_code    TEXT,
    description    TEXT,
    duration_ms    BIGINT NOT NULL
);
CREATE INDEX provider_calls_tx ON provider_calls (merchant_id, transaction_id);

-- The console's transaction list: newest change first with keyset pagination, across merchants
-- or within one. Lookups by Billwerk id and provider id use the indexes led by those ids
-- (migration 0009).
CREATE INDEX transactions_recent ON transactions (last_updated, id);
-- No index led by merchant_id alone (migration 0009: a generic plan would read a payment's
-- rows through it); a merchant's page walks transactions_recent.
CREATE INDEX transactions_created ON transactions (created_at);
CREATE INDEX notifications_tx ON notifications (transaction_id);
CREATE INDEX outbox_attempts_at ON outbox_attempts (at);
