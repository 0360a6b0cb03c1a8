//! The two writes on transactions: the idempotent insert and the compare-and-set update. Each runs
//! in one DB transaction together with its history entry (and, for updates, the appended items,
//! agreement upsert, parent bump and outbox row), so a change is never half-recorded.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::decode::{self, TX_COLUMNS, flag_value, to_json};
use super::sql::SqlStore;
use super::{Inserted, StoreError, StoreResult, TransactionRecord, TxUpdate};
use crate::domain::Ticks;

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

const INSERT_TX: &str = "INSERT INTO transactions (id, merchant_id, kind, billwerk_id, \
    agreement_id, role, currency, requested_amount, authorized_amount, status, psp_tx_id, \
    webhook_target, parent_id, is_initial, expires_at, checkout_id, checkout_token, success_url, \
    error_url, abort_url, language, reference_text, planned_execution_date, booking_date, error, \
    needs_reconcile, created_at, last_updated, next_reconcile_at, collected_at_authorization) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30) \
    ON CONFLICT (merchant_id, billwerk_id) DO NOTHING";

// `COALESCE($n, col)` keeps a column whose `TxUpdate` field is `None`; the error column needs an
// explicit flag because `Some(None)` (clear) and `None` (keep) both bind NULL.
const UPDATE_TX: &str = "UPDATE transactions SET status = COALESCE($1, status), \
    psp_tx_id = COALESCE($2, psp_tx_id), authorized_amount = COALESCE($3, authorized_amount), \
    expires_at = COALESCE($4, expires_at), checkout_id = COALESCE($5, checkout_id), \
    booking_date = COALESCE($6, booking_date), \
    error = CASE WHEN $7 = 1 THEN $8 ELSE error END, \
    needs_reconcile = COALESCE($9, needs_reconcile), last_updated = $10, \
    checkout_data = COALESCE($14, checkout_data), \
    next_reconcile_at = COALESCE($15, next_reconcile_at), \
    reconcile_attempts = COALESCE($16, reconcile_attempts), \
    collected_at_authorization = COALESCE($17, collected_at_authorization) \
    WHERE id = $11 AND merchant_id = $12 AND last_updated = $13";

pub(super) fn bind_insert<'q>(tx: &'q TransactionRecord) -> StoreResult<AnyQuery<'q>> {
    let error = tx.error.as_ref().map(|e| to_json("error", e)).transpose()?;
    Ok(sqlx::query(INSERT_TX)
        .bind(&tx.id)
        .bind(&tx.merchant_id)
        .bind(tx.kind.as_str())
        .bind(&tx.billwerk_id)
        .bind(&tx.agreement_id)
        .bind(tx.role.map(|r| r.name()))
        .bind(&tx.currency)
        .bind(tx.requested_amount.to_string())
        .bind(tx.authorized_amount.to_string())
        .bind(tx.status.name())
        .bind(&tx.psp_tx_id)
        .bind(&tx.webhook_target)
        .bind(&tx.parent_id)
        .bind(flag_value(tx.is_initial))
        .bind(tx.expires_at.map(|t| t.0))
        .bind(&tx.checkout_id)
        .bind(&tx.checkout_token)
        .bind(&tx.success_url)
        .bind(&tx.error_url)
        .bind(&tx.abort_url)
        .bind(&tx.language)
        .bind(&tx.reference_text)
        .bind(tx.planned_execution_date.map(|d| d.to_string()))
        .bind(tx.booking_date.map(|d| d.to_string()))
        .bind(error)
        .bind(flag_value(tx.needs_reconcile))
        .bind(tx.created_at.0)
        .bind(tx.last_updated.0)
        .bind(tx.next_reconcile_at.map(|t| t.0))
        .bind(flag_value(tx.collected_at_authorization)))
}

fn bind_update<'q>(
    u: &'q TxUpdate,
    merchant_id: &'q str,
    tx_id: &'q str,
    expected: Ticks,
    at: Ticks,
) -> StoreResult<AnyQuery<'q>> {
    let error = match &u.error {
        Some(Some(e)) => Some(to_json("error", e)?),
        _ => None,
    };
    Ok(sqlx::query(UPDATE_TX)
        .bind(u.status.map(|t| t.to().name()))
        .bind(u.psp_tx_id.as_deref())
        .bind(u.authorized_amount.map(|d| d.to_string()))
        .bind(u.expires_at.map(|t| t.0))
        .bind(u.checkout_id.as_deref())
        .bind(u.booking_date.map(|d| d.to_string()))
        .bind(flag_value(u.error.is_some()))
        .bind(error)
        .bind(u.needs_reconcile.map(flag_value))
        .bind(at.0)
        .bind(tx_id)
        .bind(merchant_id)
        .bind(expected.0)
        .bind(u.checkout_data.as_deref())
        .bind(u.next_reconcile_at.map(|t| t.0))
        .bind(u.reconcile_attempts)
        .bind(u.collected_at_authorization.map(flag_value)))
}

pub(super) async fn insert_history(
    conn: &mut AnyConnection,
    tx: &TransactionRecord,
    at: Ticks,
    note: &str,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO transaction_history (transaction_id, merchant_id, status, at, note) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&tx.id)
    .bind(&tx.merchant_id)
    .bind(tx.status.name())
    .bind(at.0)
    .bind(note)
    .execute(conn)
    .await?;
    Ok(())
}

async fn read_tx(
    conn: &mut AnyConnection,
    merchant_id: &str,
    tx_id: &str,
) -> StoreResult<TransactionRecord> {
    let sql = format!("SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(merchant_id)
        .bind(tx_id)
        .fetch_optional(conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    decode::transaction(&row)
}

impl SqlStore {
    pub(super) async fn insert_transaction_impl(
        &self,
        tx: &TransactionRecord,
        note: &str,
    ) -> StoreResult<Inserted> {
        let mut conn = self.conn().await?;
        let mut db = sqlx::Connection::begin(&mut *conn).await?;
        let done = bind_insert(tx)?.execute(&mut *db).await?;
        if done.rows_affected() == 1
            && let Some(parent) = &tx.parent_id
        {
            // A refund or capture changes its parent's money: bump the parent (which also locks
            // its row on Postgres) and check the money rules before anything is committed.
            let checked = match super::children::touch_parent(
                &mut db,
                &tx.merchant_id,
                parent,
                tx.last_updated,
            )
            .await
            {
                Ok(()) => match super::money::check_new_child(&mut db, tx).await {
                    Ok(()) => super::money::check(&mut db, tx).await,
                    Err(e) => Err(e),
                },
                Err(e) => Err(e),
            };
            if let Err(e) = checked {
                db.rollback().await?;
                return Err(e);
            }
        }
        if done.rows_affected() == 0 {
            db.rollback().await?;
            // One connection at a time: a unit of work never waits for a second checkout.
            drop(conn);
            let existing = self
                .tx_where(
                    "merchant_id = $1 AND billwerk_id = $2",
                    &tx.merchant_id,
                    &tx.billwerk_id,
                )
                .await?;
            return existing.map(Inserted::Existing).ok_or(StoreError::NotFound);
        }
        insert_history(&mut db, tx, tx.last_updated, note).await?;
        db.commit().await?;
        Ok(Inserted::New(tx.clone()))
    }

    pub(super) async fn apply_update_impl(
        &self,
        merchant_id: &str,
        tx_id: &str,
        expected: Ticks,
        at: Ticks,
        u: &TxUpdate,
    ) -> StoreResult<TransactionRecord> {
        let mut conn = self.conn().await?;
        let mut db = sqlx::Connection::begin(&mut *conn).await?;
        // The write comes first: a SQLite transaction that reads first holds a read snapshot and
        // can fail with SQLITE_BUSY instead of waiting when it later tries to write.
        match self
            .update_in(&mut db, merchant_id, tx_id, expected, at, u)
            .await
        {
            Ok(Some(fresh)) => {
                db.commit().await?;
                Ok(fresh)
            }
            Ok(None) => {
                db.rollback().await?;
                drop(conn);
                Err(self.miss(merchant_id, tx_id).await)
            }
            Err(e) => {
                db.rollback().await?;
                Err(e)
            }
        }
    }

    /// Applies `u` on an open DB transaction; `None` when the version check did not match.
    pub(super) async fn update_in(
        &self,
        db: &mut AnyConnection,
        merchant_id: &str,
        tx_id: &str,
        expected: Ticks,
        at: Ticks,
        u: &TxUpdate,
    ) -> StoreResult<Option<TransactionRecord>> {
        let at = if u.keep_version { expected } else { at };
        let done = bind_update(u, merchant_id, tx_id, expected, at)?
            .execute(&mut *db)
            .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        let fresh = read_tx(db, merchant_id, tx_id).await?;
        match &u.psp_call {
            Some(call) => {
                super::console::history_with_call(db, self.dialect, &fresh, at, &u.note, call)
                    .await?
            }
            None => insert_history(db, &fresh, at, &u.note).await?,
        }
        self.apply_children(db, &fresh, at, u).await?;
        super::money::check(db, &fresh).await?;
        Ok(Some(fresh))
    }

    /// Why a versioned update matched no row: a moved version, or no such transaction.
    pub(super) async fn miss(&self, merchant_id: &str, tx_id: &str) -> StoreError {
        match self
            .tx_where("merchant_id = $1 AND id = $2", merchant_id, tx_id)
            .await
        {
            Ok(Some(_)) => StoreError::Conflict,
            Ok(None) => StoreError::NotFound,
            Err(e) => e,
        }
    }
}
