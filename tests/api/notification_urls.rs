//! The per-merchant notification URL: `/psp/{family}/{merchant}/{token}/notifications`, the
//! token derived from the master key. A wrong token, or the tokenless path for a family whose
//! notifications do not authenticate themselves (Mollie's unsigned `id=tr_…`), is a 404 with
//! nothing stored; OPPWA's encrypted notifications are still taken on the tokenless path; a URL
//! made before a master key rotation keeps working while the old key is listed.

use psp_integrator::crypto::Sealer;
use psp_integrator::domain::SystemClock;
use psp_integrator::sim::mollie::{SANDBOX_TEST_KEY, Sim as MollieSim, SimConfig};
use psp_integrator::sim::oppwa as sim;
use psp_integrator::startup::{Application, Roles};
use reqwest::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use crate::harness::*;

const NEW_KEY: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf00112233445566778899aabbccddeeff";

/// An authentic (encrypted) OPPWA notification of a payment nobody asked for: stored as one
/// row when accepted.
fn oppwa_notification() -> sim::EncryptedNotification {
    let plain = json!({"type": "PAYMENT", "payload": {
        "id": "8ac7a4a09136ba2801913706f2a2ffff", "paymentType": "DB", "amount": "1.00",
        "currency": "EUR", "result": {"code": "000.100.110", "description": "ok"}}})
    .to_string();
    sim::encrypt_notification(sim::SANDBOX_WEBHOOK_SECRET, plain.as_bytes(), None).expect("encrypt")
}

async fn post_oppwa(url: &str, n: &sim::EncryptedNotification) -> StatusCode {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "text/plain")
        .header("X-Initialization-Vector", &n.iv_hex)
        .header("X-Authentication-Tag", &n.tag_hex)
        .body(n.body_hex.clone())
        .send()
        .await
        .expect("sent")
        .status()
}

async fn stored(app: &TestApp, merchant_id: &str) -> i64 {
    app.store
        .count_notifications(merchant_id)
        .await
        .expect("count")
}

/// `url` with its token replaced by `token` (`None`: the tokenless path).
fn with_token(url: &str, token: Option<&str>) -> String {
    let (head, _) = url
        .rsplit_once("/notifications")
        .expect("a notification URL");
    let (prefix, _old) = head.rsplit_once('/').expect("a token segment");
    match token {
        Some(t) => format!("{prefix}/{t}/notifications"),
        None => format!("{prefix}/notifications"),
    }
}

#[tokio::test]
async fn the_url_carries_the_merchants_token() {
    let app = TestApp::spawn().await;
    let url = app.notification_url();
    let token = Sealer::from_hex(&app.cfg.security.master_key)
        .expect("key")
        .notification_token(&app.merchant_id);
    assert_eq!(
        url,
        format!(
            "{}/psp/oppwa/{}/{token}/notifications",
            app.base, app.merchant_id
        )
    );
    assert_eq!(token.len(), 32);
}

#[tokio::test]
async fn oppwa_takes_the_tokened_and_the_tokenless_path_but_never_a_wrong_token() {
    let app = TestApp::spawn().await;
    let url = app.notification_url();
    let n = oppwa_notification();
    let wrong = "0".repeat(32);
    for bad in [
        with_token(&url, Some(&wrong)),
        with_token(&url, Some("short")),
        // Another merchant's token.
        with_token(
            &url,
            Some(
                &Sealer::from_hex(&app.cfg.security.master_key)
                    .expect("key")
                    .notification_token("someone-else"),
            ),
        ),
    ] {
        assert_eq!(post_oppwa(&bad, &n).await, StatusCode::NOT_FOUND, "{bad}");
    }
    assert_eq!(stored(&app, &app.merchant_id).await, 0, "nothing stored");

    // The tokenless path: OPPWA's notifications are encrypted with the merchant's secret.
    let tokenless = with_token(&url, None);
    assert_eq!(post_oppwa(&tokenless, &n).await, StatusCode::OK);
    assert_eq!(stored(&app, &app.merchant_id).await, 1);
    // The tokened path: the same notification again is a duplicate.
    assert_eq!(post_oppwa(&url, &n).await, StatusCode::OK);
    assert_eq!(stored(&app, &app.merchant_id).await, 1);
}

#[tokio::test]
async fn mollie_needs_the_token_and_nothing_is_stored_without_it() {
    let stop = CancellationToken::new();
    let _stop = stop.clone().drop_guard();
    let h = MollieSim::spawn(
        SimConfig {
            frozen_clock: true,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().expect("addr"),
        stop,
    )
    .await
    .expect("the Mollie simulator starts");
    let sim_url = h.base_url.clone();
    let app = TestApp::spawn_with(move |cfg| {
        cfg.psp
            .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
            .expect("[psp.mollie]")
            .test_base_url = sim_url.clone();
        cfg.psp
            .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
            .expect("[psp.mollie]")
            .live_base_url = sim_url;
        cfg.psp
            .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
            .expect("[psp.mollie]")
            .timeout_secs = 10;
    })
    .await;
    let (m, token) = psp_integrator::flows::operators::merchants::create_merchant(
        app.store.as_ref(),
        &app.app.providers,
        &SystemClock,
        "mollie-url-shop",
        "mollie",
    )
    .await
    .expect("a Mollie merchant");
    let settings =
        json!({ "merchantSettings": [ { "keyName": "ApiKey", "keyValue": SANDBOX_TEST_KEY } ] });
    let (s, b) = app.put_settings(&token, settings).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let url = app.app.notification_url(&m);
    assert!(url.contains(&format!("/psp/mollie/{}/", m.id)), "{url}");

    let webhook = |u: String| {
        let client = app.client.clone();
        async move {
            client
                .post(u)
                .form(&[("id", "tr_unknown1")])
                .send()
                .await
                .expect("sent")
                .status()
        }
    };
    let wrong = "f".repeat(32);
    assert_eq!(
        webhook(with_token(&url, Some(&wrong))).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        webhook(with_token(&url, None)).await,
        StatusCode::NOT_FOUND,
        "an unsigned id is never taken without the token"
    );
    // Another merchant's token does not open this merchant's URL.
    let borrowed = app
        .notification_url()
        .replace("/oppwa/", "/mollie/")
        .replace(&app.merchant_id, &m.id);
    assert_eq!(webhook(borrowed).await, StatusCode::NOT_FOUND);
    assert_eq!(stored(&app, &m.id).await, 0, "nothing stored");

    // The right URL reaches the adapter, which fetches the payment: an id Mollie does not
    // know (yet) is not acknowledged, so Mollie retries it (contract §5 #2).
    let status = webhook(url.clone()).await;
    assert_ne!(status, StatusCode::NOT_FOUND, "the endpoint is known");
    assert!(!status.is_success(), "{status}");
}

#[tokio::test]
async fn a_url_made_before_a_master_key_rotation_keeps_working_while_the_old_key_is_listed() {
    let app = TestApp::spawn().await;
    let old_key = app.cfg.security.master_key.clone();
    let old_url = app.notification_url();
    let record = app
        .store
        .find_merchant(&app.merchant_id)
        .await
        .expect("read")
        .expect("merchant");
    let n = oppwa_notification();
    let instance = |master: &str, previous: Vec<String>| {
        let mut cfg = app.cfg.clone();
        cfg.security.master_key = master.to_string();
        cfg.security.previous_master_keys = previous;
        cfg.server.public_base_url = "http://127.0.0.1:0".into();
        Application::build(cfg, Roles::API)
    };
    // The same path on another instance's port.
    let on = |a: &Application, url: &str| {
        let path = &url[url.find("/psp/").expect("path")..];
        format!("{}{path}", a.base_url())
    };

    // Rollout: the new key makes the URL; the old key's URL is still accepted.
    let rolled = instance(NEW_KEY, vec![old_key.clone()])
        .await
        .expect("starts");
    let new_url = rolled.app().notification_url(&record);
    assert_ne!(
        new_url,
        on(&rolled, &old_url),
        "a new token under the new key"
    );
    assert_eq!(post_oppwa(&on(&rolled, &old_url), &n).await, StatusCode::OK);
    assert_eq!(stored(&app, &app.merchant_id).await, 1);
    let sealer = Sealer::with_previous(NEW_KEY, &[old_key.as_str()]).expect("keys");
    psp_integrator::flows::operators::keys::rotate_master_key(
        rolled.app().store.as_ref(),
        &sealer,
        &SystemClock,
    )
    .await
    .expect("re-sealed");
    rolled.stop().await;

    // The old key dropped: its URL is gone, with nothing stored; the new one works.
    let new_only = instance(NEW_KEY, vec![]).await.expect("starts");
    assert_eq!(
        post_oppwa(&on(&new_only, &old_url), &n).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        stored(&app, &app.merchant_id).await,
        1,
        "nothing more stored"
    );
    assert_eq!(
        post_oppwa(&on(&new_only, &new_url), &n).await,
        StatusCode::OK,
        "a duplicate, acknowledged"
    );
    new_only.stop().await;
}
