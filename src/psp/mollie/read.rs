//! Reading Mollie's resources into the seam's terms: a payment's status into an [`Outcome`]
//! (Mollie "Payment status changes"), card failure reasons and SEPA return codes into the
//! contract's error codes (contract/mollie.md §2.17, our choice), refunds, captures and
//! chargebacks into events, and error answers into declines or unknown outcomes.

use rust_decimal::Decimal;
use serde_json::Value;

use super::amount;
use super::api::{ApiError, Reply};
use crate::domain::{ChargebackReason, PaymentErrorCode, TxStatus};
use crate::psp::{ChargebackInfo, Decline, EventKind, Outcome, PspError, PspResult};

/// The metadata key carrying our reference (Billwerk's transactionId) on payments and refunds.
pub const REFERENCE: &str = "transactionId";

pub fn str_of<'a>(v: &'a Value, k: &str) -> Option<&'a str> {
    v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty())
}

/// Our reference in a resource's `metadata`, when we sent one.
pub fn reference(v: &Value) -> Option<String> {
    v.get("metadata")
        .and_then(|m| m.get(REFERENCE))
        .and_then(Value::as_str)
        .map(str::to_string)
}

fn decline(
    code: PaymentErrorCode,
    status: TxStatus,
    psp_code: Option<&str>,
    message: &str,
) -> Outcome {
    Outcome::Declined(Decline {
        code,
        status,
        psp_code: psp_code.map(str::to_string),
        message: message.to_string(),
    })
}

/// A card `failureReason` as the contract's error code.
pub fn card_failure(reason: &str) -> PaymentErrorCode {
    match reason {
        "insufficient_funds" => PaymentErrorCode::InsufficientBalance,
        "card_expired" => PaymentErrorCode::BearerExpired,
        "invalid_card_number"
        | "invalid_cvv"
        | "invalid_card_holder_name"
        | "invalid_card_type"
        | "inactive_card" => PaymentErrorCode::BearerInvalid,
        _ => PaymentErrorCode::Rejected,
    }
}

/// A SEPA return code (`bankReasonCode`) as the contract's error code.
pub fn bank_failure(code: &str) -> PaymentErrorCode {
    match code {
        "AC01" | "AC04" | "AC06" => PaymentErrorCode::BearerInvalid,
        "AM04" => PaymentErrorCode::InsufficientBalance,
        "MD06" | "MS02" => PaymentErrorCode::Canceled,
        _ => PaymentErrorCode::Rejected,
    }
}

/// A chargeback's `reason.code` (direct debit only) as the contract's reason.
pub fn chargeback_reason(code: Option<&str>) -> ChargebackReason {
    match code {
        Some("AC01" | "AC04" | "AC06") => ChargebackReason::BearerInvalid,
        Some("AM04") => ChargebackReason::InsufficientBalance,
        Some("MD06" | "MS02") => ChargebackReason::UserInitiated,
        _ => ChargebackReason::Unknown,
    }
}

/// The money movement a payment stands for: reserved (manual capture) or collected.
pub fn payment_kind(p: &Value) -> EventKind {
    if str_of(p, "captureMode") == Some("manual") {
        EventKind::Authorization
    } else {
        EventKind::Debit
    }
}

/// A payment's state as a result (no stored credential: the caller adds it).
pub fn payment(p: &Value) -> PspResult {
    let status = str_of(p, "status").unwrap_or("");
    let details = p.get("details").unwrap_or(&Value::Null);
    let outcome = match status {
        "paid" | "authorized" => Outcome::Succeeded,
        "open" | "pending" => Outcome::Pending,
        "canceled" => decline(
            PaymentErrorCode::Canceled,
            TxStatus::Cancelled,
            Some("canceled"),
            "the payment was cancelled",
        ),
        "expired" => decline(
            PaymentErrorCode::Rejected,
            TxStatus::Expired,
            Some("expired"),
            "the payment expired before it was completed",
        ),
        "failed" => {
            let (code, psp) = if let Some(r) = str_of(details, "failureReason") {
                (card_failure(r), Some(r))
            } else if let Some(c) = str_of(details, "bankReasonCode") {
                (bank_failure(c), Some(c))
            } else {
                (PaymentErrorCode::Rejected, None)
            };
            let message = str_of(details, "failureMessage")
                .or_else(|| str_of(details, "bankReason"))
                .unwrap_or("the payment failed");
            decline(code, TxStatus::Failed, psp.or(Some("failed")), message)
        }
        other => Outcome::Unknown(format!("unexpected payment status '{other}'")),
    };
    let (amount, currency) = p
        .get("amount")
        .and_then(amount::read)
        .map_or((None, None), |(a, c)| (Some(a), Some(c)));
    let mut r = PspResult::bare(outcome);
    r.psp_transaction_id = str_of(p, "id").map(str::to_string);
    r.amount = amount;
    r.currency = currency;
    r.result_code = Some(status.to_string());
    r.description = str_of(details, "failureMessage").map(str::to_string);
    r.kind = Some(payment_kind(p));
    r.booking_date = date_of(p, "paidAt").or_else(|| date_of(p, "authorizedAt"));
    r
}

/// The id a refund or capture is known by to us: `tr_…/re_…` (its payment's id first, because
/// Mollie addresses children only under their payment).
pub fn child_id(payment_id: &str, child: &str) -> String {
    format!("{payment_id}/{child}")
}

/// A refund's state (Mollie "Refund statuses"): queued/pending/processing stay Pending (a
/// pending refund can still be cancelled in the dashboard).
pub fn refund(payment_id: &str, r: &Value) -> PspResult {
    let status = str_of(r, "status").unwrap_or("");
    let outcome = match status {
        "refunded" => Outcome::Succeeded,
        "queued" | "pending" | "processing" => Outcome::Pending,
        "failed" => decline(
            PaymentErrorCode::Rejected,
            TxStatus::Failed,
            Some("failed"),
            "the refund failed at the bank",
        ),
        "canceled" => decline(
            PaymentErrorCode::Canceled,
            TxStatus::Cancelled,
            Some("canceled"),
            "the refund was cancelled",
        ),
        other => Outcome::Unknown(format!("unexpected refund status '{other}'")),
    };
    child(payment_id, r, outcome, status, EventKind::Refund)
}

/// A capture's state: `pending` → Pending, `succeeded` → Succeeded, `failed` → declined.
pub fn capture(payment_id: &str, c: &Value) -> PspResult {
    let status = str_of(c, "status").unwrap_or("");
    let outcome = match status {
        "succeeded" => Outcome::Succeeded,
        "pending" => Outcome::Pending,
        "failed" => decline(
            PaymentErrorCode::Rejected,
            TxStatus::Failed,
            Some("failed"),
            "the capture failed",
        ),
        other => Outcome::Unknown(format!("unexpected capture status '{other}'")),
    };
    child(payment_id, c, outcome, status, EventKind::Capture)
}

fn child(
    payment_id: &str,
    v: &Value,
    outcome: Outcome,
    status: &str,
    kind: EventKind,
) -> PspResult {
    let (amount, currency) = v
        .get("amount")
        .and_then(amount::read)
        .map_or((None, None), |(a, c)| (Some(a), Some(c)));
    let mut r = PspResult::bare(outcome);
    r.psp_transaction_id = str_of(v, "id").map(|id| child_id(payment_id, id));
    r.amount = amount;
    r.currency = currency;
    r.result_code = Some(status.to_string());
    r.kind = Some(kind);
    r.booking_date = date_of(v, "createdAt");
    r
}

/// The day of an RFC 3339 timestamp field (Mollie's `createdAt`, `reversedAt`, `paidAt`).
fn date_of(v: &Value, field: &str) -> Option<chrono::NaiveDate> {
    str_of(v, field)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.date_naive())
}

/// A chargeback as a succeeded movement, with its reason when Mollie gives one.
pub fn chargeback(payment_id: &str, c: &Value, kind: EventKind) -> (PspResult, ChargebackInfo) {
    let reason = c.get("reason").unwrap_or(&Value::Null);
    let code = str_of(reason, "code");
    let info = ChargebackInfo {
        reason: chargeback_reason(code),
        reason_code: code.map(str::to_string),
        reason_message: str_of(reason, "description").map(str::to_string),
    };
    let mut r = child(payment_id, c, Outcome::Succeeded, "received", kind);
    if r.kind == Some(EventKind::ChargebackReversal) {
        r.result_code = Some("reversed".into());
        r.booking_date = date_of(c, "reversedAt").or(r.booking_date);
    }
    (r, info)
}

/// The embedded children of a payment (`_embedded.{name}`), empty when none.
pub fn embedded<'a>(p: &'a Value, name: &str) -> &'a [Value] {
    p.get("_embedded")
        .and_then(|e| e.get(name))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// A dedupe key from what was fetched: child id, status and amount (never the call's bytes,
/// which are the same `id=tr_…` for every change).
pub fn dedupe(id: &str, status: &str, amount: Option<Decimal>) -> String {
    let a = amount
        .map(|a| a.normalize().to_string())
        .unwrap_or_default();
    format!("mollie:{id}:{status}:{a}")
}

/// A money call that got no usable answer or an error, as a result.
pub fn failed_call(reply: Reply) -> PspResult {
    match reply {
        Reply::Ok(_) => PspResult::unknown("unexpected answer from Mollie"),
        Reply::NoAnswer(e) => PspResult::unknown(e),
        Reply::Error(e) => PspResult::bare(error_outcome(&e)),
    }
}

/// An error answer to a money call. Only answers that prove nothing happened are declines;
/// a key still in flight (409 without "duplicate") stays unknown.
pub fn error_outcome(e: &ApiError) -> Outcome {
    let text = if e.detail.is_empty() {
        &e.title
    } else {
        &e.detail
    };
    let message = format!("Mollie: {text}");
    let psp = Some(e.status.to_string());
    let code = match e.status {
        401 => PaymentErrorCode::LoginError,
        403 => PaymentErrorCode::PermissionDenied,
        404 | 410 => PaymentErrorCode::InvalidData,
        409 if format!("{} {}", e.title, e.detail)
            .to_ascii_lowercase()
            .contains("duplicate refund") =>
        {
            return decline(
                PaymentErrorCode::InvalidData,
                TxStatus::Failed,
                Some("409"),
                "Mollie refused a duplicate refund: a refund of the same amount was made on this \
                 payment within the last hour",
            );
        }
        409 => return Outcome::Unknown(message),
        422 if e.field.as_deref().is_some_and(|f| f.starts_with("amount")) => {
            PaymentErrorCode::InvalidAmount
        }
        422 => PaymentErrorCode::Rejected,
        429 => PaymentErrorCode::RateLimit,
        // 400, 405, 415: a request we should not have sent.
        _ => PaymentErrorCode::InternalError,
    };
    decline(code, TxStatus::Failed, psp.as_deref(), &message)
}

/// An error answer to a call that moves no money.
pub fn psp_error(reply: Reply) -> PspError {
    match reply {
        Reply::Ok(_) => PspError {
            code: PaymentErrorCode::InternalProviderError,
            psp_code: None,
            message: "unexpected answer from Mollie".into(),
        },
        Reply::NoAnswer(e) => PspError {
            code: PaymentErrorCode::PSPConnectionProblem,
            psp_code: None,
            message: e,
        },
        Reply::Error(e) => {
            let code = match e.status {
                401 => PaymentErrorCode::LoginError,
                403 => PaymentErrorCode::PermissionDenied,
                404 | 410 => PaymentErrorCode::InvalidData,
                429 => PaymentErrorCode::RateLimit,
                _ => PaymentErrorCode::InternalProviderError,
            };
            let text = if e.detail.is_empty() {
                e.title
            } else {
                e.detail
            };
            PspError {
                code,
                psp_code: Some(e.status.to_string()),
                message: format!("Mollie: {text}"),
            }
        }
    }
}
