//! Repeated POSTs return the stored state without a second PSP call; conflicting reuse of a
//! transactionId is rejected; concurrent duplicates reach the PSP once.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn replay_returns_the_current_state_without_calling_the_psp() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;
    let pay = tx_id();
    let body = recurring_body(&pay, &agr, 15.0);
    let (s1, first) = app.post("/api/Payment", body.clone()).await;
    let (s2, second) = app.post("/api/Payment", body.clone()).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(first, second, "same state, same version");
    assert_eq!(app.psp_calls(&pay), 1);

    let mut other = body.clone();
    other["requestedAmount"] = json!(16);
    let (s, e) = app.post("/api/Payment", other).await;
    assert_error(s, &e, 422, "InvalidData", "transactionId");
    let mut other = body.clone();
    other["currency"] = json!("USD");
    let (s, e) = app.post("/api/Payment", other).await;
    assert_error(s, &e, 422, "InvalidData", "different");
    let mut other = body;
    other["agreementId"] = json!(agreement_id());
    let (s, e) = app.post("/api/Payment", other).await;
    assert_error(s, &e, 422, "InvalidData", "different");
    let (s, e) = app.post("/api/Refund", refund_body(&pay, &pay, 1.0)).await;
    assert_error(s, &e, 422, "InvalidData", "already used for a payment");
    assert_eq!(app.psp_calls(&pay), 1);
}

#[tokio::test]
async fn concurrent_duplicates_reach_the_psp_once() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;
    let pay = tx_id();
    let body = recurring_body(&pay, &agr, 33.0);
    let calls = (0..6).map(|_| app.post("/api/Payment", body.clone()));
    let results = futures::future::join_all(calls).await;
    for (s, b) in &results {
        assert_eq!(*s, StatusCode::OK, "{b}");
        // Mollie's recurring card payments start pending.
        assert!(
            matches!(b["status"].as_str(), Some("Succeeded" | "Pending")),
            "{b}"
        );
        assert_eq!(b["status"], results[0].1["status"]);
        assert_eq!(
            b["externalTransactionId"],
            results[0].1["externalTransactionId"]
        );
    }
    assert_eq!(app.psp_calls(&pay), 1, "exactly one charge at the PSP");

    let pre = tx_id();
    let pbody = preauth_body(&pre, &agreement_id(), 5.0);
    let results =
        futures::future::join_all((0..4).map(|_| app.post("/api/Preauth", pbody.clone()))).await;
    for (s, b) in &results {
        assert_eq!(*s, StatusCode::OK, "{b}");
        assert_eq!(b["redirectUrl"], results[0].1["redirectUrl"]);
    }
}
