//! HTTP surface. The public port: the Billwerk API under `/api`, the hosted checkout pages, the
//! PSP notification endpoint and the health probes. The operator listener (`ops`): `/metrics`,
//! `/openapi.json`, `/docs` and the readiness report. Every error a caller can see is the
//! contract's error object.
//!
//! Layers, outermost first: request id + access log + metrics (`observe`), error objects
//! (`edge`), per-request timeout, the notification endpoint check (before its body is read),
//! the body limits (`body`: read in full before a slot is taken), the global concurrency limit
//! (the probes bypass it), panic catcher; `/api` additionally has the per-merchant rate limit.
//! Connection limits (head, idle, count) are kept by the server loop (`server`).

pub mod api;
pub mod body;
pub mod checkout;
pub mod checkout_page;
pub mod conn;
pub mod edge;
pub mod errors;
pub mod extract;
pub mod health;
pub mod limits;
pub mod notifications;
pub mod observe;
pub mod openapi;
pub mod ops;
pub mod path;
pub mod server;
pub mod statuses;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::LimitsSection;
use crate::contract::ApiError;
use crate::flows::App;

/// What the HTTP layer needs besides the application state.
#[derive(Clone, Debug)]
pub struct HttpOptions {
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    pub limits: LimitsSection,
    pub health: health::Health,
}

/// Routes of the public port that `/openapi.json` does not describe: the shopper's browser
/// pages. (The operator listener's routes are `ops::ROUTES`.)
pub const UNDOCUMENTED_ROUTES: &[&str] = &[
    "/checkout/{token}",
    "/checkout/{token}/return",
    "/checkout/{token}/abort",
];

/// The documented routes and their OpenAPI description, from the same registrations (so the
/// two cannot drift apart).
pub fn documented() -> (Router<App>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(api::create_preauth))
        .routes(routes!(api::finalize_preauth))
        .routes(routes!(api::get_preauth))
        .routes(routes!(api::cancel_preauth))
        .routes(routes!(api::create_payment))
        .routes(routes!(api::get_payment))
        .routes(routes!(api::create_refund))
        .routes(routes!(api::get_refund))
        .routes(routes!(api::integration_info))
        .routes(routes!(api::get_settings, api::put_settings))
        .routes(routes!(notifications::receive))
        .routes(routes!(notifications::receive_tokenless))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .split_for_parts();
    let mut doc = doc;
    openapi::add_examples(&mut doc);
    statuses::state_rules(&mut doc);
    (router, doc)
}

/// A contract read (`GET /api/…`: the bearer token's merchant, then the transaction and its
/// parts) runs its statements on one pooled connection (`store::session`). Writes pin theirs
/// inside the flow (`api::detached`), after the body has been read.
async fn one_connection_per_read(
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if req.method() == axum::http::Method::GET && req.uri().path().starts_with("/api/") {
        crate::store::session::pinned(next.run(req)).await
    } else {
        next.run(req).await
    }
}

/// The public port's routes (before path normalization; see `startup::serve`).
pub fn router(app: App, opts: &HttpOptions) -> Router {
    let (documented, _) = documented();
    let timeout = Duration::from_secs(opts.limits.request_timeout_secs);
    let concurrency = Arc::new(tokio::sync::Semaphore::new(
        opts.limits.max_concurrent_requests,
    ));
    let body_limits = body::BodyLimits {
        max_bytes: opts.body_limit,
        deadline: Duration::from_secs(opts.limits.body_read_timeout_secs),
        min_bytes_per_sec: opts.limits.body_min_bytes_per_sec,
    };
    let notification_check = app.clone();
    documented
        .layer(axum::middleware::from_fn(one_connection_per_read))
        // The per-merchant rate limit passes everything outside `/api` through.
        .layer(axum::middleware::from_fn_with_state(
            limits::RateLimit::new(&opts.limits),
            limits::rate_limit,
        ))
        .route("/checkout/{token}", get(checkout::page))
        .route(
            "/checkout/{token}/return",
            get(checkout::returned).post(checkout::returned),
        )
        .route("/checkout/{token}/abort", get(checkout::abort))
        .with_state(app)
        .method_not_allowed_fallback(method_not_allowed)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(opts.body_limit))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            concurrency,
            limits::concurrency,
        ))
        .layer(axum::middleware::from_fn_with_state(
            body_limits,
            body::read_body,
        ))
        .layer(axum::middleware::from_fn_with_state(
            notification_check,
            notifications::known_endpoint,
        ))
        .layer(axum::middleware::from_fn_with_state(
            timeout,
            limits::request_timeout,
        ))
        .layer(axum::middleware::from_fn(edge::edge))
        .layer(axum::middleware::from_fn(observe::observe))
        .layer(axum::Extension(opts.health.clone()))
}

async fn not_found() -> errors::HttpError {
    edge::for_status(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> errors::HttpError {
    edge::for_status(StatusCode::METHOD_NOT_ALLOWED)
}
