//! Payment methods: the Methods API (§3.22) and the per-method rules payment creation uses
//! (currencies, limits, first/recurring, expiry, the mandate a first payment creates).

use std::collections::HashMap;
use std::str::FromStr;

use axum::extract::{Path, Query, State};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::Sim;
use super::input::Caller;
use super::money::{self, Amount};
use super::respond::{ApiError, ApiResult, HAL, link, ok};

pub(crate) struct Method {
    pub id: &'static str,
    description: &'static str,
    /// Limits in EUR (checked for EUR amounts).
    min: &'static str,
    max: &'static str,
    /// `false`: EUR only.
    any_currency: bool,
    pub first: bool,
    pub recurring: bool,
    /// How long an unpaid `open` payment lives (§2.3).
    pub expiry_secs: i64,
    /// The mandate a paid first payment creates.
    pub mandate: Option<&'static str>,
}

const MIN: i64 = 60;
const HOUR: i64 = 3600;

#[rustfmt::skip]
pub(crate) const METHODS: &[Method] = &[
    Method { id: "applepay", description: "Apple Pay", min: "0.01", max: "10000.00", any_currency: true, first: true, recurring: false, expiry_secs: 30 * MIN, mandate: Some("creditcard") },
    Method { id: "bancontact", description: "Bancontact", min: "0.02", max: "50000.00", any_currency: false, first: true, recurring: false, expiry_secs: HOUR, mandate: Some("directdebit") },
    Method { id: "banktransfer", description: "Bank transfer", min: "0.01", max: "1000000.00", any_currency: false, first: false, recurring: false, expiry_secs: 12 * 24 * HOUR, mandate: None },
    Method { id: "belfius", description: "Belfius Pay Button", min: "0.01", max: "50000.00", any_currency: false, first: true, recurring: false, expiry_secs: HOUR, mandate: Some("directdebit") },
    Method { id: "creditcard", description: "Card", min: "0.01", max: "10000.00", any_currency: true, first: true, recurring: true, expiry_secs: 30 * MIN, mandate: Some("creditcard") },
    Method { id: "directdebit", description: "SEPA Direct Debit", min: "0.01", max: "1000.00", any_currency: false, first: false, recurring: true, expiry_secs: 15 * MIN, mandate: None },
    Method { id: "eps", description: "eps", min: "1.00", max: "50000.00", any_currency: false, first: true, recurring: false, expiry_secs: HOUR, mandate: Some("directdebit") },
    Method { id: "giropay", description: "giropay", min: "1.00", max: "10000.00", any_currency: false, first: true, recurring: false, expiry_secs: HOUR, mandate: Some("directdebit") },
    Method { id: "ideal", description: "iDEAL", min: "0.01", max: "50000.00", any_currency: false, first: true, recurring: false, expiry_secs: 15 * MIN, mandate: Some("directdebit") },
    Method { id: "kbc", description: "KBC/CBC Payment Button", min: "0.01", max: "50000.00", any_currency: false, first: true, recurring: false, expiry_secs: HOUR, mandate: Some("directdebit") },
    Method { id: "mybank", description: "MyBank", min: "0.10", max: "50000.00", any_currency: false, first: true, recurring: false, expiry_secs: HOUR, mandate: Some("directdebit") },
    Method { id: "paypal", description: "PayPal", min: "0.01", max: "8000.00", any_currency: true, first: true, recurring: true, expiry_secs: 72 * HOUR, mandate: Some("paypal") },
    Method { id: "sofort", description: "SOFORT Banking", min: "0.10", max: "5000.00", any_currency: false, first: true, recurring: false, expiry_secs: 2 * HOUR, mandate: Some("directdebit") },
];

pub(crate) fn routes() -> axum::Router<Sim> {
    use axum::routing::get;
    axum::Router::new()
        .route("/methods", get(list))
        .route("/methods/{id}", get(get_one))
}

/// Expiry of a payment without a fixed method.
pub(crate) const DEFAULT_EXPIRY_SECS: i64 = 15 * MIN;

pub(crate) fn find(id: &str) -> Option<&'static Method> {
    METHODS.iter().find(|m| m.id == id)
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str(s).unwrap_or_default()
}

impl Method {
    fn supports_sequence(&self, sequence_type: &str) -> bool {
        match sequence_type {
            "first" => self.first,
            "recurring" => self.recurring,
            _ => self.id != "directdebit",
        }
    }

    /// Why `amount` cannot be paid with this method, as Mollie's 422.
    pub(crate) fn refuses(&self, amount: &Amount, sequence_type: &str) -> Option<ApiError> {
        if !self.any_currency && amount.currency != "EUR" {
            let d = format!(
                "The currency {} is not supported by {}",
                amount.currency, self.id
            );
            return Some(ApiError::field("amount.currency", d));
        }
        let zero_first = amount.value.is_zero()
            && sequence_type == "first"
            && matches!(self.id, "creditcard" | "paypal");
        if amount.currency == "EUR" && !zero_first {
            if amount.value < dec(self.min) {
                return Some(ApiError::field(
                    "amount",
                    "The amount is lower than the minimum",
                ));
            }
            if amount.value > dec(self.max) {
                return Some(ApiError::field(
                    "amount",
                    "The amount is higher than the maximum",
                ));
            }
        }
        None
    }

    fn json(&self, base: &str) -> Value {
        let img = |ext: &str| {
            format!(
                "https://www.mollie.com/external/icons/payment-methods/{}.{ext}",
                self.id
            )
        };
        json!({
            "resource": "method",
            "id": self.id,
            "description": self.description,
            "minimumAmount": {"value": self.min, "currency": "EUR"},
            "maximumAmount": {"value": self.max, "currency": "EUR"},
            "image": {"size1x": img("png"), "size2x": img("png"), "svg": img("svg")},
            "status": "activated",
            "_links": {
                "self": link(&format!("{base}/v2/methods/{}", self.id), HAL),
                "documentation": link("https://docs.mollie.com/reference/get-method", "text/html"),
            }
        })
    }
}

/// `GET /v2/methods?sequenceType=…&amount[value]=…&amount[currency]=…`: the enabled methods.
pub(crate) async fn list(
    State(sim): State<Sim>,
    _caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> ApiResult {
    let seq = q.get("sequenceType").map_or("oneoff", String::as_str);
    if !matches!(seq, "oneoff" | "first" | "recurring") {
        return Err(ApiError::new(400, "Invalid sequenceType").with_field("sequenceType"));
    }
    let amount = match (q.get("amount[value]"), q.get("amount[currency]")) {
        (None, None) => None,
        (v, c) => {
            let obj = json!({"value": v, "currency": c});
            let a = money::parse(Some(&obj), "amount")
                .map_err(|e| ApiError::new(400, e.detail).with_field(&e.field))?;
            Some(a)
        }
    };
    let disabled = sim.with_state(|st, _| st.knobs.disabled_methods.clone());
    let base = sim.config().public_base_url.clone();
    let items: Vec<Value> = METHODS
        .iter()
        .filter(|m| !disabled.iter().any(|d| d == m.id))
        .filter(|m| m.supports_sequence(seq))
        .filter(|m| amount.as_ref().is_none_or(|a| m.refuses(a, seq).is_none()))
        .map(|m| m.json(&base))
        .collect();
    Ok(ok(&json!({
        "count": items.len(),
        "_embedded": {"methods": items},
        "_links": {
            "self": link(&format!("{base}/v2/methods"), HAL),
            "documentation": link("https://docs.mollie.com/reference/list-methods", "text/html"),
        }
    })))
}

/// `GET /v2/methods/{id}`.
pub(crate) async fn get_one(
    State(sim): State<Sim>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let m = find(&id).ok_or_else(|| ApiError::not_found("method", &id))?;
    Ok(ok(&m.json(&sim.config().public_base_url)))
}

/// Checks a fixed method for a payment: known, activated, fits the sequence and amount.
pub(crate) fn check(
    id: &str,
    amount: &Amount,
    sequence_type: &str,
    disabled: &[String],
) -> Result<&'static Method, ApiError> {
    let m = find(id)
        .filter(|m| !disabled.iter().any(|d| d == m.id))
        .ok_or_else(|| {
            ApiError::field(
                "method",
                format!("The payment method '{id}' is invalid or not activated"),
            )
        })?;
    if !m.supports_sequence(sequence_type) {
        let d = format!("The method {id} does not support sequenceType {sequence_type}");
        return Err(ApiError::field("sequenceType", d));
    }
    if let Some(e) = m.refuses(amount, sequence_type) {
        return Err(e);
    }
    Ok(m)
}
