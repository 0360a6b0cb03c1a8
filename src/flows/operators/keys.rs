//! The master key (`psp-integrator keys …`): re-sealing every merchant's settings under the
//! current key, and counting which key seals what.

use std::collections::BTreeMap;

use crate::crypto::Sealer;
use crate::domain::Clock;
use crate::store::{Store, StoreResult};

/// What `rotate_master_key` did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// Merchants whose settings were re-sealed under the current key.
    pub resealed: usize,
    /// Merchants whose settings were already under it.
    pub current: usize,
    /// Merchants whose settings open under none of the configured keys.
    pub unreadable: Vec<String>,
}

/// Re-seals every merchant's settings under the sealer's current key. Safe to run again and
/// while the service runs: each row is replaced only if it is still what was read.
pub async fn rotate_master_key(
    store: &dyn Store,
    sealer: &Sealer,
    clock: &dyn Clock,
) -> StoreResult<Rotation> {
    let mut r = Rotation::default();
    for (merchant_id, sealed) in store.all_sealed_settings().await? {
        if !sealer.needs_reseal(&sealed) {
            r.current += 1;
            continue;
        }
        let Ok(new) = sealer.reseal(&sealed) else {
            r.unreadable.push(merchant_id);
            continue;
        };
        if store
            .reseal_settings(&merchant_id, &sealed, &new, clock.now())
            .await?
        {
            r.resealed += 1;
        } else {
            // Changed meanwhile: a fresh PUT /api/Settings is sealed under the current key.
            r.current += 1;
        }
    }
    Ok(r)
}

/// How many merchants' settings are sealed under each key id (`v1` for the first format,
/// which carries no id).
pub async fn sealed_key_ids(store: &dyn Store) -> StoreResult<BTreeMap<String, usize>> {
    let mut out = BTreeMap::new();
    for (_, sealed) in store.all_sealed_settings().await? {
        let id = Sealer::sealed_key_id(&sealed).unwrap_or_else(|| "v1".into());
        *out.entry(id).or_insert(0) += 1;
    }
    Ok(out)
}
