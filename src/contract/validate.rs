//! Parse, don't validate: request DTOs become checked commands here, and every rejection names
//! the field (422 `InvalidData`, or the more specific code the contract has for it).

use rust_decimal::Decimal;
use url::Url;

use super::error::ApiError;
use super::requests::{PayerData, PaymentMeansReference};
use crate::domain::{AmountError, BillwerkTxId, Currency, Money, PaymentErrorCode};
use crate::psp::Payer;

/// Longest free text we store (reference texts, ids from Billwerk).
const MAX_TEXT: usize = 512;

pub fn tx_id(field: &str, value: Option<&str>) -> Result<BillwerkTxId, ApiError> {
    let v = required(field, value)?;
    BillwerkTxId::parse(v)
        .ok_or_else(|| ApiError::invalid(field, "must have the format {yyyyMMdd}-{24 hex digits}"))
}

pub fn required<'a>(field: &str, value: Option<&'a str>) -> Result<&'a str, ApiError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => {
            if v.len() > MAX_TEXT {
                Err(ApiError::invalid(
                    field,
                    format!("is longer than {MAX_TEXT} characters"),
                ))
            } else {
                Ok(v)
            }
        }
        _ => Err(ApiError::invalid(field, "is required")),
    }
}

pub fn optional_text(field: &str, value: Option<&str>) -> Result<Option<String>, ApiError> {
    match value.map(str::trim) {
        Some(v) if v.len() > MAX_TEXT => Err(ApiError::invalid(
            field,
            format!("is longer than {MAX_TEXT} characters"),
        )),
        Some(v) if !v.is_empty() => Ok(Some(v.to_string())),
        _ => Ok(None),
    }
}

pub fn currency(value: Option<&str>) -> Result<Currency, ApiError> {
    let v = required("currency", value)?;
    Currency::parse(v).ok_or_else(|| {
        ApiError::invalid(
            "currency",
            format!("'{v}' is not an ISO-4217 currency code"),
        )
    })
}

/// `allow_zero`: preauths take 0 (card verification / mandate set-up); payments and refunds not.
pub fn money(
    amount: Option<Decimal>,
    cur: Option<&str>,
    allow_zero: bool,
) -> Result<Money, ApiError> {
    let amount = amount.ok_or_else(|| ApiError::invalid("requestedAmount", "is required"))?;
    let currency = currency(cur)?;
    Money::new(amount, currency, allow_zero).map_err(|e| match e {
        AmountError::Negative
        | AmountError::NotPositive
        | AmountError::TooPrecise(..)
        | AmountError::TooLarge => ApiError::invalid("requestedAmount", e),
    })
}

/// An absolute http(s) URL.
pub fn absolute_url(field: &str, value: Option<&str>) -> Result<Url, ApiError> {
    let v = required(field, value)?;
    parse_absolute(field, v)
}

pub fn optional_url(field: &str, value: Option<&str>) -> Result<Option<Url>, ApiError> {
    match value.map(str::trim) {
        Some(v) if !v.is_empty() => parse_absolute(field, v).map(Some),
        _ => Ok(None),
    }
}

fn parse_absolute(field: &str, v: &str) -> Result<Url, ApiError> {
    let url = Url::parse(v).map_err(|_| ApiError::invalid(field, "must be an absolute URL"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(ApiError::invalid(field, "must be an absolute http(s) URL"));
    }
    Ok(url)
}

/// The three return URLs of `paymentMeansReference` (all optional, contract §14.7).
#[derive(Debug, Clone, Default)]
pub struct ReturnUrls {
    pub success: Option<Url>,
    pub error: Option<Url>,
    pub abort: Option<Url>,
}

pub fn return_urls(pmr: &PaymentMeansReference) -> Result<ReturnUrls, ApiError> {
    let f = "paymentMeansReference";
    Ok(ReturnUrls {
        success: optional_url(
            &format!("{f}.successReturnUrl"),
            pmr.success_return_url.as_deref(),
        )?,
        error: optional_url(
            &format!("{f}.errorReturnUrl"),
            pmr.error_return_url.as_deref(),
        )?,
        abort: optional_url(
            &format!("{f}.abortReturnUrl"),
            pmr.abort_return_url.as_deref(),
        )?,
    })
}

/// A SEPA account from `initialBearer {Holder, IBAN[, BIC]}` (keys in any case).
#[derive(Clone)]
pub struct SepaAccount {
    pub holder: String,
    pub iban: String,
    pub bic: Option<String>,
}

pub fn sepa_account(pmr: &PaymentMeansReference) -> Result<SepaAccount, ApiError> {
    let base = "paymentMeansReference.initialBearer";
    let bearer = pmr
        .initial_bearer
        .as_ref()
        .ok_or_else(|| ApiError::invalid(base, "is required for role Debit (Holder and IBAN)"))?;
    let get = |k: &str| {
        bearer
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .and_then(|(_, v)| v.as_deref())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let holder =
        get("Holder").ok_or_else(|| ApiError::invalid(&format!("{base}.Holder"), "is required"))?;
    let raw_iban =
        get("IBAN").ok_or_else(|| ApiError::invalid(&format!("{base}.IBAN"), "is required"))?;
    let iban: String = raw_iban
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if !iban_is_valid(&iban) {
        return Err(ApiError::code(
            PaymentErrorCode::InvalidIBAN,
            format!("{base}.IBAN: is not a valid IBAN"),
        ));
    }
    Ok(SepaAccount {
        holder: holder.chars().take(128).collect(),
        iban,
        bic: get("BIC").map(str::to_ascii_uppercase),
    })
}

/// ISO 13616: length, country letters, and the mod-97 check.
pub fn iban_is_valid(iban: &str) -> bool {
    let b = iban.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let rearranged = iban[4..].chars().chain(iban[..4].chars());
    let mut rem: u32 = 0;
    for c in rearranged {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// The payer for the PSP; missing address parts are fine (contract §7.3).
pub fn payer(p: Option<&PayerData>) -> Payer {
    let Some(p) = p else { return Payer::default() };
    let clean = |v: &Option<String>| {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| s.chars().take(128).collect::<String>())
    };
    let addr = p.address.clone().unwrap_or_default();
    let street = match (clean(&addr.street), clean(&addr.house_number)) {
        (Some(s), Some(n)) => Some(format!("{s} {n}")),
        (Some(s), None) => Some(s),
        (None, _) => clean(&addr.address_line1),
    };
    Payer {
        given_name: clean(&p.first_name),
        surname: clean(&p.last_name),
        company: clean(&p.company_name),
        email: clean(&p.email_address),
        street,
        postcode: clean(&addr.postal_code),
        city: clean(&addr.city),
        country: clean(&addr.country)
            .filter(|c| c.len() == 2)
            .map(|c| c.to_ascii_uppercase()),
        language: clean(&p.language).map(|l| l.to_ascii_lowercase()),
        customer_id: clean(&p.external_customer_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iban_checksum() {
        assert!(iban_is_valid("DE89370400440532013000"));
        assert!(iban_is_valid("GB33BUKB20201555555555"));
        assert!(!iban_is_valid("DE89370400440532013001"));
        assert!(!iban_is_valid("DE8937"));
    }
}
