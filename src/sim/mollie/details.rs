//! Test-mode card and bank data shown in payment and mandate `details`, the card failure reasons
//! and the magic amounts that force them (§2.9, §2.15, §3.21).

use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::money::Amount;

pub(crate) const CREDITOR_ID: &str = "NL08ZZZ502057730000";
pub(crate) const TEST_IBAN: &str = "NL91ABNA0417164300";
const TEST_BIC: &str = "ABNANL2A";
const HOLDER: &str = "T. TEST";

/// `failureReason` → the English `failureMessage`.
const CARD_FAILURES: &[(&str, &str)] = &[
    ("invalid_card_number", "The card number is invalid."),
    ("invalid_cvv", "The security code (CVV) is invalid."),
    (
        "invalid_card_holder_name",
        "The card holder name is invalid.",
    ),
    ("card_expired", "The card has expired."),
    ("invalid_card_type", "This card type is not accepted."),
    ("refused_by_issuer", "The issuer refused the payment."),
    ("insufficient_funds", "The card has insufficient funds."),
    ("inactive_card", "The card is not active."),
    (
        "possible_fraud",
        "The payment was refused because fraud is suspected.",
    ),
    (
        "authentication_failed",
        "The 3-D Secure authentication failed.",
    ),
    ("card_declined", "The card was declined."),
];

/// Card test amounts 1001.00–1011.00 EUR force a failure with these reasons (§2.15).
pub(crate) fn magic_failure(amount: &Amount) -> Option<&'static str> {
    if amount.currency != "EUR" || amount.value.fract() != Decimal::ZERO {
        return None;
    }
    let n = amount.value.trunc();
    let idx = (n - Decimal::from(1001))
        .to_string()
        .parse::<usize>()
        .ok()?;
    CARD_FAILURES.get(idx).map(|(r, _)| *r)
}

pub(crate) fn card_failure(reason: &str) -> Value {
    let msg = CARD_FAILURES
        .iter()
        .find(|(r, _)| *r == reason)
        .map_or("The payment failed.", |(_, m)| *m);
    let mut d = card();
    if let Value::Object(m) = &mut d {
        m.insert("failureReason".into(), reason.into());
        m.insert("failureMessage".into(), msg.into());
    }
    d
}

/// A paid test card's payment details (last four only).
pub(crate) fn card() -> Value {
    json!({
        "cardHolder": HOLDER,
        "cardNumber": "6787",
        "cardLabel": "Mastercard",
        "cardFingerprint": "sim0000000000000card",
        "cardCountryCode": "NL",
        "cardSecurity": "normal",
        "cardAudience": "consumer",
        "feeRegion": "other",
    })
}

/// Bank-method payment details (iDEAL, Bancontact, …).
pub(crate) fn bank() -> Value {
    json!({"consumerName": HOLDER, "consumerAccount": TEST_IBAN, "consumerBic": TEST_BIC})
}

/// A recurring direct debit's details at creation (§2.5).
pub(crate) fn debit(mandate: &Value, due_date: &str, reference: Option<&str>) -> Value {
    json!({
        "transferReference": "SD00-0000-0000-0000",
        "creditorIdentifier": CREDITOR_ID,
        "consumerName": mandate["consumerName"],
        "consumerAccount": mandate["consumerAccount"],
        "consumerBic": mandate["consumerBic"],
        "dueDate": due_date,
        "mandateReference": reference,
    })
}

/// SEPA return codes (ISO 20022) and their bank texts.
pub(crate) fn bank_reason(code: &str) -> &'static str {
    match code {
        "AC01" => "Account identifier incorrect (i.e. invalid IBAN)",
        "AC04" => "Account closed",
        "AC06" => "Account blocked",
        "AM04" => "Insufficient funds",
        "MD01" => "No mandate",
        "MD06" => "Refund request by end customer",
        "MS02" => "Refusal by the debtor",
        _ => "Reason not specified",
    }
}

/// The mandate a paid first payment leaves, by mandate method.
pub(crate) fn mandate(method: &str) -> Value {
    match method {
        "creditcard" => json!({
            "cardHolder": HOLDER,
            "cardNumber": "6787",
            "cardLabel": "Mastercard",
            "cardFingerprint": "sim0000000000000card",
            "cardExpiryDate": "2030-12-31",
        }),
        "paypal" => json!({"consumerName": HOLDER, "consumerAccount": "paypal-buyer@example.com"}),
        _ => bank(),
    }
}

/// ISO 13616 check: country, two check digits, alphanumerics, mod 97 == 1.
pub(crate) fn iban_ok(iban: &str) -> bool {
    let s: String = iban.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&s.len()) || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let (head, tail) = s.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let Some(v) = c.to_ascii_uppercase().to_digit(36) else {
            return false;
        };
        let digits = if v >= 10 { 100 } else { 10 };
        rem = (rem * digits + v) % 97;
    }
    rem == 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_amounts_and_ibans() {
        let a = |v: i64| Amount::new("EUR", Decimal::new(v * 100, 2));
        assert_eq!(magic_failure(&a(1001)), Some("invalid_card_number"));
        assert_eq!(magic_failure(&a(1011)), Some("card_declined"));
        assert_eq!(magic_failure(&a(1012)), None);
        assert_eq!(magic_failure(&a(1000)), None);
        assert_eq!(
            magic_failure(&Amount::new("EUR", Decimal::new(100150, 2))),
            None
        );
        assert!(iban_ok("NL91ABNA0417164300"));
        assert!(iban_ok("DE89 3704 0044 0532 0130 00"));
        assert!(iban_ok(TEST_IBAN));
        assert!(!iban_ok("NL91ABNA0417164301"));
        assert!(!iban_ok("not an iban"));
    }
}
