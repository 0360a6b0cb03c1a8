//! Reads a transaction back in the contract's shapes. A transaction whose current state is an
//! error is answered with the error object, as Billwerk's reference implementation does.

use rust_decimal::Decimal;

use super::App;
use crate::contract::ApiError;
use crate::contract::responses::{
    ChargebackDto, PaymentItemDto, PaymentResponse, PreauthResponse, RefundResponse,
};
use crate::domain::{Bearer, TxKind, TxStatus};
use crate::store::{Chargeback, PaymentItem, TransactionRecord};

fn error_state(tx: &TransactionRecord) -> Result<(), ApiError> {
    match &tx.error {
        Some(e) if tx.status.is_terminal() => Err(ApiError::from_tx_error(e, tx.status)),
        _ => Ok(()),
    }
}

async fn bearer(app: &App, tx: &TransactionRecord) -> Result<Bearer, ApiError> {
    let Some(agreement_id) = &tx.agreement_id else {
        return Ok(Bearer::new());
    };
    if tx.status == TxStatus::Initiated {
        return Ok(Bearer::new());
    }
    Ok(app
        .store
        .get_agreement(&tx.merchant_id, agreement_id)
        .await?
        .map(|a| a.bearer)
        .unwrap_or_default())
}

pub async fn preauth(app: &App, tx: &TransactionRecord) -> Result<PreauthResponse, ApiError> {
    error_state(tx)?;
    let redirect_url = match (&tx.status, &tx.checkout_token) {
        (TxStatus::Initiated, Some(token)) => {
            Some(format!("{}/checkout/{token}", app.public_base_url))
        }
        _ => None,
    };
    Ok(PreauthResponse {
        transaction_id: tx.billwerk_id.clone(),
        external_transaction_id: tx.id.clone(),
        psp_transaction_id: tx.psp_tx_id.clone().unwrap_or_default(),
        currency: tx.currency.clone(),
        requested_amount: tx.requested_amount,
        authorized_amount: tx.authorized_amount,
        expires_at: tx.expires_at.unwrap_or(tx.created_at).to_wire(),
        bearer: bearer(app, tx).await?,
        redirect_url,
        redirect_data: None,
        last_updated: tx.last_updated.to_wire(),
        status: tx.status,
    })
}

/// Money booked, refunded (confirmed) and still refundable for a payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Balance {
    pub paid: Decimal,
    pub refunded: Decimal,
    pub refundable: Decimal,
}

/// Refunds in flight and chargebacks also reduce what can still be refunded, so that
/// `refundedAmount + refundableAmount` never exceeds the amount paid.
pub fn balance(
    items: &[PaymentItem],
    chargebacks: &[Chargeback],
    refunds: &[TransactionRecord],
) -> Balance {
    let paid: Decimal = items.iter().map(|i| i.amount).sum();
    let refunded: Decimal = refunds
        .iter()
        .filter(|r| r.kind == TxKind::Refund && r.status == TxStatus::Succeeded)
        .map(|r| r.requested_amount)
        .sum();
    let in_flight: Decimal = refunds
        .iter()
        .filter(|r| {
            r.kind == TxKind::Refund && matches!(r.status, TxStatus::Initiated | TxStatus::Pending)
        })
        .map(|r| r.requested_amount)
        .sum();
    let charged_back: Decimal = chargebacks.iter().map(|c| c.amount).sum();
    let refundable = (paid - refunded - in_flight - charged_back).max(Decimal::ZERO);
    Balance {
        paid,
        refunded,
        refundable,
    }
}

/// A payment's money movements, chargebacks and refunds.
async fn parts(
    app: &App,
    tx: &TransactionRecord,
) -> Result<(Vec<PaymentItem>, Vec<Chargeback>, Vec<TransactionRecord>), ApiError> {
    let m = &tx.merchant_id;
    Ok((
        app.store.list_items(m, &tx.id).await?,
        app.store.list_chargebacks(m, &tx.id).await?,
        app.store.list_children(m, &tx.id).await?,
    ))
}

pub async fn payment_balance(app: &App, tx: &TransactionRecord) -> Result<Balance, ApiError> {
    let (items, cbs, refunds) = parts(app, tx).await?;
    Ok(balance(&items, &cbs, &refunds))
}

pub async fn payment(app: &App, tx: &TransactionRecord) -> Result<PaymentResponse, ApiError> {
    error_state(tx)?;
    let (items, cbs, refunds) = parts(app, tx).await?;
    let b = balance(&items, &cbs, &refunds);
    Ok(PaymentResponse {
        transaction_id: tx.billwerk_id.clone(),
        external_transaction_id: tx.id.clone(),
        psp_transaction_id: tx.psp_tx_id.clone().unwrap_or_default(),
        currency: tx.currency.clone(),
        requested_amount: tx.requested_amount,
        payments: items.into_iter().map(item_dto).collect(),
        chargebacks: cbs.into_iter().map(chargeback_dto).collect(),
        refunded_amount: b.refunded,
        refundable_amount: b.refundable,
        bearer: bearer(app, tx).await?,
        due_date: tx
            .planned_execution_date
            .map(|d| format!("{d}T00:00:00.0000000Z")),
        last_updated: tx.last_updated.to_wire(),
        status: tx.status,
    })
}

fn item_dto(i: PaymentItem) -> PaymentItemDto {
    PaymentItemDto {
        external_item_id: i.external_item_id,
        amount: i.amount,
        booking_date: i.booking_date,
        description: i.description,
    }
}

fn chargeback_dto(c: Chargeback) -> ChargebackDto {
    ChargebackDto {
        external_item_id: c.external_item_id,
        amount: c.amount,
        booking_date: c.booking_date,
        description: c.description,
        fee_amount: c.fee_amount,
        reason: c.reason,
        psp_reason_code: c.psp_reason_code,
        psp_reason_message: c.psp_reason_message,
    }
}

pub fn refund(tx: &TransactionRecord) -> Result<RefundResponse, ApiError> {
    error_state(tx)?;
    Ok(RefundResponse {
        transaction_id: tx.billwerk_id.clone(),
        external_transaction_id: tx.id.clone(),
        psp_transaction_id: tx.psp_tx_id.clone(),
        currency: tx.currency.clone(),
        requested_amount: tx.requested_amount,
        refunded_amount: if tx.status == TxStatus::Succeeded {
            tx.requested_amount
        } else {
            Decimal::ZERO
        },
        booking_date: tx.booking_date.unwrap_or_else(|| tx.created_at.date()),
        description: None,
        last_updated: tx.last_updated.to_wire(),
        status: tx.status,
    })
}
