//! The shopper's journeys. Each one asserts where the browser lands, the preauth as Billwerk
//! reads it (`GET /api/Preauth/{id}`, bearer masked), the one webhook the Billwerk stand-in
//! receives (the outbox is run explicitly), and saves screenshots.

use psp_integrator::domain::{Clock, SystemClock};
use psp_integrator::flows::reconcile::{self, Policy};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::driver::{Browser, Screen};
use crate::harness::*;

const SHOP: &str = "Bergblick Outdoor GmbH";
const WEBHOOK_PATH: &str = "/PSPWebhooks/ExternalIntegration";

const VISA: &str = "4200000000000000";
const MASTER: &str = "5454545454545454";
const FRICTIONLESS: &str = "4200000000000091";
const CHALLENGE: &str = "4711100000000000";

struct Journey {
    app: TestApp,
    b: Browser,
    pre: String,
    url: String,
}

/// A shop (with a display name) whose customer is sent to our payment page; Billwerk's
/// return URLs point at the stand-in so the browser can land there.
async fn journey(name: &str, screen: Screen, amount: f64, language: &str) -> Journey {
    let app = TestApp::spawn().await;
    let mut settings = sandbox_settings();
    settings["merchantSettings"]
        .as_array_mut()
        .expect("settings")
        .push(json!({"keyName": "ShopName", "keyValue": SHOP}));
    let (s, b) = app.put_settings(&app.token, settings).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let pre = tx_id();
    let mut body = targeted(
        preauth_body(&pre, &agreement_id(), amount),
        &app.hook_target(),
    );
    body["payerData"]["language"] = json!(language);
    body["paymentMeansReference"]["successReturnUrl"] = json!(app.standin.url("/shop/success"));
    body["paymentMeansReference"]["errorReturnUrl"] = json!(app.standin.url("/shop/error"));
    body["paymentMeansReference"]["abortReturnUrl"] = json!(app.standin.url("/shop/abort"));
    let (s, p) = app.post("/api/Preauth", body).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Initiated");
    let url = p["redirectUrl"].as_str().expect("redirectUrl").to_string();
    let b = Browser::start(name, screen).await;
    Journey { app, b, pre, url }
}

impl Journey {
    fn shop(&self, page: &str) -> String {
        self.app.standin.url(&format!("/shop/{page}"))
    }

    /// Opens the payment page and waits for the PSP's card form.
    async fn open(&mut self) {
        self.b.goto(&self.url).await;
        self.b.wait_for("#card-number").await;
        assert_eq!(self.b.text(".shop-name").await, SHOP);
    }

    async fn enter_card(&self, number: &str) {
        let b = &self.b;
        b.fill("#card-holder", "Jane Jones").await;
        b.fill("#card-number", number).await;
        b.fill("#card-expiry-month", "12").await;
        b.fill("#card-expiry-year", "2034").await;
        b.fill("#card-cvv", if number.len() == 15 { "1234" } else { "123" })
            .await;
        b.click_away("form.paymentWidgets button[type=submit]")
            .await;
    }

    /// The browser's final stop, the preauth's state and its bearer (masked; for a card that
    /// was typed but failed, absent), and the one webhook.
    async fn ends(mut self, page: &str, status: &str, card: Option<&str>) -> Value {
        let landing = self.shop(page);
        self.b.wait_for_url(&landing).await;
        self.b.screenshot("landed").await;
        let (s, p) = self.app.get(&format!("/api/Preauth/{}", self.pre)).await;
        assert_eq!(p["status"], status, "{p}");
        assert_eq!(s.is_success(), status == "Succeeded", "{s} {p}");
        if let Some(card) = card {
            assert!(!p.to_string().contains(card), "no full card number in {p}");
        }
        if let Some(card) = card.filter(|_| status == "Succeeded") {
            let masked = format!("{}******{}", &card[..6], &card[card.len() - 4..]);
            assert_eq!(p["bearer"]["MaskedCardPan"], masked.as_str(), "{p}");
            assert_eq!(p["bearer"]["Last4CardNumber"], &card[card.len() - 4..]);
        } else {
            assert!(
                p.get("bearer").is_none(),
                "no bearer without a payment: {p}"
            );
        }
        self.app.drain_outbox(60).await;
        let hooks: Vec<Value> = self
            .app
            .standin
            .received()
            .into_iter()
            .filter(|r| r.path == WEBHOOK_PATH)
            .map(|r| r.body)
            .collect();
        assert_eq!(hooks.len(), 1, "one webhook: {hooks:?}");
        assert_eq!(hooks[0]["TransactionId"], self.pre.as_str());
        assert_eq!(hooks[0]["Type"], 1, "a preauth webhook");
        self.b.close().await;
        p
    }
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn frictionless_success() {
    let mut j = journey("frictionless", Screen::Desktop, 300.0, "EN").await;
    j.open().await;
    assert_eq!(j.b.text("#amount").await, "€300.00");
    j.b.assert_accessible("the payment page").await;
    j.b.screenshot("payment-page").await;
    j.enter_card(FRICTIONLESS).await;
    let p = j.ends("success", "Succeeded", Some(FRICTIONLESS)).await;
    assert_eq!(p["authorizedAmount"], json!(300));
    assert_eq!(p["bearer"]["CardType"], "VISA");
}

async fn challenge(name: &str, button: &str, page: &str, status: &str) -> Value {
    let mut j = journey(name, Screen::Desktop, 49.9, "EN").await;
    j.open().await;
    j.enter_card(CHALLENGE).await;
    j.b.wait_for("#acs-authenticate").await;
    j.b.assert_accessible("the 3-D Secure page").await;
    j.b.screenshot("3ds").await;
    j.b.click_away(button).await;
    j.ends(page, status, Some(CHALLENGE)).await
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn challenge_passed() {
    let p = challenge("3ds-passed", "#acs-authenticate", "success", "Succeeded").await;
    assert_eq!(p["authorizedAmount"], json!(49.9));
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn challenge_failed() {
    let p = challenge("3ds-failed", "#acs-fail", "error", "Failed").await;
    assert_eq!(p["pspErrorCode"], "100.380.401", "{p}");
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn challenge_cancelled() {
    let p = challenge("3ds-cancelled", "#acs-cancel", "abort", "Cancelled").await;
    assert_eq!(p["pspErrorCode"], "100.396.101", "{p}");
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn declined_card() {
    let mut j = journey("declined", Screen::Desktop, 25.0, "EN").await;
    j.open().await;
    j.app.sim.sim.force_next_result("800.100.151");
    j.enter_card(VISA).await;
    let p = j.ends("error", "Failed", Some(VISA)).await;
    assert_eq!(p["errorCode"], "BearerInvalid", "{p}");
    assert_eq!(p["pspErrorCode"], "800.100.151");
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn invalid_card_then_corrected() {
    let mut j = journey("invalid-then-corrected", Screen::Desktop, 300.0, "EN").await;
    j.open().await;
    j.enter_card("4200000000000001").await;
    let alert = j.b.text("[role=alert]").await;
    assert!(
        alert.contains("card number is not valid") && !alert.contains("card.number"),
        "a message for people: {alert}"
    );
    assert_eq!(j.b.text("#amount").await, "€300.00", "the amount stays");
    assert_eq!(j.b.value("#card-holder").await, "Jane Jones");
    assert_eq!(j.b.value("#card-expiry-year").await, "2034");
    assert_eq!(
        j.b.value("#card-number").await,
        "",
        "the number is typed again"
    );
    j.b.assert_accessible("the form after an error").await;
    j.b.screenshot("error").await;
    // A brand chosen against the number is refused, as the real widget does.
    j.b.c
        .find(fantoccini::Locator::Css("#card-brand option[value=MASTER]"))
        .await
        .expect("brand option")
        .click()
        .await
        .expect("choose MASTER");
    j.enter_card(VISA).await;
    let alert = j.b.text("[role=alert]").await;
    assert!(
        alert.contains("does not belong to the selected card brand"),
        "{alert}"
    );
    j.b.c
        .find(fantoccini::Locator::Css("#card-brand option[value='']"))
        .await
        .expect("detect option")
        .click()
        .await
        .expect("detect brand");
    j.enter_card(MASTER).await;
    let p = j.ends("success", "Succeeded", Some(MASTER)).await;
    assert_eq!(p["bearer"]["CardType"], "MASTER", "brand from the number");
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn abort() {
    let mut j = journey("abort", Screen::Desktop, 80.0, "EN").await;
    j.open().await;
    j.b.click_away("#cancel").await;
    let p = j.ends("abort", "Cancelled", None).await;
    assert_eq!(p["errorCode"], "Canceled", "{p}");
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn zero_amount_card_registration() {
    let mut j = journey("zero-amount", Screen::Desktop, 0.0, "EN").await;
    j.open().await;
    assert_eq!(j.b.text("h1").await, "Save your card");
    assert_eq!(j.b.text("#amount").await, "€0.00");
    j.b.screenshot("payment-page").await;
    j.enter_card(MASTER).await;
    let p = j.ends("success", "Succeeded", Some(MASTER)).await;
    assert_eq!(p["authorizedAmount"], json!(0));
    assert!(p["bearer"]["RegistrationId"].is_string(), "{p}");
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn expired_checkout() {
    let mut j = journey("expired", Screen::Desktop, 20.0, "EN").await;
    // The shopper comes back after the checkout's 30 minutes; the reconciler has expired it.
    j.app.sim.sim.advance_clock(31 * 60);
    let now = SystemClock.now().plus_seconds(32 * 60);
    let r = reconcile::run_once(&j.app.app, &Policy::from(&j.app.cfg.reconciler), now)
        .await
        .expect("reconcile round");
    assert_eq!(r.resolved, 1, "{r:?}");
    j.b.goto(&j.url).await;
    assert_eq!(j.b.text("h1").await, "This payment link has expired");
    j.b.assert_accessible("the expired-link page").await;
    j.b.screenshot("expired").await;
    j.b.click_away("#back").await;
    j.ends("error", "Expired", None).await;
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn early_return_url_hit_then_payment() {
    let mut j = journey("early-return", Screen::Desktop, 30.0, "EN").await;
    // A prefetcher (or the PSP, server to server) hits the return URL before the shopper paid.
    let res = j
        .app
        .client
        .get(format!("{}/return", j.url))
        .send()
        .await
        .expect("early hit");
    assert_eq!(location(&res), j.url);
    // The shopper's browser too: it is sent back to the payment page.
    j.b.goto(&format!("{}/return", j.url)).await;
    j.b.wait_for_url(&j.url).await;
    let (_, p) = j.app.get(&format!("/api/Preauth/{}", j.pre)).await;
    assert_eq!(p["status"], "Initiated", "{p}");
    j.open().await;
    j.enter_card(VISA).await;
    j.ends("success", "Succeeded", Some(VISA)).await;
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn german_locale() {
    let mut j = journey("german", Screen::Desktop, 1234.5, "DE").await;
    j.open().await;
    assert_eq!(j.b.js("return document.documentElement.lang;").await, "de");
    assert_eq!(j.b.text("#amount").await, "1.234,50 €");
    assert_eq!(j.b.text("h1").await, "Mit Karte bezahlen");
    assert_eq!(j.b.text("label[for=card-number]").await, "Kartennummer");
    j.b.assert_accessible("the German payment page").await;
    j.b.screenshot("payment-page").await;
    j.enter_card("4200000000000002").await;
    let alert = j.b.text("[role=alert]").await;
    assert!(alert.contains("Die Kartennummer ist ungültig"), "{alert}");
    assert_eq!(j.b.text("#amount").await, "1.234,50 €");
    j.enter_card(CHALLENGE).await;
    assert_eq!(j.b.text("#acs-authenticate").await, "Zahlung bestätigen");
    j.b.click_away("#acs-authenticate").await;
    j.ends("success", "Succeeded", Some(CHALLENGE)).await;
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn phone_viewport() {
    let mut j = journey("phone", Screen::Phone, 300.0, "EN").await;
    j.open().await;
    assert_eq!(j.b.js("return window.innerWidth;").await, 375);
    j.b.assert_fits_width("the payment page").await;
    j.b.assert_accessible("the payment page on a phone").await;
    j.b.screenshot("payment-page").await;
    j.enter_card("4200000000000001").await;
    j.b.wait_for("[role=alert]").await;
    j.b.assert_fits_width("the simulator's form after an error")
        .await;
    j.b.screenshot("error").await;
    j.enter_card(CHALLENGE).await;
    j.b.wait_for("#acs-authenticate").await;
    j.b.assert_fits_width("the 3-D Secure page").await;
    j.b.screenshot("3ds").await;
    j.b.click_away("#acs-authenticate").await;
    j.ends("success", "Succeeded", Some(CHALLENGE)).await;
}

/// The accessibility check has teeth: a page with an unlabeled field, no `lang` and grey on
/// grey text fails it.
#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn accessibility_check_finds_what_is_wrong() {
    let b = Browser::start("axe-self-check", Screen::Desktop).await;
    b.goto(
        "data:text/html,<!DOCTYPE html><html><head><title>t</title></head><body>\
         <p style='color:%23bbb;background:%23ccc'>low contrast</p><input name=x></body></html>",
    )
    .await;
    let v = b.axe_violations("a broken page").await;
    for rule in ["html-has-lang", "label", "color-contrast"] {
        assert!(v.iter().any(|l| l.starts_with(rule)), "{rule} in {v:#?}");
    }
    b.close().await;
}
