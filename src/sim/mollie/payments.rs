//! Payments API: create, get (with `embed`), list, cancel (§3.5, §3.12, §3.17).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};

use super::Sim;
use super::create;
use super::input::{Caller, Input};
use super::model::Status;
use super::respond::{ApiError, ApiResult, Page, created, list, ok};

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/payments", post(create_payment).get(list_payments))
        .route("/payments/{id}", get(get_payment).delete(cancel))
        .route(
            "/customers/{id}/payments",
            post(create_customer_payment).get(customer_payments),
        )
}

async fn create_payment(State(sim): State<Sim>, c: Caller, input: Input) -> ApiResult {
    sim.create_payment(&c, &input, None).await
}

async fn create_customer_payment(
    State(sim): State<Sim>,
    c: Caller,
    Path(cst): Path<String>,
    input: Input,
) -> ApiResult {
    sim.with_state(|st, _| st.customer(&cst, &c.owner).map(|_| ()))?;
    if input.get("customerId").is_some() {
        return Err(ApiError::new(
            422,
            "Non-existent parameter \"customerId\" for this API call.",
        ));
    }
    sim.create_payment(&c, &input, Some(cst)).await
}

impl Sim {
    async fn create_payment(&self, c: &Caller, input: &Input, cst: Option<String>) -> ApiResult {
        let n = create::parse(input, cst)?;
        let (id, body, early) = self.with_state(|st, cfg| {
            let id = create::create(st, &c.owner, n)?;
            let p = st
                .payments
                .get(&id)
                .ok_or_else(|| ApiError::not_found("payment", &id))?;
            let body = st.payment_json(p, &cfg.public_base_url, &[]);
            let early = st.knobs.webhook_before_answer;
            if early && !st.hooks.queue.iter().any(|d| d.payment_id == id) {
                st.notify(&id);
            }
            Ok::<_, ApiError>((id, body, early))
        })?;
        if early {
            self.deliver_now(&id).await;
        }
        Ok(created(&body))
    }
}

#[derive(serde::Deserialize)]
struct GetQuery {
    embed: Option<String>,
}

/// `embed=refunds,captures,chargebacks` (any subset); anything else is a 400 naming `embed`.
fn embeds(q: &GetQuery) -> Result<Vec<&str>, ApiError> {
    let Some(e) = q.embed.as_deref() else {
        return Ok(Vec::new());
    };
    e.split(',')
        .map(str::trim)
        .map(|x| match x {
            "refunds" | "captures" | "chargebacks" => Ok(x),
            _ => Err(ApiError::new(400, format!("Invalid embed value '{x}'")).with_field("embed")),
        })
        .collect()
}

async fn get_payment(
    State(sim): State<Sim>,
    c: Caller,
    Path(id): Path<String>,
    Query(q): Query<GetQuery>,
) -> ApiResult {
    let embed = embeds(&q)?;
    sim.with_state(|st, cfg| {
        // The transient 404 right after a webhook (mollie-api-node#295).
        if let Some(n) = st.transient_404.get_mut(&id).filter(|n| **n > 0) {
            *n -= 1;
            return Err(ApiError::not_found("payment", &id));
        }
        let p = st.payment(&id, &c.owner)?;
        Ok(ok(&st.payment_json(p, &cfg.public_base_url, &embed)))
    })
}

async fn list_payments(State(sim): State<Sim>, c: Caller, Query(page): Query<Page>) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let items = st
            .payment_order
            .iter()
            .rev()
            .filter_map(|id| st.payments.get(id))
            .filter(|p| p.owner == c.owner)
            .map(|p| st.payment_json(p, base, &[]))
            .collect();
        list(items, "payments", &format!("{base}/v2/payments"), &page)
    })
}

async fn customer_payments(
    State(sim): State<Sim>,
    c: Caller,
    Path(cst): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let customer = st.customer(&cst, &c.owner)?;
        let items = customer
            .payments
            .iter()
            .rev()
            .filter_map(|id| st.payments.get(id))
            .map(|p| st.payment_json(p, base, &[]))
            .collect();
        list(
            items,
            "payments",
            &format!("{base}/v2/customers/{cst}/payments"),
            &page,
        )
    })
}

/// `DELETE /v2/payments/{id}`: while `isCancelable` → 200 with the cancelled payment; on an
/// authorization it releases the whole remainder. Otherwise 422.
async fn cancel(State(sim): State<Sim>, c: Caller, Path(id): Path<String>) -> ApiResult {
    sim.with_state(|st, cfg| {
        let p = st.payment(&id, &c.owner)?;
        if !p.is_cancelable() {
            return Err(ApiError::new(422, "The payment cannot be cancelled"));
        }
        let captured = st.sums(p).captured;
        let to = if p.status == Status::Authorized && !captured.is_zero() {
            Status::Paid
        } else {
            Status::Canceled
        };
        st.transition(&id, to)?;
        let p = st.payment(&id, &c.owner)?;
        Ok(ok(&st.payment_json(p, &cfg.public_base_url, &[])))
    })
}
