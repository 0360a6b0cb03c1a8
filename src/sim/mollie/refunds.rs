//! Refunds API (§3.15): create with the 409 duplicate guard, get, list, cancel while `queued` or
//! `pending`; the lifecycle itself runs on the sim clock (`lifecycle.rs`).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use chrono::Duration;

use super::Sim;
use super::input::{Caller, Input};
use super::model::{Owner, Refund, Status};
use super::money;
use super::money::Amount;
use super::respond::{ApiError, ApiResult, Page, created, list, ok};
use super::state::State as SimState;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/payments/{id}/refunds", post(create).get(list_refunds))
        .route(
            "/payments/{id}/refunds/{re}",
            get(get_refund).delete(cancel),
        )
}

/// The duplicate guard's window: the same amount again within this is 409 (magento2#456).
const DUPLICATE_WINDOW_SECS: i64 = 3600;

async fn create(
    State(sim): State<Sim>,
    c: Caller,
    Path(pid): Path<String>,
    input: Input,
) -> ApiResult {
    input.only(&[
        "amount",
        "description",
        "metadata",
        "reverseRouting",
        "routingReversals",
    ])?;
    let amount = money::parse(input.get("amount"), "amount")
        .map_err(|e| ApiError::field(&e.field, e.detail))?;
    let description = input.str("description")?.unwrap_or_default();
    if description.chars().count() > 140 {
        return Err(ApiError::field(
            "description",
            "The description is longer than 140 characters",
        ));
    }
    let metadata = input.metadata()?;
    sim.with_state(|st, cfg| {
        if st.knobs.refund_503_times > 0 {
            st.knobs.refund_503_times -= 1;
            return Err(ApiError::new(
                503,
                "The refund could not be created, please try again",
            ));
        }
        refusal(st, &pid, &c.owner, &amount)?;
        let now = st.now();
        let id = st.new_id("re_");
        st.refunds.insert(
            id.clone(),
            Refund {
                id: id.clone(),
                payment_id: pid.clone(),
                created_at: now,
                amount,
                description,
                metadata,
                status: "queued".into(),
                next_at: None,
            },
        );
        if let Some(p) = st.payments.get_mut(&pid) {
            p.refunds.push(id.clone());
        }
        if !st.knobs.insufficient_balance {
            st.start_refund(&id);
        }
        let r = st
            .refunds
            .get(&id)
            .ok_or_else(|| ApiError::not_found("refund", &id))?;
        Ok(created(&st.refund_json(r, &cfg.public_base_url)))
    })
}

/// Why Mollie would refuse this refund: not paid, another currency, the duplicate guard (409),
/// more than the remaining amount or the balance knob (422).
fn refusal(st: &SimState, pid: &str, who: &Owner, amount: &Amount) -> Result<(), ApiError> {
    let now = st.now();
    let p = st.payment(pid, who)?;
    if p.status != Status::Paid {
        return Err(ApiError::new(422, "The payment cannot be refunded"));
    }
    if amount.currency != p.amount.currency {
        return Err(ApiError::field(
            "amount.currency",
            "The currency must match the payment's",
        ));
    }
    let window = Duration::seconds(DUPLICATE_WINDOW_SECS);
    let duplicate = p
        .refunds
        .iter()
        .filter_map(|id| st.refunds.get(id))
        .any(|r| r.is_live() && &r.amount == amount && now - r.created_at < window);
    if duplicate {
        return Err(ApiError::new(409, "A duplicate refund has been detected"));
    }
    if amount.value.is_zero() || amount.value > st.remaining(p) || st.knobs.insufficient_balance_422
    {
        return Err(ApiError::field(
            "amount",
            "The specified amount cannot be refunded",
        ));
    }
    Ok(())
}

async fn get_refund(
    State(sim): State<Sim>,
    c: Caller,
    Path((pid, rid)): Path<(String, String)>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        st.payment(&pid, &c.owner)?;
        let r = st
            .refunds
            .get(&rid)
            .filter(|r| r.payment_id == pid)
            .ok_or_else(|| ApiError::not_found("refund", &rid))?;
        Ok(ok(&st.refund_json(r, &cfg.public_base_url)))
    })
}

async fn list_refunds(
    State(sim): State<Sim>,
    c: Caller,
    Path(pid): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let p = st.payment(&pid, &c.owner)?;
        let items = p
            .refunds
            .iter()
            .rev()
            .filter_map(|id| st.refunds.get(id))
            .map(|r| st.refund_json(r, base))
            .collect();
        list(
            items,
            "refunds",
            &format!("{base}/v2/payments/{pid}/refunds"),
            &page,
        )
    })
}

/// `DELETE`: 204 while `queued` or `pending`; otherwise 422.
async fn cancel(
    State(sim): State<Sim>,
    c: Caller,
    Path((pid, rid)): Path<(String, String)>,
) -> ApiResult {
    sim.with_state(|st, _| {
        st.payment(&pid, &c.owner)?;
        let r = st
            .refunds
            .get_mut(&rid)
            .filter(|r| r.payment_id == pid)
            .ok_or_else(|| ApiError::not_found("refund", &rid))?;
        if !matches!(r.status.as_str(), "queued" | "pending") {
            return Err(ApiError::new(422, "The refund cannot be canceled"));
        }
        r.status = "canceled".into();
        r.next_at = None;
        if st.knobs.refund_canceled_webhook {
            st.notify(&pid);
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}
