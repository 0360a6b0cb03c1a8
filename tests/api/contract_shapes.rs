//! Response bodies field by field against the contract: names, casing, enum names, timestamps,
//! mandatory fields present even when 0/false; case-insensitive paths, names and enums.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

#[tokio::test]
async fn preauth_payment_refund_bodies_have_exactly_the_contract_fields() {
    let app = TestApp::spawn().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let (s, init) = app
        .post("/api/Preauth", preauth_body(&pre, &agr, 12.0))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        keys(&init),
        [
            "authorizedAmount",
            "bearer",
            "currency",
            "expiresAt",
            "externalTransactionId",
            "lastUpdated",
            "pspTransactionId",
            "redirectUrl",
            "requestedAmount",
            "status",
            "transactionId"
        ]
    );
    assert_eq!(init["transactionId"], pre);
    assert_eq!(init["status"], "Initiated");
    assert_eq!(
        init["authorizedAmount"],
        json!(0),
        "mandatory zero is written"
    );
    assert_eq!(init["bearer"], json!({}));
    assert_eq!(
        init["pspTransactionId"],
        Value::Null,
        "no PSP id before the shopper paid"
    );
    assert_wire_time(&init["lastUpdated"]);
    assert!(
        chrono::DateTime::parse_from_rfc3339(init["expiresAt"].as_str().unwrap_or_default())
            .is_ok()
    );

    let done = app
        .card_preauth(&tx_id(), &agr, 12.0, "4200000000000000")
        .await;
    assert_eq!(
        keys(&done),
        [
            "authorizedAmount",
            "bearer",
            "currency",
            "expiresAt",
            "externalTransactionId",
            "lastUpdated",
            "pspTransactionId",
            "requestedAmount",
            "status",
            "transactionId"
        ]
    );
    assert!(done["lastUpdated"].as_str() > init["lastUpdated"].as_str());

    let pay = tx_id();
    let (_, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 7.5))
        .await;
    let p = app.settled("Payment", &pay, p).await;
    assert_eq!(
        keys(&p),
        [
            "bearer",
            "chargebacks",
            "currency",
            "externalTransactionId",
            "lastUpdated",
            "payments",
            "pspTransactionId",
            "refundableAmount",
            "refundedAmount",
            "requestedAmount",
            "status",
            "transactionId"
        ]
    );
    assert_eq!(
        keys(&p["payments"][0]),
        ["amount", "bookingDate", "description", "externalItemId"]
    );
    assert!(
        chrono::NaiveDate::parse_from_str(
            p["payments"][0]["bookingDate"].as_str().unwrap_or_default(),
            "%Y-%m-%d"
        )
        .is_ok()
    );
    assert_eq!(p["refundedAmount"], json!(0));
    assert_eq!(p["chargebacks"], json!([]));
    assert_eq!(p["currency"], "EUR");

    let (_, r) = app
        .post("/api/Refund", refund_body(&tx_id(), &pay, 2.5))
        .await;
    assert_eq!(
        keys(&r),
        [
            "bookingDate",
            "currency",
            "description",
            "externalTransactionId",
            "lastUpdated",
            "pspTransactionId",
            "refundedAmount",
            "requestedAmount",
            "status",
            "transactionId"
        ]
    );
    assert_wire_time(&r["lastUpdated"]);
}

#[tokio::test]
async fn integration_info_declares_card_and_debit() {
    let app = TestApp::spawn().await;
    let (s, i) = app.get("/api/IntegrationInfo").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(i["supportRefunds"], true);
    assert_eq!(i["requiresReturnUrl"], true);
    assert_eq!(i["hasSupportInitialBearer"], true);
    assert_eq!(i["usesScheduledPayment"], false);
    assert_eq!(i["creditCardMethodInfo"]["useCapturePreauth"], true);
    assert_eq!(i["creditCardMethodInfo"]["useCancelPreauth"], true);
    assert_eq!(i["debitMethodInfo"]["hasSupportInitialBearer"], true);
    assert_eq!(i["debitMethodInfo"]["supportBackendPayments"], true);
    assert!(i["onAccountMethodInfo"].is_null());
    let names: Vec<&str> = i["merchantSettings"]
        .as_array()
        .expect("settings")
        .iter()
        .filter_map(|s| s["keyName"].as_str())
        .collect();
    // The settings are the family's: OPPWA's environment is a setting with predefined values;
    // Mollie's is the prefix of its one required key.
    let want: &[&str] = match app.family {
        Family::Oppwa => &[
            "AccessToken",
            "EntityId",
            "MitEntityId",
            "WebhookSecret",
            "Environment",
            "ShopName",
        ],
        Family::Mollie => &["ApiKey", "ShopName"],
    };
    assert_eq!(names, want);
    let env = match app.family {
        Family::Oppwa => &i["merchantSettings"][4],
        Family::Mollie => &i["merchantSettings"][0],
    };
    assert_eq!(env["required"], true);
    assert_eq!(
        env["predefinedValues"].is_object(),
        app.family == Family::Oppwa,
        "{env}"
    );
    assert!(env["displayName"].is_string());
}

#[tokio::test]
async fn paths_property_names_and_enums_are_case_insensitive() {
    let app = TestApp::spawn().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let body = json!({
        "TRANSACTIONID": pre, "AgreementId": agr, "requestedamount": 9.99, "Currency": "eur",
        "webhookTARGET": WEBHOOK, "isInitial": true,
        "PaymentMeansReference": {"ROLE": 2, "SuccessReturnUrl": "https://merchant.example/success"},
        "payerData": {"FirstName": "A", "address": {"CITY": "X"}}
    });
    let (s, p) = app.post("/API/preauth", body).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["currency"], "EUR");
    let (s, g) = app.get(&format!("/api/PREAUTH/{pre}")).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(g["externalTransactionId"], p["externalTransactionId"]);
    let (s, _) = app.get("/Api/integrationinfo").await;
    assert_eq!(s, StatusCode::OK);
    let mut sepa = sepa_preauth_body(&tx_id(), &agreement_id());
    sepa["paymentMeansReference"]["role"] = json!("debit");
    sepa["paymentMeansReference"]["initialBearer"] =
        json!({"holder": "Jo", "iban": "GB33BUKB20201555555555"});
    let (s, p) = app.post("/api/preauth", sepa).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["bearer"]["Holder"], "Jo");
}
