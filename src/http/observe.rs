//! Per request: an id (`x-request-id`, taken from the caller when sane, else generated), a
//! tracing span carrying it (and the merchant id once authenticated) so every log line of the
//! request has it, one `info` line when the answer goes out, and the HTTP metrics.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// The request id header, read and echoed back.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's id is kept if it is 1–128 visible ASCII characters without spaces; anything else
/// is replaced, so a log line cannot be forged or bloated through it.
fn usable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_string())
}

/// The middleware (outermost layer of the router).
pub async fn observe(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(usable)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().clone();
    // The template, never the raw path: raw paths carry transaction ids and checkout tokens.
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |m| m.as_str().to_string());
    // Error level: the span stays enabled under any log filter, so every line logged for the
    // request (warnings and errors included) carries its id.
    let span = tracing::error_span!(
        "request",
        request_id = %id,
        method = %method,
        route = %route,
        merchant_id = tracing::field::Empty,
    );
    let mut res = crate::telemetry::with_request_id(Some(id.clone()), next.run(req))
        .instrument(span.clone())
        .await;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    span.in_scope(|| {
        tracing::info!(
            status,
            latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
            "request answered"
        );
    });
    crate::telemetry::http_request(method.as_str(), &route, status, elapsed.as_secs_f64());
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    res
}
