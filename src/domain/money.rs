//! Exact money: a decimal amount in a known ISO-4217 currency. Never `f64`.

use std::fmt;

use iso_currency::Currency as IsoCurrency;
use rust_decimal::Decimal;

/// An ISO-4217 alphabetic currency code that is known to exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(IsoCurrency);

impl Currency {
    /// Parses a three-letter code; case-insensitive input, upper-case output.
    pub fn parse(code: &str) -> Option<Self> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() != 3 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return None;
        }
        IsoCurrency::from_code(&upper).map(Self)
    }

    pub fn code(&self) -> &'static str {
        self.0.code()
    }

    /// Number of minor-unit digits (2 for EUR, 0 for JPY).
    pub fn minor_digits(&self) -> u32 {
        self.0.exponent().map(u32::from).unwrap_or(2)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount with its currency. Amounts never carry more decimals than the currency allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money {
    pub amount: Decimal,
    pub currency: Currency,
}

/// Why an amount was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("must not be negative")]
    Negative,
    #[error("must be greater than 0")]
    NotPositive,
    #[error("has more decimals than {0} allows ({1})")]
    TooPrecise(&'static str, u32),
    #[error("is too large")]
    TooLarge,
}

/// The largest amount we accept: OPPWA allows 12 integer digits.
const MAX_AMOUNT: i64 = 999_999_999_999;

impl Money {
    /// Builds money after checking precision and size; `allow_zero` distinguishes preauths (>= 0)
    /// from payments and refunds (> 0).
    pub fn new(amount: Decimal, currency: Currency, allow_zero: bool) -> Result<Self, AmountError> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(if allow_zero {
                AmountError::Negative
            } else {
                AmountError::NotPositive
            });
        }
        if amount.is_zero() && !allow_zero {
            return Err(AmountError::NotPositive);
        }
        let digits = currency.minor_digits();
        if amount.normalize().scale() > digits {
            return Err(AmountError::TooPrecise(currency.code(), digits));
        }
        if amount > Decimal::from(MAX_AMOUNT) {
            return Err(AmountError::TooLarge);
        }
        Ok(Self {
            amount: amount.normalize(),
            currency,
        })
    }

    /// The amount with exactly the currency's minor digits, e.g. `92.00` (PSP wire format).
    pub fn fixed(&self) -> String {
        let mut a = self.amount;
        a.rescale(self.currency.minor_digits());
        a.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn eur() -> Currency {
        Currency::parse("eur").expect("EUR exists")
    }

    #[test]
    fn currency_codes() {
        assert_eq!(eur().code(), "EUR");
        assert!(Currency::parse("XYZ").is_none());
        assert!(Currency::parse("EURO").is_none());
        assert_eq!(Currency::parse("JPY").map(|c| c.minor_digits()), Some(0));
    }

    #[test]
    fn amount_rules() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal");
        assert_eq!(
            Money::new(d("0"), eur(), true).map(|m| m.fixed()),
            Ok("0.00".into())
        );
        assert_eq!(
            Money::new(d("0"), eur(), false),
            Err(AmountError::NotPositive)
        );
        assert_eq!(Money::new(d("-1"), eur(), true), Err(AmountError::Negative));
        assert!(matches!(
            Money::new(d("1.001"), eur(), true),
            Err(AmountError::TooPrecise(..))
        ));
        assert_eq!(
            Money::new(d("15.50"), eur(), false).map(|m| m.fixed()),
            Ok("15.50".into())
        );
        assert_eq!(
            Money::new(d("15.50"), eur(), false).map(|m| m.amount.to_string()),
            Ok("15.5".into())
        );
    }
}
