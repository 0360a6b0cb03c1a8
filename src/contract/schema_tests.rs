//! The OpenAPI patterns against the server's own checks: a value the service accepts always
//! matches the document, and (where the pattern is the whole rule) the other way round.

use proptest::prelude::*;
use regex::Regex;
use serde_json::{Value, json};

use super::*;
use crate::contract::commands::{FromBody, PaymentCommand, PspRules, Rules};
use crate::contract::wire::{Obj, parse_object};
use crate::domain::{BillwerkTxId, Role, TextLimits};
use crate::outbox::policy::TargetPolicy;

fn re(p: &str) -> Regex {
    Regex::new(p).expect("pattern compiles")
}

fn payment(field: &str, v: Value) -> Result<PaymentCommand, String> {
    let mut b = json!({
        "transactionId": "20221108-636a91f61c48d9fa186166f8",
        "agreementId": "636a918ca2500caaf0390a15",
        "requestedAmount": 300,
        "currency": "EUR",
        "webhookTarget": "https://billwerk.example/hook",
        "paymentMeansReference": {"role": "CreditCard"}
    });
    if let Some((outer, inner)) = field.split_once('.') {
        b[outer][inner] = v;
    } else {
        b[field] = v;
    }
    let bytes = serde_json::to_vec(&b).expect("json");
    let map = parse_object(&bytes).map_err(|e| e.body.error_message)?;
    let targets = TargetPolicy::from_parts(&["billwerk.example".to_string()], false);
    let rules = Rules {
        targets: &targets,
        psp: &AnyFamily,
    };
    PaymentCommand::from_body(&Obj::root(&map), &rules).map_err(|e| e.body.error_message)
}

/// A PSP family that takes every role and any length, so only the contract's own rules (what
/// the document states) decide.
struct AnyFamily;

impl PspRules for AnyFamily {
    fn roles(&self) -> &[Role] {
        Role::ALL
    }
    fn texts(&self) -> TextLimits {
        TextLimits {
            descriptor: usize::MAX,
            holder: usize::MAX,
            name: usize::MAX,
            street: usize::MAX,
            city: usize::MAX,
            postcode: usize::MAX,
            email: usize::MAX,
            company: usize::MAX,
        }
    }
    fn check_amount(&self, _: &crate::domain::Money) -> Result<(), String> {
        Ok(())
    }
}

#[test]
fn the_transaction_id_pattern_is_the_calendar() {
    let pattern = re(TX_ID_PATTERN);
    let oid = "636bd596c10cfc318b1bfabb";
    for year in [
        "0000", "0004", "0100", "0400", "1900", "1996", "2000", "2023", "2024", "2100", "2400",
        "9996", "9999",
    ] {
        for month in 0..=13 {
            for day in 0..=32 {
                let id = format!("{year}{month:02}{day:02}-{oid}");
                assert_eq!(
                    pattern.is_match(&id),
                    BillwerkTxId::parse(&id).is_some(),
                    "{id}"
                );
            }
        }
    }
}

#[test]
fn role_patterns_match_what_is_read() {
    let RefOr::T(Schema::OneOf(one_of)) = role_input() else {
        panic!("oneOf")
    };
    let patterns: Vec<Regex> = one_of
        .items
        .iter()
        .filter_map(|s| match s {
            RefOr::T(Schema::Object(o)) => o.pattern.as_deref().map(re),
            _ => None,
        })
        .collect();
    for s in [
        "CreditCard",
        "creditcard",
        "DEBIT",
        "iDEAL",
        "2",
        "03",
        "10",
        " CreditCard",
        "CreditCard ",
        "+2",
        "-1",
        "11",
        "0",
        "",
        "Credit Card",
    ] {
        let documented = patterns.iter().any(|p| p.is_match(s));
        let read = payment("paymentMeansReference.role", json!(s)).is_ok();
        assert_eq!(documented, read, "{s:?}");
    }
}

#[test]
fn lenient_url_forms_are_refused() {
    // What a URL parser also reads, but the pattern (and so the service) does not.
    for s in [
        "http:billwerk.example",
        "hTtP:billwerk.example",
        "https:\\\\billwerk.example",
    ] {
        assert!(payment("webhookTarget", json!(s)).is_err(), "{s}");
        assert!(!re(URL_PATTERN).is_match(s), "{s}");
    }
}

proptest! {
    // Failing cases are kept beside this file (`<file>.regressions`), not in a top-level folder.
    #![proptest_config(ProptestConfig {
        failure_persistence: Some(Box::new(
            proptest::test_runner::FileFailurePersistence::WithSource("regressions"),
        )),
        ..ProptestConfig::default()
    })]

    #[test]
    fn transaction_ids_match_the_pattern_exactly(
        date in "[0-9]{8}",
        oid in "[0-9A-Fa-f]{23,25}",
        sep in prop::sample::select(vec!["-", "_", ""]),
    ) {
        let id = format!("{date}{sep}{oid}");
        prop_assert_eq!(re(TX_ID_PATTERN).is_match(&id), BillwerkTxId::parse(&id).is_some());
    }

    #[test]
    fn agreement_ids_match_the_pattern_exactly(s in "[A-Za-z0-9._:\\- /é\\x00]{0,70}") {
        let documented = re(ID_PATTERN).is_match(&s) && (1..=64).contains(&s.chars().count());
        let read = payment("agreementId", json!(s)).is_ok();
        prop_assert_eq!(documented, read, "{:?}", s);
    }

    #[test]
    fn accepted_currencies_match_the_pattern(s in "[A-Za-z €\\t]{0,4}") {
        if payment("currency", json!(s)).is_ok() {
            prop_assert!(re(CURRENCY_PATTERN).is_match(&s), "{:?}", s);
        }
    }

    #[test]
    fn accepted_texts_match_the_pattern(s in "\\PC{0,10}|[\\x00-\\x20\\u{7f}-\\u{a0}\\u{2028}a]{0,5}") {
        if payment("transactionReferenceText", json!(s)).is_ok() {
            prop_assert!(re(TEXT_PATTERN).is_match(&s), "{:?}", s);
        }
    }

    #[test]
    fn accepted_webhook_targets_match_the_pattern(
        scheme in "[Hh][Tt][Tt][Pp][Ss]?|ftp|",
        rest in "://billwerk\\.example/[a-z ]{0,3}|:billwerk\\.example",
    ) {
        let s = format!("{scheme}{rest}");
        if payment("webhookTarget", json!(s)).is_ok() {
            prop_assert!(re(URL_PATTERN).is_match(&s), "{:?}", s);
        }
    }
}
