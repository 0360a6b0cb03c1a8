//! Mollie's amount format (Mollie "Amounts"): `{currency, value}` with `value` a string holding
//! exactly the currency's decimals, no thousands separator. Mollie uses 0 decimals for ISK and
//! JPY and 2 for every other currency it supports; it supports no 3-decimal currency.

use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::domain::Money;

/// Currencies Mollie carries without decimals.
const ZERO_DECIMALS: &[&str] = &["ISK", "JPY"];

/// Largest value we send: far above any method's maximum (which Mollie checks itself), and
/// well inside what every client parses exactly.
const MAX: i64 = 99_999_999;

/// The number of decimals Mollie uses for `currency`, or why it cannot carry it.
pub fn decimals(currency: &str) -> Result<u32, String> {
    if ZERO_DECIMALS.contains(&currency) {
        return Ok(0);
    }
    match crate::domain::Currency::parse(currency).map(|c| c.minor_digits()) {
        Some(2) => Ok(2),
        Some(d) => Err(format!(
            "{currency} has {d} decimals; Mollie carries only currencies with 2 (0 for ISK and JPY)"
        )),
        None => Err(format!("{currency} is not an ISO 4217 currency")),
    }
}

/// `value` of a Mollie amount: the amount with exactly the currency's decimals.
pub fn value(money: &Money) -> Result<String, String> {
    let code = money.currency.code();
    let digits = decimals(code)?;
    if money.amount.is_sign_negative() && !money.amount.is_zero() {
        return Err("must not be negative".into());
    }
    let mut a = money.amount.normalize();
    if a.scale() > digits {
        return Err(format!(
            "{} {code} has more decimals than Mollie accepts for {code} ({digits})",
            money.amount
        ));
    }
    if a > Decimal::from(MAX) {
        return Err(format!("is larger than {MAX}, more than Mollie accepts"));
    }
    a.rescale(digits);
    Ok(a.to_string())
}

/// The JSON amount object; callers checked the amount with [`value`] (through `check_amount`)
/// before anything was stored, so the fallback is never sent in practice.
pub fn json(money: &Money) -> Value {
    let v = value(money).unwrap_or_else(|_| money.fixed());
    json!({"currency": money.currency.code(), "value": v})
}

/// Reads an amount object's magnitude and currency (a negative `value` occurs in fixtures of
/// chargebacks: only the magnitude counts).
pub fn read(v: &Value) -> Option<(Decimal, String)> {
    let value = v.get("value")?.as_str()?;
    let currency = v.get("currency")?.as_str()?;
    let d: Decimal = value.trim().parse().ok()?;
    Some((d.abs(), currency.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Currency;

    fn money(amount: &str, currency: &str) -> Money {
        Money {
            amount: amount.parse().expect("decimal"),
            currency: Currency::parse(currency).expect("currency"),
        }
    }

    #[test]
    fn formats_per_currency_exponent() {
        assert_eq!(value(&money("16.1", "EUR")).as_deref(), Ok("16.10"));
        assert_eq!(value(&money("10", "EUR")).as_deref(), Ok("10.00"));
        assert_eq!(value(&money("0", "EUR")).as_deref(), Ok("0.00"));
        assert_eq!(
            value(&money("1234567.5", "USD")).as_deref(),
            Ok("1234567.50")
        );
        assert_eq!(value(&money("1000", "JPY")).as_deref(), Ok("1000"));
        assert_eq!(value(&money("1000.00", "JPY")).as_deref(), Ok("1000"));
        assert_eq!(value(&money("500", "ISK")).as_deref(), Ok("500"));
        assert_eq!(value(&money("1.5", "HUF")).as_deref(), Ok("1.50"));
        assert_eq!(
            json(&money("3", "GBP")),
            json!({"currency": "GBP", "value": "3.00"})
        );
    }

    #[test]
    fn refuses_what_mollie_cannot_carry() {
        assert!(value(&money("1.5", "JPY")).is_err());
        assert!(value(&money("0.001", "EUR")).is_err());
        let e = value(&money("1.000", "BHD")).expect_err("3 decimals");
        assert!(e.contains("BHD"), "{e}");
        assert!(value(&money("1", "KWD")).is_err());
        assert!(value(&money("100000000", "EUR")).is_err());
        assert!(value(&money("-1", "EUR")).is_err());
    }

    #[test]
    fn reads_magnitudes() {
        let (d, c) = read(&json!({"currency": "EUR", "value": "-13.00"})).expect("amount");
        assert_eq!((d, c.as_str()), (Decimal::new(1300, 2), "EUR"));
        assert!(read(&json!({"currency": "EUR", "value": 13})).is_none());
    }
}
