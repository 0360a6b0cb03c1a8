//! Layered configuration: the embedded `config/default.toml`, then `config/{profile}.toml`, then
//! `PSPI__SECTION__KEY` environment variables, then command-line flags. `validate` names the
//! offending key, so a bad value stops start-up with a clear message.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use url::Url;

const DEFAULT_TOML: &str = include_str!("../config/default.toml");
/// The development master key shipped in `config/default.toml`.
pub const DEV_MASTER_KEY: &str = "6465762d6f6e6c792d6b65792d6e6f742d666f722d70726f64756374696f6e21";

#[derive(Debug, Clone, Deserialize)]
pub struct AppConfig {
    #[serde(skip)]
    pub profile: String,
    /// Old key names found while loading, read under their new names (see [`aliases`]).
    #[serde(skip)]
    pub deprecated: Vec<DeprecatedKey>,
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub security: SecurityConfig,
    /// `[psp.<family>]`: each PSP adapter's hosts and timeouts (read by the families'
    /// registered parsers after the layers are merged).
    #[serde(skip)]
    pub psp: PspSections,
    /// `[sim.<family>]`: each PSP simulator, on its own (`psp-integrator sim <family>`) or built
    /// into `serve`.
    #[serde(skip)]
    pub sim: SimSections,
    pub log: LogConfig,
    pub webhooks: WebhooksSection,
    pub reconciler: ReconcilerSection,
    pub limits: LimitsSection,
    pub guard: GuardSection,
    pub ops: OpsSection,
    /// The operator console on the operator listener (README: "Operator console").
    #[serde(default)]
    pub console: ConsoleSection,
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
    /// Sign-in attempts allowed per operator name per minute (ten times that per listener).
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

/// What start-up needs of any `[psp.<family>]` section, whatever its other keys. Each family
/// declares its own section type in its module and registers it (`psp::Family`).
pub trait PspSection: SectionAny + ClonePspSection + std::fmt::Debug + Send + Sync {
    /// The section's base URL keys and their values (each must be an http(s) URL).
    fn base_urls(&self) -> Vec<(&'static str, &str)>;
    /// The base URL under `key` (one of [`PspSection::base_urls`]), to point it elsewhere (at a
    /// built-in simulator).
    fn base_url_mut(&mut self, key: &str) -> Option<&mut String>;
    /// `timeout_secs`: seconds to wait for the PSP's answer to one call.
    fn timeout_secs(&self) -> u64;
    /// `connect_timeout_secs`: seconds to wait for a connection to the PSP.
    fn connect_timeout_secs(&self) -> u64;
}

/// What start-up needs of any `[sim.<family>]` section. Each simulator declares its own
/// section type in its module and registers it (`sim::Registration`).
pub trait SimSection: SectionAny + CloneSimSection + std::fmt::Debug + Send + Sync {
    /// `enabled`: `serve` runs this simulator inside itself.
    fn enabled(&self) -> bool;
    /// `listen`: the address it binds to.
    fn listen(&self) -> &str;
    /// Turns `enabled` on or off (`serve --no-simulator`, the demo, tests).
    fn set_enabled(&mut self, on: bool);
    /// Replaces `listen` (`sim <family> --listen`).
    fn set_listen(&mut self, listen: String);
}

/// A section as `Any`, so its family's code can get its own type back.
pub trait SectionAny: std::any::Any {
    fn as_any(&self) -> &dyn std::any::Any;
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any;
}

impl<T: std::any::Any> SectionAny for T {
    fn as_any(&self) -> &dyn std::any::Any {
        self
    }
    fn as_any_mut(&mut self) -> &mut dyn std::any::Any {
        self
    }
}

/// Cloning a boxed [`PspSection`] (every `Clone` section has it).
pub trait ClonePspSection {
    fn clone_box(&self) -> Box<dyn PspSection>;
}

impl<T: PspSection + Clone> ClonePspSection for T {
    fn clone_box(&self) -> Box<dyn PspSection> {
        Box::new(self.clone())
    }
}

/// Cloning a boxed [`SimSection`] (every `Clone` section has it).
pub trait CloneSimSection {
    fn clone_box(&self) -> Box<dyn SimSection>;
}

impl<T: SimSection + Clone> CloneSimSection for T {
    fn clone_box(&self) -> Box<dyn SimSection> {
        Box::new(self.clone())
    }
}

/// Reads one family's section from its layered value (`None`: the section is absent, read as an
/// empty table so that its defaults apply). The error's key is relative to the section.
pub type SectionParser<S> = fn(Option<config::Value>) -> Result<Box<S>, config::ConfigError>;

/// The [`SectionParser`] of a `[psp.<family>]` section type (serde, with its defaults).
pub fn psp_section<T: PspSection + serde::de::DeserializeOwned>(
    raw: Option<config::Value>,
) -> Result<Box<dyn PspSection>, config::ConfigError> {
    Ok(Box::new(read_section::<T>(raw)?))
}

/// The [`SectionParser`] of a `[sim.<family>]` section type (serde, with its defaults).
pub fn sim_section<T: SimSection + serde::de::DeserializeOwned>(
    raw: Option<config::Value>,
) -> Result<Box<dyn SimSection>, config::ConfigError> {
    Ok(Box::new(read_section::<T>(raw)?))
}

fn read_section<T: serde::de::DeserializeOwned>(
    raw: Option<config::Value>,
) -> Result<T, config::ConfigError> {
    raw.unwrap_or_else(|| config::Value::new(None, config::Map::<String, config::Value>::new()))
        .try_deserialize()
}

/// One table of family sections (`[psp.*]` or `[sim.*]`), in registration order.
#[derive(Debug)]
pub struct Sections<S: ?Sized>(Vec<(&'static str, Box<S>)>);

impl<S: ?Sized> Default for Sections<S> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl Clone for Sections<dyn PspSection> {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|(f, s)| (*f, s.clone_box())).collect())
    }
}

impl Clone for Sections<dyn SimSection> {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|(f, s)| (*f, s.clone_box())).collect())
    }
}

impl<S: ?Sized + SectionAny> Sections<S> {
    /// Reads `[table.<family>]` for every registered family; a section of a family this build
    /// does not have is refused, naming it.
    fn read(
        built: &config::Config,
        table: &str,
        registered: &[(&'static str, SectionParser<S>)],
    ) -> Result<Self, ConfigError> {
        let mut raw = match built.get_table(table) {
            Ok(t) => t,
            Err(config::ConfigError::NotFound(_)) => config::Map::new(),
            Err(e) => return Err(from_config_error(e)),
        };
        let names = || {
            registered
                .iter()
                .map(|(f, _)| *f)
                .collect::<Vec<_>>()
                .join(", ")
        };
        if let Some(unknown) = raw.keys().find(|k| !registered.iter().any(|(f, _)| f == k)) {
            return Err(err(
                &format!("{table}.{unknown}"),
                format!("no such family in this build (it has: {})", names()),
            ));
        }
        let mut out = Vec::new();
        for (family, parse) in registered {
            let section =
                parse(raw.remove(*family)).map_err(|e| under(&format!("{table}.{family}"), e))?;
            out.push((*family, section));
        }
        Ok(Self(out))
    }

    /// Every section, by family name.
    pub fn families(&self) -> Vec<(&'static str, &S)> {
        self.0.iter().map(|(f, s)| (*f, s.as_ref())).collect()
    }

    /// The same, to change.
    pub fn families_mut(&mut self) -> Vec<(&'static str, &mut S)> {
        self.0.iter_mut().map(|(f, s)| (*f, s.as_mut())).collect()
    }

    /// The section of `family`, if the build has that family.
    pub fn get(&self, family: &str) -> Option<&S> {
        self.0
            .iter()
            .find(|(f, _)| *f == family)
            .map(|(_, s)| s.as_ref())
    }

    /// The same, to change.
    pub fn get_mut(&mut self, family: &str) -> Option<&mut S> {
        self.0
            .iter_mut()
            .find(|(f, _)| *f == family)
            .map(|(_, s)| s.as_mut())
    }

    /// The section of type `T` (a family's own section type), for its family's code and tests.
    pub fn of<T: 'static>(&self) -> Option<&T> {
        // Through the box: a `Box<S>` is itself `Any`.
        self.0
            .iter()
            .find_map(|(_, s)| (**s).as_any().downcast_ref())
    }

    /// The same, to change.
    pub fn of_mut<T: 'static>(&mut self) -> Option<&mut T> {
        self.0
            .iter_mut()
            .find_map(|(_, s)| (**s).as_any_mut().downcast_mut())
    }
}

/// `[psp.<family>]`: each PSP adapter's hosts and timeouts, typed by its family (an unknown
/// family or key, or a value of the wrong type, stops start-up naming the key). Adding a family:
/// its section type in its module and one line in `startup::psp_families`.
pub type PspSections = Sections<dyn PspSection>;

impl PspSections {
    /// The base URL `psp.<family>.<key>`; `None` when that family or key is not configured.
    pub fn base_url_mut(&mut self, family: &str, key: &str) -> Option<&mut String> {
        self.get_mut(family).and_then(|s| s.base_url_mut(key))
    }
}

/// `[sim.<family>]`: each simulator's section (`startup::simulators` holds their code).
pub type SimSections = Sections<dyn SimSection>;

impl SimSections {
    /// Whether `[sim.<family>]` enables the simulator inside `serve`.
    pub fn enabled(&self, family: &str) -> bool {
        self.get(family).is_some_and(|s| s.enabled())
    }

    /// Turns every built-in simulator off (`serve --no-simulator`).
    pub fn disable_all(&mut self) {
        for (_, s) in self.families_mut() {
            s.set_enabled(false);
        }
    }
}

/// A section's error, its key put under `prefix` (`psp.<family>`).
fn under(prefix: &str, e: config::ConfigError) -> ConfigError {
    let e = from_config_error(e);
    let key = if e.key == "config" {
        // serde's "unknown field `x`" / "missing field `x`" name the key in the message.
        let field = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|p| e.message.split(p).nth(1))
            .and_then(|r| r.split('`').next());
        match field {
            Some(f) => format!("{prefix}.{f}"),
            None => prefix.to_string(),
        }
    } else {
        format!("{prefix}.{}", e.key)
    };
    ConfigError {
        key,
        message: e.message,
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

/// Keys renamed when each PSP family got sections of its own, as `(old, new)` top-level
/// prefixes, from the families' registrations (`psp::Family::aliases`,
/// `sim::Registration::aliases`). An old name is still read, as its new name (a new name given in
/// the same layer wins), and the commands warn once at start ([`AppConfig::deprecation_warning`]).
pub fn aliases() -> Vec<(&'static str, &'static str)> {
    let psp = crate::startup::psp_families()
        .into_iter()
        .flat_map(|f| f.aliases);
    let sim = crate::startup::simulators()
        .into_iter()
        .flat_map(|r| r.aliases);
    psp.chain(sim).copied().collect()
}

const ENVIRONMENT: &str = "the environment";

/// An old key name met while loading ([`aliases`]).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct DeprecatedKey {
    /// Where it was: a profile file's path or "the environment".
    pub source: String,
    /// The old key (a whole table's name when it comes from a file).
    pub old: String,
    /// The key it is read as.
    pub new: String,
}

impl DeprecatedKey {
    /// `PSPI__OLD__KEY (the environment) is now PSPI__NEW__KEY`, or
    /// `[old] (config/x.toml) is now [new]`.
    pub fn describe(&self) -> String {
        if self.source == ENVIRONMENT {
            let var = |k: &str| format!("PSPI__{}", k.replace('.', "__").to_uppercase());
            format!(
                "{} ({}) is now {}",
                var(&self.old),
                self.source,
                var(&self.new)
            )
        } else {
            format!("[{}] ({}) is now [{}]", self.old, self.source, self.new)
        }
    }
}

/// A configuration layer whose old key names ([`aliases`]) are renamed to the new ones.
#[derive(Debug, Clone)]
struct Aliased<S> {
    inner: S,
    aliases: Arc<Vec<(&'static str, &'static str)>>,
    source: String,
    seen: Arc<Mutex<BTreeSet<DeprecatedKey>>>,
}

impl<S: config::Source + Clone + Send + Sync + 'static> config::Source for Aliased<S> {
    fn clone_into_box(&self) -> Box<dyn config::Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<config::Map<String, config::Value>, config::ConfigError> {
        let mut out = config::Map::new();
        let mut renamed = Vec::new();
        for (key, value) in self.inner.collect()? {
            let new = self.aliases.iter().find_map(|(old, new)| {
                let rest = key.strip_prefix(old)?;
                (rest.is_empty() || rest.starts_with('.')).then(|| format!("{new}{rest}"))
            });
            match new {
                Some(new) => renamed.push((key, new, value)),
                None => {
                    out.insert(key, value);
                }
            }
        }
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        for (old, new, value) in renamed {
            seen.insert(DeprecatedKey {
                source: self.source.clone(),
                old,
                new: new.clone(),
            });
            out.entry(new).or_insert(value);
        }
        Ok(out)
    }
}

/// The `config` crate's error, under the key it names (`config` when it names none).
fn from_config_error(e: config::ConfigError) -> ConfigError {
    use config::ConfigError as E;
    match e {
        E::Type {
            origin,
            unexpected,
            expected,
            key: Some(key),
        } => err(
            &key,
            format!(
                "invalid type: {unexpected}, expected {expected}{}",
                origin.map(|o| format!(" (in {o})")).unwrap_or_default()
            ),
        ),
        E::At {
            error,
            origin,
            key: Some(key),
        } => {
            let message = error.to_string();
            // serde's "unknown field `x`, expected ..." is about `key.x`.
            let unknown = message
                .strip_prefix("unknown field `")
                .and_then(|r| r.split('`').next());
            let key = match unknown {
                Some(field) => format!("{key}.{field}"),
                None => key,
            };
            err(
                &key,
                format!(
                    "{message}{}",
                    origin.map(|o| format!(" (in {o})")).unwrap_or_default()
                ),
            )
        }
        E::NotFound(key) => err(&key, "is missing"),
        other => err("config", other.to_string()),
    }
}

impl AppConfig {
    /// Loads the layers for `profile` from `config_dir` and the process environment. Old key
    /// names ([`aliases`]) are read under their new names and listed in `deprecated`.
    pub fn load(profile: &str, config_dir: &Path) -> Result<Self, ConfigError> {
        Self::load_with_env(profile, config_dir, None)
    }

    /// [`AppConfig::load`] with `env` (variable name to value) in place of the process
    /// environment when given (tests).
    pub fn load_with_env(
        profile: &str,
        config_dir: &Path,
        env: Option<std::collections::HashMap<String, String>>,
    ) -> Result<Self, ConfigError> {
        use config::{Config, Environment, File, FileFormat};
        let profile_file = config_dir.join(format!("{profile}.toml"));
        if profile != "default" && !profile_file.exists() {
            return Err(err(
                "profile",
                format!("no file {}", profile_file.display()),
            ));
        }
        let seen = Arc::new(Mutex::new(BTreeSet::new()));
        let aliases = Arc::new(aliases());
        let env = Environment::with_prefix("PSPI")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true)
            .list_separator(",")
            .with_list_parse_key("webhooks.allowed_hosts")
            .with_list_parse_key("security.previous_master_keys")
            .source(env.map(|m| m.into_iter().collect()));
        let built = Config::builder()
            .add_source(File::from_str(DEFAULT_TOML, FileFormat::Toml))
            .add_source(Aliased {
                source: profile_file.display().to_string(),
                inner: File::from(profile_file).required(false),
                aliases: aliases.clone(),
                seen: seen.clone(),
            })
            .add_source(Aliased {
                source: ENVIRONMENT.into(),
                inner: env,
                aliases,
                seen: seen.clone(),
            })
            .build()
            .map_err(from_config_error)?;
        let psp_parsers: Vec<_> = crate::startup::psp_families()
            .into_iter()
            .map(|f| (f.name, f.section))
            .collect();
        let sim_parsers: Vec<_> = crate::startup::simulators()
            .into_iter()
            .map(|r| (r.family, r.section))
            .collect();
        let psp = PspSections::read(&built, "psp", &psp_parsers)?;
        let sim = SimSections::read(&built, "sim", &sim_parsers)?;
        let mut cfg: AppConfig = built.try_deserialize().map_err(from_config_error)?;
        cfg.psp = psp;
        cfg.sim = sim;
        cfg.profile = profile.to_string();
        cfg.deprecated = seen
            .lock()
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default();
        // `PSPI__SECURITY__PREVIOUS_MASTER_KEYS=` (empty) means none.
        cfg.security
            .previous_master_keys
            .retain(|k| !k.trim().is_empty());
        Ok(cfg)
    }

    /// One line naming every old key found and its new name; `None` when there are none.
    /// Commands print it once at start.
    pub fn deprecation_warning(&self) -> Option<String> {
        if self.deprecated.is_empty() {
            return None;
        }
        let each: Vec<String> = self
            .deprecated
            .iter()
            .map(DeprecatedKey::describe)
            .collect();
        Some(format!(
            "deprecated configuration names, still read for now: {}",
            each.join("; ")
        ))
    }

    /// Checks every key whose value can be wrong in a way that would only show later.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.listen_addr()?;
        self.ops_addr()?;
        parse_url("server.public_base_url", &self.server.public_base_url)?;
        self.validate_families()?;
        self.database.validate()?;
        if self.server.body_limit_bytes < 1024 {
            return Err(err("server.body_limit_bytes", "must be at least 1024"));
        }
        if !matches!(self.log.format.as_str(), "pretty" | "json") {
            return Err(err("log.format", "must be \"pretty\" or \"json\""));
        }
        self.validate_limits()?;
        self.validate_master_key()?;
        self.validate_guard()
    }

    /// `[psp.<family>]` and `[sim.<family>]`, for every family.
    fn validate_families(&self) -> Result<(), ConfigError> {
        for (family, psp) in self.psp.families() {
            for (key, url) in psp.base_urls() {
                parse_url(&format!("psp.{family}.{key}"), url)?;
            }
            let (timeout, connect) = (psp.timeout_secs(), psp.connect_timeout_secs());
            if timeout == 0 {
                return Err(err(
                    &format!("psp.{family}.timeout_secs"),
                    "must be at least 1 second",
                ));
            }
            if connect == 0 {
                return Err(err(
                    &format!("psp.{family}.connect_timeout_secs"),
                    "must be at least 1 second",
                ));
            }
            // A transaction is written with a reconciler deadline before its PSP call; the
            // reconciler must not ask the PSP while the call may still be under way.
            if self.reconciler.first_delay_secs <= timeout + connect {
                return Err(err(
                    "reconciler.first_delay_secs",
                    format!(
                        "must be longer than psp.{family}.timeout_secs + \
                         psp.{family}.connect_timeout_secs ({} s)",
                        timeout + connect
                    ),
                ));
            }
        }
        for (family, sim) in self.sim.families() {
            if sim.enabled() {
                parse_addr(&format!("sim.{family}.listen"), sim.listen())?;
            }
        }
        Ok(())
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
        if let Some((family, _)) = self.sim.families().into_iter().find(|(_, s)| s.enabled()) {
            return Err(err(
                &format!("sim.{family}.enabled"),
                format!(
                    "is true, which the production profile refuses (a simulator approves \
                     payments that move no money); set sim.{family}.enabled = false \
                     (PSPI__SIM__{}__ENABLED=false) or start with serve --no-simulator",
                    family.to_uppercase()
                ),
            ));
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
    use crate::psp::oppwa::OppwaPspSection;
    use crate::sim::mollie::MollieSimSection;
    use crate::sim::oppwa::OppwaSimSection;

    fn psp_oppwa(c: &AppConfig) -> &OppwaPspSection {
        c.psp.of().expect("[psp.oppwa]")
    }
    fn psp_oppwa_mut(c: &mut AppConfig) -> &mut OppwaPspSection {
        c.psp.of_mut().expect("[psp.oppwa]")
    }
    fn sim_oppwa(c: &AppConfig) -> &OppwaSimSection {
        c.sim.of().expect("[sim.oppwa]")
    }
    fn sim_oppwa_mut(c: &mut AppConfig) -> &mut OppwaSimSection {
        c.sim.of_mut().expect("[sim.oppwa]")
    }
    fn sim_mollie(c: &AppConfig) -> &MollieSimSection {
        c.sim.of().expect("[sim.mollie]")
    }
    fn sim_mollie_mut(c: &mut AppConfig) -> &mut MollieSimSection {
        c.sim.of_mut().expect("[sim.mollie]")
    }

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

    /// Loads `profile`, whose file holds `toml`, with exactly the variables `env`.
    fn load_profile(toml: &str, env: &[(&str, &str)]) -> Result<AppConfig, ConfigError> {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("site.toml"), toml).expect("write profile");
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        AppConfig::load_with_env("site", dir.path(), Some(env))
    }

    #[test]
    fn family_sections_parse_and_the_environment_overrides_them() {
        let cfg = load_profile(
            "[psp.oppwa]\ntimeout_secs = 12\n[sim.oppwa]\nenabled = false\n\
             [sim.mollie]\nenabled = true\nlisten = \"127.0.0.1:0\"\n",
            &[
                ("PSPI__PSP__OPPWA__TIMEOUT_SECS", "7"),
                ("PSPI__PSP__OPPWA__LIVE_BASE_URL", "https://live.example"),
                ("PSPI__SIM__OPPWA__AUTO_DELIVER", "false"),
            ],
        )
        .expect("loads");
        assert_eq!(psp_oppwa(&cfg).timeout_secs, 7, "the environment wins");
        assert_eq!(psp_oppwa(&cfg).connect_timeout_secs, 5, "the default stays");
        assert_eq!(psp_oppwa(&cfg).live_base_url, "https://live.example");
        assert!(!sim_oppwa(&cfg).enabled && !sim_oppwa(&cfg).auto_deliver);
        assert!(sim_mollie(&cfg).enabled && sim_mollie(&cfg).open_keys);
        assert!(cfg.sim.enabled("mollie") && !cfg.sim.enabled("oppwa"));
        assert!(cfg.deprecated.is_empty() && cfg.deprecation_warning().is_none());
        cfg.validate().expect("valid");
        let mut off = cfg.clone();
        off.sim.disable_all();
        assert!(off.sim.families().iter().all(|(_, s)| !s.enabled()));
        let mut url = cfg.clone();
        *url.psp.base_url_mut("oppwa", "test_base_url").expect("key") = "http://sim".into();
        assert_eq!(psp_oppwa(&url).test_base_url, "http://sim");
        assert!(url.psp.base_url_mut("oppwa", "brands").is_none());
        assert!(url.psp.base_url_mut("nope", "test_base_url").is_none());
    }

    #[test]
    fn old_names_are_read_as_the_new_ones_and_listed_once() {
        let cfg = load_profile(
            "[oppwa]\ntest_base_url = \"https://eu-test.example\"\ntimeout_secs = 9\n\
             [simulator]\nenabled = false\n",
            &[
                ("PSPI__OPPWA__CONNECT_TIMEOUT_SECS", "3"),
                ("PSPI__SIMULATOR__LISTEN", "127.0.0.1:0"),
            ],
        )
        .expect("loads");
        assert_eq!(psp_oppwa(&cfg).test_base_url, "https://eu-test.example");
        assert_eq!(psp_oppwa(&cfg).timeout_secs, 9);
        assert_eq!(psp_oppwa(&cfg).connect_timeout_secs, 3);
        assert_eq!(psp_oppwa(&cfg).brands, "VISA MASTER AMEX", "defaults kept");
        assert!(!sim_oppwa(&cfg).enabled);
        assert_eq!(sim_oppwa(&cfg).listen, "127.0.0.1:0");
        assert!(sim_oppwa(&cfg).auto_deliver, "defaults kept");
        let olds: Vec<&str> = cfg.deprecated.iter().map(|d| d.old.as_str()).collect();
        assert_eq!(olds.len(), 4, "{olds:?}");
        let w = cfg.deprecation_warning().expect("a warning");
        for named in [
            "[oppwa]",
            "is now [psp.oppwa]",
            "[simulator]",
            "is now [sim.oppwa]",
            "PSPI__OPPWA__CONNECT_TIMEOUT_SECS (the environment) is now \
             PSPI__PSP__OPPWA__CONNECT_TIMEOUT_SECS",
            "PSPI__SIMULATOR__LISTEN (the environment) is now PSPI__SIM__OPPWA__LISTEN",
        ] {
            assert!(w.contains(named), "{named} in {w}");
        }
        assert_eq!(w.lines().count(), 1, "one line: {w}");
        // Only whole leading segments are renamed.
        let cfg = load_profile("", &[("PSPI__SIMULATORS__X", "1")]).expect("loads");
        assert!(cfg.deprecated.is_empty());
    }

    #[test]
    fn a_new_name_wins_over_its_old_name_in_the_same_layer() {
        let cfg = load_profile(
            "",
            &[
                ("PSPI__OPPWA__TIMEOUT_SECS", "9"),
                ("PSPI__PSP__OPPWA__TIMEOUT_SECS", "8"),
            ],
        )
        .expect("loads");
        assert_eq!(psp_oppwa(&cfg).timeout_secs, 8);
        // A later layer's old name still overrides an earlier layer's new name.
        let cfg = load_profile(
            "[psp.oppwa]\ntimeout_secs = 8\n",
            &[("PSPI__OPPWA__TIMEOUT_SECS", "9")],
        )
        .expect("loads");
        assert_eq!(psp_oppwa(&cfg).timeout_secs, 9);
    }

    #[test]
    fn unknown_families_keys_and_wrong_types_name_the_key() {
        let key_of =
            |toml: &str, env: &[(&str, &str)]| load_profile(toml, env).expect_err("refused").key;
        assert_eq!(
            key_of("[psp.oppwa]\ntimeout = 3\n", &[]),
            "psp.oppwa.timeout"
        );
        assert_eq!(key_of("[sim.molly]\nenabled = true\n", &[]), "sim.molly");
        assert_eq!(key_of("[psp.adyen]\nx = 1\n", &[]), "psp.adyen");
        assert_eq!(
            key_of("", &[("PSPI__PSP__OPPWA__TIMEOUT_SECS", "soon")]),
            "psp.oppwa.timeout_secs"
        );
        assert_eq!(
            key_of("", &[("PSPI__SIM__MOLLIE__ENABLED", "maybe")]),
            "sim.mollie.enabled"
        );
        assert_eq!(
            key_of("[oppwa]\ntimeout_secs = \"x\"\n", &[]),
            "psp.oppwa.timeout_secs",
            "an old name's error names the new key"
        );
        let e = load_profile("[sim.oppwa]\nenabled = \"perhaps\"\n", &[]).expect_err("refused");
        assert_eq!(e.key, "sim.oppwa.enabled");
        assert!(e.to_string().contains("site.toml"), "names the file: {e}");
    }

    #[test]
    fn every_family_is_validated_naming_its_keys() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let cfg = AppConfig::load("default", &dir).expect("default loads");
        let key = |f: &dyn Fn(&mut AppConfig)| {
            let mut c = cfg.clone();
            f(&mut c);
            c.validate().expect_err("refused")
        };
        assert_eq!(
            key(&|c| psp_oppwa_mut(c).live_base_url = "ftp://x".into()).key,
            "psp.oppwa.live_base_url"
        );
        assert_eq!(
            key(&|c| psp_oppwa_mut(c).test_base_url = "nowhere".into()).key,
            "psp.oppwa.test_base_url"
        );
        assert_eq!(
            key(&|c| psp_oppwa_mut(c).timeout_secs = 0).key,
            "psp.oppwa.timeout_secs"
        );
        assert_eq!(
            key(&|c| psp_oppwa_mut(c).connect_timeout_secs = 0).key,
            "psp.oppwa.connect_timeout_secs"
        );
        let e = key(&|c| c.reconciler.first_delay_secs = 35);
        assert_eq!(e.key, "reconciler.first_delay_secs");
        assert!(
            e.message.contains("psp.oppwa.timeout_secs")
                && e.message.contains("psp.oppwa.connect_timeout_secs"),
            "{e}"
        );
        let mut ok = cfg.clone();
        ok.reconciler.first_delay_secs = 36;
        ok.validate().expect("above the call's 35 s");
        assert_eq!(
            key(&|c| sim_oppwa_mut(c).listen = "here".into()).key,
            "sim.oppwa.listen"
        );
        assert_eq!(
            key(&|c| {
                sim_mollie_mut(c).enabled = true;
                sim_mollie_mut(c).listen = "there".into();
            })
            .key,
            "sim.mollie.listen"
        );
        let mut off = cfg.clone();
        sim_mollie_mut(&mut off).listen = "there".into();
        off.validate()
            .expect("a disabled simulator's address is not used");
    }

    #[test]
    fn the_production_guard_refuses_every_built_in_simulator() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
        let mut prod = AppConfig::load("production", &dir).expect("production loads");
        prod.security.master_key =
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff".into();
        prod.database.url = "postgres://db.internal/pspi".into();
        prod.server.public_base_url = "https://pay.example.com".into();
        prod.validate().expect("no simulator in production");
        assert_eq!(psp_oppwa(&prod).test_base_url, "https://eu-test.oppwa.com");
        for family in ["oppwa", "mollie"] {
            let mut p = prod.clone();
            p.sim.get_mut(family).expect("section").set_enabled(true);
            let e = p.validate().expect_err("refused");
            assert_eq!(e.key, format!("sim.{family}.enabled"));
            assert!(e.message.contains("--no-simulator"), "{e}");
            p.sim.disable_all();
            p.validate().expect("serve --no-simulator passes");
        }
    }
}
