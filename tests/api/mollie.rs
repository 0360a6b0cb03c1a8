//! The Mollie family end to end: a merchant with `--psp mollie` and its API key, a card first
//! payment on Mollie's hosted test page (the simulator's), the shopper's return and Billwerk's
//! Finalize, a recurring payment on the agreement, a refund, and Mollie's id-only webhook
//! leading to a Billwerk webhook.

use psp_integrator::domain::SystemClock;
use psp_integrator::sim::mollie::{SANDBOX_TEST_KEY, Sim, SimConfig};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::harness::*;

/// The app with a second merchant on Mollie, and the Mollie simulator it talks to.
pub(crate) struct MollieApp {
    pub(crate) app: TestApp,
    pub(crate) sim: Sim,
    pub(crate) sim_url: String,
    pub(crate) token: String,
    pub(crate) notification_url: String,
    _stop: DropGuard,
}

impl MollieApp {
    pub(crate) async fn start() -> MollieApp {
        let stop = CancellationToken::new();
        let cfg = SimConfig {
            frozen_clock: true,
            ..SimConfig::default()
        };
        let h = Sim::spawn(cfg, "127.0.0.1:0".parse().expect("addr"), stop.clone())
            .await
            .expect("the Mollie simulator starts");
        let url = h.base_url.clone();
        let app = TestApp::spawn_with(move |cfg| {
            cfg.psp
                .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
                .expect("[psp.mollie]")
                .test_base_url = url.clone();
            cfg.psp
                .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
                .expect("[psp.mollie]")
                .live_base_url = url;
            cfg.psp
                .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
                .expect("[psp.mollie]")
                .timeout_secs = 10;
        })
        .await;
        let (m, token) = psp_integrator::admin::create_merchant(
            app.store.as_ref(),
            &app.app.providers,
            &SystemClock,
            "mollie-shop",
            "mollie",
        )
        .await
        .expect("a Mollie merchant");
        let notification_url = app.app.notification_url(&m);
        MollieApp {
            app,
            sim: h.sim,
            sim_url: h.base_url,
            token,
            notification_url,
            _stop: stop.drop_guard(),
        }
    }

    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        self.app.send(method, path, Some(&self.token), body).await
    }

    pub(crate) async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, Some(&body)).await
    }

    pub(crate) async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, None).await
    }

    pub(crate) fn notification_url(&self) -> String {
        self.notification_url.clone()
    }
}

pub(crate) fn api_key(key: &str) -> Value {
    json!({ "merchantSettings": [ { "keyName": "ApiKey", "keyValue": key } ] })
}

#[tokio::test]
async fn settings_name_a_key_of_the_wrong_form() {
    let m = MollieApp::start().await;
    let (s, e) = m
        .send(Method::PUT, "/api/Settings", Some(&api_key("sk_notMollie")))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(e.to_string().contains("ApiKey"), "{e}");
    let (s, b) = m
        .send(
            Method::PUT,
            "/api/Settings",
            Some(&api_key(SANDBOX_TEST_KEY)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

#[tokio::test]
async fn card_first_payment_recurring_refund_and_webhook() {
    let m = MollieApp::start().await;
    let (s, b) = m
        .send(
            Method::PUT,
            "/api/Settings",
            Some(&api_key(SANDBOX_TEST_KEY)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let target = m.app.hook_target();

    // Initial card preauth: Initiated, the shopper goes to Mollie's hosted page.
    let (pre, agr) = (tx_id(), agreement_id());
    let (s, p) = m
        .post(
            "/api/Preauth",
            targeted(preauth_body(&pre, &agr, 30.0), &target),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Initiated", "{p}");
    let ours = p["redirectUrl"].as_str().expect("redirectUrl").to_string();
    let res = m.app.client.get(&ours).send().await.expect("our page");
    assert!(res.status().is_redirection(), "{}", res.status());
    let mollie_page = location(&res);
    assert!(
        mollie_page.starts_with(&format!("{}/checkout/tr_", m.sim_url)),
        "{mollie_page}"
    );
    // The tester picks "paid" on the test page; Mollie sends the browser back to us.
    let res = m
        .app
        .client
        .post(&mollie_page)
        .form(&[("outcome", "paid")])
        .send()
        .await
        .expect("test page");
    assert!(res.status().is_redirection(), "{}", res.status());
    // Billwerk finalizes (the browser's return and the webhook may race it: first one wins).
    let (s, f) = m
        .post(
            "/api/Preauth/Finalize",
            json!({"transactionId": pre, "finalizationData": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["status"], "Succeeded", "{f}");
    assert_eq!(f["authorizedAmount"], json!(30));
    assert_eq!(
        f["bearer"]["Last4CardNumber"].as_str().map(str::len),
        Some(4),
        "{f}"
    );
    assert!(
        f["bearer"]["RegistrationId"]
            .as_str()
            .is_some_and(|r| r.starts_with("mdt_")),
        "{f}"
    );
    let back = location(&res);
    let res = m.app.client.get(&back).send().await.expect("return leg");
    assert!(res.status().is_redirection(), "{}", res.status());
    assert_eq!(location(&res), "https://merchant.example/success");

    // A recurring payment on the agreement (customer + mandate).
    let pay = tx_id();
    let (s, r) = m
        .post(
            "/api/Payment",
            targeted(recurring_body(&pay, &agr, 20.0), &target),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(
        matches!(r["status"].as_str(), Some("Succeeded" | "Pending")),
        "{r}"
    );
    let tr = r["pspTransactionId"].as_str().expect("psp id").to_string();
    assert!(tr.starts_with("tr_"), "{r}");
    assert_eq!(
        m.sim
            .count_payments_with_metadata(&json!({"transactionId": pay})),
        1,
        "exactly one charge at Mollie"
    );

    // Mollie's webhook: id only, unsigned; we fetch the payment and tell Billwerk.
    let res = m
        .app
        .client
        .post(m.notification_url())
        .form(&[("id", tr.as_str())])
        .send()
        .await
        .expect("webhook");
    assert_eq!(res.status(), StatusCode::OK);
    let (_, r) = m.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");

    // A refund of part of it.
    let rf = tx_id();
    let (s, b) = m
        .post(
            "/api/Refund",
            targeted(refund_body(&rf, &pay, 5.0), &target),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        matches!(b["status"].as_str(), Some("Pending" | "Succeeded")),
        "{b}"
    );
    // The same amount again within the hour: Mollie's 409, a clear 422 for Billwerk.
    let (s, e) = m
        .post(
            "/api/Refund",
            targeted(refund_body(&tx_id(), &pay, 5.0), &target),
        )
        .await;
    assert_error(s, &e, 422, "InvalidData", "duplicate refund");
    assert_eq!(e["pspErrorCode"], "409", "{e}");

    // A chargeback at Mollie keeps the payment `paid`; Mollie's webhook (delivered by the
    // simulator to the merchant's notification URL) makes us fetch it and tell Billwerk.
    m.app.drain_outbox(60).await;
    m.app.standin.clear();
    m.sim
        .chargeback(&tr, Some("10.00"), None, false)
        .expect("chargeback");
    let attempts = m.sim.deliver_due().await;
    assert!(
        attempts
            .iter()
            .any(|a| a.payment_id == tr && a.status == Some(200)),
        "Mollie's webhook answered 200: {attempts:?}"
    );
    let (_, r) = m.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(r["chargebacks"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["status"], "Succeeded", "{r}");
    m.app.drain_outbox(3600).await;
    let hooks: Vec<Value> = m.app.webhooks();
    assert!(
        hooks.iter().any(|h| h["TransactionId"] == pay.as_str()),
        "a Billwerk webhook for the payment: {hooks:?}"
    );

    // An id Mollie does not know (yet): not accepted, so Mollie delivers it again (§5 #2).
    let res = m
        .app
        .client
        .post(m.notification_url())
        .form(&[("id", "tr_unknown1")])
        .send()
        .await
        .expect("webhook");
    assert!(!res.status().is_success(), "{}", res.status());
}
