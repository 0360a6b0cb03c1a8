//! Starting the simulator from `[sim.oppwa]`: inside `serve` when `enabled`, or on its own
//! (`psp-integrator sim oppwa`).

use std::net::SocketAddr;
use std::path::PathBuf;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use serde::Deserialize;

use super::{Sim, SimConfig, SimHandle};
use crate::config::AppConfig;
use crate::sim::{Registration, Running};

/// The OPPWA simulator's entry in `startup::simulators`. `[simulator]` (and
/// `PSPI__SIMULATOR__*`) is its section's old name, still read.
pub static SIMULATOR: Registration = Registration {
    family: "oppwa",
    title: "the OPPWA simulator, with its fixed sandbox credentials",
    replaces: "test_base_url",
    start: start_registered,
    tour: Some(super::tour::run_boxed),
    section: crate::config::sim_section::<OppwaSimSection>,
    aliases: &[("simulator", "sim.oppwa")],
};

/// `[sim.oppwa]`: the OPPWA simulator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OppwaSimSection {
    /// Run it inside `serve` (development and demos only); `psp.oppwa.test_base_url` then
    /// points at it.
    pub enabled: bool,
    pub listen: String,
    /// Delivers the simulator's PSP notifications by itself every second.
    pub auto_deliver: bool,
    /// Where the simulator keeps its state across restarts; empty: beside the SQLite database
    /// (`<database file>.oppwa-sim.json`), or nowhere on Postgres.
    pub state_file: String,
}

impl crate::config::SimSection for OppwaSimSection {
    fn enabled(&self) -> bool {
        self.enabled
    }
    fn listen(&self) -> &str {
        &self.listen
    }
    fn set_enabled(&mut self, on: bool) {
        self.enabled = on;
    }
    fn set_listen(&mut self, listen: String) {
        self.listen = listen;
    }
}

/// `cfg`'s `[sim.oppwa]` (always there: registered above, read with the configuration).
fn section(cfg: &AppConfig) -> Result<&OppwaSimSection, String> {
    cfg.sim
        .of::<OppwaSimSection>()
        .ok_or_else(|| "sim.oppwa: the section is missing".to_string())
}

fn start_registered(
    cfg: &AppConfig,
    shutdown: CancellationToken,
) -> BoxFuture<'_, Result<Running, String>> {
    async move {
        let h = start(cfg, shutdown).await?;
        Ok(Running::new("oppwa", h.base_url, h.addr, h.sim))
    }
    .boxed()
}

/// Where the simulator keeps its state: `sim.oppwa.state_file`, else beside a file SQLite
/// database (`<database file>.oppwa-sim.json`); `None` (memory only) otherwise.
pub fn state_file(cfg: &AppConfig) -> Option<PathBuf> {
    let explicit = section(cfg).map_or("", |s| s.state_file.trim());
    if !explicit.is_empty() {
        return Some(PathBuf::from(explicit));
    }
    crate::sim::state_file_beside_database(&cfg.database.url, "oppwa")
}

/// Binds `sim.oppwa.listen` and serves until `shutdown`; the error names the offending key.
pub async fn start(cfg: &AppConfig, shutdown: CancellationToken) -> Result<SimHandle, String> {
    let section = section(cfg)?;
    let listen = &section.listen;
    let addr: SocketAddr = listen
        .parse()
        .map_err(|_| format!("sim.oppwa.listen: '{listen}' is not a socket address"))?;
    let config = SimConfig {
        auto_deliver: section.auto_deliver,
        state_file: state_file(cfg),
        ..SimConfig::default()
    };
    let handle = Sim::spawn(config, addr, shutdown)
        .await
        .map_err(|e| format!("sim.oppwa.listen {listen}: {e}"))?;
    tracing::info!(url = %handle.base_url, "OPPWA simulator listening");
    Ok(handle)
}
