//! Wiring: `Application` builds the service from configuration, binds listeners (port 0 in tests
//! and the demo) and runs the HTTP server and workers until the shutdown token is cancelled.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::Layer;

use crate::config::AppConfig;
use crate::crypto::Sealer;
use crate::domain::{Clock, SystemClock};
use crate::flows::{App, KeyedLocks};
use crate::http::HttpOptions;
use crate::http::health::{Health, Liveness};
use crate::psp::Registry;
use crate::psp::oppwa::{Oppwa, OppwaConfig};
use crate::sim::oppwa::{Sim, SimConfig, SimHandle};
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
    let sealer =
        Sealer::with_previous(&cfg.security.master_key, &cfg.security.previous_master_keys)
            .map_err(|e| StartupError::Other(format!("security.master_key: {e}")))?;
    Ok(App {
        store,
        providers: providers(cfg),
        sealer: Arc::new(sealer),
        clock,
        public_base_url: cfg.public_base_url(),
        locks: KeyedLocks::default(),
        recheck_after_secs: i64::try_from(cfg.reconciler.first_delay_secs).unwrap_or(60),
        write_retry: std::time::Duration::from_secs(cfg.database.write_retry_secs),
        not_found_grace_secs: i64::try_from(cfg.reconciler.not_found_grace_secs).unwrap_or(600),
        targets: Arc::new(crate::outbox::policy::TargetPolicy::new(&cfg.webhooks)),
        outbox_wake: Arc::default(),
    })
}

/// Starts the outbox worker and the reconciler on `tasks`; they stop when `shutdown` is
/// cancelled. Each holds a liveness guard for readiness.
pub fn spawn_workers(
    cfg: &AppConfig,
    app: &App,
    tasks: &TaskTracker,
    liveness: &Liveness,
    shutdown: CancellationToken,
) -> Result<usize, StartupError> {
    let worker =
        crate::outbox::Worker::new(app.store.clone(), cfg.webhooks.clone(), app.clock.clone())
            .map_err(|e| StartupError::Other(format!("webhook client: {e}")))?
            .woken_by(app.outbox_wake.clone());
    let policy = crate::flows::reconcile::Policy::from(&cfg.reconciler);
    let interval = Duration::from_secs(cfg.reconciler.poll_interval_secs.max(1));
    let recon = crate::flows::reconcile::run(app.clone(), policy, interval, shutdown.clone());
    let guard = liveness.guard();
    tasks.spawn(async move {
        let _alive = guard;
        worker.run(shutdown).await;
    });
    let guard = liveness.guard();
    tasks.spawn(async move {
        let _alive = guard;
        recon.await;
    });
    Ok(2)
}

/// Which parts of the service a process runs.
#[derive(Clone, Copy, Debug)]
pub struct Roles {
    /// The HTTP API (and the checkout pages, PSP notifications, probes). The operator
    /// listener runs for every role.
    pub api: bool,
    /// The webhook (outbox) worker and the reconciler.
    pub workers: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        api: true,
        workers: true,
    };
    /// The HTTP API only; tests drive the workers themselves.
    pub const API: Roles = Roles {
        api: true,
        workers: false,
    };
}

/// The running service, built one way for `serve`, `demo` and the tests: open and migrate the
/// database, start the built-in simulator if enabled, assemble the application, start the
/// workers and the HTTP server. Listening on port 0 picks a free port; a `public_base_url`
/// whose port is 0 then takes that port.
pub struct Application {
    addr: Option<SocketAddr>,
    ops_addr: Option<SocketAddr>,
    app: App,
    cfg: AppConfig,
    sim: Option<SimHandle>,
    health: Health,
    shutdown: CancellationToken,
    tasks: TaskTracker,
}

impl Application {
    /// Builds and starts the service on the system clock.
    pub async fn build(cfg: AppConfig, roles: Roles) -> Result<Self, StartupError> {
        Self::build_with_clock(cfg, roles, Arc::new(SystemClock)).await
    }

    /// Builds and starts the service on `clock`.
    pub async fn build_with_clock(
        mut cfg: AppConfig,
        roles: Roles,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, StartupError> {
        cfg.validate()?;
        let _ = crate::telemetry::metrics_handle();
        let shutdown = CancellationToken::new();
        let tasks = TaskTracker::new();
        let action = crate::store::SchemaAction::configured(&cfg.database);
        let store = crate::store::open(&cfg.database, action).await?;
        let mut sim = None;
        if cfg.simulator.enabled {
            let handle = start_simulator(&cfg, shutdown.clone()).await?;
            // Merchants in the Test environment talk to the built-in simulator.
            cfg.oppwa.test_base_url = handle.base_url.clone();
            sim = Some(handle);
        }
        let listener = if roles.api {
            let l = TcpListener::bind(cfg.listen_addr()?).await.map_err(|e| {
                StartupError::Other(format!("server.listen {}: {e}", cfg.server.listen))
            })?;
            let addr = l.local_addr()?;
            fill_port(&mut cfg.server.public_base_url, addr.port());
            Some(l)
        } else {
            None
        };
        let ops_listener = bind_ops(&cfg).await?;
        let app = build_app(&cfg, store.clone(), clock)?;
        let liveness = Liveness::default();
        let expected_workers = if roles.workers {
            spawn_workers(&cfg, &app, &tasks, &liveness, shutdown.clone())?
        } else {
            0
        };
        let health = Health {
            store,
            workers: liveness,
            expected_workers,
        };
        let ops_addr = match ops_listener {
            Some(l) => Some(serve_ops(&cfg, &app, &health, l, &tasks, shutdown.clone())?),
            None => None,
        };
        let mut addr = None;
        if let Some(listener) = listener {
            let opts = HttpOptions {
                body_limit: cfg.server.body_limit_bytes,
                limits: cfg.limits.clone(),
                health: health.clone(),
            };
            let server = serve(app.clone(), listener, &opts, shutdown.clone())?;
            addr = Some(server.addr);
            tasks.spawn(async move {
                if let Ok(Err(e)) = server.task.await {
                    tracing::error!(error = %e, "HTTP server stopped");
                }
            });
        }
        Ok(Self {
            addr,
            ops_addr,
            app,
            cfg,
            sim,
            health,
            shutdown,
            tasks,
        })
    }

    /// Where the API listens (`None` for a workers-only process).
    pub fn addr(&self) -> Option<SocketAddr> {
        self.addr
    }

    /// Where the operator listener (`/metrics`, `/docs`, ...) listens; `None` when disabled.
    pub fn ops_addr(&self) -> Option<SocketAddr> {
        self.ops_addr
    }

    /// The API's port (0 for a workers-only process).
    pub fn port(&self) -> u16 {
        self.addr.map_or(0, |a| a.port())
    }

    /// `http://host:port` of the API as this process reaches it.
    pub fn base_url(&self) -> String {
        self.addr
            .map_or_else(String::new, |a| format!("http://{a}"))
    }

    pub fn app(&self) -> &App {
        &self.app
    }

    /// The effective configuration (ports and simulator URL filled in).
    pub fn config(&self) -> &AppConfig {
        &self.cfg
    }

    /// The built-in simulator, when it runs.
    pub fn simulator(&self) -> Option<&SimHandle> {
        self.sim.as_ref()
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Cancelling this token stops the service.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Stops everything and waits (at most `SHUTDOWN_GRACE`) for in-flight work to finish.
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.tasks.close();
        if tokio::time::timeout(SHUTDOWN_GRACE, self.tasks.wait())
            .await
            .is_err()
        {
            tracing::warn!("shutdown grace period over; stopping with work in flight");
        }
    }

    /// Runs until `stop` is cancelled (e.g. by a signal), then shuts down gracefully.
    pub async fn run_until(self, stop: impl std::future::Future<Output = ()>) {
        tokio::select! {
            _ = stop => {}
            _ = self.shutdown.cancelled() => {}
        }
        tracing::info!("shutting down");
        self.stop().await;
    }
}

/// How long shutdown waits for in-flight requests and worker rounds.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Replaces port 0 in `url` with `port`.
fn fill_port(url: &mut String, port: u16) {
    if let Ok(mut u) = url::Url::parse(url)
        && u.port() == Some(0)
        && u.set_port(Some(port)).is_ok()
    {
        *url = u.as_str().trim_end_matches('/').to_string();
    }
}

/// Where the built-in simulator keeps its state: `simulator.state_file`, else beside a file
/// SQLite database; `None` (memory only) otherwise.
pub fn simulator_state_file(cfg: &AppConfig) -> Option<PathBuf> {
    let explicit = cfg.simulator.state_file.trim();
    if !explicit.is_empty() {
        return Some(PathBuf::from(explicit));
    }
    let path = cfg
        .database
        .url
        .strip_prefix("sqlite://")
        .or_else(|| cfg.database.url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Some(PathBuf::from(format!("{path}.oppwa-sim.json")))
}

/// Starts the built-in OPPWA simulator as configured.
pub async fn start_simulator(
    cfg: &AppConfig,
    shutdown: CancellationToken,
) -> Result<SimHandle, StartupError> {
    let listen = &cfg.simulator.listen;
    let addr = listen.parse().map_err(|_| {
        StartupError::Other(format!(
            "simulator.listen: '{listen}' is not a socket address"
        ))
    })?;
    let config = SimConfig {
        auto_deliver: cfg.simulator.auto_deliver,
        state_file: simulator_state_file(cfg),
        ..SimConfig::default()
    };
    let handle = Sim::spawn(config, addr, shutdown)
        .await
        .map_err(|e| StartupError::Other(format!("simulator.listen {listen}: {e}")))?;
    tracing::info!(url = %handle.base_url, "OPPWA simulator listening");
    Ok(handle)
}

/// A running HTTP server.
pub struct Server {
    pub addr: SocketAddr,
    pub task: JoinHandle<std::io::Result<()>>,
}

/// Serves `app` on `listener` until `shutdown` is cancelled, then drains in-flight requests
/// (connection limits: `http::server`).
pub fn serve(
    app: App,
    listener: TcpListener,
    opts: &HttpOptions,
    shutdown: CancellationToken,
) -> std::io::Result<Server> {
    let addr = listener.local_addr()?;
    let router = crate::http::router(app, opts);
    let service = tower::util::MapRequestLayer::new(crate::http::path::normalize).layer(router);
    let limits = crate::http::server::ConnLimits::from(&opts.limits);
    let task = tokio::spawn(crate::http::server::run(
        listener, service, limits, shutdown,
    ));
    Ok(Server { addr, task })
}

/// Binds the operator listener, if enabled (for every role: a workers-only process has
/// metrics and readiness too).
async fn bind_ops(cfg: &AppConfig) -> Result<Option<TcpListener>, StartupError> {
    let Some(addr) = cfg.ops_addr()? else {
        return Ok(None);
    };
    let l = TcpListener::bind(addr)
        .await
        .map_err(|e| StartupError::Other(format!("ops.listen {}: {e}", cfg.ops.listen)))?;
    Ok(Some(l))
}

/// Serves the operator routes (`http::ops`) on `listener` until `shutdown`.
fn serve_ops(
    cfg: &AppConfig,
    app: &App,
    health: &Health,
    listener: TcpListener,
    tasks: &TaskTracker,
    shutdown: CancellationToken,
) -> Result<SocketAddr, StartupError> {
    let addr = listener.local_addr()?;
    let state = crate::http::ops::OpsState {
        app: app.clone(),
        health: health.clone(),
        openapi: Arc::new(crate::http::documented().1),
        console: crate::console::Console::from_config(cfg),
    };
    let router = crate::http::ops::router(state);
    tasks.spawn(async move {
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await;
        if let Err(e) = served {
            tracing::error!(error = %e, "operator listener stopped");
        }
    });
    Ok(addr)
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
