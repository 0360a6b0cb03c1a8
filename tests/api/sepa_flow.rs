//! SEPA direct debit: mandate preauth from an initial bearer, then a debit that stays Pending.

use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

#[tokio::test]
async fn sepa_preauth_then_debit_stays_pending() {
    let app = TestApp::spawn().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let (s, p) = app
        .post("/api/Preauth", sepa_preauth_body(&pre, &agr))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Succeeded");
    assert_eq!(p["authorizedAmount"], json!(0));
    assert_eq!(p["bearer"]["Holder"], "JOHN DOE");
    assert_eq!(p["bearer"]["IBAN"], "DE89**************3000");
    let mandate = p["bearer"]["MandateId"].as_str().expect("mandate id");
    assert!(mandate.len() <= 35 && !mandate.is_empty());
    assert!(
        !p.to_string().contains("DE89370400440532013000"),
        "full IBAN never echoed"
    );

    let debit = tx_id();
    let mut body = recurring_body(&debit, &agr, 25.0);
    body["paymentMeansReference"]["role"] = json!("Debit");
    body["plannedExecutionDate"] = json!("2026-12-01");
    let (s, d) = app.post("/api/Payment", body).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["status"], "Pending");
    assert_eq!(d["payments"], json!([]));
    assert_eq!(d["refundableAmount"], json!(0));
    assert_eq!(d["bearer"]["MandateId"], mandate);
    let (s, g) = app.get(&format!("/api/Payment/{debit}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g["status"], "Pending");
    assert_eq!(g["dueDate"], "2026-12-01T00:00:00.0000000Z");

    let (s, e) = app
        .post("/api/Refund", refund_body(&tx_id(), &debit, 5.0))
        .await;
    assert_error(s, &e, 422, "InvalidAmount", "refundable");
}

#[tokio::test]
async fn sepa_preauth_rejects_a_bad_iban_without_writing() {
    let app = TestApp::spawn().await;
    let pre = tx_id();
    let mut body = sepa_preauth_body(&pre, &agreement_id());
    body["paymentMeansReference"]["initialBearer"]["IBAN"] = json!("DE89370400440532013001");
    let (s, e) = app.post("/api/Preauth", body.clone()).await;
    assert_error(s, &e, 422, "InvalidIBAN", "IBAN");
    body["paymentMeansReference"]["initialBearer"] = json!({"Holder": "X"});
    let (s, e) = app.post("/api/Preauth", body).await;
    assert_error(s, &e, 422, "InvalidData", "initialBearer.IBAN");
    let (s, _) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(app.psp_calls(&pre), 0);
}
