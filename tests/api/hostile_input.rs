//! Malformed and hostile requests: ambiguous money is refused, not guessed; fields are bounded;
//! every answer is the error object in plain words; nothing is written and the PSP is not called.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// Sends a raw body (exactly these bytes) with the merchant's token.
async fn post_raw(app: &TestApp, path: &str, body: String) -> (StatusCode, Value) {
    let res = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let v = res.json().await.unwrap_or(Value::Null);
    (status, v)
}

/// Sends raw bytes over TCP (for requests an HTTP client refuses to build) and reads the answer
/// until the server closes the connection.
async fn raw_http(app: &TestApp, request: String) -> (StatusCode, Value) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.expect("read");
    let text = String::from_utf8_lossy(&answer).to_string();
    let status: u16 = text
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("status line in {:.200}", text));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let v = serde_json::from_str(body).unwrap_or(Value::Null);
    (StatusCode::from_u16(status).expect("status"), v)
}

/// Asserts nothing was stored under `id` and the PSP never saw it.
async fn untouched(app: &TestApp, kind: &str, id: &str) {
    assert_eq!(app.psp_calls(id), 0, "PSP not called for {id}");
    let (s, _) = app.get(&format!("/api/{kind}/{id}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored for {id}");
}

/// The message is for people: no serde type paths or wording.
fn plain(e: &Value) {
    let m = e["errorMessage"].as_str().unwrap_or_default();
    for bad in [
        "serde",
        "$",
        "Decimal type",
        "invalid type",
        "u128",
        "expected",
    ] {
        assert!(!m.contains(bad), "'{m}' contains '{bad}'");
    }
}

/// Why 1: `requestedAmount` twice (also in another case, also for currency and refunds).
#[tokio::test]
async fn duplicate_keys_are_refused_naming_the_key() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let splice = |body: Value, extra: &str| {
        let text = body.to_string();
        format!("{}, {extra}}}", text.trim_end_matches('}'))
    };
    let cases = [
        (
            r#""requestedAmount": 5000"#,
            "requestedAmount: is sent more than once",
        ),
        (
            r#""REQUESTEDAMOUNT": 5000"#,
            "requestedAmount and REQUESTEDAMOUNT: are the same property",
        ),
        (
            r#""Currency": "USD""#,
            "currency and Currency: are the same property",
        ),
    ];
    for (extra, message) in cases {
        let tx = tx_id();
        let mut b = recurring_body(&tx, &agr, 10.0);
        b["paymentMeansReference"]["role"] = json!("Debit");
        let (s, e) = post_raw(&app, "/api/Payment", splice(b, extra)).await;
        assert_error(s, &e, 422, "InvalidData", message);
        plain(&e);
        untouched(&app, "Payment", &tx).await;
    }
    let tx = tx_id();
    let body = splice(
        refund_body(&tx, &tx_id(), 10.0),
        r#""requestedamount": 5000"#,
    );
    let (s, e) = post_raw(&app, "/api/Refund", body).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "requestedAmount and requestedamount: are the same property",
    );
    untouched(&app, "Refund", &tx).await;
    // Nested objects too: two IBANs in the SEPA bearer.
    let tx = tx_id();
    let mut b = sepa_preauth_body(&tx, &agreement_id());
    b["paymentMeansReference"]["initialBearer"]["iban"] = json!("GB33BUKB20201555555555");
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "paymentMeansReference.initialBearer.",
    );
    untouched(&app, "Preauth", &tx).await;
}

/// Why 2: non-tender codes are not money a card or a SEPA debit can carry.
#[tokio::test]
async fn non_tender_currencies_are_refused() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    for code in [
        "XXX", "XTS", "XAU", "XDR", "BOV", "CLF", "USN", "XBA", "HRK", "xxx",
    ] {
        let tx = tx_id();
        let mut b = preauth_body(&tx, &agr, 10.0);
        b["currency"] = json!(code);
        let (s, e) = app.post("/api/Preauth", b).await;
        assert_error(s, &e, 422, "InvalidCurrency", "currency: ");
        untouched(&app, "Preauth", &tx).await;
    }
    let tx = tx_id();
    let mut b = recurring_body(&tx, &agr, 10.0);
    b["currency"] = json!("XXX");
    let (s, e) = app.post("/api/Payment", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidCurrency",
        "XXX is an ISO-4217 special code",
    );
    untouched(&app, "Payment", &tx).await;
    // More decimals than the currency has.
    for (code, amount) in [
        ("EUR", json!(10.001)),
        ("JPY", json!(10.5)),
        ("KWD", json!(1.0001)),
    ] {
        let tx = tx_id();
        let mut b = preauth_body(&tx, &agr, 1.0);
        b["currency"] = json!(code);
        b["requestedAmount"] = amount;
        let (s, e) = app.post("/api/Preauth", b).await;
        assert_error(
            s,
            &e,
            422,
            "InvalidAmount",
            &format!("more decimals than {code} allows"),
        );
        untouched(&app, "Preauth", &tx).await;
    }
}

/// Why 3: control characters are refused naming the field; an over-long holder is refused, not cut.
#[tokio::test]
async fn control_characters_and_over_long_fields_are_refused() {
    let app = TestApp::spawn().await;
    let cases = [
        ("agreementId", json!("636a918c\u{0}a2500caa")),
        ("agreementId", json!("636a918c\r\nX-Injected: 1")),
        ("transactionReferenceText", json!("Invoice 1\r\nInvoice 2")),
        ("transactionReferenceText", json!("nul\u{0}byte")),
        ("transactionReferenceText", json!("x".repeat(128))),
    ];
    for (field, value) in cases {
        let tx = tx_id();
        let mut b = preauth_body(&tx, &agreement_id(), 10.0);
        b[field] = value;
        let (s, e) = app.post("/api/Preauth", b).await;
        assert_error(s, &e, 422, "InvalidData", &format!("{field}: "));
        plain(&e);
        untouched(&app, "Preauth", &tx).await;
    }
    let tx = tx_id();
    let mut b = sepa_preauth_body(&tx, &agreement_id());
    b["paymentMeansReference"]["initialBearer"]["Holder"] = json!("H".repeat(100_000));
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "paymentMeansReference.initialBearer.Holder: is 100000 characters long; at most 128",
    );
    untouched(&app, "Preauth", &tx).await;
    let tx = tx_id();
    let mut b = preauth_body(&tx, &agreement_id(), 10.0);
    b["payerData"]["firstName"] = json!("J".repeat(49));
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "payerData.firstName: is 49 characters",
    );
    untouched(&app, "Preauth", &tx).await;
}

/// Why 4: an empty preauthTransactionId is not "no capture": it is refused, nothing is charged.
#[tokio::test]
async fn empty_optional_ids_are_refused() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let tx = tx_id();
    let mut b = recurring_body(&tx, &agr, 10.0);
    b["paymentMeansReference"]["role"] = json!("Debit");
    b["preauthTransactionId"] = json!("");
    let (s, e) = app.post("/api/Payment", b.clone()).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "preauthTransactionId: must not be empty",
    );
    untouched(&app, "Payment", &tx).await;
    b["preauthTransactionId"] = json!("   ");
    let (s, e) = app.post("/api/Payment", b.clone()).await;
    assert_error(s, &e, 422, "InvalidData", "preauthTransactionId: ");
    b["preauthTransactionId"] = Value::Null;
    b["pspSettingsId"] = json!("");
    let (s, e) = app.post("/api/Payment", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "pspSettingsId: must not be empty",
    );
    untouched(&app, "Payment", &tx).await;
}

/// Why 5: messages name the field and the rule, never serde's internals.
#[tokio::test]
async fn messages_are_plain_words() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    let cases = [
        (
            "1.0000000000000000000000000000000001",
            "InvalidAmount",
            "requestedAmount: has more decimals than EUR allows (2)",
        ),
        (
            "18446744073709551616",
            "InvalidAmount",
            "requestedAmount: is too large",
        ),
        ("1e999999", "InvalidAmount", "requestedAmount: is too large"),
        (
            "\"10.00\"",
            "InvalidData",
            "requestedAmount: must be a JSON number",
        ),
        (
            "[10]",
            "InvalidData",
            "requestedAmount: must be a JSON number",
        ),
    ];
    for (raw, code, message) in cases {
        let tx = tx_id();
        let mut b = preauth_body(&tx, &agr, 1.0);
        b["requestedAmount"] = json!("@@");
        let body = b.to_string().replace("\"@@\"", raw);
        let (s, e) = post_raw(&app, "/api/Preauth", body).await;
        assert_error(s, &e, 422, code, message);
        plain(&e);
        untouched(&app, "Preauth", &tx).await;
    }
    let mut b = preauth_body(&tx_id(), &agr, 1.0);
    b["isInitial"] = json!("yes");
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "isInitial: must be true or false, not a string",
    );
    plain(&e);
    let mut b = preauth_body(&tx_id(), &agr, 1.0);
    b["paymentMeansReference"] = json!("CreditCard");
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "paymentMeansReference: must be an object",
    );
    plain(&e);
    let (s, e) = post_raw(&app, "/api/Preauth", "{\"a\":".into()).await;
    assert_error(s, &e, 400, "InvalidData", "body: is not valid JSON");
}

/// Why 6: every status the service emits carries the error object, the 414 of a huge path too.
#[tokio::test]
async fn every_status_carries_the_error_object() {
    let app = TestApp::spawn().await;
    for len in [10_000, 70_000] {
        let request = format!(
            "GET /api/Preauth/{} HTTP/1.1\r\nhost: x\r\nauthorization: Bearer {}\r\nconnection: close\r\n\r\n",
            "a".repeat(len),
            app.token
        );
        let (s, e) = raw_http(&app, request).await;
        assert_error(
            s,
            &e,
            414,
            "InvalidData",
            "path: the request URI is too long",
        );
    }
    let (s, e) = raw_http(
        &app,
        "GET /api/Settings HTTP/1.1\r\nbad header\r\n\r\n".into(),
    )
    .await;
    assert_error(s, &e, 400, "InvalidData", "request: ");
    let (s, e) = app
        .send(
            reqwest::Method::PATCH,
            "/api/Payment",
            Some(&app.token),
            None,
        )
        .await;
    assert_error(s, &e, 405, "InvalidData", "method: ");
    let (s, e) = app
        .send(reqwest::Method::PUT, "/checkout/abc", None, None)
        .await;
    assert_error(s, &e, 405, "InvalidData", "method: ");
    let res = app
        .client
        .post(format!("{}/api/Preauth", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "text/plain")
        .body("{}")
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let e: Value = res.json().await.expect("error object");
    assert_error(status, &e, 415, "InvalidData", "Content-Type: ");
    let (s, e) = post_raw(
        &app,
        "/api/Preauth",
        format!("{{\"a\":\"{}\"}}", "x".repeat(300_000)),
    )
    .await;
    assert_error(s, &e, 413, "InvalidData", "body: is too large");
    // A path that is not UTF-8 is refused by the router's extractor; still the error object.
    let (s, e) = app.get("/api/Payment/%FF%FE").await;
    assert!(s.is_client_error(), "{s}");
    assert_error(s, &e, s.as_u16(), "InvalidData", ": ");
    // Notifications answer the PSP with the error object as well.
    let res = app
        .client
        .post(format!("{}/psp/oppwa/unknown/notifications", app.base))
        .body("00")
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let e: Value = res.json().await.expect("error object");
    assert!(status.is_client_error(), "{status}");
    assert_wire_time(&e["receivedAt"]);
}

/// Why 7: a 5xx never carries internal detail, only a generic sentence and a correlation id.
#[tokio::test]
async fn server_errors_carry_only_a_correlation_id() {
    let app = TestApp::spawn_with(|cfg| {
        // Nothing listens on the discard port: the Live PSP cannot be reached.
        cfg.psp
            .of_mut::<psp_integrator::psp::oppwa::OppwaPspSection>()
            .expect("[psp.oppwa]")
            .live_base_url = "http://127.0.0.1:9".into();
    })
    .await;
    let mut settings = sandbox_settings();
    settings["merchantSettings"][4]["keyValue"] = json!("Live");
    let res = app
        .client
        .put(format!("{}/api/Settings", app.base))
        .bearer_auth(&app.token)
        .json(&settings)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    let header = res
        .headers()
        .get("x-correlation-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .expect("x-correlation-id header");
    let e: Value = res.json().await.expect("error object");
    assert!(status.is_server_error(), "{status}: {e}");
    let m = e["errorMessage"].as_str().unwrap_or_default();
    assert!(m.ends_with(&format!("correlation id {header}")), "{m}");
    for leak in ["error sending request", "127.0.0.1", "connect", "tcp"] {
        assert!(!m.contains(leak), "'{m}' leaks '{leak}'");
    }
    assert_eq!(e["errorCode"], "PSPConnectionProblem");
    assert_wire_time(&e["receivedAt"]);
}

/// Why 8: two Authorization headers are ambiguous credentials, even if one is valid.
#[tokio::test]
async fn two_authorization_headers_are_refused() {
    let app = TestApp::spawn().await;
    for other in [format!("Bearer {}", app.token), "Bearer wrong".to_string()] {
        let res = app
            .client
            .get(format!("{}/api/Settings", app.base))
            .header("authorization", format!("Bearer {}", app.token))
            .header("authorization", other)
            .send()
            .await
            .expect("sent");
        let status = res.status();
        let e: Value = res.json().await.expect("error object");
        assert_error(status, &e, 401, "InvalidConfiguration", "Authorization: ");
    }
    let (s, _) = app.get("/api/Settings").await;
    assert_eq!(s, StatusCode::OK, "one header is fine");
}

/// A path id is echoed only when it is well-formed; anything else gets a fixed message.
#[tokio::test]
async fn unknown_path_ids_are_not_echoed() {
    let app = TestApp::spawn().await;
    let (s, e) = app.get("/api/Payment/%3Cscript%3E%00").await;
    assert_error(
        s,
        &e,
        404,
        "InvalidData",
        "id: not found; a transaction id has the form",
    );
    let id = tx_id();
    let (s, e) = app.get(&format!("/api/Refund/{id}")).await;
    assert_error(
        s,
        &e,
        404,
        "InvalidData",
        &format!("id: refund {id} not found"),
    );
}
