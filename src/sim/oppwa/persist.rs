//! The simulator's state on disk, so a restarted `serve` still knows the transactions and
//! registrations it answered for before (a recurring payment or refund on an old transaction
//! works after a restart). One JSON file, replaced atomically (write, then rename) after each
//! change. Open 3DS challenges and the webhook attempt log are not kept.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Sim;
use super::state::{Checkout, Outbox, Registration, State, Tx};
use super::webhooks::{Delivery, Webhook};

/// File format version; a file with another version is ignored (and replaced) with a warning.
const VERSION: u32 = 1;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    txs: &'a [Tx],
    regs: &'a HashMap<String, Registration>,
    checkouts: &'a HashMap<String, Checkout>,
    clock_offset: i64,
    outbox: &'a Outbox,
    webhooks: &'a [Webhook],
    queue: &'a [Delivery],
    next_webhook_id: u64,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    txs: Vec<Tx>,
    regs: HashMap<String, Registration>,
    checkouts: HashMap<String, Checkout>,
    clock_offset: i64,
    outbox: Outbox,
    webhooks: Vec<Webhook>,
    queue: Vec<Delivery>,
    next_webhook_id: u64,
}

/// Writes `st` to `path` unless it is unchanged since the last write. Failures are logged: the
/// simulator keeps serving from memory.
pub(super) fn save(st: &State, path: &Path, saved: &Mutex<u64>) {
    let snapshot = SnapshotRef {
        version: VERSION,
        txs: &st.txs,
        regs: &st.regs,
        checkouts: &st.checkouts,
        clock_offset: st.clock_offset,
        outbox: &st.outbox,
        webhooks: &st.hooks.webhooks,
        queue: &st.hooks.queue,
        next_webhook_id: st.hooks.next_id,
    };
    let json = match serde_json::to_vec(&snapshot) {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(error = %e, "simulator state not saved");
            return;
        }
    };
    let mut h = std::collections::hash_map::DefaultHasher::new();
    json.hash(&mut h);
    let digest = h.finish();
    let mut last = saved.lock().unwrap_or_else(|e| e.into_inner());
    if *last == digest {
        return;
    }
    let tmp = path.with_extension("json.tmp");
    let written = std::fs::write(&tmp, &json).and_then(|()| std::fs::rename(&tmp, path));
    match written {
        Ok(()) => *last = digest,
        Err(e) => tracing::warn!(error = %e, path = %path.display(), "simulator state not saved"),
    }
}

impl Sim {
    /// Loads the state saved at `path`, if the file exists; creates its directory otherwise.
    pub(super) fn restore(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let snap: Snapshot = match serde_json::from_slice(&bytes) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "simulator state unreadable; starting empty");
                return Ok(());
            }
        };
        if snap.version != VERSION {
            tracing::warn!(path = %path.display(), "simulator state of another version; starting empty");
            return Ok(());
        }
        let (txs, regs) = (snap.txs.len(), snap.regs.len());
        self.with_state(|st, _| {
            st.txs = snap.txs;
            st.reindex();
            st.regs = snap.regs;
            st.checkouts = snap.checkouts;
            st.clock_offset = snap.clock_offset;
            st.outbox = snap.outbox;
            st.hooks.webhooks = snap.webhooks;
            st.hooks.queue = snap.queue;
            st.hooks.next_id = snap.next_webhook_id;
        });
        tracing::info!(path = %path.display(), transactions = txs, registrations = regs, "simulator state restored");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Sim, SimConfig, WebhookConfig};

    #[tokio::test]
    async fn a_restarted_simulator_reads_its_state_back() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("nested/sim.json");
        let config = SimConfig {
            state_file: Some(file.clone()),
            ..SimConfig::default()
        };
        let first = Sim::new(config.clone());
        first.restore(&file).expect("no file yet is fine");
        first.add_webhook(WebhookConfig {
            url: "http://127.0.0.1:9/notify".into(),
            ..WebhookConfig::default()
        });
        first.advance_clock(120);
        assert!(file.exists(), "written after the change");

        let second = Sim::new(config);
        second.restore(&file).expect("restore");
        let hooks = second.webhooks();
        assert_eq!(hooks.len(), 1);
        assert_eq!(hooks[0]["url"], "http://127.0.0.1:9/notify");
        assert_eq!(second.with_state(|st, _| st.clock_offset), 120);

        std::fs::write(&file, b"not json").expect("write");
        let third = Sim::new(SimConfig::default());
        third
            .restore(&file)
            .expect("an unreadable file starts empty");
        assert!(third.webhooks().is_empty());
    }
}
