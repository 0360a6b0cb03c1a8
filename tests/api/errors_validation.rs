//! Every validation rule answers 422 naming the field; malformed bodies are 4xx, never 500;
//! nothing is written and the PSP is not called.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

async fn rejected(app: &TestApp, path: &str, body: Value, code: &str, field: &str) {
    let id = body["transactionId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let (s, e) = app.post(path, body).await;
    assert_error(s, &e, 422, code, field);
    if !id.is_empty() {
        assert_eq!(app.psp_calls(&id), 0, "PSP not called for {field}");
        let kind = path.trim_start_matches("/api/");
        let (s, _) = app.get(&format!("/api/{kind}/{id}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "nothing written for {field}");
    }
}

#[tokio::test]
async fn preauth_rules() {
    let app = TestApp::spawn().await;
    let base = || preauth_body(&tx_id(), &agreement_id(), 10.0);
    let cases: Vec<(&str, Value, &str, &str)> = vec![
        (
            "transactionId",
            json!("2022-abc"),
            "InvalidData",
            "transactionId",
        ),
        ("transactionId", Value::Null, "InvalidData", "transactionId"),
        (
            "requestedAmount",
            json!(-1),
            "InvalidAmount",
            "requestedAmount",
        ),
        (
            "requestedAmount",
            json!(1.001),
            "InvalidAmount",
            "requestedAmount",
        ),
        (
            "requestedAmount",
            json!("ten"),
            "InvalidData",
            "requestedAmount",
        ),
        ("currency", json!("EURO"), "InvalidCurrency", "currency"),
        ("currency", json!("XYZ"), "InvalidCurrency", "currency"),
        (
            "webhookTarget",
            json!("/relative/path"),
            "InvalidData",
            "webhookTarget",
        ),
        (
            "webhookTarget",
            json!("ftp://billwerk.example/x"),
            "InvalidData",
            "webhookTarget",
        ),
        ("agreementId", json!(""), "InvalidData", "agreementId"),
        ("agreementId", Value::Null, "InvalidData", "agreementId"),
        ("isInitial", json!("maybe"), "InvalidData", "isInitial"),
    ];
    for (field, value, code, mention) in cases {
        let mut b = base();
        b[field] = value;
        rejected(&app, "/api/Preauth", b, code, mention).await;
    }
    let mut b = base();
    b["paymentMeansReference"]["role"] = json!("OnAccount");
    rejected(
        &app,
        "/api/Preauth",
        b,
        "InvalidData",
        "paymentMeansReference.role",
    )
    .await;
    let mut b = base();
    b["paymentMeansReference"]["role"] = json!(99);
    rejected(
        &app,
        "/api/Preauth",
        b,
        "InvalidData",
        "paymentMeansReference.role",
    )
    .await;
    let mut b = base();
    b["paymentMeansReference"]["successReturnUrl"] = json!("not a url");
    rejected(&app, "/api/Preauth", b, "InvalidData", "successReturnUrl").await;
}

#[tokio::test]
async fn payment_and_refund_rules() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    for amount in [0.0, -5.0] {
        rejected(
            &app,
            "/api/Payment",
            recurring_body(&tx_id(), &agr, amount),
            "InvalidAmount",
            "requestedAmount",
        )
        .await;
        rejected(
            &app,
            "/api/Refund",
            refund_body(&tx_id(), &tx_id(), amount),
            "InvalidAmount",
            "requestedAmount",
        )
        .await;
    }
    let mut b = recurring_body(&tx_id(), &agr, 5.0);
    b["preauthTransactionId"] = json!("nope");
    rejected(
        &app,
        "/api/Payment",
        b,
        "InvalidData",
        "preauthTransactionId",
    )
    .await;
    rejected(
        &app,
        "/api/Payment",
        capture_body(&tx_id(), &tx_id(), &agr, 5.0),
        "InvalidData",
        "unknown preauth",
    )
    .await;
    rejected(
        &app,
        "/api/Refund",
        refund_body(&tx_id(), "x", 5.0),
        "InvalidData",
        "paymentTransactionId",
    )
    .await;
    rejected(
        &app,
        "/api/Payment",
        recurring_body(&tx_id(), &agr, 5.0),
        "InvalidData",
        "unknown agreement",
    )
    .await;
}

#[tokio::test]
async fn malformed_bodies_are_client_errors_with_the_error_object() {
    let app = TestApp::spawn().await;
    let send = |body: &'static str, ct: &'static str| {
        app.client
            .post(format!("{}/api/Preauth", app.base))
            .bearer_auth(&app.token)
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let cases = [
        ("{not json", "application/json", 400),
        ("[1,2]", "application/json", 422),
        ("{\"transactionId\": 5}", "application/json", 422),
        ("{}", "text/plain", 415),
        ("", "application/json", 400),
    ];
    for (body, ct, want) in cases {
        let res = send(body, ct).await.expect("send");
        let status = res.status();
        let e: Value = res.json().await.expect("error object");
        assert_eq!(status.as_u16(), want, "{body} as {ct}: {e}");
        assert_eq!(e["errorCode"], "InvalidData");
        assert_wire_time(&e["receivedAt"]);
    }
    let res = send("{}", "application/vnd.billwerk+json")
        .await
        .expect("send");
    assert_eq!(
        res.status(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "+json types are JSON"
    );
    let big = "x".repeat(300_000);
    let res = app
        .client
        .post(format!("{}/api/Preauth", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(format!("{{\"a\":\"{big}\"}}"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn unknown_ids_routes_and_methods() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/Preauth/20221108-636bd596c10cfc318b1bfabb",
        "/api/Payment/unknown",
        "/api/Refund/x",
    ] {
        let (s, e) = app.get(path).await;
        assert_error(s, &e, 404, "InvalidData", "not found");
    }
    let (s, e) = app
        .post(
            "/api/Preauth/20221108-636bd596c10cfc318b1bfabb/Cancel",
            json!({}),
        )
        .await;
    assert_error(s, &e, 404, "InvalidData", "not found");
    let (s, e) = app
        .post("/api/Preauth/Finalize", json!({"transactionId": tx_id()}))
        .await;
    assert_error(s, &e, 404, "InvalidData", "not found");
    let (s, e) = app.get("/api/Nothing").await;
    assert_error(s, &e, 404, "InvalidData", "no such endpoint");
    let (s, e) = app
        .send(
            reqwest::Method::DELETE,
            "/api/Settings",
            Some(&app.token),
            None,
        )
        .await;
    assert_error(s, &e, 405, "InvalidData", "method");
}
