//! HTTP surface: the Billwerk API under `/api`, the hosted checkout pages, health probes.
//! Every error a caller can see is the contract's error object.

pub mod api;
pub mod checkout;
pub mod conn;
pub mod edge;
pub mod extract;
pub mod notifications;
pub mod path;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::TraceLayer;

use crate::contract::ApiError;
use crate::flows::App;

/// The application's routes (before path normalization; see `service`).
pub fn router(app: App, body_limit: usize) -> Router {
    let api = Router::new()
        .route("/api/Preauth", post(api::create_preauth))
        .route("/api/Preauth/Finalize", post(api::finalize_preauth))
        .route("/api/Preauth/{id}", get(api::get_preauth))
        .route("/api/Preauth/{id}/Cancel", post(api::cancel_preauth))
        .route("/api/Payment", post(api::create_payment))
        .route("/api/Payment/{id}", get(api::get_payment))
        .route("/api/Refund", post(api::create_refund))
        .route("/api/Refund/{id}", get(api::get_refund))
        .route("/api/IntegrationInfo", get(api::integration_info))
        .route(
            "/api/Settings",
            get(api::get_settings).put(api::put_settings),
        )
        .method_not_allowed_fallback(method_not_allowed);
    Router::new()
        .merge(api)
        .route("/checkout/{token}", get(checkout::page))
        .route(
            "/checkout/{token}/return",
            get(checkout::returned).post(checkout::returned),
        )
        .route("/checkout/{token}/abort", get(checkout::abort))
        .route(
            "/psp/{psp}/{merchant}/notifications",
            post(notifications::receive),
        )
        .route("/health/live", get(|| async { "ok" }))
        .route("/health/ready", get(ready))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::internal().into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .layer(axum::middleware::from_fn(edge::edge))
        .with_state(app)
}

async fn not_found() -> ApiError {
    edge::for_status(StatusCode::NOT_FOUND)
}

async fn method_not_allowed() -> ApiError {
    edge::for_status(StatusCode::METHOD_NOT_ALLOWED)
}

async fn ready(State(app): State<App>) -> Response {
    match tokio::time::timeout(Duration::from_secs(3), app.store.ping()).await {
        Ok(Ok(_)) => "ready".into_response(),
        _ => {
            tracing::warn!("readiness: the database does not answer");
            edge::for_status(StatusCode::SERVICE_UNAVAILABLE).into_response()
        }
    }
}
