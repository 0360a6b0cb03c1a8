//! The operator listener (`[ops] listen`, loopback by default): what an operator needs and
//! Billwerk and the PSP must not reach. The public port keeps only `/health/live` and
//! `/health/ready` for load balancers.
//!
//! Routes: `/metrics` (Prometheus), `/health/ready` (the readiness report), `/health/live`,
//! `/openapi.json` and `/docs` (the public API's description and its UI).
//!
//! Extension point: a new operator page (e.g. the console) is a function returning a
//! `Router<OpsState>`, merged in [`sections`]; it gets the application (`OpsState::app`) and the
//! readiness checks (`OpsState::health`), and the layers of [`router`] (request log, metrics,
//! error objects) apply to it without further wiring. List its paths in [`ROUTES`].

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::health::{self, Health};
use crate::flows::App;

/// What every operator route can use.
#[derive(Clone)]
pub struct OpsState {
    pub app: App,
    pub health: Health,
    /// The public API's OpenAPI description (`/openapi.json`).
    pub openapi: Arc<utoipa::openapi::OpenApi>,
    /// The operator console, when `[console] enabled` (its routes answer 404 otherwise).
    pub console: Option<Arc<crate::console::Console>>,
}

/// The paths the operator listener serves (the docs UI's files are under `/docs/`).
pub const ROUTES: &[&str] = &[
    "/metrics",
    "/health/ready",
    "/health/live",
    "/openapi.json",
    "/docs",
];

/// The operator listener's router.
pub fn router(state: OpsState) -> Router {
    let health = state.health.clone();
    sections()
        .into_iter()
        .fold(Router::new(), |r, section| r.merge(section()))
        .with_state(state)
        .merge(super::openapi::docs_ui())
        .method_not_allowed_fallback(|| async {
            super::edge::for_status(StatusCode::METHOD_NOT_ALLOWED)
        })
        .fallback(|| async { super::edge::for_status(StatusCode::NOT_FOUND) })
        .layer(axum::middleware::from_fn(super::edge::edge))
        .layer(axum::middleware::from_fn(super::observe::observe_ops))
        .layer(axum::Extension(health))
}

type Section = fn() -> Router<OpsState>;

/// The operator pages, each a router of its own. Add new ones here.
fn sections() -> Vec<Section> {
    vec![observability, api_description, crate::console::section]
}

/// Metrics and probes.
fn observability() -> Router<OpsState> {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/health/ready", get(health::ready))
        .route("/health/live", get(health::live))
}

/// The public API's description (the docs UI is merged in `router`: it brings its own files).
fn api_description() -> Router<OpsState> {
    Router::new().route(
        "/openapi.json",
        get(|State(s): State<OpsState>| async move { axum::Json(s.openapi.as_ref().clone()) }),
    )
}

/// Prometheus metrics (text format 0.0.4). The outbox and reconciler gauges are read from the
/// database and the pool gauges sampled at each scrape.
async fn metrics(State(s): State<OpsState>) -> Response {
    let handle = crate::telemetry::metrics_handle();
    let h = &s.health;
    let now = crate::domain::Clock::now(&crate::domain::SystemClock);
    crate::telemetry::set_pool(h.store.pool_stats());
    match tokio::time::timeout(health::CHECK_TIMEOUT, h.store.gauges(now)).await {
        Ok(Ok(g)) => crate::telemetry::set_gauges(g),
        Ok(Err(e)) => tracing::warn!(error = %e, "metrics: gauges not read"),
        Err(_) => tracing::warn!("metrics: gauges not read within 3 s"),
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        handle.render(),
    )
        .into_response()
}
