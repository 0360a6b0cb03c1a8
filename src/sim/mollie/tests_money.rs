//! Refunds and their lifecycle, the 409 duplicate refund, chargebacks and reversals, `embed`
//! (§3.15–3.17, §3.21).
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::tests::{T, s, start};

fn eur(v: &str) -> Value {
    json!({"amount": {"currency": "EUR", "value": v}})
}

async fn paid(t: &T) -> String {
    let p = t.payment(json!({"method": "creditcard"})).await;
    t.checkout(&p, "paid", None).await;
    t.sim.deliver_due().await;
    t.inbox.lock().unwrap().bodies.clear();
    s(&p["id"]).to_string()
}

#[tokio::test]
async fn refund_lifecycle_moves_amounts_and_fires_webhooks() {
    let t = start().await;
    let id = paid(&t).await;
    let (st, e) = t
        .post(&format!("/payments/{id}/refunds"), &eur("10.01"))
        .await;
    assert_eq!(
        (st, s(&e["detail"])),
        (422, "The specified amount cannot be refunded")
    );
    let (st, r) = t
        .post(
            &format!("/payments/{id}/refunds"),
            &json!({"amount": {"currency": "EUR", "value": "4.00"}, "description": "Return"}),
        )
        .await;
    assert_eq!(
        (st, s(&r["status"]), s(&r["settlementAmount"]["value"])),
        (201, "pending", "-4.00")
    );
    let rid = s(&r["id"]).to_string();
    assert!(rid.starts_with("re_"));
    let (_, p) = t.get(&format!("/payments/{id}")).await;
    assert_eq!(
        (
            s(&p["status"]),
            s(&p["amountRefunded"]["value"]),
            s(&p["amountRemaining"]["value"])
        ),
        ("paid", "4.00", "6.00")
    );
    assert!(
        t.sim.deliver_due().await.is_empty(),
        "no webhook for pending"
    );
    t.sim.advance_clock(2 * 3600);
    assert_eq!(
        s(&t.get(&format!("/payments/{id}/refunds/{rid}")).await.1["status"]),
        "processing"
    );
    assert_eq!(t.sim.deliver_due().await.len(), 1);
    t.sim.advance_clock(2 * 3600);
    let (_, p) = t.get(&format!("/payments/{id}?embed=refunds")).await;
    assert_eq!(s(&p["_embedded"]["refunds"][0]["status"]), "refunded");
    assert_eq!(t.sim.deliver_due().await.len(), 1);
    assert_eq!(t.hooks(), vec![format!("id={id}"); 2]);
    let (_, list) = t.get(&format!("/payments/{id}/refunds")).await;
    assert_eq!(list["count"], 1);
}

#[tokio::test]
async fn same_amount_within_the_hour_is_a_duplicate_whatever_the_key() {
    let t = start().await;
    let id = paid(&t).await;
    let path = format!("{}/v2/payments/{id}/refunds", t.base);
    let send = |key: &'static str| {
        t.c.post(&path)
            .bearer_auth(super::tests::KEY)
            .header("Idempotency-Key", key)
            .json(&eur("2.00"))
    };
    assert_eq!(t.send(send("k-1")).await.0, 201);
    let (st, e) = t.send(send("k-2")).await;
    assert_eq!(
        (st, s(&e["detail"])),
        (409, "A duplicate refund has been detected")
    );
    assert_eq!(
        t.post(&format!("/payments/{id}/refunds"), &eur("3.00"))
            .await
            .0,
        201,
        "another amount is fine"
    );
    t.sim.advance_clock(3600);
    assert_eq!(
        t.send(send("k-3")).await.0,
        201,
        "after the hour the same amount is allowed"
    );
}

#[tokio::test]
async fn queued_cancelled_failed_and_refused_refunds() {
    let t = start().await;
    let id = paid(&t).await;
    t.sim.update_knobs(|k| k.insufficient_balance = true);
    let (_, q) = t
        .post(&format!("/payments/{id}/refunds"), &eur("1.00"))
        .await;
    assert_eq!(s(&q["status"]), "queued");
    t.sim.advance_clock(5 * 3600);
    let qpath = format!("/payments/{id}/refunds/{}", s(&q["id"]));
    assert_eq!(s(&t.get(&qpath).await.1["status"]), "queued");
    t.sim.update_knobs(|k| k.insufficient_balance = false);
    assert_eq!(s(&t.get(&qpath).await.1["status"]), "pending");
    assert_eq!(t.delete(&qpath).await.0, 204);
    assert_eq!(s(&t.get(&qpath).await.1["status"]), "canceled");
    assert_eq!(t.delete(&qpath).await.0, 422);
    let (_, p) = t.get(&format!("/payments/{id}")).await;
    assert_eq!(
        s(&p["amountRefunded"]["value"]),
        "0.00",
        "a cancelled refund gives the money back"
    );
    t.sim.update_knobs(|k| k.refund_fails = true);
    let (_, r) = t
        .post(&format!("/payments/{id}/refunds"), &eur("1.00"))
        .await;
    t.sim.advance_clock(4 * 3600);
    assert_eq!(
        s(&t.get(&format!("/payments/{id}/refunds/{}", s(&r["id"])))
            .await
            .1["status"]),
        "failed"
    );
    t.sim.update_knobs(|k| k.insufficient_balance_422 = true);
    assert_eq!(
        t.post(&format!("/payments/{id}/refunds"), &eur("5.00"))
            .await
            .0,
        422
    );
    t.sim.update_knobs(|k| k.refund_503_times = 1);
    assert_eq!(
        t.post(&format!("/payments/{id}/refunds"), &eur("5.00"))
            .await
            .0,
        503
    );
    let open = t.payment(json!({})).await;
    let (st, e) = t
        .post(
            &format!("/payments/{}/refunds", s(&open["id"])),
            &eur("1.00"),
        )
        .await;
    assert_eq!(
        (st, s(&e["detail"])),
        (422, "The payment cannot be refunded")
    );
}

#[tokio::test]
async fn a_chargeback_keeps_the_payment_paid_and_a_reversal_follows() {
    let t = start().await;
    let id = paid(&t).await;
    let cb = t.sim.chargeback(&id, Some("3.00"), None, false).unwrap();
    let cid = s(&cb["id"]).to_string();
    assert!(
        cid.starts_with("chb_") && cb.get("reason").is_none(),
        "reason only for direct debit"
    );
    assert_eq!(s(&cb["settlementAmount"]["value"]), "-3.00");
    let (_, p) = t
        .get(&format!("/payments/{id}?embed=chargebacks,refunds"))
        .await;
    assert_eq!(
        (s(&p["status"]), s(&p["amountChargedBack"]["value"])),
        ("paid", "3.00")
    );
    assert_eq!(p["_embedded"]["refunds"], json!([]));
    assert_eq!(s(&p["_embedded"]["chargebacks"][0]["id"]), cid);
    t.sim.deliver_due().await;
    assert_eq!(t.hooks(), vec![format!("id={id}")]);
    let r = t.sim.reverse_chargeback(&cid).unwrap();
    assert!(r["reversedAt"].is_string());
    assert!(t.sim.reverse_chargeback(&cid).is_err());
    let (_, one) = t.get(&format!("/payments/{id}/chargebacks/{cid}")).await;
    assert!(one["reversedAt"].is_string());
    let (_, p) = t.get(&format!("/payments/{id}")).await;
    assert!(
        p.get("amountChargedBack").is_none(),
        "present only when non-zero"
    );
    assert_eq!(t.sim.deliver_due().await.len(), 1);
    assert!(t.sim.chargeback(&id, Some("10.01"), None, false).is_err());
    let neg = t.sim.chargeback(&id, None, None, true).unwrap();
    assert_eq!(
        s(&neg["amount"]["value"]),
        "-10.00",
        "the fixture hazard, by knob"
    );
    let (_, all) = t.get("/chargebacks").await;
    assert_eq!(all["count"], 2);
    let (st, e) = t.get(&format!("/payments/{id}?embed=nonsense")).await;
    assert_eq!((st, s(&e["field"])), (400, "embed"));
}

#[tokio::test]
async fn sepa_chargeback_knob_carries_a_reason() {
    let t = start().await;
    let cst = t.customer().await;
    let m = json!({"method": "directdebit", "consumerName": "Jane", "consumerAccount": "NL91ABNA0417164300"});
    t.post(&format!("/customers/{cst}/mandates"), &m).await;
    t.sim
        .update_knobs(|k| k.sepa_chargeback = Some("MD06".into()));
    let rec = json!({"amount": {"currency": "EUR", "value": "30.00"}, "description": "r", "sequenceType": "recurring", "customerId": cst});
    let (_, p) = t.post("/payments", &rec).await;
    t.sim.advance_clock(2 * 86_400);
    let (_, p) = t
        .get(&format!("/payments/{}?embed=chargebacks", s(&p["id"])))
        .await;
    assert_eq!(s(&p["status"]), "paid");
    assert_eq!(
        s(&p["_embedded"]["chargebacks"][0]["reason"]["code"]),
        "MD06"
    );
}

#[tokio::test]
async fn zero_decimal_currencies_keep_their_format() {
    let t = start().await;
    let p = t
        .payment(json!({"method": "creditcard", "amount": {"currency": "JPY", "value": "1500"}}))
        .await;
    t.checkout(&p, "paid", None).await;
    let id = s(&p["id"]);
    let (st, e) = t
        .post(
            &format!("/payments/{id}/refunds"),
            &json!({"amount": {"currency": "JPY", "value": "500.00"}}),
        )
        .await;
    assert_eq!((st, s(&e["field"])), (422, "amount.value"));
    let (st, r) = t
        .post(
            &format!("/payments/{id}/refunds"),
            &json!({"amount": {"currency": "JPY", "value": "500"}}),
        )
        .await;
    assert_eq!((st, s(&r["amount"]["value"])), (201, "500"));
    let (_, p) = t.get(&format!("/payments/{id}")).await;
    assert_eq!(s(&p["amountRemaining"]["value"]), "1000");
}
