//! `POST /psp/{psp}/{merchant}/{token}/notifications`: where a PSP delivers its notifications,
//! on a URL unguessable without the master key (`flows::notification::url`). The tokenless
//! `POST /psp/{psp}/{merchant}/notifications` stays open to the families whose notifications
//! authenticate themselves. The call reaches the merchant's adapter as it came (headers, body,
//! query); 200 means "committed"; any other answer makes the PSP retry.

use axum::body::Bytes;
use axum::extract::{FromRequestParts, MatchedPath, Path, RawPathParams, Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::contract::ApiError;
use crate::flows::App;
use crate::flows::notification::{self, Ack, Endpoint, Refused};
use crate::psp::Inbound;

/// The notification route's template: with the merchant's token.
pub const ROUTE: &str = "/psp/{psp}/{merchant}/{token}/notifications";
/// The tokenless route, for the families whose notifications authenticate themselves.
pub const TOKENLESS_ROUTE: &str = "/psp/{psp}/{merchant}/notifications";

/// Middleware: a notification for an unknown merchant, for a PSP the merchant does not use, with
/// a wrong token, or without one for a family that needs it, is answered 404 at once, before its
/// (anonymous, possibly slow) body is read.
pub async fn known_endpoint(State(app): State<App>, req: Request, next: Next) -> Response {
    let ours = req.method() == Method::POST
        && req
            .extensions()
            .get::<MatchedPath>()
            .is_some_and(|m| m.as_str() == ROUTE || m.as_str() == TOKENLESS_ROUTE);
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
    let token = param("token");
    let at = Endpoint {
        family: &psp,
        merchant_id: &merchant,
        token: token.as_deref(),
    };
    match app.merchant(&merchant).await {
        Ok(m) if notification::accepts(&app, &m, &at) => {
            next.run(Request::from_parts(parts, body)).await
        }
        // A database that cannot be read is not an unknown endpoint: the PSP must retry.
        Err(e) if e.is_retryable() => try_again(),
        _ => unknown_endpoint(),
    }
}

/// 404; the connection is closed, as the body may not have been read.
fn unknown_endpoint() -> Response {
    crate::telemetry::notification_outcome("rejected");
    super::body::closing(ApiError::unknown_id(
        "path: no notification endpoint for this PSP and merchant".to_string(),
    ))
}

fn try_again() -> Response {
    (StatusCode::INTERNAL_SERVER_ERROR, "try again later").into_response()
}

/// Receives one PSP notification, in the PSP's own format (its adapter authenticates and reads
/// it: README "PSP families"), on the merchant's URL (`merchants notification-url` prints it).
#[utoipa::path(post, path = "/psp/{psp}/{merchant}/{token}/notifications", tag = "psp",
    params(
        ("psp" = String, Path, description = "The PSP family"),
        ("merchant" = String, Path, description = "The merchant id"),
        ("token" = String, Path, description = "The merchant's notification token: 32 hex characters derived from the master key (`merchants notification-url` prints the whole URL)")
    ),
    request_body(content = String, content_type = "text/plain", description = "The notification as the PSP sends it"),
    responses(
        (status = 200, description = "Committed (or a duplicate, or the PSP's test message)"),
        (status = 400, description = "Not authentic: the PSP should not retry it unchanged"),
        (status = 404, description = "No such merchant or PSP, or not the merchant's token; nothing stored"),
        (status = 500, description = "Not committed; the PSP retries")
    ))]
pub async fn receive(
    State(app): State<App>,
    Path((psp, merchant, token)): Path<(String, String, String)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    deliver(app, psp, merchant, Some(token), uri, headers, body).await
}

/// The tokenless path, kept for the families whose notifications authenticate themselves
/// (signed or encrypted with the merchant's secret); 404 for the others.
#[utoipa::path(post, path = "/psp/{psp}/{merchant}/notifications", tag = "psp",
    params(
        ("psp" = String, Path, description = "The PSP family; only one whose notifications are signed or encrypted with the merchant's secret"),
        ("merchant" = String, Path, description = "The merchant id")
    ),
    request_body(content = String, content_type = "text/plain", description = "The notification as the PSP sends it"),
    responses(
        (status = 200, description = "Committed (or a duplicate, or the PSP's test message)"),
        (status = 400, description = "Not authentic: the PSP should not retry it unchanged"),
        (status = 404, description = "No such merchant or PSP, or a family whose notifications need the tokened URL; nothing stored"),
        (status = 500, description = "Not committed; the PSP retries")
    ))]
pub async fn receive_tokenless(
    State(app): State<App>,
    Path((psp, merchant)): Path<(String, String)>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    deliver(app, psp, merchant, None, uri, headers, body).await
}

async fn deliver(
    app: App,
    psp: String,
    merchant: String,
    token: Option<String>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // Every header as sent (a repeated one twice, so the adapter sees the ambiguity); a value
    // that is not visible ASCII is kept as nothing rather than guessed at.
    let headers: Vec<(String, String)> = headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_string(),
                v.to_str().unwrap_or_default().to_string(),
            )
        })
        .collect();
    let query = uri.query().unwrap_or_default().to_string();
    // Detached: once authenticated, the commit must not be cut short by the PSP hanging up.
    let wake = app.outbox_wake.clone();
    let task = tokio::spawn(async move {
        let inbound = Inbound {
            headers: &headers,
            body: &body,
            query: &query,
        };
        let at = Endpoint {
            family: &psp,
            merchant_id: &merchant,
            token: token.as_deref(),
        };
        notification::receive(&app, at, inbound).await
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
