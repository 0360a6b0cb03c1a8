//! HTTP behaviour of checkout completion, the credential probe and status lookups.

use std::time::Duration;

use super::test_server::*;
use crate::domain::TxStatus;
use crate::psp::Outcome;

const NO_SESSION_BODY: &str = r#"{"result":{"code":"200.300.404","description":"invalid or missing parameter - (opp) No payment session found for the requested id"}}"#;
const NOT_FOUND_BODY: &str =
    r#"{"result":{"code":"700.400.580","description":"cannot find transaction"}}"#;

#[tokio::test]
async fn lapsed_checkout_without_payment_expires() {
    let answers = vec![ok(400, NO_SESSION_BODY), ok(400, NOT_FOUND_BODY)];
    let (oppwa, shared) = serve(answers).await;
    let r = oppwa
        .at(&settings(true))
        .complete_checkout(&checkout("FB76.x", "20221108-tx"))
        .await;
    let expected = (crate::domain::PaymentErrorCode::Canceled, TxStatus::Expired);
    assert_eq!(decline_of(&r.outcome), Some(expected));
    let seen = seen(&shared);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v1/checkouts/FB76.x/payment");
    assert_eq!(seen[0].query, format!("entityId={ENTITY}"));
    assert_eq!(
        seen[1].query,
        format!("entityId={ENTITY}&merchantTransactionId=20221108-tx")
    );
    assert_eq!(
        seen[2].query,
        format!("entityId={MIT}&merchantTransactionId=20221108-tx")
    );
}

#[tokio::test]
async fn lapsed_checkout_found_by_query() {
    let query = r#"{"result":{"code":"000.000.100","description":"successful request"},
      "payments":[{"id":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"PA","amount":"92.00",
        "currency":"EUR","result":{"code":"000.100.110","description":"ok"}}]}"#;
    let (oppwa, _) = serve(vec![ok(400, NO_SESSION_BODY), ok(200, query)]).await;
    let r = oppwa
        .at(&settings(false))
        .complete_checkout(&checkout("FB76.x", "tx"))
        .await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(
        r.psp_transaction_id.as_deref(),
        Some("8ac7a4a09136ba2801913706f2a221bf")
    );
}

#[tokio::test]
async fn check_settings_probes_credentials() {
    use crate::domain::PaymentErrorCode as E;
    let unknown_channel = r#"{"result":{"code":"800.900.201","description":"unknown channel"}}"#;
    let (oppwa, shared) = serve(vec![ok(400, NOT_FOUND_BODY)]).await;
    let valid = oppwa
        .at(&settings(true))
        .check_settings()
        .await
        .expect("valid");
    assert!(valid.credit_card && valid.debit);
    assert_eq!(seen(&shared).len(), 2);
    assert!(
        seen(&shared)[1]
            .query
            .starts_with(&format!("entityId={MIT}&merchantTransactionId="))
    );
    for (status, body, code) in [
        (401, "{}", E::LoginError),
        (400, unknown_channel, E::LoginError),
    ] {
        let (oppwa, _) = serve(vec![ok(status, body)]).await;
        let e = oppwa
            .at(&settings(false))
            .check_settings()
            .await
            .expect_err("rejected");
        assert_eq!(e.code, code);
    }
    let e = adapter("http://127.0.0.1:9")
        .at(&settings(false))
        .check_settings()
        .await;
    assert_eq!(e.map_err(|e| e.code), Err(E::PSPConnectionProblem));
    let (oppwa, _) = serve(vec![Canned(400, NOT_FOUND_BODY, Duration::from_secs(3))]).await;
    let e = oppwa
        .at(&settings(false))
        .check_settings()
        .await
        .map_err(|e| e.code);
    assert_eq!(e, Err(E::PSPConnectionTimeout));
}

#[tokio::test]
async fn fetch_status_falls_back_to_mit_entity() {
    let (oppwa, shared) = serve(vec![ok(400, NOT_FOUND_BODY), ok(200, CP_OK)]).await;
    let r = oppwa
        .at(&settings(true))
        .fetch_status("8ac7a4a09136ba2801913734d9e253d8")
        .await;
    assert_eq!(r.map(|r| r.outcome), Ok(Outcome::Succeeded));
    assert_eq!(seen(&shared)[1].query, format!("entityId={MIT}"));
    let e = adapter("http://127.0.0.1:9")
        .at(&settings(false))
        .fetch_status("abc")
        .await;
    assert!(e.is_err());
}

const PAID: &str = r#"{"id":"8ac7a4a09136ba2801913706f2a221bf","registrationId":"REG1",
  "paymentType":"PA","paymentBrand":"MASTER","amount":"92.00","currency":"EUR",
  "result":{"code":"000.100.110","description":"ok"},
  "card":{"bin":"545454","last4Digits":"5454","holder":"J","expiryMonth":"01","expiryYear":"2030"},
  "ndc":"FB76.x","timestamp":"2024-05-06 07:08:09+0000"}"#;
const OPEN: &str =
    r#"{"id":"FB76.x","result":{"code":"000.200.000","description":"transaction pending"}}"#;
const THROTTLED: &str = r#"{"result":{"code":"800.120.100","description":"Too many requests."}}"#;

#[tokio::test]
async fn checkout_result_reading() {
    let (oppwa, _) = serve(vec![ok(200, PAID), ok(200, OPEN), ok(400, THROTTLED)]).await;
    let r = oppwa
        .at(&settings(false))
        .complete_checkout(&checkout("FB76.x", "tx"))
        .await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    let reg = r.credential.expect("credential");
    assert_eq!(
        reg.bearer.get("MaskedCardPan").map(String::as_str),
        Some("545454******5454")
    );
    assert_eq!(
        reg.bearer.get("CardType").map(String::as_str),
        Some("MASTER")
    );
    let r = oppwa
        .at(&settings(false))
        .complete_checkout(&checkout("FB76.x", "tx"))
        .await;
    assert_eq!((r.outcome, r.psp_transaction_id), (Outcome::Pending, None));
    let r = oppwa
        .at(&settings(false))
        .complete_checkout(&checkout("FB76.x", "tx"))
        .await;
    assert!(
        matches!(r.outcome, Outcome::Unknown(_)),
        "throttled read is no decline"
    );
    let r = oppwa
        .at(&settings(false))
        .complete_checkout(&checkout("../x", "tx"))
        .await;
    assert!(matches!(r.outcome, Outcome::Unknown(_)));
}
