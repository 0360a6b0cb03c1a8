//! The shopper's journey with a Mollie merchant: our payment link sends the browser on to
//! Mollie's hosted checkout (the simulator's test page, where the tester picks the outcome),
//! Mollie sends it back to our return URL, and we to Billwerk's success or abort URL. The
//! preauth as Billwerk reads it and the one webhook the stand-in receives are asserted.

use psp_integrator::domain::SystemClock;
use psp_integrator::sim::mollie::{SANDBOX_TEST_KEY, Sim, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::driver::{Browser, Screen};
use crate::harness::*;

const WEBHOOK_PATH: &str = "/PSPWebhooks/ExternalIntegration";

/// The app with a Mollie merchant whose key reaches the simulator; a card preauth whose return
/// URLs point at the stand-in. The app, the merchant's token, the preauth, its link, and the
/// simulator's address.
async fn mollie_preauth(
    stop: &CancellationToken,
    amount: f64,
) -> (TestApp, String, String, String, String) {
    let cfg = SimConfig {
        frozen_clock: true,
        ..SimConfig::default()
    };
    let h = Sim::spawn(cfg, "127.0.0.1:0".parse().expect("addr"), stop.clone())
        .await
        .expect("the Mollie simulator starts");
    let url = h.base_url.clone();
    let app = TestApp::spawn_with(move |cfg| {
        let section = cfg
            .psp
            .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
            .expect("[psp.mollie]");
        section.test_base_url = url.clone();
        section.live_base_url = url;
    })
    .await;
    let (_, token) = psp_integrator::admin::create_merchant(
        app.store.as_ref(),
        &app.app.providers,
        &SystemClock,
        "mollie-browser",
        "mollie",
    )
    .await
    .expect("a Mollie merchant");
    let settings =
        json!({ "merchantSettings": [ { "keyName": "ApiKey", "keyValue": SANDBOX_TEST_KEY } ] });
    let (s, b) = app.put_settings(&token, settings).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let pre = tx_id();
    let mut body = targeted(
        preauth_body(&pre, &agreement_id(), amount),
        &app.hook_target(),
    );
    body["paymentMeansReference"]["successReturnUrl"] = json!(app.standin.url("/shop/success"));
    body["paymentMeansReference"]["errorReturnUrl"] = json!(app.standin.url("/shop/error"));
    body["paymentMeansReference"]["abortReturnUrl"] = json!(app.standin.url("/shop/abort"));
    let (s, p) = app
        .send(Method::POST, "/api/Preauth", Some(&token), Some(&body))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Initiated", "{p}");
    let link = p["redirectUrl"].as_str().expect("redirectUrl").to_string();
    (app, token, pre, link, h.base_url)
}

/// The one preauth webhook the stand-in received.
async fn one_preauth_webhook(app: &TestApp, pre: &str) {
    app.drain_outbox(60).await;
    let hooks: Vec<Value> = app
        .standin
        .received()
        .into_iter()
        .filter(|r| r.path == WEBHOOK_PATH)
        .map(|r| r.body)
        .collect();
    assert_eq!(hooks.len(), 1, "one webhook: {hooks:?}");
    assert_eq!(hooks[0]["TransactionId"], pre);
    assert_eq!(hooks[0]["Type"], 1, "a preauth webhook");
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn mollie_hosted_test_checkout_paid() {
    let stop = CancellationToken::new();
    let (app, token, pre, link, sim_url) = mollie_preauth(&stop, 42.0).await;
    let mut b = Browser::start("mollie-paid", Screen::Desktop).await;
    b.goto(&link).await;
    // Our link forwards to Mollie's page: the simulator's test checkout.
    b.wait_for("#outcome-paid").await;
    let at = b.url().await;
    assert!(
        at.starts_with(&sim_url) && at.contains("/checkout/tr_"),
        "on Mollie's page: {at}"
    );
    assert_eq!(b.text("#amount").await, "EUR 42.00");
    b.screenshot("mollie-test-page").await;
    b.click_away("#outcome-paid").await;
    b.wait_for_url(&app.standin.url("/shop/success")).await;
    b.screenshot("landed").await;
    let (s, p) = app
        .send(
            Method::GET,
            &format!("/api/Preauth/{pre}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(p["authorizedAmount"], json!(42), "{p}");
    assert!(
        p["bearer"]["RegistrationId"]
            .as_str()
            .is_some_and(|r| r.starts_with("mdt_")),
        "{p}"
    );
    assert_eq!(
        p["bearer"]["Last4CardNumber"].as_str().map(str::len),
        Some(4)
    );
    one_preauth_webhook(&app, &pre).await;
    b.close().await;
    stop.cancel();
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn mollie_hosted_test_checkout_canceled() {
    let stop = CancellationToken::new();
    let (app, token, pre, link, _) = mollie_preauth(&stop, 15.0).await;
    let mut b = Browser::start("mollie-canceled", Screen::Desktop).await;
    b.goto(&link).await;
    b.wait_for("#outcome-canceled").await;
    b.click_away("#outcome-canceled").await;
    b.wait_for_url(&app.standin.url("/shop/abort")).await;
    b.screenshot("landed").await;
    let (_, p) = app
        .send(
            Method::GET,
            &format!("/api/Preauth/{pre}"),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(p["status"], "Cancelled", "{p}");
    assert!(
        p.get("bearer").is_none(),
        "no agreement without a payment: {p}"
    );
    one_preauth_webhook(&app, &pre).await;
    b.close().await;
    stop.cancel();
}
