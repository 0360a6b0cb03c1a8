//! Wiring: builds the application from configuration, binds listeners (port 0 in tests) and
//! runs the HTTP server until the shutdown token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::Layer;

use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::domain::Clock;
use crate::flows::{App, KeyedLocks};
use crate::psp::Registry;
use crate::psp::oppwa::{Oppwa, OppwaConfig};
use crate::store::Store;

/// The PSP adapters this build offers, configured.
pub fn providers(cfg: &AppConfig) -> Registry {
    let o = &cfg.oppwa;
    Registry::default().with(Arc::new(Oppwa::new(OppwaConfig {
        test_base_url: o.test_base_url.trim_end_matches('/').to_string(),
        live_base_url: o.live_base_url.trim_end_matches('/').to_string(),
        timeout: Duration::from_secs(o.timeout_secs),
        connect_timeout: Duration::from_secs(o.connect_timeout_secs),
        brands: o.brands.clone(),
    })))
}

/// Builds the application state on an open store.
pub fn build_app(
    cfg: &AppConfig,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
) -> Result<App, StartupError> {
    let sealer = Sealer::from_hex(&cfg.security.master_key)
        .map_err(|e| StartupError::Other(format!("security.master_key: {e}")))?;
    Ok(App {
        store,
        providers: providers(cfg),
        sealer: Arc::new(sealer),
        clock,
        public_base_url: cfg.public_base_url(),
        locks: KeyedLocks::default(),
        recheck_after_secs: i64::try_from(cfg.reconciler.first_delay_secs).unwrap_or(60),
        targets: Arc::new(crate::outbox::policy::TargetPolicy::new(&cfg.webhooks)),
    })
}

/// Starts the outbox worker and the reconciler; they stop when `shutdown` is cancelled.
pub fn spawn_workers(
    cfg: &AppConfig,
    app: &App,
    shutdown: CancellationToken,
) -> Result<Vec<JoinHandle<()>>, StartupError> {
    let worker =
        crate::outbox::Worker::new(app.store.clone(), cfg.webhooks.clone(), app.clock.clone())
            .map_err(|e| StartupError::Other(format!("webhook client: {e}")))?;
    let policy = crate::flows::reconcile::Policy::from(&cfg.reconciler);
    let interval = Duration::from_secs(cfg.reconciler.poll_interval_secs.max(1));
    let recon = tokio::spawn(crate::flows::reconcile::run(
        app.clone(),
        policy,
        interval,
        shutdown.clone(),
    ));
    Ok(vec![tokio::spawn(worker.run(shutdown)), recon])
}

/// A running HTTP server.
pub struct Server {
    pub addr: SocketAddr,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains in-flight requests.
pub fn serve(
    app: App,
    listener: TcpListener,
    body_limit: usize,
    shutdown: CancellationToken,
) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let router = crate::http::router(app, body_limit);
    let service = tower::util::MapRequestLayer::new(crate::http::path::normalize).layer(router);
    let task = tokio::spawn(async move {
        axum::serve(
            crate::http::conn::ErrorBodies(listener),
            <_ as axum::ServiceExt<axum::extract::Request>>::into_make_service(service),
        )
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
    });
    Ok(Server { addr, task })
}

/// Why the service could not start; printed as one line by `main`.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error("database: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Other(String),
}
