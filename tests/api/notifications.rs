//! Inbound PSP notifications and outbound Billwerk webhooks, end to end: the simulator's
//! webhooks (OPPWA's encrypted notifications, Mollie's id-only webhooks) reach our endpoint,
//! change state once, and Billwerk hears about the latest state through the stand-in.

use psp_integrator::sim::oppwa as sim;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// A SEPA mandate and a Pending debit of 25 on it; returns (debit id, its PSP id).
async fn pending_debit(app: &TestApp) -> (String, String) {
    let agr = sepa_agreement(app).await;
    pending_sepa_debit(app, &agr, 25.0).await
}

fn types_for(hooks: &[Value], tx: &str) -> Vec<i64> {
    hooks
        .iter()
        .filter(|h| h["TransactionId"] == tx)
        .filter_map(|h| h["Type"].as_i64())
        .collect()
}

#[tokio::test]
async fn notifications_must_be_authentic_and_are_stored_once() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::HandMadeNotifications) {
        return;
    }
    let plain = br#"{"type":"PAYMENT","payload":{"id":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"DB","amount":"1.00","currency":"EUR","result":{"code":"000.100.110","description":"ok"}}}"#;
    let enc = sim::encrypt_notification(sim::SANDBOX_WEBHOOK_SECRET, plain, None).expect("encrypt");
    let post = |url: String, body: String, iv: String, tag: String| {
        app.client
            .post(url)
            .header("content-type", "text/plain")
            .header("X-Initialization-Vector", iv)
            .header("X-Authentication-Tag", tag)
            .body(body)
            .send()
    };
    let flip = |h: &str| {
        let mut b = hex::decode(h).expect("hex");
        b[0] ^= 1;
        hex::encode_upper(b)
    };
    let url = app.notification_url();
    let cases = [
        (
            url.clone(),
            flip(&enc.body_hex),
            enc.iv_hex.clone(),
            enc.tag_hex.clone(),
            400,
        ),
        (
            url.clone(),
            enc.body_hex.clone(),
            enc.iv_hex.clone(),
            flip(&enc.tag_hex),
            400,
        ),
        (
            url.clone(),
            enc.body_hex.clone(),
            flip(&enc.iv_hex),
            enc.tag_hex.clone(),
            400,
        ),
        (
            url.clone(),
            "not hex".into(),
            enc.iv_hex.clone(),
            enc.tag_hex.clone(),
            400,
        ),
        (
            format!("{}/psp/oppwa/nope/notifications", app.base),
            enc.body_hex.clone(),
            enc.iv_hex.clone(),
            enc.tag_hex.clone(),
            404,
        ),
    ];
    for (u, b, iv, tag, want) in cases {
        let res = post(u, b, iv, tag).await.expect("send");
        assert_eq!(res.status().as_u16(), want);
    }
    assert_eq!(
        app.store
            .count_notifications(&app.merchant_id)
            .await
            .expect("count"),
        0,
        "nothing written"
    );
    for _ in 0..2 {
        let res = post(
            url.clone(),
            enc.body_hex.clone(),
            enc.iv_hex.clone(),
            enc.tag_hex.clone(),
        )
        .await
        .expect("send");
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(
        app.store
            .count_notifications(&app.merchant_id)
            .await
            .expect("count"),
        1,
        "duplicate stored once"
    );
}

#[tokio::test]
async fn duplicate_and_out_of_order_notifications_settle_once() {
    let app = TestApp::spawn().await;
    app.connect_psp_webhooks().await;
    let (debit, psp_id) = pending_debit(&app).await;
    // Every notification arrives twice, and a stale one after the final one (OPPWA: the
    // pending event queued at creation; Mollie: a late webhook).
    app.psp_duplicates_and_reorders();
    app.psp_settles_debit(&psp_id);
    assert!(app.psp_delivers_all().await >= 4, "all copies acknowledged");
    let (_, p) = app.get(&format!("/api/Payment/{debit}")).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(p["payments"][0]["amount"], json!(25));
    app.drain_outbox(5).await;
    assert_eq!(
        types_for(&app.webhooks(), &debit),
        vec![2],
        "exactly one webhook"
    );
    assert!(app.webhooks().iter().all(|h| h["AgreementId"].is_null()));
    app.drain_outbox(3600).await;
    assert_eq!(
        types_for(&app.webhooks(), &debit).len(),
        1,
        "no redelivery of a delivered row"
    );
}

#[tokio::test]
async fn fifty_quick_changes_yield_at_most_two_webhooks() {
    let app = TestApp::spawn().await;
    app.connect_psp_webhooks().await;
    let (debit, psp_id) = pending_debit(&app).await;
    app.psp_settles_debit(&psp_id);
    app.psp_delivers().await;
    app.drain_outbox(5).await;
    let before = types_for(&app.webhooks(), &debit).len();
    for _ in 0..50 {
        app.psp_sepa_chargeback(&psp_id, "0.10", Some("MD06"));
        app.psp_delivers().await;
        app.drain_outbox(0).await;
    }
    app.drain_outbox(10).await;
    let after = types_for(&app.webhooks(), &debit).len() - before;
    assert!((1..=2).contains(&after), "{after} webhooks for 50 changes");
    let (_, p) = app.get(&format!("/api/Payment/{debit}")).await;
    assert_eq!(p["chargebacks"].as_array().map(Vec::len), Some(50));
    assert_eq!(p["chargebacks"][0]["reason"], "UserInitiated");
    assert_eq!(
        p["refundableAmount"],
        json!(20),
        "25 paid − 50 × 0.10 charged back"
    );
}

#[tokio::test]
async fn billwerk_outage_then_recovery_loses_nothing() {
    let app = TestApp::spawn().await;
    app.connect_psp_webhooks().await;
    let mut debits = Vec::new();
    for _ in 0..3 {
        debits.push(pending_debit(&app).await);
    }
    app.standin.set_status(500);
    for (_, psp) in &debits {
        app.psp_settles_debit(psp);
    }
    app.psp_delivers().await;
    for minutes in [0, 2, 10, 30] {
        app.drain_outbox(minutes * 60).await;
    }
    let failed = app.webhooks().len();
    assert!(failed >= 3, "Billwerk was tried ({failed} attempts)");
    app.standin.set_status(200);
    app.drain_outbox(6 * 3600).await;
    let ok: Vec<Value> = app
        .standin
        .received()
        .into_iter()
        .filter(|r| r.status_returned == 200)
        .map(|r| r.body)
        .collect();
    for (d, _) in &debits {
        assert_eq!(
            types_for(&ok, d),
            vec![2],
            "{d} delivered once after recovery"
        );
    }
}

#[tokio::test]
async fn checkout_completed_by_notification_alone_and_registration_deletion() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::WidgetCheckout) {
        return;
    }
    app.connect_psp_webhooks().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let (_, p) = app
        .post(
            "/api/Preauth",
            targeted(preauth_body(&pre, &agr, 20.0), &app.hook_target()),
        )
        .await;
    let page = app
        .client
        .get(p["redirectUrl"].as_str().expect("url"))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    let checkout = between(&html, "checkoutId=", "\"").expect("checkout id");
    let ret = between(&html, "action=\"", "\"").expect("action");
    let res = app.submit_card(&checkout, &ret, "4200000000000000").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // The shopper never returns; the PSP's notification completes the preauth.
    app.psp_delivers().await;
    let (_, got) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(got["status"], "Succeeded", "{got}");
    app.drain_outbox(5).await;
    assert_eq!(types_for(&app.webhooks(), &pre), vec![1]);

    let reg = got["bearer"]["RegistrationId"]
        .as_str()
        .expect("registration")
        .to_string();
    app.sim.sim.delete_registration(&reg).expect("delete");
    app.psp_delivers().await;
    app.drain_outbox(10).await;
    let hooks = app.webhooks();
    let four: Vec<&Value> = hooks.iter().filter(|h| h["Type"] == 4).collect();
    assert_eq!(four.len(), 1);
    assert_eq!(four[0]["TransactionId"], pre);
    assert_eq!(four[0]["AgreementId"], agr);
    let (s, e) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&tx_id(), &agr, 5.0), &app.hook_target()),
        )
        .await;
    assert_error(s, &e, 422, "BearerInvalid", "inactive");
}

#[tokio::test]
async fn webhook_target_outside_the_allow_list_is_refused() {
    let app = TestApp::spawn().await;
    for target in [
        "https://evil.example/hook",
        "http://10.0.0.1/hook",
        "https://billwerk.com.evil.example/x",
    ] {
        let pre = tx_id();
        let (s, e) = app
            .post(
                "/api/Preauth",
                targeted(preauth_body(&pre, &agreement_id(), 1.0), target),
            )
            .await;
        assert_error(s, &e, 422, "InvalidData", "webhookTarget");
        assert_eq!(app.psp_calls(&pre), 0);
    }
    let (s, _) = app
        .post(
            "/api/Preauth",
            targeted(
                preauth_body(&tx_id(), &agreement_id(), 1.0),
                "https://sample.billwerk.com/PSPWebhooks/ExternalIntegration",
            ),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn pending_refund_confirmed_by_notification_updates_the_payment() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::HandMadeNotifications) {
        return;
    }
    app.connect_psp_webhooks().await;
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;
    let pay = tx_id();
    let (_, p) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&pay, &agr, 40.0), &app.hook_target()),
        )
        .await;
    assert_eq!(p["status"], "Succeeded");
    let refund = tx_id();
    app.sim.sim.force_next_result("000.200.000");
    let (s, r) = app
        .post(
            "/api/Refund",
            targeted(refund_body(&refund, &pay, 15.0), &app.hook_target()),
        )
        .await;
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{r}"
    );
    assert_eq!(r["refundedAmount"], json!(0));
    let (_, before) = app.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(
        before["refundableAmount"],
        json!(25),
        "a refund in flight is not refundable again"
    );
    assert_eq!(before["refundedAmount"], json!(0));

    app.psp_delivers().await;
    app.drain_outbox(5).await;
    app.standin.clear();
    let rf_psp = r["pspTransactionId"]
        .as_str()
        .expect("refund psp id")
        .to_string();
    app.sim
        .sim
        .complete(&rf_psp, "000.100.110")
        .expect("confirm refund");
    app.psp_delivers().await;
    let (_, got) = app.get(&format!("/api/Refund/{refund}")).await;
    assert_eq!(got["status"], "Succeeded", "{got}");
    assert_eq!(got["refundedAmount"], json!(15));
    let (_, after) = app.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(after["refundedAmount"], json!(15));
    assert_eq!(after["refundableAmount"], json!(25));
    assert!(after["lastUpdated"].as_str() > before["lastUpdated"].as_str());
    app.drain_outbox(10).await;
    let mut hooks = app.webhooks();
    hooks.sort_by_key(|h| h["Type"].as_i64());
    assert_eq!(
        hooks,
        vec![
            json!({"TransactionId": pay, "AgreementId": null, "Type": 2}),
            json!({"TransactionId": refund, "AgreementId": null, "Type": 3})
        ],
        "the refund, and its payment whose refunded amount moved"
    );
}
