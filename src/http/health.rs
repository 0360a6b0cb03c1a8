//! `/health/live` and `/health/ready` (on the public port for load balancers, and on the
//! operator listener).
//!
//! Ready means: the database answers, its migrations are the ones this build expects, and the
//! background workers this process was asked to run are still running. Each check is made on
//! every probe, so readiness comes back by itself once the cause is gone.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use crate::store::Store;

/// How long one readiness check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// Counts running background workers; a worker holds a [`WorkerGuard`] for its whole life
/// (dropped on return and on panic).
#[derive(Clone, Debug, Default)]
pub struct Liveness {
    running: Arc<AtomicUsize>,
}

/// Held by a running worker task.
#[derive(Debug)]
pub struct WorkerGuard(Arc<AtomicUsize>);

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Liveness {
    /// Registers one running worker.
    pub fn guard(&self) -> WorkerGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        WorkerGuard(self.running.clone())
    }

    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }
}

/// What the probes look at.
#[derive(Clone, Debug)]
pub struct Health {
    pub store: Arc<dyn Store>,
    pub workers: Liveness,
    /// Workers this process started (0 for `serve --no-workers`).
    pub expected_workers: usize,
}

/// The readiness answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct Readiness {
    /// `ready` or `not ready`.
    pub status: &'static str,
    /// `ok`, or why the database is not usable.
    pub database: String,
    /// `current`, or how many migrations are missing.
    pub migrations: String,
    /// Applied migrations this build does not know, as `version (description)`: a newer
    /// release migrated the database (expand/contract; still ready). Empty normally.
    pub newer_migrations: Vec<String>,
    /// `running n/n`, or how many stopped.
    pub workers: String,
}

/// Liveness: the process serves HTTP.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "The process is up", body = String, content_type = "text/plain")))]
pub async fn live() -> &'static str {
    "ok"
}

/// Readiness: database reachable, migrations current, workers running.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready to take traffic", body = Readiness),
        (status = 503, description = "Not ready; the body says which check failed", body = Readiness)
    ))]
pub async fn ready(Extension(h): Extension<Health>) -> Response {
    let r = check(&h).await;
    if r.status == "ready" {
        return (StatusCode::OK, axum::Json(r)).into_response();
    }
    // Not ready: the contract's error object (as every error of the service), with the report's
    // fields beside it so an operator sees which check failed.
    let err = crate::http::edge::for_status(StatusCode::SERVICE_UNAVAILABLE);
    let mut body = serde_json::to_value(&err.body).unwrap_or_default();
    if let (Some(o), Ok(serde_json::Value::Object(report))) =
        (body.as_object_mut(), serde_json::to_value(&r))
    {
        for (k, v) in report {
            o.entry(k).or_insert(v);
        }
    }
    let mut res = (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
    res.extensions_mut().insert(super::errors::ErrorBody);
    res
}

/// Runs the readiness checks.
pub async fn check(h: &Health) -> Readiness {
    let database = match tokio::time::timeout(CHECK_TIMEOUT, h.store.ping()).await {
        Ok(Ok(())) => "ok".to_string(),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            "unreachable".to_string()
        }
        Err(_) => "no answer within 3 s".to_string(),
    };
    let (migrations, newer_migrations) = if database == "ok" {
        match tokio::time::timeout(CHECK_TIMEOUT, h.store.schema_status()).await {
            Ok(Ok(s)) => (
                s.summary(),
                s.newer.iter().map(ToString::to_string).collect(),
            ),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "readiness: migration check failed");
                ("unknown".to_string(), Vec::new())
            }
            Err(_) => ("unknown".to_string(), Vec::new()),
        }
    } else {
        ("unknown".to_string(), Vec::new())
    };
    let running = h.workers.running();
    let workers = format!("running {running}/{}", h.expected_workers);
    let ok = database == "ok" && migrations == "current" && running >= h.expected_workers;
    Readiness {
        status: if ok { "ready" } else { "not ready" },
        database,
        migrations,
        newer_migrations,
        workers,
    }
}
