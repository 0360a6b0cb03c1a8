//! Thin entry point: parse the command line, load configuration, run the command.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use psp_integrator::config::AppConfig;
use psp_integrator::domain::SystemClock;
use psp_integrator::startup::{self, StartupError};
use psp_integrator::{admin, store, telemetry};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "psp-integrator",
    version,
    about = "Billwerk+ Transform Integrator for OPPWA payment service providers"
)]
struct Cli {
    /// Configuration profile: config/{profile}.toml is layered over the defaults.
    #[arg(long, env = "PSPI_PROFILE", default_value = "default", global = true)]
    profile: String,
    /// Directory holding the profile files.
    #[arg(long, env = "PSPI_CONFIG_DIR", default_value = "config", global = true)]
    config_dir: PathBuf,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API (the default command).
    Serve(ServeArgs),
    /// Apply the database migrations and exit.
    Migrate {
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Onboard merchants (Billwerk accounts) and manage their API tokens.
    #[command(subcommand)]
    Merchants(MerchantsCommand),
    /// Inspect and redeliver Billwerk webhooks.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Run a PSP simulator on its own.
    #[command(subcommand)]
    Sim(SimCommand),
}

#[derive(Subcommand)]
enum DeliveriesCommand {
    /// Failed (still retrying) and dead webhooks, with their last attempt.
    List {
        /// Only those updated since this time (RFC 3339, e.g. 2026-11-22T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Send a webhook again now: one by id, or every dead or delivered one since a time.
    Redeliver {
        id: Option<i64>,
        #[arg(long, conflicts_with = "id")]
        since: Option<String>,
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(clap::Args, Default)]
struct ServeArgs {
    /// Address to listen on (overrides server.listen).
    #[arg(long)]
    listen: Option<String>,
    /// Database URL (overrides database.url).
    #[arg(long)]
    database_url: Option<String>,
    /// Do not start the built-in OPPWA simulator even if the profile enables it.
    #[arg(long)]
    no_simulator: bool,
    /// Serve the API only; run the webhook and reconciler workers elsewhere.
    #[arg(long, conflicts_with = "workers_only")]
    no_workers: bool,
    /// Run only the webhook and reconciler workers (no HTTP API).
    #[arg(long)]
    workers_only: bool,
}

#[derive(Subcommand)]
enum MerchantsCommand {
    /// Create a merchant bound to a PSP adapter; prints its API token once.
    Create {
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "oppwa")]
        psp: String,
        #[arg(long)]
        database_url: Option<String>,
    },
    /// List merchants with their PSP notification URL.
    List {
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Issue a new API token for a merchant (by id or name); the old token stops working.
    RotateToken {
        id_or_name: String,
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum SimCommand {
    /// The OPPWA simulator with its fixed sandbox credentials.
    Oppwa {
        #[arg(long)]
        listen: Option<String>,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), StartupError> {
    let mut cfg = AppConfig::load(&cli.profile, &cli.config_dir)?;
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    if let Some(url) = command_db_url(&command) {
        cfg.database.url = url;
    }
    match command {
        Command::Serve(args) => {
            if let Some(l) = args.listen {
                cfg.server.listen = l;
            }
            if args.no_simulator {
                cfg.simulator.enabled = false;
            }
            cfg.validate()?;
            telemetry::init(&cfg.log.level, cfg.log.format == "json");
            let roles = Roles {
                api: !args.workers_only,
                workers: !args.no_workers,
            };
            serve(cfg, roles).await
        }
        Command::Migrate { .. } => {
            cfg.validate()?;
            let s = store::connect(&cfg.database.url, cfg.database.max_connections).await?;
            s.migrate().await?;
            println!("migrations applied ({})", s.backend());
            Ok(())
        }
        Command::Merchants(m) => {
            cfg.validate()?;
            merchants(&cfg, m).await
        }
        Command::Deliveries(d) => {
            cfg.validate()?;
            deliveries(&cfg, d).await
        }
        Command::Sim(SimCommand::Oppwa { listen }) => {
            let listen = listen.unwrap_or(cfg.simulator.listen.clone());
            telemetry::init(&cfg.log.level, cfg.log.format == "json");
            run_sim(&listen).await
        }
    }
}

fn command_db_url(c: &Command) -> Option<String> {
    match c {
        Command::Serve(a) => a.database_url.clone(),
        Command::Migrate { database_url }
        | Command::Merchants(MerchantsCommand::Create { database_url, .. })
        | Command::Merchants(MerchantsCommand::List { database_url })
        | Command::Merchants(MerchantsCommand::RotateToken { database_url, .. })
        | Command::Deliveries(DeliveriesCommand::List { database_url, .. })
        | Command::Deliveries(DeliveriesCommand::Redeliver { database_url, .. }) => {
            database_url.clone()
        }
        Command::Sim(_) => None,
    }
}

/// Which parts of the service this process runs.
#[derive(Clone, Copy)]
struct Roles {
    api: bool,
    workers: bool,
}

async fn serve(cfg: AppConfig, roles: Roles) -> Result<(), StartupError> {
    let shutdown = CancellationToken::new();
    let store = store::connect(&cfg.database.url, cfg.database.max_connections).await?;
    store.migrate().await?;
    let mut sim = None;
    if cfg.simulator.enabled {
        sim = Some(start_sim(&cfg.simulator.listen, shutdown.clone()).await?);
    }
    let app = startup::build_app(&cfg, store.clone(), Arc::new(SystemClock))?;
    let mut tasks = Vec::new();
    if roles.workers {
        tasks.extend(startup::spawn_workers(&cfg, &app, shutdown.clone())?);
        tracing::info!("webhook and reconciler workers running");
    }
    if roles.api {
        let listener = tokio::net::TcpListener::bind(cfg.listen_addr()?)
            .await
            .map_err(|e| {
                StartupError::Other(format!("server.listen {}: {e}", cfg.server.listen))
            })?;
        let server = startup::serve(app, listener, cfg.server.body_limit_bytes, shutdown.clone())?;
        tracing::info!(
            addr = %server.addr,
            profile = %cfg.profile,
            database = %store::redact_url(&cfg.database.url),
            backend = store.backend(),
            "psp-integrator listening"
        );
        tasks.push(tokio::spawn(async move {
            if let Ok(Err(e)) = server.task.await {
                tracing::error!(error = %e, "HTTP server stopped");
            }
        }));
    }
    if sim.is_some() {
        tracing::warn!("the built-in OPPWA simulator is running: development use only");
    }
    wait_for_signal().await;
    tracing::info!("shutting down");
    shutdown.cancel();
    for t in tasks {
        let _ = t.await;
    }
    Ok(())
}

async fn start_sim(
    listen: &str,
    shutdown: CancellationToken,
) -> Result<psp_integrator::sim::oppwa::SimHandle, StartupError> {
    use psp_integrator::sim::oppwa::{Sim, SimConfig};
    let addr = listen.parse().map_err(|_| {
        StartupError::Other(format!(
            "simulator.listen: '{listen}' is not a socket address"
        ))
    })?;
    // A person trying the service gets the PSP's notifications without driving the admin API.
    let config = SimConfig {
        public_base_url: String::new(),
        auto_deliver: true,
        ..SimConfig::default()
    };
    let handle = Sim::spawn(config, addr, shutdown)
        .await
        .map_err(|e| StartupError::Other(format!("simulator.listen {listen}: {e}")))?;
    tracing::info!(url = %handle.base_url, "OPPWA simulator listening");
    Ok(handle)
}

async fn run_sim(listen: &str) -> Result<(), StartupError> {
    let shutdown = CancellationToken::new();
    let handle = start_sim(listen, shutdown.clone()).await?;
    println!("OPPWA simulator at {}", handle.base_url);
    wait_for_signal().await;
    shutdown.cancel();
    Ok(())
}

async fn merchants(cfg: &AppConfig, cmd: MerchantsCommand) -> Result<(), StartupError> {
    let store = store::connect(&cfg.database.url, cfg.database.max_connections).await?;
    store.migrate().await?;
    let base = cfg.public_base_url();
    match cmd {
        MerchantsCommand::Create { name, psp, .. } => {
            let providers = startup::providers(cfg);
            let (m, token) =
                admin::create_merchant(store.as_ref(), &providers, &SystemClock, &name, &psp)
                    .await
                    .map_err(|e| StartupError::Other(e.to_string()))?;
            println!(
                "merchant created\n  id:    {}\n  name:  {}\n  psp:   {}",
                m.id, m.name, m.psp
            );
            println!("  token: {token}\n(store the token now: it is shown only once)");
        }
        MerchantsCommand::List { .. } => {
            let list = store.list_merchants().await?;
            if list.is_empty() {
                println!(
                    "no merchants yet: psp-integrator merchants create --name NAME --psp oppwa"
                );
            }
            for m in list {
                println!(
                    "{}  {:<24} {:<6} created {}  notifications: {base}/psp/{}/{}/notifications",
                    m.id,
                    m.name,
                    m.psp,
                    m.created_at.to_wire(),
                    m.psp,
                    m.id
                );
            }
        }
        MerchantsCommand::RotateToken { id_or_name, .. } => {
            let (m, token) = admin::rotate_token(store.as_ref(), &id_or_name)
                .await
                .map_err(|e| StartupError::Other(e.to_string()))?;
            println!(
                "new token for {} ({}): {token}\n(the previous token no longer works)",
                m.name, m.id
            );
        }
    }
    Ok(())
}

fn parse_time(key: &str, v: &str) -> Result<psp_integrator::domain::Ticks, StartupError> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|d| psp_integrator::domain::Ticks::from_datetime(d.with_timezone(&chrono::Utc)))
        .map_err(|_| {
            StartupError::Other(format!(
                "{key}: '{v}' is not an RFC 3339 time like 2026-11-22T00:00:00Z"
            ))
        })
}

async fn deliveries(cfg: &AppConfig, cmd: DeliveriesCommand) -> Result<(), StartupError> {
    use psp_integrator::admin_deliveries as d;
    let store = store::connect(&cfg.database.url, cfg.database.max_connections).await?;
    store.migrate().await?;
    match cmd {
        DeliveriesCommand::List { since, .. } => {
            let since = since.map(|s| parse_time("--since", &s)).transpose()?;
            let rows = d::list_failed(store.as_ref(), since).await?;
            if rows.is_empty() {
                println!("no failed or dead webhooks");
            } else {
                print!("{}", d::format_table(&rows));
            }
        }
        DeliveriesCommand::Redeliver { id: Some(id), .. } => {
            let r = d::redeliver_one(store.as_ref(), id)
                .await
                .map_err(|e| match e {
                    store::StoreError::NotFound => {
                        StartupError::Other(format!("no dead or delivered webhook with id {id}"))
                    }
                    other => other.into(),
                })?;
            println!("webhook {id} queued for delivery ({r:?})");
        }
        DeliveriesCommand::Redeliver {
            since: Some(since), ..
        } => {
            let n = d::redeliver_since(store.as_ref(), parse_time("--since", &since)?).await?;
            println!("{n} webhook(s) queued for delivery");
        }
        DeliveriesCommand::Redeliver { .. } => {
            return Err(StartupError::Other(
                "redeliver needs an ID or --since TIME".into(),
            ));
        }
    }
    Ok(())
}

async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
