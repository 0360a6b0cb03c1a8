//! Captures API and release of authorizations (§3.13, §3.14).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use rust_decimal::Decimal;

use super::Sim;
use super::input::{Caller, Input};
use super::model::Status;
use super::money;
use super::respond::{ApiError, ApiResult, Page, created, list, ok};
use super::views::capture_json;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/payments/{id}/captures", post(create).get(list_captures))
        .route("/payments/{id}/captures/{cpt}", get(get_capture))
        .route("/payments/{id}/release-authorization", post(release))
}

/// `POST …/captures` only while `authorized`: amount (default: the rest) ≤ the authorized
/// remainder, same currency. After `captureBefore` the capture fails and so does the payment.
async fn create(
    State(sim): State<Sim>,
    c: Caller,
    Path(pid): Path<String>,
    input: Input,
) -> ApiResult {
    input.only(&["amount", "description", "metadata"])?;
    let description = input.str("description")?;
    let amount = match input.get("amount") {
        None => None,
        v => Some(money::parse(v, "amount").map_err(|e| ApiError::field(&e.field, e.detail))?),
    };
    sim.with_state(|st, cfg| {
        let p = st.payment(&pid, &c.owner)?;
        if p.status != Status::Authorized {
            return Err(ApiError::new(
                422,
                "The payment cannot be captured: it is not authorized",
            ));
        }
        let pending: Decimal = p
            .captures
            .iter()
            .filter_map(|id| st.captures.get(id))
            .filter(|x| x.status != "failed")
            .map(|x| x.amount.value)
            .sum();
        let rest = p.amount.value - pending;
        let amount = amount.unwrap_or_else(|| money::Amount::new(&p.amount.currency, rest));
        if amount.currency != p.amount.currency {
            return Err(ApiError::field(
                "amount.currency",
                "The currency must match the payment's",
            ));
        }
        if amount.value.is_zero() || amount.value > rest {
            return Err(ApiError::field(
                "amount",
                "The amount is higher than the authorized remainder",
            ));
        }
        let late = p.capture_before.is_some_and(|b| st.now() > b);
        let delay = st.knobs.capture_delay_secs;
        let cid = st.add_capture(&pid, amount, description, delay);
        if late {
            if let Some(x) = st.captures.get_mut(&cid) {
                x.status = "failed".into();
                x.next_at = None;
            }
            st.transition(&pid, Status::Failed)?;
        }
        let x = st
            .captures
            .get(&cid)
            .ok_or_else(|| ApiError::not_found("capture", &cid))?;
        Ok(created(&capture_json(x, &cfg.public_base_url)))
    })
}

async fn get_capture(
    State(sim): State<Sim>,
    c: Caller,
    Path((pid, cid)): Path<(String, String)>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        st.payment(&pid, &c.owner)?;
        let x = st
            .captures
            .get(&cid)
            .filter(|x| x.payment_id == pid)
            .ok_or_else(|| ApiError::not_found("capture", &cid))?;
        Ok(ok(&capture_json(x, &cfg.public_base_url)))
    })
}

async fn list_captures(
    State(sim): State<Sim>,
    c: Caller,
    Path(pid): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let p = st.payment(&pid, &c.owner)?;
        let items = p
            .captures
            .iter()
            .rev()
            .filter_map(|id| st.captures.get(id))
            .map(|x| capture_json(x, base))
            .collect();
        list(
            items,
            "captures",
            &format!("{base}/v2/payments/{pid}/captures"),
            &page,
        )
    })
}

/// `POST …/release-authorization`: only from `authorized` → `canceled` (nothing captured) or
/// `paid` (something captured), with a webhook; 202 with an empty body, as Mollie answers.
async fn release(State(sim): State<Sim>, c: Caller, Path(pid): Path<String>) -> ApiResult {
    sim.with_state(|st, _| {
        let p = st.payment(&pid, &c.owner)?;
        if p.status != Status::Authorized {
            return Err(ApiError::new(
                422,
                "The payment authorization cannot be released",
            ));
        }
        let captured = p
            .captures
            .iter()
            .filter_map(|id| st.captures.get(id))
            .any(|x| x.status != "failed");
        let to = if !captured {
            Status::Canceled
        } else {
            Status::Paid
        };
        st.transition(&pid, to)?;
        Ok(axum::http::StatusCode::ACCEPTED.into_response())
    })
}
