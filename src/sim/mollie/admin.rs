//! `/__admin` test controls (no auth). JSON is camelCase; errors are 400 `{"error": "…"}`.
//!
//! * `GET|POST /__admin/knobs` — the [`super::Knobs`] (POST replaces them; absent = default)
//! * `POST /__admin/clock/advance` `{"seconds"}` → `{"now"}`
//! * `POST /__admin/webhooks/deliver` → `{"attempts":[…],"pending"}`; `GET /__admin/webhooks/attempts`
//! * `POST /__admin/payments/{id}/chargebacks` `{"amount"?,"reasonCode"?,"negativeAmount"?}`
//! * `POST /__admin/chargebacks/{id}/reverse`
//! * `POST /__admin/payments/{id}/status` `{"status"}` — as the test page's changePaymentState
//! * `POST /__admin/mandates/{id}/invalidate` — e.g. the card expired
//! * `GET /__admin/payments` — every payment of every profile, children embedded
//! * `POST /__admin/profiles` `{"profileId","testKey","liveKey"}`; `POST /__admin/reset`

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};

use super::knobs::Knobs;
use super::model::Status;
use super::state::State as SimState;
use super::{Sim, input};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/__admin/knobs", get(get_knobs).post(set_knobs))
        .route("/__admin/clock/advance", post(advance))
        .route("/__admin/webhooks/deliver", post(deliver))
        .route("/__admin/webhooks/attempts", get(attempts))
        .route("/__admin/payments", get(payments))
        .route("/__admin/payments/{id}/chargebacks", post(chargeback))
        .route("/__admin/payments/{id}/status", post(status))
        .route("/__admin/chargebacks/{id}/reverse", post(reverse))
        .route("/__admin/mandates/{id}/invalidate", post(invalidate))
        .route("/__admin/profiles", post(profile))
        .route("/__admin/reset", post(reset))
}

fn answer(r: Result<Value, String>) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, Json(json!({"error": e}))).into_response(),
    }
}

async fn get_knobs(State(sim): State<Sim>) -> Json<Knobs> {
    Json(sim.knobs())
}

async fn set_knobs(State(sim): State<Sim>, Json(k): Json<Knobs>) -> Json<Knobs> {
    sim.set_knobs(k);
    Json(sim.knobs())
}

#[derive(serde::Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance(State(sim): State<Sim>, Json(a): Json<Advance>) -> Json<Value> {
    sim.advance_clock(a.seconds);
    Json(json!({"now": sim.with_state(|st, _| st.now().to_rfc3339())}))
}

async fn deliver(State(sim): State<Sim>) -> Json<Value> {
    let attempts = sim.deliver_due().await;
    Json(json!({"attempts": attempts, "pending": sim.pending_deliveries()}))
}

async fn attempts(State(sim): State<Sim>) -> Response {
    Json(sim.webhook_attempts()).into_response()
}

async fn payments(State(sim): State<Sim>) -> Json<Vec<Value>> {
    Json(sim.payments())
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase", default)]
struct NewChargeback {
    amount: Option<String>,
    reason_code: Option<String>,
    negative_amount: bool,
}

async fn chargeback(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Json(c): Json<NewChargeback>,
) -> Response {
    answer(sim.chargeback(
        &id,
        c.amount.as_deref(),
        c.reason_code.as_deref(),
        c.negative_amount,
    ))
}

async fn reverse(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    answer(sim.reverse_chargeback(&id))
}

#[derive(serde::Deserialize)]
struct NewStatus {
    status: String,
}

async fn status(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Json(s): Json<NewStatus>,
) -> Response {
    answer(sim.set_payment_status(&id, &s.status))
}

async fn invalidate(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    answer(
        sim.invalidate_mandate(&id)
            .map(|()| json!({"id": id, "status": "invalid"})),
    )
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct NewProfile {
    profile_id: String,
    test_key: String,
    live_key: String,
}

async fn profile(State(sim): State<Sim>, Json(p): Json<NewProfile>) -> Response {
    let ok = input::well_formed_key(&p.test_key)
        && input::well_formed_key(&p.live_key)
        && p.test_key.starts_with("test_")
        && p.live_key.starts_with("live_");
    if !ok {
        return answer(Err(
            "testKey must be test_… and liveKey live_… (letters and digits)".into(),
        ));
    }
    sim.add_profile(&p.profile_id, &p.test_key, &p.live_key);
    answer(Ok(json!({"profileId": p.profile_id})))
}

async fn reset(State(sim): State<Sim>) -> Json<Value> {
    sim.reset();
    Json(json!({"reset": true}))
}

impl Sim {
    /// Every payment (all profiles and modes), oldest first, children embedded.
    pub fn payments(&self) -> Vec<Value> {
        self.with_state(|st, cfg| {
            let all = ["refunds", "captures", "chargebacks"];
            st.payment_order
                .iter()
                .filter_map(|id| st.payments.get(id))
                .map(|p| st.payment_json(p, &cfg.public_base_url, &all))
                .collect()
        })
    }

    /// Payments whose `metadata` equals `metadata` (e.g. "exactly one charge" assertions).
    pub fn count_payments_with_metadata(&self, metadata: &Value) -> usize {
        self.with_state(|st, _| {
            st.payments
                .values()
                .filter(|p| &p.metadata == metadata)
                .count()
        })
    }

    /// Moves a payment to `status` as the test page's changePaymentState does (§3.9 enforced).
    pub fn set_payment_status(&self, id: &str, status: &str) -> Result<Value, String> {
        let to = Status::parse(status).ok_or_else(|| format!("unknown status '{status}'"))?;
        self.with_state(|st, cfg| {
            st.transition(id, to).map_err(|e| e.detail)?;
            let p = st.payments.get(id).ok_or("payment vanished")?;
            Ok(st.payment_json(p, &cfg.public_base_url, &[]))
        })
    }

    /// Turns a mandate `invalid` (e.g. an expired card); no webhook, as on Mollie (§2.10).
    pub fn invalidate_mandate(&self, id: &str) -> Result<(), String> {
        self.with_state(|st, _| {
            let m = st
                .mandates
                .get_mut(id)
                .ok_or_else(|| format!("unknown mandate {id}"))?;
            m.status = "invalid".into();
            m.valid_at = None;
            Ok(())
        })
    }

    /// Forgets every resource, attempt and idempotency key; keeps keys and knobs.
    pub fn reset(&self) {
        self.with_state(|st, _| {
            let fresh = SimState::new(st.clock.clone());
            let keys = std::mem::take(&mut st.keys);
            let knobs = st.knobs.clone();
            *st = fresh;
            st.keys = keys;
            st.knobs = knobs;
        });
    }
}
