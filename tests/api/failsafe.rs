//! Failure-safe money (issue #16), the parts that are not crash windows
//! (`crash_points.rs` has those): the transition authority knows what was captured, and a
//! transaction is never left without a final state or a reconciler deadline.

use psp_integrator::domain::{Clock, SystemClock};
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

const VISA: &str = "4200000000000000";

/// Preauth 80 paid, captured 80; then an authentic reversal (`RV`) of the authorization
/// arrives from the PSP. The API refuses to cancel a captured preauth, and so does the
/// notification path: the preauth stays `Succeeded` with 80 authorized, the reversal is
/// recorded as a contradiction, and Billwerk's Cancel still answers `NotCancelled`.
#[tokio::test]
async fn a_stale_reversal_never_cancels_a_captured_preauth() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    let p = app.card_preauth(&pre, &agr, 80.0, VISA).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 80.0))
        .await;
    assert_eq!(
        (s, c["status"].as_str()),
        (StatusCode::OK, Some("Succeeded")),
        "{c}"
    );

    let pa = app.record(&pre).await.psp_tx_id.expect("authorization id");
    let mut rv = app.psp_json(&pa);
    rv["id"] = json!(uuid::Uuid::new_v4().simple().to_string());
    rv["paymentType"] = json!("RV");
    rv["referencedId"] = json!(pa);
    rv["merchantTransactionId"] = json!(format!("{pre}-cancel"));
    rv["result"] = json!({"code": "000.000.000", "description": "Transaction succeeded"});
    assert_eq!(
        app.notify(&rv).await,
        StatusCode::OK,
        "acknowledged, not lost"
    );

    let (s, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "Succeeded", "{v}");
    assert_eq!(v["authorizedAmount"], json!(80), "{v}");
    let notes = app.history_notes(&pre).await;
    assert!(
        notes.iter().any(|n| n.contains("contradiction")),
        "recorded for an operator: {notes:?}"
    );
    assert!(app.hooks_for(&pre).await.is_empty(), "no change to report");
    let (s, r) = app
        .send(
            reqwest::Method::POST,
            &format!("/api/Preauth/{pre}/Cancel"),
            Some(&app.token),
            Some(&json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["cancellationStatus"], "NotCancelled", "{r}");
}

/// The same reversal on a preauth that was not captured is applied: the authority refuses
/// only what the money forbids.
#[tokio::test]
async fn a_reversal_of_an_uncaptured_preauth_cancels_it() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let (pre, agr) = (tx_id(), agreement_id());
    let hooked = targeted(preauth_body(&pre, &agr, 80.0), &app.hook_target());
    let (s, b) = app.post("/api/Preauth", hooked).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let redirect = b["redirectUrl"].as_str().expect("redirectUrl").to_string();
    app.pay_on_checkout(&redirect, VISA).await;
    let pa = app.record(&pre).await.psp_tx_id.expect("authorization id");
    let mut rv = app.psp_json(&pa);
    rv["id"] = json!(uuid::Uuid::new_v4().simple().to_string());
    rv["paymentType"] = json!("RV");
    rv["referencedId"] = json!(pa);
    rv["merchantTransactionId"] = json!(format!("{pre}-cancel"));
    rv["result"] = json!({"code": "000.000.000", "description": "Transaction succeeded"});
    assert_eq!(app.notify(&rv).await, StatusCode::OK);
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(v["status"], "Cancelled", "{v}");
    assert_eq!(app.hooks_for(&pre).await, vec![1]);
}

/// Every way a transaction is created and moved in the ordinary flows leaves none without a
/// final state and without a deadline: the reconciler's gauge stays 0 (the model test checks
/// the same after every generated step).
#[tokio::test]
async fn no_transaction_is_left_without_a_deadline() {
    let app = TestApp::spawn().await;
    let unscheduled = || async {
        app.store
            .gauges(SystemClock.now())
            .await
            .expect("gauges")
            .reconciler_unscheduled
    };
    let (pre, agr) = (tx_id(), agreement_id());
    // An open checkout: its lifetime is its deadline.
    let (s, b) = app
        .post("/api/Preauth", preauth_body(&pre, &agr, 30.0))
        .await;
    assert_eq!(
        (s, b["status"].as_str()),
        (StatusCode::OK, Some("Initiated"))
    );
    assert_eq!(unscheduled().await, 0);
    app.pay_on_checkout(b["redirectUrl"].as_str().expect("url"), VISA)
        .await;
    // A refund, a pending SEPA debit, a lost answer. The refund first: its payment must be
    // settled (Mollie's later), and settling must not touch what stays pending below.
    let pay = tx_id();
    let (s, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 9.0))
        .await;
    assert_eq!(s, StatusCode::OK);
    app.settled("Payment", &pay, p).await;
    let (s, _) = app
        .post("/api/Refund", refund_body(&tx_id(), &pay, 4.0))
        .await;
    assert_eq!(s, StatusCode::OK);
    let sepa = sepa_agreement(&app).await;
    pending_sepa_debit(&app, &sepa, 12.0).await;
    app.psp_fault(PspFault::DropAfterCommit);
    let lost = tx_id();
    let (s, l) = app
        .post("/api/Payment", recurring_body(&lost, &agr, 5.0))
        .await;
    assert_eq!(
        (s, l["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{l}"
    );
    app.psp_fault(PspFault::None);
    assert_eq!(unscheduled().await, 0);
    let rec = app.record(&lost).await;
    assert!(
        rec.needs_reconcile && rec.next_reconcile_at.is_some(),
        "{rec:?}"
    );
}
