//! Preauthorizations: initial (hosted card checkout or SEPA mandate), non-initial on a stored
//! agreement, cancel and finalize.

use chrono::Datelike;
use rust_decimal::Decimal;

use super::psp_call::Guarded;
use super::{App, Merchant, Recorded, check_replay, outcome, views};
use crate::contract::ApiError;
use crate::contract::commands::{CancelCommand, FinalizeCommand, PreauthCommand, sepa_currency};
use crate::contract::responses::{CancellationResponse, PreauthResponse};
use crate::domain::state::{Facts, Trigger};
use crate::domain::{
    CancellationStatus, Currency, Money, Role, TxKind, TxStatus, time::FAR_FUTURE,
};
use crate::psp::{
    FollowUp, InitialMethod, InitialPreauth, Lookup, MerchantPsp, Outcome, PreauthStart, PspResult,
    Reference, StoredCharge, StoredMethod,
};
use crate::store::{Inserted, PspCallNote, TransactionRecord, TxUpdate};

/// `POST /api/Preauth`.
#[tracing::instrument(level = "error", name = "preauth", skip_all,
    fields(transaction_id = %cmd.id, merchant_id = %m.id()))]
pub async fn create(
    app: &App,
    m: &Merchant,
    cmd: PreauthCommand,
) -> Result<PreauthResponse, ApiError> {
    let PreauthCommand {
        id,
        money,
        webhook,
        agreement_id,
        role,
        is_initial,
        urls,
        sepa,
        payer,
        reference,
    } = cmd;
    super::psp_amount(m, &money)?;

    let _guard = app.locks.lock(m.id(), id.as_str()).await;
    if let Some(existing) = app.store.get_transaction(m.id(), id.as_str()).await? {
        check_replay(&existing, TxKind::Preauth, &money, Some(&agreement_id))?;
        return views::preauth(app, &existing).await;
    }
    let psp = app.psp(m).await?;
    let stored = if is_initial {
        None
    } else {
        Some(app.stored_method(m, &agreement_id).await?)
    };
    if stored.as_ref().is_some_and(|s| s.is_debit) {
        sepa_currency(&money)?;
    }

    let mut rec = app.new_record(m, TxKind::Preauth, id.as_str(), &money, &webhook);
    rec.agreement_id = Some(agreement_id.clone());
    rec.role = Some(role);
    rec.is_initial = is_initial;
    rec.success_url = urls.success.map(String::from);
    rec.error_url = urls.error.map(String::from);
    rec.abort_url = urls.abort.map(String::from);
    rec.language = payer.language.clone();
    rec.reference_text = reference.clone();
    if is_initial && role == Role::CreditCard {
        rec.checkout_token = Some(crate::domain::new_id());
    }
    let tx = match app
        .store
        .insert_transaction(&rec, "preauth received")
        .await?
    {
        Inserted::New(t) => t,
        Inserted::Existing(e) => {
            check_replay(&e, TxKind::Preauth, &money, Some(&agreement_id))?;
            return views::preauth(app, &e).await;
        }
    };

    let (tx, recorded) = match stored {
        Some(stored) => authorize_stored(app, &psp, tx, stored, reference).await?,
        None => {
            let method = match sepa {
                Some(acc) => InitialMethod::SepaDebit {
                    holder: acc.holder,
                    iban: acc.iban,
                    bic: acc.bic,
                    mandate_id: mandate_id(),
                    signed_on: app.now().date(),
                },
                None => InitialMethod::Card,
            };
            let req = InitialPreauth {
                merchant_tx_id: tx.billwerk_id.clone(),
                amount: money,
                method,
                payer,
                reference_text: reference,
                shopper_result_url: format!(
                    "{}/checkout/{}/return",
                    app.public_base_url,
                    tx.checkout_token.clone().unwrap_or_default()
                ),
            };
            start_initial(app, m, &psp, tx, &req).await
        }
    };
    views::preauth_answer(app, &tx, recorded).await
}

async fn start_initial(
    app: &App,
    m: &Merchant,
    psp: &Guarded,
    tx: TransactionRecord,
    req: &InitialPreauth,
) -> (TransactionRecord, Recorded) {
    let started = std::time::Instant::now();
    match psp.start_preauth(req).await {
        PreauthStart::Checkout(c) => {
            // The checkout's own lifetime is its deadline from here on (reconciler: expiry).
            let update = TxUpdate {
                checkout_id: Some(c.checkout_id.clone()),
                checkout_data: c.data.clone(),
                expires_at: Some(c.expires_at),
                needs_reconcile: Some(false),
                note: "checkout created".into(),
                ..TxUpdate::default()
            };
            match app
                .transition(tx.clone(), move |_| Some(update.clone()))
                .await
            {
                Ok(t) => (t, Recorded::Yes),
                Err(e) => {
                    tracing::error!(transaction_id = %tx.billwerk_id, internal_id = %tx.id,
                        error = ?e.body.error_code,
                        "checkout not recorded; the reconciler will settle the preauth");
                    (tx, Recorded::No)
                }
            }
        }
        PreauthStart::Done(r) => {
            let r = super::called::Called::new("preauth", r, started);
            let (tx, recorded) = app.record_answer(tx, &r).await;
            (give_back_locked(app, m, tx).await, recorded)
        }
    }
}

/// A non-initial preauth: reserve on the stored card. A SEPA mandate or a zero amount reserves
/// nothing, so those succeed without a PSP call.
async fn authorize_stored(
    app: &App,
    psp: &Guarded,
    tx: TransactionRecord,
    stored: StoredMethod,
    reference_text: Option<String>,
) -> Result<(TransactionRecord, Recorded), ApiError> {
    if stored.is_debit || tx.requested_amount.is_zero() {
        let tx = app
            .transition(tx, |t| {
                let mut u = outcome::local(
                    t,
                    Facts::NONE,
                    TxStatus::Succeeded,
                    Trigger::PspOutcome,
                    None,
                    "nothing to reserve on a stored agreement",
                    None,
                )?;
                u.expires_at = Some(FAR_FUTURE);
                u.authorized_amount = Some(rust_decimal::Decimal::ZERO);
                Some(u)
            })
            .await?;
        return Ok((tx, Recorded::Yes));
    }
    let money = crate::domain::Money::new(
        tx.requested_amount,
        crate::domain::Currency::parse(&tx.currency).ok_or_else(ApiError::internal)?,
        true,
    )
    .map_err(|_| ApiError::internal())?;
    let req = StoredCharge {
        merchant_tx_id: tx.billwerk_id.clone(),
        amount: money,
        stored,
        reference_text,
    };
    let r = super::called::timed("authorize", psp.authorize_stored(&req)).await;
    let merchant_id = tx.merchant_id.clone();
    let answer = app.record_answer(tx, &r).await;
    if r.credential_invalid {
        super::revoked::apply(app, &merchant_id, &req.stored.credential).await;
    }
    Ok(answer)
}

/// A SEPA mandate reference: unique, upper case, within the 35 characters SEPA allows.
fn mandate_id() -> String {
    let id = crate::domain::new_id().to_ascii_uppercase();
    let year = chrono::Utc::now().year();
    format!("PSPI{year}{}", &id[..20])
}

/// `GET /api/Preauth/{id}`.
pub async fn get(app: &App, m: &Merchant, id: &str) -> Result<PreauthResponse, ApiError> {
    let tx = app.find(m, TxKind::Preauth, id).await?;
    views::preauth(app, &tx).await
}

/// `POST /api/Preauth/Finalize`: completes a checkout preauth by asking the PSP.
#[tracing::instrument(level = "error", name = "finalize", skip_all,
    fields(transaction_id = %cmd.id, merchant_id = %m.id()))]
pub async fn finalize(
    app: &App,
    m: &Merchant,
    cmd: FinalizeCommand,
) -> Result<PreauthResponse, ApiError> {
    let id = cmd.id;
    let tx = app.find(m, TxKind::Preauth, id.as_str()).await?;
    let tx = super::checkout::complete(app, m, tx, false).await?;
    views::preauth(app, &tx).await
}

/// `POST /api/Preauth/{id}/Cancel`.
#[tracing::instrument(level = "error", name = "cancel", skip_all,
    fields(transaction_id = id, merchant_id = %m.id()))]
pub async fn cancel(
    app: &App,
    m: &Merchant,
    id: &str,
    _cmd: CancelCommand,
) -> Result<CancellationResponse, ApiError> {
    let tx = app.find(m, TxKind::Preauth, id).await?;
    let _guard = app.locks.lock(m.id(), id).await;
    let tx = app
        .find(m, TxKind::Preauth, tx.billwerk_id.as_str())
        .await?;
    let status = cancel_locked(app, m, tx).await?;
    Ok(CancellationResponse {
        cancellation_status: status,
        transaction_id: id.to_string(),
    })
}

async fn cancel_locked(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
) -> Result<CancellationStatus, ApiError> {
    // An open checkout may have been paid meanwhile: ask the PSP before deciding locally.
    let tx = match (tx.status, &tx.checkout_id) {
        (TxStatus::Initiated, Some(_)) => {
            super::checkout::complete_locked(app, m, tx, true).await?
        }
        _ => tx,
    };
    let facts = app.facts(&tx).await?;
    let cancelled = |t: &TransactionRecord, note: &'static str| {
        outcome::local(
            t,
            facts,
            TxStatus::Cancelled,
            Trigger::Cancel,
            None,
            note,
            None,
        )
    };
    match tx.status {
        TxStatus::Cancelled => return Ok(CancellationStatus::Succeeded),
        TxStatus::Failed | TxStatus::Expired | TxStatus::Pending => {
            return Ok(CancellationStatus::NotCancelled);
        }
        TxStatus::Initiated => {
            app.transition(tx, |t| cancelled(t, "cancelled before the shopper paid"))
                .await?;
            return Ok(CancellationStatus::Succeeded);
        }
        TxStatus::Succeeded => {}
    }
    // A cancel whose earlier answer was lost: the PSP's record of it decides, never a second
    // reversal or refund sent blind.
    if cancel_in_doubt(&tx) {
        return Ok(match settle_cancel(app, m, tx, false, app.now()).await? {
            Some(status) => status,
            None => CancellationStatus::Pending,
        });
    }
    if tx.collected_at_authorization && !tx.authorized_amount.is_zero() {
        return refund_collected(app, m, tx).await;
    }
    if facts.captured {
        return Ok(CancellationStatus::NotCancelled);
    }
    let psp_id = match (&tx.psp_tx_id, tx.authorized_amount.is_zero()) {
        (Some(p), false) => p.clone(),
        _ => {
            app.transition(tx, |t| cancelled(t, "nothing reserved; cancelled locally"))
                .await?;
            return Ok(CancellationStatus::Succeeded);
        }
    };
    let psp = app.psp(m).await?;
    let req = FollowUp {
        merchant_tx_id: tx.billwerk_id.clone(),
        psp_transaction_id: psp_id,
        amount: None,
        merchant_initiated: !tx.is_initial,
        cancel_of: true,
    };
    let r = super::called::timed("cancel", psp.cancel(&req)).await;
    cancel_answered(app, tx, &r.result, Some(&r.note), false).await
}

/// What of a preauth's money is not captured (captures in flight count as captured).
async fn uncaptured(app: &App, tx: &TransactionRecord) -> Result<Decimal, ApiError> {
    let children = app.store.list_children(&tx.merchant_id, &tx.id).await?;
    Ok(tx.authorized_amount - crate::store::captured(&children))
}

/// Billwerk's Cancel of money collected at authorization (README, choices): the PSP refunds the
/// part of the debit not captured; never a reversal or a capture on a debit. The preauth is
/// marked for the reconciler before the refund is sent, so a crash or a lost answer is settled
/// by the PSP's record of that refund (`settle_cancel`), never by a second refund.
async fn refund_collected(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
) -> Result<CancellationStatus, ApiError> {
    let Some(psp_id) = tx.psp_tx_id.clone() else {
        return Ok(CancellationStatus::NotCancelled);
    };
    if uncaptured(app, &tx).await? <= Decimal::ZERO {
        // Everything was captured: nothing is left to give back.
        return Ok(CancellationStatus::NotCancelled);
    }
    let psp = app.psp(m).await?;
    let currency = Currency::parse(&tx.currency).ok_or_else(ApiError::internal)?;
    let at = app.now().plus_seconds(app.recheck_after_secs);
    let tx = app
        .transition(tx, |_| {
            Some(TxUpdate {
                needs_reconcile: Some(true),
                next_reconcile_at: Some(at),
                reconcile_attempts: Some(0),
                note: "cancel: refunding the money collected at authorization".into(),
                ..TxUpdate::default()
            })
        })
        .await?;
    // Read once marked: from here on no capture can be added (the store refuses it), so this is
    // what the refund gives back, on every replica.
    let left = uncaptured(app, &tx).await?;
    if left <= Decimal::ZERO {
        app.transition(tx, |t| {
            t.needs_reconcile.then(|| TxUpdate {
                needs_reconcile: Some(false),
                note: "cancel: everything was captured meanwhile; nothing refunded".into(),
                keep_version: true,
                ..TxUpdate::default()
            })
        })
        .await?;
        return Ok(CancellationStatus::NotCancelled);
    }
    let money = Money::new(left, currency, true).map_err(|_| ApiError::internal())?;
    // It stands for Billwerk's cancel: found again as the preauth's cancel (`Reference::CancelOf`).
    let req = FollowUp {
        merchant_tx_id: tx.billwerk_id.clone(),
        psp_transaction_id: psp_id,
        amount: Some(money),
        merchant_initiated: !tx.is_initial,
        cancel_of: true,
    };
    let r = super::called::timed("refund (cancel)", psp.refund(&req)).await;
    cancel_answered(app, tx, &r.result, Some(&r.note), false).await
}

/// A cancel's PSP answer checked against what the cancel asked for (`outcome::check`).
async fn cancel_checked(
    app: &App,
    tx: &TransactionRecord,
    r: &PspResult,
) -> Result<PspResult, ApiError> {
    let left = if tx.collected_at_authorization {
        uncaptured(app, tx).await?
    } else {
        tx.authorized_amount
    };
    Ok(outcome::check(&outcome::Asked::cancel(tx, left), r))
}

/// A succeeded preauth marked for the reconciler: only a cancel whose outcome is unknown does
/// that (a preauth's own outcome is final once it succeeded), or a refund of money collected at
/// authorization about to be sent.
pub fn cancel_in_doubt(tx: &TransactionRecord) -> bool {
    tx.kind == TxKind::Preauth && tx.status == TxStatus::Succeeded && tx.needs_reconcile
}

/// Records the PSP's answer to a reversal of `tx`. `notify`: queue a webhook (the reconciler;
/// Billwerk's own Cancel gets the answer instead). An unknown answer marks the preauth for the
/// reconciler (issue #21), so the cancel is settled like any other unknown outcome; until then
/// a capture of the preauth is refused.
async fn cancel_answered(
    app: &App,
    tx: TransactionRecord,
    r: &PspResult,
    call: Option<&PspCallNote>,
    notify: bool,
) -> Result<CancellationStatus, ApiError> {
    let r = &cancel_checked(app, &tx, r).await?;
    let facts = app.facts(&tx).await?;
    let hook = notify.then_some(crate::domain::WebhookType::Preauth);
    let cancelled = |t: &TransactionRecord, note: &'static str| {
        let mut u = outcome::local(
            t,
            facts,
            TxStatus::Cancelled,
            Trigger::Cancel,
            None,
            note,
            hook,
        )?;
        u.next_reconcile_at = None;
        Some(u)
    };
    let already = crate::domain::PaymentErrorCode::AlreadyExecuted;
    Ok(match &r.outcome {
        Outcome::Succeeded if tx.collected_at_authorization && facts.captured => {
            // The rest of the debit is refunded; what was captured stands, and nothing more
            // can be captured.
            let captured = tx.authorized_amount - uncaptured(app, &tx).await?;
            app.transition_noting(tx, call, |t| {
                t.needs_reconcile.then(|| TxUpdate {
                    authorized_amount: Some(captured),
                    needs_reconcile: Some(false),
                    notify: hook,
                    note: "cancel: the money not captured was refunded at the PSP".into(),
                    ..TxUpdate::default()
                })
            })
            .await?;
            CancellationStatus::Succeeded
        }
        Outcome::Succeeded => {
            let note = if tx.collected_at_authorization {
                "cancel: the money collected at authorization was refunded at the PSP"
            } else {
                "reversed at the PSP"
            };
            app.transition_noting(tx, call, |t| cancelled(t, note))
                .await?;
            CancellationStatus::Succeeded
        }
        Outcome::Declined(d) if d.code == already => {
            app.transition_noting(tx, call, |t| cancelled(t, "already reversed at the PSP"))
                .await?;
            CancellationStatus::Succeeded
        }
        Outcome::Declined(_) => {
            app.transition_noting(tx, call, |t| {
                t.needs_reconcile.then(|| TxUpdate {
                    needs_reconcile: Some(false),
                    note: "the PSP refused the reversal; the authorization stands".into(),
                    keep_version: true,
                    ..TxUpdate::default()
                })
            })
            .await?;
            CancellationStatus::Failed
        }
        Outcome::Pending | Outcome::Unknown(_) => {
            let at = app.now().plus_seconds(app.recheck_after_secs);
            app.transition_noting(tx, call, |t| {
                (!t.needs_reconcile).then(|| TxUpdate {
                    needs_reconcile: Some(true),
                    next_reconcile_at: Some(at),
                    note: "reversal sent; its outcome is unknown".into(),
                    ..TxUpdate::default()
                })
            })
            .await?;
            CancellationStatus::Pending
        }
    })
}

/// Settles a cancel in doubt by the PSP's record of the reversal: `Some` once known, `None`
/// while the PSP has no answer. A reversal the PSP never received within the not-found grace
/// did not happen: the mark is cleared and the authorization stands (`NotCancelled`; Billwerk
/// may cancel again).
pub async fn settle_cancel(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    notify: bool,
    now: crate::domain::Ticks,
) -> Result<Option<CancellationStatus>, ApiError> {
    let psp = app.psp(m).await?;
    let known = app.known(&tx, true).await?;
    let (found, call) = super::called::timed_lookup(
        "lookup (cancel)",
        psp.lookup(Reference::CancelOf(&tx.billwerk_id), &known),
    )
    .await;
    let found = match found {
        Lookup::Found(r) => Lookup::Found(cancel_checked(app, &tx, &r).await?),
        other => other,
    };
    match found {
        Lookup::Found(r) if matches!(r.outcome, Outcome::Succeeded | Outcome::Declined(_)) => Ok(
            Some(cancel_answered(app, tx, &r, Some(&call), notify).await?),
        ),
        Lookup::Unsupported => {
            // The PSP cannot say whether the reversal arrived: the authorization is not
            // assumed to stand, nor to be reversed; an operator decides.
            lookup_unsupported(m, &tx);
            app.note_call(&tx, &call).await;
            Ok(None)
        }
        Lookup::NotFound if now.0 - tx.last_updated.0 > app.not_found_grace_secs * 10_000_000 => {
            app.transition_noting(tx, Some(&call), |t| {
                t.needs_reconcile.then(|| TxUpdate {
                    needs_reconcile: Some(false),
                    note: "the reversal never reached the PSP; the authorization stands".into(),
                    keep_version: true,
                    ..TxUpdate::default()
                })
            })
            .await?;
            Ok(Some(CancellationStatus::NotCancelled))
        }
        _ => {
            app.note_call(&tx, &call).await;
            Ok(None)
        }
    }
}

/// Raises a transaction the PSP cannot look up to an operator (log and metric); it stays as it
/// is, with its reconciler deadline, never failed for want of a search (issue #18).
pub fn lookup_unsupported(m: &Merchant, tx: &TransactionRecord) {
    crate::telemetry::lookup_unsupported(m.provider.name());
    tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, psp = m.provider.name(),
        "the PSP cannot look this transaction up by our reference; it stays as it is for an operator");
}

/// A failed initial preauth whose money the PSP collected at authorization, still to be given
/// back: the outcome marked it for the reconciler (`outcome::effect`), and the mark is cleared
/// only once the PSP has the refund.
pub fn give_back_due(tx: &TransactionRecord) -> bool {
    tx.kind == TxKind::Preauth
        && tx.status == TxStatus::Failed
        && tx.collected_at_authorization
        && tx.needs_reconcile
}

/// [`give_back_locked`] for a caller that does not hold the preauth's lock (a notification).
pub async fn give_back(app: &App, m: &Merchant, tx: &TransactionRecord) {
    if !give_back_due(tx) {
        return;
    }
    let _guard = app.locks.lock(m.id(), &tx.billwerk_id).await;
    match app.store.get_transaction_by_id(m.id(), &tx.id).await {
        Ok(Some(t)) => {
            give_back_locked(app, m, t).await;
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(transaction_id = %tx.billwerk_id, error = %e,
            "collected money not given back now; the reconciler will"),
    }
}

/// Sends the refund of the money collected for a failed preauth, as the preauth's cancel (found
/// again by `Reference::CancelOf`), if it is still due. Never an error: whatever is not known
/// to be given back stays marked, and the reconciler settles it ([`settle_give_back`]).
pub async fn give_back_locked(app: &App, m: &Merchant, tx: TransactionRecord) -> TransactionRecord {
    if !give_back_due(&tx) {
        return tx;
    }
    match send_give_back(app, m, tx.clone()).await {
        Ok((t, _)) => t,
        Err(e) => {
            tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id,
                error = ?e.body.error_code,
                "collected money not given back now; the reconciler will");
            app.store
                .get_transaction_by_id(m.id(), &tx.id)
                .await
                .ok()
                .flatten()
                .unwrap_or(tx)
        }
    }
}

/// The refund of the collected amount; `true` once the PSP has given it back.
async fn send_give_back(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
) -> Result<(TransactionRecord, bool), ApiError> {
    let Some(psp_id) = tx.psp_tx_id.clone() else {
        tracing::error!(transaction_id = %tx.billwerk_id, internal_id = %tx.id,
            "collected money without the PSP's id of the payment; an operator must refund it");
        return Ok((tx, false));
    };
    let psp = app.psp(m).await?;
    let currency = Currency::parse(&tx.currency).ok_or_else(ApiError::internal)?;
    let money =
        Money::new(tx.requested_amount, currency, true).map_err(|_| ApiError::internal())?;
    let req = FollowUp {
        merchant_tx_id: tx.billwerk_id.clone(),
        psp_transaction_id: psp_id,
        amount: Some(money),
        merchant_initiated: !tx.is_initial,
        cancel_of: true,
    };
    let r = super::called::timed("refund (give back)", psp.refund(&req)).await;
    given_back(app, tx, &r.result, &r.note).await
}

/// Records the PSP's answer about the give-back refund; `true` once it is given back. A
/// refusal keeps the mark (logged, for the reconciler and an operator): the money is still the
/// shopper's.
async fn given_back(
    app: &App,
    tx: TransactionRecord,
    r: &PspResult,
    call: &PspCallNote,
) -> Result<(TransactionRecord, bool), ApiError> {
    let r = outcome::check(&outcome::Asked::cancel(&tx, tx.requested_amount), r);
    match &r.outcome {
        Outcome::Succeeded => {
            let note = format!(
                "collected money given back: refund {}",
                r.psp_transaction_id.as_deref().unwrap_or("(no PSP id)")
            );
            let t = app
                .transition_noting(tx, Some(call), |t| {
                    give_back_due(t).then(|| TxUpdate {
                        needs_reconcile: Some(false),
                        note: note.clone(),
                        keep_version: true,
                        ..TxUpdate::default()
                    })
                })
                .await?;
            Ok((t, true))
        }
        Outcome::Declined(d) => {
            // Still the shopper's money: the mark stays, and the reconciler asks the PSP.
            tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id,
                reason = %d.message,
                "the PSP refused the refund giving the collected money back; kept for the reconciler");
            app.note_call(&tx, call).await;
            Ok((tx, false))
        }
        Outcome::Pending | Outcome::Unknown(_) => {
            app.note_call(&tx, call).await;
            Ok((tx, false))
        }
    }
}

/// Settles a give-back by the PSP's record of its refund, never by a second refund sent blind:
/// found → recorded as answered; never received within the not-found grace → sent again;
/// a PSP that cannot search → raised to an operator, kept marked. `true` once given back.
pub async fn settle_give_back(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    now: crate::domain::Ticks,
) -> Result<bool, ApiError> {
    let psp = app.psp(m).await?;
    let known = app.known(&tx, true).await?;
    let (found, call) = super::called::timed_lookup(
        "lookup (give back)",
        psp.lookup(Reference::CancelOf(&tx.billwerk_id), &known),
    )
    .await;
    match found {
        Lookup::Found(r) => Ok(given_back(app, tx, &r, &call).await?.1),
        Lookup::Unsupported => {
            lookup_unsupported(m, &tx);
            app.note_call(&tx, &call).await;
            Ok(false)
        }
        Lookup::NotFound if now.0 - tx.last_updated.0 > app.not_found_grace_secs * 10_000_000 => {
            // Marked again first: the grace for this refund runs from its own sending.
            let tx = app
                .transition_noting(tx, Some(&call), |t| {
                    give_back_due(t).then(|| TxUpdate {
                        note: "the refund giving the collected money back never reached the \
                               PSP; sending it again"
                            .into(),
                        ..TxUpdate::default()
                    })
                })
                .await?;
            if !give_back_due(&tx) {
                return Ok(true);
            }
            Ok(send_give_back(app, m, tx).await?.1)
        }
        _ => {
            app.note_call(&tx, &call).await;
            Ok(false)
        }
    }
}
