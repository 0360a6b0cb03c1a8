//! Turns a PSP result into a state change of one transaction. Forward-only: a result that would
//! move the transaction backwards (or out of a final state) changes nothing.

use rust_decimal::Decimal;

use crate::domain::{
    AgreementStatus, Role, Ticks, TxError, TxKind, TxStatus, WebhookType, time::FAR_FUTURE,
};
use crate::psp::{Outcome, PspResult};
use crate::store::{AgreementRecord, PaymentItem, TransactionRecord, TxUpdate};

/// How long a card authorization is reported valid (`expiresAt`), as card schemes allow.
pub const AUTH_VALIDITY_SECS: i64 = 7 * 24 * 3600;

/// When and how a result is recorded.
#[derive(Debug, Clone, Copy)]
pub struct Stamp {
    pub now: Ticks,
    /// Queue a Billwerk webhook (nobody is waiting for a synchronous answer).
    pub notify: bool,
    /// Seconds until the reconciler first asks the PSP about an unknown outcome.
    pub recheck_after: i64,
}

/// The update a PSP result implies for `tx`, or `None` if it would not move it forward.
pub fn update_for(tx: &TransactionRecord, r: &PspResult, stamp: &Stamp) -> Option<TxUpdate> {
    let (now, notify) = (stamp.now, stamp.notify);
    let r = &guard_amount(tx, r);
    let status = match &r.outcome {
        Outcome::Succeeded => TxStatus::Succeeded,
        Outcome::Pending | Outcome::Unknown(_) => TxStatus::Pending,
        Outcome::Declined(d) => d.status,
    };
    if status != tx.status && !tx.status.can_transition_to(status) {
        return None;
    }
    let unknown = matches!(r.outcome, Outcome::Unknown(_));
    // Nothing new: same status and no new PSP id (e.g. a pending event after we recorded it).
    let new_psp_id = r.psp_transaction_id.is_some() && r.psp_transaction_id != tx.psp_tx_id;
    if status == tx.status && !unknown && !new_psp_id {
        return None;
    }
    let mut u = TxUpdate {
        status: (status != tx.status).then_some(status),
        psp_tx_id: r.psp_transaction_id.clone(),
        needs_reconcile: Some(unknown),
        next_reconcile_at: unknown.then(|| now.plus_seconds(stamp.recheck_after)),
        reconcile_attempts: Some(0),
        notify: notify.then(|| tx.kind.webhook_type()),
        note: note(r),
        ..TxUpdate::default()
    };
    match &r.outcome {
        Outcome::Declined(d) => {
            u.error = Some(Some(TxError {
                code: d.code,
                message: d.message.clone(),
                psp_code: d.psp_code.clone(),
                received_at: now,
            }));
            if tx.kind == TxKind::Preauth {
                u.authorized_amount = Some(Decimal::ZERO);
            }
        }
        Outcome::Succeeded => succeed(tx, r, now, &mut u),
        Outcome::Pending | Outcome::Unknown(_) => {}
    }
    Some(u)
}

fn succeed(tx: &TransactionRecord, r: &PspResult, now: Ticks, u: &mut TxUpdate) {
    let amount = r.amount.unwrap_or(tx.requested_amount);
    let date = r.booking_date.unwrap_or_else(|| now.date());
    match tx.kind {
        TxKind::Preauth => {
            u.authorized_amount = Some(amount);
            u.expires_at = Some(if amount.is_zero() {
                FAR_FUTURE
            } else {
                now.plus_seconds(AUTH_VALIDITY_SECS)
            });
            u.agreement = r.registration.as_ref().and_then(|reg| {
                Some(AgreementRecord {
                    merchant_id: tx.merchant_id.clone(),
                    agreement_id: tx.agreement_id.clone()?,
                    status: AgreementStatus::Active,
                    role: tx.role,
                    currency: Some(tx.currency.clone()),
                    bearer: reg.bearer.clone(),
                    registration_id: Some(reg.registration_id.clone()),
                    initial_psp_tx_id: reg.initial_transaction_id.clone(),
                    is_debit: reg.is_debit || tx.role == Some(Role::Debit),
                    updated_at: now,
                })
            });
        }
        TxKind::Payment => u.add_items.push(PaymentItem {
            external_item_id: r.psp_transaction_id.clone(),
            amount,
            booking_date: date,
            description: Some(
                if tx.parent_id.is_some() {
                    "Capture"
                } else {
                    "Payment"
                }
                .into(),
            ),
        }),
        TxKind::Refund => {
            u.booking_date = Some(date);
            u.touch_parent = tx.parent_id.clone();
        }
    }
}

/// A PSP answer whose amount or currency differs from what we asked for is not trusted as a
/// success: it stays Pending for reconciliation and an operator's eyes.
fn guard_amount(tx: &TransactionRecord, r: &PspResult) -> PspResult {
    if matches!(r.outcome, Outcome::Succeeded) && differs(tx, r) {
        tracing::warn!(tx = %tx.id, "PSP reported a different amount or currency; not applied");
        let mut out = r.clone();
        out.outcome = Outcome::Unknown("amount or currency mismatch".into());
        return out;
    }
    r.clone()
}

/// Whether the PSP reports another amount or currency than the transaction's.
pub fn differs(tx: &TransactionRecord, r: &PspResult) -> bool {
    let amount_differs = r.amount.is_some_and(|a| a != tx.requested_amount);
    let currency_differs = r
        .currency
        .as_deref()
        .is_some_and(|c| !c.eq_ignore_ascii_case(&tx.currency));
    amount_differs || currency_differs
}

fn note(r: &PspResult) -> String {
    match (&r.outcome, &r.result_code) {
        (Outcome::Unknown(reason), _) => format!("psp outcome unknown: {reason}"),
        (_, Some(code)) => format!("psp {code}"),
        (o, None) => format!("psp {o:?}"),
    }
}

/// A local state change with no PSP result behind it (e.g. a shopper abort).
pub fn local(
    status: TxStatus,
    error: Option<TxError>,
    note: &str,
    notify: Option<WebhookType>,
) -> TxUpdate {
    TxUpdate {
        status: Some(status),
        error: error.map(Some),
        notify,
        note: note.into(),
        ..TxUpdate::default()
    }
}
