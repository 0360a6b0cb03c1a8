//! Logs, request context and metrics (`metrics`). Log lines and metric labels never carry
//! secrets, tokens, card or IBAN data.
//!
//! Every HTTP request runs in a `request` span (see `http::observe`) whose fields the code
//! fills in as it learns them: the merchant, Billwerk's `transactionId`, the PSP's result code.
//! The span is kept with the request id in a task-local, so a flow running on its own task
//! (`http::api::detached`) or inside its own `#[instrument]` span still fills the request's line.

mod metrics;

use std::future::Future;

use tracing::Span;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::time::ChronoUtc;

pub use self::metrics::*;

/// Installs the global subscriber (once; later calls are ignored, which tests rely on). Times are
/// RFC 3339 in UTC with milliseconds (`2026-11-22T10:15:30.123Z`); colours only on a terminal;
/// `json` writes one JSON object per line (the production profile's format).
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

/// The request being served: its id and its span.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub id: String,
    pub span: Span,
}

tokio::task_local! {
    static REQUEST: RequestContext;
}

/// Runs `fut` as part of the request `ctx` (see [`request_id`], [`note_transaction`]).
pub async fn with_request<F: Future>(ctx: Option<RequestContext>, fut: F) -> F::Output {
    match ctx {
        Some(ctx) => REQUEST.scope(ctx, fut).await,
        None => fut.await,
    }
}

/// Runs `fut` with `id` as the current request id and no request span.
pub async fn with_request_id<F: Future>(id: Option<String>, fut: F) -> F::Output {
    let ctx = id.map(|id| RequestContext {
        id,
        span: Span::none(),
    });
    with_request(ctx, fut).await
}

/// The request being served, if any.
pub fn current_request() -> Option<RequestContext> {
    REQUEST.try_with(Clone::clone).ok()
}

/// The id of the HTTP request being served (`x-request-id`), if any; sent on PSP calls.
pub fn request_id() -> Option<String> {
    REQUEST.try_with(|r| r.id.clone()).ok()
}

fn note(field: &str, value: &str) {
    let _ = REQUEST.try_with(|r| {
        r.span.record(field, value);
    });
}

/// Names the authenticated merchant on the request's log line.
pub fn note_merchant(merchant_id: &str) {
    note("merchant_id", merchant_id);
}

/// Names Billwerk's `transactionId` on the request's log line. Only a well-formed id is
/// written: anything else is arbitrary input.
pub fn note_transaction(billwerk_id: &str) {
    if crate::domain::BillwerkTxId::parse(billwerk_id).is_some() {
        note("transaction_id", billwerk_id);
    }
}

/// Puts the PSP's result code of the request's (last) PSP call on its log line.
pub fn note_psp_result(code: &str) {
    note("psp_result_code", code);
}
