//! PSP answers mapped to the contract: declines to error codes and statuses, an unknown outcome
//! (timeout, dropped connection) to Pending without a second charge.

use psp_integrator::sim::oppwa::Fault;
use reqwest::StatusCode;

use crate::harness::*;

async fn recurring_ready(app: &TestApp) -> String {
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;
    agr
}

#[tokio::test]
async fn declines_map_to_error_codes_and_get_repeats_them() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::ForcedResultCodes) {
        return;
    }
    let agr = recurring_ready(&app).await;
    let cases = [
        ("800.100.203", 422, "InsufficientBalance", "Failed"),
        ("800.100.155", 422, "InsufficientBalance", "Failed"),
        ("800.100.151", 422, "BearerInvalid", "Failed"),
        ("800.100.157", 422, "BearerExpired", "Failed"),
        ("100.100.303", 422, "BearerExpired", "Failed"),
        ("800.100.152", 422, "Rejected", "Failed"),
        ("100.396.101", 422, "Canceled", "Cancelled"),
        ("600.200.100", 500, "InvalidConfiguration", "Failed"),
        ("999.999.999", 500, "InternalProviderError", "Failed"),
        ("800.900.300", 401, "LoginError", "Failed"),
    ];
    for (code, http, error_code, status) in cases {
        let pay = tx_id();
        app.sim.sim.force_next_result(code);
        let (s, e) = app
            .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
            .await;
        assert_error(s, &e, http, error_code, "");
        assert_eq!(e["pspErrorCode"], code);
        assert_eq!(e["status"], status, "{code}");
        let (s2, e2) = app.get(&format!("/api/Payment/{pay}")).await;
        assert_eq!(s2, s, "GET repeats the error for {code}");
        assert_eq!(e2["errorCode"], error_code);
        let (s3, e3) = app
            .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
            .await;
        assert_eq!(
            (s3, &e3["errorCode"]),
            (s, &e["errorCode"]),
            "replay repeats the error"
        );
        assert_eq!(app.psp_calls(&pay), 1, "{code}: one PSP call");
    }
}

#[tokio::test]
async fn uncertain_timeout_code_stays_pending() {
    let app = TestApp::spawn().await;
    let agr = recurring_ready(&app).await;
    let pay = tx_id();
    app.sim.sim.force_next_result("900.100.300");
    let (s, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Pending");
}

#[tokio::test]
async fn psp_timeout_leaves_the_payment_pending_and_never_charges_twice() {
    let app = TestApp::spawn_with(|c| {
        c.psp
            .of_mut::<psp_integrator::psp::oppwa::OppwaPspSection>()
            .expect("[psp.oppwa]")
            .timeout_secs = 1
    })
    .await;
    let (s, b) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let agr = recurring_ready(&app).await;
    let pay = tx_id();
    app.fault(Fault::Delay { millis: 2500 });
    let (s, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    app.fault(Fault::None);
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Pending");
    let (_, again) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    assert_eq!(again["status"], "Pending");
    assert_eq!(app.psp_calls(&pay), 1, "the PSP saw exactly one charge");
    let rec = app
        .store
        .get_transaction(&app.merchant_id, &pay)
        .await
        .expect("read")
        .expect("row");
    assert!(rec.needs_reconcile, "marked for reconciliation");
}

#[tokio::test]
async fn dropped_connection_and_unavailable_psp_stay_pending() {
    let app = TestApp::spawn().await;
    let agr = recurring_ready(&app).await;
    for fault in [Fault::DropAfterProcessing, Fault::Unavailable] {
        let pay = tx_id();
        app.fault(fault);
        let (s, p) = app
            .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
            .await;
        app.fault(Fault::None);
        assert_eq!(s, StatusCode::OK, "{fault:?}: {p}");
        assert_eq!(p["status"], "Pending", "{fault:?}");
    }
}
