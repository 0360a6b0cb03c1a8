//! Chargebacks (§3.16): read through the API; created and reversed by the admin controls. A
//! chargeback never changes the payment's status (§2.8).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::get;
use serde_json::Value;

use super::Sim;
use super::input::Caller;
use super::model::Status;
use super::money;
use super::respond::{ApiError, ApiResult, Page, list, ok};
use super::views::chargeback_json;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/chargebacks", get(list_all))
        .route("/payments/{id}/chargebacks", get(list_for_payment))
        .route("/payments/{id}/chargebacks/{chb}", get(get_one))
}

async fn get_one(
    State(sim): State<Sim>,
    c: Caller,
    Path((pid, cid)): Path<(String, String)>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        st.payment(&pid, &c.owner)?;
        let x = st
            .chargebacks
            .get(&cid)
            .filter(|x| x.payment_id == pid)
            .ok_or_else(|| ApiError::not_found("chargeback", &cid))?;
        Ok(ok(&chargeback_json(x, &cfg.public_base_url)))
    })
}

async fn list_for_payment(
    State(sim): State<Sim>,
    c: Caller,
    Path(pid): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let p = st.payment(&pid, &c.owner)?;
        let items = p
            .chargebacks
            .iter()
            .rev()
            .filter_map(|id| st.chargebacks.get(id))
            .map(|x| chargeback_json(x, base))
            .collect();
        list(
            items,
            "chargebacks",
            &format!("{base}/v2/payments/{pid}/chargebacks"),
            &page,
        )
    })
}

/// The account-wide list.
async fn list_all(State(sim): State<Sim>, c: Caller, Query(page): Query<Page>) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let items = st
            .chargeback_order
            .iter()
            .rev()
            .filter_map(|id| st.chargebacks.get(id))
            .filter(|x| {
                st.payments
                    .get(&x.payment_id)
                    .is_some_and(|p| p.owner == c.owner)
            })
            .map(|x| chargeback_json(x, base))
            .collect();
        list(
            items,
            "chargebacks",
            &format!("{base}/v2/chargebacks"),
            &page,
        )
    })
}

impl Sim {
    /// A chargeback on a `paid` payment: `amount` (Mollie's format; `None`: the whole amount),
    /// a `reason_code` (direct debit only), `negative` writes `amount.value` negative (the
    /// fixture hazard). The payment stays `paid`; its webhook is queued. Returns the JSON.
    pub fn chargeback(
        &self,
        payment_id: &str,
        amount: Option<&str>,
        reason_code: Option<&str>,
        negative: bool,
    ) -> Result<Value, String> {
        self.with_state(|st, cfg| {
            let p = st
                .payments
                .get(payment_id)
                .ok_or_else(|| format!("unknown payment {payment_id}"))?;
            if p.status != Status::Paid {
                return Err("a chargeback needs a paid payment".to_string());
            }
            let amount = match amount {
                None => p.amount.clone(),
                Some(v) => {
                    let obj = serde_json::json!({"currency": p.amount.currency, "value": v});
                    money::parse(Some(&obj), "amount").map_err(|e| e.detail)?
                }
            };
            let prior = st.sums(p).charged_back;
            if amount.value.is_zero() || prior + amount.value > p.amount.value {
                return Err(format!(
                    "chargebacks would exceed the payment's {}",
                    p.amount.value_str()
                ));
            }
            let debit = p.method.as_deref() == Some("directdebit");
            let reason = reason_code.filter(|_| debit);
            let id = st.add_chargeback(payment_id, amount, reason, negative);
            let x = st.chargebacks.get(&id).ok_or("chargeback vanished")?;
            Ok(chargeback_json(x, &cfg.public_base_url))
        })
    }

    /// Reverses chargeback `id` (`reversedAt` set); queues the payment's webhook.
    pub fn reverse_chargeback(&self, id: &str) -> Result<Value, String> {
        self.with_state(|st, cfg| {
            let now = st.now();
            let x = st
                .chargebacks
                .get_mut(id)
                .ok_or_else(|| format!("unknown chargeback {id}"))?;
            if x.reversed_at.is_some() {
                return Err(format!("chargeback {id} is already reversed"));
            }
            x.reversed_at = Some(now);
            let pid = x.payment_id.clone();
            st.notify(&pid);
            let x = st.chargebacks.get(id).ok_or("chargeback vanished")?;
            Ok(chargeback_json(x, &cfg.public_base_url))
        })
    }
}
