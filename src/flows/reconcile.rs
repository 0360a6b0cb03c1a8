//! The reconciler: asks the PSP about transactions whose outcome we do not know (timeouts,
//! dropped connections) and about checkouts past their lifetime, then records what it learns
//! with a Billwerk webhook. It looks the transaction up by our reference when the PSP id never
//! reached us; a transaction the PSP searched for and has still never heard of after a grace
//! period did not happen. A PSP that cannot search (`Lookup::Unsupported`) proves nothing: the
//! transaction stays Pending and is raised to an operator.

use super::outcome::{self, Effect};
use super::{App, called};
use crate::domain::{PaymentErrorCode, Ticks, TxStatus};
use crate::psp::{CheckoutRef, Decline, Lookup, MerchantPsp, Outcome, PspResult, Reference};
use crate::store::{PspCallNote, TransactionRecord, TxUpdate};

/// Timing of the reconciler, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub first_delay: i64,
    pub max_delay: i64,
    pub not_found_grace: i64,
    pub checkout_grace: i64,
    pub batch: i64,
}

impl Policy {
    /// Doubling from the first delay, capped.
    pub fn delay(&self, attempts: i64) -> i64 {
        let factor = 1_i64
            .checked_shl(u32::try_from(attempts.clamp(0, 30)).unwrap_or(30))
            .unwrap_or(i64::MAX);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// What one round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Report {
    pub examined: usize,
    pub resolved: usize,
    pub rescheduled: usize,
    /// Parked PSP events applied (or recorded) because their payment got there.
    pub released: usize,
}

/// One round over every due transaction.
#[tracing::instrument(level = "error", name = "reconcile_round", skip_all)]
pub async fn run_once(
    app: &App,
    policy: &Policy,
    now: Ticks,
) -> Result<Report, crate::store::StoreError> {
    let due = app
        .store
        .reconcile_due(now, now.plus_seconds(-policy.checkout_grace), policy.batch)
        .await?;
    let mut report = Report {
        examined: due.len(),
        ..Report::default()
    };
    for tx in due {
        match reconcile_one(app, policy, now, tx).await {
            Ok(true) => report.resolved += 1,
            Ok(false) => report.rescheduled += 1,
            Err(e) => {
                tracing::warn!(error = %e, retryable = e.is_retryable(), "reconciling a transaction failed")
            }
        }
    }
    // Parked events whose payment has meanwhile settled (or failed), e.g. after a crash
    // between the settlement and the release.
    // All of them, page by page: events that wait long (for a payment that stays pending) must
    // not keep newer ones from ever being swept.
    let mut after = 0;
    loop {
        let page = app.store.parked_all(after, policy.batch).await?;
        for p in &page {
            after = after.max(p.id);
            match super::notification::resolve_parked_at(app, p, now).await {
                Ok(true) => report.released += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, event = p.id, "parked event not resolved"),
            }
        }
        if page.len() < usize::try_from(policy.batch).unwrap_or(usize::MAX) {
            break;
        }
    }
    Ok(report)
}

/// The reconciler's status query for one transaction, now (the console's "ask the PSP now"):
/// what the PSP says is recorded through the transition authority, as in a round. A
/// transaction whose outcome is already known is not asked about. `Ok(true)` when its outcome
/// is known afterwards.
pub async fn ask_now(
    app: &App,
    policy: &Policy,
    tx: TransactionRecord,
) -> Result<bool, crate::contract::ApiError> {
    reconcile_one(app, policy, app.now(), tx).await
}

/// `Ok(true)` when the transaction's outcome is now known.
#[tracing::instrument(level = "error", name = "reconcile", skip_all,
    fields(transaction_id = %tx.billwerk_id, merchant_id = %tx.merchant_id, attempt = tx.reconcile_attempts))]
async fn reconcile_one(
    app: &App,
    policy: &Policy,
    now: Ticks,
    tx: TransactionRecord,
) -> Result<bool, crate::contract::ApiError> {
    let m = app.merchant(&tx.merchant_id).await?;
    let _guard = app.locks.lock(m.id(), &tx.billwerk_id).await;
    let Some(tx) = app.store.get_transaction_by_id(m.id(), &tx.id).await? else {
        return Ok(false);
    };
    if super::preauth::cancel_in_doubt(&tx) {
        return match super::preauth::settle_cancel(app, &m, tx.clone(), true, now).await? {
            Some(_) => Ok(true),
            None => reschedule(app, policy, now, tx, None).await,
        };
    }
    // Money collected for a preauth that failed: its refund is settled by the PSP's record.
    if super::preauth::give_back_due(&tx) {
        return match super::preauth::settle_give_back(app, &m, tx.clone(), now).await? {
            true => Ok(true),
            false => reschedule(app, policy, now, tx, None).await,
        };
    }
    // A capture of money collected at authorization needs no PSP answer (a crash left it).
    if tx.collected_at_authorization && tx.kind == crate::domain::TxKind::Payment {
        super::payment::book_collected(app, tx, true).await?;
        return Ok(true);
    }
    // A checkout is asked about as a checkout (its own status says paid, open or lapsed) until
    // a payment is known, also when an unanswered status query left it Pending.
    let checkout = matches!(tx.status, TxStatus::Initiated | TxStatus::Pending)
        && tx.checkout_id.is_some()
        && tx.psp_tx_id.is_none();
    if !tx.needs_reconcile && !checkout {
        return Ok(true);
    }
    // Settings that cannot be used now (removed, unreadable) prove nothing: ask again later.
    let psp = match app.psp(&m).await {
        Ok(psp) => psp,
        Err(e) => {
            tracing::warn!(transaction_id = %tx.billwerk_id, error = ?e.body.error_message,
                "the merchant's PSP settings cannot be used; asking again later");
            return reschedule(app, policy, now, tx, None).await;
        }
    };
    let (found, call): (Option<PspResult>, Option<PspCallNote>) =
        match (&tx.checkout_id, &tx.psp_tx_id) {
            (Some(c), _) if checkout => {
                let r = called::timed(
                    "checkout status",
                    psp.complete_checkout(&CheckoutRef {
                        checkout_id: c,
                        data: tx.checkout_data.as_deref(),
                        merchant_tx_id: &tx.billwerk_id,
                    }),
                )
                .await;
                (Some(r.result), Some(r.note))
            }
            (_, Some(id)) => {
                let (r, note) = called::timed_status("status", psp.fetch_status(id)).await;
                (r.ok(), Some(note))
            }
            (_, None) => {
                let known = app.known(&tx, false).await?;
                let (l, note) = called::timed_lookup(
                    "lookup",
                    psp.lookup(Reference::Own(&tx.billwerk_id), &known),
                )
                .await;
                let found = match l {
                    Lookup::Found(r) => Some(r),
                    // Only a PSP that searched and holds nothing proves the request never
                    // arrived.
                    Lookup::NotFound
                        if now.0 - tx.created_at.0 > policy.not_found_grace * 10_000_000 =>
                    {
                        Some(never_arrived())
                    }
                    Lookup::Unsupported => {
                        // Never failed for want of a search (invariant 5): Pending, for an
                        // operator.
                        super::preauth::lookup_unsupported(&m, &tx);
                        None
                    }
                    Lookup::NotFound | Lookup::Failed(_) => None,
                };
                (found, Some(note))
            }
        };
    // A pending answer is not an outcome: keep asking, with backoff.
    let known = found.filter(|r| matches!(r.outcome, Outcome::Succeeded | Outcome::Declined(_)));
    let stamp = app.stamp(now, true);
    if let Some(r) = known {
        let fresh = app
            .transition_noting(tx, call.as_ref(), |t| match outcome::effect(t, &r, &stamp) {
                Effect::Update(u) => Some(*u),
                Effect::NoChange => settle(t),
                Effect::Contradiction(to) => {
                    tracing::warn!(transaction_id = %t.billwerk_id, internal_id = %t.id, current = %t.status, reported = %to,
                        "PSP status contradicts a final state; not applied");
                    Some(TxUpdate {
                        needs_reconcile: Some(false),
                        note: format!(
                            "contradiction: the PSP's status says {to}; kept {}",
                            t.status
                        ),
                        keep_version: true,
                        ..TxUpdate::default()
                    })
                }
            })
            .await?;
        if super::preauth::give_back_due(&fresh) {
            // The outcome is known; what is left is the refund, sent now (or settled later).
            let fresh = super::preauth::give_back_locked(app, &m, fresh).await;
            return Ok(!fresh.needs_reconcile);
        }
        if !fresh.needs_reconcile {
            return Ok(true);
        }
        // Still pending (e.g. the answer did not match the request): fall through to backoff.
        return reschedule(app, policy, now, fresh, None).await;
    }
    reschedule(app, policy, now, tx, call.as_ref()).await
}

/// Asks again later, with backoff; `call` is the query that got no final answer (noted with
/// the new deadline).
async fn reschedule(
    app: &App,
    policy: &Policy,
    now: Ticks,
    tx: TransactionRecord,
    call: Option<&PspCallNote>,
) -> Result<bool, crate::contract::ApiError> {
    let attempts = tx.reconcile_attempts + 1;
    let update = TxUpdate {
        needs_reconcile: Some(true),
        next_reconcile_at: Some(now.plus_seconds(policy.delay(attempts))),
        reconcile_attempts: Some(attempts),
        note: format!("reconcile attempt {attempts}: outcome not final yet"),
        keep_version: true,
        ..TxUpdate::default()
    };
    app.transition_noting(tx, call, move |_| Some(update.clone()))
        .await?;
    Ok(false)
}

/// The result is already recorded (e.g. by a notification meanwhile): just stop asking.
fn settle(t: &TransactionRecord) -> Option<TxUpdate> {
    t.needs_reconcile.then(|| TxUpdate {
        needs_reconcile: Some(false),
        note: "reconciled: no change".into(),
        keep_version: true,
        ..TxUpdate::default()
    })
}

fn never_arrived() -> PspResult {
    PspResult::bare(Outcome::Declined(Decline {
        code: PaymentErrorCode::PSPConnectionProblem,
        status: TxStatus::Failed,
        psp_code: None,
        message: "the PSP never received this transaction".into(),
    }))
}

/// Runs rounds until `shutdown`, pausing `interval` between them.
pub async fn run(
    app: App,
    policy: Policy,
    interval: std::time::Duration,
    shutdown: tokio_util::sync::CancellationToken,
) {
    loop {
        if let Err(e) = run_once(&app, &policy, app.now()).await {
            tracing::warn!(error = %e, "reconciler round failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
    }
}
