//! Request bodies are read in full before a request takes a concurrency slot, under three
//! limits: a `Content-Length` above `server.body_limit_bytes` is 413 at once (nothing read); a
//! body must arrive within `limits.body_read_timeout_secs`, and after its first
//! [`RATE_GRACE`] at an average of at least `limits.body_min_bytes_per_sec`, else 408. Both
//! answers close the connection (the rest of the body is never read). So a client that sends
//! slowly holds only its own connection, never a slot other requests wait for.

use std::time::Duration;

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use tokio::time::Instant;

use super::errors::HttpError;
use crate::domain::PaymentErrorCode;

/// Time a body may take before the minimum rate applies (connection set-up, a slow start).
pub const RATE_GRACE: Duration = Duration::from_secs(2);

/// The body limits (see the module doc).
#[derive(Clone, Copy, Debug)]
pub struct BodyLimits {
    /// Largest accepted body, in bytes (`server.body_limit_bytes`).
    pub max_bytes: usize,
    /// Whole-body deadline (`limits.body_read_timeout_secs`).
    pub deadline: Duration,
    /// Minimum average rate after [`RATE_GRACE`], bytes per second (at least 1).
    pub min_bytes_per_sec: u64,
}

impl BodyLimits {
    /// When the body is due if `received` bytes have arrived since `start`.
    fn due(&self, start: Instant, received: usize) -> Instant {
        let received = u64::try_from(received).unwrap_or(u64::MAX);
        let rate = self.min_bytes_per_sec.max(1);
        let allowed = RATE_GRACE + Duration::from_millis(received.saturating_mul(1000) / rate);
        start + allowed.min(self.deadline)
    }
}

/// An answer that leaves the rest of the body unread, so the connection is not reused.
pub fn closing(e: impl Into<HttpError>) -> Response {
    let mut res = e.into().into_response();
    res.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    res
}

fn too_large() -> Response {
    closing(HttpError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        PaymentErrorCode::InvalidData,
        "body: is too large (see server.body_limit_bytes)",
    ))
}

fn too_slow(l: &BodyLimits) -> Response {
    tracing::info!(
        deadline_secs = l.deadline.as_secs(),
        min_bytes_per_sec = l.min_bytes_per_sec,
        "request body arrived too slowly; refused with 408"
    );
    closing(HttpError::new(
        StatusCode::REQUEST_TIMEOUT,
        PaymentErrorCode::InvalidData,
        format!(
            "body: arrived too slowly; a body must arrive within {} s and, after its first {} s, \
             at {} bytes per second or more",
            l.deadline.as_secs(),
            RATE_GRACE.as_secs(),
            l.min_bytes_per_sec
        ),
    ))
}

/// The announced body length; `None` when absent or unreadable (hyper refuses an invalid one).
fn declared_length(req: &Request) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Middleware: reads the body under the limits, then passes the request on with it in memory.
pub async fn read_body(State(l): State<BodyLimits>, req: Request, next: Next) -> Response {
    let max = u64::try_from(l.max_bytes).unwrap_or(u64::MAX);
    if declared_length(&req).is_some_and(|n| n > max) {
        return too_large();
    }
    if req.body().is_end_stream() {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    match read(body, &l).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(res) => res,
    }
}

async fn read(body: Body, l: &BodyLimits) -> Result<Bytes, Response> {
    let start = Instant::now();
    let mut stream = body.into_data_stream();
    let mut chunks: Vec<Bytes> = Vec::new();
    let mut received = 0usize;
    loop {
        match tokio::time::timeout_at(l.due(start, received), stream.next()).await {
            Err(_) => return Err(too_slow(l)),
            Ok(None) => break,
            Ok(Some(Ok(chunk))) => {
                received = received.saturating_add(chunk.len());
                if received > l.max_bytes {
                    return Err(too_large());
                }
                chunks.push(chunk);
            }
            Ok(Some(Err(_))) => {
                return Err(closing(HttpError::new(
                    StatusCode::BAD_REQUEST,
                    PaymentErrorCode::InvalidData,
                    "body: could not be read",
                )));
            }
        }
    }
    Ok(match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.swap_remove(0),
        _ => Bytes::from(chunks.concat()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_due_time_grows_with_what_arrived_up_to_the_deadline() {
        let l = BodyLimits {
            max_bytes: 1 << 20,
            deadline: Duration::from_secs(30),
            min_bytes_per_sec: 1000,
        };
        let t = Instant::now();
        assert_eq!(l.due(t, 0), t + RATE_GRACE);
        assert_eq!(l.due(t, 5000), t + RATE_GRACE + Duration::from_secs(5));
        assert_eq!(l.due(t, 1 << 20), t + Duration::from_secs(30));
    }
}
