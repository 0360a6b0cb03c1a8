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
    let give_back = collected_without_credential(tx, r);
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
            if give_back {
                // The PSP holds the money of a preauth that failed its purpose: marked with
                // the outcome, so the refund (`preauth::give_back`) survives any crash.
                u.collected_at_authorization = Some(true);
                u.needs_reconcile = Some(true);
                u.next_reconcile_at = Some(now.plus_seconds(stamp.recheck_after));
                u.note = format!(
                    "{}; money collected at authorization, to be given back",
                    u.note
                );
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
            // Money the PSP collected instead of reserving does not lapse: captures are booked
            // from the debit until Billwerk cancels, which refunds the rest (README, choices).
            let collected = !amount.is_zero()
                && reading(&Asked::own(tx), r.kind.as_ref()) == Reading::Collected;
            u.authorized_amount = Some(amount);
            u.expires_at = Some(if amount.is_zero() || collected {
                FAR_FUTURE
            } else {
                now.plus_seconds(AUTH_VALIDITY_SECS)
            });
            if collected {
                u.collected_at_authorization = Some(true);
                u.note = format!("{}; money collected at authorization (a debit)", u.note);
            }
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

/// What we asked the PSP for. Every PSP answer — the S2S answer, the checkout's result, the
/// lookup by our reference, the status query, a notification — is checked against it by
/// [`check`] before it is trusted (issue #18).
#[derive(Debug, Clone)]
pub struct Asked {
    /// The transaction the answer is about (its ids name it in logs; its currency is asked for).
    pub tx_id: String,
    pub billwerk_id: String,
    /// The kind of money movement asked for.
    pub kind: EventKind,
    /// A debit may stand for it: an authorization the PSP collected at once (read as
    /// [`Reading::Collected`]).
    pub debit_stands_in: bool,
    /// The amount asked for; `None` where the request named none (a full reversal).
    pub amount: Option<Decimal>,
    pub currency: String,
    /// A stored payment method must come with a success (an initial preauth).
    pub registration: bool,
}

impl Asked {
    /// What `tx`'s own PSP call asked for (preauth, capture, charge, refund).
    pub fn own(tx: &TransactionRecord) -> Asked {
        let kind = match tx.kind {
            TxKind::Preauth => EventKind::Authorization,
            // A capture booked from its preauth's debit is that debit.
            TxKind::Payment if tx.parent_id.is_some() && !tx.collected_at_authorization => {
                EventKind::Capture
            }
            TxKind::Payment => EventKind::Debit,
            TxKind::Refund => EventKind::Refund,
        };
        Asked {
            tx_id: tx.id.clone(),
            billwerk_id: tx.billwerk_id.clone(),
            kind,
            debit_stands_in: tx.kind == TxKind::Preauth,
            amount: Some(tx.requested_amount),
            currency: tx.currency.clone(),
            registration: tx.kind == TxKind::Preauth && tx.is_initial,
        }
    }

    /// What Billwerk's Cancel of `preauth` asks the PSP for: a reversal of the authorization,
    /// or, for money collected at authorization, a refund of `amount` of the debit.
    pub fn cancel(preauth: &TransactionRecord, amount: Decimal) -> Asked {
        let collected = preauth.collected_at_authorization;
        Asked {
            kind: if collected {
                EventKind::Refund
            } else {
                EventKind::Reversal
            },
            debit_stands_in: false,
            amount: collected.then_some(amount),
            registration: false,
            ..Asked::own(preauth)
        }
    }
}

/// How the kind of a PSP answer reads against what was asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reading {
    /// What was asked for (or the PSP did not say which kind).
    AsAsked,
    /// A debit where an authorization was asked for: the money is already collected.
    Collected,
    /// Another kind: not this request's outcome.
    Other,
}

/// How an answer of kind `k` reads against `asked`.
pub fn reading(asked: &Asked, k: Option<&EventKind>) -> Reading {
    match k {
        None => Reading::AsAsked,
        Some(k) if *k == asked.kind => Reading::AsAsked,
        Some(EventKind::Debit) if asked.debit_stands_in => Reading::Collected,
        Some(_) => Reading::Other,
    }
}

/// A PSP result checked against what we asked for. A success whose amount, currency or kind
/// differs from the request is not trusted: it becomes unknown, so the transaction stays
/// Pending for the reconciler and an operator's eyes. A debit where an authorization was asked
/// for is trusted as what it is ([`Reading::Collected`]). A success that lacks a required
/// stored payment method failed its purpose (no later charge could use it).
pub fn check(asked: &Asked, r: &PspResult) -> PspResult {
    if !matches!(r.outcome, Outcome::Succeeded) {
        return r.clone();
    }
    let mut out = r.clone();
    let (tx_id, id) = (&asked.billwerk_id, &asked.tx_id);
    let amount_differs = asked
        .amount
        .is_some_and(|a| r.amount.is_some_and(|got| got != a));
    let currency_differs = r
        .currency
        .as_deref()
        .is_some_and(|c| !c.eq_ignore_ascii_case(&asked.currency));
    if amount_differs || currency_differs {
        tracing::warn!(transaction_id = %tx_id, internal_id = %id, "PSP reported a different amount or currency; not applied");
        out.outcome = Outcome::Unknown("amount or currency differs from the request".into());
    } else if let Some(k) = r
        .kind
        .as_ref()
        .filter(|k| reading(asked, Some(k)) == Reading::Other)
    {
        tracing::warn!(transaction_id = %tx_id, internal_id = %id, kind = ?k, asked = ?asked.kind, "PSP reported another kind of transaction");
        out.outcome = Outcome::Unknown(format!("the PSP reported a {k:?}"));
    } else if asked.registration && r.credential.is_none() {
        tracing::warn!(transaction_id = %tx_id, internal_id = %id, "PSP success without a stored payment method");
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

/// Whether `r` reports money collected for `tx`'s initial preauth that [`check`] fails for want
/// of a stored payment method: the money sits at the PSP and must be given back.
pub fn collected_without_credential(tx: &TransactionRecord, r: &PspResult) -> bool {
    let asked = Asked::own(tx);
    asked.registration
        && r.outcome == Outcome::Succeeded
        && r.credential.is_none()
        && !r.amount.unwrap_or(tx.requested_amount).is_zero()
        && reading(&asked, r.kind.as_ref()) == Reading::Collected
        && matches!(check(&asked, r).outcome, Outcome::Declined(_))
}

/// [`check`] of an answer about `tx`'s own PSP call.
pub fn checked(tx: &TransactionRecord, r: &PspResult) -> PspResult {
    check(&Asked::own(tx), r)
}

/// Whether a PSP event of kind `k` can be `tx`'s own outcome (as asked, or money collected
/// where an authorization was asked for).
pub fn fits(tx: &TransactionRecord, k: &EventKind) -> bool {
    reading(&Asked::own(tx), Some(k)) != Reading::Other
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
        // Read by operators on the console's timeline: words, not Rust's debug text.
        (Outcome::Succeeded, None) => "psp succeeded".into(),
        (Outcome::Pending, None) => "psp pending".into(),
        (Outcome::Declined(d), None) => match &d.psp_code {
            Some(c) => format!("psp declined ({:?}, {c}): {}", d.code, d.message),
            None => format!("psp declined ({:?}): {}", d.code, d.message),
        },
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

#[cfg(test)]
#[path = "outcome_tests.rs"]
mod tests;
