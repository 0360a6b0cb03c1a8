//! Wiring: `Application` builds the service from configuration, binds listeners (port 0 in tests
//! and the demo) and runs the HTTP server and workers until the shutdown token is cancelled.

use std::net::SocketAddr;
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
use crate::sim::{Registration, Running};
use crate::store::Store;

/// The PSP families this build offers: one line per family (its `[psp.<family>]` section type
/// and its adapter live in its module).
pub fn psp_families() -> Vec<&'static crate::psp::Family> {
    vec![&crate::psp::oppwa::FAMILY, &crate::psp::mollie::FAMILY]
}

/// The PSP adapters, each configured from its `[psp.<family>]` section.
pub fn adapters(cfg: &AppConfig) -> Registry {
    psp_families()
        .into_iter()
        .filter_map(|f| cfg.psp.get(f.name).and_then(|s| (f.adapter)(s)))
        .fold(Registry::default(), Registry::with)
}

/// The PSP simulators this build offers: one line per family (its section:
/// `config::SimSections`). `serve` starts those `[sim.<family>]` enables; `psp-integrator sim
/// <family>` runs one on its own.
pub fn simulators() -> Vec<&'static Registration> {
    vec![
        &crate::sim::oppwa::SIMULATOR,
        &crate::sim::mollie::SIMULATOR,
    ]
}

/// The registered simulator of `family`.
pub fn simulator(family: &str) -> Option<&'static Registration> {
    simulators().into_iter().find(|s| s.family == family)
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
        providers: adapters(cfg),
        sealer: Arc::new(sealer),
        clock,
        public_base_url: cfg.public_base_url(),
        locks: KeyedLocks::default(),
        recheck_after_secs: i64::try_from(cfg.reconciler.first_delay_secs).unwrap_or(60),
        write_retry: std::time::Duration::from_secs(cfg.database.write_retry_secs),
        not_found_grace_secs: i64::try_from(cfg.reconciler.not_found_grace_secs).unwrap_or(600),
        targets: Arc::new(crate::outbox::policy::TargetPolicy::new(&cfg.webhooks)),
        outbox_wake: Arc::default(),
        after_status: crate::flows::notification::release_parked_hook,
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
/// database, start the built-in simulators that are enabled, assemble the application, start the
/// workers and the HTTP server. Listening on port 0 picks a free port; a `public_base_url`
/// whose port is 0 then takes that port.
pub struct Application {
    addr: Option<SocketAddr>,
    ops_addr: Option<SocketAddr>,
    app: App,
    cfg: AppConfig,
    sims: Vec<Running>,
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
        let sims = start_simulators(&mut cfg, &shutdown).await?;
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
            sims,
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

    /// The built-in simulators that run.
    pub fn simulators(&self) -> &[Running] {
        &self.sims
    }

    /// The built-in simulator of `family`, when it runs.
    pub fn simulator(&self, family: &str) -> Option<&Running> {
        self.sims.iter().find(|s| s.family == family)
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

/// Starts every registered simulator whose `[sim.<family>]` section enables it and points
/// `psp.<family>.<replaces>` at it, so the merchants that key serves (the test mode's) talk to it.
async fn start_simulators(
    cfg: &mut AppConfig,
    shutdown: &CancellationToken,
) -> Result<Vec<Running>, StartupError> {
    let mut running = Vec::new();
    for reg in simulators() {
        if !cfg.sim.enabled(reg.family) {
            continue;
        }
        let sim = match (reg.start)(cfg, shutdown.clone()).await {
            Ok(sim) => sim,
            Err(e) => {
                // Stops those already started: the service will not run.
                shutdown.cancel();
                return Err(StartupError::Other(e));
            }
        };
        let key = format!("psp.{}.{}", reg.family, reg.replaces);
        match cfg.psp.base_url_mut(reg.family, reg.replaces) {
            Some(url) => {
                tracing::info!(url = %sim.base_url, key = %key, "built-in simulator stands in");
                *url = sim.base_url.clone();
            }
            // A simulator whose adapter this build does not have yet (or whose section lacks
            // the key): it runs, but no merchant is sent to it.
            None => tracing::warn!(
                url = %sim.base_url,
                key = %key,
                "built-in simulator runs, but there is no such adapter key to point at it"
            ),
        }
        running.push(sim);
    }
    Ok(running)
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

/// The reconciler's timing from its config section (here, so the flow does not read config).
impl From<&crate::config::ReconcilerSection> for crate::flows::reconcile::Policy {
    fn from(c: &crate::config::ReconcilerSection) -> Self {
        let s = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
        Self {
            first_delay: s(c.first_delay_secs),
            max_delay: s(c.max_delay_secs),
            not_found_grace: s(c.not_found_grace_secs),
            checkout_grace: s(c.checkout_grace_secs),
            batch: i64::from(c.batch_size),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// Each registered simulator has its `[sim.<family>]` section and vice versa, and a
    /// simulator whose adapter is configured names a base URL key that adapter has.
    #[test]
    fn the_registries_match_the_configuration_sections() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut cfg = AppConfig::load("default", &dir).expect("default loads");
        let registered: Vec<&str> = simulators().iter().map(|s| s.family).collect();
        let sections: Vec<&str> = cfg.sim.families().iter().map(|(f, _)| *f).collect();
        assert_eq!(registered, sections);
        let adapters = adapters(&cfg);
        for (family, _) in cfg.psp.families() {
            assert!(adapters.get(family).is_some(), "adapter for [psp.{family}]");
        }
        for reg in simulators() {
            assert!(simulator(reg.family).is_some());
            let has_adapter = adapters.get(reg.family).is_some();
            let key = cfg.psp.base_url_mut(reg.family, reg.replaces).is_some();
            assert_eq!(has_adapter, key, "psp.{}.{}", reg.family, reg.replaces);
        }
        assert!(simulator("adyen").is_none());
    }
}
