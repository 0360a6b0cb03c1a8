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
async fn rotated_token_replaces_the_old_one_after_its_grace_period() {
    use psp_integrator::domain::{Clock, ManualClock, SystemClock};
    let app = TestApp::spawn().await;
    let info = |token: String| {
        let app = &app;
        async move {
            app.send(Method::GET, "/api/IntegrationInfo", Some(&token), None)
                .await
                .0
        }
    };
    // With a grace period both tokens work: Billwerk is not cut off while it is switched over.
    let (m, second) = psp_integrator::flows::operators::merchants::rotate_token(
        app.store.as_ref(),
        &SystemClock,
        &app.merchant_id,
        3600,
    )
    .await
    .expect("rotate");
    assert!(m.previous_token_until.is_some());
    assert_eq!(
        info(app.token.clone()).await,
        StatusCode::OK,
        "old token, in its grace"
    );
    assert_eq!(info(second.clone()).await, StatusCode::OK, "new token");
    let listed = app.store.list_merchants().await.expect("list");
    let me = listed
        .iter()
        .find(|r| r.id == app.merchant_id)
        .expect("listed");
    assert_eq!(me.previous_token_until, m.previous_token_until);

    // A rotation whose grace period is over (rotated two hours ago with one hour of grace):
    // only the newest token works; the one before it was dropped by this rotation.
    let two_hours_ago = ManualClock::new(SystemClock.now().plus_seconds(-7200));
    let (_, third) = psp_integrator::flows::operators::merchants::rotate_token(
        app.store.as_ref(),
        &two_hours_ago,
        &app.merchant_id,
        3600,
    )
    .await
    .expect("rotate again");
    assert_eq!(info(second).await, StatusCode::UNAUTHORIZED, "grace over");
    assert_eq!(
        info(app.token.clone()).await,
        StatusCode::UNAUTHORIZED,
        "two rotations ago"
    );
    assert_eq!(info(third.clone()).await, StatusCode::OK);

    // Grace 0: the old token stops at once.
    let (m, fourth) = psp_integrator::flows::operators::merchants::rotate_token(
        app.store.as_ref(),
        &SystemClock,
        &app.merchant_id,
        0,
    )
    .await
    .expect("rotate without grace");
    assert_eq!(m.previous_token_until, None);
    assert_eq!(info(third).await, StatusCode::UNAUTHORIZED);
    assert_eq!(info(fourth).await, StatusCode::OK);
}

#[tokio::test]
async fn a_disabled_merchant_gets_401_but_its_psp_notifications_are_applied() {
    use psp_integrator::domain::SystemClock;
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let (debit, psp_id) = pending_sepa_debit(&app, &agr, 20.0).await;

    let m = psp_integrator::flows::operators::merchants::set_disabled(
        app.store.as_ref(),
        &SystemClock,
        &app.merchant_id,
        true,
    )
    .await
    .expect("disable");
    assert!(m.disabled_at.is_some());
    let (s, e) = app.get(&format!("/api/Payment/{debit}")).await;
    assert_error(s, &e, 401, "InvalidConfiguration", "is disabled");
    let (s, e) = app
        .post("/api/Payment", recurring_body(&tx_id(), &agr, 5.0))
        .await;
    assert_error(s, &e, 401, "InvalidConfiguration", "is disabled");
    // Another merchant is not affected.
    let other = app.second_merchant("still-enabled").await;
    let (s, _) = app
        .send(Method::GET, "/api/IntegrationInfo", Some(&other), None)
        .await;
    assert_eq!(s, StatusCode::OK);

    // What the PSP says meanwhile is stored and applied, and Billwerk will hear of it.
    app.psp_settles_debit_and_tells(&psp_id).await;
    assert_eq!(app.record(&debit).await.status.to_string(), "Succeeded");

    psp_integrator::flows::operators::merchants::set_disabled(
        app.store.as_ref(),
        &SystemClock,
        &app.merchant_id,
        false,
    )
    .await
    .expect("enable");
    let (s, p) = app.get(&format!("/api/Payment/{debit}")).await;
    assert_eq!(
        (s, p["status"].as_str()),
        (StatusCode::OK, Some("Succeeded")),
        "{p}"
    );
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
