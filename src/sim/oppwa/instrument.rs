//! Reading and checking payment instruments from parameters: cards (`card.*`) and SEPA accounts (`bankAccount.*`).

use chrono::{DateTime, NaiveDate, Utc};
use serde_json::{Map, Value};

use super::codes;
use super::forms::{Checks, ParamError, expired, iban_ok, luhn_ok};
use super::state::CardData;

fn matches_digits(v: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_digit())
}

/// Format checks on `card.*`; errors go into `c`.
pub(crate) fn read_card(c: &mut Checks) -> Option<CardData> {
    let number = c.required("card.number");
    if number.is_some_and(|n| !matches_digits(n, 12, 19)) {
        c.fail("card.number", "must match ^[0-9]{12,19}$");
    }
    let month = c.required("card.expiryMonth");
    let month_ok = month.is_some_and(|m| {
        matches_digits(m, 2, 2) && m.parse::<u32>().is_ok_and(|v| (1..=12).contains(&v))
    });
    if month.is_some() && !month_ok {
        c.fail("card.expiryMonth", "must match ^(0[1-9]|1[0-2])$");
    }
    let year = c.required("card.expiryYear");
    if year.is_some_and(|y| !matches_digits(y, 4, 4)) {
        c.fail("card.expiryYear", "must match ^(19|20)([0-9]{2})$");
    }
    if c.p
        .get("card.cvv")
        .is_some_and(|v| !matches_digits(v, 3, 4))
    {
        c.fail("card.cvv", "must match ^[0-9]{3,4}$");
    }
    let holder = c.p.get("card.holder");
    if holder.is_some_and(|h| h.chars().count() > 128) {
        c.fail("card.holder", "must have a length between 3 and 128");
    }
    Some(CardData {
        number: number?.to_string(),
        holder: holder.map(str::to_string),
        expiry_month: month?.to_string(),
        expiry_year: year?.to_string(),
    })
}

/// Account-level rejections of a well-formed card: Luhn (§7) and expiry.
pub(crate) fn card_rejection(
    card: &CardData,
    now: DateTime<Utc>,
) -> Option<(&'static str, ParamError)> {
    let err = |name: &str, value: &str, message: &str| ParamError {
        name: name.into(),
        value: value.into(),
        message: message.into(),
    };
    if !luhn_ok(&card.number) {
        return Some((
            codes::INVALID_ACCOUNT,
            err("card.number", "", "card number failed the Luhn check"),
        ));
    }
    let month = card.expiry_month.parse().unwrap_or(0);
    let year = card.expiry_year.parse().unwrap_or(0);
    expired(month, year, now).then(|| {
        (
            codes::CARD_EXPIRED,
            err("card.expiryYear", &card.expiry_year, "card expired"),
        )
    })
}

/// Format checks on `bankAccount.*`; returns the echo object.
pub(crate) fn read_bank(c: &mut Checks) -> Option<Value> {
    let holder = c.required("bankAccount.holder");
    let iban = c.required("bankAccount.iban");
    let bic = c.p.get("bankAccount.bic");
    let bic_ok = |b: &str| {
        (b.len() == 8 || b.len() == 11)
            && b.bytes()
                .all(|x| x.is_ascii_uppercase() || x.is_ascii_digit())
    };
    if bic.is_some_and(|b| !bic_ok(b)) {
        c.fail("bankAccount.bic", "must match ^[A-Z0-9]{8}([A-Z0-9]{3})?$");
    }
    let country = c.p.get("bankAccount.country");
    if country.is_some_and(|v| v.len() != 2 || !v.bytes().all(|b| b.is_ascii_uppercase())) {
        c.fail("bankAccount.country", "must match ^[A-Z]{2}$");
    }
    let signed = c.p.get("bankAccount.mandate.dateOfSignature");
    if signed.is_some_and(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").is_err()) {
        c.fail(
            "bankAccount.mandate.dateOfSignature",
            "must match YYYY-MM-DD",
        );
    }
    let iban: String = iban?
        .chars()
        .filter(|ch| !ch.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let mut m = Map::new();
    m.insert("holder".into(), holder?.into());
    let derived = iban.get(..2).unwrap_or("").to_string();
    m.insert("iban".into(), iban.into());
    if let Some(b) = bic {
        m.insert("bic".into(), b.into());
    }
    m.insert(
        "country".into(),
        country.map_or(derived, str::to_string).into(),
    );
    let mandate_id = c.p.get("bankAccount.mandate.id");
    if mandate_id.is_some() || signed.is_some() {
        let mut md = Map::new();
        if let Some(id) = mandate_id {
            md.insert("id".into(), id.into());
        }
        if let Some(d) = signed {
            md.insert("dateOfSignature".into(), d.into());
        }
        m.insert("mandate".into(), Value::Object(md));
    }
    Some(Value::Object(m))
}

pub(crate) fn bank_rejection(bank: &Value) -> Option<(&'static str, ParamError)> {
    let iban = bank.get("iban").and_then(Value::as_str).unwrap_or("");
    (!iban_ok(iban)).then(|| {
        (
            codes::INVALID_ACCOUNT,
            ParamError {
                name: "bankAccount.iban".into(),
                value: iban.into(),
                message: "invalid IBAN".into(),
            },
        )
    })
}
