//! First payments and mandates, the Mandates API, recurring payments, captures and release
//! (§3.6, §3.10–3.14, §3.21).
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::tests::{s, start};
use super::*;

#[tokio::test]
async fn a_paid_first_payment_creates_a_card_mandate_shown_only_after_payment() {
    let t = start().await;
    let cst = t.customer().await;
    let p = t
        .payment(json!({"customerId": cst, "sequenceType": "first", "method": "creditcard", "amount": {"currency": "EUR", "value": "0.00"}}))
        .await;
    assert!(
        p.get("mandateId").is_none(),
        "never in the create answer (php#649)"
    );
    t.checkout(&p, "paid", None).await;
    let (_, paid) = t.get(&format!("/payments/{}", s(&p["id"]))).await;
    let mdt = s(&paid["mandateId"]).to_string();
    assert!(mdt.starts_with("mdt_") && paid["_links"]["mandate"]["href"].is_string());
    let (st, m) = t.get(&format!("/customers/{cst}/mandates/{mdt}")).await;
    assert_eq!(
        (st, s(&m["status"]), s(&m["method"])),
        (200, "valid", "creditcard")
    );
    assert_eq!(s(&m["details"]["cardExpiryDate"]), "2030-12-31");
    let (st, e) = t.post("/payments", &json!({"amount": {"currency": "EUR", "value": "0.00"}, "description": "d", "redirectUrl": "https://x.example"})).await;
    assert_eq!(
        (st, s(&e["field"])),
        (422, "amount"),
        "0.00 only for card/PayPal first payments"
    );
}

#[tokio::test]
async fn pending_mandate_knob_and_cancelled_first_payment() {
    let t = start().await;
    t.sim.update_knobs(|k| k.mandate_pending_secs = 72 * 3600);
    let cst = t.customer().await;
    let p = t
        .payment(json!({"customerId": cst, "sequenceType": "first", "method": "paypal"}))
        .await;
    t.checkout(&p, "paid", None).await;
    let (_, paid) = t.get(&format!("/payments/{}", s(&p["id"]))).await;
    let path = format!("/customers/{cst}/mandates/{}", s(&paid["mandateId"]));
    assert_eq!(
        (s(&paid["status"]), s(&t.get(&path).await.1["status"])),
        ("paid", "pending")
    );
    let rec = json!({"amount": {"currency": "EUR", "value": "5.00"}, "description": "r", "sequenceType": "recurring", "customerId": cst});
    let (st, e) = t.post("/payments", &rec).await;
    assert_eq!(
        (st, s(&e["field"])),
        (422, "customerId"),
        "no valid mandate yet: {e}"
    );
    t.sim.advance_clock(72 * 3600);
    assert_eq!(s(&t.get(&path).await.1["status"]), "valid");
    // A cancelled test first payment leaves a pending mandate (api-documentation#455).
    let other = t.customer().await;
    let p = t
        .payment(json!({"customerId": other, "sequenceType": "first", "method": "creditcard"}))
        .await;
    t.checkout(&p, "canceled", None).await;
    let (_, list) = t.get(&format!("/customers/{other}/mandates")).await;
    assert_eq!(
        (
            list["count"].clone(),
            s(&list["_embedded"]["mandates"][0]["status"])
        ),
        (json!(1), "pending")
    );
}

#[tokio::test]
async fn sepa_mandates_recurring_debits_and_revocation() {
    let t = start().await;
    let cst = t.customer().await;
    let bad = json!({"method": "directdebit", "consumerName": "Jane", "consumerAccount": "NL91ABNA0417164301"});
    let (st, e) = t.post(&format!("/customers/{cst}/mandates"), &bad).await;
    assert_eq!((st, s(&e["field"])), (422, "consumerAccount"));
    let good = json!({"method": "directdebit", "consumerName": "Jane", "consumerAccount": "DE89 3704 0044 0532 0130 00", "mandateReference": "REF-1", "signatureDate": "2026-01-02"});
    let (st, m) = t.post(&format!("/customers/{cst}/mandates"), &good).await;
    assert_eq!(
        (st, s(&m["status"]), s(&m["details"]["consumerAccount"])),
        (201, "valid", "DE89370400440532013000")
    );
    let mdt = s(&m["id"]).to_string();
    let rec = json!({"amount": {"currency": "EUR", "value": "25.00"}, "description": "Invoice 7", "sequenceType": "recurring", "customerId": cst, "mandateId": mdt, "webhookUrl": t.hook_url});
    let (st, p) = t.post("/payments", &rec).await;
    assert_eq!(
        (st, s(&p["status"]), p["isCancelable"].clone()),
        (201, "pending", json!(true))
    );
    assert_eq!(s(&p["details"]["creditorIdentifier"]), details::CREDITOR_ID);
    assert!(p["details"]["dueDate"].is_string() && p["_links"]["changePaymentState"].is_object());
    t.sim.advance_clock(2 * 24 * 3600);
    assert_eq!(t.status_of(s(&p["id"])).await, "paid");
    // A failing debit carries the bank reason.
    t.sim.update_knobs(|k| k.sepa_failure = Some("AM04".into()));
    let (_, p2) = t.post("/payments", &rec).await;
    t.sim.advance_clock(2 * 24 * 3600);
    let (_, f) = t.get(&format!("/payments/{}", s(&p2["id"]))).await;
    assert_eq!(
        (s(&f["status"]), s(&f["details"]["bankReasonCode"])),
        ("failed", "AM04")
    );
    let (st, _) = t.delete(&format!("/customers/{cst}/mandates/{mdt}")).await;
    assert_eq!(st, 204);
    let (st, m) = t.get(&format!("/customers/{cst}/mandates/{mdt}")).await;
    assert_eq!((st, s(&m["status"])), (200, "invalid"));
    let (st, e) = t.post("/payments", &rec).await;
    assert_eq!((st, s(&e["field"])), (422, "mandateId"));
    t.sim
        .update_knobs(|k| k.revoked_mandate_get = RevokedMandateGet::Gone);
    assert_eq!(
        t.get(&format!("/customers/{cst}/mandates/{mdt}")).await.0,
        410
    );
}

#[tokio::test]
async fn recurring_card_payments_settle_by_knob() {
    let t = start().await;
    let (cst, _, mdt) = t.card_mandate().await;
    let rec = json!({"amount": {"currency": "EUR", "value": "9.99"}, "description": "r", "sequenceType": "recurring", "customerId": cst});
    let (st, p) = t.post("/payments", &rec).await;
    assert_eq!(
        (st, s(&p["status"]), s(&p["mandateId"])),
        (201, "pending", mdt.as_str())
    );
    assert!(p["_links"].get("checkout").is_none());
    assert_eq!(t.status_of(s(&p["id"])).await, "paid");
    t.sim.update_knobs(|k| k.card_recurring_fails = true);
    let (_, p) = t.post("/payments", &rec).await;
    let (_, f) = t.get(&format!("/payments/{}", s(&p["id"]))).await;
    assert_eq!(
        (s(&f["status"]), s(&f["details"]["failureReason"])),
        ("failed", "card_declined")
    );
    t.sim.invalidate_mandate(&mdt).unwrap();
    let (st, _) = t.post("/payments", &rec).await;
    assert_eq!(st, 422, "no valid mandate left");
}

#[tokio::test]
async fn manual_capture_authorize_capture_and_release() {
    let t = start().await;
    let manual = json!({"method": "creditcard", "captureMode": "manual"});
    let p = t.payment(manual.clone()).await;
    let id = s(&p["id"]).to_string();
    let (st, e) = t
        .post(&format!("/payments/{id}/captures"), &json!({}))
        .await;
    assert_eq!(st, 422, "not authorized yet: {e}");
    let page =
        t.c.get(s(&p["_links"]["checkout"]["href"]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(page.contains("value=\"authorized\""));
    t.checkout(&p, "authorized", None).await;
    let (_, a) = t.get(&format!("/payments/{id}")).await;
    assert_eq!(
        (s(&a["status"]), a["captureBefore"].is_string()),
        ("authorized", true)
    );
    let over = json!({"amount": {"currency": "EUR", "value": "10.01"}});
    assert_eq!(
        t.post(&format!("/payments/{id}/captures"), &over).await.0,
        422
    );
    let usd = json!({"amount": {"currency": "USD", "value": "1.00"}});
    assert_eq!(
        s(&t.post(&format!("/payments/{id}/captures"), &usd).await.1["field"]),
        "amount.currency"
    );
    t.sim.update_knobs(|k| k.capture_delay_secs = 60);
    let (st, c) = t
        .post(
            &format!("/payments/{id}/captures"),
            &json!({"amount": {"currency": "EUR", "value": "8.00"}}),
        )
        .await;
    assert_eq!((st, s(&c["status"])), (201, "pending"));
    assert_eq!(t.status_of(&id).await, "authorized");
    t.sim.advance_clock(60);
    let (_, paid) = t.get(&format!("/payments/{id}?embed=captures")).await;
    assert_eq!(
        (s(&paid["status"]), s(&paid["amountCaptured"]["value"])),
        ("paid", "8.00")
    );
    assert_eq!(s(&paid["amountRemaining"]["value"]), "8.00");
    assert_eq!(s(&paid["_embedded"]["captures"][0]["status"]), "succeeded");
    let (st, list) = t.get(&format!("/payments/{id}/captures")).await;
    assert_eq!((st, list["count"].clone()), (200, json!(1)));
    // Release: canceled with nothing captured; 422 when not authorized.
    let p = t.payment(manual).await;
    t.checkout(&p, "authorized", None).await;
    let rel = format!("/payments/{}/release-authorization", s(&p["id"]));
    assert_eq!(t.post(&rel, &json!({})).await.0, 202);
    assert_eq!(t.status_of(s(&p["id"])).await, "canceled");
    assert_eq!(t.post(&rel, &json!({})).await.0, 422);
}

#[tokio::test]
async fn failing_and_late_captures() {
    let t = start().await;
    t.sim.update_knobs(|k| k.capture_fails = true);
    let p = t
        .payment(json!({"method": "creditcard", "captureMode": "manual"}))
        .await;
    let id = s(&p["id"]).to_string();
    t.checkout(&p, "authorized", None).await;
    t.post(&format!("/payments/{id}/captures"), &json!({}))
        .await;
    let (_, a) = t.get(&format!("/payments/{id}?embed=captures")).await;
    assert_eq!(
        (s(&a["status"]), s(&a["_embedded"]["captures"][0]["status"])),
        ("authorized", "failed")
    );
    t.sim.update_knobs(|k| k.capture_fails = false);
    t.sim.advance_clock(lifecycle::AUTHORIZATION_SECS + 1);
    let (_, c) = t
        .post(&format!("/payments/{id}/captures"), &json!({}))
        .await;
    assert_eq!(s(&c["status"]), "failed");
    assert_eq!(t.status_of(&id).await, "failed");
    let (st, e) = t.post("/payments", &json!({"amount": {"currency": "EUR", "value": "1.00"}, "description": "d", "redirectUrl": "https://x.example", "method": "ideal", "captureMode": "manual"})).await;
    assert_eq!((st, s(&e["field"])), (422, "captureMode"));
}

#[tokio::test]
async fn delayed_automatic_capture() {
    let t = start().await;
    let p = t
        .payment(
            json!({"method": "creditcard", "captureMode": "automatic", "captureDelay": "2 days"}),
        )
        .await;
    t.checkout(&p, "paid", None).await;
    assert_eq!(t.status_of(s(&p["id"])).await, "authorized");
    t.sim.advance_clock(2 * 86_400);
    assert_eq!(t.status_of(s(&p["id"])).await, "paid");
    let (st, e) = t.post("/payments", &json!({"amount": {"currency": "EUR", "value": "1.00"}, "description": "d", "redirectUrl": "https://x.example", "method": "creditcard", "captureDelay": "8 days"})).await;
    assert_eq!((st, s(&e["field"])), (422, "captureDelay"));
}
