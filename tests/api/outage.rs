//! Database outage drill: the service reaches Postgres through a TCP proxy the test controls.
//! While the proxy is cut, readiness answers 503, API calls answer the error object (503, no
//! internals) and PSP notifications are not acknowledged (so the PSP retries); once it is
//! restored the same process serves again, and everything acknowledged before the cut is there.
//!
//! Postgres only (`PSPI_TEST_BACKEND=postgres`, as `.ci/run` runs the suite): SQLite is a file
//! opened inside the process, so there is no connection to lose; its failure modes (disk full,
//! file removed) are a different drill, and the mapping of "database unavailable" to 503 is
//! shared code, exercised here.

use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;
use crate::proxy::Proxy;

async fn ready(app: &TestApp) -> (StatusCode, Value) {
    app.send(reqwest::Method::GET, "/health/ready", None, None)
        .await
}

/// A 503 error object that names no internals (no driver, host, port or SQL).
fn assert_unavailable(status: StatusCode, body: &Value, what: &str) {
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{what}: {body}");
    assert_eq!(body["errorCode"], "InternalError", "{what}: {body}");
    let text = body.to_string().to_lowercase();
    for secret in [
        "sqlx",
        "postgres",
        "127.0.0.1",
        "connection",
        "pool",
        "select",
    ] {
        assert!(!text.contains(secret), "{what} leaks '{secret}': {body}");
    }
}

#[tokio::test]
async fn the_service_rides_out_a_database_outage() {
    if std::env::var("PSPI_TEST_BACKEND").as_deref() != Ok("postgres") {
        eprintln!("skipped: the outage drill needs PSPI_TEST_BACKEND=postgres (see module doc)");
        return;
    }
    let scratch = scratch_db().await;
    let mut url = url::Url::parse(&scratch.url).expect("scratch url");
    let upstream = format!(
        "{}:{}",
        url.host_str().expect("host"),
        url.port().unwrap_or(5432)
    );
    let proxy = Proxy::start(upstream).await;
    url.set_port(Some(proxy.port)).expect("port");
    let via_proxy = url.to_string();
    let app = TestApp::spawn_on(scratch, |cfg| cfg.database.url = via_proxy).await;
    let (s, b) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(ready(&app).await.0, StatusCode::OK);

    // Acknowledged before the outage: a card agreement and three recurring payments (Mollie's
    // settle a moment later).
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 10.0, "4200000000000000")
        .await;
    let mut acked = Vec::new();
    for _ in 0..3 {
        let id = tx_id();
        let (s, p) = app
            .post(
                "/api/Payment",
                targeted(recurring_body(&id, &agr, 12.5), &app.hook_target()),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{p}");
        let p = app.settled("Payment", &id, p).await;
        assert_eq!(p["status"], "Succeeded", "{p}");
        acked.push(id);
    }
    let mut psp_ids = Vec::new();
    for id in &acked {
        psp_ids.push(app.record(id).await.psp_tx_id.expect("psp id"));
    }
    // What Billwerk heard so far (of Mollie's payments settling) is out of the way.
    app.drain_outbox(60).await;
    app.standin.clear();
    // A chargeback acknowledged before the cut: its webhook waits in the outbox.
    let (_, first_cb) = app.psp_sepa_chargeback(&psp_ids[0], "1.00", None);
    assert_eq!(app.deliver(&first_cb).await, StatusCode::OK);
    // One the PSP reports during the cut.
    let (_, second_cb) = app.psp_sepa_chargeback(&psp_ids[1], "2.00", None);

    proxy.cut().await;

    let (s, r) = ready(&app).await;
    assert_unavailable(s, &r, "readiness");
    assert_eq!(r["database"], "unreachable", "{r}");
    let (s, b) = app.get(&format!("/api/Payment/{}", acked[0])).await;
    assert_unavailable(s, &b, "GET during the outage");
    let lost = tx_id();
    let (s, b) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&lost, &agr, 7.0), &app.hook_target()),
        )
        .await;
    assert_unavailable(s, &b, "POST during the outage");
    assert_eq!(
        app.psp_calls(&lost),
        0,
        "no money moves for a payment that could not be recorded"
    );
    // A PSP notification is not acknowledged, so the PSP delivers it again later.
    let status = app.deliver(&second_cb).await;
    assert!(
        status.is_server_error(),
        "notification during the outage: {status}"
    );
    // The webhook worker's round fails without harm (and without sending anything).
    app.drain_outbox(60).await;
    assert!(app.webhooks().is_empty(), "nothing delivered while cut");

    proxy.restore();

    // The same process recovers: readiness, then every call, without a restart.
    let (s, r) = ready(&app).await;
    assert_eq!(s, StatusCode::OK, "ready again: {r}");
    for id in &acked {
        let (s, p) = app.get(&format!("/api/Payment/{id}")).await;
        assert_eq!(
            (s, p["status"].as_str()),
            (StatusCode::OK, Some("Succeeded")),
            "acknowledged payment {id} kept: {p}"
        );
    }
    assert_eq!(app.deliver(&second_cb).await, StatusCode::OK);
    // Billwerk's retry of the refused payment now goes through, once.
    let (s, p) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&lost, &agr, 7.0), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let p = app.settled("Payment", &lost, p).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(app.psp_calls(&lost), 1);
    // The webhook held in the outbox through the outage goes out, and the retried
    // notification's one too.
    for id in &acked[..2] {
        assert!(
            !app.hooks_for(id).await.is_empty(),
            "Billwerk hears of the chargeback on {id} after the outage"
        );
    }
    let (_, p) = app.get(&format!("/api/Payment/{}", acked[1])).await;
    assert_eq!(p["chargebacks"].as_array().map(Vec::len), Some(1), "{p}");
    app.stop().await;
}
