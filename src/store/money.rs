//! The money rules (architecture invariant 9), checked inside the DB transaction that writes
//! the money, after the write and after the parent row is locked by its version bump, so two
//! replicas cannot both pass the check with the same headroom:
//! - a payment: collected ≤ requested; reversals ≤ chargebacks;
//!   refunds (succeeded and in flight) + chargebacks − reversals ≤ collected;
//! - a preauth: captures (not failed or cancelled) ≤ authorized, when it authorized money; and
//!   no such capture on a preauth that was cancelled or expired (`domain::state::Facts`).
//!
//! Totals are summed as exact decimals in Rust (SQL `SUM` over TEXT is a float in SQLite), by
//! the same `PaymentTotals::of` that the API's views use.

use rust_decimal::Decimal;
use sqlx::AnyConnection;

use super::decode::{self, TX_COLUMNS};
use super::{PaymentTotals, StoreError, StoreResult, TransactionRecord, reads};
use crate::domain::{TxKind, TxStatus};

/// The money of payment `id`, read on the caller's connection.
pub(super) async fn payment_totals(
    conn: &mut AnyConnection,
    merchant_id: &str,
    id: &str,
) -> StoreResult<PaymentTotals> {
    let items = reads::items_on(conn, merchant_id, id).await?;
    let chargebacks = reads::chargebacks_on(conn, merchant_id, id).await?;
    let children = reads::children_on(conn, merchant_id, id).await?;
    Ok(PaymentTotals::of(&items, &chargebacks, &children))
}

/// Why `t` breaks a payment rule, if it does.
pub fn payment_violation(requested: Decimal, t: &PaymentTotals) -> Option<String> {
    if t.paid > requested {
        return Some(format!(
            "collected {} would exceed the requested {requested}",
            t.paid
        ));
    }
    if t.reversed > t.charged_back {
        return Some(format!(
            "chargeback reversals {} would exceed the chargebacks {}",
            t.reversed, t.charged_back
        ));
    }
    let out = t.refunded + t.refunding + t.charged_back - t.reversed;
    (out > t.paid).then(|| {
        format!(
            "refunds {} and chargebacks {} (less reversals {}) would exceed the {} paid",
            t.refunded + t.refunding,
            t.charged_back,
            t.reversed,
            t.paid
        )
    })
}

pub(super) async fn read(
    conn: &mut AnyConnection,
    merchant_id: &str,
    id: &str,
) -> StoreResult<TransactionRecord> {
    let sql = format!("SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND id = $2");
    let row = sqlx::query(&sql)
        .bind(merchant_id)
        .bind(id)
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NotFound)?;
    decode::transaction(&row)
}

async fn check_one(conn: &mut AnyConnection, tx: &TransactionRecord) -> StoreResult<()> {
    match tx.kind {
        TxKind::Payment => {
            let t = payment_totals(conn, &tx.merchant_id, &tx.id).await?;
            match payment_violation(tx.requested_amount, &t) {
                Some(why) => Err(StoreError::MoneyRule(why)),
                None => Ok(()),
            }
        }
        TxKind::Preauth if matches!(tx.status, TxStatus::Cancelled | TxStatus::Expired) => {
            let captured =
                super::captured(&reads::children_on(conn, &tx.merchant_id, &tx.id).await?);
            if !captured.is_zero() {
                return Err(StoreError::MoneyRule(format!(
                    "a preauth with captures of {captured} cannot be {}",
                    tx.status
                )));
            }
            Ok(())
        }
        TxKind::Preauth if !tx.authorized_amount.is_zero() => {
            let captured =
                super::captured(&reads::children_on(conn, &tx.merchant_id, &tx.id).await?);
            if captured > tx.authorized_amount {
                return Err(StoreError::MoneyRule(format!(
                    "captures {captured} would exceed the {} authorized",
                    tx.authorized_amount
                )));
            }
            Ok(())
        }
        TxKind::Preauth | TxKind::Refund => Ok(()),
    }
}

/// A new child of a preauth whose money, collected at authorization, is being refunded by a
/// cancel (Succeeded and marked for the reconciler) is refused: the refund's amount was fixed
/// without it. Checked on insert only, after the parent's row is locked by its bump, so a capture
/// racing a cancel on another replica cannot slip in between.
pub(super) async fn check_new_child(
    conn: &mut AnyConnection,
    tx: &TransactionRecord,
) -> StoreResult<()> {
    let Some(parent) = &tx.parent_id else {
        return Ok(());
    };
    let p = read(conn, &tx.merchant_id, parent).await?;
    let refunding = p.kind == TxKind::Preauth
        && p.collected_at_authorization
        && p.status == TxStatus::Succeeded
        && p.needs_reconcile;
    if refunding {
        return Err(StoreError::MoneyRule(
            "the preauth's money is being refunded by its cancel".into(),
        ));
    }
    Ok(())
}

/// Checks the rules for `tx` and for its parent (whose totals include `tx`).
pub(super) async fn check(conn: &mut AnyConnection, tx: &TransactionRecord) -> StoreResult<()> {
    check_one(conn, tx).await?;
    if let Some(parent) = &tx.parent_id {
        let p = read(conn, &tx.merchant_id, parent).await?;
        check_one(conn, &p).await?;
    }
    Ok(())
}
