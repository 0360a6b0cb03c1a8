//! `/api/*`: the Billwerk contract endpoints. Each handler extracts, calls one flow, answers.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::extract::{BillwerkJson, OptionalJson};
use super::statuses;
use crate::contract::ApiError;
use crate::contract::commands::{
    CancelCommand, FinalizeCommand, PaymentCommand, PreauthCommand, RefundCommand, SettingsCommand,
};
use crate::contract::responses::{
    CancellationResponse, IntegrationInfo, IntegrationSettingsResponse, PaymentResponse,
    PreauthResponse, RefundResponse, SettingsResponse,
};
use crate::domain::TxStatus;
use crate::flows::{App, Merchant, payment, preauth, refund, settings};

type Reply = Result<Response, ApiError>;

fn ok<T: serde::Serialize>(body: T) -> Reply {
    Ok(Json(body).into_response())
}

/// A transaction's answer; its status goes on the request's log line.
fn answer<T: serde::Serialize>(status: TxStatus, body: T) -> Reply {
    let mut res = Json(body).into_response();
    res.extensions_mut().insert(super::observe::Answered {
        tx_status: Some(status.name()),
        ..Default::default()
    });
    Ok(res)
}

/// Billwerk's transactionId goes on the request's log line (and, through its span, on every
/// line the flow writes).
fn note(id: &str) {
    crate::telemetry::note_transaction(id);
}

/// Runs a state-changing flow on its own task, so a client that disconnects (or a server-side
/// timeout) cannot cancel it between the PSP call and recording the PSP's answer.
async fn detached<T, F>(fut: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    use tracing::Instrument;
    // The task keeps the request's span and id, so its log lines and PSP calls carry them.
    // One pooled connection for the flow's statements (see `store::session`).
    let fut = crate::telemetry::with_request(
        crate::telemetry::current_request(),
        crate::store::session::pinned(fut),
    )
    .instrument(tracing::Span::current());
    tokio::spawn(fut).await.unwrap_or_else(|e| {
        tracing::error!(error = %e, "flow task failed");
        Err(ApiError::internal())
    })
}

/// Creates a preauthorization (card checkout or SEPA mandate).
#[utoipa::path(post, path = "/api/Preauth", tag = "billwerk", security(("bearer" = [])),
    request_body(content = crate::contract::requests::PreauthRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The preauthorization (Initiated with redirectUrl for a hosted checkout)", body = PreauthResponse),
        statuses::BodyErrors
    ))]
pub async fn create_preauth(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<PreauthCommand>,
) -> Reply {
    note(cmd.id.as_str());
    let r = detached(async move { preauth::create(&app, &m, cmd).await }).await?;
    answer(r.status, r)
}

/// Reads a preauthorization.
#[utoipa::path(get, path = "/api/Preauth/{id}", tag = "billwerk", security(("bearer" = [])),
    params(("id" = String, Path, description = "Billwerk's transactionId")),
    responses(
        (status = 200, description = "The preauthorization's current state", body = PreauthResponse),
        statuses::ReadErrors
    ))]
pub async fn get_preauth(State(app): State<App>, m: Merchant, Path(id): Path<String>) -> Reply {
    note(&id);
    let r = preauth::get(&app, &m, &id).await?;
    answer(r.status, r)
}

/// Cancels (reverses) a preauthorization.
#[utoipa::path(post, path = "/api/Preauth/{id}/Cancel", tag = "billwerk", security(("bearer" = [])),
    params(("id" = String, Path, description = "Billwerk's transactionId")),
    request_body(content = Option<crate::contract::requests::CancelRequest>, content_type = "application/json",
        description = "Optional: an empty body (no Content-Type needed) means no fields"),
    responses(
        (status = 200, description = "Whether the preauthorization was cancelled", body = CancellationResponse),
        statuses::BodyOnIdErrors
    ))]
pub async fn cancel_preauth(
    State(app): State<App>,
    m: Merchant,
    Path(id): Path<String>,
    OptionalJson(cmd): OptionalJson<CancelCommand>,
) -> Reply {
    note(&id);
    ok(detached(async move { preauth::cancel(&app, &m, &id, cmd).await }).await?)
}

/// Finalizes a preauthorization after the shopper's redirect.
#[utoipa::path(post, path = "/api/Preauth/Finalize", tag = "billwerk", security(("bearer" = [])),
    request_body(content = crate::contract::requests::FinalizeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The preauthorization after finalization", body = PreauthResponse),
        statuses::BodyOnIdErrors
    ))]
pub async fn finalize_preauth(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<FinalizeCommand>,
) -> Reply {
    note(cmd.id.as_str());
    let r = detached(async move { preauth::finalize(&app, &m, cmd).await }).await?;
    answer(r.status, r)
}

/// Creates a payment: a capture or a recurring (merchant-initiated) payment.
#[utoipa::path(post, path = "/api/Payment", tag = "billwerk", security(("bearer" = [])),
    request_body(content = crate::contract::requests::PaymentRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The payment (capture of a preauth, or a recurring payment on an agreement)", body = PaymentResponse),
        statuses::BodyErrors
    ))]
pub async fn create_payment(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<PaymentCommand>,
) -> Reply {
    note(cmd.id.as_str());
    let r = detached(async move { payment::create(&app, &m, cmd).await }).await?;
    answer(r.status, r)
}

/// Reads a payment.
#[utoipa::path(get, path = "/api/Payment/{id}", tag = "billwerk", security(("bearer" = [])),
    params(("id" = String, Path, description = "Billwerk's transactionId")),
    responses(
        (status = 200, description = "The payment with its items, chargebacks and refunded amount", body = PaymentResponse),
        statuses::ReadErrors
    ))]
pub async fn get_payment(State(app): State<App>, m: Merchant, Path(id): Path<String>) -> Reply {
    note(&id);
    let r = payment::get(&app, &m, &id).await?;
    answer(r.status, r)
}

/// Refunds (part of) a payment.
#[utoipa::path(post, path = "/api/Refund", tag = "billwerk", security(("bearer" = [])),
    request_body(content = crate::contract::requests::RefundRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The refund", body = RefundResponse),
        statuses::BodyErrors
    ))]
pub async fn create_refund(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<RefundCommand>,
) -> Reply {
    note(cmd.id.as_str());
    let r = detached(async move { refund::create(&app, &m, cmd).await }).await?;
    answer(r.status, r)
}

/// Reads a refund.
#[utoipa::path(get, path = "/api/Refund/{id}", tag = "billwerk", security(("bearer" = [])),
    params(("id" = String, Path, description = "Billwerk's transactionId")),
    responses(
        (status = 200, description = "The refund's current state", body = RefundResponse),
        statuses::ReadErrors
    ))]
pub async fn get_refund(State(app): State<App>, m: Merchant, Path(id): Path<String>) -> Reply {
    note(&id);
    let r = refund::get(&app, &m, &id).await?;
    answer(r.status, r)
}

/// Describes the integration's capabilities and merchant settings.
#[utoipa::path(get, path = "/api/IntegrationInfo", tag = "billwerk", security(("bearer" = [])),
    responses(
        (status = 200, description = "What this integration supports and which settings it needs", body = IntegrationInfo),
        statuses::MerchantReadErrors
    ))]
pub async fn integration_info(m: Merchant) -> Reply {
    ok(settings::integration_info(&m))
}

/// Reads the merchant's PSP settings.
#[utoipa::path(get, path = "/api/Settings", tag = "billwerk", security(("bearer" = [])),
    responses(
        (status = 200, description = "The merchant's settings (secrets masked)", body = SettingsResponse),
        statuses::MerchantReadErrors
    ))]
pub async fn get_settings(State(app): State<App>, m: Merchant) -> Reply {
    ok(settings::get(&app, &m).await?)
}

/// Stores the merchant's PSP settings (encrypted at rest).
#[utoipa::path(put, path = "/api/Settings", tag = "billwerk", security(("bearer" = [])),
    request_body(content = crate::contract::requests::SettingsRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Which payment methods the settings make usable", body = IntegrationSettingsResponse),
        statuses::BodyErrors
    ))]
pub async fn put_settings(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<SettingsCommand>,
) -> Reply {
    ok(detached(async move { settings::put(&app, &m, cmd).await }).await?)
}
