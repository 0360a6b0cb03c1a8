//! `/__admin` test controls (no auth) and the `/v1/*` fault-injection layer.

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::{Fault, Sim};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/__admin/transactions", get(transactions))
        .route("/__admin/fault", post(fault))
        .route("/__admin/force-next", post(force_next))
        .route("/__admin/kind-swap", post(kind_swap))
        .route("/__admin/clock/advance", post(advance))
        .route("/__admin/reset", post(reset))
}

#[derive(serde::Deserialize)]
struct TxFilter {
    #[serde(rename = "merchantTransactionId")]
    merchant_transaction_id: Option<String>,
}

async fn transactions(State(sim): State<Sim>, Query(f): Query<TxFilter>) -> Json<Vec<Value>> {
    let all = sim.transactions();
    let keep = |t: &Value| match &f.merchant_transaction_id {
        Some(m) => t.get("merchantTransactionId").and_then(Value::as_str) == Some(m.as_str()),
        None => true,
    };
    Json(all.into_iter().filter(keep).collect())
}

async fn fault(State(sim): State<Sim>, Json(f): Json<Fault>) -> Json<Value> {
    sim.set_fault(f);
    Json(json!({"fault": f}))
}

async fn kind_swap(State(sim): State<Sim>, Json(k): Json<super::KindSwap>) -> Json<Value> {
    sim.set_kind_swap(k);
    Json(json!({"kindSwap": k}))
}

#[derive(serde::Deserialize)]
struct ForceNext {
    code: String,
}

async fn force_next(State(sim): State<Sim>, Json(f): Json<ForceNext>) -> Response {
    if !super::codes::is_well_formed(&f.code) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "code must look like NNN.NNN.NNN"})),
        )
            .into_response();
    }
    sim.force_next_result(&f.code);
    Json(json!({"forced": f.code})).into_response()
}

#[derive(serde::Deserialize)]
struct Advance {
    seconds: i64,
}

async fn advance(State(sim): State<Sim>, Json(a): Json<Advance>) -> Json<Value> {
    sim.advance_clock(a.seconds);
    let now = sim.with_state(|st, _| super::util::fmt_timestamp(st.now()));
    Json(json!({"now": now}))
}

async fn reset(State(sim): State<Sim>) -> Json<Value> {
    sim.reset();
    Json(json!({"reset": true}))
}

/// Applies the configured [`Fault`] around every `/v1/*` request.
pub(crate) async fn fault_layer(State(sim): State<Sim>, req: Request, next: Next) -> Response {
    match sim.fault() {
        Fault::None => next.run(req).await,
        Fault::Unavailable => {
            (StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable").into_response()
        }
        Fault::Delay { millis } => {
            let res = next.run(req).await;
            tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
            res
        }
        Fault::DropAfterProcessing => {
            drop(next.run(req).await);
            broken_response()
        }
    }
}

/// A response whose body fails at once: hyper aborts the connection mid-response.
fn broken_response() -> Response {
    let err = std::io::Error::new(std::io::ErrorKind::ConnectionAborted, "simulated drop");
    let stream = futures_util::stream::iter([Err::<axum::body::Bytes, _>(err)]);
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json;charset=UTF-8")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
