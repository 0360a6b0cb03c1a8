//! HTTP behaviour of the money calls: what the adapter sends (auth header, form body,
//! entity) and how it reads timeouts, 5xx, 401 and declines.

use std::time::Duration;

use super::test_server::*;
use super::transformers::tests::{follow_up, preauth, stored};
use super::*;
use crate::domain::TxStatus;
use crate::psp::Outcome;

#[tokio::test]
async fn capture_sends_bearer_and_form() {
    let (oppwa, shared) = serve(vec![ok(200, CP_OK)]).await;
    let r = oppwa
        .at(&settings(true))
        .capture(&follow_up(Some("40"), false))
        .await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(
        r.psp_transaction_id.as_deref(),
        Some("8ac7a4a09136ba2801913734d9e253d8")
    );
    assert_eq!(r.amount.map(|a| a.to_string()).as_deref(), Some("40.00"));
    let s = &seen(&shared)[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.path, "/v1/payments/8ac7a4a09136ba2801913706f2a221bf");
    assert_eq!(s.auth, "Bearer test-token");
    assert_eq!(
        s.content_type,
        "application/x-www-form-urlencoded; charset=UTF-8"
    );
    let expected = format!(
        "entityId={ENTITY}&paymentType=CP&amount=40.00&currency=EUR\
         &merchantTransactionId=20221108-636bd596c10cfc318b1bfabd"
    );
    assert_eq!(s.body, expected);
}

#[tokio::test]
async fn the_request_id_travels_to_the_psp() {
    let (oppwa, shared) = serve(vec![ok(200, CP_OK)]).await;
    let (s, f) = (settings(true), follow_up(Some("40"), false));
    crate::telemetry::with_request_id(Some("billwerk-req-42".into()), oppwa.at(&s).capture(&f))
        .await;
    oppwa
        .at(&settings(true))
        .capture(&follow_up(Some("40"), false))
        .await;
    let seen = seen(&shared);
    assert_eq!(seen[0].request_id, "billwerk-req-42");
    assert_eq!(seen[1].request_id, "", "none outside a request");
}

#[tokio::test]
async fn entity_selection() {
    let (oppwa, shared) = serve(vec![ok(200, CP_OK)]).await;
    oppwa
        .at(&settings(true))
        .refund(&follow_up(Some("1"), true))
        .await;
    oppwa
        .at(&settings(false))
        .cancel(&follow_up(None, true))
        .await;
    oppwa
        .at(&settings(true))
        .charge_stored(&stored(false, Some("S1")))
        .await;
    oppwa
        .at(&settings(false))
        .authorize_stored(&stored(false, None))
        .await;
    let seen = seen(&shared);
    assert!(
        seen[0]
            .body
            .starts_with(&format!("entityId={MIT}&paymentType=RF"))
    );
    assert_eq!(
        seen[1].body,
        format!(
            "entityId={ENTITY}&paymentType=RV&merchantTransactionId=20221108-636bd596c10cfc318b1bfabd-cancel"
        )
    );
    assert_eq!(
        seen[2].path,
        "/v1/registrations/8ac7a4a09136ba2801913706f2a2aaaa/payments"
    );
    assert!(
        seen[2]
            .body
            .starts_with(&format!("entityId={MIT}&amount=15.50"))
    );
    assert!(
        seen[2]
            .body
            .contains("standingInstruction.initialTransactionId=S1")
    );
    assert!(
        seen[3]
            .body
            .starts_with(&format!("entityId={ENTITY}&amount=15.50"))
    );
}

#[tokio::test]
async fn unclear_answers_are_unknown() {
    let slow = Canned(200, CP_OK, Duration::from_secs(3));
    for answer in [
        slow,
        ok(503, "{}"),
        ok(200, "<html>oops</html>"),
        ok(502, CP_OK),
    ] {
        let (oppwa, _) = serve(vec![answer]).await;
        let r = oppwa
            .at(&settings(false))
            .capture(&follow_up(Some("40"), false))
            .await;
        assert!(matches!(r.outcome, Outcome::Unknown(_)), "{:?}", r.outcome);
    }
    let down = adapter("http://127.0.0.1:9");
    let r = down
        .at(&settings(false))
        .charge_stored(&stored(true, None))
        .await;
    assert!(matches!(r.outcome, Outcome::Unknown(_)));
}

#[tokio::test]
async fn unauthorized_and_declined() {
    use crate::domain::PaymentErrorCode as E;
    let bad_auth =
        r#"{"result":{"code":"800.900.300","description":"invalid authentication information"}}"#;
    let insufficient = r#"{"id":"8ac7a4a09136ba2801913706f2a22222","paymentType":"DB",
        "result":{"code":"800.100.203","description":"Insufficient Funds"}}"#;
    let pending = r#"{"id":"8ac7a4a09136ba2801913706f2a23333","paymentType":"DB",
        "result":{"code":"800.400.500","description":"Waiting for confirmation"}}"#;
    let (oppwa, _) = serve(vec![
        ok(401, bad_auth),
        ok(400, insufficient),
        ok(400, pending),
    ])
    .await;
    let r = oppwa
        .at(&settings(false))
        .charge_stored(&stored(false, None))
        .await;
    assert_eq!(
        decline_of(&r.outcome),
        Some((E::LoginError, TxStatus::Failed))
    );
    assert_eq!(r.result_code.as_deref(), Some("800.900.300"));
    let r = oppwa
        .at(&settings(false))
        .charge_stored(&stored(false, None))
        .await;
    assert_eq!(
        decline_of(&r.outcome),
        Some((E::InsufficientBalance, TxStatus::Failed))
    );
    let r = oppwa
        .at(&settings(false))
        .charge_stored(&stored(true, None))
        .await;
    assert_eq!(r.outcome, Outcome::Pending);
}

#[tokio::test]
async fn card_preauth_redirects_to_checkout() {
    let created = r#"{"result":{"code":"000.200.100","description":"successfully created checkout"},
      "id":"FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03","integrity":"sha384-abc"}"#;
    let (oppwa, shared) = serve(vec![ok(200, created)]).await;
    let start = oppwa
        .at(&settings(false))
        .start_preauth(&preauth("0"))
        .await;
    let PreauthStart::Checkout(c) = start else {
        panic!("expected a redirect, got {start:?}");
    };
    assert_eq!(
        c.checkout_id,
        "FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03"
    );
    assert_eq!(c.data.as_deref(), Some("sha384-abc"));
    let s = &seen(&shared)[0];
    assert_eq!(s.path, "/v1/checkouts");
    assert!(
        s.body
            .starts_with(&format!("entityId={ENTITY}&amount=0.00&currency=EUR"))
    );
    assert!(s.body.contains("&merchantInvoiceId=Invoice+4711&"));
    assert!(s.body.ends_with("&integrity=true"));
}

#[tokio::test]
async fn sepa_preauth_registers_account() {
    let body = r#"{"id":"8ac7a4a09136ba2801913706f2a2bbbb","paymentBrand":"DIRECTDEBIT_SEPA",
      "result":{"code":"000.100.110","description":"ok"},"timestamp":"2024-01-02 03:04:05+0000"}"#;
    let (oppwa, shared) = serve(vec![ok(200, body)]).await;
    let mut req = preauth("0");
    req.method = InitialMethod::SepaDebit {
        holder: "Jane Jones".into(),
        iban: "DE89370400440532013000".into(),
        bic: None,
        mandate_id: "M-1".into(),
        signed_on: chrono::NaiveDate::from_ymd_opt(2024, 1, 2).expect("date"),
    };
    let PreauthStart::Done(r) = oppwa.at(&settings(false)).start_preauth(&req).await else {
        panic!("expected a result");
    };
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(r.amount, Some(rust_decimal::Decimal::ZERO));
    let reg = r.credential.expect("credential");
    assert!(reg.is_debit);
    assert_eq!(
        reg.bearer.get("IBAN").map(String::as_str),
        Some("DE89**************3000")
    );
    assert_eq!(reg.bearer.get("RegistrationId"), Some(&reg.credential));
    assert_eq!(seen(&shared)[0].path, "/v1/registrations");
}
