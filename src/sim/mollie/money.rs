//! Mollie amounts: `{"currency": "EUR", "value": "10.00"}` with the value a string carrying
//! exactly the currency's number of decimals (contract `mollie.md` §2.11, §3.5).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Currencies Mollie accepts, with their decimals at Mollie: 0 for ISK and JPY, 2 for every
/// other one (HUF keeps 2 at Mollie). No 3-decimal currency is supported (§2.11).
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AUD", 2),
    ("BGN", 2),
    ("BRL", 2),
    ("CAD", 2),
    ("CHF", 2),
    ("CZK", 2),
    ("DKK", 2),
    ("EUR", 2),
    ("GBP", 2),
    ("HKD", 2),
    ("HUF", 2),
    ("ILS", 2),
    ("ISK", 0),
    ("JPY", 0),
    ("MXN", 2),
    ("MYR", 2),
    ("NOK", 2),
    ("NZD", 2),
    ("PHP", 2),
    ("PLN", 2),
    ("RON", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("THB", 2),
    ("TWD", 2),
    ("USD", 2),
    ("ZAR", 2),
];

/// Decimals of `currency` at Mollie; `None` for a currency Mollie does not support.
pub(crate) fn decimals(currency: &str) -> Option<u32> {
    CURRENCIES
        .iter()
        .find(|(c, _)| *c == currency)
        .map(|(_, d)| *d)
}

/// An exact amount in one currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Amount {
    pub currency: String,
    pub value: Decimal,
}

impl Amount {
    pub(crate) fn new(currency: &str, value: Decimal) -> Self {
        Self {
            currency: currency.to_string(),
            value,
        }
    }

    /// The value as Mollie writes it: the currency's decimals, no thousands separator.
    pub(crate) fn value_str(&self) -> String {
        let mut v = self.value;
        v.rescale(decimals(&self.currency).unwrap_or(2));
        v.to_string()
    }

    pub(crate) fn json(&self) -> Value {
        json!({"currency": self.currency, "value": self.value_str()})
    }

    /// The amount as a negative value (settlement amounts of refunds and chargebacks).
    pub(crate) fn negated_json(&self) -> Value {
        Amount::new(&self.currency, -self.value).json()
    }
}

/// Why an `amount` object was refused, with the field Mollie names.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AmountError {
    pub field: String,
    pub detail: String,
}

/// Parses `amount` (the object under `name`) strictly: a supported currency and a string value
/// with exactly that currency's decimals, not negative.
pub(crate) fn parse(v: Option<&Value>, name: &str) -> Result<Amount, AmountError> {
    let err = |suffix: &str, detail: &str| AmountError {
        field: if suffix.is_empty() {
            name.to_string()
        } else {
            format!("{name}.{suffix}")
        },
        detail: detail.to_string(),
    };
    let Some(Value::Object(m)) = v else {
        return Err(err("", &format!("The {name} is missing or not an object")));
    };
    let currency = match m.get("currency") {
        Some(Value::String(c)) => c.as_str(),
        _ => return Err(err("currency", "The currency is missing or not a string")),
    };
    let Some(places) = decimals(currency) else {
        return Err(err(
            "currency",
            &format!("The currency '{currency}' is not supported"),
        ));
    };
    let raw = match m.get("value") {
        Some(Value::String(s)) => s.as_str(),
        _ => return Err(err("value", "The amount value must be a string")),
    };
    let (int, frac) = match raw.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (raw, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let frac_ok = match frac {
        None => places == 0,
        Some(f) => places > 0 && f.len() == places as usize && digits(f),
    };
    if int.len() > 12 && digits(int) {
        return Err(AmountError {
            field: name.to_string(),
            detail: "The amount is higher than the maximum".into(),
        });
    }
    if !digits(int) || !frac_ok {
        return Err(err(
            "value",
            &format!(
                "The amount value '{raw}' is invalid: {currency} needs exactly {places} decimals"
            ),
        ));
    }
    let value = Decimal::from_str(raw).map_err(|_| err("value", "The amount value is invalid"))?;
    Ok(Amount::new(currency, value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn p(c: &str, v: &str) -> Result<Amount, AmountError> {
        parse(Some(&json!({"currency": c, "value": v})), "amount")
    }

    #[test]
    fn values_carry_exactly_the_currency_decimals() {
        assert_eq!(p("EUR", "10.00").unwrap().value_str(), "10.00");
        assert_eq!(p("JPY", "1000").unwrap().value_str(), "1000");
        assert_eq!(p("ISK", "5").unwrap().value_str(), "5");
        for (c, v) in [
            ("EUR", "16.1"),
            ("EUR", "16"),
            ("EUR", "1.000"),
            ("JPY", "10.00"),
        ] {
            assert_eq!(p(c, v).unwrap_err().field, "amount.value", "{c} {v}");
        }
        for v in ["-1.00", "1,00", " 1.00", "1e2", ""] {
            assert_eq!(p("EUR", v).unwrap_err().field, "amount.value", "{v}");
        }
        assert_eq!(p("BHD", "1.000").unwrap_err().field, "amount.currency");
        assert_eq!(
            p("USD", "79228162514264337593543950335.00")
                .unwrap_err()
                .field,
            "amount"
        );
        let num = parse(Some(&json!({"currency": "EUR", "value": 10})), "amount");
        assert_eq!(num.unwrap_err().field, "amount.value");
        assert_eq!(parse(None, "amount").unwrap_err().field, "amount");
    }

    #[test]
    fn negated_amounts_keep_the_format() {
        let a = Amount::new("EUR", Decimal::new(350, 2));
        assert_eq!(
            a.negated_json(),
            json!({"currency": "EUR", "value": "-3.50"})
        );
    }
}
