//! Customers API: create, get, list (§3.4).

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::routing::{get, post};
use serde_json::Value;

use super::Sim;
use super::input::{Caller, Input};
use super::model::Customer;
use super::respond::{ApiResult, Page, created, list, ok};
use super::views::customer_json;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/customers", post(create).get(list_customers))
        .route("/customers/{id}", get(get_customer))
}

async fn create(State(sim): State<Sim>, c: Caller, input: Input) -> ApiResult {
    input.only(&["name", "email", "locale", "metadata"])?;
    let (name, email, locale) = (
        input.str("name")?,
        input.str("email")?,
        input.str("locale")?,
    );
    let metadata = input.metadata()?;
    if email.as_deref().is_some_and(|e| !e.contains('@')) {
        return Err(super::respond::ApiError::field(
            "email",
            "The email address is invalid",
        ));
    }
    sim.with_state(|st, cfg| {
        let id = st.new_id("cst_");
        let customer = Customer {
            id: id.clone(),
            owner: c.owner.clone(),
            created_at: st.now(),
            name,
            email,
            locale,
            metadata: if metadata.is_null() {
                Value::Null
            } else {
                metadata
            },
            payments: Vec::new(),
            mandates: Vec::new(),
        };
        let body = customer_json(&customer, &cfg.public_base_url);
        st.customers.insert(id.clone(), customer);
        st.customer_order.push(id);
        Ok(created(&body))
    })
}

async fn get_customer(State(sim): State<Sim>, c: Caller, Path(id): Path<String>) -> ApiResult {
    sim.with_state(|st, cfg| {
        let customer = st.customer(&id, &c.owner)?;
        Ok(ok(&customer_json(customer, &cfg.public_base_url)))
    })
}

async fn list_customers(State(sim): State<Sim>, c: Caller, Query(page): Query<Page>) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let items = st
            .customer_order
            .iter()
            .rev()
            .filter_map(|id| st.customers.get(id))
            .filter(|x| x.owner == c.owner)
            .map(|x| customer_json(x, base))
            .collect();
        list(items, "customers", &format!("{base}/v2/customers"), &page)
    })
}
