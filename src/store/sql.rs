//! `SqlStore`: the one `Store` implementation, over sqlx's `Any` driver so SQLite and Postgres share
//! every query. SQL text uses `$N` placeholders (accepted by both) and only column types that `Any`
//! decodes alike; what differs per backend lives in `dialect.rs` (migrations, row locks) and
//! `sqlite.rs` / `postgres.rs` (connecting).

use async_trait::async_trait;
use sqlx::AnyPool;

use super::dialect::Dialect;
use super::{
    AgreementRecord, Chargeback, HistoryEntry, Inserted, MerchantRecord, PaymentItem, Store,
    StoreResult, TransactionRecord, TxUpdate,
};
use crate::domain::Ticks;

/// The SQL-backed store; cheap to clone (the pool is shared).
#[derive(Debug, Clone)]
pub struct SqlStore {
    pub(super) pool: AnyPool,
    pub(super) dialect: Dialect,
    /// Tells this pool's connections apart in a pinned unit of work (`session`).
    pool_id: u64,
    /// Units of work waiting for a connection right now (the pool does not count them).
    waiting: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// Decrements the waiting count when the wait ends (also when the waiting future is dropped).
struct Waiting<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

impl SqlStore {
    pub(super) fn new(pool: AnyPool, dialect: Dialect) -> Self {
        Self {
            pool,
            dialect,
            pool_id: super::session::next_pool_id(),
            waiting: std::sync::Arc::default(),
        }
    }

    /// A connection for one statement or DB transaction: the unit of work's pinned connection
    /// inside `session::pinned`, a checkout of its own otherwise.
    pub(super) async fn conn(&self) -> StoreResult<super::session::Conn> {
        self.waiting
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let _waiting = Waiting(&self.waiting);
        Ok(super::session::Conn::take(&self.pool, self.pool_id).await?)
    }

    /// The pool's connections now: open, idle, and units of work waiting for one.
    pub fn pool_stats(&self) -> super::PoolStats {
        let open = self.pool.size();
        let idle = u32::try_from(self.pool.num_idle()).unwrap_or(open);
        super::PoolStats {
            in_use: open.saturating_sub(idle),
            idle,
            waiting: self.waiting.load(std::sync::atomic::Ordering::Relaxed),
            max: self.pool.options().get_max_connections(),
        }
    }

    /// The underlying pool, for modules (e.g. the outbox worker) that run their own SQL. A
    /// statement run on it takes a checkout of its own: code reachable from a request's flow
    /// (inside `session::pinned`) must use `conn()` instead, or it waits for a second connection
    /// while holding the first.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Closes the pool and waits for its connections to finish.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

#[async_trait]
impl Store for SqlStore {
    fn backend(&self) -> &'static str {
        match self.dialect {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
        }
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn migrate(&self) -> StoreResult<super::SchemaStatus> {
        self.migrate_impl().await
    }

    fn pool_stats(&self) -> super::PoolStats {
        SqlStore::pool_stats(self)
    }

    async fn create_merchant(&self, m: &MerchantRecord, token_hash: &[u8]) -> StoreResult<()> {
        self.create_merchant_impl(m, token_hash).await
    }

    async fn list_merchants(&self) -> StoreResult<Vec<MerchantRecord>> {
        self.list_merchants_impl().await
    }

    async fn merchant_by_token_hash(
        &self,
        token_hash: &[u8],
        now: Ticks,
    ) -> StoreResult<Option<(MerchantRecord, Vec<u8>)>> {
        self.merchant_by_token_hash_impl(token_hash, now).await
    }

    async fn find_merchant(&self, id_or_name: &str) -> StoreResult<Option<MerchantRecord>> {
        self.find_merchant_impl(id_or_name).await
    }

    async fn rotate_token(
        &self,
        merchant_id: &str,
        token_hash: &[u8],
        previous_until: Option<Ticks>,
    ) -> StoreResult<()> {
        self.rotate_token_impl(merchant_id, token_hash, previous_until)
            .await
    }

    async fn set_merchant_disabled(
        &self,
        merchant_id: &str,
        since: Option<Ticks>,
    ) -> StoreResult<()> {
        self.set_merchant_disabled_impl(merchant_id, since).await
    }

    async fn get_settings(&self, merchant_id: &str) -> StoreResult<Option<Vec<u8>>> {
        self.get_settings_impl(merchant_id).await
    }

    async fn put_settings(&self, merchant_id: &str, sealed: &[u8], at: Ticks) -> StoreResult<()> {
        self.put_settings_impl(merchant_id, sealed, at).await
    }

    async fn get_agreement(
        &self,
        merchant_id: &str,
        agreement_id: &str,
    ) -> StoreResult<Option<AgreementRecord>> {
        self.get_agreement_impl(merchant_id, agreement_id).await
    }

    async fn insert_transaction(
        &self,
        tx: &TransactionRecord,
        note: &str,
    ) -> StoreResult<Inserted> {
        self.insert_transaction_impl(tx, note).await
    }

    async fn get_transaction(
        &self,
        merchant_id: &str,
        billwerk_id: &str,
    ) -> StoreResult<Option<TransactionRecord>> {
        self.tx_where(
            "merchant_id = $1 AND billwerk_id = $2",
            merchant_id,
            billwerk_id,
        )
        .await
    }

    async fn get_transaction_by_id(
        &self,
        merchant_id: &str,
        id: &str,
    ) -> StoreResult<Option<TransactionRecord>> {
        self.tx_where("merchant_id = $1 AND id = $2", merchant_id, id)
            .await
    }

    async fn get_by_checkout_token(&self, token: &str) -> StoreResult<Option<TransactionRecord>> {
        self.get_by_checkout_token_impl(token).await
    }

    async fn apply_update(
        &self,
        merchant_id: &str,
        tx_id: &str,
        expected: Ticks,
        at: Ticks,
        update: &TxUpdate,
    ) -> StoreResult<TransactionRecord> {
        self.apply_update_impl(merchant_id, tx_id, expected, at, update)
            .await
    }

    async fn list_items(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<PaymentItem>> {
        self.list_items_impl(merchant_id, tx_id).await
    }

    async fn list_chargebacks(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<Vec<Chargeback>> {
        self.list_chargebacks_impl(merchant_id, tx_id).await
    }

    async fn list_children(
        &self,
        merchant_id: &str,
        parent_id: &str,
    ) -> StoreResult<Vec<TransactionRecord>> {
        self.list_children_impl(merchant_id, parent_id).await
    }

    async fn payment_parts(
        &self,
        merchant_id: &str,
        tx_id: &str,
    ) -> StoreResult<super::PaymentParts> {
        self.payment_parts_impl(merchant_id, tx_id).await
    }

    async fn history(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<HistoryEntry>> {
        self.history_impl(merchant_id, tx_id).await
    }
}
