//! Request limits: a per-merchant rate limit on `/api` (GCRA via `governor`, keyed by a hash of
//! the bearer token, so one merchant cannot starve the others), a per-request timeout answering
//! 503, and the global concurrency limit, which the probes bypass (a traffic flood must never
//! make an orchestrator restart the pod).
//!
//! Over the rate, a money-moving POST (Preauth, Payment, Refund, Finalize, Cancel) waits for
//! its turn up to `limits.money_wait_ms`: a billing run is slowed to the rate, not refused.
//! Only when the wait would be longer, and at once for everything else (reads, settings), the
//! answer is 429 `LimitExceeded` with `Retry-After` (whole seconds, at least 1).

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::errors::HttpError;
use crate::config::LimitsSection;
use crate::contract::ApiError;
use crate::domain::PaymentErrorCode;

/// Keys kept before idle ones are swept (each is a 32-byte hash and a timestamp).
const SWEEP_ABOVE: usize = 10_000;

/// The per-merchant limiter; cheap to clone.
#[derive(Clone, Debug)]
pub struct RateLimit {
    limiter: Arc<DefaultKeyedRateLimiter<[u8; 32]>>,
    per_second: u32,
    /// Longest wait of a money-moving POST for its turn.
    money_wait: Duration,
}

impl RateLimit {
    /// `rate_per_second` sustained, `burst` at once (both at least 1; `validate` checks).
    pub fn new(l: &LimitsSection) -> Self {
        let rate = NonZeroU32::new(l.rate_per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(l.burst).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(
                Quota::per_second(rate).allow_burst(burst),
            )),
            per_second: rate.get(),
            // The wait leaves at least half of the request's time to the request itself.
            money_wait: Duration::from_millis(
                l.money_wait_ms
                    .min(l.request_timeout_secs.saturating_mul(500)),
            ),
        }
    }

    /// `Ok` or how long until the next request from this key would be admitted.
    fn check(&self, key: &[u8; 32]) -> Result<(), Duration> {
        if self.limiter.len() > SWEEP_ABOVE {
            self.limiter.retain_recent();
        }
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(DefaultClock::default().now()))
    }
}

/// The bearer token, hashed; requests without one share a key (they are refused with 401
/// anyway, and cannot use up a merchant's allowance).
fn key(req: &Request) -> [u8; 32] {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .map(|(_, t)| t.trim())
        .unwrap_or_default();
    let hash = crate::crypto::hash_token(token);
    let mut k = [0u8; 32];
    let n = hash.len().min(32);
    k[..n].copy_from_slice(&hash[..n]);
    k
}

/// Whether a request moves money (or changes a transaction): it may wait for its turn.
fn moves_money(req: &Request) -> bool {
    let path = req.uri().path();
    req.method() == axum::http::Method::POST
        && ["/api/Preauth", "/api/Payment", "/api/Refund"]
            .iter()
            .any(|p| path.starts_with(p))
}

/// Admits a money-moving request once its turn comes, if that is within `limit.money_wait`;
/// `Err` with the remaining wait otherwise.
async fn wait_turn(limit: &RateLimit, key: &[u8; 32]) -> Result<(), Duration> {
    let deadline = tokio::time::Instant::now() + limit.money_wait;
    loop {
        let wait = match limit.check(key) {
            Ok(()) => return Ok(()),
            Err(wait) => wait,
        };
        let now = tokio::time::Instant::now();
        if now + wait > deadline {
            return Err(wait);
        }
        // Others may take the slot first (GCRA has no queue): check again after the wait.
        tokio::time::sleep(wait).await;
    }
}

/// Middleware: see the module doc. Paths outside `/api` pass.
pub async fn rate_limit(State(limit): State<RateLimit>, req: Request, next: Next) -> Response {
    if !req.uri().path().starts_with("/api/") {
        return next.run(req).await;
    }
    let key = key(&req);
    let money = moves_money(&req);
    let admitted = match limit.check(&key) {
        Ok(()) => Ok(()),
        Err(_) if money => {
            let waited = wait_turn(&limit, &key).await;
            if waited.is_ok() {
                crate::telemetry::rate_limit_waited();
            }
            waited
        }
        Err(wait) => Err(wait),
    };
    match admitted {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            crate::telemetry::rate_limited(money);
            too_many(&limit, wait)
        }
    }
}

fn too_many(limit: &RateLimit, wait: Duration) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut res = HttpError::new(
        StatusCode::TOO_MANY_REQUESTS,
        PaymentErrorCode::LimitExceeded,
        format!(
            "rate limit of {} requests per second for this merchant exceeded; \
             retry after {secs} s with the same transactionId",
            limit.per_second
        ),
    )
    .into_response();
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        res.headers_mut().insert(header::RETRY_AFTER, v);
    }
    res
}

/// Middleware: a request not answered within `limits.request_timeout_secs` gets 503 with the
/// error object. State-changing flows run detached (see `http::api`), so a payment call that is
/// already under way still completes and is recorded; a retry of the same transactionId finds it.
pub async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(res) => res,
        Err(_) => {
            tracing::warn!(timeout_secs = limit.as_secs(), "request timed out");
            HttpError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                PaymentErrorCode::InternalError,
                format!(
                    "no answer within {} s; the request can be retried with the same transactionId",
                    limit.as_secs()
                ),
            )
            .into_response()
        }
    }
}

/// The liveness and readiness probes: outside the concurrency limit.
pub const PROBES: &[&str] = &["/health/live", "/health/ready"];

/// Middleware: at most `limits.max_concurrent_requests` requests past this point at once;
/// further ones wait (first come, first served). The probes pass without a slot.
pub async fn concurrency(
    State(slots): State<Arc<tokio::sync::Semaphore>>,
    req: Request,
    next: Next,
) -> Response {
    if PROBES.contains(&req.uri().path()) {
        return next.run(req).await;
    }
    match slots.acquire().await {
        Ok(_slot) => next.run(req).await,
        // Never closed; answered like any other internal failure if it were.
        Err(_) => ApiError::internal().into_response(),
    }
}
