//! The outermost layer of the service: a correlation id per request (in the log span, and in
//! every 5xx body), the URI length limit, and the guarantee that every 4xx/5xx carries the
//! contract's error object — also the ones produced by axum itself (405, a path that is not
//! UTF-8, …) or by handlers that answer plain text.

use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::errors::{CORRELATION_ID, ErrorBody, HttpError};
use crate::domain::PaymentErrorCode;

/// Longest accepted request target (path and query), in bytes.
pub const MAX_URI: usize = 8192;

/// The error object for a status, when nothing more specific is known.
pub fn for_status(status: StatusCode) -> HttpError {
    let message = match status.as_u16() {
        400 => "request: could not be read".to_string(),
        401 => "Authorization: missing or invalid".to_string(),
        404 => "path: no such endpoint".to_string(),
        405 => "method: not allowed on this endpoint".to_string(),
        408 => "request: took too long to arrive".to_string(),
        411 => "Content-Length: is required".to_string(),
        413 => "body: is too large".to_string(),
        414 => {
            format!("path: the request URI is too long; at most {MAX_URI} characters are accepted")
        }
        415 => "Content-Type: must be application/json".to_string(),
        429 => "request: too many requests; retry later".to_string(),
        431 => "headers: the request headers are too large".to_string(),
        _ => format!(
            "request: refused ({})",
            status.canonical_reason().unwrap_or("error")
        ),
    };
    let code = match status.as_u16() {
        429 => PaymentErrorCode::LimitExceeded,
        s if s >= 500 => PaymentErrorCode::InternalError,
        _ => PaymentErrorCode::InvalidData,
    };
    HttpError::new(status, code, message)
}

/// The edge middleware (see the module doc).
pub async fn edge(req: Request, next: Next) -> Response {
    // The request id (set by `observe`, the layer outside this one, whose span puts it on every
    // log line of the request) doubles as the correlation id, so a 5xx body points at them.
    let id = crate::telemetry::request_id().unwrap_or_else(crate::domain::new_id);
    let too_long = req
        .uri()
        .path_and_query()
        .is_some_and(|pq| pq.as_str().len() > MAX_URI);
    CORRELATION_ID
        .scope(id, async move {
            if too_long {
                return for_status(StatusCode::URI_TOO_LONG).into_response();
            }
            ensure_error_object(next.run(req).await)
        })
        .await
}

/// Headers of the original answer that stay meaningful on the replacement.
const KEPT: &[header::HeaderName] = &[
    header::ALLOW,
    header::RETRY_AFTER,
    header::WWW_AUTHENTICATE,
    header::CACHE_CONTROL,
];

fn ensure_error_object(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error())
        || res.extensions().get::<ErrorBody>().is_some()
    {
        return res;
    }
    // Browser pages of the hosted checkout answer errors as HTML on purpose.
    let is_html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if is_html {
        return res;
    }
    let mut kept = HeaderMap::new();
    for name in KEPT {
        if let Some(v) = res.headers().get(name) {
            kept.insert(name.clone(), v.clone());
        }
    }
    let mut replacement = for_status(status).into_response();
    replacement.headers_mut().extend(kept);
    replacement
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_has_a_named_message_and_code() {
        for s in [
            400, 401, 404, 405, 408, 411, 413, 414, 415, 418, 429, 431, 500, 503,
        ] {
            let status = StatusCode::from_u16(s).expect("status");
            let e = for_status(status);
            assert_eq!(e.status, status);
            assert!(
                e.body.error_message.contains(": "),
                "{s}: {}",
                e.body.error_message
            );
        }
        assert_eq!(
            for_status(StatusCode::TOO_MANY_REQUESTS).body.error_code,
            PaymentErrorCode::LimitExceeded
        );
        assert_eq!(
            for_status(StatusCode::SERVICE_UNAVAILABLE).body.error_code,
            PaymentErrorCode::InternalError
        );
    }
}
