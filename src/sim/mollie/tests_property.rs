//! Property over HTTP: for any sequence of shopper, merchant and bank events on one payment,
//! the status only moves along §3.9 (a final status never changes) and the money fields stay
//! consistent (refunded ≤ collected, charged back ≤ amount, remaining = collected − refunded).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::model::Status;
use super::tests::{T, s, start};

#[derive(Clone, Debug)]
enum Op {
    Checkout(&'static str),
    Admin(&'static str),
    Refund(u32),
    CancelRefund,
    Chargeback(u32),
    Reverse,
    Capture(u32),
    Release,
    Cancel,
    Advance(i64),
}

fn op() -> impl Strategy<Value = Op> {
    let outcome = prop::sample::select(vec![
        "paid",
        "authorized",
        "failed",
        "canceled",
        "expired",
        "open",
    ]);
    let status = prop::sample::select(vec![
        "paid",
        "authorized",
        "failed",
        "canceled",
        "expired",
        "pending",
    ]);
    prop_oneof![
        outcome.prop_map(Op::Checkout),
        status.prop_map(Op::Admin),
        (1u32..1200).prop_map(Op::Refund),
        Just(Op::CancelRefund),
        (1u32..1200).prop_map(Op::Chargeback),
        Just(Op::Reverse),
        (1u32..1200).prop_map(Op::Capture),
        Just(Op::Release),
        Just(Op::Cancel),
        prop::sample::select(vec![60i64, 1800, 7200, 86_400]).prop_map(Op::Advance),
    ]
}

fn eur(cents: u32) -> Value {
    json!({"amount": {"currency": "EUR", "value": format!("{}.{:02}", cents / 100, cents % 100)}})
}

fn dec(v: &Value) -> Decimal {
    v["value"]
        .as_str()
        .map_or(Decimal::ZERO, |x| x.parse().unwrap())
}

async fn apply(t: &T, p: &Value, op: &Op) {
    let id = s(&p["id"]);
    let base = format!("/payments/{id}");
    match op {
        Op::Checkout(o) => {
            let href = format!("{}/checkout/{id}", t.base);
            t.c.post(href)
                .form(&[("outcome", *o)])
                .send()
                .await
                .unwrap();
        }
        Op::Admin(st) => {
            let _ = t.sim.set_payment_status(id, st);
        }
        Op::Refund(c) => {
            t.post(&format!("{base}/refunds"), &eur(*c)).await;
        }
        Op::CancelRefund => {
            let (_, list) = t.get(&format!("{base}/refunds")).await;
            if let Some(r) = list["_embedded"]["refunds"].get(0) {
                t.delete(&format!("{base}/refunds/{}", s(&r["id"]))).await;
            }
        }
        Op::Chargeback(c) => {
            let _ = t
                .sim
                .chargeback(id, Some(s(&eur(*c)["amount"]["value"])), None, false);
        }
        Op::Reverse => {
            let (_, list) = t.get(&format!("{base}/chargebacks")).await;
            if let Some(cb) = list["_embedded"]["chargebacks"].get(0) {
                let _ = t.sim.reverse_chargeback(s(&cb["id"]));
            }
        }
        Op::Capture(c) => {
            t.post(&format!("{base}/captures"), &eur(*c)).await;
        }
        Op::Release => {
            t.post(&format!("{base}/release-authorization"), &json!({}))
                .await;
        }
        Op::Cancel => {
            t.delete(&base).await;
        }
        Op::Advance(secs) => t.sim.advance_clock(*secs),
    }
}

fn check(before: Status, now: &Value) {
    let after = Status::parse(s(&now["status"])).unwrap();
    assert!(
        after == before || before.may_become(after),
        "{before:?} → {after:?}"
    );
    let amount = dec(&now["amount"]);
    let embedded = &now["_embedded"];
    let live_refunds: Decimal = embedded["refunds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| !matches!(s(&r["status"]), "failed" | "canceled"))
        .map(|r| dec(&r["amount"]))
        .sum();
    assert_eq!(dec(&now["amountRefunded"]), live_refunds);
    let collected = if now.get("amountCaptured").is_some() {
        dec(&now["amountCaptured"])
    } else {
        amount
    };
    assert!(
        live_refunds <= collected,
        "refunded {live_refunds} of {collected}"
    );
    if now.get("amountRemaining").is_some() {
        assert_eq!(dec(&now["amountRemaining"]), collected - live_refunds);
    }
    assert!(dec(&now["amountChargedBack"]) <= amount);
    assert!(dec(&now["amountCaptured"]) <= amount);
}

async fn run(ops: Vec<Op>, manual: bool) {
    let t = start().await;
    let extra = if manual {
        json!({"method": "creditcard", "captureMode": "manual"})
    } else {
        json!({"method": "creditcard"})
    };
    let p = t.payment(extra).await;
    let path = format!(
        "/payments/{}?embed=refunds,captures,chargebacks",
        s(&p["id"])
    );
    let mut status = Status::Open;
    for op in &ops {
        apply(&t, &p, op).await;
        let (code, now) = t.get(&path).await;
        assert_eq!(code, 200, "{now}");
        check(status, &now);
        status = Status::parse(s(&now["status"])).unwrap();
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn status_and_money_stay_consistent(ops in prop::collection::vec(op(), 1..14), manual in any::<bool>()) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops, manual));
    }
}
