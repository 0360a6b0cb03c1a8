//! The command line: parse with clap, load configuration, run the command. `main.rs` only
//! parses and calls [`run`].

use std::path::PathBuf;

use crate::config::AppConfig;
use crate::domain::{Clock, SystemClock};
use crate::flows::operators::{keys, merchants};
use crate::startup::{self, Application, Roles, StartupError};
use crate::{store, telemetry};
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

#[derive(Parser)]
#[command(
    name = "psp-integrator",
    version,
    about = "Billwerk+ Transform Integrator: payment service providers behind Billwerk's external PSP interface"
)]
/// The command line (see `--help`).
pub struct Cli {
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
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Onboard merchants (Billwerk accounts) and manage their API tokens.
    #[command(subcommand)]
    Merchants(MerchantsCommand),
    /// Inspect and redeliver Billwerk webhooks.
    #[command(subcommand)]
    Deliveries(DeliveriesCommand),
    /// Operator console accounts (README: "Operator console").
    #[command(subcommand)]
    Operators(crate::console::cli::OperatorsCommand),
    /// Master key rotation for the merchants' sealed PSP settings.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Exit 0 if the local service answers ready (for container health checks).
    Healthcheck {
        /// The readiness URL; default: http://127.0.0.1:<port of server.listen>/health/ready.
        #[arg(long)]
        url: Option<String>,
    },
    /// A narrated tour on a throw-away database: the integrator, a PSP simulator and a
    /// Billwerk stand-in in one process (start here).
    Demo {
        /// The PSP family to tour (one whose simulator has a tour); default: the first.
        #[arg(long)]
        psp: Option<String>,
    },
    /// Run a PSP simulator on its own.
    Sim(SimArgs),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Re-seal every merchant's settings under security.master_key (old values may be under a
    /// key in security.previous_master_keys).
    Rotate {
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// How many merchants' settings are sealed under which key id.
    Status {
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Print a new random master key (64 hex characters).
    Generate,
}

#[derive(Subcommand)]
enum DeliveriesCommand {
    /// Failed (still retrying) and dead webhooks, with their last attempt.
    List {
        /// Only those updated since this time (RFC 3339, e.g. 2026-11-22T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Send a webhook again now: one by id, or every dead or delivered one since a time.
    Redeliver {
        /// The webhook's id, as `deliveries list` shows it.
        id: Option<i64>,
        /// Every dead or delivered webhook updated since this time (RFC 3339).
        #[arg(long, conflicts_with = "id")]
        since: Option<String>,
        /// Database URL (overrides database.url).
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
    /// Do not start the built-in simulators, whatever the sim.<family>.enabled keys say.
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
        /// A unique name for the merchant (e.g. the Billwerk account).
        #[arg(long)]
        name: String,
        /// The PSP family (adapter) the merchant uses; may be left out while the build has
        /// only one.
        #[arg(long)]
        psp: Option<String>,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// List merchants: status, tokens (with the previous token's expiry) and PSP notification URL.
    List {
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Print the URL a merchant's PSP must send its notifications to (with the merchant's
    /// token, under server.public_base_url).
    NotificationUrl {
        /// The merchant's id or name.
        id_or_name: String,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Issue a new API token for a merchant (by id or name); the old one keeps working for the
    /// grace period (security.token_grace_secs, default 24h) so Billwerk can be switched over.
    RotateToken {
        /// The merchant's id or name.
        id_or_name: String,
        /// How long the old token stays valid, e.g. 24h, 30m, 0s (0: it stops at once).
        #[arg(long, value_parser = humantime::parse_duration)]
        grace: Option<std::time::Duration>,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Refuse a merchant's API calls (401) until `enable`; its PSP notifications are still
    /// stored and applied, and its webhooks to Billwerk still go out.
    Disable {
        /// The merchant's id or name.
        id_or_name: String,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Accept a disabled merchant's API calls again.
    Enable {
        /// The merchant's id or name.
        id_or_name: String,
        /// Database URL (overrides database.url).
        #[arg(long)]
        database_url: Option<String>,
    },
}

#[derive(clap::Args)]
struct SimArgs {
    /// The PSP family whose simulator to run (settings: [sim.<family>]; see README).
    #[arg(value_parser = sim_families())]
    family: String,
    /// Address to listen on (overrides sim.<family>.listen).
    #[arg(long)]
    listen: Option<String>,
}

/// The families of `startup::simulators`, as `sim`'s possible values.
fn sim_families() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(
        startup::simulators()
            .into_iter()
            .map(|s| clap::builder::PossibleValue::new(s.family).help(s.title)),
    )
}

/// Runs one command line.
pub async fn run(cli: Cli) -> Result<(), StartupError> {
    let mut cfg = AppConfig::load(&cli.profile, &cli.config_dir)?;
    let command = cli.command.unwrap_or(Command::Serve(ServeArgs::default()));
    if let Some(url) = command_db_url(&command) {
        cfg.database.url = url;
    }
    // `serve` and `sim` log it once their log is set up; the other commands have no log.
    if !matches!(command, Command::Serve(_) | Command::Sim(_))
        && let Some(w) = cfg.deprecation_warning()
    {
        eprintln!("warning: {w}");
    }
    match command {
        Command::Serve(args) => {
            if let Some(l) = args.listen {
                cfg.server.listen = l;
            }
            if args.no_simulator {
                cfg.sim.disable_all();
            }
            // The warning first: a refused value may have been given under an old name.
            telemetry::init(&cfg.log.level, cfg.log.format == "json");
            if let Some(w) = cfg.deprecation_warning() {
                tracing::warn!("{w}");
            }
            cfg.validate()?;
            let roles = Roles {
                api: !args.workers_only,
                workers: !args.no_workers,
            };
            serve(cfg, roles).await
        }
        Command::Migrate { .. } => {
            cfg.validate()?;
            migrate(&cfg).await
        }
        Command::Merchants(m) => {
            cfg.validate()?;
            merchants(&cfg, m).await
        }
        Command::Deliveries(d) => {
            cfg.validate()?;
            deliveries(&cfg, d).await
        }
        Command::Operators(o) => {
            cfg.validate()?;
            crate::console::cli::run(&cfg, o).await
        }
        Command::Keys(k) => keys(&cfg, k).await,
        Command::Healthcheck { url } => healthcheck(&cfg, url).await,
        Command::Demo { psp } => {
            let tour = demo_tour(psp.as_deref()).map_err(StartupError::Other)?;
            tour(&cli.config_dir).await.map_err(StartupError::Other)
        }
        Command::Sim(SimArgs { family, listen }) => {
            if let (Some(l), Some(section)) = (listen, cfg.sim.get_mut(&family)) {
                section.set_listen(l);
            }
            telemetry::init(&cfg.log.level, cfg.log.format == "json");
            if let Some(w) = cfg.deprecation_warning() {
                tracing::warn!("{w}");
            }
            run_sim(&cfg, &family).await
        }
    }
}

fn command_db_url(c: &Command) -> Option<String> {
    match c {
        Command::Serve(a) => a.database_url.clone(),
        Command::Migrate { database_url }
        | Command::Merchants(MerchantsCommand::Create { database_url, .. })
        | Command::Merchants(MerchantsCommand::List { database_url })
        | Command::Merchants(MerchantsCommand::NotificationUrl { database_url, .. })
        | Command::Merchants(MerchantsCommand::RotateToken { database_url, .. })
        | Command::Merchants(MerchantsCommand::Disable { database_url, .. })
        | Command::Merchants(MerchantsCommand::Enable { database_url, .. })
        | Command::Deliveries(DeliveriesCommand::List { database_url, .. })
        | Command::Deliveries(DeliveriesCommand::Redeliver { database_url, .. })
        | Command::Keys(KeysCommand::Rotate { database_url })
        | Command::Keys(KeysCommand::Status { database_url }) => database_url.clone(),
        Command::Operators(o) => o.database_url(),
        Command::Keys(KeysCommand::Generate)
        | Command::Healthcheck { .. }
        | Command::Demo { .. }
        | Command::Sim(_) => None,
    }
}

/// The tour of `family` (or of the first family that has one) from the simulator registry.
fn demo_tour(family: Option<&str>) -> Result<crate::sim::Tour, String> {
    let with_tour: Vec<_> = crate::startup::simulators()
        .into_iter()
        .filter_map(|r| r.tour.map(|t| (r.family, t)))
        .collect();
    let names = || {
        with_tour
            .iter()
            .map(|(f, _)| *f)
            .collect::<Vec<_>>()
            .join(", ")
    };
    match family {
        None => with_tour.first().map(|(_, t)| *t),
        Some(f) => with_tour.iter().find(|(n, _)| *n == f).map(|(_, t)| *t),
    }
    .ok_or_else(|| {
        format!(
            "--psp: no demo for {}; families with a demo: {}",
            family.unwrap_or("any family"),
            names()
        )
    })
}

async fn serve(cfg: AppConfig, roles: Roles) -> Result<(), StartupError> {
    let application = Application::build(cfg, roles).await?;
    let cfg = application.config();
    if let Some(addr) = application.addr() {
        tracing::info!(
            addr = %addr,
            public_base_url = %cfg.server.public_base_url,
            profile = %cfg.profile,
            database = %store::redact_url(&cfg.database.url),
            "psp-integrator listening"
        );
    }
    if let Some(ops) = application.ops_addr() {
        if cfg.console.enabled {
            tracing::info!(addr = %ops,
                "operator listener (/console, /metrics, /docs, /openapi.json) listening");
        } else {
            tracing::info!(addr = %ops, "operator listener (/metrics, /docs, /openapi.json) listening");
        }
    }
    if roles.workers {
        tracing::info!("webhook and reconciler workers running");
    }
    for sim in application.simulators() {
        tracing::warn!(
            family = sim.family,
            url = %sim.base_url,
            "a built-in PSP simulator is running: development use only"
        );
    }
    application.run_until(wait_for_signal()).await;
    Ok(())
}

/// `migrate`: applies this build's migrations and says what the database carries beyond them.
async fn migrate(cfg: &AppConfig) -> Result<(), StartupError> {
    let s = store::open(&cfg.database, store::SchemaAction::Migrate).await?;
    let status = s.schema_status().await?;
    println!("migrations applied ({})", s.backend());
    for m in &status.newer {
        println!("  the database also carries {m}, from a newer release (tolerated)");
    }
    Ok(())
}

/// `sim <family>`: the registered simulator on its own, until a signal.
async fn run_sim(cfg: &AppConfig, family: &str) -> Result<(), StartupError> {
    let reg = startup::simulator(family)
        .ok_or_else(|| StartupError::Other(format!("no simulator for the PSP family {family}")))?;
    let shutdown = CancellationToken::new();
    let running = (reg.start)(cfg, shutdown.clone())
        .await
        .map_err(StartupError::Other)?;
    println!("{family} simulator at {}", running.base_url);
    for note in &running.notes {
        println!("  {note}");
    }
    wait_for_signal().await;
    shutdown.cancel();
    Ok(())
}

async fn healthcheck(cfg: &AppConfig, url: Option<String>) -> Result<(), StartupError> {
    let url = match url {
        Some(u) => u,
        None => format!(
            "http://127.0.0.1:{}/health/ready",
            cfg.listen_addr()?.port()
        ),
    };
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(4))
        .build()
        .map_err(|e| StartupError::Other(e.to_string()))?;
    let res = client
        .get(&url)
        .send()
        .await
        .map_err(|e| StartupError::Other(format!("{url}: {e}")))?;
    let status = res.status();
    let body = res.text().await.unwrap_or_default();
    if status.is_success() {
        println!("{body}");
        Ok(())
    } else {
        Err(StartupError::Other(format!("{url}: HTTP {status}: {body}")))
    }
}

async fn keys(cfg: &AppConfig, cmd: KeysCommand) -> Result<(), StartupError> {
    if let KeysCommand::Generate = cmd {
        println!("{}", crate::crypto::new_master_key());
        return Ok(());
    }
    cfg.validate()?;
    let store = store::open(
        &cfg.database,
        store::SchemaAction::configured(&cfg.database),
    )
    .await?;
    let sealer = crate::crypto::Sealer::with_previous(
        &cfg.security.master_key,
        &cfg.security.previous_master_keys,
    )
    .map_err(|e| StartupError::Other(format!("security.master_key: {e}")))?;
    match cmd {
        KeysCommand::Rotate { .. } => {
            let r = keys::rotate_master_key(store.as_ref(), &sealer, &SystemClock).await?;
            println!(
                "{} merchant(s) re-sealed under key {}, {} already under it",
                r.resealed,
                sealer.key_id(),
                r.current
            );
            if r.unreadable.is_empty() {
                println!(
                    "every merchant's settings are under the current key: \
                     security.previous_master_keys can be emptied"
                );
                Ok(())
            } else {
                Err(StartupError::Other(format!(
                    "settings of {} merchant(s) open under none of the configured keys: {} \
                     (add the key they were sealed under to security.previous_master_keys)",
                    r.unreadable.len(),
                    r.unreadable.join(", ")
                )))
            }
        }
        KeysCommand::Status { .. } => {
            let counts = keys::sealed_key_ids(store.as_ref()).await?;
            println!("current key id: {}", sealer.key_id());
            if counts.is_empty() {
                println!("no merchant has settings yet");
            } else {
                println!("{:<12} MERCHANTS", "KEY ID");
                for (id, n) in counts {
                    println!("{id:<12} {n}");
                }
            }
            Ok(())
        }
        KeysCommand::Generate => Ok(()),
    }
}

async fn merchants(cfg: &AppConfig, cmd: MerchantsCommand) -> Result<(), StartupError> {
    let store = store::open(
        &cfg.database,
        store::SchemaAction::configured(&cfg.database),
    )
    .await?;
    let base = cfg.public_base_url();
    let sealer = crate::crypto::Sealer::with_previous(
        &cfg.security.master_key,
        &cfg.security.previous_master_keys,
    )
    .map_err(|e| StartupError::Other(format!("security.master_key: {e}")))?;
    match cmd {
        MerchantsCommand::Create { name, psp, .. } => {
            let providers = startup::adapters(cfg);
            let psp = match (psp, providers.names().as_slice()) {
                (Some(p), _) => p,
                (None, [only]) => (*only).to_string(),
                (None, names) => {
                    return Err(StartupError::Other(format!(
                        "--psp is required: one of {}",
                        names.join(", ")
                    )));
                }
            };
            let (m, token) =
                merchants::create_merchant(store.as_ref(), &providers, &SystemClock, &name, &psp)
                    .await
                    .map_err(|e| StartupError::Other(e.to_string()))?;
            println!(
                "merchant created\n  id:    {}\n  name:  {}\n  psp:   {}",
                m.id, m.name, m.psp
            );
            println!(
                "  notification URL: {}",
                crate::flows::notification::url(&base, &sealer, &m)
            );
            println!("  token: {token}\n(store the token now: it is shown only once)");
        }
        MerchantsCommand::List { .. } => {
            let list = store.list_merchants().await?;
            print!(
                "{}",
                merchants::format_merchants(&list, &base, &sealer, SystemClock.now())
            );
        }
        MerchantsCommand::NotificationUrl { id_or_name, .. } => {
            let (_, url) = merchants::notification_url(store.as_ref(), &base, &sealer, &id_or_name)
                .await
                .map_err(|e| StartupError::Other(e.to_string()))?;
            println!("{url}");
        }
        MerchantsCommand::RotateToken {
            id_or_name, grace, ..
        } => {
            let grace = grace.map_or(cfg.security.token_grace_secs, |g| g.as_secs());
            let (m, token) =
                merchants::rotate_token(store.as_ref(), &SystemClock, &id_or_name, grace)
                    .await
                    .map_err(|e| StartupError::Other(e.to_string()))?;
            println!("new token for {} ({}): {token}", m.name, m.id);
            match m.previous_token_until {
                Some(until) => println!(
                    "(the previous token keeps working until {}: enter the new one in Billwerk's \
                     PSP settings before then)",
                    until.to_wire()
                ),
                None => println!("(the previous token no longer works)"),
            }
        }
        MerchantsCommand::Disable { id_or_name, .. } => {
            let m = merchants::set_disabled(store.as_ref(), &SystemClock, &id_or_name, true)
                .await
                .map_err(|e| StartupError::Other(e.to_string()))?;
            println!(
                "merchant {} ({}) disabled: its API calls are answered 401; PSP notifications \
                 are still processed",
                m.name, m.id
            );
        }
        MerchantsCommand::Enable { id_or_name, .. } => {
            let m = merchants::set_disabled(store.as_ref(), &SystemClock, &id_or_name, false)
                .await
                .map_err(|e| StartupError::Other(e.to_string()))?;
            println!("merchant {} ({}) enabled", m.name, m.id);
        }
    }
    Ok(())
}

fn parse_time(key: &str, v: &str) -> Result<crate::domain::Ticks, StartupError> {
    chrono::DateTime::parse_from_rfc3339(v)
        .map(|d| crate::domain::Ticks::from_datetime(d.with_timezone(&chrono::Utc)))
        .map_err(|_| {
            StartupError::Other(format!(
                "{key}: '{v}' is not an RFC 3339 time like 2026-11-22T00:00:00Z"
            ))
        })
}

async fn deliveries(cfg: &AppConfig, cmd: DeliveriesCommand) -> Result<(), StartupError> {
    use crate::flows::operators::deliveries as d;
    let store = store::open(
        &cfg.database,
        store::SchemaAction::configured(&cfg.database),
    )
    .await?;
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
            println!("{}", d::describe_redelivery(id, r));
        }
        DeliveriesCommand::Redeliver {
            since: Some(since), ..
        } => {
            let n = d::redeliver_since(store.as_ref(), parse_time("--since", &since)?).await?;
            println!("{n} webhook(s) queued again; they go out now");
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

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::Cli;

    /// Every command and every option says what it is for in `--help`.
    #[test]
    fn every_command_and_option_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                if sub.get_name() == "help" {
                    continue;
                }
                let sub_path = format!("{path} {}", sub.get_name());
                if sub.get_about().is_none() {
                    missing.push(sub_path.clone());
                }
                walk(sub, &sub_path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "psp-integrator", &mut missing);
        assert!(missing.is_empty(), "no help text: {missing:?}");
        Cli::command().debug_assert();
    }

    /// `demo` tours the first family with a tour; `--psp` picks one, and a family without a
    /// tour is refused naming those that have one.
    #[test]
    fn demo_takes_a_tour_from_the_simulator_registry() {
        let with_tour: Vec<&str> = crate::startup::simulators()
            .iter()
            .filter(|r| r.tour.is_some())
            .map(|r| r.family)
            .collect();
        assert!(super::demo_tour(None).is_ok());
        for family in &with_tour {
            assert!(super::demo_tour(Some(family)).is_ok(), "{family}");
        }
        let e = super::demo_tour(Some("adyen")).expect_err("unknown family");
        assert!(e.contains("--psp: no demo for adyen"), "{e}");
        assert!(e.contains(&with_tour.join(", ")), "{e}");
    }

    /// `sim <family>` offers exactly the registered simulators, and refuses any other family
    /// naming the ones there are.
    #[test]
    fn sim_takes_a_family_from_the_simulator_registry() {
        use clap::Parser;
        use clap::error::ErrorKind;
        let families: Vec<&str> = crate::startup::simulators()
            .iter()
            .map(|s| s.family)
            .collect();
        assert!(families.len() >= 2, "{families:?}");
        let mut unique = families.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), families.len(), "one registration per family");
        let help = Cli::try_parse_from(["psp-integrator", "sim", "--help"])
            .err()
            .expect("help");
        assert_eq!(help.kind(), ErrorKind::DisplayHelp);
        let help = help.to_string();
        for reg in crate::startup::simulators() {
            assert!(
                help.contains(&format!("{}:", reg.family)) && help.contains(reg.title),
                "{} in:\n{help}",
                reg.family
            );
        }
        let e = Cli::try_parse_from(["psp-integrator", "sim", "adyen"])
            .err()
            .expect("unknown family");
        assert_eq!(e.kind(), ErrorKind::InvalidValue);
        assert!(
            e.to_string()
                .contains(&format!("[possible values: {}]", families.join(", "))),
            "{e}"
        );
        let e = Cli::try_parse_from(["psp-integrator", "sim"])
            .err()
            .expect("no family");
        assert_eq!(e.kind(), ErrorKind::MissingRequiredArgument);
        for family in families {
            let cli =
                Cli::try_parse_from(["psp-integrator", "sim", family, "--listen", "127.0.0.1:0"])
                    .expect("as the README writes it");
            match cli.command {
                Some(super::Command::Sim(a)) => {
                    assert_eq!(a.family, family);
                    assert_eq!(a.listen.as_deref(), Some("127.0.0.1:0"));
                }
                _ => panic!("not sim"),
            }
        }
    }
}
