//! Tests of response parsing and mapping, with bodies written from the spec's examples.

use super::*;
use crate::domain::{PaymentErrorCode, TxStatus};
use crate::psp::Decline;
use crate::psp::sepa::mask_iban;

const CHECKOUT_PAYMENT: &str = r#"{
  "id": "8ac7a4a09136ba2801913706f2a221bf",
  "registrationId": "8ac7a4a09136ba2801913706f2a2aaaa",
  "paymentType": "PA", "paymentBrand": "VISA", "amount": "92.00", "currency": "EUR",
  "descriptor": "3017.7139.1650 OPP_Channel",
  "merchantTransactionId": "20221108-636bd596c10cfc318b1bfabb",
  "result": {"code": "000.100.110",
             "description": "Request successfully processed in 'Merchant in Integrator Test Mode'",
             "cvvResponse": "M"},
  "resultDetails": {"ExtendedDescription": "ok", "CardholderInitiatedTransactionID": "SCHEME-1"},
  "card": {"bin": "420000", "last4Digits": "0000", "holder": "Jane Jones",
           "expiryMonth": "05", "expiryYear": "2034"},
  "standingInstruction": {"source": "CIT", "type": "UNSCHEDULED", "mode": "INITIAL",
                          "initialTransactionId": "SCHEME-INITIAL"},
  "risk": {"score": "0"},
  "randomField4711": "Please allow for new unexpected fields to be added",
  "buildNumber": "ab1c2d3e@2022-08-25 09:15:46 +0000",
  "timestamp": "2015-12-07 16:46:07.123+0000",
  "ndc": "FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03"
}"#;

fn parsed(body: &str) -> OppwaResponse {
    parse(body.as_bytes()).expect("an OPPWA answer")
}

#[test]
fn checkout_payment_success_with_card_bearer() {
    let r = payment_result(&parsed(CHECKOUT_PAYMENT));
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(
        r.psp_transaction_id.as_deref(),
        Some("8ac7a4a09136ba2801913706f2a221bf")
    );
    assert_eq!(r.amount.map(|a| a.to_string()).as_deref(), Some("92.00"));
    assert_eq!(r.currency.as_deref(), Some("EUR"));
    assert_eq!(r.kind, Some(crate::psp::EventKind::Authorization));
    assert_eq!(r.result_code.as_deref(), Some("000.100.110"));
    assert_eq!(r.booking_date, NaiveDate::from_ymd_opt(2015, 12, 7));
    let reg = r.credential.expect("credential");
    assert_eq!(reg.credential, "8ac7a4a09136ba2801913706f2a2aaaa");
    assert!(!reg.is_debit);
    assert_eq!(
        reg.initial_transaction_id.as_deref(),
        Some("SCHEME-INITIAL")
    );
    let expected = Bearer::from(
        [
            ("RegistrationId", "8ac7a4a09136ba2801913706f2a2aaaa"),
            ("CardType", "VISA"),
            ("MaskedCardPan", "420000******0000"),
            ("Last4CardNumber", "0000"),
            ("Holder", "Jane Jones"),
            ("ExpiryMonth", "05"),
            ("ExpiryYear", "2034"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    assert_eq!(reg.bearer, expected);
}

#[test]
fn initial_transaction_id_fallbacks() {
    let mut resp = parsed(CHECKOUT_PAYMENT);
    resp.standing_instruction = None;
    let reg = card_registration(&resp).expect("registration");
    assert_eq!(reg.initial_transaction_id.as_deref(), Some("SCHEME-1"));
    resp.result_details = Value::Null;
    let reg = card_registration(&resp).expect("registration");
    assert_eq!(
        reg.initial_transaction_id.as_deref(),
        Some("8ac7a4a09136ba2801913706f2a221bf")
    );
}

#[test]
fn decline_body() {
    let body = r#"{"id":"8ac7a4a09136ba2801913706f2a22222","paymentType":"DB","amount":"10.00",
        "currency":"EUR","result":{"code":"800.100.203","description":"Insufficient Funds"},
        "timestamp":"2024-01-02 03:04:05+0000"}"#;
    let r = payment_result(&parsed(body));
    let expected = Decline {
        code: PaymentErrorCode::InsufficientBalance,
        status: TxStatus::Failed,
        psp_code: Some("800.100.203".into()),
        message: "Insufficient Funds".into(),
    };
    assert_eq!(r.outcome, Outcome::Declined(expected));
    assert!(r.credential.is_none());
    assert_eq!(r.booking_date, NaiveDate::from_ymd_opt(2024, 1, 2));
}

#[test]
fn not_an_answer() {
    assert!(parse(b"<html>502</html>").is_none());
    assert!(parse(br#"{"result":{}}"#).is_none());
    assert!(parse(br#"{"id":"x"}"#).is_none());
    let odd = parsed(r#"{"result":{"code":"000.000.000"},"amount":12.5,"card":{"bin":420000}}"#);
    assert_eq!(odd.amount.as_deref(), Some("12.5"));
}

#[test]
fn iban_masking() {
    assert_eq!(
        mask_iban("DE89370400440532013000"),
        "DE89**************3000"
    );
    assert_eq!(mask_iban("DE891234"), "********");
    let bearer = sepa_bearer(" Jane ", "DE89370400440532013000", "M-1", "REG-1");
    assert_eq!(
        bearer.get("IBAN").map(String::as_str),
        Some("DE89**************3000")
    );
    assert_eq!(bearer.get("Holder").map(String::as_str), Some("Jane"));
    assert_eq!(bearer.len(), 4);
}

#[test]
fn newest_of_query() {
    let body = r#"{"result":{"code":"000.000.100","description":"successful request"},
      "payments":[
        {"id":"a","result":{"code":"800.100.152"},"timestamp":"2024-01-02 10:00:00.500+0000"},
        {"id":"b","result":{"code":"000.100.110"},"timestamp":"2024-01-02 10:00:01+0000"},
        {"id":"c","result":{"code":"000.200.000"},"timestamp":"2024-01-01 23:00:00+0000"}]}"#;
    let resp = parsed(body);
    assert_eq!(
        newest_payment(&resp).and_then(|p| p.id.as_deref()),
        Some("b")
    );
}
