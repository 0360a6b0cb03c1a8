//! Tests of the exact request parameter lists.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;
use crate::domain::{Currency, Money};
use crate::psp::{InitialMethod, StoredMethod};

pub fn eur(amount: &str) -> Money {
    let currency = Currency::parse("EUR").expect("EUR");
    Money::new(Decimal::from_str(amount).expect("decimal"), currency, true).expect("money")
}

fn pairs(p: &Params) -> Vec<(&str, &str)> {
    p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

pub fn preauth(amount: &str) -> InitialPreauth {
    InitialPreauth {
        merchant_tx_id: "20221108-636bd596c10cfc318b1bfabb".into(),
        amount: eur(amount),
        method: InitialMethod::Card,
        payer: Payer {
            given_name: Some("Jane".into()),
            surname: Some("Jones".into()),
            company: Some(" ".into()),
            email: Some("jane@example.com".into()),
            city: Some("Berlin".into()),
            country: Some("de".into()),
            customer_id: Some("C-1".into()),
            ..Payer::default()
        },
        reference_text: Some("Invoice 4711".into()),
        shopper_result_url: "https://integrator.example/return".into(),
    }
}

#[test]
fn checkout_card() {
    let p = checkout_params(&preauth("92"));
    assert_eq!(
        pairs(&p),
        vec![
            ("amount", "92.00"),
            ("currency", "EUR"),
            ("paymentType", "PA"),
            ("createRegistration", "true"),
            ("standingInstruction.mode", "INITIAL"),
            ("standingInstruction.source", "CIT"),
            ("standingInstruction.type", "UNSCHEDULED"),
            ("merchantTransactionId", "20221108-636bd596c10cfc318b1bfabb"),
            ("customer.givenName", "Jane"),
            ("customer.surname", "Jones"),
            ("customer.email", "jane@example.com"),
            ("customer.merchantCustomerId", "C-1"),
            ("billing.city", "Berlin"),
            ("billing.country", "DE"),
            ("merchantInvoiceId", "Invoice 4711"),
            ("descriptor", "Invoice 4711"),
            ("integrity", "true"),
        ]
    );
}

#[test]
fn checkout_zero_amount_is_a_verification() {
    let mut req = preauth("0");
    req.payer = Payer::default();
    req.reference_text = Some("x".repeat(300));
    let p = checkout_params(&req);
    assert_eq!(p[0], ("amount".into(), "0.00".into()));
    assert_eq!(p[2], ("paymentType".into(), "PA".into()));
    let invoice = p
        .iter()
        .find(|(k, _)| k == "merchantInvoiceId")
        .map(|(_, v)| v.len());
    let descriptor = p
        .iter()
        .find(|(k, _)| k == "descriptor")
        .map(|(_, v)| v.len());
    assert_eq!((invoice, descriptor), (Some(255), Some(127)));
    assert!(
        !p.iter()
            .any(|(k, _)| k.starts_with("customer.") || k.starts_with("billing."))
    );
}

#[test]
fn sepa_registration() {
    let mut req = preauth("0");
    req.payer = Payer::default();
    let account = SepaAccount {
        holder: "Jane Jones",
        iban: "de89 3704 0044 0532 0130 00",
        bic: Some("COBADEFFXXX"),
        mandate_id: "M-42",
        signed_on: NaiveDate::from_ymd_opt(2024, 3, 5).expect("date"),
    };
    let p = sepa_registration_params(&req, &account);
    assert_eq!(
        pairs(&p),
        vec![
            ("paymentBrand", "DIRECTDEBIT_SEPA"),
            ("bankAccount.holder", "Jane Jones"),
            ("bankAccount.iban", "DE89370400440532013000"),
            ("bankAccount.bic", "COBADEFFXXX"),
            ("bankAccount.country", "DE"),
            ("bankAccount.mandate.id", "M-42"),
            ("bankAccount.mandate.dateOfSignature", "2024-03-05"),
            ("merchantTransactionId", "20221108-636bd596c10cfc318b1bfabb"),
        ]
    );
}

pub fn stored(is_debit: bool, initial: Option<&str>) -> StoredCharge {
    StoredCharge {
        merchant_tx_id: "20221108-636bd596c10cfc318b1bfabc".into(),
        amount: eur("15.5"),
        stored: StoredMethod {
            credential: "8ac7a4a09136ba2801913706f2a2aaaa".into(),
            is_debit,
            initial_transaction_id: initial.map(String::from),
        },
        reference_text: None,
    }
}

#[test]
fn mit_repeated_card_charge() {
    let base = [
        ("amount", "15.50"),
        ("currency", "EUR"),
        ("paymentType", "DB"),
        ("merchantTransactionId", "20221108-636bd596c10cfc318b1bfabc"),
        ("standingInstruction.mode", "REPEATED"),
        ("standingInstruction.source", "MIT"),
        ("standingInstruction.type", "UNSCHEDULED"),
    ];
    let p = stored_payment_params(&stored(false, None), DEBIT);
    assert_eq!(pairs(&p), base.to_vec());
    let p = stored_payment_params(&stored(false, Some("SCHEME123")), PREAUTH);
    let mut expected = base.to_vec();
    expected[2] = ("paymentType", "PA");
    expected.push(("standingInstruction.initialTransactionId", "SCHEME123"));
    assert_eq!(pairs(&p), expected);
}

#[test]
fn sepa_debit_has_no_standing_instruction() {
    let p = stored_payment_params(&stored(true, Some("X")), DEBIT);
    assert_eq!(
        pairs(&p),
        vec![
            ("amount", "15.50"),
            ("currency", "EUR"),
            ("paymentType", "DB"),
            ("merchantTransactionId", "20221108-636bd596c10cfc318b1bfabc"),
        ]
    );
}

pub fn follow_up(amount: Option<&str>, merchant_initiated: bool) -> FollowUp {
    FollowUp {
        merchant_tx_id: "20221108-636bd596c10cfc318b1bfabd".into(),
        psp_transaction_id: "8ac7a4a09136ba2801913706f2a221bf".into(),
        amount: amount.map(eur),
        merchant_initiated,
        cancel_of: false,
    }
}

#[test]
fn capture_reversal_refund() {
    let tx = ("merchantTransactionId", "20221108-636bd596c10cfc318b1bfabd");
    let cp = follow_up_params(&follow_up(Some("40"), false), CAPTURE);
    let expected = [
        ("paymentType", "CP"),
        ("amount", "40.00"),
        ("currency", "EUR"),
        tx,
    ];
    assert_eq!(pairs(&cp), expected.to_vec());
    let rf = follow_up_params(&follow_up(Some("1.5"), false), REFUND);
    let expected = [
        ("paymentType", "RF"),
        ("amount", "1.50"),
        ("currency", "EUR"),
        tx,
    ];
    assert_eq!(pairs(&rf), expected.to_vec());
    let rv = follow_up_params(&follow_up(None, false), REVERSAL);
    assert_eq!(pairs(&rv), vec![("paymentType", "RV"), tx]);
    let partial = follow_up_params(&follow_up(Some("2"), false), REVERSAL);
    assert_eq!(partial.len(), 4);
}

#[test]
fn safe_ids() {
    assert!(is_safe_id("FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03"));
    assert!(is_safe_id("8ac7a4a09136ba2801913706f2a221bf"));
    assert!(!is_safe_id("../v1/payments"));
    assert!(!is_safe_id("a/b"));
    assert!(!is_safe_id("a?b"));
    assert!(!is_safe_id(""));
    assert!(!is_safe_id(".."));
}

#[test]
fn amounts_use_the_psp_format_for_every_exponent() {
    let m = |a: &str, c: &str| {
        Money::new(
            Decimal::from_str(a).expect("decimal"),
            Currency::parse(c).expect("currency"),
            true,
        )
        .expect("money")
    };
    assert_eq!(amount(&m("10.5", "KWD")).as_deref(), Ok("10.50"));
    assert_eq!(amount(&m("10.500", "KWD")).as_deref(), Ok("10.50"));
    assert_eq!(amount(&m("0", "KWD")).as_deref(), Ok("0.00"));
    assert_eq!(amount(&m("1200", "JPY")).as_deref(), Ok("1200.00"));
    assert_eq!(amount(&m("92", "EUR")).as_deref(), Ok("92.00"));
    assert!(
        amount(&m("10.505", "KWD")).is_err(),
        "a third decimal cannot be sent"
    );
}
