//! Money events that cross (issue #21): a decision taken against a moment's picture of the
//! money is revisited when that picture changes.
//! - A chargeback refused only because of a refund in flight waits for it, and is applied when
//!   the refund fails; its PSP redelivery is then a duplicate.
//! - The shopper's abort asks the PSP first: a paid checkout stays paid.
//! - A cancel whose PSP answer was lost is reconciled like any other unknown outcome.

use psp_integrator::domain::{Clock, SystemClock};
use psp_integrator::flows::reconcile::{self, Policy};
use psp_integrator::sim::oppwa::Fault;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

const VISA: &str = "4200000000000000";

async fn rounds(app: &TestApp, at_secs: &[i64]) {
    let policy = Policy::from(&app.cfg.reconciler);
    for secs in at_secs {
        reconcile::run_once(&app.app, &policy, SystemClock.now().plus_seconds(*secs))
            .await
            .expect("reconciler round");
    }
}

fn grace(app: &TestApp) -> i64 {
    Policy::from(&app.cfg.reconciler).not_found_grace
}

/// A card agreement and a paid recurring payment of `amount` (settled at the PSP where it
/// starts pending, Mollie's); (payment id, its PSP id, how many webhooks Billwerk had of it).
async fn paid(app: &TestApp, amount: f64) -> (String, String, usize) {
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, VISA).await;
    let pay = tx_id();
    let (s, p) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&pay, &agr, amount), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let p = app.settled("Payment", &pay, p).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    let psp = p["pspTransactionId"].as_str().expect("psp id").to_string();
    let hooks = app.hooks_for(&pay).await.len();
    (pay, psp, hooks)
}

#[tokio::test]
async fn a_chargeback_crossing_a_refund_that_fails_is_applied_once_it_settles() {
    let app = TestApp::spawn().await;
    let (pay, psp, hooks_before) = paid(&app, 100.0).await;
    // The refund's request never reaches the PSP and its answer is lost: Pending, in flight.
    app.psp_fault(PspFault::Unavailable);
    let refund = tx_id();
    let (s, r) = app
        .post(
            "/api/Refund",
            targeted(refund_body(&refund, &pay, 60.0), &app.hook_target()),
        )
        .await;
    app.psp_fault(PspFault::None);
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{r}"
    );
    // Meanwhile the bank charges back 60: with the refund in flight it would exceed the 100.
    let (ack, cb) = app.psp_chargeback_notified(&psp, "60.00").await;
    assert_eq!(ack, StatusCode::OK, "acknowledged, not lost");
    let (_, p) = app.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(p["chargebacks"], json!([]), "waits for the refund: {p}");

    // The PSP never got the refund: the reconciler fails it, and the chargeback is judged
    // again against the money as it is now.
    rounds(&app, &[120, grace(&app) + 300]).await;
    let (_, r) = app.get(&format!("/api/Refund/{refund}")).await;
    assert_eq!(r["status"], "Failed", "{r}");
    let (_, p) = app.get(&format!("/api/Payment/{pay}")).await;
    let cbs = p["chargebacks"].as_array().expect("chargebacks");
    assert_eq!(cbs.len(), 1, "{p}");
    assert_eq!(cbs[0]["amount"], json!(60), "{p}");
    assert_eq!(p["refundedAmount"], json!(0), "{p}");
    assert_eq!(p["refundableAmount"], json!(40), "{p}");
    assert!(
        app.hooks_for(&pay).await[hooks_before..].contains(&2),
        "Billwerk hears of the chargeback"
    );
    // The PSP's redelivery changes nothing.
    assert_eq!(app.psp_redelivers(&cb).await, StatusCode::OK);
    let (_, again) = app.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(
        again["chargebacks"].as_array().map(Vec::len),
        Some(1),
        "{again}"
    );
}

#[tokio::test]
async fn a_chargeback_crossing_a_refund_that_succeeds_is_refused_for_good() {
    let app = TestApp::spawn().await;
    let (pay, psp, _) = paid(&app, 100.0).await;
    app.psp_fault(PspFault::DropAfterCommit);
    let refund = tx_id();
    let (s, r) = app
        .post(
            "/api/Refund",
            targeted(refund_body(&refund, &pay, 60.0), &app.hook_target()),
        )
        .await;
    app.psp_fault(PspFault::None);
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{r}"
    );
    let (ack, _) = app.psp_chargeback_notified(&psp, "60.00").await;
    assert_eq!(ack, StatusCode::OK);
    // The refund completes at the PSP (Mollie's take hours; OPPWA's is done already), and the
    // reconciler asks.
    app.psp_settles().await;
    rounds(&app, &[120]).await;
    let (_, r) = app.get(&format!("/api/Refund/{refund}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    // 60 refunded + 60 charged back > 100: the chargeback stays refused, and recorded.
    let (_, p) = app.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(p["chargebacks"], json!([]), "{p}");
    assert_eq!(p["refundedAmount"], json!(60), "{p}");
    let notes = app.history_notes(&pay).await;
    assert!(notes.iter().any(|n| n.contains("not applied")), "{notes:?}");
}

/// The shopper's page, then the card submitted at the PSP without following its redirect.
async fn pays_without_returning(app: &TestApp, redirect: &str) {
    let html = app
        .client
        .get(redirect)
        .send()
        .await
        .expect("page")
        .text()
        .await
        .expect("html");
    let checkout_id = between(&html, "checkoutId=", "\"").expect("checkout id");
    let return_url = between(&html, "action=\"", "\"")
        .expect("form action")
        .replace("&amp;", "&");
    let res = app.submit_card(&checkout_id, &return_url, VISA).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "paid at the PSP");
}

#[tokio::test]
async fn the_shoppers_abort_after_paying_keeps_the_payment() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::WidgetCheckout) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    let (s, b) = app
        .post(
            "/api/Preauth",
            targeted(preauth_body(&pre, &agr, 40.0), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let redirect = b["redirectUrl"].as_str().expect("redirectUrl").to_string();
    pays_without_returning(&app, &redirect).await;

    let res = app
        .client
        .get(format!("{redirect}/abort"))
        .send()
        .await
        .expect("abort");
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(
        location(&res),
        "https://merchant.example/success",
        "the payment stands"
    );
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(v["status"], "Succeeded", "{v}");
    assert_eq!(v["authorizedAmount"], json!(40), "{v}");
    assert_eq!(app.hooks_for(&pre).await, vec![1], "Billwerk hears of it");
    // Billwerk's Cancel now reverses the authorization at the PSP.
    let (s, c) = cancel(&app, &pre).await;
    assert_eq!(
        (s, c["cancellationStatus"].as_str()),
        (StatusCode::OK, Some("Succeeded"))
    );
    assert_eq!(
        app.psp_calls(&format!("{pre}-cancel")),
        1,
        "a reversal at the PSP"
    );
}

#[tokio::test]
async fn billwerks_cancel_of_an_open_checkout_that_was_paid_reverses_it() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::WidgetCheckout) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    let (s, b) = app
        .post("/api/Preauth", preauth_body(&pre, &agr, 25.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    pays_without_returning(&app, b["redirectUrl"].as_str().expect("url")).await;
    let (s, c) = cancel(&app, &pre).await;
    assert_eq!(
        (s, c["cancellationStatus"].as_str()),
        (StatusCode::OK, Some("Succeeded"))
    );
    assert_eq!(
        app.psp_calls(&format!("{pre}-cancel")),
        1,
        "the authorization is released"
    );
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(v["status"], "Cancelled", "{v}");
}

async fn cancel(app: &TestApp, pre: &str) -> (StatusCode, Value) {
    app.send(
        reqwest::Method::POST,
        &format!("/api/Preauth/{pre}/Cancel"),
        Some(&app.token),
        Some(&json!({})),
    )
    .await
}

#[tokio::test]
async fn a_cancel_whose_answer_is_lost_is_reconciled() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    let hooked = targeted(preauth_body(&pre, &agr, 70.0), &app.hook_target());
    let (s, b) = app.post("/api/Preauth", hooked).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app.pay_on_checkout(b["redirectUrl"].as_str().expect("url"), VISA)
        .await;
    app.drain_outbox(60).await;
    let before = app.hooks_for(&pre).await.len();

    app.fault(Fault::DropAfterProcessing);
    let (s, c) = cancel(&app, &pre).await;
    app.fault(Fault::None);
    assert_eq!(
        (s, c["cancellationStatus"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{c}"
    );
    // Until it is known no capture goes to the PSP.
    let cap = tx_id();
    let (s, e) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 10.0))
        .await;
    assert_error(s, &e, 422, "InvalidData", "preauthTransactionId");
    assert_eq!(app.psp_calls(&cap), 0);
    // A repeated Cancel asks the PSP's record, never sends a second reversal.
    let (_, c) = cancel(&app, &pre).await;
    assert_eq!(c["cancellationStatus"], "Succeeded", "{c}");
    assert_eq!(app.psp_calls(&format!("{pre}-cancel")), 1);
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(
        (v["status"].as_str(), &v["authorizedAmount"]),
        (Some("Cancelled"), &json!(0))
    );
    assert_eq!(
        app.hooks_for(&pre).await.len(),
        before,
        "Billwerk had the answer"
    );
}

#[tokio::test]
async fn a_lost_cancel_is_settled_by_the_reconciler_with_a_webhook() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    let hooked = targeted(preauth_body(&pre, &agr, 70.0), &app.hook_target());
    let (_, b) = app.post("/api/Preauth", hooked).await;
    app.pay_on_checkout(b["redirectUrl"].as_str().expect("url"), VISA)
        .await;
    let before = app.hooks_for(&pre).await.len();
    app.fault(Fault::DropAfterProcessing);
    let (_, c) = cancel(&app, &pre).await;
    app.fault(Fault::None);
    assert_eq!(c["cancellationStatus"], "Pending", "{c}");
    rounds(&app, &[120]).await;
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(v["status"], "Cancelled", "{v}");
    let hooks = app.hooks_for(&pre).await;
    assert_eq!(
        hooks.len(),
        before + 1,
        "one webhook for the cancel: {hooks:?}"
    );
}

#[tokio::test]
async fn a_cancel_that_never_reached_the_psp_leaves_the_authorization_standing() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    let p = app.card_preauth(&pre, &agr, 70.0, VISA).await;
    assert_eq!(p["status"], "Succeeded");
    app.fault(Fault::Unavailable);
    let (_, c) = cancel(&app, &pre).await;
    app.fault(Fault::None);
    assert_eq!(c["cancellationStatus"], "Pending", "{c}");
    rounds(&app, &[120, grace(&app) + 300]).await;
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(
        (v["status"].as_str(), &v["authorizedAmount"]),
        (Some("Succeeded"), &json!(70))
    );
    // The authorization can be captured again.
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 70.0))
        .await;
    assert_eq!(
        (s, c["status"].as_str()),
        (StatusCode::OK, Some("Succeeded")),
        "{c}"
    );
}
