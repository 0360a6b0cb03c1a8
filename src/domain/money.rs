//! Exact money: a decimal amount in a known ISO-4217 currency. Never `f64`.

use std::fmt;

use iso_currency::Currency as IsoCurrency;
use rust_decimal::Decimal;

/// An ISO-4217 alphabetic code of an active tender currency: money a card or a SEPA debit can
/// carry. Funds (BOV, CLF, USN …), special codes (XXX, XTS, XDR, XAU/XAG/XPT/XPD, XBA–XBD, XSU,
/// XUA) and superseded codes (HRK …) are not currencies here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Currency(IsoCurrency);

/// Why a code is not an accepted currency.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CurrencyError {
    #[error("must be a three-letter ISO-4217 code such as EUR")]
    Malformed,
    #[error("{0} is not an ISO-4217 currency code")]
    Unknown(String),
    #[error("{0} is an ISO-4217 fund code, not a currency a payment can be made in")]
    Fund(&'static str),
    #[error(
        "{0} is an ISO-4217 special code (no currency, test, metal or unit of account), not a currency a payment can be made in"
    )]
    Special(&'static str),
    #[error("{0} is no longer legal tender; use {1}")]
    Superseded(&'static str, &'static str),
}

impl Currency {
    /// Parses a three-letter code (any case; upper-case output); `None` for anything that is not
    /// an active tender currency.
    pub fn parse(code: &str) -> Option<Self> {
        Self::tender(code).ok()
    }

    /// Like `parse`, with the reason for a refusal.
    pub fn tender(code: &str) -> Result<Self, CurrencyError> {
        let upper = code.trim().to_ascii_uppercase();
        if upper.len() != 3 || !upper.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CurrencyError::Malformed);
        }
        let iso = IsoCurrency::from_code(&upper).ok_or(CurrencyError::Unknown(upper))?;
        if iso.is_fund() {
            return Err(CurrencyError::Fund(iso.code()));
        }
        if iso.is_special() || iso.exponent().is_none() {
            return Err(CurrencyError::Special(iso.code()));
        }
        if let Some(by) = iso.flags().into_iter().find_map(|f| match f {
            iso_currency::Flag::Superseded(by) => Some(by),
            _ => None,
        }) {
            return Err(CurrencyError::Superseded(iso.code(), by.code()));
        }
        Ok(Self(iso))
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
    #[error(
        "is too large; at most {} digits before the decimal point are allowed",
        MAX_INTEGER_DIGITS
    )]
    TooLarge,
}

/// Digits before the decimal point of any amount: a PSP-neutral sanity bound, not a PSP's
/// maximum (each PSP family states its own through `PaymentProvider::check_amount`, checked
/// before anything is stored or sent). 18 digits keep every amount, and sums of many, exact in
/// `rust_decimal` (28 significant digits) and in `i128` minor units, whatever the currency's
/// decimals; more than the PSP families here take.
pub const MAX_INTEGER_DIGITS: u32 = 18;

/// The largest integer part: `10^MAX_INTEGER_DIGITS - 1`.
const MAX_INTEGER_PART: i64 = 999_999_999_999_999_999;

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
        // The integer part is what is bounded; the decimals come on top.
        if amount.trunc() > Decimal::from(MAX_INTEGER_PART) {
            return Err(AmountError::TooLarge);
        }
        Ok(Self {
            amount: amount.normalize(),
            currency,
        })
    }

    /// The largest whole amount the neutral bound allows in `currency` (all nines, no
    /// decimals): what a PSP's own maximum is probed with when an amount is beyond even this
    /// bound, so that the refusal can name the PSP's smaller limit.
    pub fn largest(currency: Currency) -> Self {
        Self {
            amount: Decimal::from(MAX_INTEGER_PART),
            currency,
        }
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
        for code in [
            "XXX", "XTS", "XAU", "XAG", "XPT", "XPD", "XDR", "BOV", "CHE", "CHW", "CLF", "COU",
            "MXV", "USN", "UYI", "UYW", "XSU", "XUA", "XBA", "XBB", "XBC", "XBD", "HRK",
        ] {
            assert!(Currency::parse(code).is_none(), "{code} is not tender");
        }
        assert!(matches!(
            Currency::tender("hrk"),
            Err(CurrencyError::Superseded("HRK", "EUR"))
        ));
        assert_eq!(Currency::parse("KWD").map(|c| c.minor_digits()), Some(3));
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

    #[test]
    fn the_neutral_bound_applies_whatever_the_decimals() {
        let d = |s: &str| Decimal::from_str(s).expect("decimal");
        let kwd = Currency::parse("KWD").expect("KWD");
        let jpy = Currency::parse("JPY").expect("JPY");
        for (amount, currency) in [
            ("999999999999999999.99", eur()),
            ("999999999999999999.999", kwd),
            ("999999999999999999", jpy),
            ("1000000000000.00", eur()),
        ] {
            assert_eq!(
                Money::new(d(amount), currency, false).map(|m| m.amount),
                Ok(d(amount).normalize()),
                "{amount} {currency}"
            );
        }
        for (amount, currency) in [
            ("1000000000000000000", eur()),
            ("1000000000000000000.001", kwd),
        ] {
            assert_eq!(
                Money::new(d(amount), currency, false),
                Err(AmountError::TooLarge),
                "{amount} {currency}"
            );
        }
        assert_eq!(
            10_i64.pow(MAX_INTEGER_DIGITS) - 1,
            MAX_INTEGER_PART,
            "one rule"
        );
        for c in [eur(), kwd, jpy] {
            let largest = Money::largest(c);
            assert_eq!(Money::new(largest.amount, c, false), Ok(largest), "{c}");
        }
    }
}
