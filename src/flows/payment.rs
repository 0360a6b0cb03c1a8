//! Payments: a capture of a preauth (`preauthTransactionId` present) or a merchant-initiated
//! charge on the stored agreement (recurring).

use super::{App, Merchant, Recorded, check_replay, views};
use crate::contract::ApiError;
use crate::contract::commands::{PaymentCommand, sepa_currency};
use crate::contract::responses::PaymentResponse;
use crate::domain::{Money, PaymentErrorCode, TxKind, TxStatus};
use crate::psp::{FollowUp, PspSettings, StoredCharge, StoredMethod};
use crate::store::{Inserted, TransactionRecord};

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
    let settings = app.settings(m).await?;
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
        (Some(p), _) => capture(app, m, &settings, tx, &p, money).await?,
        (None, Some(s)) => charge(app, m, &settings, tx, s, money, reference).await,
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
    m: &Merchant,
    settings: &PspSettings,
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
    };
    let r = super::called::timed("capture", m.provider.capture(settings, &req)).await;
    Ok(app.record_answer(tx, &r).await)
}

async fn charge(
    app: &App,
    m: &Merchant,
    settings: &PspSettings,
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
    let r = super::called::timed("charge", m.provider.charge_stored(settings, &req)).await;
    app.record_answer(tx, &r).await
}

/// `GET /api/Payment/{id}`.
pub async fn get(app: &App, m: &Merchant, id: &str) -> Result<PaymentResponse, ApiError> {
    let tx = app.find(m, TxKind::Payment, id).await?;
    views::payment(app, &tx).await
}
