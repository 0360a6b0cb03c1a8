//! Bearer-token auth and merchant isolation.

use reqwest::{Method, StatusCode};

use crate::harness::*;

#[tokio::test]
async fn missing_or_wrong_token_is_401_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let pre = tx_id();
    let body = preauth_body(&pre, &agreement_id(), 10.0);
    for token in [None, Some("pspi_wrong"), Some("")] {
        let (s, e) = app
            .send(Method::POST, "/api/Preauth", token, Some(&body))
            .await;
        assert_error(s, &e, 401, "InvalidConfiguration", "token");
    }
    let res = app
        .client
        .get(format!("{}/api/IntegrationInfo", app.base))
        .basic_auth("a", Some("b"))
        .send()
        .await
        .expect("send");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        res.headers()
            .get("www-authenticate")
            .and_then(|v| v.to_str().ok()),
        Some("Bearer")
    );
    assert_eq!(app.psp_calls(&pre), 0);
    let (s, _) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn rotated_token_replaces_the_old_one() {
    let app = TestApp::spawn().await;
    let (_, new_token) = psp_integrator::admin::rotate_token(app.store.as_ref(), &app.merchant_id)
        .await
        .expect("rotate");
    let (s, _) = app
        .send(Method::GET, "/api/IntegrationInfo", Some(&app.token), None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .send(Method::GET, "/api/IntegrationInfo", Some(&new_token), None)
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn merchants_never_see_each_others_transactions() {
    let app = TestApp::spawn().await;
    let other = app.second_merchant("globex").await;
    let agr = agreement_id();
    let pre = tx_id();
    app.card_preauth(&pre, &agr, 40.0, "4200000000000000").await;
    let pay = tx_id();
    let (s, _) = app
        .post("/api/Payment", capture_body(&pay, &pre, &agr, 40.0))
        .await;
    assert_eq!(s, StatusCode::OK);

    for path in [format!("/api/Preauth/{pre}"), format!("/api/Payment/{pay}")] {
        let (s, e) = app.send(Method::GET, &path, Some(&other), None).await;
        assert_error(s, &e, 404, "InvalidData", "not found");
    }
    let (s, e) = app
        .send(
            Method::POST,
            &format!("/api/Preauth/{pre}/Cancel"),
            Some(&other),
            Some(&serde_json::json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, e) = app
        .send(
            Method::POST,
            "/api/Refund",
            Some(&other),
            Some(&refund_body(&tx_id(), &pay, 1.0)),
        )
        .await;
    assert_error(s, &e, 422, "InvalidData", "unknown payment");
    let (s, e) = app
        .send(
            Method::POST,
            "/api/Payment",
            Some(&other),
            Some(&recurring_body(&tx_id(), &agr, 1.0)),
        )
        .await;
    assert_error(s, &e, 422, "InvalidData", "unknown agreement");
    // The same Billwerk id is independent per merchant.
    let (s, p) = app
        .send(
            Method::POST,
            "/api/Preauth",
            Some(&other),
            Some(&preauth_body(&pre, &agreement_id(), 5.0)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Initiated");
}
