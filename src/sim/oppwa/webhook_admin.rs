//! `/__admin` endpoints for webhooks, async completion, chargebacks and admin-side deregistration.
//! Request and response JSON is camelCase (snake_case accepted as an alias on input):
//!
//! * `POST /__admin/webhooks` `{"url","secretHex","entityId"?,"types"?:[…],"fields"?}` → `{"id","active":false}`
//! * `GET /__admin/webhooks` → `[{"id","url","entityId","types","fields","active"}]`
//! * `POST /__admin/webhooks/{id}/activate` → `{"id","status","active"}` (502 `{"error"}` if unreachable)
//! * `POST /__admin/webhooks/deliver` → `{"reports":[{"webhookId","url","type","status","error","attempt"}],"pending"}`
//! * `POST /__admin/webhooks/faults` `{"duplicate","reverseOrder","hold"}` → `{"faults":…}`
//! * `GET /__admin/webhooks/attempts` → `[{"time","webhookId","url","type","status","error","attempt"}]`
//! * `POST /__admin/payments/{id}/complete` `{"code"}` → the transaction JSON
//! * `POST /__admin/payments/{id}/chargeback` `{"amount","reasonCode"?}` → the CB transaction JSON
//! * `POST /__admin/registrations/{id}/delete` → `{"id","deleted":true}`
//!
//! Errors are HTTP 400 `{"error":"…"}`.

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::Sim;
use super::webhooks::{WebhookConfig, WebhookFaults};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/__admin/webhooks", get(list).post(add))
        .route("/__admin/webhooks/{id}/activate", post(activate))
        .route("/__admin/webhooks/deliver", post(deliver))
        .route("/__admin/webhooks/faults", post(faults))
        .route("/__admin/webhooks/attempts", get(attempts))
        .route("/__admin/payments/{id}/complete", post(complete))
        .route("/__admin/payments/{id}/chargeback", post(chargeback))
        .route(
            "/__admin/registrations/{id}/delete",
            post(delete_registration),
        )
}

fn bad(status: StatusCode, msg: String) -> Response {
    (status, Json(json!({"error": msg}))).into_response()
}

async fn list(State(sim): State<Sim>) -> Json<Vec<Value>> {
    Json(sim.webhooks())
}

async fn add(State(sim): State<Sim>, Json(cfg): Json<WebhookConfig>) -> Response {
    if let Err(e) = cfg.validate() {
        return bad(StatusCode::BAD_REQUEST, e);
    }
    let id = sim.add_webhook(cfg);
    Json(json!({"id": id, "active": false})).into_response()
}

async fn activate(State(sim): State<Sim>, Path(id): Path<u64>) -> Response {
    match sim.activate_webhook(id).await {
        Ok(status) => {
            Json(json!({"id": id, "status": status, "active": status == 200})).into_response()
        }
        Err(e) => bad(StatusCode::BAD_GATEWAY, e),
    }
}

async fn deliver(State(sim): State<Sim>) -> Response {
    let reports = sim.deliver_due().await;
    let pending = sim.pending_deliveries();
    Json(json!({"reports": reports, "pending": pending})).into_response()
}

async fn faults(State(sim): State<Sim>, Json(f): Json<WebhookFaults>) -> Json<Value> {
    sim.set_webhook_faults(f);
    Json(json!({"faults": f}))
}

async fn attempts(State(sim): State<Sim>) -> Response {
    Json(sim.webhook_attempts()).into_response()
}

#[derive(serde::Deserialize)]
struct Complete {
    code: String,
}

async fn complete(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Json(c): Json<Complete>,
) -> Response {
    match sim.complete(&id, &c.code) {
        Ok(tx) => Json(tx).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Chargeback {
    amount: String,
    #[serde(default, alias = "reason_code")]
    reason_code: Option<String>,
}

async fn chargeback(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Json(c): Json<Chargeback>,
) -> Response {
    match sim.chargeback(&id, &c.amount, c.reason_code.as_deref()) {
        Ok(tx) => Json(tx).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

async fn delete_registration(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    match sim.delete_registration(&id) {
        Ok(()) => Json(json!({"id": id, "deleted": true})).into_response(),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}
