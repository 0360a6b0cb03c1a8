//! Input rules at the HTTP surface: ambiguous input (one field in two spellings or two shapes,
//! a header twice) is refused with 422 naming both, on every endpoint; SEPA debits are
//! euro-only; the largest amount the PSP family takes (OPPWA: 12 digits before the point) is
//! accepted; roles and lengths follow the PSP family. Nothing is written
//! and the PSP is not called for a refusal.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// Sends exactly `body` (so a property can appear twice) with the merchant's token.
async fn send_raw(
    app: &TestApp,
    method: reqwest::Method,
    path: &str,
    body: String,
) -> (StatusCode, Value) {
    let res = app
        .client
        .request(method, format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

/// `body` with `extra` (`"name": value`) added as the last property of the top-level object.
fn with_extra(body: &Value, extra: &str) -> String {
    let text = body.to_string();
    format!("{}, {extra}}}", text.trim_end_matches('}'))
}

async fn shop_name(app: &TestApp) -> String {
    let (s, g) = app.get("/api/Settings").await;
    assert_eq!(s, StatusCode::OK, "{g}");
    g["merchantSettings"]
        .as_array()
        .expect("list")
        .iter()
        .find(|v| v["keyName"] == "ShopName")
        .and_then(|v| v["keyValue"].as_str())
        .unwrap_or_default()
        .to_string()
}

fn settings_with_shop(name: &str) -> Value {
    let mut b = sandbox_settings();
    b["merchantSettings"]
        .as_array_mut()
        .expect("list")
        .push(json!({"keyName": "ShopName", "keyValue": name}));
    b
}

/// Issue #16 input 6: both settings shapes at once, with different shop names.
#[tokio::test]
async fn settings_in_both_shapes_are_refused_naming_both() {
    let app = TestApp::spawn().await;
    let (s, r) = app
        .put_settings(&app.token, settings_with_shop("First"))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let flat = settings_with_shop("Flat Shop");
    let wrapped = settings_with_shop("Wrapped Shop");
    for (a, b) in [
        ("merchantSettings", "merchantPspSettings"),
        ("MERCHANTSETTINGS", "MerchantPspSettings"),
    ] {
        let mut body = json!({});
        body[a] = flat["merchantSettings"].clone();
        body[b] = wrapped.clone();
        let (s, e) = app.put_settings(&app.token, body).await;
        assert_error(
            s,
            &e,
            422,
            "InvalidData",
            &format!("{a} and {b}: are both sent"),
        );
    }
    assert_eq!(shop_name(&app).await, "First", "nothing stored");
    // Each shape alone is still read.
    let (s, r) = app
        .put_settings(
            &app.token,
            json!({"merchantPspSettings": settings_with_shop("Wrapped Shop")}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(shop_name(&app).await, "Wrapped Shop");
}

/// One property in two letter cases, on every endpoint with a body: 422 naming both spellings.
#[tokio::test]
async fn a_property_in_two_spellings_is_refused_on_every_endpoint() {
    use reqwest::Method;
    let app = TestApp::spawn().await;
    let (agr, pre) = (agreement_id(), tx_id());
    let preauth = preauth_body(&pre, &agr, 10.0);
    let cases = [
        (
            Method::POST,
            "/api/Preauth".to_string(),
            preauth.clone(),
            r#""TransactionId": "x""#,
            "transactionId and TransactionId",
        ),
        (
            Method::POST,
            "/api/Payment".to_string(),
            recurring_body(&tx_id(), &agr, 5.0),
            r#""CURRENCY": "USD""#,
            "currency and CURRENCY",
        ),
        (
            Method::POST,
            "/api/Refund".to_string(),
            refund_body(&tx_id(), &tx_id(), 5.0),
            r#""requestedamount": 5000"#,
            "requestedAmount and requestedamount",
        ),
        (
            Method::POST,
            "/api/Preauth/Finalize".to_string(),
            json!({"transactionId": pre}),
            r#""transactionID": "y""#,
            "transactionId and transactionID",
        ),
        (
            Method::POST,
            format!("/api/Preauth/{pre}/Cancel"),
            json!({"pspSettingsId": "a"}),
            r#""PspSettingsId": "b""#,
            "pspSettingsId and PspSettingsId",
        ),
        (
            Method::PUT,
            "/api/Settings".to_string(),
            settings_with_shop("A"),
            r#""MerchantSettings": []"#,
            "merchantSettings and MerchantSettings",
        ),
    ];
    for (method, path, body, extra, named) in cases {
        let (s, e) = send_raw(&app, method, &path, with_extra(&body, extra)).await;
        assert_error(
            s,
            &e,
            422,
            "InvalidData",
            &format!("{named}: are the same property"),
        );
    }
    // Nested: the SEPA bearer's IBAN twice.
    let mut b = sepa_preauth_body(&tx_id(), &agr);
    b["paymentMeansReference"]["initialBearer"]["iban"] = json!("GB33BUKB20201555555555");
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "paymentMeansReference.initialBearer.IBAN and paymentMeansReference.initialBearer.iban:",
    );
    assert_eq!(app.psp_calls(&pre), 0);
    let (s, _) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored");
}

/// Two `Content-Type` headers: which one describes the body is ambiguous.
#[tokio::test]
async fn two_content_types_are_refused() {
    let app = TestApp::spawn().await;
    let pre = tx_id();
    let res = app
        .client
        .post(format!("{}/api/Preauth", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .header("content-type", "text/plain")
        .body(preauth_body(&pre, &agreement_id(), 10.0).to_string())
        .send()
        .await
        .expect("sent");
    let s = res.status();
    let e: Value = res.json().await.expect("error object");
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "Content-Type: is sent more than once",
    );
    assert_eq!(app.psp_calls(&pre), 0);
}

/// A notification whose IV or tag header comes twice is not accepted, even if one copy is
/// right; the same notification with each header once is.
#[tokio::test]
async fn a_notification_header_twice_is_refused() {
    use psp_integrator::sim::oppwa as sim;
    let app = TestApp::spawn().await;
    if app.lacks(Capability::HandMadeNotifications) {
        return;
    }
    let payload = json!({"id": "8ac7a4a09136ba2801913706f2a221bf", "paymentType": "DB",
        "result": {"code": "000.100.110", "description": "ok"}});
    let plain = json!({"type": "PAYMENT", "payload": payload}).to_string();
    let enc = sim::encrypt_notification(sim::SANDBOX_WEBHOOK_SECRET, plain.as_bytes(), None)
        .expect("encrypt");
    let send = |twice: Option<&'static str>| {
        let mut req = app
            .client
            .post(app.notification_url())
            .header("content-type", "text/plain")
            .header("X-Initialization-Vector", enc.iv_hex.clone())
            .header("X-Authentication-Tag", enc.tag_hex.clone());
        if let Some(h) = twice {
            req = req.header(h, "00");
        }
        req.body(enc.body_hex.clone()).send()
    };
    for h in ["X-Initialization-Vector", "X-Authentication-Tag"] {
        let res = send(Some(h)).await.expect("sent");
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{h} twice");
    }
    let res = send(None).await.expect("sent");
    assert_eq!(res.status(), StatusCode::OK, "once each");
}

/// Issue #21 input 4: SEPA Direct Debit is euro-only, for the mandate, a debit with role Debit,
/// and a debit on a SEPA agreement that leaves the role out.
#[tokio::test]
async fn sepa_debits_in_other_currencies_are_refused() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    for code in ["USD", "CHF"] {
        let pre = tx_id();
        let mut b = sepa_preauth_body(&pre, &agreement_id());
        b["currency"] = json!(code);
        let (s, e) = app.post("/api/Preauth", b).await;
        assert_error(s, &e, 422, "InvalidCurrency", "euro-only");
        assert_eq!(app.psp_calls(&pre), 0);
        let (s, _) = app.get(&format!("/api/Preauth/{pre}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored");
        for role in [Some("Debit"), None] {
            let debit = tx_id();
            let mut b = recurring_body(&debit, &agr, 25.0);
            b["currency"] = json!(code);
            b["paymentMeansReference"] = match role {
                Some(r) => json!({"role": r}),
                None => Value::Null,
            };
            let (s, e) = app.post("/api/Payment", b).await;
            assert_error(s, &e, 422, "InvalidCurrency", "euro-only");
            assert_eq!(app.psp_calls(&debit), 0, "{code} {role:?}");
            let (s, _) = app.get(&format!("/api/Payment/{debit}")).await;
            assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored");
        }
    }
    let (debit, _) = pending_sepa_debit(&app, &agr, 25.0).await;
    assert_eq!(app.psp_calls(&debit), 1, "EUR is debited");
}

/// Issue #21 input 5: `999999999999.99` EUR (12 digits before the point) is accepted and kept
/// exactly; one more digit before the point is refused (OPPWA's limit). Mollie's amounts stop
/// far lower (at 99 999 999, src/psp/mollie/amount.rs): there both are refused by that limit,
/// before any PSP call and with nothing stored.
#[tokio::test]
async fn the_largest_amount_is_accepted() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let largest: Value = serde_json::from_str("999999999999.99").expect("number");
    let debit = tx_id();
    let mut b = recurring_body(&debit, &agr, 1.0);
    b["paymentMeansReference"] = json!({"role": "Debit"});
    b["requestedAmount"] = largest.clone();
    let (s, d) = app.post("/api/Payment", b).await;
    if app.family == Family::Mollie {
        assert_error(s, &d, 422, "InvalidAmount", "more than Mollie accepts");
        assert_eq!(app.psp_calls(&debit), 0);
        let (s, _) = app.get(&format!("/api/Payment/{debit}")).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored");
    } else {
        assert_eq!(
            (s, d["status"].as_str()),
            (StatusCode::OK, Some("Pending")),
            "{d}"
        );
        assert_eq!(d["requestedAmount"], largest);
        assert_eq!(app.psp_calls(&debit), 1);
        let (s, g) = app.get(&format!("/api/Payment/{debit}")).await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(g["requestedAmount"], largest);
    }

    let too_large = tx_id();
    let mut b = recurring_body(&too_large, &agr, 1.0);
    b["requestedAmount"] = serde_json::from_str("1000000000000.00").expect("number");
    let (s, e) = app.post("/api/Payment", b).await;
    // The limit is the family's: OPPWA's 12 digits, Mollie's lower maximum.
    let limit = match app.family {
        Family::Oppwa => "12 digits before the decimal point",
        Family::Mollie => "more than Mollie accepts",
    };
    assert_error(s, &e, 422, "InvalidAmount", limit);
    assert_eq!(app.psp_calls(&too_large), 0);
}

/// The payment roles and text lengths come from the merchant's PSP family (OPPWA here: roles
/// `CreditCard` and `Debit`, `firstName` 48): another role, or a longer name, is 422 naming the
/// field and the limit; nothing is stored and the PSP is not called.
#[tokio::test]
async fn roles_and_lengths_come_from_the_merchants_psp_family() {
    let app = TestApp::spawn().await;
    let pre = tx_id();
    let mut b = preauth_body(&pre, &agreement_id(), 10.0);
    b["paymentMeansReference"]["role"] = json!("iDEAL");
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "paymentMeansReference.role: iDEAL is not supported (supported: CreditCard, Debit)",
    );
    // Mollie's documented limits are wider (tests/api/input_rules.rs checks OPPWA's).
    if app.family != Family::Oppwa {
        return;
    }
    let mut b = preauth_body(&pre, &agreement_id(), 10.0);
    b["payerData"] = json!({"firstName": "f".repeat(49)});
    let (s, e) = app.post("/api/Preauth", b).await;
    assert_error(
        s,
        &e,
        422,
        "InvalidData",
        "payerData.firstName: is 49 characters long; at most 48 are allowed",
    );
    assert_eq!(app.psp_calls(&pre), 0);
    let (s, _) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored");
}
