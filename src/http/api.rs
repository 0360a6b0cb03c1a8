//! `/api/*`: the Billwerk contract endpoints. Each handler extracts, calls one flow, answers.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};

use super::extract::{BillwerkJson, OptionalJson};
use crate::contract::ApiError;
use crate::contract::commands::{
    CancelCommand, FinalizeCommand, PaymentCommand, PreauthCommand, RefundCommand, SettingsCommand,
};
use crate::flows::{App, Merchant, payment, preauth, refund, settings};

type Reply = Result<Response, ApiError>;

fn ok<T: serde::Serialize>(body: T) -> Reply {
    Ok(Json(body).into_response())
}

/// Runs a state-changing flow on its own task, so a client that disconnects (or a server-side
/// timeout) cannot cancel it between the PSP call and recording the PSP's answer.
async fn detached<T, F>(fut: F) -> Result<T, ApiError>
where
    T: Send + 'static,
    F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
{
    use tracing::Instrument;
    tokio::spawn(fut.in_current_span())
        .await
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "flow task failed");
            Err(ApiError::internal())
        })
}

pub async fn create_preauth(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<PreauthCommand>,
) -> Reply {
    ok(detached(async move { preauth::create(&app, &m, cmd).await }).await?)
}

pub async fn get_preauth(State(app): State<App>, m: Merchant, Path(id): Path<String>) -> Reply {
    ok(preauth::get(&app, &m, &id).await?)
}

pub async fn cancel_preauth(
    State(app): State<App>,
    m: Merchant,
    Path(id): Path<String>,
    OptionalJson(cmd): OptionalJson<CancelCommand>,
) -> Reply {
    ok(detached(async move { preauth::cancel(&app, &m, &id, cmd).await }).await?)
}

pub async fn finalize_preauth(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<FinalizeCommand>,
) -> Reply {
    ok(detached(async move { preauth::finalize(&app, &m, cmd).await }).await?)
}

pub async fn create_payment(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<PaymentCommand>,
) -> Reply {
    ok(detached(async move { payment::create(&app, &m, cmd).await }).await?)
}

pub async fn get_payment(State(app): State<App>, m: Merchant, Path(id): Path<String>) -> Reply {
    ok(payment::get(&app, &m, &id).await?)
}

pub async fn create_refund(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<RefundCommand>,
) -> Reply {
    ok(detached(async move { refund::create(&app, &m, cmd).await }).await?)
}

pub async fn get_refund(State(app): State<App>, m: Merchant, Path(id): Path<String>) -> Reply {
    ok(refund::get(&app, &m, &id).await?)
}

pub async fn integration_info(m: Merchant) -> Reply {
    ok(settings::integration_info(&m))
}

pub async fn get_settings(State(app): State<App>, m: Merchant) -> Reply {
    ok(settings::get(&app, &m).await?)
}

pub async fn put_settings(
    State(app): State<App>,
    m: Merchant,
    BillwerkJson(cmd): BillwerkJson<SettingsCommand>,
) -> Reply {
    ok(detached(async move { settings::put(&app, &m, cmd).await }).await?)
}
