//! Card: hosted checkout preauth → capture → recurring → refund, plus cancel, finalize, abort.
//! Runs for the family under test (tests/api/family.rs); captures and cancels of an uncaptured
//! preauth need [`Capability::AuthorizeOnly`].

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

const VISA: &str = "4200000000000000";

#[tokio::test]
async fn checkout_preauth_capture_recurring_refund() {
    let app = TestApp::spawn().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let p = app.card_preauth(&pre, &agr, 300.0, VISA).await;
    assert_eq!(p["status"], "Succeeded");
    assert_eq!(p["authorizedAmount"], json!(300));
    assert!(
        !p["pspTransactionId"]
            .as_str()
            .unwrap_or_default()
            .is_empty()
    );
    assert_card_bearer(&app, &p["bearer"], VISA);
    assert!(p["bearer"]["RegistrationId"].is_string());
    assert!(p.get("redirectUrl").is_none(), "no redirect once completed");

    // A recurring payment on the stored card.
    let rec = tx_id();
    let (s, r) = app
        .post("/api/Payment", recurring_body(&rec, &agr, 49.99))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let r = app.settled("Payment", &rec, r).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    assert_eq!(r["payments"][0]["amount"], json!(49.99));
    assert_eq!(app.psp_calls(&rec), 1);

    if app.lacks(Capability::AuthorizeOnly) {
        // The preauth collected the money: refund the recurring payment instead.
        refund_and_over_refund(&app, &rec, 49.99).await;
        return;
    }
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 120.5))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "Succeeded");
    assert_eq!(c["payments"][0]["amount"], json!(120.5));
    assert_eq!(c["refundableAmount"], json!(120.5));
    assert_eq!(c["refundedAmount"], json!(0));
    assert_eq!(c["bearer"]["Last4CardNumber"], "0000");

    let (s, e) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre, &agr, 200.0))
        .await;
    assert_error(s, &e, 422, "InvalidAmount", "left to capture");
    assert_eq!(c["payments"][0]["amount"], json!(120.5));
    let c = refund_and_over_refund(&app, &cap, 120.5).await;
    assert!(
        c["lastUpdated"].as_str() > Some(""),
        "payment version present"
    );
    assert_eq!(app.psp_calls(&cap), 1);
}

/// Refunds 20.25 of `payment` (paid `paid`), then asks for 0.01 more than is left: refused.
/// Returns the payment after the refund.
async fn refund_and_over_refund(app: &TestApp, payment: &str, paid: f64) -> serde_json::Value {
    let (_, c) = app.get(&format!("/api/Payment/{payment}")).await;
    let refund = tx_id();
    let (s, rf) = app
        .post("/api/Refund", refund_body(&refund, payment, 20.25))
        .await;
    assert_eq!(s, StatusCode::OK, "{rf}");
    let rf = app.settled("Refund", &refund, rf).await;
    assert_eq!(rf["status"], "Succeeded", "{rf}");
    assert_eq!(rf["refundedAmount"], json!(20.25));
    let (_, c2) = app.get(&format!("/api/Payment/{payment}")).await;
    let left = ((paid - 20.25) * 100.0).round() / 100.0;
    assert_eq!(c2["refundedAmount"], json!(20.25));
    assert_eq!(c2["refundableAmount"], json!(left));
    assert!(
        c2["lastUpdated"].as_str() > c["lastUpdated"].as_str(),
        "payment version moved with its refund"
    );

    let (s, e) = app
        .post(
            "/api/Refund",
            refund_body(&tx_id(), payment, ((left + 0.01) * 100.0).round() / 100.0),
        )
        .await;
    assert_error(s, &e, 422, "InvalidAmount", "refundable");
    let (_, rget) = app.get(&format!("/api/Refund/{refund}")).await;
    assert_eq!(rget["status"], "Succeeded");
    c2
}

/// The card's bearer as the family reports it: OPPWA echoes the card entered; Mollie's test
/// page uses its own test card, so only the shape is fixed.
fn assert_card_bearer(app: &TestApp, bearer: &Value, card: &str) {
    let last4 = bearer["Last4CardNumber"].as_str().unwrap_or_default();
    assert!(
        last4.len() == 4 && last4.bytes().all(|b| b.is_ascii_digit()),
        "{bearer}"
    );
    let masked = bearer["MaskedCardPan"].as_str().unwrap_or_default();
    assert!(masked.ends_with(last4), "{bearer}");
    if app.family == Family::Oppwa {
        assert_eq!(masked, format!("{}******{}", &card[..6], &card[12..]));
        assert_eq!(last4, &card[12..]);
        assert_eq!(bearer["CardType"], "VISA");
    }
}

#[tokio::test]
async fn zero_amount_preauth_registers_the_card_and_capture_charges_it() {
    let app = TestApp::spawn().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let p = app.card_preauth(&pre, &agr, 0.0, "5454545454545454").await;
    assert_eq!(p["status"], "Succeeded");
    assert_eq!(p["authorizedAmount"], json!(0));
    assert_eq!(p["expiresAt"], "9999-12-31T23:59:59.9999999Z");
    // The brand as each PSP names it (OPPWA's `paymentBrand`, Mollie's `cardLabel`).
    let brand = match app.family {
        Family::Oppwa => "MASTER",
        Family::Mollie => "Mastercard",
    };
    assert_eq!(p["bearer"]["CardType"], brand);
    // Nothing was reserved: the capture charges the card (Mollie: a recurring payment that
    // settles later).
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 10.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    let c = app.settled("Payment", &cap, c).await;
    assert_eq!(c["status"], "Succeeded", "{c}");
}

#[tokio::test]
async fn non_initial_preauth_uses_the_stored_card() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, VISA).await;
    let pre2 = tx_id();
    let mut body = preauth_body(&pre2, &agr, 75.0);
    body["isInitial"] = json!(false);
    let (s, p) = app.post("/api/Preauth", body).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let p = app.settled("Preauth", &pre2, p).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(p["authorizedAmount"], json!(75));
    assert_eq!(app.psp_calls(&pre2), 1);
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let (s, c) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre2, &agr, 75.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "Succeeded");
}

#[tokio::test]
async fn cancel_reverses_an_uncaptured_preauth() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    app.card_preauth(&pre, &agr, 50.0, VISA).await;
    let (s, c) = app
        .post(
            &format!("/api/Preauth/{pre}/Cancel"),
            fixture("preauth-cancel.json"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(
        c,
        json!({"cancellationStatus": "Succeeded", "transactionId": pre})
    );
    let (_, p) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(p["status"], "Cancelled");
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    assert_eq!(
        (s, c["cancellationStatus"].clone()),
        (StatusCode::OK, json!("Succeeded")),
        "idempotent"
    );
    let (s, e) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre, &agr, 5.0))
        .await;
    assert_error(s, &e, 422, "InvalidData", "Cancelled");
}

#[tokio::test]
async fn finalize_completes_a_checkout_the_shopper_paid() {
    let app = TestApp::spawn().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let (_, p) = app
        .post("/api/Preauth", preauth_body(&pre, &agr, 30.0))
        .await;
    let data = app
        .pay_without_returning(p["redirectUrl"].as_str().expect("url"), VISA)
        .await;
    // The browser never comes back; Billwerk finalizes.
    let (s, f) = app
        .post(
            "/api/Preauth/Finalize",
            json!({"transactionId": pre, "finalizationData": data}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["status"], "Succeeded");
    assert_eq!(f["authorizedAmount"], json!(30));
}

#[tokio::test]
async fn shopper_abort_cancels_and_returns_to_the_abort_url() {
    let app = TestApp::spawn().await;
    let pre = tx_id();
    let (_, p) = app
        .post("/api/Preauth", preauth_body(&pre, &agreement_id(), 30.0))
        .await;
    let url = format!("{}/abort", p["redirectUrl"].as_str().expect("url"));
    let res = app.client.get(url).send().await.expect("abort");
    assert!(res.status().is_redirection());
    assert_eq!(location(&res), "https://merchant.example/abort");
    let (s, e) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_error(s, &e, 422, "Canceled", "cancelled");
    assert_eq!(e["status"], "Cancelled");
}

#[tokio::test]
async fn declined_card_on_checkout_lands_on_the_error_url() {
    let app = TestApp::spawn().await;
    let pre = tx_id();
    let (_, p) = app
        .post("/api/Preauth", preauth_body(&pre, &agreement_id(), 30.0))
        .await;
    let landing = app
        .shopper_on_checkout(p["redirectUrl"].as_str().expect("url"), Shopper::Decline)
        .await;
    assert_eq!(landing, "https://merchant.example/error");
    let (code, psp_code) = app.decline_codes();
    let (s, e) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_error(s, &e, 422, code, "");
    assert_eq!(e["pspErrorCode"], psp_code);
}
