//! Gateway 3-D Secure: which cards challenge, the redirect object, the ACS page and its outcome.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Sim;
use super::codes;
use super::forms::Params;
use super::respond::{html, see_other};
use super::state::{ThreeDs, Tx};
use super::util::{html_escape, new_id, result_redirect};

pub(crate) enum Flow {
    Direct,
    Frictionless,
    Challenge(&'static str),
}

const CHALLENGE_3DS1: &[&str] = &["4711100000000000", "5212345678901234", "375987000000005"];
const CHALLENGE_3DS2: &[&str] = &[
    "4200000000000042",
    "4200000000000067",
    "5200000000000015",
    "5200000000000049",
];
const FRICTIONLESS: &[&str] = &["4200000000000091", "5200000000000007"];

/// Test cards (§7) and the `3DS2_*` / `challengeIndicator` switches (§4).
pub(crate) fn decide(number: &str, p: &Params) -> Flow {
    let flow = p.custom("3DS2_flow");
    let enrolled = p
        .custom("3DS2_enrolled")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if flow == Some("frictionless") {
        return Flow::Frictionless;
    }
    if enrolled
        || flow == Some("challenge")
        || p.get("threeDSecure.challengeIndicator") == Some("04")
    {
        return Flow::Challenge("2.2.0");
    }
    if CHALLENGE_3DS1.contains(&number) {
        Flow::Challenge("1.0.2")
    } else if CHALLENGE_3DS2.contains(&number) {
        Flow::Challenge("2.2.0")
    } else if FRICTIONLESS.contains(&number) {
        Flow::Frictionless
    } else {
        Flow::Direct
    }
}

pub(crate) fn auth_result(version: &str) -> Value {
    json!({
        "eci": "05",
        "verificationId": format!("AAACAgSRBklmQCFgMpEGAAAAAAA{}", &new_id()[..5]),
        "version": version,
        "dsTransactionId": uuid::Uuid::new_v4().to_string(),
        "authenticationStatus": "Y",
    })
}

/// Puts `tx` into the pending-challenge state with its `redirect` object.
pub(crate) fn start(
    tx: &mut Tx,
    base: &str,
    return_url: &str,
    version: &'static str,
    now: DateTime<Utc>,
) {
    let acs = format!("{base}/v1/threeds/{}/acs", tx.id);
    let mut redirect = if version.starts_with('1') {
        json!({"url": acs, "method": "POST", "parameters": [
            {"name": "TermUrl", "value": format!("{base}/v1/threeds/{}/complete", tx.id)},
            {"name": "PaReq", "value": new_id()},
            {"name": "connector", "value": "THREEDSECURE"},
            {"name": "MD", "value": tx.id},
        ]})
    } else {
        json!({"url": acs, "method": "POST", "parameters": [
            {"name": "creq", "value": new_id()},
            {"name": "threeDSSessionData", "value": tx.id},
        ]})
    };
    if !version.starts_with('1') {
        redirect["preconditions"] = json!([{
            "origin": "iframe",
            "waitUntil": "iframeLoaded",
            "description": "3DS method (simulated)",
            "url": format!("{base}/v1/threeds/{}/method", tx.id),
            "method": "POST",
            "parameters": [{"name": "threeDSMethodData", "value": new_id()}],
        }]);
    }
    tx.code = codes::PENDING.to_string();
    tx.redirect = Some(redirect);
    tx.threeds = Some(ThreeDs {
        return_url: return_url.to_string(),
        version,
        started_at: now,
    });
}

/// `GET|POST /v1/threeds/{id}/acs`: the simulated issuer page.
pub(crate) async fn acs_page(State(sim): State<Sim>, Path(id): Path<String>) -> Response {
    let pending = sim.with_state(|st, _| st.tx(&id).map(Tx::awaiting_3ds));
    let base = html_escape(&sim.config().public_base_url);
    let Some(true) = pending else {
        return html(
            StatusCode::NOT_FOUND,
            page(
                "3-D Secure",
                "<p>No authentication pending for this transaction.</p>",
            ),
        );
    };
    let id_e = html_escape(&id);
    let body = format!(
        r#"<p>Simulated issuer authentication for transaction <code>{id_e}</code>.</p>
<form method="POST" action="{base}/v1/threeds/{id_e}/complete">
<button type="submit" name="outcome" value="authenticate">Authenticate</button>
<button type="submit" name="outcome" value="fail">Fail authentication</button>
<button type="submit" name="outcome" value="cancel">Cancel</button>
<button type="submit" name="outcome" value="error">Technical error</button>
</form>"#
    );
    html(StatusCode::OK, page("3-D Secure (simulated ACS)", &body))
}

/// `POST /v1/threeds/{id}/method`: the 3DS2 method URL; nothing to do.
pub(crate) async fn method_page() -> Response {
    html(StatusCode::OK, page("3DS method", "<p>ok</p>"))
}

/// `POST /v1/threeds/{id}/complete`: applies the shopper's choice, then 303 to the shop.
pub(crate) async fn complete(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let p = Params::parse(&body).unwrap_or_default();
    let outcome = p.get("outcome").unwrap_or("authenticate").to_string();
    let target = sim.with_state(|st, _| {
        let idx = st.tx_index(&id)?;
        if st.txs[idx].awaiting_3ds() {
            let tx = &mut st.txs[idx];
            let version = tx.threeds.as_ref().map_or("2.2.0", |t| t.version);
            let code = match outcome.as_str() {
                "fail" => codes::AUTH_FAILED,
                "cancel" => codes::CANCELLED,
                "error" => codes::TECH_3DS,
                _ if tx.external => codes::OK_EXTERNAL,
                _ => codes::OK_INTERNAL,
            };
            if codes::is_success(code) {
                tx.threeds_result = Some(auth_result(version));
            }
            st.finalize(idx, code);
        }
        let tx = &st.txs[idx];
        let url = tx.threeds.as_ref()?.return_url.clone();
        Some(match &tx.checkout_id {
            Some(c) => result_redirect(&url, c, &format!("/v1/checkouts/{c}/payment")),
            None => result_redirect(&url, &tx.id, &format!("/v1/payments/{}", tx.id)),
        })
    });
    match target {
        Some(url) => see_other(&url),
        None => html(
            StatusCode::NOT_FOUND,
            page("3-D Secure", "<p>Unknown transaction.</p>"),
        ),
    }
}

pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>{}</title></head><body><h1>{}</h1>{body}</body></html>",
        html_escape(title),
        html_escape(title)
    )
}
