//! Persistence behind one `Store` trait. `sql.rs` holds the one implementation over sqlx's `Any`
//! driver; `sqlite.rs` and `postgres.rs` hold what differs per backend (connection set-up,
//! migrations, dialect-specific SQL). Every query on tenant data is scoped by merchant.

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::state::Transition;
use crate::domain::{
    AgreementStatus, Bearer, ChargebackReason, Role, Ticks, TxError, TxKind, TxStatus, WebhookType,
};

/// A Billwerk account bound to one PSP adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MerchantRecord {
    pub id: String,
    pub name: String,
    pub psp: String,
    pub created_at: Ticks,
    /// Since when the API refuses this merchant's tokens (`merchants disable`); its PSP
    /// notifications are still received and applied. `None`: enabled.
    pub disabled_at: Option<Ticks>,
    /// Until when the token replaced by the last `merchants rotate-token` is still accepted.
    pub previous_token_until: Option<Ticks>,
}

/// One Billwerk transaction (preauth, payment or refund) and its current state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    /// Our id, returned as `externalTransactionId`.
    pub id: String,
    pub merchant_id: String,
    pub kind: TxKind,
    /// Billwerk's `transactionId`; unique per merchant across all kinds.
    pub billwerk_id: String,
    pub agreement_id: Option<String>,
    pub role: Option<Role>,
    pub currency: String,
    pub requested_amount: Decimal,
    /// Preauth only: the amount reserved (0 when nothing is reserved).
    pub authorized_amount: Decimal,
    pub status: TxStatus,
    pub psp_tx_id: Option<String>,
    pub webhook_target: String,
    /// Our id of the preauth a capture belongs to, or of the payment a refund belongs to.
    pub parent_id: Option<String>,
    pub is_initial: bool,
    pub expires_at: Option<Ticks>,
    pub checkout_id: Option<String>,
    /// Adapter-owned data of this checkout (`psp::Checkout::data`).
    pub checkout_data: Option<String>,
    /// Unguessable token in the URL of our hosted checkout page.
    pub checkout_token: Option<String>,
    pub success_url: Option<String>,
    pub error_url: Option<String>,
    pub abort_url: Option<String>,
    pub language: Option<String>,
    pub reference_text: Option<String>,
    pub planned_execution_date: Option<NaiveDate>,
    pub booking_date: Option<NaiveDate>,
    pub error: Option<TxError>,
    /// Set when the PSP outcome is unknown (timeout); the reconciler asks the PSP.
    pub needs_reconcile: bool,
    pub created_at: Ticks,
    /// Version stamp; strictly increasing per transaction.
    pub last_updated: Ticks,
    /// When the reconciler next asks the PSP (with `needs_reconcile`).
    pub next_reconcile_at: Option<Ticks>,
    pub reconcile_attempts: i64,
    /// Preauth only: the PSP collected the money (a debit) where an authorization was asked
    /// for, so `authorized_amount` is money already taken: captures are booked from the debit
    /// (`psp_tx_id`) and a cancel refunds it (issue #18; README, choices).
    pub collected_at_authorization: bool,
    /// The id of the HTTP request that created this row (`x-request-id`), for the console's
    /// timeline; `None` for rows no request created and rows written before migration 0014.
    pub request_id: Option<String>,
}

/// What a `payments[]` item records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ItemKind {
    /// Money collected from the customer.
    #[default]
    Payment,
    /// A chargeback the bank withdrew: the money is the merchant's again (contract §8.3 has no
    /// field for it, so it is reported as money collected; see the README's choices).
    ChargebackReversal,
}

impl ItemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Payment => "payment",
            Self::ChargebackReversal => "chargeback_reversal",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "payment" => Some(Self::Payment),
            "chargeback_reversal" => Some(Self::ChargebackReversal),
            _ => None,
        }
    }
}

/// A money movement inside a payment (`payments[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentItem {
    pub kind: ItemKind,
    pub external_item_id: Option<String>,
    pub amount: Decimal,
    pub booking_date: NaiveDate,
    pub description: Option<String>,
}

/// A chargeback inside a payment (`chargebacks[]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chargeback {
    pub external_item_id: Option<String>,
    pub amount: Decimal,
    pub booking_date: NaiveDate,
    pub description: Option<String>,
    pub fee_amount: Option<Decimal>,
    pub reason: ChargebackReason,
    pub psp_reason_code: Option<String>,
    pub psp_reason_message: Option<String>,
}

/// The payment agreement (agreementId → bearer and PSP registration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreementRecord {
    pub merchant_id: String,
    pub agreement_id: String,
    pub status: AgreementStatus,
    pub role: Option<Role>,
    pub currency: Option<String>,
    pub bearer: Bearer,
    /// The adapter-owned stored credential (`psp::StoredCredential::credential`).
    pub credential: Option<String>,
    pub initial_psp_tx_id: Option<String>,
    pub is_debit: bool,
    pub updated_at: Ticks,
}

/// One entry of a transaction's state history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryEntry {
    pub status: TxStatus,
    pub at: Ticks,
    pub note: String,
}

/// A change to one transaction, applied atomically together with its history entry, the
/// agreement upsert, the parent bump and the outbox row.
#[derive(Debug, Clone, Default)]
pub struct TxUpdate {
    /// New status, as allowed by `domain::state::decide`; `None` keeps the current one (e.g.
    /// only an item is added).
    pub status: Option<Transition>,
    pub psp_tx_id: Option<String>,
    pub authorized_amount: Option<Decimal>,
    pub expires_at: Option<Ticks>,
    pub checkout_id: Option<String>,
    pub checkout_data: Option<String>,
    pub booking_date: Option<NaiveDate>,
    /// `Some(None)` clears a recorded error, `Some(Some(e))` sets it.
    pub error: Option<Option<TxError>>,
    pub needs_reconcile: Option<bool>,
    pub next_reconcile_at: Option<Ticks>,
    pub reconcile_attempts: Option<i64>,
    /// Sets `TransactionRecord::collected_at_authorization`.
    pub collected_at_authorization: Option<bool>,
    pub add_items: Vec<PaymentItem>,
    pub add_chargebacks: Vec<Chargeback>,
    pub agreement: Option<AgreementRecord>,
    /// Also bump this transaction's `last_updated` (a payment whose refund changed).
    pub touch_parent: Option<String>,
    /// Queue a Billwerk webhook about this transaction (coalesced per transaction).
    pub notify: Option<WebhookType>,
    /// Free text for the history entry (e.g. the PSP result code).
    pub note: String,
    /// A child transaction created with this change (a refund made at the PSP's back office).
    pub add_child: Option<TransactionRecord>,
    /// Record the history entry without moving `last_updated` (nothing Billwerk sees changed,
    /// e.g. a contradiction noted for an operator).
    pub keep_version: bool,
    /// The PSP call this change follows from, written with it (the console's timeline).
    pub psp_call: Option<PspCallNote>,
}

/// The answer to an idempotent insert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New(TransactionRecord),
    /// The merchant already used this Billwerk transactionId.
    Existing(TransactionRecord),
}

/// Storage failures. A `Conflict` means the version stamp moved under us: re-read and retry.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("concurrent update, retry")]
    Conflict,
    #[error("not found")]
    NotFound,
    #[error("database error: {0}")]
    Db(sqlx::Error),
    #[error("migration error: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database's schema is not one this build may run on (e.g. a newer release applied a
    /// migration marked incompatible); the message says what to do.
    #[error("{0}")]
    Schema(String),
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// A change would break a money rule (captured ≤ authorized; refunds + chargebacks −
    /// reversals ≤ paid); nothing was written.
    #[error("{0}")]
    MoneyRule(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if connection_lost(&e) {
            postgres::note_connection_failure();
            session::mark_lost();
        }
        StoreError::Db(e)
    }
}

/// The connection itself failed: I/O, TLS or protocol errors, and the server's SQLSTATE classes
/// 08 (connection exception) and 57 (operator intervention, e.g. a terminated backend).
fn connection_lost(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(d) => d
            .code()
            .is_some_and(|c| c.starts_with("08") || c.starts_with("57") || sqlite_busy(&c)),
        _ => false,
    }
}

/// SQLite's `SQLITE_BUSY`/`SQLITE_LOCKED` and their extended codes (numeric, unlike Postgres'
/// five-character SQLSTATEs): another connection holds the file's write lock past the busy
/// timeout. Transient, like a lost connection.
fn sqlite_busy(code: &str) -> bool {
    code.len() <= 4 && code.parse::<u32>().is_ok_and(|n| matches!(n & 0xff, 5 | 6))
}

impl StoreError {
    /// The database could not be reached: connection refused or lost, no pooled connection
    /// within the acquire timeout, or (SQLite) the file stayed locked. The failed call may or
    /// may not have committed (a lost commit acknowledgement): retry with the version check,
    /// which tells the two apart.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Db(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::WorkerCrashed,
            ) => true,
            StoreError::Db(e) => connection_lost(e),
            _ => false,
        }
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Everything the service persists.
#[async_trait]
pub trait Store:
    OutboxStore + NotificationStore + OpsStore + ConsoleStore + Send + Sync + std::fmt::Debug
{
    /// `sqlite` or `postgres`.
    fn backend(&self) -> &'static str;
    /// Applies this build's pending migrations. Applied migrations this build does not know (a
    /// newer release's) are tolerated and returned, unless one is marked incompatible
    /// (`StoreError::Schema`).
    async fn migrate(&self) -> StoreResult<SchemaStatus>;
    /// A round trip to the database (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// The connection pool's state now (sampled for the `db_pool_*` gauges).
    fn pool_stats(&self) -> PoolStats;

    async fn create_merchant(&self, m: &MerchantRecord, token_hash: &[u8]) -> StoreResult<()>;
    async fn list_merchants(&self) -> StoreResult<Vec<MerchantRecord>>;
    /// The merchant and its stored token hash, looked up by hash: the current token, or the
    /// previous one while its overlap lasts (`previous_token_until` later than `now`).
    async fn merchant_by_token_hash(
        &self,
        token_hash: &[u8],
        now: Ticks,
    ) -> StoreResult<Option<(MerchantRecord, Vec<u8>)>>;
    /// By id or by name.
    async fn find_merchant(&self, id_or_name: &str) -> StoreResult<Option<MerchantRecord>>;
    /// Makes `token_hash` the merchant's token. With `previous_until`, the token it replaces
    /// stays valid until then (replacing any earlier previous token); without, it stops at once.
    async fn rotate_token(
        &self,
        merchant_id: &str,
        token_hash: &[u8],
        previous_until: Option<Ticks>,
    ) -> StoreResult<()>;
    /// Disables (`Some(since)`) or enables (`None`) the merchant's API access.
    async fn set_merchant_disabled(
        &self,
        merchant_id: &str,
        since: Option<Ticks>,
    ) -> StoreResult<()>;

    /// The sealed (encrypted) settings blob.
    async fn get_settings(&self, merchant_id: &str) -> StoreResult<Option<Vec<u8>>>;
    async fn put_settings(&self, merchant_id: &str, sealed: &[u8], at: Ticks) -> StoreResult<()>;

    async fn get_agreement(
        &self,
        merchant_id: &str,
        agreement_id: &str,
    ) -> StoreResult<Option<AgreementRecord>>;

    /// Inserts unless (merchant, billwerk_id) exists; records the first history entry.
    async fn insert_transaction(&self, tx: &TransactionRecord, note: &str)
    -> StoreResult<Inserted>;
    async fn get_transaction(
        &self,
        merchant_id: &str,
        billwerk_id: &str,
    ) -> StoreResult<Option<TransactionRecord>>;
    async fn get_transaction_by_id(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> StoreResult<Option<TransactionRecord>>;
    /// Looks up a preauth by the token in our hosted checkout URL (the token is the capability).
    async fn get_by_checkout_token(&self, token: &str) -> StoreResult<Option<TransactionRecord>>;
    /// Applies `update` if the transaction's `last_updated` still equals `expected`; the new
    /// stamp is `at`. Returns the updated record, or `StoreError::Conflict`.
    async fn apply_update(
        &self,
        merchant_id: &str,
        tx_id: &str,
        expected: Ticks,
        at: Ticks,
        update: &TxUpdate,
    ) -> StoreResult<TransactionRecord>;

    async fn list_items(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<PaymentItem>>;
    async fn list_chargebacks(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<Vec<Chargeback>>;
    /// Refund transactions whose parent is this payment.
    async fn list_children(
        &self,
        merchant_id: &str,
        parent_id: &str,
    ) -> StoreResult<Vec<TransactionRecord>>;
    /// A payment's items, chargebacks and refunds (what its view and money totals need). The
    /// SQL store reads them on one pooled connection: a connection's return to the pool costs
    /// a round trip, so three reads on one checkout cost two round trips fewer.
    async fn payment_parts(&self, merchant_id: &str, tx_id: &str) -> StoreResult<PaymentParts> {
        Ok((
            self.list_items(merchant_id, tx_id).await?,
            self.list_chargebacks(merchant_id, tx_id).await?,
            self.list_children(merchant_id, tx_id).await?,
        ))
    }
    async fn history(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<HistoryEntry>>;
}

/// A connection pool's state at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolStats {
    /// Connections checked out by a unit of work.
    pub in_use: u32,
    /// Open connections waiting in the pool.
    pub idle: u32,
    /// Units of work waiting for a connection.
    pub waiting: usize,
    /// `database.max_connections`.
    pub max: u32,
}

/// Items, chargebacks and child transactions (refunds) of a payment, each oldest first.
pub type PaymentParts = (Vec<PaymentItem>, Vec<Chargeback>, Vec<TransactionRecord>);

/// The money of a payment as the store's rules see it (all amounts exact).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PaymentTotals {
    /// Σ `payments[]` items that collected money.
    pub paid: Decimal,
    /// Σ chargeback reversals (also `payments[]` items).
    pub reversed: Decimal,
    /// Σ chargebacks.
    pub charged_back: Decimal,
    /// Σ refunds that succeeded.
    pub refunded: Decimal,
    /// Σ refunds still in flight (initiated or pending).
    pub refunding: Decimal,
    /// Σ chargebacks and refunds made at the PSP that wait (parked) for the refunds in flight to
    /// settle: not refundable meanwhile, so a new refund cannot take the room they already
    /// claim at the PSP. Filled by the flows from the parked events, never by [`Self::of`];
    /// only [`Self::refundable`] counts it, the money rules do not.
    pub claimed: Decimal,
}

/// What a preauth's captures hold: the amounts of its capture payments that did not fail or get
/// cancelled (in flight ones count, so two captures cannot use the same headroom).
pub fn captured(children: &[TransactionRecord]) -> Decimal {
    children
        .iter()
        .filter(|c| {
            c.kind == TxKind::Payment && !matches!(c.status, TxStatus::Failed | TxStatus::Cancelled)
        })
        .map(|c| c.requested_amount)
        .sum()
}

impl PaymentTotals {
    /// The totals of a payment from its items, chargebacks and child transactions.
    pub fn of(
        items: &[PaymentItem],
        chargebacks: &[Chargeback],
        children: &[TransactionRecord],
    ) -> Self {
        let mut t = PaymentTotals::default();
        for i in items {
            match i.kind {
                ItemKind::Payment => t.paid += i.amount,
                ItemKind::ChargebackReversal => t.reversed += i.amount,
            }
        }
        t.charged_back = chargebacks.iter().map(|c| c.amount).sum();
        for r in children.iter().filter(|c| c.kind == TxKind::Refund) {
            match r.status {
                TxStatus::Succeeded => t.refunded += r.requested_amount,
                TxStatus::Initiated | TxStatus::Pending => t.refunding += r.requested_amount,
                TxStatus::Failed | TxStatus::Cancelled | TxStatus::Expired => {}
            }
        }
        t
    }

    /// What can still be refunded: paid (plus reversed chargebacks) less refunds, refunds in
    /// flight, chargebacks and what parked PSP events claim; never negative.
    pub fn refundable(&self) -> Decimal {
        (self.paid + self.reversed
            - self.refunded
            - self.refunding
            - self.charged_back
            - self.claimed)
            .max(Decimal::ZERO)
    }
}

mod connect;
pub mod console;
mod decode;
mod dialect;
mod merchants;
mod money;
pub mod notifications;
mod open;
mod operations;
pub mod outbox;
mod postgres;
mod reads;
pub mod schema;
pub mod scratch;
pub mod session;
mod sql;
mod sqlite;
mod transactions;

#[cfg(test)]
mod tests;

pub use connect::{connect, redact_url};
pub use console::{ConsoleStore, PspCallNote};
pub use dialect::Dialect;
pub use money::payment_violation;
pub use notifications::{NotificationChange, NotificationRecord, NotificationStore, ParkedEvent};
pub use open::{SchemaAction, open};
pub use operations::OpsStore;
pub use outbox::OutboxStore;
pub use postgres::connect_postgres;
pub use schema::{ForeignMigration, SchemaStatus};
pub use scratch::{ScratchDb, postgres_admin_url_from_env};
pub use sql::SqlStore;
pub use sqlite::connect_sqlite;
