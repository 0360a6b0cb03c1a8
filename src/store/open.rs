//! Opening the configured database the way every command does: the connection URL with the
//! `[database]` TLS settings applied, then the schema brought to (or checked against) this
//! build's migrations.

use std::sync::Arc;

use url::Url;

use super::{SchemaStatus, Store, StoreError, StoreResult};
use crate::config::{ConfigError, DatabaseConfig};

/// The `sslmode` values Postgres (libpq) and sqlx accept, weakest first.
pub const SSL_MODES: &[&str] = &[
    "disable",
    "allow",
    "prefer",
    "require",
    "verify-ca",
    "verify-full",
];

/// What opening does to the schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaAction {
    /// Apply this build's pending migrations (`migrate`, and every command while
    /// `database.migrate_on_start` is true).
    Migrate,
    /// Only check: refuse a database that lacks one of this build's migrations.
    Check,
}

impl SchemaAction {
    /// `Migrate` when `database.migrate_on_start` is true, else `Check`.
    pub fn configured(db: &DatabaseConfig) -> Self {
        if db.migrate_on_start {
            Self::Migrate
        } else {
            Self::Check
        }
    }
}

/// Connects to the configured database and prepares its schema. Newer migrations this build
/// does not know are logged at `warn` (readiness reports them too); one marked incompatible,
/// or (with `Check`) a missing one of this build's, is refused with what to do.
pub async fn open(db: &DatabaseConfig, action: SchemaAction) -> StoreResult<Arc<dyn Store>> {
    let url = db
        .connect_url()
        .map_err(|e| StoreError::Db(sqlx::Error::Configuration(e.to_string().into())))?;
    if let Some(warning) = db.tls_warning() {
        tracing::warn!("{warning}");
    }
    let store = super::connect(&url, db.max_connections).await?;
    let status = match action {
        SchemaAction::Migrate => store.migrate().await?,
        SchemaAction::Check => check(store.as_ref()).await?,
    };
    if !status.newer.is_empty() {
        let list: Vec<String> = status.newer.iter().map(ToString::to_string).collect();
        tracing::warn!(
            migrations = %list.join(", "),
            "the database carries migrations this build does not know (a newer release applied \
             them); running against the newer schema"
        );
    }
    Ok(store)
}

async fn check(store: &dyn Store) -> StoreResult<SchemaStatus> {
    let status = store.schema_status().await?;
    if let Some(why) = status.refusal() {
        return Err(StoreError::Schema(why));
    }
    if !status.pending.is_empty() {
        return Err(StoreError::Schema(format!(
            "{} migration(s) of this build are not applied (versions {:?}) and \
             database.migrate_on_start is false: run `psp-integrator migrate` first",
            status.pending.len(),
            status.pending
        )));
    }
    Ok(status)
}

impl DatabaseConfig {
    /// Checks the `[database]` keys, naming the one at fault.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let url = &self.url;
        let postgres = url.starts_with("postgres:") || url.starts_with("postgresql:");
        if !(postgres || url.starts_with("sqlite:")) {
            return Err(err(
                "database.url",
                "must start with sqlite:, postgres: or postgresql:",
            ));
        }
        if self.max_connections == 0 {
            return Err(err("database.max_connections", "must be at least 1"));
        }
        let mode = self.ssl_mode.trim();
        if !mode.is_empty() && !SSL_MODES.contains(&mode) {
            return Err(err(
                "database.ssl_mode",
                format!("must be one of {}", SSL_MODES.join(", ")),
            ));
        }
        let cert = self.ssl_root_cert.trim();
        let tls_set = !mode.is_empty() || !cert.is_empty();
        if tls_set && !postgres {
            return Err(err(
                "database.ssl_mode",
                "ssl_mode and ssl_root_cert apply to Postgres only (database.url is SQLite)",
            ));
        }
        if !cert.is_empty() && !std::path::Path::new(cert).is_file() {
            return Err(err(
                "database.ssl_root_cert",
                format!("no such file: {cert}"),
            ));
        }
        Ok(())
    }

    /// The URL to connect with: `database.url` with `database.ssl_mode` and
    /// `database.ssl_root_cert`, when set, replacing the URL's own `sslmode` / `sslrootcert`.
    pub fn connect_url(&self) -> Result<String, ConfigError> {
        let mode = self.ssl_mode.trim();
        let cert = self.ssl_root_cert.trim();
        if mode.is_empty() && cert.is_empty() {
            return Ok(self.url.clone());
        }
        let mut url = Url::parse(&self.url)
            .map_err(|e| err("database.url", format!("not a valid URL: {e}")))?;
        let replaced: &[&str] = match (mode.is_empty(), cert.is_empty()) {
            (false, false) => &[
                "sslmode",
                "ssl-mode",
                "sslrootcert",
                "ssl-root-cert",
                "ssl-ca",
            ],
            (false, true) => &["sslmode", "ssl-mode"],
            _ => &["sslrootcert", "ssl-root-cert", "ssl-ca"],
        };
        let kept: Vec<(String, String)> = url
            .query_pairs()
            .filter(|(k, _)| !replaced.contains(&k.as_ref()))
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        {
            let mut q = url.query_pairs_mut();
            q.clear().extend_pairs(kept);
            if !mode.is_empty() {
                q.append_pair("sslmode", mode);
            }
            if !cert.is_empty() {
                q.append_pair("sslrootcert", cert);
            }
        }
        Ok(url.to_string())
    }

    /// The `sslmode` the connection uses: the setting, else the URL's, else `prefer` (the
    /// default of Postgres clients: TLS when the server offers it, unverified).
    pub fn effective_ssl_mode(&self) -> String {
        let Ok(url) = Url::parse(&self.connect_url().unwrap_or_default()) else {
            return "prefer".into();
        };
        url.query_pairs()
            .find(|(k, _)| k == "sslmode" || k == "ssl-mode")
            .map_or_else(|| "prefer".into(), |(_, v)| v.into_owned())
    }

    /// A warning when a Postgres connection to another machine is not verified against a CA
    /// (anyone on the path could read or alter it), naming the setting that fixes it.
    pub fn tls_warning(&self) -> Option<String> {
        let url = Url::parse(&self.url).ok()?;
        if !matches!(url.scheme(), "postgres" | "postgresql") {
            return None;
        }
        let local = match url.host() {
            None => true,
            // Hosts of non-special schemes such as postgres: stay opaque strings.
            Some(url::Host::Domain(d)) => {
                d.eq_ignore_ascii_case("localhost")
                    || d.parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        };
        let mode = self.effective_ssl_mode();
        if local || matches!(mode.as_str(), "verify-ca" | "verify-full") {
            return None;
        }
        Some(format!(
            "the database connection is not verified (sslmode={mode}): set database.ssl_mode = \
             \"verify-full\" (and database.ssl_root_cert to the server's CA certificate)"
        ))
    }
}

fn err(key: &str, message: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db(url: &str, mode: &str, cert: &str) -> DatabaseConfig {
        DatabaseConfig {
            url: url.into(),
            max_connections: 5,
            ssl_mode: mode.into(),
            ssl_root_cert: cert.into(),
            migrate_on_start: true,
            write_retry_secs: 10,
        }
    }

    #[test]
    fn settings_replace_the_urls_tls_parameters_and_keep_the_rest() {
        let plain = db("postgres://u:p@db.internal/pspi?sslmode=require", "", "");
        assert_eq!(plain.connect_url().expect("url"), plain.url);
        assert_eq!(plain.effective_ssl_mode(), "require");
        let set = db(
            "postgres://u:p@db.internal/pspi?sslmode=disable&application_name=x&sslrootcert=/a",
            "verify-full",
            "/etc/ssl/db-ca.pem",
        );
        let url = set.connect_url().expect("url");
        assert_eq!(
            url,
            "postgres://u:p@db.internal/pspi?application_name=x&sslmode=verify-full\
             &sslrootcert=%2Fetc%2Fssl%2Fdb-ca.pem"
        );
        assert_eq!(set.effective_ssl_mode(), "verify-full");
        let mode_only = db(
            "postgres://db.internal/pspi?sslrootcert=/a",
            "verify-ca",
            "",
        );
        let url = mode_only.connect_url().expect("url");
        assert!(url.contains("sslrootcert=%2Fa") && url.ends_with("sslmode=verify-ca"));
    }

    #[test]
    fn validation_names_the_key() {
        let bad_mode = db("postgres://db/pspi", "verify", "");
        assert_eq!(
            bad_mode.validate().expect_err("mode").key,
            "database.ssl_mode"
        );
        let missing = db("postgres://db/pspi", "verify-full", "/nonexistent/ca.pem");
        let e = missing.validate().expect_err("file");
        assert_eq!(e.key, "database.ssl_root_cert");
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");
        let sqlite = db("sqlite://data/x.db", "require", "");
        assert_eq!(
            sqlite.validate().expect_err("sqlite").key,
            "database.ssl_mode"
        );
        db("postgres://db/pspi", "verify-full", "")
            .validate()
            .expect("valid");
        db("sqlite://data/x.db", "", "").validate().expect("valid");
    }

    #[test]
    fn an_unverified_remote_connection_is_warned_about() {
        assert!(
            db("postgres://db.internal/pspi", "", "")
                .tls_warning()
                .is_some()
        );
        assert!(
            db("postgres://db.internal/pspi?sslmode=require", "", "")
                .tls_warning()
                .is_some_and(|w| w.contains("sslmode=require"))
        );
        assert_eq!(
            db("postgres://db.internal/pspi", "verify-full", "").tls_warning(),
            None
        );
        assert_eq!(db("postgres://127.0.0.1/pspi", "", "").tls_warning(), None);
        assert_eq!(db("sqlite://data/x.db", "", "").tls_warning(), None);
    }
}
