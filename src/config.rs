//! Layered configuration: the embedded `config/default.toml`, then `config/{profile}.toml`, then
//! `PSPI__SECTION__KEY` environment variables, then command-line flags. `validate` names the
//! offending key, so a bad value stops start-up with a clear message.

use std::net::SocketAddr;
use std::path::Path;

use serde::Deserialize;
use url::Url;

const DEFAULT_TOML: &str = include_str!("../config/default.toml");
/// The development master key shipped in `config/default.toml`.
pub const DEV_MASTER_KEY: &str = "6465762d6f6e6c792d6b65792d6e6f742d666f722d70726f64756374696f6e21";

#[derive(Debug, Clone, Deserialize)]
pub struct AppConfig {
    #[serde(skip)]
    pub profile: String,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub security: SecurityConfig,
    pub oppwa: OppwaSection,
    pub simulator: SimulatorSection,
    pub log: LogConfig,
    pub webhooks: WebhooksSection,
    pub reconciler: ReconcilerSection,
    pub limits: LimitsSection,
    pub guard: GuardSection,
    pub ops: OpsSection,
    /// The operator console on the operator listener (README: "Operator console").
    #[serde(default)]
    pub console: ConsoleSection,
    /// PSP simulators other than the built-in OPPWA one (`[sim.mollie]`).
    #[serde(default)]
    pub sim: SimSections,
}

/// The operator listener: `/metrics`, `/docs`, `/openapi.json` and the readiness report, on an
/// address of its own so they are not reachable where Billwerk and the PSP call.
#[derive(Debug, Clone, Deserialize)]
pub struct OpsSection {
    /// Serve the operator listener at all.
    pub enabled: bool,
    /// Address it binds to; loopback by default (port 0 picks a free port).
    pub listen: String,
}

/// `[console]`: the operator console, served on the operator listener only.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct ConsoleSection {
    /// Serve the console at all (off by default).
    pub enabled: bool,
    /// How long a sign-in lasts, in seconds.
    pub session_secs: u64,
    /// Failed sign-ins allowed per operator name (and per listener) before further attempts
    /// are refused for a minute.
    pub login_attempts_per_minute: u32,
}

impl Default for ConsoleSection {
    fn default() -> Self {
        Self {
            enabled: false,
            session_secs: 8 * 3600,
            login_attempts_per_minute: 5,
        }
    }
}

/// `[sim.*]`: standalone PSP simulators (`psp-integrator sim <family>`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SimSections {
    #[serde(default)]
    pub mollie: MollieSimSection,
}

/// `[sim.mollie]`: the Mollie simulator (`psp-integrator sim mollie`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct MollieSimSection {
    pub listen: String,
    /// Delivers webhooks by itself every second (tests drive delivery instead).
    pub auto_deliver: bool,
    /// Any well-formed `test_…`/`live_…` key is admitted as a new merchant on first use.
    pub open_keys: bool,
    /// Sim seconds per real second (expiry, refunds and retries come sooner); 1: real time.
    pub clock_speed: u32,
    /// Where the simulator keeps its state across restarts; empty: memory only.
    pub state_file: String,
}

impl Default for MollieSimSection {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:8082".into(),
            auto_deliver: true,
            open_keys: true,
            clock_speed: 1,
            state_file: String::new(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerConfig {
    pub listen: String,
    pub public_base_url: String,
    pub body_limit_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    /// Postgres `sslmode` (`disable` … `verify-full`); empty: the URL's, else `prefer`.
    pub ssl_mode: String,
    /// PEM file of the CA that signed the Postgres server's certificate; empty: the URL's
    /// `sslrootcert`, else the built-in public roots (webpki).
    pub ssl_root_cert: String,
    /// Apply this build's migrations when a command opens the database; false: refuse to start
    /// until `psp-integrator migrate` has run (the production recipe).
    pub migrate_on_start: bool,
    /// Seconds a write that follows a PSP call keeps retrying while the database is
    /// unreachable (restart, failover) before the request is answered with the transaction's
    /// last recorded state (Pending) and the reconciler takes over.
    #[serde(default = "default_write_retry_secs")]
    pub write_retry_secs: u64,
}

fn default_write_retry_secs() -> u64 {
    10
}

#[derive(Clone, Deserialize)]
pub struct SecurityConfig {
    pub master_key: String,
    /// Keys sealed values may still be under during a master key rotation (opened, never used
    /// to seal); `keys rotate` re-seals everything under `master_key`.
    pub previous_master_keys: Vec<String>,
    pub require_master_key: bool,
    /// Seconds a merchant's replaced API token stays valid after `merchants rotate-token`
    /// (the default for its `--grace`).
    pub token_grace_secs: u64,
}

impl std::fmt::Debug for SecurityConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecurityConfig")
            .field("require_master_key", &self.require_master_key)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct OppwaSection {
    pub test_base_url: String,
    pub live_base_url: String,
    pub timeout_secs: u64,
    pub connect_timeout_secs: u64,
    pub brands: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SimulatorSection {
    pub enabled: bool,
    pub listen: String,
    /// Delivers the simulator's PSP notifications by itself every second.
    pub auto_deliver: bool,
    /// Where the simulator keeps its state across restarts; empty: beside the SQLite database
    /// (`<database file>.oppwa-sim.json`), or nowhere on Postgres.
    pub state_file: String,
}

/// Request limits of the HTTP API.
#[derive(Debug, Clone, Deserialize)]
pub struct LimitsSection {
    /// Sustained requests per second one merchant (one API token) may make to `/api`.
    pub rate_per_second: u32,
    /// Requests a merchant may make at once above the sustained rate.
    pub burst: u32,
    /// How long a money-moving POST over the rate waits for its turn before it is refused
    /// (429), in milliseconds (at most half of `request_timeout_secs`); reads and settings
    /// are refused at once.
    pub money_wait_ms: u64,
    /// Requests served at the same time by this process; more wait for a slot.
    pub max_concurrent_requests: usize,
    /// Seconds before a request is answered 503; a payment call keeps running and is recorded.
    pub request_timeout_secs: u64,
    /// Seconds a request body may take to arrive in full; then 408 (`http::limits::read_body`).
    pub body_read_timeout_secs: u64,
    /// Bytes per second a request body must average once its first 2 s are over; then 408.
    pub body_min_bytes_per_sec: u64,
    /// Seconds a new connection may take to send a complete request head, and a started head
    /// on a kept-alive connection; then the connection is closed (`http::server`).
    pub header_read_timeout_secs: u64,
    /// Seconds a kept-alive connection may wait for its next request; then it is closed.
    pub idle_timeout_secs: u64,
    /// Connections open at once; further ones wait in the listen backlog until one closes.
    pub max_connections: usize,
}

/// Production safety checks (on in the production profile).
#[derive(Debug, Clone, Deserialize)]
pub struct GuardSection {
    /// Refuse set-ups that only make sense on a developer machine.
    pub enabled: bool,
    /// Accept SQLite anyway (a single instance with a local disk).
    pub allow_sqlite: bool,
    /// Accept a loopback `server.public_base_url` anyway (nobody outside can reach it).
    pub allow_loopback_public_base_url: bool,
}

/// Outbound Billwerk webhooks (outbox worker) and the webhookTarget allow-list.
#[derive(Debug, Clone, Deserialize)]
pub struct WebhooksSection {
    pub allowed_hosts: Vec<String>,
    pub allow_private_targets: bool,
    pub request_timeout_secs: u64,
    pub first_retry_secs: u64,
    pub max_retry_secs: u64,
    pub give_up_after_secs: u64,
    pub batch_size: u32,
    pub lease_secs: u64,
    pub poll_interval_ms: u64,
    pub coalesce_quiet_ms: u64,
    pub coalesce_max_wait_ms: u64,
}

/// The reconciler of unknown PSP outcomes and lapsed checkouts.
#[derive(Debug, Clone, Deserialize)]
pub struct ReconcilerSection {
    pub first_delay_secs: u64,
    pub max_delay_secs: u64,
    pub not_found_grace_secs: u64,
    pub checkout_grace_secs: u64,
    pub poll_interval_secs: u64,
    pub batch_size: u32,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogConfig {
    pub level: String,
    pub format: String,
}

/// A configuration problem, naming the key.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration: {key}: {message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

impl AppConfig {
    /// Loads the layers for `profile` from `config_dir` and the process environment.
    pub fn load(profile: &str, config_dir: &Path) -> Result<Self, ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let profile_file = config_dir.join(format!("{profile}.toml"));
        if profile != "default" && !profile_file.exists() {
            return Err(err(
                "profile",
                format!("no file {}", profile_file.display()),
            ));
        }
        let built = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(File::from(profile_file).required(false))
            .add_source(
                Environment::with_prefix("PSPI")
                    .prefix_separator("__")
                    .separator("__")
                    .try_parsing(true)
                    .list_separator(",")
                    .with_list_parse_key("webhooks.allowed_hosts")
                    .with_list_parse_key("security.previous_master_keys"),
            )
            .build()
            .map_err(|e| err("config", e.to_string()))?;
        let mut cfg: AppConfig = built
            .try_deserialize()
            .map_err(|e| err("config", e.to_string()))?;
        cfg.profile = profile.to_string();
        // `PSPI__SECURITY__PREVIOUS_MASTER_KEYS=` (empty) means none.
        cfg.security
            .previous_master_keys
            .retain(|k| !k.trim().is_empty());
        Ok(cfg)
    }

    /// Checks every key whose value can be wrong in a way that would only show later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.ops_addr()?;
        parse_url("server.public_base_url", &self.server.public_base_url)?;
        parse_url("oppwa.test_base_url", &self.oppwa.test_base_url)?;
        parse_url("oppwa.live_base_url", &self.oppwa.live_base_url)?;
        if self.simulator.enabled {
            parse_addr("simulator.listen", &self.simulator.listen)?;
        }
        self.database.validate()?;
        if self.server.body_limit_bytes < 1024 {
            return Err(err("server.body_limit_bytes", "must be at least 1024"));
        }
        if self.oppwa.timeout_secs == 0 || self.oppwa.connect_timeout_secs == 0 {
            return Err(err(
                "oppwa.timeout_secs",
                "timeouts must be at least 1 second",
            ));
        }
        // A transaction is written with a reconciler deadline before its PSP call; the
        // reconciler must not ask the PSP while the call may still be under way.
        if self.reconciler.first_delay_secs
            <= self.oppwa.timeout_secs + self.oppwa.connect_timeout_secs
        {
            return Err(err(
                "reconciler.first_delay_secs",
                "must be longer than oppwa.timeout_secs + oppwa.connect_timeout_secs",
            ));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(err("log.format", "must be \"pretty\" or \"json\""));
        }
        self.validate_limits()?;
        self.validate_master_key()?;
        self.validate_guard()
    }

    fn validate_limits(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        if l.rate_per_second == 0 {
            return Err(err("limits.rate_per_second", "must be at least 1"));
        }
        if l.burst == 0 {
            return Err(err("limits.burst", "must be at least 1"));
        }
        if l.max_concurrent_requests == 0 {
            return Err(err("limits.max_concurrent_requests", "must be at least 1"));
        }
        let at_least_one = [
            ("limits.request_timeout_secs", l.request_timeout_secs),
            ("limits.body_read_timeout_secs", l.body_read_timeout_secs),
            ("limits.body_min_bytes_per_sec", l.body_min_bytes_per_sec),
            (
                "limits.header_read_timeout_secs",
                l.header_read_timeout_secs,
            ),
            ("limits.idle_timeout_secs", l.idle_timeout_secs),
        ];
        if let Some((key, _)) = at_least_one.iter().find(|(_, v)| *v == 0) {
            return Err(err(key, "must be at least 1"));
        }
        if l.max_connections == 0 {
            return Err(err("limits.max_connections", "must be at least 1"));
        }
        Ok(())
    }

    /// The production profile's refusals, each naming the key that allows it anyway.
    fn validate_guard(&self) -> Result<(), ConfigError> {
        if !self.guard.enabled {
            return Ok(());
        }
        if self.database.url.starts_with("sqlite:") && !self.guard.allow_sqlite {
            return Err(err(
                "database.url",
                "is SQLite, which the production profile refuses (one process, local disk); \
                 set a postgres:// URL (PSPI__DATABASE__URL) or allow it with \
                 guard.allow_sqlite = true (PSPI__GUARD__ALLOW_SQLITE=true)",
            ));
        }
        let public = parse_url("server.public_base_url", &self.server.public_base_url)?;
        let loopback = match public.host() {
            Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
            None => true,
        };
        if loopback && !self.guard.allow_loopback_public_base_url {
            return Err(err(
                "server.public_base_url",
                format!(
                    "is {} (loopback): browsers and the PSP could not reach the checkout and \
                     notification URLs; set the public HTTPS URL (PSPI__SERVER__PUBLIC_BASE_URL) \
                     or allow it with guard.allow_loopback_public_base_url = true",
                    self.server.public_base_url
                ),
            ));
        }
        Ok(())
    }

    fn validate_master_key(&self) -> Result<(), ConfigError> {
        let key = self.security.master_key.trim();
        if key.is_empty() {
            return Err(err(
                "security.master_key",
                "is required (64 hex characters; set PSPI__SECURITY__MASTER_KEY)",
            ));
        }
        if crate::crypto::Sealer::from_hex(key).is_err() {
            return Err(err(
                "security.master_key",
                "must be 64 hex characters (32 bytes)",
            ));
        }
        if crate::crypto::Sealer::with_previous(key, &self.security.previous_master_keys).is_err() {
            return Err(err(
                "security.previous_master_keys",
                "each key must be 64 hex characters (32 bytes)",
            ));
        }
        if self.security.require_master_key && key.eq_ignore_ascii_case(DEV_MASTER_KEY) {
            return Err(err(
                "security.master_key",
                "is the published development key; set a real one (PSPI__SECURITY__MASTER_KEY)",
            ));
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> Result<SocketAddr, ConfigError> {
        parse_addr("server.listen", &self.server.listen)
    }

    /// The operator listener's address, `None` when it is disabled.
    pub fn ops_addr(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if !self.ops.enabled {
            return Ok(None);
        }
        parse_addr("ops.listen", &self.ops.listen).map(Some)
    }

    pub fn public_base_url(&self) -> String {
        self.server
            .public_base_url
            .trim_end_matches('/')
            .to_string()
    }
}

fn parse_addr(key: &str, v: &str) -> Result<SocketAddr, ConfigError> {
    v.parse().map_err(|_| {
        err(
            key,
            format!("'{v}' is not a socket address like 127.0.0.1:8080"),
        )
    })
}

fn parse_url(key: &str, v: &str) -> Result<Url, ConfigError> {
    let u = Url::parse(v).map_err(|_| err(key, format!("'{v}' is not an absolute URL")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(err(key, "must be an http(s) URL"));
    }
    Ok(u)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_valid_and_production_needs_a_key() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let cfg = AppConfig::load("default", &dir).expect("default loads");
        cfg.validate().expect("default validates");
        let prod = AppConfig::load("production", &dir).expect("production loads");
        let e = prod.validate().expect_err("no key in production");
        assert_eq!(e.key, "security.master_key");
        let mut bad = cfg.clone();
        bad.server.listen = "nonsense".into();
        assert!(
            cfg.webhooks
                .allowed_hosts
                .iter()
                .any(|h| h == "*.billwerk.com")
        );
        assert_eq!(bad.validate().expect_err("bad listen").key, "server.listen");
    }

    #[test]
    fn production_guard_refuses_sqlite_and_loopback_naming_the_key() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut prod = AppConfig::load("production", &dir).expect("production loads");
        prod.security.master_key =
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into();
        assert!(prod.guard.enabled);
        let e = prod.validate().expect_err("sqlite refused");
        assert_eq!(e.key, "database.url");
        assert!(e.message.contains("guard.allow_sqlite"), "{e}");
        prod.database.url = "postgres://db.internal/pspi".into();
        let e = prod.validate().expect_err("loopback refused");
        assert_eq!(e.key, "server.public_base_url");
        assert!(
            e.message.contains("guard.allow_loopback_public_base_url"),
            "{e}"
        );
        prod.server.public_base_url = "https://pay.example.com".into();
        prod.validate().expect("a real deployment passes");
        prod.database.url = "sqlite://data/x.db".into();
        prod.guard.allow_sqlite = true;
        prod.validate().expect("explicitly allowed");
        let mut dev = AppConfig::load("default", &dir).expect("default");
        assert!(!dev.guard.enabled);
        let mut limits = dev.clone();
        limits.limits.burst = 0;
        assert_eq!(limits.validate().expect_err("no burst").key, "limits.burst");
        limits.limits.burst = 1;
        limits.limits.request_timeout_secs = 0;
        assert_eq!(
            limits.validate().expect_err("no timeout").key,
            "limits.request_timeout_secs"
        );
        limits.limits.request_timeout_secs = 1;
        limits.limits.idle_timeout_secs = 0;
        assert_eq!(
            limits.validate().expect_err("no idle timeout").key,
            "limits.idle_timeout_secs"
        );
        limits.limits.idle_timeout_secs = 1;
        limits.limits.max_connections = 0;
        assert_eq!(
            limits.validate().expect_err("no connections").key,
            "limits.max_connections"
        );
        dev.security.previous_master_keys = vec!["nothex".into()];
        assert_eq!(
            dev.validate().expect_err("bad previous key").key,
            "security.previous_master_keys"
        );
    }
}
