//! Inbound PSP notifications (stored as received, de-duplicated) and the look-ups the
//! notification flow and the reconciler need.

use async_trait::async_trait;

use super::decode::{self, AGREEMENT_COLUMNS, TX_COLUMNS, flag_value};
use super::sql::SqlStore;
use super::{AgreementRecord, StoreError, StoreResult, TransactionRecord, TxUpdate};
use crate::domain::{Ticks, TxKind};

/// An authentic notification as received, with what we made of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotificationRecord {
    pub merchant_id: String,
    pub psp: String,
    /// Identifies the event: a redelivery or a copy from a second webhook has the same key.
    pub dedupe_key: String,
    pub received_at: Ticks,
    /// The authentication parts the adapter names (`Capabilities::notification_headers`), as
    /// a JSON object of headers; `None` when none were sent.
    pub auth: Option<String>,
    /// The body exactly as received (for an encrypting PSP: ciphertext, no personal data in
    /// clear at rest).
    pub body: Vec<u8>,
    pub event: String,
    pub psp_tx_id: Option<String>,
    pub transaction_id: Option<String>,
    /// `applied`, `stale`, `amount mismatch`, `unknown transaction`, …
    pub outcome: String,
    /// Whether this record uses up the event key, so that a copy of the event is a duplicate:
    /// true for events applied, verified or parked; false for one that could not be verified.
    pub consumes: bool,
    /// The PSP-neutral event as JSON, when it is parked until its transaction gets there.
    pub parked_event: Option<String>,
}

/// An event kept until the transaction it refers to can take it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParkedEvent {
    pub id: i64,
    pub merchant_id: String,
    /// Our id of the transaction the event waits for; `None` while the PSP transaction it
    /// refers to is not known to be ours yet (e.g. its answer was lost).
    pub transaction_id: Option<String>,
    pub dedupe_key: String,
    /// The PSP-neutral event as JSON.
    pub event: String,
    pub received_at: Ticks,
}

/// A versioned transaction change to commit together with a notification.
#[derive(Debug, Clone)]
pub struct NotificationChange {
    pub tx_id: String,
    pub expected: Ticks,
    pub at: Ticks,
    pub update: TxUpdate,
}

/// Notification and reconciliation queries.
#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Stores `n` and applies `change` in one DB transaction. `Ok(false)`: a duplicate, nothing
    /// written. `Err(Conflict)`: the transaction's version moved; nothing written, retry.
    async fn record_notification(
        &self,
        n: &NotificationRecord,
        change: Option<&NotificationChange>,
    ) -> StoreResult<bool>;
    /// Whether an event with this key was already applied, verified or parked.
    async fn event_seen(&self, merchant_id: &str, dedupe_key: &str) -> StoreResult<bool>;
    /// Events parked for one transaction, oldest first.
    async fn parked_for(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<ParkedEvent>>;
    /// Parked events of every merchant with an id above `after`, oldest first, at most `limit`
    /// (the reconciler's sweep pages through them all; the console reads the first page).
    async fn parked_all(&self, after: i64, limit: i64) -> StoreResult<Vec<ParkedEvent>>;
    /// Marks a parked event resolved with `outcome` and applies `change`, in one DB
    /// transaction. `Ok(false)`: someone else resolved it first, nothing written.
    /// `Err(Conflict)`: the transaction's version moved; nothing written, retry.
    async fn resolve_parked(
        &self,
        p: &ParkedEvent,
        outcome: &str,
        change: Option<&NotificationChange>,
    ) -> StoreResult<bool>;
    async fn count_notifications(&self, merchant_id: &str) -> StoreResult<i64>;
    async fn transaction_by_psp_id(
        &self,
        merchant_id: &str,
        psp_tx_id: &str,
    ) -> StoreResult<Option<TransactionRecord>>;
    /// The agreement holding an adapter-owned credential.
    async fn agreement_by_credential(
        &self,
        merchant_id: &str,
        credential: &str,
    ) -> StoreResult<Option<AgreementRecord>>;
    /// The newest preauth of an agreement (the one a type-4 webhook names).
    async fn latest_preauth_of_agreement(
        &self,
        merchant_id: &str,
        agreement_id: &str,
    ) -> StoreResult<Option<TransactionRecord>>;
    /// Transactions due for a PSP status query, across merchants: unknown outcomes whose
    /// next query time has come, and checkouts that expired before `checkouts_expired_by`.
    async fn reconcile_due(
        &self,
        now: Ticks,
        checkouts_expired_by: Ticks,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRecord>>;
}

const PARKED_COLUMNS: &str = "id, merchant_id, transaction_id, dedupe_key, event_data, received_at";

fn parked(row: &sqlx::any::AnyRow) -> StoreResult<ParkedEvent> {
    use sqlx::Row;
    let text = |col: &str| -> StoreResult<String> {
        row.try_get::<Option<String>, _>(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("parked notification without {col}")))
    };
    Ok(ParkedEvent {
        id: row.try_get("id")?,
        merchant_id: text("merchant_id")?,
        transaction_id: row.try_get("transaction_id")?,
        dedupe_key: text("dedupe_key")?,
        event: text("event_data")?,
        received_at: Ticks(row.try_get("received_at")?),
    })
}

impl SqlStore {
    /// Applies `change` (if any) on `db` and commits; rolls back on a version conflict or a
    /// broken money rule.
    async fn finish_with(
        &self,
        mut db: sqlx::Transaction<'_, sqlx::Any>,
        merchant_id: &str,
        change: Option<&NotificationChange>,
    ) -> StoreResult<bool> {
        if let Some(c) = change {
            let applied = self
                .update_in(&mut db, merchant_id, &c.tx_id, c.expected, c.at, &c.update)
                .await;
            match applied {
                Ok(Some(_)) => {}
                Ok(None) => {
                    db.rollback().await?;
                    return Err(self.miss(merchant_id, &c.tx_id).await);
                }
                Err(e) => {
                    db.rollback().await?;
                    return Err(e);
                }
            }
        }
        db.commit().await?;
        Ok(true)
    }
}

#[async_trait]
impl NotificationStore for SqlStore {
    async fn record_notification(
        &self,
        n: &NotificationRecord,
        change: Option<&NotificationChange>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let mut db = sqlx::Connection::begin(&mut *conn).await?;
        let done = sqlx::query(
            "INSERT INTO notifications (merchant_id, psp, dedupe_key, received_at, auth, body, \
             event, psp_tx_id, transaction_id, outcome, consumes, parked, event_data) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
             ON CONFLICT (merchant_id, dedupe_key) WHERE consumes = 1 DO NOTHING",
        )
        .bind(&n.merchant_id)
        .bind(&n.psp)
        .bind(&n.dedupe_key)
        .bind(n.received_at.0)
        .bind(&n.auth)
        .bind(&n.body)
        .bind(&n.event)
        .bind(&n.psp_tx_id)
        .bind(&n.transaction_id)
        .bind(&n.outcome)
        .bind(flag_value(n.consumes))
        .bind(flag_value(n.parked_event.is_some()))
        .bind(&n.parked_event)
        .execute(&mut *db)
        .await?;
        if done.rows_affected() == 0 {
            db.rollback().await?;
            return Ok(false);
        }
        self.finish_with(db, &n.merchant_id, change).await
    }

    async fn event_seen(&self, merchant_id: &str, dedupe_key: &str) -> StoreResult<bool> {
        let row = sqlx::query(
            "SELECT COUNT(*) AS n FROM notifications \
             WHERE merchant_id = $1 AND dedupe_key = $2 AND consumes = 1",
        )
        .bind(merchant_id)
        .bind(dedupe_key)
        .fetch_one(&mut *self.conn().await?)
        .await?;
        Ok(sqlx::Row::try_get::<i64, _>(&row, "n")? > 0)
    }

    async fn parked_for(&self, merchant_id: &str, tx_id: &str) -> StoreResult<Vec<ParkedEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {PARKED_COLUMNS} FROM notifications \
             WHERE merchant_id = $1 AND transaction_id = $2 AND parked = 1 ORDER BY id"
        ))
        .bind(merchant_id)
        .bind(tx_id)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter().map(parked).collect()
    }

    async fn parked_all(&self, after: i64, limit: i64) -> StoreResult<Vec<ParkedEvent>> {
        let rows = sqlx::query(&format!(
            "SELECT {PARKED_COLUMNS} FROM notifications WHERE parked = 1 AND id > $1 \
             ORDER BY id LIMIT $2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&mut *self.conn().await?)
        .await?;
        rows.iter().map(parked).collect()
    }

    async fn resolve_parked(
        &self,
        p: &ParkedEvent,
        outcome: &str,
        change: Option<&NotificationChange>,
    ) -> StoreResult<bool> {
        let mut conn = self.conn().await?;
        let mut db = sqlx::Connection::begin(&mut *conn).await?;
        let done = sqlx::query(
            "UPDATE notifications SET parked = 0, outcome = $1 \
             WHERE id = $2 AND merchant_id = $3 AND parked = 1",
        )
        .bind(outcome)
        .bind(p.id)
        .bind(&p.merchant_id)
        .execute(&mut *db)
        .await?;
        if done.rows_affected() == 0 {
            db.rollback().await?;
            return Ok(false);
        }
        self.finish_with(db, &p.merchant_id, change).await
    }

    async fn count_notifications(&self, merchant_id: &str) -> StoreResult<i64> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM notifications WHERE merchant_id = $1")
            .bind(merchant_id)
            .fetch_one(&mut *self.conn().await?)
            .await?;
        sqlx::Row::try_get::<i64, _>(&row, "n").map_err(StoreError::from)
    }

    async fn transaction_by_psp_id(
        &self,
        merchant_id: &str,
        psp_tx_id: &str,
    ) -> StoreResult<Option<TransactionRecord>> {
        self.tx_where(
            "merchant_id = $1 AND psp_tx_id = $2",
            merchant_id,
            psp_tx_id,
        )
        .await
    }

    async fn agreement_by_credential(
        &self,
        merchant_id: &str,
        credential: &str,
    ) -> StoreResult<Option<AgreementRecord>> {
        let sql = format!(
            "SELECT {AGREEMENT_COLUMNS} FROM agreements WHERE merchant_id = $1 AND credential = $2"
        );
        let row = sqlx::query(&sql)
            .bind(merchant_id)
            .bind(credential)
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(decode::agreement).transpose()
    }

    async fn latest_preauth_of_agreement(
        &self,
        merchant_id: &str,
        agreement_id: &str,
    ) -> StoreResult<Option<TransactionRecord>> {
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND agreement_id = $2 \
             AND kind = $3 ORDER BY created_at DESC LIMIT 1"
        );
        let row = sqlx::query(&sql)
            .bind(merchant_id)
            .bind(agreement_id)
            .bind(TxKind::Preauth.as_str())
            .fetch_optional(&mut *self.conn().await?)
            .await?;
        row.as_ref().map(decode::transaction).transpose()
    }

    async fn reconcile_due(
        &self,
        now: Ticks,
        checkouts_expired_by: Ticks,
        limit: i64,
    ) -> StoreResult<Vec<TransactionRecord>> {
        let sql = format!(
            "SELECT {TX_COLUMNS} FROM transactions WHERE \
             (needs_reconcile = 1 AND COALESCE(next_reconcile_at, 0) <= $1) \
             OR (status = 'Initiated' AND checkout_id IS NOT NULL AND expires_at <= $2 \
                 AND COALESCE(next_reconcile_at, 0) <= $1) \
             ORDER BY COALESCE(next_reconcile_at, 0), last_updated LIMIT $3"
        );
        let rows = sqlx::query(&sql)
            .bind(now.0)
            .bind(checkouts_expired_by.0)
            .bind(limit)
            .fetch_all(&mut *self.conn().await?)
            .await?;
        rows.iter().map(decode::transaction).collect()
    }
}
