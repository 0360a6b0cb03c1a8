//! The parts of `apply_update` beyond the transaction row itself: appended items and chargebacks,
//! the agreement upsert, the parent bump and the coalesced outbox row. All run on the caller's DB
//! transaction.

use sqlx::AnyConnection;

use super::decode::{flag_value, to_json};
use super::sql::SqlStore;
use super::{
    AgreementRecord, Chargeback, PaymentItem, StoreError, StoreResult, TransactionRecord, TxUpdate,
};
use crate::domain::{Ticks, WebhookType};

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
            super::write::bind_insert(child)?
                .execute(&mut *conn)
                .await?;
            super::write::insert_history(conn, child, at, &u.note).await?;
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
