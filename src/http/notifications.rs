//! `POST /psp/{psp}/{merchant}/notifications`: where a PSP delivers its (encrypted)
//! notifications. 200 means "committed"; any other answer makes the PSP retry.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, MatchedPath, Path, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::contract::ApiError;
use crate::domain::PaymentErrorCode;
use crate::flows::App;
use crate::flows::notification::{self, Ack, Refused};
use crate::psp::InboundNotification;

/// The notification route's template.
pub const ROUTE: &str = "/psp/{psp}/{merchant}/notifications";

/// Middleware: a notification for an unknown merchant, or for a PSP the merchant does not use,
/// is answered 404 at once, before its (anonymous, possibly slow) body is read.
pub async fn known_endpoint(State(app): State<App>, req: Request, next: Next) -> Response {
    let ours = req.method() == Method::POST
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| m.as_str() == ROUTE);
    if !ours {
        return next.run(req).await;
    }
    let (mut parts, body) = req.into_parts();
    let Ok(params) = RawPathParams::from_request_parts(&mut parts, &app).await else {
        return unknown_endpoint();
    };
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    };
    let (Some(psp), Some(merchant)) = (param("psp"), param("merchant")) else {
        return unknown_endpoint();
    };
    match app.merchant(&merchant).await {
        Ok(m) if m.record.psp.eq_ignore_ascii_case(&psp) => {
            next.run(Request::from_parts(parts, body)).await
        }
        // A database that cannot be read is not an unknown endpoint: the PSP must retry.
        Err(e) if e.http.is_server_error() => try_again(),
        _ => unknown_endpoint(),
    }
}

/// 404; the connection is closed, as the body may not have been read.
fn unknown_endpoint() -> Response {
    crate::telemetry::notification_outcome("rejected");
    super::body::closing(ApiError::with_status(
        StatusCode::NOT_FOUND,
        PaymentErrorCode::InvalidData,
        "path: no notification endpoint for this PSP and merchant",
    ))
}

fn try_again() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "try again later").into_response()
}

/// Receives one PSP notification (OPPWA: AES-256-GCM encrypted, hex body, IV and tag headers).
#[utoipa::path(post, path = "/psp/{psp}/{merchant}/notifications", tag = "psp",
    params(
        ("psp" = String, Path, description = "The PSP adapter, e.g. `oppwa`"),
        ("merchant" = String, Path, description = "The merchant id (`merchants list` prints this URL)"),
        ("x-initialization-vector" = Option<String>, Header, description = "OPPWA: hex IV"),
        ("x-authentication-tag" = Option<String>, Header, description = "OPPWA: hex GCM tag")
    ),
    request_body(content = String, content_type = "text/plain", description = "The encrypted notification"),
    responses(
        (status = 200, description = "Committed (or a duplicate, or the PSP's test message)"),
        (status = 400, description = "Not authentic: the PSP should not retry it unchanged"),
        (status = 404, description = "No such merchant or PSP"),
        (status = 500, description = "Not committed; the PSP retries")
    ))]
pub async fn receive(
    State(app): State<App>,
    Path((psp, merchant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // A header sent twice is ambiguous: treated as missing, so the notification is refused.
    let header = |name: &str| {
        let mut all = headers.get_all(name).iter();
        match (all.next(), all.next()) {
            (Some(v), None) => v.to_str().ok().map(str::to_owned),
            _ => None,
        }
    };
    let (iv, tag) = (
        header("x-initialization-vector"),
        header("x-authentication-tag"),
    );
    // Detached: once decrypted, the commit must not be cut short by the PSP hanging up.
    let wake = app.outbox_wake.clone();
    let task = tokio::spawn(async move {
        let inbound = InboundNotification {
            body: &body,
            iv: iv.as_deref(),
            tag: tag.as_deref(),
        };
        notification::receive(&app, &psp, &merchant, inbound).await
    });
    match task.await {
        // The flow counts each result (applied, parked, contradiction, duplicate, …).
        Ok(Ok(Ack::Stored(_))) => {
            wake.notify_one();
            (StatusCode::OK, "OK").into_response()
        }
        Ok(Ok(Ack::Duplicate | Ack::Test)) => (StatusCode::OK, "OK").into_response(),
        Ok(Err(Refused::UnknownEndpoint)) => unknown_endpoint(),
        Ok(Err(Refused::Unauthentic(_))) => (
            StatusCode::BAD_REQUEST,
            "notification could not be authenticated",
        )
            .into_response(),
        Ok(Err(Refused::Internal)) | Err(_) => try_again(),
    }
}
