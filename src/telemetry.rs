//! Logs, request ids and metrics. Log lines and metric labels never carry secrets, tokens, card
//! or IBAN data: labels are route templates, operation names and outcomes only.

use std::future::Future;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::time::ChronoUtc;

/// Installs the global subscriber (once; later calls are ignored, which tests rely on). Times are
/// RFC 3339 in UTC with milliseconds (`2026-11-22T10:15:30.123Z`); colours only on a terminal; `json` writes one JSON object per line (the production profile's format).
pub fn init(level: &str, json: bool) {
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new(level));
    use std::io::IsTerminal;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_timer(ChronoUtc::new("%Y-%m-%dT%H:%M:%S%.3fZ".into()))
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

tokio::task_local! {
    static REQUEST_ID: String;
}

/// Runs `fut` with `id` as the current request id (see [`request_id`]).
pub async fn with_request_id<F: Future>(id: Option<String>, fut: F) -> F::Output {
    match id {
        Some(id) => REQUEST_ID.scope(id, fut).await,
        None => fut.await,
    }
}

/// The id of the HTTP request being served (`x-request-id`), if any; sent on PSP calls.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Upper bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The process-wide Prometheus recorder, installed on first use. Every `Application` in the
/// process (tests start many) shares it.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        describe();
        handle
    })
}

fn describe() {
    use metrics::{describe_counter, describe_gauge, describe_histogram};
    describe_counter!(
        "http_requests_total",
        "HTTP requests answered, by method, route template and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        metrics::Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_counter!(
        "psp_calls_total",
        "Calls to the PSP by operation and outcome"
    );
    describe_histogram!(
        "psp_call_duration_seconds",
        metrics::Unit::Seconds,
        "PSP call latency by operation"
    );
    describe_counter!(
        "psp_notifications_total",
        "PSP notifications by result (applied, duplicate, rejected, parked, contradiction)"
    );
    describe_counter!(
        "webhook_attempts_total",
        "Webhook POSTs to Billwerk by outcome (delivered, retry, dead)"
    );
    describe_gauge!("outbox_pending", "Webhooks waiting to be delivered");
    describe_gauge!(
        "outbox_oldest_pending_age_seconds",
        metrics::Unit::Seconds,
        "Age of the oldest webhook still waiting"
    );
    describe_gauge!(
        "outbox_dead",
        "Webhooks given up on (see `deliveries list`)"
    );
    describe_gauge!(
        "reconciler_backlog",
        "Transactions whose PSP outcome is still to be confirmed"
    );
    describe_counter!(
        "rate_limited_total",
        "Requests refused with 429 by the per-merchant rate limit"
    );
}

/// Counts one HTTP request. `route` is the matched route template (`/api/Payment/{id}`) or
/// `unmatched`, never the raw path (which carries ids).
pub fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!(
        "http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route.to_string()
    )
    .record(seconds);
}

/// Counts one PSP call. `operation` names the call (`payment`, `backoffice`, `checkout`,
/// `query`, ...); `outcome` is `2xx`/`4xx`/`5xx` by HTTP class, `timeout` or `connection`.
pub fn psp_call(psp: &'static str, operation: &'static str, outcome: &'static str, seconds: f64) {
    metrics::counter!(
        "psp_calls_total",
        "psp" => psp, "operation" => operation, "outcome" => outcome
    )
    .increment(1);
    metrics::histogram!("psp_call_duration_seconds", "psp" => psp, "operation" => operation)
        .record(seconds);
}

/// Counts one PSP notification by what became of it: `applied`, `duplicate`, `rejected`,
/// `parked` or `contradiction` (free text is accepted but should stay one of these).
pub fn notification_outcome(result: &str) {
    metrics::counter!("psp_notifications_total", "result" => result.to_string()).increment(1);
}

/// Counts one webhook attempt: `delivered`, `retry` or `dead`.
pub fn webhook_attempt(outcome: &'static str) {
    metrics::counter!("webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// Counts one request refused by the per-merchant rate limit.
pub fn rate_limited() {
    metrics::counter!("rate_limited_total").increment(1);
}

/// Operational gauges sampled from the database when `/metrics` is scraped.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Gauges {
    pub outbox_pending: i64,
    pub outbox_oldest_pending_age_secs: f64,
    pub outbox_dead: i64,
    pub reconciler_backlog: i64,
    /// Transactions without a final state and without a deadline: neither due for the
    /// reconciler nor an open checkout with an expiry. Always 0 (issue #16); anything else is
    /// a transaction nothing would ever resolve.
    pub reconciler_unscheduled: i64,
}

/// Publishes `g` as gauges.
pub fn set_gauges(g: Gauges) {
    // Counts of rows; f64 holds them exactly far beyond any realistic backlog.
    metrics::gauge!("outbox_pending").set(g.outbox_pending as f64);
    metrics::gauge!("outbox_oldest_pending_age_seconds").set(g.outbox_oldest_pending_age_secs);
    metrics::gauge!("outbox_dead").set(g.outbox_dead as f64);
    metrics::gauge!("reconciler_backlog").set(g.reconciler_backlog as f64);
    metrics::gauge!("reconciler_unscheduled").set(g.reconciler_unscheduled as f64);
}
