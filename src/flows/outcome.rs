//! Turns a PSP result into a change of one transaction. Whether the status may move is
//! `domain::state`'s call: a result that would move the transaction backwards changes nothing,
//! and one that contradicts a final state is reported as such, never applied.

use rust_decimal::Decimal;

use crate::domain::state::{self, Facts, Trigger, Verdict};
use crate::domain::{
    AgreementStatus, PaymentErrorCode, Role, Ticks, TxError, TxKind, TxStatus, WebhookType,
    time::FAR_FUTURE,
};
use crate::psp::{Decline, EventKind, Outcome, PspResult};
use crate::store::{AgreementRecord, ItemKind, PaymentItem, TransactionRecord, TxUpdate};

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

/// What a PSP result means for a transaction, as decided by `domain::state`.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Apply this update.
    Update(Box<TxUpdate>),
    /// Nothing new: the same state, or older news.
    NoChange,
    /// The result says `TxStatus` about a transaction whose outcome is already final and
    /// different. Never applied; the caller verifies and records it.
    Contradiction(TxStatus),
}

/// The update a PSP result implies for `tx`, or `None` if it would not move it forward. A
/// contradiction of a final state is logged and changes nothing.
pub fn update_for(tx: &TransactionRecord, r: &PspResult, stamp: &Stamp) -> Option<TxUpdate> {
    match effect(tx, r, stamp) {
        Effect::Update(u) => Some(*u),
        Effect::NoChange => None,
        Effect::Contradiction(to) => {
            tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, current = %tx.status, reported = %to,
                "PSP result contradicts a final state; not applied");
            None
        }
    }
}

/// The effect of a PSP result on `tx` (after checking it against what we asked for).
pub fn effect(tx: &TransactionRecord, r: &PspResult, stamp: &Stamp) -> Effect {
    let now = stamp.now;
    let r = &checked(tx, r);
    let reported = match &r.outcome {
        Outcome::Succeeded => TxStatus::Succeeded,
        Outcome::Pending | Outcome::Unknown(_) => TxStatus::Pending,
        Outcome::Declined(d) => d.status,
    };
    let transition = match state::decide(
        tx.kind,
        tx.status,
        reported,
        Trigger::PspOutcome,
        Facts::NONE,
    ) {
        Verdict::Contradiction => return Effect::Contradiction(reported),
        Verdict::Stale => return Effect::NoChange,
        Verdict::Same => None,
        Verdict::Move(t) => Some(t),
    };
    let unknown = matches!(r.outcome, Outcome::Unknown(_));
    let new_psp_id = r.psp_transaction_id.is_some() && r.psp_transaction_id != tx.psp_tx_id;
    let unscheduled = tx.status == TxStatus::Pending && !tx.needs_reconcile;
    if transition.is_none() && !unknown && !new_psp_id && !unscheduled {
        return Effect::NoChange;
    }
    // Every Pending transaction is awaiting the PSP with a reconciler deadline.
    let pending = transition.map_or(tx.status, |t| t.to()) == TxStatus::Pending;
    let schedule = pending && (transition.is_some() || unknown || unscheduled);
    let mut u = TxUpdate {
        status: transition,
        psp_tx_id: r.psp_transaction_id.clone(),
        needs_reconcile: Some(pending),
        next_reconcile_at: schedule.then(|| now.plus_seconds(stamp.recheck_after)),
        reconcile_attempts: transition.map(|_| 0),
        notify: (stamp.notify && transition.is_some()).then(|| tx.kind.webhook_type()),
        note: note(r),
        ..TxUpdate::default()
    };
    if transition.is_none() {
        return Effect::Update(Box::new(u));
    }
    // A refund that moves changes what its payment shows (refunded, refundable).
    if tx.kind == TxKind::Refund {
        u.touch_parent = tx.parent_id.clone();
    }
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
    Effect::Update(Box::new(u))
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
            u.agreement = r.credential.as_ref().and_then(|reg| {
                Some(AgreementRecord {
                    merchant_id: tx.merchant_id.clone(),
                    agreement_id: tx.agreement_id.clone()?,
                    status: AgreementStatus::Active,
                    role: tx.role,
                    currency: Some(tx.currency.clone()),
                    bearer: reg.bearer.clone(),
                    credential: Some(reg.credential.clone()),
                    initial_psp_tx_id: reg.initial_transaction_id.clone(),
                    is_debit: reg.is_debit || tx.role == Some(Role::Debit),
                    updated_at: now,
                })
            });
        }
        TxKind::Payment => u.add_items.push(PaymentItem {
            kind: ItemKind::Payment,
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
        TxKind::Refund => u.booking_date = Some(date),
    }
}

/// A PSP result checked against what we asked for. A success whose amount, currency or kind
/// differs from the request is not trusted: it becomes unknown, so the transaction stays
/// Pending for the reconciler and an operator's eyes. An initial preauth that succeeded
/// without storing the payment method failed its purpose (no later charge could use it).
pub fn checked(tx: &TransactionRecord, r: &PspResult) -> PspResult {
    if !matches!(r.outcome, Outcome::Succeeded) {
        return r.clone();
    }
    let mut out = r.clone();
    if differs(tx, r) {
        tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, "PSP reported a different amount or currency; not applied");
        out.outcome = Outcome::Unknown("amount or currency differs from the request".into());
    } else if let Some(k) = r.kind.as_ref().filter(|k| !fits(tx.kind, k)) {
        tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, kind = ?k, "PSP reported another kind of transaction");
        out.outcome = Outcome::Unknown(format!("the PSP reported a {k:?}"));
    } else if tx.kind == TxKind::Preauth && tx.is_initial && r.credential.is_none() {
        tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, "PSP success without a stored payment method");
        out.outcome = Outcome::Declined(Decline {
            // 422, not 5xx: Billwerk must not retry a GET that will always say the same.
            code: PaymentErrorCode::Rejected,
            status: TxStatus::Failed,
            psp_code: r.result_code.clone(),
            message: "the PSP accepted the payment but stored no payment method for the \
                      agreement"
                .into(),
        });
    }
    out
}

/// Whether a PSP event of kind `k` can be a `kind` transaction's own outcome.
pub fn fits(kind: TxKind, k: &EventKind) -> bool {
    matches!(
        (kind, k),
        (TxKind::Preauth, EventKind::Authorization | EventKind::Debit)
            | (TxKind::Payment, EventKind::Debit | EventKind::Capture)
            | (TxKind::Refund, EventKind::Refund)
    )
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

/// A status change with no PSP result behind it (a cancel, a confirmed reversal, a shopper
/// abort), if the state model allows it given `facts`; `None` (logged) otherwise.
pub fn local(
    tx: &TransactionRecord,
    facts: Facts,
    to: TxStatus,
    trigger: Trigger,
    error: Option<TxError>,
    note: &str,
    notify: Option<WebhookType>,
) -> Option<TxUpdate> {
    match state::decide(tx.kind, tx.status, to, trigger, facts) {
        Verdict::Move(t) => Some(TxUpdate {
            status: Some(t),
            error: error.map(Some),
            authorized_amount: (tx.kind == TxKind::Preauth && to != TxStatus::Succeeded)
                .then_some(Decimal::ZERO),
            needs_reconcile: Some(to == TxStatus::Pending),
            notify,
            note: note.into(),
            ..TxUpdate::default()
        }),
        v => {
            if v == Verdict::Contradiction {
                tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, current = %tx.status, wanted = %to, "refused status change");
            }
            None
        }
    }
}
