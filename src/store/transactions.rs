//! The two writes on transactions: the idempotent insert and the compare-and-set update. Each runs
//! in one DB transaction together with its history entry (and, for updates, the appended items and
//! chargebacks, the agreement upsert, the parent bump and the coalesced outbox row: the second
//! half of this file), so a change is never half-recorded.

use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection};

use super::decode::{self, TX_COLUMNS, flag_value, to_json};
use super::sql::SqlStore;
use super::{
    AgreementRecord, Chargeback, Inserted, PaymentItem, StoreError, StoreResult, TransactionRecord,
    TxUpdate,
};
use crate::domain::{Ticks, WebhookType};

type AnyQuery<'q> = Query<'q, Any, AnyArguments<'q>>;

const INSERT_TX: &str = "INSERT INTO transactions (id, merchant_id, kind, billwerk_id, \
    agreement_id, role, currency, requested_amount, authorized_amount, status, psp_tx_id, \
    webhook_target, parent_id, is_initial, expires_at, checkout_id, checkout_token, success_url, \
    error_url, abort_url, language, reference_text, planned_execution_date, booking_date, error, \
    needs_reconcile, created_at, last_updated, next_reconcile_at, collected_at_authorization, \
    request_id) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, \
    $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31) \
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
        .bind(flag_value(tx.collected_at_authorization))
        .bind(&tx.request_id))
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
            let checked =
                match touch_parent(&mut db, &tx.merchant_id, parent, tx.last_updated).await {
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

// The parts of `apply_update` beyond the transaction row itself, on the caller's DB transaction.

impl SqlStore {
    pub(super) async fn apply_children(
        &self,
        conn: &mut AnyConnection,
        tx: &TransactionRecord,
        at: Ticks,
        u: &TxUpdate,
    ) -> StoreResult<()> {
        for item in &u.add_items {
            insert_item(conn, tx, item).await?;
        }
        if let Some(child) = &u.add_child {
            if child.merchant_id != tx.merchant_id || child.parent_id.as_deref() != Some(&tx.id) {
                return Err(StoreError::Corrupt("child of another transaction".into()));
            }
            bind_insert(child)?.execute(&mut *conn).await?;
            insert_history(conn, child, at, &u.note).await?;
        }
        for cb in &u.add_chargebacks {
            insert_chargeback(conn, tx, cb).await?;
        }
        if let Some(a) = &u.agreement {
            upsert_agreement(conn, &tx.merchant_id, a).await?;
        }
        if let Some(parent) = &u.touch_parent {
            touch_parent(conn, &tx.merchant_id, parent, at).await?;
            if u.notify.is_some() {
                // Billwerk hears of the payment too: its refunded and refundable amounts moved.
                let p = super::money::read(conn, &tx.merchant_id, parent).await?;
                enqueue(conn, &p, p.kind.webhook_type(), None, at).await?;
            }
        }
        if let Some(kind) = u.notify {
            let agreement_id = match kind {
                WebhookType::Agreement => u
                    .agreement
                    .as_ref()
                    .map(|a| a.agreement_id.as_str())
                    .or(tx.agreement_id.as_deref()),
                _ => None,
            };
            enqueue(conn, tx, kind, agreement_id, at).await?;
        }
        Ok(())
    }
}

async fn insert_item(
    conn: &mut AnyConnection,
    tx: &TransactionRecord,
    item: &PaymentItem,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO payment_items (transaction_id, merchant_id, external_item_id, amount, \
         booking_date, description, item_kind) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(&tx.id)
    .bind(&tx.merchant_id)
    .bind(&item.external_item_id)
    .bind(item.amount.to_string())
    .bind(item.booking_date.to_string())
    .bind(&item.description)
    .bind(item.kind.as_str())
    .execute(conn)
    .await?;
    Ok(())
}

async fn insert_chargeback(
    conn: &mut AnyConnection,
    tx: &TransactionRecord,
    cb: &Chargeback,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO chargebacks (transaction_id, merchant_id, external_item_id, amount, \
         booking_date, description, fee_amount, reason, psp_reason_code, psp_reason_message) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(&tx.id)
    .bind(&tx.merchant_id)
    .bind(&cb.external_item_id)
    .bind(cb.amount.to_string())
    .bind(cb.booking_date.to_string())
    .bind(&cb.description)
    .bind(cb.fee_amount.map(|d| d.to_string()))
    .bind(cb.reason.name())
    .bind(&cb.psp_reason_code)
    .bind(&cb.psp_reason_message)
    .execute(conn)
    .await?;
    Ok(())
}

/// Upserts under the updating merchant, whatever `a.merchant_id` says (tenant isolation).
async fn upsert_agreement(
    conn: &mut AnyConnection,
    merchant_id: &str,
    a: &AgreementRecord,
) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO agreements (merchant_id, agreement_id, status, role, currency, bearer, \
         credential, initial_psp_tx_id, is_debit, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (merchant_id, agreement_id) DO UPDATE SET status = excluded.status, \
         role = excluded.role, currency = excluded.currency, bearer = excluded.bearer, \
         credential = excluded.credential, \
         initial_psp_tx_id = excluded.initial_psp_tx_id, is_debit = excluded.is_debit, \
         updated_at = excluded.updated_at",
    )
    .bind(merchant_id)
    .bind(&a.agreement_id)
    .bind(a.status.name())
    .bind(a.role.map(|r| r.name()))
    .bind(&a.currency)
    .bind(to_json("bearer", &a.bearer)?)
    .bind(&a.credential)
    .bind(&a.initial_psp_tx_id)
    .bind(flag_value(a.is_debit))
    .bind(a.updated_at.0)
    .execute(conn)
    .await?;
    Ok(())
}

/// Moves the parent's version stamp strictly forward (to `at`, or by one tick if already there).
pub(super) async fn touch_parent(
    conn: &mut AnyConnection,
    merchant_id: &str,
    parent_id: &str,
    at: Ticks,
) -> StoreResult<()> {
    let done = sqlx::query(
        "UPDATE transactions SET last_updated = \
         CASE WHEN last_updated >= $1 THEN last_updated + 1 ELSE $1 END \
         WHERE id = $2 AND merchant_id = $3",
    )
    .bind(at.0)
    .bind(parent_id)
    .bind(merchant_id)
    .execute(conn)
    .await?;
    if done.rows_affected() == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

/// One pending row per (merchant, transaction, topic): a newer change overwrites the pending one
/// and bumps `version`, so a worker that claimed the older content does not mark it delivered.
/// Agreement webhooks have their own topic so they never replace the transaction's own.
async fn enqueue(
    conn: &mut AnyConnection,
    tx: &TransactionRecord,
    kind: WebhookType,
    agreement_id: Option<&str>,
    at: Ticks,
) -> StoreResult<()> {
    let topic = match kind {
        WebhookType::Agreement => "agreement",
        _ => "transaction",
    };
    sqlx::query(
        "INSERT INTO outbox (merchant_id, transaction_id, billwerk_id, agreement_id, \
         webhook_type, target_url, state, attempts, next_attempt_at, created_at, updated_at, \
         topic, version, pending_since) \
         VALUES ($1, $2, $3, $4, $5, $6, 'pending', 0, $7, $7, $7, $8, 0, $7) \
         ON CONFLICT (merchant_id, transaction_id, topic) WHERE state = 'pending' DO UPDATE SET \
         webhook_type = excluded.webhook_type, agreement_id = excluded.agreement_id, \
         target_url = excluded.target_url, updated_at = excluded.updated_at, \
         next_attempt_at = excluded.next_attempt_at, version = outbox.version + 1",
    )
    .bind(&tx.merchant_id)
    .bind(&tx.id)
    .bind(&tx.billwerk_id)
    .bind(agreement_id)
    .bind(kind.number())
    .bind(&tx.webhook_target)
    .bind(at.0)
    .bind(topic)
    .execute(conn)
    .await?;
    Ok(())
}
