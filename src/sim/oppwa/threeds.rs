//! Gateway 3-D Secure: which cards challenge, the redirect object, the ACS page and its outcome.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::Sim;
use super::codes;
use super::forms::Params;
use super::respond::{html, see_other};
use super::shopper::words;
use super::state::{ThreeDs, Tx};
use super::util::{html_escape, new_id, result_redirect};
use crate::domain::Lang;

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

/// `GET|POST /v1/threeds/{id}/acs[?locale=de]`: the simulated issuer page.
pub(crate) async fn acs_page(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    let lang = Lang::from_tag(Params::from_query(q.as_deref()).get("locale"));
    let w = words(lang);
    let pending = sim.with_state(|st, _| st.tx(&id).map(Tx::awaiting_3ds));
    let base = html_escape(&sim.config().public_base_url);
    let Some(true) = pending else {
        return html(
            StatusCode::NOT_FOUND,
            page_in(
                lang,
                w.acs_title,
                "<p>No authentication pending for this transaction.</p>",
            ),
        );
    };
    let id_e = html_escape(&id);
    let body = format!(
        r#"<p>{text}</p>
<p><small>Transaction <code>{id_e}</code></small></p>
<form method="POST" action="{base}/v1/threeds/{id_e}/complete">
<button type="submit" name="outcome" value="authenticate" id="acs-authenticate">{ok}</button>
<button type="submit" name="outcome" value="fail" id="acs-fail">{fail}</button>
<button type="submit" name="outcome" value="cancel" id="acs-cancel">{cancel}</button>
<button type="submit" name="outcome" value="error" id="acs-error">{error}</button>
</form>"#,
        text = html_escape(w.acs_text),
        ok = html_escape(w.acs_ok),
        fail = html_escape(w.acs_fail),
        cancel = html_escape(w.acs_cancel),
        error = html_escape(w.acs_error),
    );
    html(StatusCode::OK, page_in(lang, w.acs_title, &body))
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

/// A simulator page in English.
pub(crate) fn page(title: &str, body: &str) -> String {
    page_in(Lang::En, title, body)
}

/// A simulator page: phone-sized layout (viewport meta, fluid width), the language in `lang`.
pub(crate) fn page_in(lang: Lang, title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html><html lang=\"{lang}\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{t}</title><style>{SIM_CSS}</style></head><body><main><h1>{t}</h1>{body}</main></body></html>",
        lang = lang.code(),
        t = html_escape(title),
    )
}

const SIM_CSS: &str = "*{box-sizing:border-box}body{margin:0;background:#f9fafb;color:#111827;\
font:16px/1.5 system-ui,sans-serif}main{max-width:30rem;margin:0 auto;padding:1rem}\
h1{font-size:1.375rem}label{display:block;margin:.5rem 0 .25rem;font-weight:600}\
fieldset label{font-weight:400}input:not([type=radio]),select{display:block;width:100%;font:inherit;\
padding:.5rem;border:1px solid #6b7280;border-radius:.375rem;background:#fff;color:#111827}\
button{display:block;width:100%;margin-top:.75rem;font:inherit;font-weight:600;padding:.75rem;\
border:0;border-radius:.5rem;background:#1d4ed8;color:#fff}.error{background:#fef2f2;\
color:#991b1b;border:1px solid #fca5a5;border-radius:.375rem;padding:.5rem .75rem}\
a{color:#1d4ed8}code{overflow-wrap:anywhere}";
