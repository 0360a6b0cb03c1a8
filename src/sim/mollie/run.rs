//! Starting the simulator from `[sim.mollie]`: on its own (`psp-integrator sim mollie`), or
//! inside `serve` when `enabled`.

use std::net::SocketAddr;
use std::path::PathBuf;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio_util::sync::CancellationToken;

use serde::Deserialize;

use super::{SANDBOX_LIVE_KEY, SANDBOX_TEST_KEY, Sim, SimConfig, SimHandle};
use crate::config::AppConfig;
use crate::sim::{Registration, Running};

/// The Mollie simulator's entry in `startup::simulators`. Inside `serve` it stands in for
/// `psp.mollie.test_base_url`: the Mollie adapter sends the calls of merchants whose API key
/// starts with `test_` there.
pub static SIMULATOR: Registration = Registration {
    family: "mollie",
    title: "the Mollie simulator (Payments API v2), with its sandbox keys",
    replaces: "test_base_url",
    start: start_registered,
    tour: Some(super::tour::run_boxed),
    section: crate::config::sim_section::<MollieSimSection>,
    aliases: &[],
};

/// `[sim.mollie]`: the Mollie simulator (`psp-integrator sim mollie`); every key may be left out.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MollieSimSection {
    /// Run it inside `serve` (development only); it stands in for `psp.mollie.test_base_url`.
    pub enabled: bool,
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
            enabled: false,
            listen: "127.0.0.1:8082".into(),
            auto_deliver: true,
            open_keys: true,
            clock_speed: 1,
            state_file: String::new(),
        }
    }
}

impl crate::config::SimSection for MollieSimSection {
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

fn start_registered(
    cfg: &AppConfig,
    shutdown: CancellationToken,
) -> BoxFuture<'_, Result<Running, String>> {
    async move {
        let section = cfg
            .sim
            .of::<MollieSimSection>()
            .ok_or_else(|| "sim.mollie: the section is missing".to_string())?;
        let h = start(section, shutdown).await?;
        let mut running = Running::new("mollie", h.base_url, h.addr, h.sim);
        running.notes = vec![
            format!("test key {SANDBOX_TEST_KEY}"),
            format!("live key {SANDBOX_LIVE_KEY}"),
        ];
        Ok(running)
    }
    .boxed()
}

/// Binds `section.listen` and serves until `shutdown`; the error names the offending key.
pub async fn start(
    section: &MollieSimSection,
    shutdown: CancellationToken,
) -> Result<SimHandle, String> {
    let addr: SocketAddr = section.listen.parse().map_err(|_| {
        format!(
            "sim.mollie.listen: '{}' is not a socket address",
            section.listen
        )
    })?;
    let state_file = Some(section.state_file.trim())
        .filter(|f| !f.is_empty())
        .map(PathBuf::from);
    let config = SimConfig {
        open_keys: section.open_keys,
        auto_deliver: section.auto_deliver,
        clock_speed: section.clock_speed.max(1),
        state_file,
        ..SimConfig::default()
    };
    let handle = Sim::spawn(config, addr, shutdown)
        .await
        .map_err(|e| format!("sim.mollie.listen {addr}: {e}"))?;
    tracing::info!(url = %handle.base_url, "Mollie simulator listening");
    Ok(handle)
}
