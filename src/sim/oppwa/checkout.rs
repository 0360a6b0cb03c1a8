//! COPYandPAY back end (§3, §11.13): create a checkout, take the card form submit, report status.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use chrono::Duration;
use serde_json::Value;
use sha2::{Digest, Sha384};

use super::api::{Outcome, check_positive, entity_param, parse_body, tx_response};
use super::forms::{Checks, Params};
use super::instrument::{card_rejection, read_card};
use super::payments::{self, NewPayment};
use super::respond::{
    authorize, envelope, error_with, html, json_response, param_errors, see_other,
};
use super::shopper::{Words, detect_brand, message_for, words};
use super::state::{Checkout, Instrument, State as SimState};
use super::threeds::page_in;
use super::util::{html_escape, new_checkout_id, result_redirect};
use super::widget::{CardForm, checkout_amount, pick_brands, saved_cards, script_for};
use super::{Sim, SimConfig, codes};
use crate::pages::{Lang, is_web_url};

/// Status reads allowed per checkout within [`RATE_WINDOW_SECS`].
const RATE_LIMIT: usize = 2;
const RATE_WINDOW_SECS: i64 = 60;

pub(crate) async fn create(State(sim): State<Sim>, headers: HeaderMap, body: Bytes) -> Response {
    sim.with_state(|st, cfg| create_checkout(st, cfg, &headers, &body))
        .unwrap_or_else(|r| r)
}

fn create_checkout(
    st: &mut SimState,
    cfg: &SimConfig,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let now = st.now();
    let p = parse_body(body, now)?;
    let entity = authorize(headers, cfg, entity_param(&p), now)?;
    let id = new_checkout_id();
    let mut c = Checks::new(&p);
    let amount = c.amount(true);
    let _ = c.currency(true);
    let ptype = c.one_of("paymentType", &["PA", "DB"], true);
    c.test_mode();
    c.standing_instruction();
    let zero_ok = p.flag("createRegistration") && ptype.as_deref() == Some("PA");
    check_positive(&mut c, amount, zero_ok);
    if !c.errors.is_empty() {
        return Err(param_errors(&c.errors, &id, now));
    }
    let co = Checkout {
        id: id.clone(),
        entity_id: entity,
        params: p.clone(),
        created_at: now,
        payment_ids: Vec::new(),
        result_read: false,
        status_reads: Vec::new(),
    };
    let saved = saved_cards(st, &co);
    st.checkouts.insert(id.clone(), co);
    let code = codes::CHECKOUT_CREATED;
    let mut m = envelope(code, codes::description(code), &id, now);
    m.insert("id".into(), id.clone().into());
    if p.flag("integrity") {
        let script = script_for(&cfg.public_base_url, &id, &saved);
        let digest = Sha384::digest(script.as_bytes());
        let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
        m.insert("integrity".into(), format!("sha384-{b64}").into());
    }
    Ok(json_response(StatusCode::OK, Value::Object(m)))
}

/// A checkout still accepting payments / status reads (not expired, result not yet read).
fn live<'a>(st: &'a SimState, cfg: &SimConfig, id: &str) -> Option<&'a Checkout> {
    let now = st.now();
    st.checkouts.get(id).filter(|co| {
        !co.result_read && now - co.created_at <= Duration::seconds(cfg.checkout_lifetime_secs)
    })
}

pub(crate) async fn status(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    sim.with_state(|st, cfg| read_status(st, cfg, &id, &headers, q.as_deref()))
        .unwrap_or_else(|r| r)
}

fn read_status(
    st: &mut SimState,
    cfg: &SimConfig,
    id: &str,
    headers: &HeaderMap,
    q: Option<&str>,
) -> Outcome {
    let now = st.now();
    let p = Params::from_query(q);
    authorize(headers, cfg, entity_param(&p), now)?;
    let no_session = || {
        error_with(
            StatusCode::BAD_REQUEST,
            codes::INVALID_PARAM,
            codes::NO_SESSION,
            id,
            now,
        )
    };
    if live(st, cfg, id).is_none() {
        return Err(no_session());
    }
    let co = st.checkouts.get_mut(id).ok_or_else(no_session)?;
    co.status_reads
        .retain(|t| now - *t < Duration::seconds(RATE_WINDOW_SECS));
    if co.status_reads.len() >= RATE_LIMIT {
        let d = codes::description(codes::TOO_MANY);
        return Err(error_with(
            StatusCode::BAD_REQUEST,
            codes::TOO_MANY,
            d,
            id,
            now,
        ));
    }
    co.status_reads.push(now);
    let last = co.payment_ids.last().cloned();
    let Some(tx) = last.and_then(|t| st.tx(&t)) else {
        let code = codes::PENDING;
        let m = envelope(code, codes::description(code), id, now);
        return Ok(json_response(StatusCode::OK, Value::Object(m)));
    };
    let res = tx_response(tx);
    let is_final = !codes::is_pending(&tx.code);
    if let (true, Some(co)) = (is_final, st.checkouts.get_mut(id)) {
        co.result_read = true;
    }
    Ok(res)
}

pub(crate) async fn submit(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let p = Params::parse(&body).unwrap_or_default();
    sim.with_state(|st, cfg| pay(st, cfg, &id, &p))
        .unwrap_or_else(|r| r)
}

fn pay(st: &mut SimState, cfg: &SimConfig, id: &str, form: &Params) -> Outcome {
    let lang = Lang::from_tag(form.get("locale"));
    let w = words(lang);
    let page_url = form.get("pageUrl").filter(|u| is_web_url(u));
    let gone = || {
        let back = page_url
            .map(|u| {
                format!(
                    "<p><a id=\"back\" href=\"{}\">{}</a></p>",
                    html_escape(u),
                    html_escape(w.back)
                )
            })
            .unwrap_or_default();
        html(
            StatusCode::BAD_REQUEST,
            page_in(
                lang,
                w.title,
                &format!(
                    "<p role=\"alert\">{}</p>{back}",
                    html_escape(w.session_gone)
                ),
            ),
        )
    };
    let co = live(st, cfg, id).ok_or_else(gone)?.clone();
    let completed = co
        .payment_ids
        .iter()
        .any(|t| st.tx(t).is_some_and(|t| t.is_success() || t.awaiting_3ds()));
    if completed {
        return Err(gone());
    }
    let rerender = |st: &SimState, msg: &str| {
        let f = CardForm {
            submit_url: format!("{}/v1/checkouts/{id}/submit", cfg.public_base_url),
            shopper_result_url: form.get("shopperResultUrl").unwrap_or(""),
            brands: pick_brands(form.get("brands")),
            saved: saved_cards(st, &co),
            error: Some(msg),
            lang,
            amount: checkout_amount(&co, lang),
            previous: Some(form),
            page_url,
        };
        html(StatusCode::UNPROCESSABLE_ENTITY, f.page())
    };
    let Some(url) = form.get("shopperResultUrl").map(str::to_string) else {
        return Err(rerender(st, w.incomplete));
    };
    let offered = pick_brands(form.get("brands"));
    let (brand, instrument, reg_id) = match chosen_registration(st, &co, form) {
        Some(found) => found,
        None => read_new_card(form, &offered, st.now(), w).map_err(|m| rerender(st, m))?,
    };
    let cp = &co.params;
    let ptype = st
        .kind_swap
        .booked(cp.get("paymentType").unwrap_or("DB").to_string(), true);
    let np = NewPayment {
        ndc: co.id.clone(),
        payment_type: ptype,
        amount: cp
            .get("amount")
            .and_then(|a| a.parse().ok())
            .unwrap_or_default(),
        currency: cp.get("currency").unwrap_or("EUR").to_string(),
        brand,
        instrument,
        external: cp.get("testMode") == Some("EXTERNAL"),
        params: cp,
        create_registration: cp.flag("createRegistration") && reg_id.is_none(),
        registration_id: reg_id,
        checkout_id: Some(co.id.clone()),
        shopper_result_url: Some(url.clone()),
        no_3ds: co.entity_id == cfg.mit_entity_id
            || cp.get("standingInstruction.source") == Some("MIT"),
    };
    let idx = payments::create(st, &cfg.public_base_url, np);
    let tx_id = st.txs[idx].id.clone();
    let awaiting = st.txs[idx].awaiting_3ds();
    if let Some(c) = st.checkouts.get_mut(id) {
        c.payment_ids.push(tx_id.clone());
    }
    if awaiting {
        return Ok(see_other(&format!(
            "{}/v1/threeds/{tx_id}/acs?locale={}",
            cfg.public_base_url,
            lang.code()
        )));
    }
    Ok(see_other(&result_redirect(
        &url,
        id,
        &format!("/v1/checkouts/{id}/payment"),
    )))
}

/// A saved card picked in the form (must be one offered by the checkout).
fn chosen_registration(
    st: &SimState,
    co: &Checkout,
    form: &Params,
) -> Option<(String, Instrument, Option<String>)> {
    let rid = form.get("registrationId")?;
    if !co.params.registrations().iter().any(|r| r == rid) {
        return None;
    }
    let reg = st.regs.get(rid).filter(|r| !r.deregistered)?;
    Some((
        reg.brand.clone(),
        reg.instrument.clone(),
        Some(reg.id.clone()),
    ))
}

/// A new card from the form. The brand comes from the number; a brand the shopper picked must
/// agree with it (as the real widget refuses a mismatch), and must be one the form offered.
/// Errors are the shopper's message, in their language.
fn read_new_card(
    form: &Params,
    offered: &[String],
    now: chrono::DateTime<chrono::Utc>,
    w: &Words,
) -> Result<(String, Instrument, Option<String>), &'static str> {
    let mut c = Checks::new(form);
    let card = read_card(&mut c);
    if let Some(e) = c.errors.first() {
        return Err(message_for(w, &e.name, &e.message));
    }
    let card = card.ok_or(w.bad_number)?;
    if let Some((_, e)) = card_rejection(&card, now) {
        return Err(message_for(w, &e.name, &e.message));
    }
    let chosen = form.get("paymentBrand");
    let brand = match (chosen, detect_brand(&card.number)) {
        (Some(c), Some(d)) if c != d => return Err(w.brand_mismatch),
        (Some(c), _) => c.to_string(),
        (None, Some(d)) => d.to_string(),
        (None, None) => return Err(w.brand_unknown),
    };
    if !offered.contains(&brand) {
        return Err(w.brand_refused);
    }
    Ok((brand, Instrument::Card(card), None))
}
