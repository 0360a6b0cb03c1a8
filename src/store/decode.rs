//! Row decoding and value encoding shared by all queries. Everything crosses the `Any` driver as
//! TEXT, i64 or bytes; parsing back into domain types happens here, and a value that does not
//! parse is reported as `StoreError::Corrupt` naming the column, never a panic.

use std::fmt::Display;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use sqlx::any::AnyRow;
use sqlx::{Any, Decode, Row, Type};

use super::{
    AgreementRecord, Chargeback, HistoryEntry, MerchantRecord, PaymentItem, StoreError,
    StoreResult, TransactionRecord,
};
use crate::domain::{
    AgreementStatus, Bearer, ChargebackReason, Role, Ticks, TxError, TxKind, TxStatus,
};

/// The columns of `transactions`, in the order `transaction` reads them.
pub(super) const TX_COLUMNS: &str = "id, merchant_id, kind, billwerk_id, agreement_id, role, \
    currency, requested_amount, authorized_amount, status, psp_tx_id, webhook_target, parent_id, \
    is_initial, expires_at, checkout_id, checkout_data, checkout_token, success_url, error_url, abort_url, \
    language, reference_text, planned_execution_date, booking_date, error, needs_reconcile, \
    created_at, last_updated, next_reconcile_at, reconcile_attempts, collected_at_authorization, request_id";

pub(super) const MERCHANT_COLUMNS: &str =
    "id, name, psp, created_at, disabled_at, previous_token_expires_at";

pub(super) const AGREEMENT_COLUMNS: &str = "merchant_id, agreement_id, status, role, currency, \
    bearer, credential, initial_psp_tx_id, is_debit, updated_at";

fn corrupt(col: &str, detail: impl Display) -> StoreError {
    StoreError::Corrupt(format!("column {col}: {detail}"))
}

fn get<'r, T: Decode<'r, Any> + Type<Any>>(row: &'r AnyRow, col: &str) -> StoreResult<T> {
    Ok(row.try_get(col)?)
}

fn flag(row: &AnyRow, col: &str) -> StoreResult<bool> {
    Ok(get::<i64>(row, col)? != 0)
}

fn ticks(row: &AnyRow, col: &str) -> StoreResult<Ticks> {
    Ok(Ticks(get(row, col)?))
}

fn opt_ticks(row: &AnyRow, col: &str) -> StoreResult<Option<Ticks>> {
    Ok(get::<Option<i64>>(row, col)?.map(Ticks))
}

fn parse_decimal(col: &str, s: &str) -> StoreResult<Decimal> {
    Decimal::from_str_exact(s).map_err(|e| corrupt(col, format_args!("{s:?}: {e}")))
}

fn decimal(row: &AnyRow, col: &str) -> StoreResult<Decimal> {
    parse_decimal(col, &get::<String>(row, col)?)
}

fn opt_decimal(row: &AnyRow, col: &str) -> StoreResult<Option<Decimal>> {
    get::<Option<String>>(row, col)?
        .map(|s| parse_decimal(col, &s))
        .transpose()
}

fn parse_date(col: &str, s: &str) -> StoreResult<NaiveDate> {
    NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| corrupt(col, format_args!("{s:?}: {e}")))
}

fn date(row: &AnyRow, col: &str) -> StoreResult<NaiveDate> {
    parse_date(col, &get::<String>(row, col)?)
}

fn opt_date(row: &AnyRow, col: &str) -> StoreResult<Option<NaiveDate>> {
    get::<Option<String>>(row, col)?
        .map(|s| parse_date(col, &s))
        .transpose()
}

/// Reads a TEXT column through a name parser such as `TxStatus::from_name`.
fn named<T>(row: &AnyRow, col: &str, parse: impl Fn(&str) -> Option<T>) -> StoreResult<T> {
    let s: String = get(row, col)?;
    parse(&s).ok_or_else(|| corrupt(col, format_args!("unknown value {s:?}")))
}

fn opt_named<T>(
    row: &AnyRow,
    col: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> StoreResult<Option<T>> {
    match get::<Option<String>>(row, col)? {
        None => Ok(None),
        Some(s) => parse(&s)
            .map(Some)
            .ok_or_else(|| corrupt(col, format_args!("unknown value {s:?}"))),
    }
}

pub(super) fn merchant(row: &AnyRow) -> StoreResult<MerchantRecord> {
    Ok(MerchantRecord {
        id: get(row, "id")?,
        name: get(row, "name")?,
        psp: get(row, "psp")?,
        created_at: ticks(row, "created_at")?,
        disabled_at: opt_ticks(row, "disabled_at")?,
        previous_token_until: opt_ticks(row, "previous_token_expires_at")?,
    })
}

pub(super) fn transaction(row: &AnyRow) -> StoreResult<TransactionRecord> {
    let error = get::<Option<String>>(row, "error")?
        .map(|s| serde_json::from_str::<TxError>(&s).map_err(|e| corrupt("error", e)))
        .transpose()?;
    Ok(TransactionRecord {
        id: get(row, "id")?,
        merchant_id: get(row, "merchant_id")?,
        kind: named(row, "kind", TxKind::parse)?,
        billwerk_id: get(row, "billwerk_id")?,
        agreement_id: get(row, "agreement_id")?,
        role: opt_named(row, "role", Role::from_name)?,
        currency: get(row, "currency")?,
        requested_amount: decimal(row, "requested_amount")?,
        authorized_amount: decimal(row, "authorized_amount")?,
        status: named(row, "status", TxStatus::from_name)?,
        psp_tx_id: get(row, "psp_tx_id")?,
        webhook_target: get(row, "webhook_target")?,
        parent_id: get(row, "parent_id")?,
        is_initial: flag(row, "is_initial")?,
        expires_at: opt_ticks(row, "expires_at")?,
        checkout_id: get(row, "checkout_id")?,
        checkout_data: get(row, "checkout_data")?,
        checkout_token: get(row, "checkout_token")?,
        success_url: get(row, "success_url")?,
        error_url: get(row, "error_url")?,
        abort_url: get(row, "abort_url")?,
        language: get(row, "language")?,
        reference_text: get(row, "reference_text")?,
        planned_execution_date: opt_date(row, "planned_execution_date")?,
        booking_date: opt_date(row, "booking_date")?,
        error,
        needs_reconcile: flag(row, "needs_reconcile")?,
        created_at: ticks(row, "created_at")?,
        last_updated: ticks(row, "last_updated")?,
        next_reconcile_at: opt_ticks(row, "next_reconcile_at")?,
        reconcile_attempts: get(row, "reconcile_attempts")?,
        collected_at_authorization: flag(row, "collected_at_authorization")?,
        request_id: get(row, "request_id")?,
    })
}

pub(super) fn agreement(row: &AnyRow) -> StoreResult<AgreementRecord> {
    let bearer: String = get(row, "bearer")?;
    Ok(AgreementRecord {
        merchant_id: get(row, "merchant_id")?,
        agreement_id: get(row, "agreement_id")?,
        status: named(row, "status", AgreementStatus::from_name)?,
        role: opt_named(row, "role", Role::from_name)?,
        currency: get(row, "currency")?,
        bearer: serde_json::from_str::<Bearer>(&bearer).map_err(|e| corrupt("bearer", e))?,
        credential: get(row, "credential")?,
        initial_psp_tx_id: get(row, "initial_psp_tx_id")?,
        is_debit: flag(row, "is_debit")?,
        updated_at: ticks(row, "updated_at")?,
    })
}

pub(super) fn history_entry(row: &AnyRow) -> StoreResult<HistoryEntry> {
    Ok(HistoryEntry {
        status: named(row, "status", TxStatus::from_name)?,
        at: ticks(row, "at")?,
        note: get(row, "note")?,
    })
}

pub(super) fn payment_item(row: &AnyRow) -> StoreResult<PaymentItem> {
    Ok(PaymentItem {
        kind: named(row, "item_kind", super::ItemKind::parse)?,
        external_item_id: get(row, "external_item_id")?,
        amount: decimal(row, "amount")?,
        booking_date: date(row, "booking_date")?,
        description: get(row, "description")?,
    })
}

pub(super) fn chargeback(row: &AnyRow) -> StoreResult<Chargeback> {
    Ok(Chargeback {
        external_item_id: get(row, "external_item_id")?,
        amount: decimal(row, "amount")?,
        booking_date: date(row, "booking_date")?,
        description: get(row, "description")?,
        fee_amount: opt_decimal(row, "fee_amount")?,
        reason: named(row, "reason", ChargebackReason::from_name)?,
        psp_reason_code: get(row, "psp_reason_code")?,
        psp_reason_message: get(row, "psp_reason_message")?,
    })
}

/// JSON for TEXT columns (bearer map, recorded error).
pub(super) fn to_json<T: serde::Serialize>(col: &str, v: &T) -> StoreResult<String> {
    serde_json::to_string(v).map_err(|e| corrupt(col, e))
}

pub(super) fn flag_value(b: bool) -> i64 {
    i64::from(b)
}
