//! PSP settings: checked against the PSP, sealed at rest, masked on read.

use psp_integrator::sim::oppwa as sim;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn settings_are_checked_sealed_and_masked() {
    let app = TestApp::spawn_with(|_| {}).await;
    let (s, e) = app
        .post(
            "/api/Payment",
            recurring_body(&tx_id(), &agreement_id(), 5.0),
        )
        .await;
    assert_error(s, &e, 500, "InvalidConfiguration", "PUT /api/Settings");

    let (s, r) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        r,
        json!({"isCreditCardValid": true, "isDebitValid": true, "isOnAccountValid": false,
               "isBlackLabelValid": false, "isAutogiroValid": false, "isAvtalegiroValid": false,
               "isBetalingsserviceValid": false})
    );
    let sealed = app
        .store
        .get_settings(&app.merchant_id)
        .await
        .expect("read")
        .expect("stored");
    for secret in [
        sim::SANDBOX_ACCESS_TOKEN,
        sim::SANDBOX_WEBHOOK_SECRET,
        sim::SANDBOX_ENTITY_ID,
    ] {
        assert!(
            !sealed.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "stored bytes hide {secret}"
        );
    }
    let (s, g) = app.get("/api/Settings").await;
    assert_eq!(s, StatusCode::OK);
    let list = g["merchantSettings"].as_array().expect("list");
    let value = |k: &str| {
        list.iter()
            .find(|v| v["keyName"] == k)
            .and_then(|v| v["keyValue"].as_str())
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(
        value("EntityId"),
        sim::SANDBOX_ENTITY_ID,
        "non-secrets in clear"
    );
    assert_eq!(value("Environment"), "Test");
    for k in ["AccessToken", "WebhookSecret"] {
        assert!(value(k).starts_with("********"), "{k} masked");
        assert!(!g.to_string().contains(sim::SANDBOX_ACCESS_TOKEN));
    }

    // Sending the masked values back (wrapped shape) keeps the secrets.
    let (s, r) = app
        .put_settings(&app.token, json!({"merchantPspSettings": g.clone()}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;

    // A wrong token is refused and the stored settings stay as they were.
    let mut bad = sandbox_settings();
    bad["merchantSettings"][0]["keyValue"] = json!("wrong-token-value");
    let (s, e) = app.put_settings(&app.token, bad).await;
    assert_error(s, &e, 422, "InvalidData", "PSP did not accept");
    let (s, p) = app
        .post("/api/Payment", recurring_body(&tx_id(), &agr, 5.0))
        .await;
    assert_eq!(s, StatusCode::OK, "old settings still work: {p}");
}

#[tokio::test]
async fn settings_validation_names_the_key() {
    let app = TestApp::spawn_with(|_| {}).await;
    let with = |k: usize, v: serde_json::Value| {
        let mut b = sandbox_settings();
        b["merchantSettings"][k]["keyValue"] = v;
        b
    };
    let cases = [
        (with(1, json!("not-hex")), "EntityId"),
        (with(3, json!("abcd")), "WebhookSecret"),
        (with(4, json!("Staging")), "Environment"),
        (with(0, json!("")), "AccessToken"),
        (
            json!({"merchantSettings": [{"keyName": "Bogus", "keyValue": "1"}]}),
            "Bogus",
        ),
        (json!({}), "merchantSettings"),
    ];
    for (body, key) in cases {
        let (s, e) = app.put_settings(&app.token, body).await;
        assert_error(s, &e, 422, "InvalidData", key);
    }
    assert!(
        app.store
            .get_settings(&app.merchant_id)
            .await
            .expect("read")
            .is_none(),
        "nothing stored"
    );
}
