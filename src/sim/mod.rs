//! Simulators of payment service providers, for tests, demos and sandboxes.
//!
//! Each family's simulator registers itself with a [`Registration`]; `startup::simulators` lists
//! them, `serve` starts those its `[sim.<family>]` section enables, and `psp-integrator sim
//! <family>` runs one on its own.
pub mod billwerk;
pub mod html;
pub mod mollie;
pub mod oppwa;
pub mod tour;

use std::any::Any;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use crate::config::AppConfig;

/// A family's narrated tour, given the config directory; `Err` names the step that failed.
pub type Tour = for<'a> fn(&'a std::path::Path) -> BoxFuture<'a, Result<(), String>>;

/// What `serve` and `psp-integrator sim <family>` need to know of one family's simulator.
pub struct Registration {
    /// The family: its `[sim.<family>]` section, `sim <family>`, and the `[psp.<family>]`
    /// adapter section it stands in for.
    pub family: &'static str,
    /// What it is, for `sim --help` and the log (e.g. "the X simulator, with its sandbox keys").
    pub title: &'static str,
    /// The key of `[psp.<family>]` pointed at the simulator when it runs inside `serve`, so the
    /// merchants that key serves (the test mode's) talk to it; e.g. `test_base_url`.
    pub replaces: &'static str,
    /// Starts it as `[sim.<family>]` says (listen address, state file, ...); the error names the
    /// offending key.
    pub start:
        for<'a> fn(&'a AppConfig, CancellationToken) -> BoxFuture<'a, Result<Running, String>>,
    /// The family's narrated tour for `psp-integrator demo --psp <family>` (it drives the
    /// simulator as a shopper and as the PSP would), given the config directory.
    pub tour: Option<Tour>,
    /// Reads `[sim.<family>]` (`config::sim_section::<TheSimulatorsSection>`).
    pub section: crate::config::SectionParser<dyn crate::config::SimSection>,
    /// Old top-level key prefixes read as the new ones, `(old, new)` (e.g. `("x", "sim.x")`),
    /// with a warning at start.
    pub aliases: &'static [(&'static str, &'static str)],
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("family", &self.family)
            .field("replaces", &self.replaces)
            .finish_non_exhaustive()
    }
}

/// A started simulator; it serves until the shutdown token it was started with is cancelled.
pub struct Running {
    /// Its family (`Registration::family`).
    pub family: &'static str,
    /// `http://host:port` as clients reach it (no trailing slash).
    pub base_url: String,
    /// The address it is bound to.
    pub addr: SocketAddr,
    /// Lines `sim <family>` prints below the address, e.g. the sandbox credentials.
    pub notes: Vec<String>,
    handle: Arc<dyn Any + Send + Sync>,
}

impl Running {
    /// Wraps a family's own simulator value (its module's `Sim`), which [`Running::get`] gives
    /// back to tests and the demo.
    pub fn new<T: Any + Send + Sync>(
        family: &'static str,
        base_url: String,
        addr: SocketAddr,
        sim: T,
    ) -> Self {
        Self {
            family,
            base_url,
            addr,
            notes: Vec::new(),
            handle: Arc::new(sim),
        }
    }

    /// The family's simulator value, if it is a `T`.
    pub fn get<T: Any>(&self) -> Option<&T> {
        self.handle.downcast_ref()
    }
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("family", &self.family)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// `<database file>.<family>-sim.json` beside a file SQLite database (`sqlite://PATH` or
/// `sqlite:PATH`); `None` for an in-memory SQLite database and for Postgres.
pub fn state_file_beside_database(database_url: &str, family: &str) -> Option<PathBuf> {
    let path = database_url
        .strip_prefix("sqlite://")
        .or_else(|| database_url.strip_prefix("sqlite:"))?;
    let path = path.split('?').next().unwrap_or_default();
    if path.is_empty() || path.contains(":memory:") {
        return None;
    }
    Some(PathBuf::from(format!("{path}.{family}-sim.json")))
}

#[cfg(test)]
mod tests {
    use super::state_file_beside_database as beside;

    #[test]
    fn the_state_file_sits_beside_a_file_sqlite_database_only() {
        assert_eq!(
            beside("sqlite://data/x.db?mode=rwc", "acme"),
            Some("data/x.db.acme-sim.json".into())
        );
        assert_eq!(
            beside("sqlite:/tmp/y.db", "other"),
            Some("/tmp/y.db.other-sim.json".into())
        );
        assert_eq!(beside("sqlite::memory:", "acme"), None);
        assert_eq!(beside("sqlite://", "acme"), None);
        assert_eq!(beside("postgres://u@h/db", "acme"), None);
    }
}
