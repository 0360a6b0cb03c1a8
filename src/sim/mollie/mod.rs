//! Mollie (Payments API v2) simulator, written from `contract/mollie.md` §3: API keys and modes,
//! customers, payments with the hosted test checkout, first payments and mandates, recurring
//! payments, captures, release, cancel, refunds, chargebacks, classic webhooks with Mollie's
//! retry schedule, `Idempotency-Key`, the Methods API, faults and a state file.
//!
//! Independent of `crate::psp` on purpose: a misreading in an adapter must not hide here.
//! Every behaviour that differs from a plain happy path is a knob ([`Knobs`]), off by default.

// Handlers return `Result<Response, ApiError>`; the error is small but clippy counts `Response`.
#![allow(clippy::result_large_err)]

mod admin;
mod captures;
mod chargebacks;
mod checkout;
mod children;
mod create;
mod customers;
mod details;
mod input;
mod knobs;
mod layers;
mod lifecycle;
mod mandates;
mod methods;
mod model;
mod money;
mod payments;
mod persist;
mod refunds;
mod render;
mod respond;
mod run;
mod state;
pub mod tour;
mod views;
mod webhooks;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_lifecycle;
#[cfg(test)]
mod tests_money;
#[cfg(test)]
mod tests_payments;
#[cfg(test)]
mod tests_property;
#[cfg(test)]
mod tests_transport;
#[cfg(test)]
mod tests_webhooks;

pub use knobs::{Knobs, RevokedMandateGet};
pub use run::{MollieSimSection, SIMULATOR, start};
pub use webhooks::Attempt as WebhookAttempt;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use axum::Router;
use tokio_util::sync::CancellationToken;

use model::Owner;
use state::{Clock, State};

/// The sandbox profile's test key (`test_` + 30 characters, like every published example).
pub const SANDBOX_TEST_KEY: &str = "test_simMollieSandboxKey0000000000001";
pub const SANDBOX_LIVE_KEY: &str = "live_simMollieSandboxKey0000000000001";
pub const SANDBOX_PROFILE_ID: &str = "pfl_simSandbx1";
/// A second profile, to show that merchants are isolated from each other.
pub const OTHER_TEST_KEY: &str = "test_simMollieSandboxKey0000000000002";
pub const OTHER_LIVE_KEY: &str = "live_simMollieSandboxKey0000000000002";
pub const OTHER_PROFILE_ID: &str = "pfl_simSandbx2";

#[derive(Clone, Debug)]
pub struct SimConfig {
    /// How browsers and clients reach the simulator, no trailing slash (links, checkout).
    pub public_base_url: String,
    /// `(profile id, test key, live key)` known at start.
    pub profiles: Vec<(String, String, String)>,
    /// Any well-formed unknown key (`test_…`/`live_…`) becomes a profile of its own on first use.
    pub open_keys: bool,
    /// `spawn` calls `deliver_due` every second (for humans; tests drive it).
    pub auto_deliver: bool,
    /// The sim clock moves only by `advance_clock` (deterministic tests).
    pub frozen_clock: bool,
    /// Sim seconds per real second when not frozen (expiry and retries come sooner).
    pub clock_speed: u32,
    /// A JSON file holding the state across restarts (written after every change).
    pub state_file: Option<PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            public_base_url: String::new(),
            profiles: vec![
                (
                    SANDBOX_PROFILE_ID.into(),
                    SANDBOX_TEST_KEY.into(),
                    SANDBOX_LIVE_KEY.into(),
                ),
                (
                    OTHER_PROFILE_ID.into(),
                    OTHER_TEST_KEY.into(),
                    OTHER_LIVE_KEY.into(),
                ),
            ],
            open_keys: false,
            auto_deliver: false,
            frozen_clock: false,
            clock_speed: 1,
            state_file: None,
        }
    }
}

struct Inner {
    config: SimConfig,
    state: Mutex<State>,
    client: reqwest::Client,
    /// One delivery run at a time, so the auto loop and a test never send a message twice.
    delivering: tokio::sync::Mutex<()>,
    /// Hash of the last state written to `config.state_file`.
    saved: Mutex<u64>,
}

/// A running (or embeddable) Mollie simulator; cheap to clone.
#[derive(Clone)]
pub struct Sim {
    inner: Arc<Inner>,
}

pub struct SimHandle {
    pub base_url: String,
    pub addr: SocketAddr,
    pub sim: Sim,
}

impl Sim {
    pub fn new(mut config: SimConfig) -> Self {
        config.public_base_url = config.public_base_url.trim_end_matches('/').to_string();
        let mut st = State::new(Clock::new(config.frozen_clock, config.clock_speed));
        for (profile, test, live) in &config.profiles {
            st.add_profile(profile, test, live);
        }
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(st),
                client: webhooks::client(),
                delivering: tokio::sync::Mutex::new(()),
                saved: Mutex::new(0),
            }),
        }
    }

    /// Runs `f` under the state lock, after the timers due on the sim clock; saves the state.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State, &SimConfig) -> R) -> R {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.tick();
        let out = f(&mut st, &self.inner.config);
        st.tick();
        if let Some(path) = &self.inner.config.state_file {
            persist::save(&st, path, &self.inner.saved);
        }
        out
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    /// The profile and mode `key` pins; registers a well-formed unknown key with `open_keys`.
    pub(crate) fn owner_of_key(&self, key: &str) -> Option<Owner> {
        self.with_state(|st, cfg| {
            if let Some(o) = st.keys.get(key) {
                return Some(o.clone());
            }
            if !(cfg.open_keys && input::well_formed_key(key)) {
                return None;
            }
            let profile = st.new_id("pfl_");
            let (test, live) = match key.strip_prefix("test_") {
                Some(rest) => (key.to_string(), format!("live_{rest}")),
                None => (format!("test_{}", &key[5..]), key.to_string()),
            };
            st.add_profile(&profile, &test, &live);
            st.keys.get(key).cloned()
        })
    }

    pub fn router(&self) -> Router {
        let api = payments::routes()
            .merge(refunds::routes())
            .merge(captures::routes())
            .merge(customers::routes())
            .merge(mandates::routes())
            .merge(chargebacks::routes())
            .merge(methods::routes())
            .fallback(layers::not_found)
            .method_not_allowed_fallback(layers::method_not_allowed)
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                layers::idempotency,
            ))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                layers::faults,
            ));
        Router::new()
            .nest("/v2", api)
            .merge(checkout::routes())
            .merge(admin::routes())
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 allowed), fills an empty `public_base_url`, restores the state file,
    /// serves until `shutdown`.
    pub async fn spawn(
        mut config: SimConfig,
        addr: SocketAddr,
        shutdown: CancellationToken,
    ) -> std::io::Result<SimHandle> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        if config.public_base_url.is_empty() {
            config.public_base_url = format!("http://{addr}");
        }
        let sim = Sim::new(config);
        if let Some(path) = sim.config().state_file.clone() {
            sim.restore(&path)?;
        }
        if sim.config().auto_deliver {
            webhooks::spawn_auto_delivery(sim.clone(), shutdown.clone());
        }
        let app = sim.router();
        tokio::spawn(async move {
            let stop = async move { shutdown.cancelled().await };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(error = %e, "mollie simulator stopped");
            }
        });
        let base_url = sim.config().public_base_url.clone();
        Ok(SimHandle {
            base_url,
            addr,
            sim,
        })
    }

    /// The current knobs.
    pub fn knobs(&self) -> Knobs {
        self.with_state(|st, _| st.knobs.clone())
    }

    /// Replaces the knobs; refunds queued for lack of balance proceed once that knob is off.
    pub fn set_knobs(&self, k: Knobs) {
        self.with_state(|st, _| {
            st.knobs = k;
            if !st.knobs.insufficient_balance {
                let queued: Vec<String> = st
                    .refunds
                    .values()
                    .filter(|r| r.status == "queued")
                    .map(|r| r.id.clone())
                    .collect();
                for id in queued {
                    st.start_refund(&id);
                }
            }
        });
    }

    /// Changes some knobs: `f` edits the current ones.
    pub fn update_knobs(&self, f: impl FnOnce(&mut Knobs)) {
        let mut k = self.knobs();
        f(&mut k);
        self.set_knobs(k);
    }

    /// Moves the sim clock forward (expiry, settlements, refunds, retries come due).
    pub fn advance_clock(&self, secs: i64) {
        // At most a century per call: chrono's durations are bounded.
        let ms = secs.clamp(-3_155_760_000, 3_155_760_000) * 1000;
        self.with_state(|st, _| st.clock.offset_ms = st.clock.offset_ms.saturating_add(ms));
    }

    /// Adds a profile with its two keys (several merchants).
    pub fn add_profile(&self, profile: &str, test_key: &str, live_key: &str) {
        self.with_state(|st, _| st.add_profile(profile, test_key, live_key));
    }
}
