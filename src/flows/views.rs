//! Reads a transaction back in the contract's shapes. A transaction whose current state is an
//! error is answered with the error object, as Billwerk's reference implementation does.

use rust_decimal::Decimal;

use super::{App, Recorded};
use crate::contract::ApiError;
use crate::contract::responses::{
    ChargebackDto, PaymentItemDto, PaymentResponse, PreauthResponse, RefundResponse,
};
use crate::domain::{Bearer, TxKind, TxStatus};
use crate::store::{Chargeback, PaymentItem, PaymentTotals, TransactionRecord};

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
    let bearer = bearer(app, tx).await?;
    Ok(preauth_with(app, tx, bearer))
}

fn preauth_with(app: &App, tx: &TransactionRecord, bearer: Bearer) -> PreauthResponse {
    let redirect_url = match (&tx.status, &tx.checkout_token, &tx.checkout_id) {
        (TxStatus::Initiated, Some(token), Some(_)) => {
            Some(format!("{}/checkout/{token}", app.public_base_url))
        }
        _ => None,
    };
    PreauthResponse {
        transaction_id: tx.billwerk_id.clone(),
        external_transaction_id: tx.id.clone(),
        psp_transaction_id: tx.psp_tx_id.clone(),
        currency: tx.currency.clone(),
        requested_amount: tx.requested_amount,
        // Only an authorization that stands reserves money (contract §10.2).
        authorized_amount: if tx.status == TxStatus::Succeeded {
            tx.authorized_amount
        } else {
            Decimal::ZERO
        },
        expires_at: tx.expires_at.unwrap_or(tx.created_at).to_wire(),
        bearer,
        redirect_url,
        redirect_data: None,
        last_updated: tx.last_updated.to_wire(),
        status: wire_status(tx),
    }
}

/// A payment's money movements, chargebacks and refunds.
async fn parts(
    app: &App,
    tx: &TransactionRecord,
) -> Result<(Vec<PaymentItem>, Vec<Chargeback>, Vec<TransactionRecord>), ApiError> {
    Ok(app.store.payment_parts(&tx.merchant_id, &tx.id).await?)
}

/// The money of a payment (the same totals the store's money rules check).
pub async fn payment_totals(app: &App, tx: &TransactionRecord) -> Result<PaymentTotals, ApiError> {
    let (items, cbs, refunds) = parts(app, tx).await?;
    Ok(PaymentTotals::of(&items, &cbs, &refunds))
}

/// The status Billwerk sees. A payment or refund is never `Initiated` on the wire (contract
/// §10.3): until the PSP answers it is `Pending`. A preauth is `Initiated` only while a
/// checkout waits for the shopper; one whose PSP call has no recorded answer is `Pending`.
fn wire_status(tx: &TransactionRecord) -> TxStatus {
    match (tx.kind, tx.status) {
        (TxKind::Payment | TxKind::Refund, TxStatus::Initiated) => TxStatus::Pending,
        (TxKind::Preauth, TxStatus::Initiated) if tx.checkout_id.is_none() => TxStatus::Pending,
        (_, s) => s,
    }
}

/// What a new refund of the payment may still take: [`PaymentTotals::refundable`] with the
/// money that parked PSP events claim (a chargeback crossing a refund in flight).
pub async fn refundable(app: &App, tx: &TransactionRecord) -> Result<Decimal, ApiError> {
    let mut t = payment_totals(app, tx).await?;
    t.claimed = super::notification::claimed(app, tx).await?;
    Ok(t.refundable())
}

pub async fn payment(app: &App, tx: &TransactionRecord) -> Result<PaymentResponse, ApiError> {
    error_state(tx)?;
    let (items, cbs, refunds) = parts(app, tx).await?;
    let bearer = bearer(app, tx).await?;
    let mut t = PaymentTotals::of(&items, &cbs, &refunds);
    // Events are parked on a settled payment only while refunds are in flight: the common read
    // skips the query.
    if !t.refunding.is_zero() {
        t.claimed = super::notification::claimed(app, tx).await?;
    }
    Ok(payment_with(tx, items, cbs, t, bearer))
}

fn payment_with(
    tx: &TransactionRecord,
    items: Vec<PaymentItem>,
    cbs: Vec<Chargeback>,
    t: PaymentTotals,
    bearer: Bearer,
) -> PaymentResponse {
    PaymentResponse {
        transaction_id: tx.billwerk_id.clone(),
        external_transaction_id: tx.id.clone(),
        psp_transaction_id: tx.psp_tx_id.clone(),
        currency: tx.currency.clone(),
        requested_amount: tx.requested_amount,
        payments: items.into_iter().map(item_dto).collect(),
        chargebacks: cbs.into_iter().map(chargeback_dto).collect(),
        refunded_amount: t.refunded,
        refundable_amount: t.refundable(),
        bearer,
        due_date: tx
            .planned_execution_date
            .map(|d| format!("{d}T00:00:00.0000000Z")),
        last_updated: tx.last_updated.to_wire(),
        status: wire_status(tx),
    }
}

/// Reads a view, retrying while the database is unreachable (up to `app.write_retry`).
async fn read_retrying<T, F, Fut>(app: &App, read: F) -> Result<T, ApiError>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = Result<T, ApiError>>,
{
    let mut backoff = super::backoff::Backoff::within(app.write_retry);
    loop {
        match read().await {
            Err(e) if e.is_server_side() && !backoff.expired() => backoff.wait().await,
            r => return r,
        }
    }
}

/// The answer to a `POST /api/Payment` whose PSP call was made (the PSP may have moved money):
/// the recorded state, read with retries; if the database stays away, what this process knows,
/// built without it. Never a 5xx that would read as "nothing happened" (issue #16).
pub async fn payment_answer(
    app: &App,
    tx: &TransactionRecord,
    recorded: Recorded,
) -> Result<PaymentResponse, ApiError> {
    if recorded == Recorded::Yes {
        match read_retrying(app, || payment(app, tx)).await {
            Err(e) if e.is_server_side() => {}
            r => return r,
        }
    }
    error_state(tx)?;
    // A payment created by this request has nothing yet but the item its own answer booked.
    let items = match tx.status {
        TxStatus::Succeeded => vec![PaymentItem {
            kind: crate::store::ItemKind::Payment,
            external_item_id: tx.psp_tx_id.clone(),
            amount: tx.requested_amount,
            booking_date: tx.last_updated.date(),
            description: Some(
                if tx.parent_id.is_some() {
                    "Capture"
                } else {
                    "Payment"
                }
                .into(),
            ),
        }],
        _ => Vec::new(),
    };
    let t = PaymentTotals::of(&items, &[], &[]);
    Ok(payment_with(tx, items, Vec::new(), t, Bearer::new()))
}

/// [`payment_answer`] for a preauth.
pub async fn preauth_answer(
    app: &App,
    tx: &TransactionRecord,
    recorded: Recorded,
) -> Result<PreauthResponse, ApiError> {
    if recorded == Recorded::Yes {
        match read_retrying(app, || preauth(app, tx)).await {
            Err(e) if e.is_server_side() => {}
            r => return r,
        }
    }
    error_state(tx)?;
    Ok(preauth_with(app, tx, Bearer::new()))
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
        status: wire_status(tx),
    })
}
