//! `POST /psp/{psp}/{merchant}/notifications`: where a PSP delivers its (encrypted)
//! notifications. 200 means "committed"; any other answer makes the PSP retry.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::flows::App;
use crate::flows::notification::{self, Ack, Refused};
use crate::psp::InboundNotification;

pub async fn receive(
    State(app): State<App>,
    Path((psp, merchant)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (iv, tag) = (
        header("x-initialization-vector"),
        header("x-authentication-tag"),
    );
    // Detached: once decrypted, the commit must not be cut short by the PSP hanging up.
    let task = tokio::spawn(async move {
        let inbound = InboundNotification {
            body: &body,
            iv: iv.as_deref(),
            tag: tag.as_deref(),
        };
        notification::receive(&app, &psp, &merchant, inbound).await
    });
    match task.await {
        Ok(Ok(Ack::Stored(_) | Ack::Duplicate | Ack::Test)) => {
            (StatusCode::OK, "OK").into_response()
        }
        Ok(Err(Refused::UnknownEndpoint)) => {
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
