//! Per request: an id (`x-request-id`, taken from the caller when sane, else generated), a
//! tracing span carrying it (and, once known, the merchant, Billwerk's `transactionId` and the
//! PSP's result code) so every log line of the request has them, one `info` line when the
//! answer goes out, and the HTTP metrics.
//!
//! The answer line says what happened: `outcome` is `ok`, `declined` (the transaction's own
//! outcome is an error: the PSP or the shopper said no), `refused` (the request itself was not
//! accepted: validation, token, rate limit, unknown id) or `failed` (5xx); with the
//! transaction's `tx_status` and the answer's `error_code` and `psp_error_code`. So a 422
//! decline and a 422 validation error read differently.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

/// What a handler's answer says about the transaction, read by the answer line. Set by
/// `ApiError` (errors) and by the `/api` handlers (success bodies).
#[derive(Debug, Clone, Default)]
pub struct Answered {
    /// `declined` for a transaction whose state is an error; otherwise derived from the status.
    pub declined: bool,
    /// The transaction's status as written to Billwerk.
    pub tx_status: Option<&'static str>,
    /// The error object's `errorCode`.
    pub error_code: Option<&'static str>,
    /// The error object's `pspErrorCode`.
    pub psp_error_code: Option<String>,
}

fn outcome(status: u16, a: &Answered) -> &'static str {
    match status {
        _ if a.declined => "declined",
        500.. => "failed",
        400.. => "refused",
        _ => "ok",
    }
}

/// The request id header, read and echoed back.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A caller's id is kept if it is 1–128 visible ASCII characters without spaces; anything else
/// is replaced, so a log line cannot be forged or bloated through it.
fn usable(v: &HeaderValue) -> Option<String> {
    let s = v.to_str().ok()?;
    let ok = !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_graphic());
    ok.then(|| s.to_string())
}

/// The middleware (outermost layer of the public router): an `info` line per request and the
/// HTTP metrics.
pub async fn observe(req: Request, next: Next) -> Response {
    observed(req, next, true).await
}

/// The same for the operator listener: its line is at `debug` (a scrape every few seconds is
/// no news) and it stays out of the HTTP metrics, which describe the public port.
pub async fn observe_ops(req: Request, next: Next) -> Response {
    observed(req, next, false).await
}

async fn observed(req: Request, next: Next, public: bool) -> Response {
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
        transaction_id = tracing::field::Empty,
        psp_result_code = tracing::field::Empty,
    );
    let ctx = crate::telemetry::RequestContext {
        id: id.clone(),
        span: span.clone(),
    };
    let mut res = crate::telemetry::with_request(Some(ctx), next.run(req))
        .instrument(span.clone())
        .await;
    let status = res.status().as_u16();
    let elapsed = started.elapsed();
    let answered = res
        .extensions()
        .get::<Answered>()
        .cloned()
        .unwrap_or_default();
    let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
    span.in_scope(|| {
        if !public {
            tracing::debug!(status, latency_ms, "operator request answered");
            return;
        }
        tracing::info!(
            status,
            latency_ms,
            outcome = outcome(status, &answered),
            tx_status = answered.tx_status,
            error_code = answered.error_code,
            psp_error_code = answered.psp_error_code.as_deref(),
            "request answered"
        );
    });
    if public {
        crate::telemetry::http_request(method.as_str(), &route, status, elapsed.as_secs_f64());
    }
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID.clone(), v);
    }
    res
}
