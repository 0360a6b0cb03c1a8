//! OPPWA (ACI / PAY.ON Open Payment Platform) simulator: S2S payments, back-office, registrations,
//! reporting, COPYandPAY and gateway 3-D Secure, written from `contract/oppwa.md` (§11).
//!
//! Owns configuration, the shared [`Sim`] handle, the router, fault injection and the `/__admin` API.
//! Independent of `crate::psp` on purpose: a misreading in the adapter must not hide here.

// Handlers return `Result<Response, Response>` so `?` can answer early with an error body;
// the 128-byte `Response` in `Err` is fine for a simulator and boxing would only add noise.
#![allow(clippy::result_large_err)]

mod admin;
mod api;
mod checkout;
mod codes;
mod control;
mod crypto;
mod delivery;
mod events;
mod forms;
mod instrument;
mod money;
mod payments;
mod persist;
mod registrations;
mod respond;
pub mod run;
mod shopper;
mod state;
mod threeds;
pub mod tour;
mod util;
mod webhook_admin;
mod webhooks;
mod widget;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod webhook_flow_tests;
#[cfg(test)]
mod webhook_retry_tests;
#[cfg(test)]
mod webhook_tests;

pub use crypto::{EncryptedNotification, encrypt_notification};
pub use delivery::DeliveryReport;
pub use run::{OppwaSimSection, SIMULATOR};
pub use webhooks::{Attempt as WebhookAttempt, WebhookConfig, WebhookFaults};

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::routing::{get, post};
use tokio_util::sync::CancellationToken;

use state::State;

pub const SANDBOX_ACCESS_TOKEN: &str = "sim-sandbox-access-token-0000000000000000";
pub const SANDBOX_ENTITY_ID: &str = "8a8294174b7ecb28014b9699220015ca";
pub const SANDBOX_MIT_ENTITY_ID: &str = "8a8294174b7ecb28014b9699220015cb";
pub const SANDBOX_WEBHOOK_SECRET: &str =
    "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f";

#[derive(Clone, Debug)]
pub struct SimConfig {
    pub access_token: String,
    /// ECOM channel (3DS).
    pub entity_id: String,
    /// Recurring/MOTO channel (never 3DS).
    pub mit_entity_id: String,
    /// Default secret for webhooks configured with an empty `secret_hex`.
    pub webhook_secret: String,
    /// How browsers/clients reach the sim, no trailing slash.
    pub public_base_url: String,
    pub checkout_lifetime_secs: i64,
    /// `false`: several partial captures up to the PA amount.
    pub single_capture: bool,
    /// `spawn` calls `deliver_due` every second (for humans running the sim; tests drive it).
    pub auto_deliver: bool,
    /// Pending transactions succeed once this much sim-clock time has passed (§11.14).
    pub settle_after_secs: Option<i64>,
    /// A JSON file holding the state across restarts (written after every change); `None`:
    /// memory only.
    pub state_file: Option<std::path::PathBuf>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            access_token: SANDBOX_ACCESS_TOKEN.into(),
            entity_id: SANDBOX_ENTITY_ID.into(),
            mit_entity_id: SANDBOX_MIT_ENTITY_ID.into(),
            webhook_secret: SANDBOX_WEBHOOK_SECRET.into(),
            public_base_url: String::new(),
            checkout_lifetime_secs: 1800,
            single_capture: false,
            auto_deliver: false,
            settle_after_secs: None,
            state_file: None,
        }
    }
}

/// Transport faults for `/v1/*` requests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub enum Fault {
    #[default]
    None,
    /// Process the request fully, then wait this long before answering.
    Delay { millis: u64 },
    /// Process the request fully, then drop the connection without a complete response.
    DropAfterProcessing,
    /// Drop/refuse before processing anything (HTTP 503, no JSON).
    Unavailable,
}

/// Answers of another kind than the request asked for, as real OPPWA answers have been seen to
/// give (issue #18, input 5). Off by default; set per test with [`Sim::set_kind_swap`] or
/// `POST /__admin/kind-swap`. The payment is then *booked* as a debit, so the simulator also
/// refuses a `CP` on it (`700.400.510`) and takes refunds (`RF`) of it, as the real PSP would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(default, rename_all = "camelCase")]
pub struct KindSwap {
    /// A checkout created as a preauthorization (`PA`) completes as a debit (`DB`), with its
    /// registration when one was asked for.
    pub checkout_pa_as_db: bool,
    /// A server-to-server `PA` (direct or on a registration) is booked and answered as a `DB`.
    pub s2s_pa_as_db: bool,
}

impl KindSwap {
    /// The payment type booked for a request of `asked` (`checkout`: paid through a checkout).
    pub(crate) fn booked(self, asked: String, checkout: bool) -> String {
        let swap = if checkout {
            self.checkout_pa_as_db
        } else {
            self.s2s_pa_as_db
        };
        if swap && asked == "PA" {
            "DB".into()
        } else {
            asked
        }
    }
}

struct Inner {
    config: SimConfig,
    state: Mutex<State>,
    /// Webhook sender: 30 s per attempt (§6.4).
    client: reqwest::Client,
    /// Serialises `deliver_due` so the auto loop and the admin API never send a message twice.
    delivering: tokio::sync::Mutex<()>,
    /// Hash of the last state written to `config.state_file` (writes only on change).
    saved: Mutex<u64>,
}

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
        Self {
            inner: Arc::new(Inner {
                config,
                state: Mutex::new(State::default()),
                client: webhook_client(),
                delivering: tokio::sync::Mutex::new(()),
                saved: Mutex::new(0),
            }),
        }
    }

    /// Runs `f` under the state lock, after expiring abandoned 3DS challenges.
    pub(crate) fn with_state<R>(&self, f: impl FnOnce(&mut State, &SimConfig) -> R) -> R {
        let mut st = self.inner.state.lock().unwrap_or_else(|e| e.into_inner());
        st.expire();
        let out = f(&mut st, &self.inner.config);
        st.collect_events();
        if let Some(path) = &self.inner.config.state_file {
            persist::save(&st, path, &self.inner.saved);
        }
        out
    }

    pub fn config(&self) -> &SimConfig {
        &self.inner.config
    }

    pub fn router(&self) -> Router {
        let v1 = Router::new()
            .route("/v1/payments", post(api::post_payment))
            .route(
                "/v1/payments/{id}",
                post(api::post_backoffice).get(api::get_payment),
            )
            .route("/v1/registrations", post(registrations::post_registration))
            .route(
                "/v1/registrations/{id}",
                axum::routing::delete(registrations::delete_registration),
            )
            .route(
                "/v1/registrations/{id}/payments",
                post(registrations::post_registration_payment),
            )
            .route("/v1/query", get(api::query_list))
            .route("/v1/query/{id}", get(api::query_one))
            .route("/v1/resultcodes", get(api::result_codes))
            .route("/v1/checkouts", post(checkout::create))
            .route("/v1/checkouts/{id}/payment", get(checkout::status))
            .route("/v1/checkouts/{id}/form", get(widget::hosted_form))
            .route("/v1/checkouts/{id}/submit", post(checkout::submit))
            .route("/v1/paymentWidgets.js", get(widget::script))
            .route(
                "/v1/threeds/{id}/acs",
                get(threeds::acs_page).post(threeds::acs_page),
            )
            .route("/v1/threeds/{id}/method", post(threeds::method_page))
            .route("/v1/threeds/{id}/complete", post(threeds::complete))
            .layer(axum::middleware::from_fn_with_state(
                self.clone(),
                admin::fault_layer,
            ));
        v1.merge(admin::routes())
            .merge(webhook_admin::routes())
            .with_state(self.clone())
    }

    /// Binds `addr` (port 0 allowed), fills an empty `public_base_url`, serves until `shutdown`.
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
            delivery::spawn_auto_delivery(sim.clone(), shutdown.clone());
        }
        let app = sim.router();
        tokio::spawn(async move {
            let stop = async move { shutdown.cancelled().await };
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(stop)
                .await
            {
                tracing::warn!(error = %e, "oppwa simulator stopped");
            }
        });
        let base_url = sim.config().public_base_url.clone();
        Ok(SimHandle {
            base_url,
            addr,
            sim,
        })
    }

    /// Every PA/DB/CP/RV/RF as its API JSON, in creation order.
    pub fn transactions(&self) -> Vec<serde_json::Value> {
        self.with_state(|st, _| st.txs.iter().map(state::Tx::json).collect())
    }

    pub fn count_by_merchant_tx_id(&self, merchant_transaction_id: &str) -> usize {
        self.with_state(|st, _| st.by_merchant_tx_id(merchant_transaction_id).count())
    }

    pub fn set_fault(&self, fault: Fault) {
        self.with_state(|st, _| st.fault = fault);
    }

    /// Books `PA` requests as `DB` as `swap` says, from now on.
    pub fn set_kind_swap(&self, swap: KindSwap) {
        self.with_state(|st, _| st.kind_swap = swap);
    }

    /// The next money operation (payment, back-office, registration, checkout payment) gets `code`.
    pub fn force_next_result(&self, code: &str) {
        self.with_state(|st, _| st.forced = Some(code.to_string()));
    }

    /// Moves the sim clock; settles pending transactions when `settle_after_secs` is set.
    pub fn advance_clock(&self, secs: i64) {
        self.with_state(|st, cfg| {
            st.clock_offset += secs;
            if let Some(after) = cfg.settle_after_secs {
                st.settle_due(after);
            }
        });
    }

    pub(crate) fn fault(&self) -> Fault {
        self.with_state(|st, _| st.fault)
    }

    /// Clears everything but the webhook configuration and faults.
    pub(crate) fn reset(&self) {
        self.with_state(|st, _| {
            let webhooks = std::mem::take(&mut st.hooks.webhooks);
            let (faults, next_id) = (st.hooks.faults, st.hooks.next_id);
            *st = State::default();
            st.hooks.webhooks = webhooks;
            st.hooks.faults = faults;
            st.hooks.next_id = next_id;
        });
    }
}

fn webhook_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(30))
        .build()
        .unwrap_or_default()
}
