//! Payments: a capture of a preauth (`preauthTransactionId` present) or a merchant-initiated
//! charge on the stored agreement (recurring).

use super::psp_call::Guarded;
use super::{App, Merchant, Recorded, check_replay, outcome, views};
use crate::contract::ApiError;
use crate::contract::commands::{PaymentCommand, sepa_currency};
use crate::contract::responses::PaymentResponse;
use crate::domain::state::{Facts, Trigger};
use crate::domain::time::FAR_FUTURE;
use crate::domain::{Money, PaymentErrorCode, TxKind, TxStatus, WebhookType};
use crate::psp::{FollowUp, MerchantPsp, Outcome, StoredCharge, StoredMethod};
use crate::store::{Inserted, ItemKind, PaymentItem, TransactionRecord, TxUpdate};

/// `POST /api/Payment`.
#[tracing::instrument(level = "error", name = "payment", skip_all,
    fields(transaction_id = %cmd.id, merchant_id = %m.id()))]
pub async fn create(
    app: &App,
    m: &Merchant,
    cmd: PaymentCommand,
) -> Result<PaymentResponse, ApiError> {
    let PaymentCommand {
        id,
        money,
        webhook,
        agreement_id,
        capture_of: preauth_id,
        role,
        reference,
        planned,
    } = cmd;
    super::psp_amount(m, &money)?;

    let _guard = app.locks.lock(m.id(), id.as_str()).await;
    if let Some(existing) = app.store.get_transaction(m.id(), id.as_str()).await? {
        check_replay(&existing, TxKind::Payment, &money, Some(&agreement_id))?;
        return views::payment(app, &existing).await;
    }
    // Captures of one preauth one at a time, and never while its cancel is under way (which
    // holds the preauth's lock): the money left to capture is read and used under it.
    let _preauth_guard = match &preauth_id {
        Some(p) => Some(app.locks.lock(m.id(), p.as_str()).await),
        None => None,
    };
    let psp = app.psp(m).await?;
    let preauth = match &preauth_id {
        Some(p) => Some(capturable(app, m, p.as_str(), &money, &agreement_id).await?),
        None => None,
    };
    // A preauth that reserved nothing (card registration, SEPA mandate) cannot be captured:
    // its first payment is a charge on the agreement instead.
    let capture_of = preauth.filter(|p| !p.authorized_amount.is_zero());
    let stored = match &capture_of {
        Some(_) => None,
        None => Some(app.stored_method(m, &agreement_id).await?),
    };
    if stored.as_ref().is_some_and(|s| s.is_debit) {
        sepa_currency(&money)?;
    }

    let mut rec = app.new_record(m, TxKind::Payment, id.as_str(), &money, &webhook);
    rec.agreement_id = Some(agreement_id.clone());
    rec.role = role;
    rec.reference_text = reference.clone();
    rec.planned_execution_date = planned;
    rec.parent_id = capture_of.as_ref().map(|p| p.id.clone());
    // `is_initial` on a payment marks the main (cardholder-initiated) channel, which its
    // refunds must use too: captures of an initial preauth, and SEPA debits.
    rec.is_initial = capture_of.as_ref().is_some_and(|p| p.is_initial)
        || stored.as_ref().is_some_and(|s| s.is_debit);
    // Money collected at authorization is captured by booking it from the debit: its PSP id
    // is the payment's, so refunds go against the debit.
    if let Some(p) = capture_of.as_ref().filter(|p| p.collected_at_authorization) {
        rec.collected_at_authorization = true;
        rec.psp_tx_id = p.psp_tx_id.clone();
    }
    let tx = match app
        .store
        .insert_transaction(&rec, "payment received")
        .await?
    {
        Inserted::New(t) => t,
        Inserted::Existing(e) => {
            check_replay(&e, TxKind::Payment, &money, Some(&agreement_id))?;
            return views::payment(app, &e).await;
        }
    };
    let (tx, recorded) = match (capture_of, stored) {
        (Some(_), _) if tx.collected_at_authorization => {
            (book_collected(app, tx, false).await?, Recorded::Yes)
        }
        (Some(p), _) => capture(app, &psp, tx, &p, money).await?,
        (None, Some(s)) => charge(app, &psp, tx, s, money, reference).await,
        (None, None) => return Err(ApiError::internal()),
    };
    views::payment_answer(app, &tx, recorded).await
}

/// The preauth to capture: this merchant's, succeeded, same currency and agreement, and with
/// enough authorized amount left after earlier captures.
async fn capturable(
    app: &App,
    m: &Merchant,
    preauth_id: &str,
    money: &Money,
    agreement_id: &str,
) -> Result<TransactionRecord, ApiError> {
    let field = "preauthTransactionId";
    let p = match app.store.get_transaction(m.id(), preauth_id).await? {
        Some(p) if p.kind == TxKind::Preauth => p,
        _ => {
            return Err(ApiError::invalid(
                field,
                format!("unknown preauth {preauth_id}"),
            ));
        }
    };
    if p.status != TxStatus::Succeeded {
        return Err(ApiError::invalid(
            field,
            format!("preauth {preauth_id} is {}, not Succeeded", p.status),
        ));
    }
    if super::preauth::cancel_in_doubt(&p) {
        return Err(ApiError::invalid(
            field,
            format!("preauth {preauth_id} has a cancellation whose outcome is not known yet"),
        ));
    }
    if p.currency != money.currency.code() {
        return Err(ApiError::code(
            PaymentErrorCode::InvalidCurrency,
            format!(
                "currency: {} differs from the preauth's {}",
                money.currency, p.currency
            ),
        ));
    }
    if p.agreement_id.as_deref() != Some(agreement_id) {
        return Err(ApiError::invalid(
            "agreementId",
            "differs from the preauth's agreement",
        ));
    }
    if !p.authorized_amount.is_zero() {
        let captured = crate::store::captured(&app.store.list_children(m.id(), &p.id).await?);
        let left = p.authorized_amount - captured;
        if money.amount > left {
            return Err(ApiError::code(
                PaymentErrorCode::InvalidAmount,
                format!(
                    "requestedAmount: {} exceeds the {left} left to capture on the preauth",
                    money.amount
                ),
            ));
        }
    }
    Ok(p)
}

async fn capture(
    app: &App,
    psp: &Guarded,
    tx: TransactionRecord,
    preauth: &TransactionRecord,
    money: Money,
) -> Result<(TransactionRecord, Recorded), ApiError> {
    let Some(psp_id) = preauth.psp_tx_id.clone() else {
        return Err(ApiError::invalid(
            "preauthTransactionId",
            "the preauth has no PSP transaction",
        ));
    };
    let req = FollowUp {
        merchant_tx_id: tx.billwerk_id.clone(),
        psp_transaction_id: psp_id,
        amount: Some(money),
        merchant_initiated: !preauth.is_initial,
        cancel_of: false,
    };
    let r = super::called::timed("capture", psp.capture(&req)).await;
    // A preauth recorded as an authorization whose PSP transaction is in truth a debit (one
    // recorded before issue #18): the PSP refuses the capture, and its own record of the preauth
    // decides. Money collected is booked from the debit, never answered with an error.
    if matches!(r.outcome, Outcome::Declined(_))
        && let Some(tx) = collected_after_all(app, psp, tx.clone(), preauth).await?
    {
        return Ok((tx, Recorded::Yes));
    }
    Ok(app.record_answer(tx, &r).await)
}

/// `Some` (the capture, booked from the debit) when the PSP's record of `preauth` is a debit of
/// its amount: the preauth is recorded as money collected at authorization from then on.
async fn collected_after_all(
    app: &App,
    psp: &Guarded,
    tx: TransactionRecord,
    preauth: &TransactionRecord,
) -> Result<Option<TransactionRecord>, ApiError> {
    let Some(debit) = preauth.psp_tx_id.clone() else {
        return Ok(None);
    };
    let (found, call) = super::called::timed_status("status", psp.fetch_status(&debit)).await;
    // The preauth's own record at the PSP: noted on the preauth's timeline.
    app.note_call(preauth, &call).await;
    let Ok(found) = found else {
        return Ok(None);
    };
    // The stored payment method was judged when the preauth succeeded.
    let asked = outcome::Asked {
        registration: false,
        ..outcome::Asked::own(preauth)
    };
    let found = outcome::check(&asked, &found);
    let collected = found.outcome == Outcome::Succeeded
        && outcome::reading(&asked, found.kind.as_ref()) == outcome::Reading::Collected;
    if !collected {
        return Ok(None);
    }
    tracing::warn!(transaction_id = %preauth.billwerk_id, internal_id = %preauth.id,
        "the PSP's record of this preauth is a debit: recorded as money collected");
    app.transition(preauth.clone(), |p| {
        (!p.collected_at_authorization).then(|| TxUpdate {
            collected_at_authorization: Some(true),
            expires_at: Some(FAR_FUTURE),
            note: "the PSP's record is a debit: money collected at authorization".into(),
            ..TxUpdate::default()
        })
    })
    .await?;
    let tx = app
        .transition(tx, |t| {
            (!t.collected_at_authorization).then(|| TxUpdate {
                collected_at_authorization: Some(true),
                psp_tx_id: Some(debit.clone()),
                note: "the PSP refused a capture of its debit: booked from the debit".into(),
                ..TxUpdate::default()
            })
        })
        .await?;
    Ok(Some(book_collected(app, tx, false).await?))
}

/// Books a capture of money collected at authorization (README, choices) from the preauth's
/// debit, without a PSP call: a `CP` on a debit is refused, and the money is already the
/// merchant's. The reconciler books one left `Initiated` by a crash the same way. `notify`:
/// queue a Billwerk webhook (nobody waits for the answer).
pub async fn book_collected(
    app: &App,
    tx: TransactionRecord,
    notify: bool,
) -> Result<TransactionRecord, ApiError> {
    let date = app.now().date();
    let hook = notify.then_some(WebhookType::Payment);
    app.transition(tx, |t| {
        if !t.collected_at_authorization || t.status != TxStatus::Initiated {
            return None;
        }
        let mut u = outcome::local(
            t,
            Facts::NONE,
            TxStatus::Succeeded,
            Trigger::PspOutcome,
            None,
            "capture booked from the money collected at authorization",
            hook,
        )?;
        u.add_items.push(PaymentItem {
            kind: ItemKind::Payment,
            external_item_id: t.psp_tx_id.clone(),
            amount: t.requested_amount,
            booking_date: date,
            description: Some("Capture".into()),
        });
        Some(u)
    })
    .await
}

async fn charge(
    app: &App,
    psp: &Guarded,
    tx: TransactionRecord,
    stored: StoredMethod,
    money: Money,
    reference_text: Option<String>,
) -> (TransactionRecord, Recorded) {
    let req = StoredCharge {
        merchant_tx_id: tx.billwerk_id.clone(),
        amount: money,
        stored,
        reference_text,
    };
    let r = super::called::timed("charge", psp.charge_stored(&req)).await;
    let merchant_id = tx.merchant_id.clone();
    let answer = app.record_answer(tx, &r).await;
    if r.credential_invalid {
        super::revoked::apply(app, &merchant_id, &req.stored.credential).await;
    }
    answer
}

/// `GET /api/Payment/{id}`.
pub async fn get(app: &App, m: &Merchant, id: &str) -> Result<PaymentResponse, ApiError> {
    let tx = app.find(m, TxKind::Payment, id).await?;
    views::payment(app, &tx).await
}
