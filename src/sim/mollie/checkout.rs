//! The hosted test checkout page (§3.7) behind `_links.checkout` (and `changePaymentState`):
//! the tester picks the outcome; the browser is redirected to `redirectUrl` (`cancelUrl` for
//! canceled) and the webhook is queued. Without a fixed method, failed and canceled return the
//! shopper to method selection: the payment stays `open` and no webhook is sent.

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;

use super::Sim;
use super::details;
use super::methods::METHODS;
use super::model::{Payment, Status};
use super::state::State as SimState;
use crate::sim::html::escape;

pub(crate) fn routes() -> Router<Sim> {
    Router::new().route("/checkout/{id}", get(page).post(submit))
}

fn choices(p: &Payment) -> Vec<&'static str> {
    match p.status {
        Status::Open if p.capture_mode.as_deref() == Some("manual") => {
            vec!["authorized", "failed", "canceled", "expired", "open"]
        }
        Status::Open => vec!["paid", "failed", "canceled", "expired", "open"],
        Status::Pending => vec!["paid", "failed", "canceled"],
        Status::Paid => vec!["chargeback"],
        _ => Vec::new(),
    }
}

fn not_found() -> Response {
    (
        StatusCode::NOT_FOUND,
        Html("<h1>Payment not found</h1>".to_string()),
    )
        .into_response()
}

async fn page(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let Some((p, amount)) = sim.with_state(|st, _| {
        st.payments
            .get(&id)
            .map(|p| (p.clone(), p.amount.value_str()))
    }) else {
        return not_found();
    };
    let mut buttons = String::new();
    for c in choices(&p) {
        buttons.push_str(&format!(
            r#"<button type="submit" name="outcome" value="{c}" id="outcome-{c}">{c}</button> "#
        ));
    }
    let picker = if p.status == Status::Open && !p.method_fixed {
        let opts: String = METHODS
            .iter()
            .filter(|m| p.sequence_type != "first" || m.first)
            .filter(|m| m.id != "directdebit")
            .map(|m| format!(r#"<option value="{0}">{0}</option>"#, m.id))
            .collect();
        format!(r#"<label>Method <select name="method" id="method">{opts}</select></label>"#)
    } else {
        String::new()
    };
    let body = format!(
        "<!doctype html><html><head><title>Mollie test checkout (simulator)</title></head><body>\
         <h1>Test mode</h1><p id=\"description\">{}</p><p id=\"amount\">{} {}</p>\
         <p>Status: <span id=\"status\">{}</span></p>\
         <form method=\"post\" action=\"/checkout/{}\">{picker}<p>Select the payment status: {buttons}</p></form>\
         </body></html>",
        escape(&p.description),
        escape(&p.amount.currency),
        amount,
        p.status.as_str(),
        escape(&p.id),
    );
    Html(body).into_response()
}

#[derive(serde::Deserialize)]
struct Outcome {
    outcome: String,
    method: Option<String>,
}

fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

async fn submit(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    Form(o): Form<Outcome>,
) -> Response {
    let res = sim.with_state(|st, cfg| apply(st, &id, &o, &cfg.public_base_url));
    match res {
        Ok(to) => see_other(&to),
        Err((code, msg)) => (code, Html(format!("<h1>{}</h1>", escape(&msg)))).into_response(),
    }
}

type PageResult = Result<String, (StatusCode, String)>;

/// Applies the tester's choice; returns where the browser goes next.
fn apply(st: &mut SimState, id: &str, o: &Outcome, base: &str) -> PageResult {
    let p = st
        .payments
        .get(id)
        .cloned()
        .ok_or((StatusCode::NOT_FOUND, "Payment not found".to_string()))?;
    if !choices(&p).contains(&o.outcome.as_str()) {
        let msg = format!(
            "'{}' is not a choice for a {} payment",
            o.outcome,
            p.status.as_str()
        );
        return Err((StatusCode::BAD_REQUEST, msg));
    }
    let back = p
        .redirect_url
        .clone()
        .unwrap_or_else(|| format!("{base}/checkout/{id}"));
    let cancel = p.cancel_url.clone().unwrap_or_else(|| back.clone());
    let here = format!("{base}/checkout/{id}");
    let bad = |e: super::respond::ApiError| (StatusCode::CONFLICT, e.detail);
    match p.status {
        Status::Paid => {
            let _ = st.add_chargeback(id, p.amount.clone(), None, false);
            return Ok(back);
        }
        Status::Pending => {
            pending_outcome(st, id, &p, &o.outcome).map_err(bad)?;
            return Ok(back);
        }
        _ => {}
    }
    if o.outcome == "open" {
        return Ok(back);
    }
    let fixed = p.method_fixed;
    let method = p.method.clone().or_else(|| {
        o.method
            .clone()
            .filter(|m| METHODS.iter().any(|x| x.id == m))
    });
    let magic =
        details::magic_failure(&p.amount).filter(|_| method.as_deref() == Some("creditcard"));
    let mut to = Status::parse(&o.outcome).unwrap_or(Status::Failed);
    if magic.is_some() && matches!(to, Status::Paid | Status::Authorized) {
        to = Status::Failed;
    }
    if to == Status::Paid && p.capture_delay_secs.is_some() {
        to = Status::Authorized;
    }
    if !fixed && matches!(to, Status::Failed | Status::Canceled) {
        // Back to method selection: still open, no webhook (mollie-api-php#510).
        return Ok(here);
    }
    if let Some(p) = st.payments.get_mut(id) {
        p.method = method.clone();
        if to == Status::Failed && method.as_deref() == Some("creditcard") {
            p.details = details::card_failure(magic.unwrap_or("card_declined"));
        }
    }
    st.transition(id, to).map_err(bad)?;
    Ok(if to == Status::Canceled { cancel } else { back })
}

/// changePaymentState on a pending (recurring) payment; a failed debit gets a bank reason.
fn pending_outcome(
    st: &mut SimState,
    id: &str,
    p: &Payment,
    outcome: &str,
) -> Result<(), super::respond::ApiError> {
    let to = Status::parse(outcome).unwrap_or(Status::Failed);
    if to == Status::Failed && p.method.as_deref() == Some("directdebit") {
        let code = st
            .knobs
            .sepa_failure
            .clone()
            .unwrap_or_else(|| "AC01".into());
        if let Some(serde_json::Value::Object(m)) = st.payments.get_mut(id).map(|p| &mut p.details)
        {
            m.insert("bankReasonCode".into(), code.clone().into());
            m.insert("bankReason".into(), details::bank_reason(&code).into());
        }
    }
    st.transition(id, to)
}
