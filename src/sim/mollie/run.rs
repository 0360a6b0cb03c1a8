//! Starting the simulator from `[sim.mollie]` (`psp-integrator sim mollie`).

use std::net::SocketAddr;
use std::path::PathBuf;

use tokio_util::sync::CancellationToken;

use super::{Sim, SimConfig, SimHandle};
use crate::config::MollieSimSection;

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
