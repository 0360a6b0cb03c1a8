//! Refunds of a payment, bounded by what is still refundable.

use super::{App, Merchant, check_replay, views};
use crate::contract::ApiError;
use crate::contract::commands::RefundCommand;
use crate::contract::responses::RefundResponse;
use crate::domain::{PaymentErrorCode, TxKind};
use crate::psp::{FollowUp, MerchantPsp};
use crate::store::Inserted;

/// `POST /api/Refund`.
#[tracing::instrument(level = "error", name = "refund", skip_all,
    fields(transaction_id = %cmd.id, merchant_id = %m.id()))]
pub async fn create(
    app: &App,
    m: &Merchant,
    cmd: RefundCommand,
) -> Result<RefundResponse, ApiError> {
    let RefundCommand {
        id,
        money,
        webhook,
        payment_id,
    } = cmd;
    super::psp_amount(m, &money)?;

    let _guard = app.locks.lock(m.id(), id.as_str()).await;
    if let Some(existing) = app.store.get_transaction(m.id(), id.as_str()).await? {
        check_replay(&existing, TxKind::Refund, &money, None)?;
        return views::refund(&existing);
    }
    let psp = app.psp(m).await?;
    // The payment's lock makes "check refundable, then reserve it" atomic within this process.
    let payment_guard = app.locks.lock(m.id(), payment_id.as_str()).await;
    let payment = match app
        .store
        .get_transaction(m.id(), payment_id.as_str())
        .await?
    {
        Some(p) if p.kind == TxKind::Payment => p,
        _ => {
            return Err(ApiError::invalid(
                "paymentTransactionId",
                format!("unknown payment {payment_id}"),
            ));
        }
    };
    if payment.currency != money.currency.code() {
        return Err(ApiError::code(
            PaymentErrorCode::InvalidCurrency,
            format!(
                "currency: {} differs from the payment's {}",
                money.currency, payment.currency
            ),
        ));
    }
    let refundable = views::refundable(app, &payment).await?;
    if money.amount > refundable {
        return Err(ApiError::code(
            PaymentErrorCode::InvalidAmount,
            format!(
                "requestedAmount: {} exceeds the refundable amount {refundable}",
                money.amount
            ),
        ));
    }
    let Some(psp_id) = payment.psp_tx_id.clone() else {
        return Err(ApiError::invalid(
            "paymentTransactionId",
            "the payment has no PSP transaction",
        ));
    };
    let mut rec = app.new_record(m, TxKind::Refund, id.as_str(), &money, &webhook);
    rec.parent_id = Some(payment.id.clone());
    rec.agreement_id = payment.agreement_id.clone();
    let tx = match app
        .store
        .insert_transaction(&rec, "refund received")
        .await?
    {
        Inserted::New(t) => t,
        Inserted::Existing(e) => {
            check_replay(&e, TxKind::Refund, &money, None)?;
            return views::refund(&e);
        }
    };
    drop(payment_guard);

    let req = FollowUp {
        merchant_tx_id: tx.billwerk_id.clone(),
        psp_transaction_id: psp_id,
        amount: Some(money),
        merchant_initiated: !payment.is_initial,
        cancel_of: false,
    };
    let r = super::called::timed("refund", psp.refund(&req)).await;
    // Not recorded (database away): `tx` as written, which reads as Pending.
    let (tx, _) = app.record_answer(tx, &r).await;
    views::refund(&tx)
}

/// `GET /api/Refund/{id}`.
pub async fn get(app: &App, m: &Merchant, id: &str) -> Result<RefundResponse, ApiError> {
    let tx = app.find(m, TxKind::Refund, id).await?;
    views::refund(&tx)
}
