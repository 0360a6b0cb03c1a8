//! Payments, auth and modes, the hosted test checkout, expiry (§3.2–3.9, §3.12, §3.21).
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::tests::{KEY, s, start};
use super::*;

fn body(value: &str, currency: &str) -> Value {
    json!({
        "amount": {"currency": currency, "value": value},
        "description": "d",
        "redirectUrl": "https://shop.example/r",
    })
}

#[tokio::test]
async fn create_validates_amounts_fields_and_parameters() {
    let t = start().await;
    for (v, c, field) in [
        ("16.1", "EUR", "amount.value"),
        ("10", "EUR", "amount.value"),
        ("10.00", "JPY", "amount.value"),
        ("1.000", "BHD", "amount.currency"),
    ] {
        let (st, e) = t.post("/payments", &body(v, c)).await;
        assert_eq!((st, s(&e["field"])), (422, field), "{v} {c}: {e}");
        assert_eq!(e["status"], 422);
        assert!(e["_links"]["documentation"]["href"].is_string());
    }
    let (st, p) = t.post("/payments", &body("1000", "JPY")).await;
    assert_eq!((st, &p["amount"]["value"]), (201, &json!("1000")));
    let (st, e) = t.post("/payments", &json!({"amount": {"currency": "EUR", "value": "1.00"}, "redirectUrl": "https://x.example"})).await;
    assert_eq!((st, s(&e["field"])), (422, "description"));
    let (st, e) = t
        .post(
            "/payments",
            &json!({"amount": {"currency": "EUR", "value": "1.00"}, "description": "d"}),
        )
        .await;
    assert_eq!((st, s(&e["field"])), (422, "redirectUrl"));
    let mut b = body("1.00", "EUR");
    b["colour"] = json!("blue");
    let (st, e) = t.post("/payments", &b).await;
    assert_eq!(st, 422);
    assert!(s(&e["detail"]).contains("Non-existent parameter"), "{e}");
    assert!(e.get("field").is_none());
    let mut long = body("1.00", "EUR");
    long["description"] = json!("é".repeat(300));
    let (st, p) = t.post("/payments", &long).await;
    assert_eq!(
        (st, s(&p["description"]).chars().count()),
        (201, 255),
        "cut, not refused"
    );
    let (st, e) = t.post("/payments", &json!({"amount": {"currency": "EUR", "value": "20000.00"}, "description": "d", "redirectUrl": "https://x.example", "method": "creditcard"})).await;
    assert_eq!(
        (st, s(&e["detail"]), s(&e["field"])),
        (422, "The amount is higher than the maximum", "amount")
    );
    let (st, e) = t.post("/payments", &json!({"amount": {"currency": "USD", "value": "5.00"}, "description": "d", "redirectUrl": "https://x.example", "method": "ideal"})).await;
    assert_eq!((st, s(&e["field"])), (422, "amount.currency"), "{e}");
}

#[tokio::test]
async fn form_bodies_and_hal_answers() {
    let t = start().await;
    let form = [
        ("amount[currency]", "EUR"),
        ("amount[value]", "12.50"),
        ("description", "Form order"),
        ("redirectUrl", "https://shop.example/r"),
    ];
    let r =
        t.c.post(format!("{}/v2/payments", t.base))
            .bearer_auth(KEY)
            .form(&form)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(r.headers()["content-type"], "application/hal+json");
    let p: Value = r.json().await.unwrap();
    assert_eq!(
        (s(&p["status"]), s(&p["amount"]["value"])),
        ("open", "12.50")
    );
    assert!(s(&p["id"]).starts_with("tr_"));
    assert_eq!(
        s(&p["_links"]["self"]["href"]),
        format!("{}/v2/payments/{}", t.base, s(&p["id"]))
    );
    assert!(p["_links"]["checkout"]["href"].is_string());
    assert!(p["expiresAt"].is_string() && p["isCancelable"] == true);
    let (st, e) = t.get("/payments/tr_doesnotexist").await;
    assert_eq!(
        (st, s(&e["detail"])),
        (404, "No payment exists with token tr_doesnotexist.")
    );
    let (st, e) = t.get("/nothing/here").await;
    assert_eq!((st, e["status"].clone()), (404, json!(404)));
    let r =
        t.c.put(format!("{}/v2/payments", t.base))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 405);
}

#[tokio::test]
async fn ids_have_mixed_lengths() {
    let t = start().await;
    let a = t.payment(json!({})).await;
    let b = t.payment(json!({})).await;
    let lens = [s(&a["id"]).len(), s(&b["id"]).len()];
    assert!(lens.contains(&10) && lens.contains(&22), "{lens:?}");
}

#[tokio::test]
async fn keys_pin_profile_and_mode() {
    let t = start().await;
    let p = t.payment(json!({})).await;
    let path = format!("/payments/{}", s(&p["id"]));
    assert_eq!(s(&p["mode"]), "test");
    let r =
        t.c.get(format!("{}/v2{path}", t.base))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let (st, e) = t
        .get_as("test_unknownkey0000000000000000000000", &path)
        .await;
    assert_eq!((st, e["title"].clone()), (401, json!("Unauthorized")));
    let (st, e) = t.get_as(SANDBOX_LIVE_KEY, &path).await;
    assert_eq!(st, 404);
    assert!(
        s(&e["detail"]).contains("exists, but the wrong mode is used"),
        "{e}"
    );
    let (st, e) = t.get_as(OTHER_TEST_KEY, &path).await;
    assert_eq!(st, 404);
    assert!(s(&e["detail"]).starts_with("No payment exists"), "{e}");
    let (_, list) = t.get_as(OTHER_TEST_KEY, "/payments").await;
    assert_eq!(list["count"], 0);
}

#[tokio::test]
async fn checkout_paid_redirects_and_queues_the_webhook() {
    let t = start().await;
    let p = t.payment(json!({"method": "creditcard"})).await;
    let id = s(&p["id"]).to_string();
    let page =
        t.c.get(s(&p["_links"]["checkout"]["href"]))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    for choice in ["paid", "failed", "canceled", "expired", "open"] {
        assert!(page.contains(&format!("value=\"{choice}\"")), "{choice}");
    }
    assert!(!page.contains("value=\"authorized\""));
    assert_eq!(
        t.checkout(&p, "paid", None).await,
        "https://shop.example/return"
    );
    let (_, paid) = t.get(&format!("/payments/{id}")).await;
    assert_eq!(
        (s(&paid["status"]), paid["isCancelable"].clone()),
        ("paid", json!(false))
    );
    assert_eq!(s(&paid["details"]["cardNumber"]), "6787");
    assert_eq!(s(&paid["amountRemaining"]["value"]), "10.00");
    assert!(paid["_links"].get("checkout").is_none());
    t.sim.deliver_due().await;
    assert_eq!(t.hooks(), vec![format!("id={id}")]);
}

#[tokio::test]
async fn checkout_outcomes_and_method_selection() {
    let t = start().await;
    let p = t
        .payment(json!({"method": "ideal", "cancelUrl": "https://shop.example/cancel"}))
        .await;
    assert_eq!(
        t.checkout(&p, "canceled", None).await,
        "https://shop.example/cancel"
    );
    assert_eq!(t.status_of(s(&p["id"])).await, "canceled");
    // No fixed method: failed and canceled go back to method selection, no webhook.
    let p = t.payment(json!({})).await;
    let id = s(&p["id"]).to_string();
    for outcome in ["failed", "canceled"] {
        let to = t.checkout(&p, outcome, Some("creditcard")).await;
        assert_eq!(to, format!("{}/checkout/{id}", t.base));
        assert_eq!(t.status_of(&id).await, "open");
    }
    assert_eq!(
        t.checkout(&p, "open", None).await,
        "https://shop.example/return"
    );
    assert_eq!(t.status_of(&id).await, "open");
    assert_eq!(
        t.sim.pending_deliveries(),
        1,
        "only the cancelled iDEAL payment"
    );
    t.checkout(&p, "paid", Some("ideal")).await;
    let (_, paid) = t.get(&format!("/payments/{id}")).await;
    assert_eq!(
        (s(&paid["method"]), s(&paid["details"]["consumerAccount"])),
        ("ideal", details::TEST_IBAN)
    );
    let r =
        t.c.post(format!("{}/checkout/{id}", t.base))
            .form(&[("outcome", "paid")])
            .send()
            .await
            .unwrap();
    assert_eq!(
        r.status().as_u16(),
        400,
        "a final payment offers no such choice"
    );
}

#[tokio::test]
async fn magic_amounts_force_card_failures() {
    let t = start().await;
    let p = t
        .payment(json!({"method": "creditcard", "amount": {"currency": "EUR", "value": "1007.00"}}))
        .await;
    t.checkout(&p, "paid", None).await;
    let (_, f) = t.get(&format!("/payments/{}", s(&p["id"]))).await;
    assert_eq!(
        (s(&f["status"]), s(&f["details"]["failureReason"])),
        ("failed", "insufficient_funds")
    );
    assert!(f["details"]["failureMessage"].is_string() && f["failedAt"].is_string());
}

#[tokio::test]
async fn open_payments_expire_on_the_sim_clock() {
    let t = start().await;
    let card = t.payment(json!({"method": "creditcard"})).await;
    let ideal = t.payment(json!({"method": "ideal"})).await;
    t.sim.advance_clock(15 * 60 + 1);
    assert_eq!(t.status_of(s(&ideal["id"])).await, "expired");
    assert_eq!(t.status_of(s(&card["id"])).await, "open");
    t.sim.advance_clock(15 * 60);
    let (_, c) = t.get(&format!("/payments/{}", s(&card["id"]))).await;
    assert_eq!(s(&c["status"]), "expired");
    assert!(c["expiredAt"].is_string() && c["isCancelable"] == false);
    assert_eq!(t.sim.pending_deliveries(), 2);
}

#[tokio::test]
async fn cancel_is_allowed_while_cancelable() {
    let t = start().await;
    let p = t.payment(json!({})).await;
    let (st, c) = t.delete(&format!("/payments/{}", s(&p["id"]))).await;
    assert_eq!((st, s(&c["status"])), (200, "canceled"));
    let (st, e) = t.delete(&format!("/payments/{}", s(&p["id"]))).await;
    assert_eq!(
        (st, s(&e["detail"])),
        (422, "The payment cannot be cancelled")
    );
    assert_eq!(
        t.sim.set_payment_status(s(&p["id"]), "paid").unwrap_err(),
        "The payment cannot change from canceled to paid"
    );
}

#[tokio::test]
async fn customers_and_cursor_lists() {
    let t = start().await;
    let cst = t.customer().await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(s(&t.payment(json!({"customerId": cst})).await["id"]).to_string());
    }
    let (st, page) = t.get(&format!("/customers/{cst}/payments?limit=2")).await;
    assert_eq!((st, page["count"].clone()), (200, json!(2)));
    assert_eq!(
        s(&page["_embedded"]["payments"][0]["id"]),
        ids[4],
        "newest first"
    );
    let next = s(&page["_links"]["next"]["href"]).to_string();
    let (_, page2) = t.send(t.c.get(&next).bearer_auth(KEY)).await;
    assert_eq!(s(&page2["_embedded"]["payments"][0]["id"]), ids[2]);
    assert!(page2["_links"]["previous"]["href"].is_string());
    let (st, e) = t.get(&format!("/customers/{cst}/payments?limit=251")).await;
    assert_eq!((st, s(&e["field"])), (400, "limit"));
    let (st, e) = t
        .get(&format!("/customers/{cst}/payments?from=tr_nope"))
        .await;
    assert_eq!((st, s(&e["field"])), (400, "from"));
    let (st, c) = t.get(&format!("/customers/{cst}")).await;
    assert_eq!((st, s(&c["email"])), (200, "jane@example.com"));
    let (_, all) = t.get("/customers").await;
    assert_eq!(all["count"], 1);
    let (st, e) = t.post("/customers", &json!({"email": "no-at-sign"})).await;
    assert_eq!((st, s(&e["field"])), (422, "email"));
}
