//! Registrations (tokens): store-only, delete, and paying with a token incl. MIT REPEATED (§2.3–2.4).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::api::{
    Outcome, check_positive, entity_param, parse_body, read_instrument, reject_instrument,
    tx_response,
};
use super::forms::{BRANDS, Checks, Params};
use super::payments::{self, NewPayment};
use super::respond::{envelope, error, json_response, param_errors};
use super::state::{Instrument, Registration, State as SimState};
use super::util::{new_id, s2s_ndc};
use super::{Sim, SimConfig, codes};

pub(crate) async fn post_registration(
    State(sim): State<Sim>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.with_state(|st, cfg| register(st, cfg, &headers, &body))
        .unwrap_or_else(|r| r)
}

fn register(st: &mut SimState, cfg: &SimConfig, headers: &HeaderMap, body: &[u8]) -> Outcome {
    let now = st.now();
    let p = parse_body(body, now)?;
    let entity = super::respond::authorize(headers, cfg, entity_param(&p), now)?;
    let ndc = s2s_ndc(&entity);
    let mut c = Checks::new(&p);
    let brand = c.one_of("paymentBrand", BRANDS, true);
    let external = c.test_mode();
    let inst = read_instrument(&mut c, brand.as_deref());
    let (Some(brand), Some(inst), true) = (brand, inst, c.errors.is_empty()) else {
        return Err(param_errors(&c.errors, &ndc, now));
    };
    reject_instrument(&inst, &ndc, now)?;
    let ok = if external {
        codes::OK_EXTERNAL
    } else {
        codes::OK_INTERNAL
    };
    let code = st
        .take_forced(p.custom("forceResultCode"))
        .unwrap_or_else(|| ok.to_string());
    let id = new_id();
    let mut m = envelope(&code, codes::description(&code), &ndc, now);
    m.insert("id".into(), id.clone().into());
    m.insert("paymentBrand".into(), brand.clone().into());
    inst.insert_into(&mut m);
    let custom = p.custom_map();
    if !custom.is_empty() {
        m.insert("customParameters".into(), Value::Object(custom));
    }
    if codes::is_success(&code) {
        let reg = Registration {
            id: id.clone(),
            brand,
            instrument: inst,
            deregistered: false,
            entity_id: Some(entity.clone()),
        };
        st.regs.insert(id, reg);
    }
    Ok(json_response(codes::http_status(&code), Value::Object(m)))
}

pub(crate) async fn delete_registration(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    RawQuery(q): RawQuery,
) -> Response {
    sim.with_state(|st, cfg| {
        let now = st.now();
        let p = Params::from_query(q.as_deref());
        let entity = super::respond::authorize(&headers, cfg, entity_param(&p), now)?;
        let ndc = s2s_ndc(&entity);
        let reg = st
            .regs
            .get_mut(&id)
            .ok_or_else(|| error("100.150.200", &ndc, now))?;
        if reg.deregistered {
            return Err(error("100.150.202", &ndc, now));
        }
        reg.deregistered = true;
        let code = codes::OK_INTERNAL;
        let mut m = envelope(code, codes::description(code), &ndc, now);
        m.insert("id".into(), new_id().into());
        m.insert("referencedId".into(), id.clone().into());
        Ok(json_response(StatusCode::OK, Value::Object(m)))
    })
    .unwrap_or_else(|r| r)
}

pub(crate) async fn post_registration_payment(
    State(sim): State<Sim>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    sim.with_state(|st, cfg| token_payment(st, cfg, &id, &headers, &body))
        .unwrap_or_else(|r| r)
}

fn token_payment(
    st: &mut SimState,
    cfg: &SimConfig,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Outcome {
    let now = st.now();
    let p = parse_body(body, now)?;
    let entity = super::respond::authorize(headers, cfg, entity_param(&p), now)?;
    let ndc = s2s_ndc(&entity);
    let mut c = Checks::new(&p);
    let amount = c.amount(true);
    let currency = c.currency(true);
    let ptype = c.one_of("paymentType", &["PA", "DB"], true);
    let external = c.test_mode();
    c.standing_instruction();
    check_positive(&mut c, amount, false);
    let initial = p.get("standingInstruction.initialTransactionId");
    if initial.is_some_and(|v| !st.known_initial_reference(v)) {
        c.fail(
            "standingInstruction.initialTransactionId",
            "unknown initial transaction",
        );
    }
    let (Some(amount), Some(currency), Some(ptype), true) =
        (amount, currency, ptype, c.errors.is_empty())
    else {
        return Err(param_errors(&c.errors, &ndc, now));
    };
    let reg = st
        .regs
        .get(id)
        .cloned()
        .ok_or_else(|| error("100.150.200", &ndc, now))?;
    if reg.deregistered {
        return Err(error("100.150.202", &ndc, now));
    }
    if matches!(reg.instrument, Instrument::Sepa(_)) && ptype != "DB" {
        return Err(error("600.200.100", &ndc, now));
    }
    let no_3ds = entity == cfg.mit_entity_id || p.get("standingInstruction.source") == Some("MIT");
    let np = NewPayment {
        ndc,
        payment_type: st.kind_swap.booked(ptype, false),
        amount,
        currency,
        brand: reg.brand,
        instrument: reg.instrument,
        external,
        params: &p,
        registration_id: Some(reg.id),
        checkout_id: None,
        shopper_result_url: p.get("shopperResultUrl").map(str::to_string),
        create_registration: false,
        no_3ds,
    };
    let idx = payments::create(st, &cfg.public_base_url, np);
    Ok(tx_response(&st.txs[idx]))
}
