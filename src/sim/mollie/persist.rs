//! The simulator's state on disk (§3.23), so a restarted simulator still knows its customers,
//! mandates, payments, queued webhooks and idempotency keys. One JSON file, replaced atomically
//! (write, then rename) after each change.

use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::Sim;
use super::state::State;

/// File format version; a file of another version is ignored (and replaced) with a warning.
const VERSION: u32 = 1;

#[derive(Serialize)]
struct SnapshotRef<'a> {
    version: u32,
    state: &'a State,
}

#[derive(Deserialize)]
struct Snapshot {
    version: u32,
    state: State,
}

/// Writes `st` to `path` unless unchanged since the last write. Failures are logged: the
/// simulator keeps serving from memory.
pub(super) fn save(st: &State, path: &Path, saved: &Mutex<u64>) {
    let json = match serde_json::to_vec(&SnapshotRef {
        version: VERSION,
        state: st,
    }) {
        Ok(j) => j,
        Err(e) => {
            tracing::warn!(error = %e, "mollie simulator state not saved");
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
    match std::fs::write(&tmp, &json).and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => *last = digest,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "mollie simulator state not saved")
        }
    }
}

impl Sim {
    /// Loads the state saved at `path`, if the file exists; creates its directory otherwise.
    /// Keys configured now are kept besides the saved ones.
    pub(super) fn restore(&self, path: &Path) -> std::io::Result<()> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        let snap = match serde_json::from_slice::<Snapshot>(&bytes) {
            Ok(s) if s.version == VERSION => s,
            Ok(_) => {
                tracing::warn!(path = %path.display(), "mollie simulator state of another version; starting empty");
                return Ok(());
            }
            Err(e) => {
                tracing::warn!(error = %e, path = %path.display(), "mollie simulator state unreadable; starting empty");
                return Ok(());
            }
        };
        let payments = snap.state.payments.len();
        self.with_state(|st, _| {
            let keys = std::mem::take(&mut st.keys);
            *st = snap.state;
            st.keys.extend(keys);
        });
        tracing::info!(path = %path.display(), payments, "mollie simulator state restored");
        Ok(())
    }
}
