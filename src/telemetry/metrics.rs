//! The Prometheus metrics: one process-wide recorder, every family described and its series
//! registered at zero when the recorder is installed (an alert on a series that does not exist
//! yet never fires), and the functions that count. Labels are route templates, operation names,
//! statuses and error codes only: never ids, tokens, card or account data.

use std::sync::OnceLock;

use ::metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

use crate::domain::{PaymentErrorCode, TxKind, TxStatus};

/// Upper bounds of the latency histograms, in seconds.
const LATENCY_BUCKETS: &[f64] = &[
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The version and commit this binary was built from (`build.rs`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// `git rev-parse --short=12 HEAD` at build time, `PSPI_GIT_COMMIT` if set, else `unknown`.
pub const GIT_COMMIT: &str = env!("PSPI_GIT_COMMIT");

/// The process-wide Prometheus recorder, installed on first use with every family at zero.
/// Every `Application` in the process (tests start many) shares it.
pub fn metrics_handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let builder = PrometheusBuilder::new()
            .set_buckets(LATENCY_BUCKETS)
            .unwrap_or_else(|_| PrometheusBuilder::new());
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if ::metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics stays empty");
        }
        describe();
        at_zero();
        handle
    })
}

fn describe() {
    describe_counter!(
        "http_requests_total",
        "HTTP requests answered on the public port, by method, route template and status"
    );
    describe_histogram!(
        "http_request_duration_seconds",
        ::metrics::Unit::Seconds,
        "HTTP request latency by method and route template"
    );
    describe_counter!(
        "psp_calls_total",
        "Calls to the PSP by operation and outcome (2xx, 4xx, 5xx, timeout, connection)"
    );
    describe_histogram!(
        "psp_call_duration_seconds",
        ::metrics::Unit::Seconds,
        "PSP call latency by operation"
    );
    describe_counter!(
        "psp_operations_total",
        "Adapter operations (preauth, capture, lookup, receive, ...) by PSP and outcome \
         (succeeded, pending, declined, unknown, ok, error, timeout, unsupported)"
    );
    describe_histogram!(
        "psp_operation_duration_seconds",
        ::metrics::Unit::Seconds,
        "Adapter operation latency (all its PSP calls together) by PSP and operation"
    );
    describe_counter!(
        "reconciler_lookup_unsupported_total",
        "Transactions the reconciler could not look up because the PSP cannot search by our \
         reference; they stay Pending for an operator"
    );
    describe_counter!(
        "transactions_total",
        "Billwerk transactions (kind preauth, payment, refund) reaching a status, with the \
         errorCode of a failure (none otherwise)"
    );
    describe_counter!(
        "checkouts_total",
        "Hosted checkouts by result: completed, failed, aborted (by the shopper), expired"
    );
    describe_counter!(
        "psp_notifications_total",
        "PSP notifications by result (applied, recorded, duplicate, rejected, parked, ...)"
    );
    describe_counter!(
        "webhook_attempts_total",
        "Webhook POSTs to Billwerk by outcome (delivered, retry, dead)"
    );
    describe_gauge!("outbox_pending", "Webhooks waiting to be delivered");
    describe_gauge!(
        "outbox_oldest_pending_age_seconds",
        ::metrics::Unit::Seconds,
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
    describe_gauge!(
        "reconciler_unscheduled",
        "Transactions without a final state and without a deadline (always 0)"
    );
    describe_counter!(
        "rate_limited_total",
        "Requests refused with 429 by the per-merchant rate limit, by class (money, other)"
    );
    describe_counter!(
        "rate_limit_waits_total",
        "Money-moving requests that waited for the per-merchant rate limit and were then served"
    );
    describe_gauge!(
        "db_pool_connections",
        "Database connections by state (in_use, idle), sampled at each scrape"
    );
    describe_gauge!(
        "db_pool_waiting",
        "Units of work waiting for a database connection, sampled at each scrape"
    );
    describe_gauge!(
        "db_pool_max_connections",
        "database.max_connections of this process"
    );
    describe_gauge!(
        "build_info",
        "Always 1; the labels say which version and git commit this process runs"
    );
}

/// The webhook outcomes, notification results and checkout results that exist.
const WEBHOOK_OUTCOMES: &[&str] = &["delivered", "retry", "dead"];
const NOTIFICATION_RESULTS: &[&str] = &[
    "applied",
    "recorded",
    "duplicate",
    "rejected",
    "malformed",
    "parked",
    "contradiction",
    "unverified",
    "misconfigured",
];
const CHECKOUT_RESULTS: &[&str] = &["completed", "failed", "aborted", "expired"];
const PSP_OUTCOMES: &[&str] = &["2xx", "4xx", "5xx", "timeout", "connection"];

/// Registers every series with a known, bounded label set at zero.
fn at_zero() {
    for outcome in WEBHOOK_OUTCOMES {
        counter!("webhook_attempts_total", "outcome" => *outcome).increment(0);
    }
    for result in NOTIFICATION_RESULTS {
        counter!("psp_notifications_total", "result" => *result).increment(0);
    }
    for result in CHECKOUT_RESULTS {
        counter!("checkouts_total", "result" => *result).increment(0);
    }
    for kind in [TxKind::Preauth, TxKind::Payment, TxKind::Refund] {
        for status in [TxStatus::Pending, TxStatus::Succeeded] {
            transaction_counter(kind, status, None).increment(0);
        }
        for code in PaymentErrorCode::ALL {
            transaction_counter(kind, TxStatus::Failed, Some(*code)).increment(0);
        }
    }
    for class in ["money", "other"] {
        counter!("rate_limited_total", "class" => class).increment(0);
    }
    counter!("rate_limit_waits_total").increment(0);
    set_gauges(Gauges::default());
    set_pool(crate::store::PoolStats::default());
    gauge!("build_info", "version" => VERSION, "git_commit" => GIT_COMMIT).set(1.0);
}

/// Registers a PSP adapter's call series at zero (its operations by every outcome).
pub fn psp_families(psp: &'static str, operations: &[&'static str]) {
    metrics_handle();
    for op in operations {
        for outcome in PSP_OUTCOMES {
            counter!("psp_calls_total", "psp" => psp, "operation" => *op, "outcome" => *outcome)
                .increment(0);
        }
        // Registering the handle is what makes the series (with empty buckets) appear.
        let _ = histogram!("psp_call_duration_seconds", "psp" => psp, "operation" => *op);
    }
}

/// Counts one HTTP request. `route` is the matched route template (`/api/Payment/{id}`) or
/// `unmatched`, never the raw path (which carries ids).
pub fn http_request(method: &str, route: &str, status: u16, seconds: f64) {
    let labels = [
        ("method", method.to_string()),
        ("route", route.to_string()),
        ("status", status.to_string()),
    ];
    counter!("http_requests_total", &labels).increment(1);
    histogram!(
        "http_request_duration_seconds",
        "method" => method.to_string(),
        "route" => route.to_string()
    )
    .record(seconds);
}

/// Counts one PSP call. `operation` names the call (`payment`, `backoffice`, `checkout`,
/// `query`, ...); `outcome` is `2xx`/`4xx`/`5xx` by HTTP class, `timeout` or `connection`.
pub fn psp_call(psp: &'static str, operation: &'static str, outcome: &'static str, seconds: f64) {
    counter!(
        "psp_calls_total",
        "psp" => psp, "operation" => operation, "outcome" => outcome
    )
    .increment(1);
    histogram!("psp_call_duration_seconds", "psp" => psp, "operation" => operation).record(seconds);
}

/// Counts one adapter operation (the flows' wrapper around every bound-client call).
pub fn psp_operation(
    psp: &'static str,
    operation: &'static str,
    outcome: &'static str,
    seconds: f64,
) {
    counter!(
        "psp_operations_total",
        "psp" => psp, "operation" => operation, "outcome" => outcome
    )
    .increment(1);
    histogram!("psp_operation_duration_seconds", "psp" => psp, "operation" => operation)
        .record(seconds);
}

/// Counts a reconciler lookup the PSP could not make (`Lookup::Unsupported`).
pub fn lookup_unsupported(psp: &'static str) {
    counter!("reconciler_lookup_unsupported_total", "psp" => psp).increment(1);
}

fn transaction_counter(
    kind: TxKind,
    status: TxStatus,
    code: Option<PaymentErrorCode>,
) -> ::metrics::Counter {
    counter!(
        "transactions_total",
        "kind" => kind.as_str(),
        "status" => status.name(),
        "error_code" => code.map_or("none", PaymentErrorCode::name)
    )
}

/// Counts a transaction that moved to `status` (`code`: its error's errorCode, if any); a
/// hosted checkout's preauth also counts in `checkouts_total` once its result is final.
pub fn transaction_moved(
    kind: TxKind,
    status: TxStatus,
    code: Option<PaymentErrorCode>,
    hosted_checkout: bool,
) {
    let code = code.filter(|_| status != TxStatus::Succeeded && status != TxStatus::Pending);
    transaction_counter(kind, status, code).increment(1);
    if hosted_checkout && kind == TxKind::Preauth {
        let result = match status {
            TxStatus::Succeeded => "completed",
            TxStatus::Failed => "failed",
            TxStatus::Cancelled => "aborted",
            TxStatus::Expired => "expired",
            TxStatus::Initiated | TxStatus::Pending => return,
        };
        counter!("checkouts_total", "result" => result).increment(1);
    }
}

/// Counts one PSP notification by what became of it: `applied`, `duplicate`, `rejected`,
/// `parked`, `contradiction` or `misconfigured` (settings that cannot read it; free text is
/// accepted but should stay one of these).
pub fn notification_outcome(result: &str) {
    counter!("psp_notifications_total", "result" => result.to_string()).increment(1);
}

/// Counts one webhook attempt: `delivered`, `retry` or `dead`.
pub fn webhook_attempt(outcome: &'static str) {
    counter!("webhook_attempts_total", "outcome" => outcome).increment(1);
}

/// Counts one request refused by the per-merchant rate limit; `money`: a money-moving POST
/// (refused only after its bounded wait).
pub fn rate_limited(money: bool) {
    let class = if money { "money" } else { "other" };
    counter!("rate_limited_total", "class" => class).increment(1);
}

/// Counts a money-moving request that waited for the rate limit and was then let through.
pub fn rate_limit_waited() {
    counter!("rate_limit_waits_total").increment(1);
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
    gauge!("outbox_pending").set(g.outbox_pending as f64);
    gauge!("outbox_oldest_pending_age_seconds").set(g.outbox_oldest_pending_age_secs);
    gauge!("outbox_dead").set(g.outbox_dead as f64);
    gauge!("reconciler_backlog").set(g.reconciler_backlog as f64);
    gauge!("reconciler_unscheduled").set(g.reconciler_unscheduled as f64);
}

/// Publishes the connection pool's state.
pub fn set_pool(p: crate::store::PoolStats) {
    gauge!("db_pool_connections", "state" => "in_use").set(f64::from(p.in_use));
    gauge!("db_pool_connections", "state" => "idle").set(f64::from(p.idle));
    gauge!("db_pool_waiting").set(p.waiting as f64);
    gauge!("db_pool_max_connections").set(f64::from(p.max));
}
