//! `POST /psp/{psp}/{merchant}/notifications`: where a PSP delivers its (encrypted)
//! notifications. 200 means "committed"; any other answer makes the PSP retry.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::flows::App;
use crate::flows::notification::{self, Ack, Refused};
use crate::psp::InboundNotification;

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
        Ok(Err(Refused::UnknownEndpoint)) => {
            crate::telemetry::notification_outcome("rejected");
            (StatusCode::NOT_FOUND, "unknown notification endpoint").into_response()
        }
        Ok(Err(Refused::Unauthentic(_))) => (
            StatusCode::BAD_REQUEST,
            "notification could not be authenticated",
        )
            .into_response(),
        Ok(Err(Refused::Internal)) | Err(_) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "try again later").into_response()
        }
    }
}
