//! Back-office operations CP / RV / RF on an existing payment (§2.2, §11.6–7).
//!
//! Every operation is a new transaction with `referencedId`; the parent is never modified.
//! Choice documented for the adapter: RV on a PA with any successful capture → `700.400.300`
//! (cannot reverse); RV on a DB/CP → `700.400.300` (no settlement window is simulated);
//! RV takes no amount or the full PA amount (partial reversal → `700.100.200`).

use rust_decimal::Decimal;

use super::SimConfig;
use super::codes;
use super::forms::Params;
use super::payments::{descriptor, echo};
use super::state::{State, Tx};
use super::util::new_id;

pub(crate) struct BackOffice<'a> {
    pub parent_id: &'a str,
    pub ndc: String,
    pub payment_type: String,
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub external: bool,
    pub params: &'a Params,
}

/// Creates the child transaction with its outcome; returns its index.
pub(crate) fn run(st: &mut State, cfg: &SimConfig, op: BackOffice<'_>) -> usize {
    let parent = st.tx(op.parent_id).cloned();
    let forced = st.take_forced(op.params.custom("forceResultCode"));
    let code = match (&forced, &parent) {
        (Some(c), _) => c.clone(),
        (None, None) => "700.100.100".to_string(),
        (None, Some(p)) => rule(st, cfg, p, &op).to_string(),
    };
    let amount = op
        .amount
        .or(parent.as_ref().map(|p| p.amount))
        .unwrap_or_default();
    let currency = op
        .currency
        .clone()
        .or(parent.as_ref().map(|p| p.currency.clone()))
        .unwrap_or_default();
    let now = st.now();
    let idx = st.push_tx(Tx {
        id: new_id(),
        payment_type: op.payment_type,
        ndc: op.ndc,
        referenced_id: Some(op.parent_id.to_string()),
        amount,
        currency,
        brand: parent.as_ref().and_then(|p| p.brand.clone()),
        merchant_tx_id: op.params.get("merchantTransactionId").map(str::to_string),
        code: codes::PENDING.to_string(),
        descriptor: descriptor(),
        external: op.external,
        registration_id: None,
        create_registration: false,
        initial_cit: false,
        instrument: None,
        echo: echo(op.params, false),
        scheme_id: None,
        threeds: None,
        threeds_result: None,
        redirect: None,
        checkout_id: None,
        updated_at: now,
        reason_code: None,
    });
    st.finalize(idx, &code);
    idx
}

fn rule(st: &State, cfg: &SimConfig, parent: &Tx, op: &BackOffice<'_>) -> &'static str {
    if op.currency.as_ref().is_some_and(|c| *c != parent.currency) {
        return "700.100.200";
    }
    let ok = if op.external {
        codes::OK_EXTERNAL
    } else {
        codes::OK_INTERNAL
    };
    let amount = op.amount.unwrap_or(parent.amount);
    let reversed = st.ok_children(&parent.id, "RV").next().is_some();
    match op.payment_type.as_str() {
        "CP" => capture(st, cfg, parent, amount, reversed).unwrap_or(ok),
        "RV" => reverse(st, parent, amount, reversed).unwrap_or(ok),
        _ => refund(st, parent, amount).unwrap_or(ok),
    }
}

fn capture(
    st: &State,
    cfg: &SimConfig,
    parent: &Tx,
    amount: Decimal,
    reversed: bool,
) -> Option<&'static str> {
    if parent.payment_type != "PA" || !parent.is_success() {
        return Some("700.400.510");
    }
    let captured = st.sum_children(&parent.id, "CP");
    let again = cfg.single_capture && captured > Decimal::ZERO;
    let zero_auth = parent.amount.is_zero();
    (reversed || again || zero_auth || captured + amount > parent.amount).then_some("700.400.100")
}

fn reverse(st: &State, parent: &Tx, amount: Decimal, reversed: bool) -> Option<&'static str> {
    let reversible = ["PA", "DB", "CP"].contains(&parent.payment_type.as_str());
    if !reversible || !parent.is_success() {
        return Some("700.400.530");
    }
    if reversed {
        return Some("700.300.300");
    }
    if parent.payment_type != "PA" || st.ok_children(&parent.id, "CP").next().is_some() {
        return Some("700.400.300");
    }
    (amount != parent.amount).then_some("700.100.200")
}

fn refund(st: &State, parent: &Tx, amount: Decimal) -> Option<&'static str> {
    let refundable = ["DB", "CP"].contains(&parent.payment_type.as_str());
    if !refundable || !parent.is_success() {
        return Some("700.400.520");
    }
    let refunded = st.sum_children(&parent.id, "RF");
    (refunded + amount > parent.amount).then_some("700.400.200")
}
