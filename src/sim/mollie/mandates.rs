//! Mandates API (§3.11): create (direct debit from an IBAN, PayPal billing agreement), get,
//! list, revoke. Card mandates only come from first payments.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::Sim;
use super::details::iban_ok;
use super::input::{Caller, Input};
use super::knobs::RevokedMandateGet;
use super::respond::{ApiError, ApiResult, Page, created, list, ok};
use super::views::mandate_json;

pub(crate) fn routes() -> Router<Sim> {
    Router::new()
        .route("/customers/{cst}/mandates", get(list_mandates).post(create))
        .route(
            "/customers/{cst}/mandates/{id}",
            get(get_mandate).delete(revoke),
        )
}

const PARAMS: &[&str] = &[
    "method",
    "consumerName",
    "consumerAccount",
    "consumerBic",
    "consumerEmail",
    "signatureDate",
    "mandateReference",
    "paypalBillingAgreementId",
];

fn is_date(s: &str) -> bool {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

/// `POST …/mandates`: valid at once (§2.4).
async fn create(
    State(sim): State<Sim>,
    c: Caller,
    Path(cst): Path<String>,
    input: Input,
) -> ApiResult {
    input.only(PARAMS)?;
    let method = input.required("method")?;
    let name = input.required("consumerName")?;
    let details = match method.as_str() {
        "directdebit" => {
            let iban = input.required("consumerAccount")?;
            if !iban_ok(&iban) {
                return Err(ApiError::field(
                    "consumerAccount",
                    "The bank account is invalid",
                ));
            }
            let iban: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
            json!({"consumerName": name, "consumerAccount": iban, "consumerBic": input.str("consumerBic")?})
        }
        "paypal" => {
            let email = input.required("consumerEmail")?;
            input.required("paypalBillingAgreementId")?;
            json!({"consumerName": name, "consumerAccount": email})
        }
        _ => {
            return Err(ApiError::field(
                "method",
                "The method must be directdebit or paypal",
            ));
        }
    };
    let signature = input.str("signatureDate")?;
    if signature.as_deref().is_some_and(|d| !is_date(d)) {
        return Err(ApiError::field(
            "signatureDate",
            "The signatureDate must be YYYY-MM-DD",
        ));
    }
    let reference = input.str("mandateReference")?;
    sim.with_state(|st, cfg| {
        st.customer(&cst, &c.owner)?;
        let id = st.add_mandate(&cst, &method, 0, Some(details), reference);
        if let (Some(d), Some(m)) = (signature, st.mandates.get_mut(&id)) {
            m.signature_date = Some(d);
        }
        let m = st.mandate(&cst, &id, &c.owner)?;
        Ok(created(&mandate_json(m, &cfg.public_base_url)))
    })
}

/// A revoked mandate shows as `invalid`, or 404/410 by knob (§6 Q4).
async fn get_mandate(
    State(sim): State<Sim>,
    c: Caller,
    Path((cst, id)): Path<(String, String)>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        st.customer(&cst, &c.owner)?;
        let m = st.mandate(&cst, &id, &c.owner)?;
        if m.revoked {
            match st.knobs.revoked_mandate_get {
                RevokedMandateGet::Invalid => {}
                RevokedMandateGet::NotFound => return Err(ApiError::not_found("mandate", &id)),
                RevokedMandateGet::Gone => {
                    return Err(ApiError::new(410, "The mandate is no longer available"));
                }
            }
        }
        Ok(ok(&mandate_json(m, &cfg.public_base_url)))
    })
}

async fn list_mandates(
    State(sim): State<Sim>,
    c: Caller,
    Path(cst): Path<String>,
    Query(page): Query<Page>,
) -> ApiResult {
    sim.with_state(|st, cfg| {
        let base = &cfg.public_base_url;
        let customer = st.customer(&cst, &c.owner)?;
        let items = customer
            .mandates
            .iter()
            .rev()
            .filter_map(|id| st.mandates.get(id))
            .map(|m| mandate_json(m, base))
            .collect();
        list(
            items,
            "mandates",
            &format!("{base}/v2/customers/{cst}/mandates"),
            &page,
        )
    })
}

/// `DELETE`: 204; the mandate can no longer be charged.
async fn revoke(
    State(sim): State<Sim>,
    c: Caller,
    Path((cst, id)): Path<(String, String)>,
) -> ApiResult {
    sim.with_state(|st, _| {
        st.customer(&cst, &c.owner)?;
        st.mandate(&cst, &id, &c.owner)?;
        if let Some(m) = st.mandates.get_mut(&id) {
            if m.revoked {
                return Err(ApiError::new(410, "The mandate is no longer available"));
            }
            m.revoked = true;
            m.status = "invalid".into();
        }
        Ok(StatusCode::NO_CONTENT.into_response())
    })
}
