//! Creating PA/DB payments (S2S, by registration, from a checkout) and deciding their outcome.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::codes;
use super::forms::Params;
use super::state::{Instrument, State, Tx};
use super::threeds::{self, Flow};
use super::util::new_id;

pub(crate) struct NewPayment<'a> {
    pub ndc: String,
    pub payment_type: String,
    pub amount: Decimal,
    pub currency: String,
    pub brand: String,
    pub instrument: Instrument,
    pub external: bool,
    /// Source of echoed groups, `merchantTransactionId`, custom parameters and 3DS switches.
    pub params: &'a Params,
    pub registration_id: Option<String>,
    pub checkout_id: Option<String>,
    pub shopper_result_url: Option<String>,
    pub create_registration: bool,
    /// The MIT channel, or `standingInstruction.source=MIT`: never 3DS.
    pub no_3ds: bool,
}

/// Echoed request groups (§1.5).
pub(crate) fn echo(p: &Params, initial_cit: bool) -> Map<String, Value> {
    let mut m = Map::new();
    for group in ["customer", "billing", "shipping", "cart"] {
        if let Some(v) = p.nested(group) {
            m.insert(group.into(), v);
        }
    }
    let custom = p.custom_map();
    if !custom.is_empty() {
        m.insert("customParameters".into(), Value::Object(custom));
    }
    if let Some(v) = p.get("merchantInvoiceId") {
        m.insert("merchantInvoiceId".into(), v.into());
    }
    match p.nested("standingInstruction") {
        Some(si) => {
            m.insert("standingInstruction".into(), si);
        }
        None if initial_cit => {
            m.insert(
                "standingInstruction".into(),
                json!({"mode": "INITIAL", "type": "UNSCHEDULED", "source": "CIT"}),
            );
        }
        None => {}
    }
    m
}

/// Stores the payment and decides its result; returns its index in `st.txs`.
pub(crate) fn create(st: &mut State, base: &str, np: NewPayment<'_>) -> usize {
    let p = np.params;
    let initial_cit = p.get("standingInstruction.mode") == Some("INITIAL")
        || (np.create_registration && p.get("standingInstruction.source") != Some("MIT"));
    let now = st.now();
    let tx = Tx {
        id: new_id(),
        payment_type: np.payment_type,
        ndc: np.ndc,
        referenced_id: None,
        amount: np.amount,
        currency: np.currency,
        brand: Some(np.brand),
        merchant_tx_id: p.get("merchantTransactionId").map(str::to_string),
        code: codes::PENDING.to_string(),
        descriptor: descriptor(),
        external: np.external,
        registration_id: np.registration_id,
        create_registration: np.create_registration,
        initial_cit,
        instrument: Some(np.instrument.clone()),
        echo: echo(p, initial_cit),
        scheme_id: None,
        threeds: None,
        threeds_result: None,
        redirect: None,
        checkout_id: np.checkout_id,
        updated_at: now,
        reason_code: None,
    };
    let idx = st.push_tx(tx);
    let ok = if np.external {
        codes::OK_EXTERNAL
    } else {
        codes::OK_INTERNAL
    };
    if let Some(code) = st.take_forced(p.custom("forceResultCode")) {
        st.finalize(idx, &code);
        return idx;
    }
    let card = match &np.instrument {
        Instrument::Sepa(_) => {
            let is_db = st.txs[idx].payment_type == "DB";
            let code = if is_db {
                codes::NON_INSTANT
            } else {
                "600.200.100"
            };
            st.finalize(idx, code);
            return idx;
        }
        Instrument::Card(c) => c.number.clone(),
    };
    let flow = if np.no_3ds {
        Flow::Direct
    } else {
        threeds::decide(&card, p)
    };
    match (flow, np.shopper_result_url) {
        (Flow::Challenge(version), Some(url)) => {
            threeds::start(&mut st.txs[idx], base, &url, version, now);
            st.mark_3ds(idx);
        }
        (Flow::Frictionless, _) => {
            st.txs[idx].threeds_result = Some(threeds::auth_result("2.2.0"));
            st.finalize(idx, codes::FRICTIONLESS);
        }
        _ => st.finalize(idx, ok),
    }
    idx
}

/// `<shortId> <channel name>`.
pub(crate) fn descriptor() -> String {
    format!("{} OPP_Channel", super::util::new_short_id())
}
