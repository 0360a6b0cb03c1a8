use std::str::FromStr;

use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;
use crate::contract::wire::parse_object;
use crate::outbox::policy::TargetPolicy;
use crate::psp::PaymentProvider;

fn targets() -> TargetPolicy {
    TargetPolicy::from_parts(&["billwerk.example".to_string()], false)
}

/// A text field bounded by the contract and by a PSP: (where, field, the contract's maximum,
/// the family's limit it is also bound by).
type Bounded = (&'static str, &'static str, usize, fn(&TextLimits) -> usize);

/// A PSP family's rules as the request check sees them.
struct Family {
    roles: &'static [Role],
    texts: TextLimits,
    amount: fn(&Money) -> Result<(), String>,
}

impl PspRules for Family {
    fn roles(&self) -> &[Role] {
        self.roles
    }
    fn texts(&self) -> TextLimits {
        self.texts
    }
    fn check_amount(&self, money: &Money) -> Result<(), String> {
        (self.amount)(money)
    }
}

static OPPWA_ADAPTER: std::sync::LazyLock<crate::psp::oppwa::Oppwa> =
    std::sync::LazyLock::new(|| crate::psp::oppwa::Oppwa::new(Default::default()));

/// The OPPWA adapter's own capabilities and amount check: the family most tests run against.
fn oppwa() -> Family {
    let caps = OPPWA_ADAPTER.capabilities();
    Family {
        roles: caps.roles,
        texts: caps.limits,
        amount: |m| OPPWA_ADAPTER.check_amount(m),
    }
}

fn texts(n: usize) -> TextLimits {
    TextLimits {
        descriptor: n,
        holder: n,
        name: n,
        street: n,
        city: n,
        postcode: n,
        email: n,
        company: n,
    }
}

/// A family that takes less than OPPWA: 10-character texts, SEPA only, 5 integer digits.
fn small() -> Family {
    Family {
        roles: &[Role::Debit],
        texts: texts(10),
        amount: |m| {
            if m.amount.trunc() > Decimal::from(99_999) {
                Err("is too large; at most 5 digits before the decimal point are allowed".into())
            } else {
                Ok(())
            }
        },
    }
}

/// A family that takes more than OPPWA (and than the contract): every role, 1000-character
/// texts, any amount the domain allows.
fn large() -> Family {
    Family {
        roles: Role::ALL,
        texts: texts(1000),
        amount: |_| Ok(()),
    }
}

fn check_with<T: FromBody>(body: &Value, psp: &Family) -> Result<T, ApiError> {
    let bytes = serde_json::to_vec(body).expect("json");
    let map = parse_object(&bytes)?;
    let targets = targets();
    T::from_body(
        &Obj::root(&map),
        &Rules {
            targets: &targets,
            psp,
        },
    )
}

fn message_with<T: FromBody>(body: &Value, psp: &Family) -> Option<String> {
    check_with::<T>(body, psp)
        .err()
        .map(|e| e.body.error_message)
}

fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR")
}

/// The status the HTTP edge answers `e` with.
fn http(e: &ApiError) -> u16 {
    crate::http::errors::status_of(e.failure).as_u16()
}

fn check<T: FromBody>(body: &Value) -> Result<T, ApiError> {
    check_with(body, &oppwa())
}

fn refusal<T: FromBody>(body: &Value) -> (u16, String, String) {
    match check::<T>(body) {
        Ok(_) => panic!("accepted {body}"),
        Err(e) => (
            http(&e),
            serde_json::to_value(e.body.error_code)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default(),
            e.body.error_message,
        ),
    }
}

fn payment() -> Value {
    json!({
        "transactionId": "20221108-636a91f61c48d9fa186166f8",
        "agreementId": "636a918ca2500caaf0390a15",
        "requestedAmount": 300,
        "currency": "EUR",
        "webhookTarget": "https://billwerk.example/hook",
        "paymentMeansReference": {"role": "CreditCard"},
        "transactionReferenceText": "YYNPG-MZXPB-FSGYB",
        "payerData": {"firstName": "John", "address": {"city": "London"}}
    })
}

fn sepa_preauth() -> Value {
    json!({
        "transactionId": "20221118-636bd596c10cfc318b1bfabb",
        "agreementId": "636a918ca2500caaf0390a15",
        "requestedAmount": 0,
        "currency": "EUR",
        "isInitial": true,
        "webhookTarget": "https://billwerk.example/hook",
        "paymentMeansReference": {
            "role": "Debit",
            "initialBearer": {"Holder": "JOHN DOE", "IBAN": "GB33BUKB20201555555555"}
        },
        "payerData": {"emailAddress": "john.doe@example.com", "language": "EN"}
    })
}

#[test]
fn exact_amounts() {
    let ok = |t: &str| exact_amount(t, eur(), true).map(|d| d.to_string());
    assert_eq!(ok("10").as_deref(), Ok("10"));
    assert_eq!(ok("10.50").as_deref(), Ok("10.5"));
    assert_eq!(ok("10.500").as_deref(), Ok("10.5"));
    assert_eq!(ok("1e3").as_deref(), Ok("1000"));
    assert_eq!(ok("1E-2").as_deref(), Ok("0.01"));
    assert_eq!(ok("0.0").as_deref(), Ok("0"));
    assert_eq!(ok("-0").as_deref(), Ok("0"));
    assert_eq!(ok("999999999999.99").as_deref(), Ok("999999999999.99"));
    assert_eq!(ok("00012.3").as_deref(), Ok("12.3"));
    assert!(matches!(
        ok("10.505"),
        Err(AmountError::TooPrecise("EUR", 2))
    ));
    assert!(matches!(ok("1e-3"), Err(AmountError::TooPrecise(..))));
    assert!(matches!(
        ok("1e-99999999999999"),
        Err(AmountError::TooPrecise(..))
    ));
    // The domain's neutral bound; a PSP's own maximum is its adapter's (see `money`).
    assert_eq!(
        ok("999999999999999999.99").as_deref(),
        Ok("999999999999999999.99")
    );
    assert_eq!(ok("1000000000000000000"), Err(AmountError::TooLarge));
    assert_eq!(ok("18446744073709551616"), Err(AmountError::TooLarge));
    assert_eq!(ok("1e400"), Err(AmountError::TooLarge));
    assert_eq!(ok("-1"), Err(AmountError::Negative));
    assert_eq!(
        exact_amount("0", eur(), false),
        Err(AmountError::NotPositive)
    );
    let jpy = Currency::parse("JPY").expect("JPY");
    assert!(exact_amount("100.0", jpy, false).is_ok());
    assert!(exact_amount("100.5", jpy, false).is_err());
    let kwd = Currency::parse("KWD").expect("KWD");
    assert_eq!(
        exact_amount("1.234", kwd, false).map(|d| d.to_string()),
        Ok("1.234".into())
    );
}

#[test]
fn payment_command_reads_every_field() {
    let cmd: PaymentCommand = check(&payment()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(cmd.money.amount, Decimal::from(300));
    assert!(cmd.capture_of.is_none());
    assert_eq!(cmd.role, Some(Role::CreditCard));
    let mut b = payment();
    b["preauthTransactionId"] = json!("20221108-636bd596c10cfc318b1bfabb");
    let cmd: PaymentCommand = check(&b).unwrap_or_else(|e| panic!("{e:?}"));
    assert!(cmd.capture_of.is_some());
    let cmd: PreauthCommand = check(&sepa_preauth()).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(cmd.sepa.map(|s| s.holder).as_deref(), Some("JOHN DOE"));
    assert_eq!(cmd.payer.language.as_deref(), Some("en"));
    for (sent, used) in [("de_DE", Some("de")), ("en-us", Some("en")), ("", None)] {
        let mut b = sepa_preauth();
        b["payerData"]["language"] = json!(sent);
        let cmd: PreauthCommand = check(&b).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(cmd.payer.language.as_deref(), used);
    }
    for bad in ["english", "e", "en-USA", "e1"] {
        let mut b = sepa_preauth();
        b["payerData"]["language"] = json!(bad);
        let (s, _, m) = refusal::<PreauthCommand>(&b);
        assert_eq!(s, 422);
        assert!(
            m.starts_with("payerData.language: must be an ISO 639-1 code"),
            "{m}"
        );
    }
}

#[test]
fn refusals_name_the_field_and_rule() {
    let cases: Vec<(&str, Value, u16, &str, &str)> = vec![
        (
            "transactionId",
            json!(""),
            422,
            "InvalidData",
            "transactionId: is required",
        ),
        (
            "agreementId",
            json!(""),
            422,
            "InvalidData",
            "agreementId: is required",
        ),
        (
            "preauthTransactionId",
            json!(""),
            422,
            "InvalidData",
            "preauthTransactionId: must not be empty",
        ),
        (
            "currency",
            json!("XXX"),
            422,
            "InvalidCurrency",
            "currency: XXX is an ISO-4217 special code",
        ),
        (
            "currency",
            json!("bov"),
            422,
            "InvalidCurrency",
            "currency: BOV is an ISO-4217 fund code",
        ),
        (
            "currency",
            json!("€"),
            422,
            "InvalidCurrency",
            "currency: must be a three-letter",
        ),
        (
            "requestedAmount",
            json!("10"),
            422,
            "InvalidData",
            "requestedAmount: must be a JSON number",
        ),
        (
            "requestedAmount",
            json!(10.001),
            422,
            "InvalidAmount",
            "requestedAmount: has more decimals than EUR allows (2)",
        ),
        (
            "agreementId",
            json!("a\u{0}b"),
            422,
            "InvalidData",
            "agreementId: must not contain control characters",
        ),
        (
            "agreementId",
            json!("a b"),
            422,
            "InvalidData",
            "agreementId: may contain only",
        ),
        (
            "transactionReferenceText",
            json!("x\r\ny"),
            422,
            "InvalidData",
            "transactionReferenceText: must not contain control characters",
        ),
        (
            "transactionReferenceText",
            json!("x".repeat(128)),
            422,
            "InvalidData",
            "transactionReferenceText: is 128 characters long; at most 127",
        ),
        (
            "transactionId",
            json!(5),
            422,
            "InvalidData",
            "transactionId: must be a string, not a number",
        ),
        (
            "plannedExecutionDate",
            json!("2022-13-01"),
            422,
            "InvalidData",
            "plannedExecutionDate: must be a date",
        ),
    ];
    for (field, value, status, code, message) in cases {
        let mut b = payment();
        b[field] = value;
        let (s, c, m) = refusal::<PaymentCommand>(&b);
        assert_eq!((s, c.as_str()), (status, code), "{m}");
        assert!(m.starts_with(message), "{m} starts with {message}");
    }
    let big = u128::MAX.to_string() + "0";
    let body = format!(
        r#"{{"transactionId":"20221108-636a91f61c48d9fa186166f8","currency":"EUR","requestedAmount":{big}}}"#
    );
    let (t, psp) = (targets(), oppwa());
    let rules = Rules {
        targets: &t,
        psp: &psp,
    };
    let e = parse_object(body.as_bytes())
        .and_then(|m| PaymentCommand::from_body(&Obj::root(&m), &rules))
        .err()
        .map(|e| e.body.error_message);
    assert_eq!(
        e.as_deref(),
        Some(
            "requestedAmount: is too large; at most 12 digits before the decimal point are allowed"
        )
    );
    let mut b = sepa_preauth();
    b["paymentMeansReference"]["initialBearer"]["Holder"] = json!("H".repeat(100_000));
    let (s, _, m) = refusal::<PreauthCommand>(&b);
    assert_eq!(s, 422);
    assert!(
        m.starts_with(
            "paymentMeansReference.initialBearer.Holder: is 100000 characters long; at most 128"
        ),
        "{m}"
    );
}

#[test]
fn settings_keys_once_each() {
    let b = json!({"merchantSettings": [
        {"keyName": "EntityId", "keyValue": "a"},
        {"keyName": "ENTITYID", "keyValue": "b"}
    ]});
    let (s, _, m) = refusal::<SettingsCommand>(&b);
    assert_eq!(s, 422);
    assert!(
        m.starts_with(
            "merchantSettings[0].keyName and merchantSettings[1].keyName: 'EntityId' and \
             'ENTITYID' name the same setting"
        ),
        "{m}"
    );
    let b = json!({"merchantPspSettings": {"merchantSettings": [{"keyName": "EntityId", "keyValue": " a "}]}});
    let cmd: SettingsCommand = check(&b).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(cmd.values[0].value, "a");
}

#[test]
fn settings_in_both_shapes_are_refused_naming_both() {
    let list = |shop: &str| json!([{"keyName": "ShopName", "keyValue": shop}]);
    for (flat, wrapper) in [
        ("merchantSettings", "merchantPspSettings"),
        ("MerchantSettings", "MERCHANTPSPSETTINGS"),
    ] {
        let mut b = json!({});
        b[flat] = list("A");
        b[wrapper] = json!({"merchantSettings": list("B")});
        let (s, c, m) = refusal::<SettingsCommand>(&b);
        assert_eq!((s, c.as_str()), (422, "InvalidData"), "{m}");
        assert!(
            m.starts_with(&format!("{flat} and {wrapper}: are both sent")),
            "{m}"
        );
    }
    // Even an empty wrapper next to the list is two shapes; `null` is "not sent".
    let b = json!({"merchantSettings": list("A"), "merchantPspSettings": {}});
    assert_eq!(refusal::<SettingsCommand>(&b).0, 422);
    for b in [
        json!({"merchantSettings": null, "merchantPspSettings": {"merchantSettings": list("B")}}),
        json!({"merchantSettings": list("B"), "merchantPspSettings": null}),
    ] {
        let cmd: SettingsCommand = check(&b).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(cmd.values[0].value, "B");
    }
}

#[test]
fn sepa_debits_are_euro_only() {
    for code in ["USD", "CHF", "GBP", "sek"] {
        let mut b = sepa_preauth();
        b["currency"] = json!(code);
        let (s, c, m) = refusal::<PreauthCommand>(&b);
        assert_eq!((s, c.as_str()), (422, "InvalidCurrency"), "{m}");
        assert!(
            m.starts_with("currency: ") && m.contains("euro-only"),
            "{m}"
        );
        let mut b = payment();
        b["paymentMeansReference"]["role"] = json!("Debit");
        b["currency"] = json!(code);
        let (s, c, m) = refusal::<PaymentCommand>(&b);
        assert_eq!((s, c.as_str()), (422, "InvalidCurrency"), "{m}");
    }
    let mut b = sepa_preauth();
    b["currency"] = json!("eur");
    assert!(check::<PreauthCommand>(&b).is_ok(), "EUR in any case");
    let mut b = payment();
    b["currency"] = json!("USD");
    assert!(
        check::<PaymentCommand>(&b).is_ok(),
        "cards take other currencies"
    );
}

#[test]
fn the_largest_amount_is_accepted_end_to_end() {
    for (amount, code, family) in [
        ("999999999999.99", "EUR", oppwa()),
        ("999999999999", "JPY", oppwa()),
        // OPPWA's amount has two decimals at most; a family that takes three takes this.
        ("999999999999.999", "KWD", large()),
    ] {
        let mut b = payment();
        b["currency"] = json!(code);
        b["requestedAmount"] = serde_json::from_str(amount).expect("number");
        let cmd: PaymentCommand =
            check_with(&b, &family).unwrap_or_else(|e| panic!("{amount}: {e:?}"));
        assert_eq!(cmd.money.amount.to_string(), amount);
    }
    let mut b = payment();
    b["requestedAmount"] = serde_json::from_str("1000000000000.00").expect("number");
    let (s, c, m) = refusal::<PaymentCommand>(&b);
    assert_eq!((s, c.as_str()), (422, "InvalidAmount"), "{m}");
}

/// Field names every endpoint reads, for the generators below.
const NAMES: &[&str] = &[
    "transactionId",
    "preauthTransactionId",
    "paymentTransactionId",
    "agreementId",
    "pspSettingsId",
    "requestedAmount",
    "currency",
    "webhookTarget",
    "paymentMeansReference",
    "role",
    "initialBearer",
    "Holder",
    "IBAN",
    "BIC",
    "successReturnUrl",
    "payerData",
    "address",
    "country",
    "language",
    "emailAddress",
    "transactionReferenceText",
    "isInitial",
    "plannedExecutionDate",
    "merchantSettings",
    "merchantPspSettings",
    "keyName",
    "keyValue",
    "finalizationData",
    "migrationToken",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (prop::sample::select(NAMES), any::<u32>()).prop_map(|(n, m)| {
            // The name in a random letter case.
            n.chars()
                .enumerate()
                .map(|(i, c)| if m >> (i % 32) & 1 == 1 { c.to_ascii_uppercase() } else { c })
                .collect()
        }),
        1 => ".{0,12}",
        // serde_json's private number key, sent as a property name.
        1 => Just("$serde_json::private::Number".to_string()),
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        "-?[0-9]{1,30}(\\.[0-9]{1,30})?([eE][-+]?[0-9]{1,4})?"
            .prop_filter_map("a JSON number", |t| serde_json::from_str::<Value>(&t).ok()),
        ".{0,40}".prop_map(Value::String),
        "[A-Za-z]{3}".prop_map(Value::String),
        Just(json!("20221108-636a91f61c48d9fa186166f8")),
        Just(json!("https://billwerk.example/hook")),
        Just(json!("GB33BUKB20201555555555")),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Every endpoint's command, from the same bytes: a refusal must be a 4xx with a message that
/// names something and carries no serde wording.
fn all_commands(bytes: &[u8]) {
    let (targets, psp) = (targets(), oppwa());
    let t = Rules {
        targets: &targets,
        psp: &psp,
    };
    let outcome = parse_object(bytes).map(|map| {
        let obj = Obj::root(&map);
        vec![
            PreauthCommand::from_body(&obj, &t).err(),
            PaymentCommand::from_body(&obj, &t).err(),
            RefundCommand::from_body(&obj, &t).err(),
            FinalizeCommand::from_body(&obj, &t).err(),
            CancelCommand::from_body(&obj, &t).err(),
            SettingsCommand::from_body(&obj, &t).err(),
        ]
    });
    let errors = match outcome {
        Ok(errs) => errs.into_iter().flatten().collect::<Vec<_>>(),
        Err(e) => vec![e],
    };
    for e in errors {
        let status = http(&e);
        assert!((400..500).contains(&status), "status {status}");
        let m = &e.body.error_message;
        assert!(m.contains(": "), "field named in {m}");
        for bad in ["serde", "$serde_json", "expected a", "invalid type"] {
            assert!(!m.contains(bad), "plain words in {m}");
        }
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
    fn fuzz_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        all_commands(&bytes);
    }

    #[test]
    fn fuzz_json_documents(v in value()) {
        all_commands(&serde_json::to_vec(&v).expect("json"));
    }

    #[test]
    fn fuzz_valid_bodies_with_one_field_replaced(
        base in prop::sample::select(vec![payment(), sepa_preauth()]),
        path in prop::collection::vec(key(), 1..3),
        v in value(),
    ) {
        let mut b = base;
        let mut at = &mut b;
        for k in &path[..path.len() - 1] {
            if !at.get(k).is_some_and(Value::is_object) {
                at[k.as_str()] = json!({});
            }
            at = &mut at[k.as_str()];
        }
        at[path[path.len() - 1].as_str()] = v;
        all_commands(&serde_json::to_vec(&b).expect("json"));
    }

    #[test]
    fn fuzz_amount_text(t in "-?[0-9]{1,40}(\\.[0-9]{1,40})?([eE][-+]?[0-9]{1,25})?") {
        // Exact: whenever accepted, the value equals the text's value.
        if let Ok(d) = exact_amount(&t, eur(), true) {
            // Both amount rules agree: what the text check accepts, `Money` accepts.
            prop_assert!(Money::new(d, eur(), true).is_ok(), "Money refuses {}", t);
            if let Ok(parsed) = Decimal::from_scientific(&t).or_else(|_| Decimal::from_str(&t)) {
                prop_assert_eq!(d.normalize(), parsed.normalize());
            }
        }
    }

    /// The boundary of OPPWA's 12 digits before the point, through the whole request check:
    /// accepted exactly when the integer part has at most 12 digits and the decimals fit the
    /// currency and OPPWA's amount format.
    #[test]
    fn fuzz_amount_digit_boundary(
        int_digits in 1usize..=14,
        lead in 1u8..=9,
        rest in "[0-9]{13}",
        frac in "[0-9]{0,4}",
        code in prop::sample::select(vec!["EUR", "JPY", "KWD", "USD"]),
    ) {
        let int = format!("{lead}{}", &rest[..int_digits - 1]);
        let text = if frac.is_empty() { int } else { format!("{int}.{frac}") };
        let currency = Currency::parse(code).expect("currency");
        let mut b = payment();
        b["currency"] = json!(code);
        b["requestedAmount"] = serde_json::from_str(&text).expect("number");
        let decimals = u32::try_from(frac.trim_end_matches('0').len()).expect("small");
        // OPPWA's amount (its adapter's check): 12 integer digits, at most 2 decimals.
        let valid = int_digits <= 12 && decimals <= currency.minor_digits().min(2);
        match check::<PaymentCommand>(&b) {
            Ok(cmd) => {
                prop_assert!(valid, "accepted {} {}", text, code);
                let exact = Decimal::from_str(&text).expect("decimal").normalize();
                prop_assert_eq!(cmd.money.amount, exact);
            }
            Err(e) => {
                prop_assert!(!valid, "refused {} {}: {}", text, code, e.body.error_message);
                prop_assert_eq!(http(&e), 422);
            }
        }
    }

    /// A PSP family's text limit bounds a field together with the contract's maximum: a text
    /// is accepted exactly when it fits both, for any limit the family states.
    #[test]
    fn psp_text_limits_bound_each_field_with_the_contract(
        limit in 1usize..300,
        len in 1usize..300,
        at in 0usize..8,
    ) {
        // (where, field, contract's maximum, the family's limit it is also bound by)
        let fields: [Bounded; 8] = [
            ("", "transactionReferenceText", limits::REFERENCE_TEXT, |t| t.descriptor),
            ("payerData", "firstName", limits::NAME, |t| t.name),
            ("payerData", "lastName", limits::NAME, |t| t.name),
            ("payerData", "companyName", limits::COMPANY_NAME, |t| t.company),
            ("address", "city", limits::CITY, |t| t.city),
            ("address", "street", limits::ADDRESS_LINE, |t| t.street),
            ("address", "postalCode", limits::POSTAL_CODE, |t| t.postcode),
            ("initialBearer", "Holder", limits::HOLDER, |t| t.holder),
        ];
        let (place, field, contract, of) = fields[at];
        let psp = Family { roles: &[Role::Debit], texts: texts(limit), amount: |_| Ok(()) };
        let mut b = sepa_preauth();
        b["payerData"] = json!({});
        b["paymentMeansReference"]["initialBearer"]["Holder"] = json!("H");
        let v = json!("x".repeat(len));
        match place {
            "" => b[field] = v,
            "payerData" => b["payerData"][field] = v,
            "address" => b["payerData"]["address"] = json!({ field: v }),
            _ => b["paymentMeansReference"]["initialBearer"][field] = v,
        }
        let max = contract.min(of(&psp.texts));
        match check_with::<PreauthCommand>(&b, &psp) {
            Ok(_) => prop_assert!(len <= max, "{} of {} accepted, max {}", field, len, max),
            Err(e) => {
                prop_assert!(len > max, "{}: {}", field, e.body.error_message);
                prop_assert_eq!(http(&e), 422);
                let m = e.body.error_message;
                prop_assert!(m.contains(field), "{}", m);
                let said = format!("is {len} characters long; at most {max} are allowed");
                prop_assert!(m.ends_with(&said), "{}", m);
            }
        }
    }
}

#[test]
fn a_family_with_smaller_limits_refuses_what_oppwa_takes() {
    let sepa_preauth = || {
        let mut b = sepa_preauth();
        b["payerData"] = json!({"language": "EN"});
        b
    };
    assert_eq!(
        message_with::<PreauthCommand>(&sepa_preauth(), &small()),
        None
    );
    let cases: Vec<(Value, &str)> = vec![
        (
            {
                let mut b = sepa_preauth();
                b["payerData"]["firstName"] = json!("Maximiliane");
                b
            },
            "payerData.firstName: is 11 characters long; at most 10 are allowed",
        ),
        (
            {
                let mut b = sepa_preauth();
                b["transactionReferenceText"] = json!("YYNPG-MZXPB");
                b
            },
            "transactionReferenceText: is 11 characters long; at most 10 are allowed",
        ),
        (
            {
                let mut b = sepa_preauth();
                b["paymentMeansReference"]["initialBearer"]["Holder"] = json!("JOHN Q. DOE");
                b
            },
            "paymentMeansReference.initialBearer.Holder: is 11 characters long; at most 10 are \
             allowed",
        ),
        (
            {
                let mut b = sepa_preauth();
                b["payerData"]["address"] = json!({"street": "Main", "houseNumber": "12345a"});
                b
            },
            "payerData.address.street and houseNumber: are 11 characters long together (street, \
             space, house number); at most 10 are allowed",
        ),
        (
            {
                let mut b = sepa_preauth();
                b["paymentMeansReference"] = json!({"role": "CreditCard"});
                b
            },
            "paymentMeansReference.role: CreditCard is not supported (supported: Debit)",
        ),
        (
            {
                let mut b = sepa_preauth();
                b["requestedAmount"] = json!(100_000);
                b
            },
            "requestedAmount: is too large; at most 5 digits before the decimal point are allowed",
        ),
    ];
    for (body, refusal) in cases {
        assert_eq!(
            message_with::<PreauthCommand>(&body, &oppwa()),
            None,
            "{body}"
        );
        assert_eq!(
            message_with::<PreauthCommand>(&body, &small()).as_deref(),
            Some(refusal),
            "{body}"
        );
    }
    let mut b = payment();
    b["paymentMeansReference"] = json!({"role": "CreditCard"});
    assert_eq!(
        message_with::<PaymentCommand>(&b, &small()).as_deref(),
        Some("paymentMeansReference.role: CreditCard is not supported (supported: Debit)")
    );
    let mut b = payment();
    b["requestedAmount"] = json!(100_000);
    b["paymentMeansReference"] = Value::Null;
    let e = check_with::<PaymentCommand>(&b, &small()).err();
    assert_eq!(
        e.map(|e| (http(&e), e.body.error_code)),
        Some((422, PaymentErrorCode::InvalidAmount))
    );
}

#[test]
fn a_family_with_larger_limits_takes_what_oppwa_refuses_within_the_contract() {
    let mut payment_body = payment();
    payment_body["requestedAmount"] = serde_json::from_str("1000000000000.00").expect("number");
    payment_body["paymentMeansReference"] = json!({"role": "iDEAL"});
    payment_body["transactionReferenceText"] = json!("r".repeat(200));
    let mut kwd = payment();
    kwd["currency"] = json!("KWD");
    kwd["requestedAmount"] = serde_json::from_str("10.505").expect("number");
    let mut payer = sepa_preauth();
    payer["payerData"] = json!({
        "firstName": "f".repeat(49),
        "lastName": "l".repeat(255),
        "companyName": "c".repeat(61),
        "emailAddress": format!("{}@example.com", "e".repeat(120)),
        "address": {"city": "c".repeat(128), "postalCode": "12345"}
    });
    payer["paymentMeansReference"]["initialBearer"]["Holder"] = json!("H".repeat(129));
    for (body, oppwa_says) in [
        (
            &payment_body,
            "requestedAmount: is too large; at most 12 digits before the decimal point are allowed",
        ),
        (
            &kwd,
            "requestedAmount: 10.505 KWD has more than the two decimals the PSP accepts",
        ),
    ] {
        assert_eq!(
            message_with::<PaymentCommand>(body, &oppwa()).as_deref(),
            Some(oppwa_says)
        );
        assert_eq!(
            message_with::<PaymentCommand>(body, &large()),
            None,
            "{body}"
        );
    }
    // OPPWA refuses each of these on its own.
    for (field, value) in [
        ("firstName", json!("f".repeat(49))),
        ("companyName", json!("c".repeat(61))),
        (
            "emailAddress",
            json!(format!("{}@example.com", "e".repeat(120))),
        ),
        ("address", json!({"city": "c".repeat(81)})),
    ] {
        let mut b = sepa_preauth();
        b["payerData"][field] = value;
        assert!(
            message_with::<PreauthCommand>(&b, &oppwa())
                .is_some_and(|m| m.starts_with(&format!("payerData.{field}"))),
            "OPPWA refuses {field}"
        );
    }
    let mut b = sepa_preauth();
    b["paymentMeansReference"]["initialBearer"]["Holder"] = json!("H".repeat(129));
    assert!(message_with::<PreauthCommand>(&b, &oppwa()).is_some());
    let cmd = check_with::<PreauthCommand>(&payer, &large()).expect("the large family takes it");
    assert_eq!(cmd.payer.given_name.as_deref().map(str::len), Some(49));
    assert_eq!(cmd.sepa.map(|s| s.holder.len()), Some(129));

    // The contract's maxima and the domain's bound still apply.
    for (field, value, refusal) in [
        (
            "transactionReferenceText",
            json!("r".repeat(256)),
            "transactionReferenceText: is 256 characters long; at most 255 are allowed",
        ),
        (
            "requestedAmount",
            serde_json::from_str("1000000000000000000").expect("number"),
            "requestedAmount: is too large; at most 18 digits before the decimal point are \
             allowed",
        ),
    ] {
        let mut b = payment();
        b[field] = value;
        assert_eq!(
            message_with::<PaymentCommand>(&b, &large()).as_deref(),
            Some(refusal)
        );
    }
    let mut b = sepa_preauth();
    b["payerData"]["address"] = json!({"city": "c".repeat(129)});
    assert_eq!(
        message_with::<PreauthCommand>(&b, &large()).as_deref(),
        Some("payerData.address.city: is 129 characters long; at most 128 are allowed")
    );
    let mut b = sepa_preauth();
    b["payerData"]["address"] = json!({"postalCode": "1".repeat(13)});
    assert_eq!(
        message_with::<PreauthCommand>(&b, &large()).as_deref(),
        Some("payerData.address.postalCode: is 13 characters long; at most 12 are allowed")
    );
}
