//! `POST /v2/payments` (and `POST /v2/customers/{id}/payments`): validation and the initial
//! state of one-off, first and recurring payments (§3.5, §3.6).

use chrono::Duration;
use serde_json::Value;

use super::details;
use super::input::{Input, url};
use super::lifecycle::{EXPIRE, SETTLE};
use super::methods::{self, DEFAULT_EXPIRY_SECS};
use super::model::{Owner, Payment, Status};
use super::money::{self, Amount};
use super::respond::ApiError;
use super::state::State;

const PARAMS: &[&str] = &[
    "amount",
    "description",
    "redirectUrl",
    "cancelUrl",
    "webhookUrl",
    "locale",
    "method",
    "metadata",
    "sequenceType",
    "customerId",
    "mandateId",
    "captureMode",
    "captureDelay",
    "billingAddress",
    "shippingAddress",
    "issuer",
];

/// The validated request.
pub(crate) struct NewPayment {
    amount: Amount,
    description: String,
    redirect_url: Option<String>,
    cancel_url: Option<String>,
    webhook_url: Option<String>,
    locale: Option<String>,
    methods: Vec<String>,
    metadata: Value,
    sequence_type: String,
    customer_id: Option<String>,
    mandate_id: Option<String>,
    capture_mode: Option<String>,
    capture_delay: Option<(i64, String)>,
}

fn amount_err(e: money::AmountError) -> ApiError {
    ApiError::field(&e.field, e.detail)
}

/// `"8 hours"`, `"2 days"`: seconds, at most 7 days.
fn capture_delay(s: &str) -> Result<i64, ApiError> {
    let bad = || {
        ApiError::field(
            "captureDelay",
            "The captureDelay must be like '8 hours' or '2 days', at most 7 days",
        )
    };
    let (n, unit) = s.trim().split_once(' ').ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    let secs = match unit {
        "hour" | "hours" => n * 3600,
        "day" | "days" => n * 86_400,
        _ => return Err(bad()),
    };
    if secs <= 0 || secs > 7 * 86_400 {
        return Err(bad());
    }
    Ok(secs)
}

fn method_list(input: &Input) -> Result<Vec<String>, ApiError> {
    match input.get("method") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                ApiError::field("method", "The method must be a string or a list of strings")
            }),
        Some(_) => Err(ApiError::field(
            "method",
            "The method must be a string or a list of strings",
        )),
    }
}

/// Field-level validation that needs no state.
pub(crate) fn parse(input: &Input, path_customer: Option<String>) -> Result<NewPayment, ApiError> {
    input.only(PARAMS)?;
    let amount = money::parse(input.get("amount"), "amount").map_err(amount_err)?;
    // Longer descriptions are cut silently, as Mollie does (by characters, never mid-UTF-8).
    let description: String = input.required("description")?.chars().take(255).collect();
    let sequence_type = input
        .str("sequenceType")?
        .unwrap_or_else(|| "oneoff".into());
    if !matches!(sequence_type.as_str(), "oneoff" | "first" | "recurring") {
        return Err(ApiError::field(
            "sequenceType",
            "The sequenceType must be oneoff, first or recurring",
        ));
    }
    let redirect_url = url(input.str("redirectUrl")?, "redirectUrl")?;
    if redirect_url.is_none() && sequence_type != "recurring" {
        return Err(ApiError::field(
            "redirectUrl",
            "The redirect URL is required",
        ));
    }
    let capture_mode = input.str("captureMode")?;
    if capture_mode
        .as_deref()
        .is_some_and(|c| !matches!(c, "automatic" | "manual"))
    {
        return Err(ApiError::field(
            "captureMode",
            "The captureMode must be automatic or manual",
        ));
    }
    let capture_delay = match input.str("captureDelay")? {
        Some(d) => Some((capture_delay(&d)?, d)),
        None => None,
    };
    if capture_delay.is_some() && capture_mode.as_deref() == Some("manual") {
        return Err(ApiError::field(
            "captureDelay",
            "A captureDelay needs captureMode automatic",
        ));
    }
    Ok(NewPayment {
        amount,
        description,
        redirect_url,
        cancel_url: url(input.str("cancelUrl")?, "cancelUrl")?,
        webhook_url: url(input.str("webhookUrl")?, "webhookUrl")?,
        locale: input.str("locale")?,
        methods: method_list(input)?,
        metadata: input.metadata()?,
        sequence_type,
        customer_id: path_customer.or(input.str("customerId")?),
        mandate_id: input.str("mandateId")?,
        capture_mode,
        capture_delay,
    })
}

/// Checks `n` against the state and creates the payment; returns its id.
pub(crate) fn create(st: &mut State, who: &Owner, n: NewPayment) -> Result<String, ApiError> {
    let disabled = st.knobs.disabled_methods.clone();
    for m in &n.methods {
        methods::check(m, &n.amount, &n.sequence_type, &disabled)?;
    }
    let fixed = (n.methods.len() == 1).then(|| n.methods[0].clone());
    let zero_ok =
        n.sequence_type == "first" && matches!(fixed.as_deref(), Some("creditcard" | "paypal"));
    if n.amount.value.is_zero() && !zero_ok {
        return Err(ApiError::field(
            "amount",
            "The amount is lower than the minimum",
        ));
    }
    let manual = n.capture_mode.as_deref() == Some("manual");
    if (manual || n.capture_delay.is_some()) && fixed.as_deref() != Some("creditcard") {
        return Err(ApiError::field(
            "captureMode",
            "Capturing later is only supported for creditcard",
        ));
    }
    if n.sequence_type != "oneoff" {
        let cst = n.customer_id.as_deref().ok_or_else(|| {
            ApiError::field(
                "customerId",
                "A customerId is required for this sequenceType",
            )
        })?;
        st.customer(cst, who)
            .map_err(|e| e.with_field("customerId"))?;
    }
    let now = st.now();
    let id = st.new_id("tr_");
    let mandate_id = n.mandate_id.clone();
    let mut p = build(id.clone(), who, now, n, fixed.clone());
    if p.sequence_type == "recurring" {
        if manual {
            return Err(ApiError::field(
                "captureMode",
                "Manual capture is not supported for recurring payments",
            ));
        }
        recurring(st, &mut p, mandate_id.as_deref(), fixed.as_deref())?;
        st.schedule(p.settle_at.unwrap_or(now), SETTLE, &id);
    } else {
        let secs = fixed
            .as_deref()
            .and_then(methods::find)
            .map_or(DEFAULT_EXPIRY_SECS, |m| m.expiry_secs);
        let at = now + Duration::seconds(secs);
        p.expires_at = Some(at);
        st.schedule(at, EXPIRE, &id);
    }
    if let Some(c) = p
        .customer_id
        .as_deref()
        .and_then(|c| st.customers.get_mut(c))
    {
        c.payments.push(id.clone());
    }
    st.payments.insert(id.clone(), p);
    st.payment_order.push(id.clone());
    Ok(id)
}

/// The new payment, `open`, before the sequence-specific parts are filled in.
fn build(
    id: String,
    who: &Owner,
    now: chrono::DateTime<chrono::Utc>,
    n: NewPayment,
    fixed: Option<String>,
) -> Payment {
    Payment {
        id,
        owner: who.clone(),
        created_at: now,
        status: Status::Open,
        amount: n.amount,
        description: n.description,
        redirect_url: n.redirect_url,
        cancel_url: n.cancel_url,
        webhook_url: n.webhook_url,
        locale: n.locale,
        method_fixed: fixed.is_some(),
        method: fixed,
        metadata: n.metadata,
        sequence_type: n.sequence_type,
        customer_id: n.customer_id,
        mandate_id: None,
        capture_mode: n.capture_mode,
        capture_delay_secs: n.capture_delay.as_ref().map(|d| d.0),
        capture_delay_text: n.capture_delay.map(|d| d.1),
        expires_at: None,
        authorized_at: None,
        capture_before: None,
        paid_at: None,
        canceled_at: None,
        expired_at: None,
        failed_at: None,
        settle_at: None,
        details: Value::Null,
        refunds: Vec::new(),
        captures: Vec::new(),
        chargebacks: Vec::new(),
    }
}

/// A recurring payment: a valid mandate (given or the newest), `pending` until it settles.
fn recurring(
    st: &State,
    p: &mut Payment,
    mandate_id: Option<&str>,
    fixed: Option<&str>,
) -> Result<(), ApiError> {
    let cst = p.customer_id.clone().unwrap_or_default();
    let m = match mandate_id {
        Some(mid) => st
            .mandate(&cst, mid, &p.owner)
            .ok()
            .filter(|m| m.status == "valid" && !m.revoked)
            .ok_or_else(|| ApiError::field("mandateId", "The mandate is not valid"))?,
        None => st
            .newest_valid_mandate(&cst)
            .ok_or_else(|| ApiError::field("customerId", "The customer has no valid mandates"))?,
    };
    if fixed.is_some_and(|f| f != m.method) {
        return Err(ApiError::field(
            "method",
            "The method does not match the mandate",
        ));
    }
    methods::check(
        &m.method,
        &p.amount,
        "recurring",
        &st.knobs.disabled_methods,
    )?;
    let now = st.now();
    p.status = Status::Pending;
    p.mandate_id = Some(m.id.clone());
    p.method = Some(m.method.clone());
    let wait = match m.method.as_str() {
        "directdebit" => {
            let due = (now + Duration::days(2)).format("%Y-%m-%d").to_string();
            p.details = details::debit(&m.details, &due, m.mandate_reference.as_deref());
            st.knobs.directdebit_settle_secs
        }
        "creditcard" => st.knobs.card_recurring_secs,
        _ => 0,
    };
    p.settle_at = Some(now + Duration::seconds(wait));
    Ok(())
}
