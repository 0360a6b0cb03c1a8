//! S2S handlers: payments, back-office operations, status and reporting queries.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::forms::{BRANDS, Checks, ParamError, Params, SEPA};
use super::instrument::{bank_rejection, card_rejection, read_bank, read_card};
use super::money::{self, BackOffice};
use super::payments::{self, NewPayment};
use super::respond::{
    authorize, envelope, error, error_with, json_response, param_errors, param_errors_with,
};
use super::state::{Instrument, State as SimState, Tx};
use super::util::{new_id, s2s_ndc};
use super::{Sim, SimConfig, codes};

pub(crate) type Outcome = Result<Response, Response>;

pub(crate) fn parse_body(body: &[u8], now: DateTime<Utc>) -> Result<Params, Response> {
    Params::parse(body).ok_or_else(|| {
        let e = ParamError {
            name: "body".into(),
            value: String::new(),
            message: "not a valid form-encoded body".into(),
        };
        param_errors(&[e], &new_id(), now)
    })
}

/// `entityId`, or the deprecated `authentication.entityId`.
pub(crate) fn entity_param(p: &Params) -> Option<&str> {
    p.get("entityId")
        .or_else(|| p.get("authentication.entityId"))
}

pub(crate) fn tx_response(tx: &Tx) -> Response {
    json_response(codes::http_status(&tx.code), tx.json())
}

/// Reads `card.*` or `bankAccount.*` depending on the brand.
pub(crate) fn read_instrument(c: &mut Checks, brand: Option<&str>) -> Option<Instrument> {
    match brand {
        Some(SEPA) => read_bank(c).map(Instrument::Sepa),
        Some(_) => read_card(c).map(Instrument::Card),
        None => None,
    }
}

/// Luhn / expiry / IBAN rejections, answered with the account-validation code.
pub(crate) fn reject_instrument(
    inst: &Instrument,
    ndc: &str,
    now: DateTime<Utc>,
) -> Result<(), Response> {
    let found = match inst {
        Instrument::Card(card) => card_rejection(card, now),
        Instrument::Sepa(bank) => bank_rejection(bank),
    };
    match found {
        Some((code, e)) => Err(param_errors_with(code, &[e], ndc, now)),
        None => Ok(()),
    }
}

/// Zero is only a valid amount for a PA that verifies and registers an account.
pub(crate) fn check_positive(c: &mut Checks, amount: Option<Decimal>, zero_ok: bool) {
    if amount.is_some_and(|a| a.is_zero()) && !zero_ok {
        c.fail(
            "amount",
            "must be greater than 0.00 (0.00 only for PA with createRegistration=true)",
        );
    }
}

pub(crate) async fn post_payment(
    State(sim): State<Sim>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.with_state(|st, cfg| payment(st, cfg, &headers, &body))
        .unwrap_or_else(|r| r)
}

fn payment(st: &mut SimState, cfg: &SimConfig, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let now = st.now();
    let p = parse_body(body, now)?;
    let entity = authorize(headers, cfg, entity_param(&p), now)?;
    let ndc = s2s_ndc(&entity);
    let mut c = Checks::new(&p);
    let amount = c.amount(true);
    let currency = c.currency(true);
    let ptype = c.one_of("paymentType", &["PA", "DB"], true);
    let brand = c.one_of("paymentBrand", BRANDS, true);
    let external = c.test_mode();
    c.standing_instruction();
    let create_reg = p.flag("createRegistration");
    check_positive(&mut c, amount, create_reg && ptype.as_deref() == Some("PA"));
    let inst = read_instrument(&mut c, brand.as_deref());
    let (Some(amount), Some(currency), Some(ptype), Some(brand), Some(inst), true) =
        (amount, currency, ptype, brand, inst, c.errors.is_empty())
    else {
        return Err(param_errors(&c.errors, &ndc, now));
    };
    reject_instrument(&inst, &ndc, now)?;
    let no_3ds = entity == cfg.mit_entity_id || p.get("standingInstruction.source") == Some("MIT");
    let np = NewPayment {
        ndc,
        payment_type: st.kind_swap.booked(ptype, false),
        amount,
        currency,
        brand,
        instrument: inst,
        external,
        params: &p,
        registration_id: None,
        checkout_id: None,
        shopper_result_url: p.get("shopperResultUrl").map(str::to_string),
        create_registration: create_reg,
        no_3ds,
    };
    let idx = payments::create(st, &cfg.public_base_url, np);
    Ok(tx_response(&st.txs[idx]))
}

pub(crate) async fn post_backoffice(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.with_state(|st, cfg| backoffice(st, cfg, &id, &headers, &body))
        .unwrap_or_else(|r| r)
}

fn backoffice(
    st: &mut SimState,
    cfg: &SimConfig,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let now = st.now();
    let p = parse_body(body, now)?;
    let entity = authorize(headers, cfg, entity_param(&p), now)?;
    let ndc = s2s_ndc(&entity);
    let mut c = Checks::new(&p);
    let ptype = c.one_of("paymentType", &["CP", "RV", "RF"], true);
    let is_rv = ptype.as_deref() == Some("RV");
    let amount = c.amount(!is_rv);
    let currency = c.currency(amount.is_some());
    let external = c.test_mode();
    check_positive(&mut c, amount, false);
    if let Some(parent) = st.tx(id).filter(|t| t.external != external) {
        let mode = if parent.external {
            "EXTERNAL"
        } else {
            "INTERNAL"
        };
        c.fail(
            "testMode",
            &format!("must match the referenced transaction's test mode ({mode})"),
        );
    }
    let (Some(payment_type), true) = (ptype, c.errors.is_empty()) else {
        return Err(param_errors(&c.errors, &ndc, now));
    };
    let op = BackOffice {
        parent_id: id,
        ndc,
        payment_type,
        amount,
        currency,
        external,
        params: &p,
    };
    let idx = money::run(st, cfg, op);
    Ok(tx_response(&st.txs[idx]))
}

pub(crate) async fn get_payment(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    sim.with_state(|st, cfg| {
        let now = st.now();
        let p = Params::from_query(q.as_deref());
        let entity = authorize(&headers, cfg, entity_param(&p), now)?;
        match st.tx(&id) {
            Some(tx) => Ok(tx_response(tx)),
            None => Err(error_with(
                StatusCode::NOT_FOUND,
                codes::NOT_FOUND,
                codes::description(codes::NOT_FOUND),
                &s2s_ndc(&entity),
                now,
            )),
        }
    })
    .unwrap_or_else(|r| r)
}

pub(crate) async fn query_one(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    sim.with_state(|st, cfg| {
        let now = st.now();
        let p = Params::from_query(q.as_deref());
        let entity = authorize(&headers, cfg, entity_param(&p), now)?;
        let ndc = s2s_ndc(&entity);
        let tx = st
            .tx(&id)
            .ok_or_else(|| error(codes::NOT_FOUND, &ndc, now))?;
        if !p.flag("includeLinkedTransactions") {
            return Ok(tx_response(tx));
        }
        let linked = std::iter::once(tx).chain(st.children(&id));
        Ok(list_response(linked.map(Tx::json).collect(), &ndc, now))
    })
    .unwrap_or_else(|r| r)
}

pub(crate) async fn query_list(
    State(sim): State<Sim>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    sim.with_state(|st, cfg| {
        let now = st.now();
        let p = Params::from_query(q.as_deref());
        let entity = authorize(&headers, cfg, entity_param(&p), now)?;
        let ndc = s2s_ndc(&entity);
        let mut c = Checks::new(&p);
        let Some(mtid) = c.required("merchantTransactionId") else {
            return Err(param_errors(&c.errors, &ndc, now));
        };
        let found: Vec<Value> = st.by_merchant_tx_id(mtid).map(Tx::json).collect();
        if found.is_empty() {
            return Err(error(codes::NOT_FOUND, &ndc, now));
        }
        Ok(list_response(found, &ndc, now))
    })
    .unwrap_or_else(|r| r)
}

fn list_response(payments: Vec<Value>, ndc: &str, now: DateTime<Utc>) -> Response {
    let mut m = envelope(
        codes::REQUEST_OK,
        codes::description(codes::REQUEST_OK),
        ndc,
        now,
    );
    m.insert("payments".into(), Value::Array(payments));
    json_response(StatusCode::OK, Value::Object(m))
}

/// `GET /v1/resultcodes`: the codes this simulator knows.
pub(crate) async fn result_codes(State(sim): State<Sim>) -> Response {
    let now = sim.with_state(|st, _| st.now());
    let list: Vec<Value> = codes::all()
        .map(|(c, d)| json!({"code": c, "description": d}))
        .collect();
    let mut m = envelope(
        codes::REQUEST_OK,
        codes::description(codes::REQUEST_OK),
        &new_id(),
        now,
    );
    m.insert("resultCodes".into(), Value::Array(list));
    json_response(StatusCode::OK, Value::Object(m))
}
