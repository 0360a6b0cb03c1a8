//! The one place where wire requests become checked commands. Every rule about a request field
//! lives here once: type, presence, length, character set, id formats, currencies and amounts.
//! Flows receive only these commands. Every refusal is a 4xx error object whose message starts
//! with the field's name and states the rule in plain words.
//!
//! Limits come from two places. The contract's own (§4, §6, §7; `payerData.address` lengths
//! from §7.3) and this service's sanity bounds are the constants in [`limits`]. What the
//! merchant's PSP family accepts — text lengths, payment roles, the amount's format and
//! maximum — comes from its adapter through [`Rules::psp`]; where both bound a field, the
//! smaller wins. Nothing is cut short: what does not fit is refused. Lengths count Unicode
//! characters.

use std::collections::HashMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::Value;
use url::Url;

use super::error::ApiError;
use super::validate::{self, ReturnUrls, SepaAccount};
use super::wire::Obj;
use crate::domain::{
    AmountError, BillwerkTxId, Currency, CurrencyError, Money, Payer, PaymentErrorCode, Role,
    TextLimits,
};

/// A request body that can be checked into a command.
pub trait FromBody: Sized {
    /// Checks `body` against the contract and against `rules` (the webhook policy and what the
    /// merchant's PSP family accepts).
    fn from_body(body: &Obj<'_>, rules: &Rules<'_>) -> Result<Self, ApiError>;
}

/// What the checks of a request depend on beyond the contract, known once the merchant is:
/// which `webhookTarget`s are acceptable, and what the merchant's PSP family accepts.
#[derive(Clone, Copy)]
pub struct Rules<'a> {
    pub targets: &'a dyn WebhookTargets,
    pub psp: &'a dyn PspRules,
}

/// The `webhookTarget` allow-list (the outbox's SSRF guard), as the request check needs it.
pub trait WebhookTargets {
    /// `Ok` if webhooks may be sent to `url`; otherwise the reason, in plain words.
    fn check(&self, url: &Url) -> Result<(), String>;
}

/// What the merchant's PSP family accepts, from its adapter (its capabilities and its amount
/// check). Checked with the request, before anything is stored or sent.
pub trait PspRules {
    /// The payment roles the family can take (contract §7.2); others are 422 naming `role`.
    fn roles(&self) -> &[Role];
    /// The longest texts the PSP takes; a field is bounded by the smaller of this and the
    /// contract's maximum.
    fn texts(&self) -> TextLimits;
    /// Whether the PSP can carry the amount (its amount format and maximum); the error says why
    /// not and becomes 422 `InvalidAmount` on `requestedAmount`.
    fn check_amount(&self, money: &Money) -> Result<(), String>;
}

/// The contract's maximum lengths and this service's own bounds, in characters (Unicode scalar
/// values), per field; the PSP family's may be smaller ([`PspRules::texts`]). The README's
/// endpoint section lists them with their sources.
pub mod limits {
    /// `agreementId`: Billwerk sends a 24-hex ObjectId; room for other id schemes.
    pub const AGREEMENT_ID: usize = 64;
    pub const PSP_SETTINGS_ID: usize = 64;
    pub const MIGRATION_TOKEN: usize = 255;
    /// `webhookTarget` and the return URLs.
    pub const URL: usize = 2048;
    /// The contract gives none; our bound. The PSP's descriptor limit applies too.
    pub const REFERENCE_TEXT: usize = 255;
    pub const INVOICE_REFERENCE_TEXT: usize = 255;
    pub const EXTERNAL_CUSTOMER_ID: usize = 255;
    /// The contract gives none; our bound. The PSP's company limit applies too.
    pub const COMPANY_NAME: usize = 255;
    /// `firstName`, `lastName`: the contract gives none; our bound. The PSP's applies too.
    pub const NAME: usize = 255;
    pub const VAT_ID: usize = 32;
    /// RFC 5321's longest address (the contract gives none). The PSP's applies too.
    pub const EMAIL: usize = 254;
    pub const PHONE: usize = 32;
    pub const ADDRESS_LINE: usize = 64;
    pub const HOUSE_NUMBER: usize = 12;
    pub const POSTAL_CODE: usize = 12;
    /// Contract §7.3; the PSP's city limit applies too.
    pub const CITY: usize = 128;
    pub const STATE: usize = 64;
    /// `initialBearer.Holder`: the contract gives none; our bound. The PSP's applies too.
    pub const HOLDER: usize = 255;
    pub const BEARER_ENTRIES: usize = 16;
    pub const BEARER_KEY: usize = 64;
    pub const BEARER_VALUE: usize = 256;
    pub const SETTINGS_ENTRIES: usize = 32;
    pub const SETTING_NAME: usize = 64;
    pub const SETTING_VALUE: usize = 1024;
    /// Digits before the decimal point of any amount: the domain's PSP-neutral bound; the
    /// PSP's own maximum is [`super::PspRules::check_amount`].
    pub const AMOUNT_INTEGER_DIGITS: i64 = crate::domain::money::MAX_INTEGER_DIGITS as i64;
}

fn invalid(field: &str, rule: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(field, rule)
}

/// Control characters (C0, DEL, C1) and the Unicode line/paragraph separators.
fn is_forbidden(c: char) -> bool {
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// Free text: any characters but control characters; surrounding spaces are dropped; empty means
/// absent; longer than `max` characters is refused.
fn text(obj: &Obj<'_>, name: &str, max: usize) -> Result<Option<String>, ApiError> {
    let Some(raw) = obj.string(name)? else {
        return Ok(None);
    };
    let field = obj.field(name);
    if raw.chars().any(is_forbidden) {
        return Err(invalid(
            &field,
            "must not contain control characters (such as NUL, tab, CR or LF)",
        ));
    }
    let v = raw.trim();
    if v.is_empty() {
        return Ok(None);
    }
    let n = v.chars().count();
    if n > max {
        return Err(invalid(
            &field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    Ok(Some(v.to_string()))
}

/// An identifier: if present it must be non-empty, at most `max` characters, and use only
/// `allowed` characters (no spaces, no control characters).
fn identifier(
    obj: &Obj<'_>,
    name: &str,
    max: usize,
    allowed: fn(char) -> bool,
    charset: &str,
) -> Result<Option<String>, ApiError> {
    let Some(v) = obj.string(name)? else {
        return Ok(None);
    };
    let field = obj.field(name);
    if v.chars().any(is_forbidden) {
        return Err(invalid(&field, "must not contain control characters"));
    }
    if v.is_empty() {
        return Err(invalid(
            &field,
            "must not be empty; leave it out (or null) when there is none",
        ));
    }
    let n = v.chars().count();
    if n > max {
        return Err(invalid(
            &field,
            format!("is {n} characters long; at most {max} are allowed"),
        ));
    }
    if !v.chars().all(allowed) {
        return Err(invalid(&field, format!("may contain only {charset}")));
    }
    Ok(Some(v.to_string()))
}

fn id_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

const ID_CHARSET: &str = "letters A-Z/a-z, digits and - _ . :";

fn required<T>(field: String, v: Option<T>) -> Result<T, ApiError> {
    v.ok_or_else(|| invalid(&field, "is required"))
}

/// A Billwerk transaction id (`{yyyyMMdd}-{24 hex digits}`); `None` when absent or null, 422
/// when empty or malformed.
fn tx_id(obj: &Obj<'_>, name: &str) -> Result<Option<BillwerkTxId>, ApiError> {
    let Some(v) = obj.string(name)? else {
        return Ok(None);
    };
    let field = obj.field(name);
    if v.is_empty() {
        return Err(invalid(
            &field,
            "must not be empty; leave it out (or null) when there is none",
        ));
    }
    BillwerkTxId::parse(v).map(Some).ok_or_else(|| {
        invalid(
            &field,
            "must have the format {yyyyMMdd}-{24 hex digits}, e.g. 20221108-636bd596c10cfc318b1bfabb",
        )
    })
}

/// A required field: an empty string is "missing", with the same message as an absent one.
fn not_empty(obj: &Obj<'_>, name: &str) -> Result<(), ApiError> {
    match obj.string(name) {
        Ok(Some("")) => Err(invalid(&obj.field(name), "is required")),
        _ => Ok(()),
    }
}

fn required_tx_id(obj: &Obj<'_>, name: &str) -> Result<BillwerkTxId, ApiError> {
    not_empty(obj, name)?;
    required(obj.field(name), tx_id(obj, name)?)
}

fn agreement_id(obj: &Obj<'_>) -> Result<String, ApiError> {
    not_empty(obj, "agreementId")?;
    let v = identifier(
        obj,
        "agreementId",
        limits::AGREEMENT_ID,
        id_char,
        ID_CHARSET,
    )?;
    required(obj.field("agreementId"), v)
}

/// `pspSettingsId` is not used, but when sent it must be a plausible id.
fn psp_settings_id(obj: &Obj<'_>) -> Result<(), ApiError> {
    identifier(
        obj,
        "pspSettingsId",
        limits::PSP_SETTINGS_ID,
        id_char,
        ID_CHARSET,
    )
    .map(drop)
}

/// An absolute http(s) URL of at most 2048 characters.
fn url(obj: &Obj<'_>, name: &str) -> Result<Option<Url>, ApiError> {
    let Some(v) = obj.string(name)? else {
        return Ok(None);
    };
    let field = obj.field(name);
    if v.chars().any(|c| is_forbidden(c) || c.is_whitespace()) {
        return Err(invalid(
            &field,
            "must not contain spaces or control characters",
        ));
    }
    if v.is_empty() {
        return Ok(None);
    }
    if v.chars().count() > limits::URL {
        return Err(invalid(
            &field,
            format!("is longer than {} characters", limits::URL),
        ));
    }
    validate::parse_absolute(&field, v).map(Some)
}

fn webhook_target(obj: &Obj<'_>, targets: &dyn WebhookTargets) -> Result<Url, ApiError> {
    let field = obj.field("webhookTarget");
    let url = required(field.clone(), url(obj, "webhookTarget")?)?;
    targets.check(&url).map_err(|e| invalid(&field, e))?;
    Ok(url)
}

/// `currency`: an active tender ISO-4217 code (any letter case).
pub fn currency(obj: &Obj<'_>) -> Result<Currency, ApiError> {
    let field = obj.field("currency");
    let v = required(field.clone(), obj.string("currency")?)?;
    // Exactly three letters, nothing around them (the OpenAPI pattern); the error echoes a code
    // only after checking it is three letters.
    let exact = if v.trim() == v {
        Currency::tender(v)
    } else {
        Err(CurrencyError::Malformed)
    };
    exact.map_err(|e: CurrencyError| {
        ApiError::code(PaymentErrorCode::InvalidCurrency, format!("{field}: {e}"))
    })
}

/// `requestedAmount` with `currency`: a JSON number (strings are refused), exact, with no more
/// decimals than the currency has (trailing zeros do not count), within the domain's neutral
/// bound and what the merchant's PSP can carry (`psp.check_amount`: its amount format and
/// maximum). `allow_zero` is for preauths (≥ 0); payments and refunds need > 0.
pub fn money(obj: &Obj<'_>, allow_zero: bool, psp: &dyn PspRules) -> Result<Money, ApiError> {
    let field = obj.field("requestedAmount");
    let text = required(field.clone(), obj.number_text("requestedAmount")?)?;
    let currency = currency(obj)?;
    let refuse = |e: &dyn std::fmt::Display| {
        ApiError::code(PaymentErrorCode::InvalidAmount, format!("{field}: {e}"))
    };
    let amount = exact_amount(&text, currency, allow_zero).map_err(|e| match e {
        // Beyond even the neutral bound: the PSP's own (smaller) maximum, when it has one, is
        // the limit worth naming.
        AmountError::TooLarge => match psp.check_amount(&Money::largest(currency)) {
            Err(why) => refuse(&why),
            Ok(()) => refuse(&e),
        },
        e => refuse(&e),
    })?;
    let money = Money::new(amount, currency, allow_zero).map_err(|e| refuse(&e))?;
    psp.check_amount(&money).map_err(|e| refuse(&e))?;
    Ok(money)
}

/// SEPA Direct Debit moves euros only (EPC SDD rulebooks, whatever the PSP): a `Debit`
/// preauth or payment in another currency is refused with 422 `InvalidCurrency` before anything
/// is stored or sent to the PSP. Used here for `role: Debit` and by the flows for a payment or
/// preauth on a stored SEPA mandate (whose role the request may leave out).
pub fn sepa_currency(money: &Money) -> Result<(), ApiError> {
    if money.currency.code() == "EUR" {
        return Ok(());
    }
    Err(ApiError::code(
        PaymentErrorCode::InvalidCurrency,
        format!(
            "currency: {} cannot be collected by SEPA Direct Debit (role Debit), which is \
             euro-only; send EUR",
            money.currency
        ),
    ))
}

/// An amount from the exact text of a JSON number (`-?int(.frac)?(e[+-]?exp)?`), without any
/// rounding or floating point.
pub fn exact_amount(
    text: &str,
    currency: Currency,
    allow_zero: bool,
) -> Result<Decimal, AmountError> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exponent) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, "0"),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AmountError::TooLarge);
    }
    let significant = digits.trim_start_matches('0');
    let leading = (digits.len() - significant.len()) as i64;
    let significant = significant.trim_end_matches('0');
    let is_zero = significant.is_empty();
    if negative && !is_zero {
        return Err(if allow_zero {
            AmountError::Negative
        } else {
            AmountError::NotPositive
        });
    }
    if is_zero {
        return if allow_zero {
            Ok(Decimal::ZERO)
        } else {
            Err(AmountError::NotPositive)
        };
    }
    // An absurd exponent is clamped: it only has to be far outside the allowed range.
    let exp: i64 = {
        let e = exponent.trim_start_matches('+');
        let (neg, mag) = match e.strip_prefix('-') {
            Some(m) => (true, m),
            None => (false, e),
        };
        let mag: i64 = if mag.len() > 6 {
            1_000_000
        } else {
            mag.parse().unwrap_or(1_000_000)
        };
        if neg { -mag } else { mag }
    };
    // Position of the decimal point counted from the first significant digit.
    let point = int.len() as i64 + exp - leading;
    let len = significant.len() as i64;
    let scale = (len - point).max(0);
    let digits_max = i64::from(currency.minor_digits());
    if scale > digits_max {
        return Err(AmountError::TooPrecise(
            currency.code(),
            currency.minor_digits(),
        ));
    }
    if point > limits::AMOUNT_INTEGER_DIGITS {
        return Err(AmountError::TooLarge);
    }
    // At most 18 + 4 digits here (the neutral bound), so this fits an i128 and a Decimal.
    let zeros = (point - len).max(0) as usize;
    let whole: String = significant
        .chars()
        .chain(std::iter::repeat_n('0', zeros))
        .collect();
    let mantissa: i128 = whole.parse().map_err(|_| AmountError::TooLarge)?;
    let scale = u32::try_from(scale).map_err(|_| AmountError::TooLarge)?;
    Ok(Decimal::from_i128_with_scale(mantissa, scale))
}

/// `role` (contract §2.4), which must also be one the merchant's PSP family can take.
fn role(obj: &Obj<'_>, psp: &dyn PspRules) -> Result<Option<Role>, ApiError> {
    let Some(v) = obj.get("role") else {
        return Ok(None);
    };
    // A name in any case or the number (also as digits in a string), as the contract says
    // (§2.4); nothing around it, so the OpenAPI pattern states the rule exactly.
    let found = match v {
        Value::String(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i64>().ok().and_then(Role::from_number)
        }
        Value::String(s) => Role::ALL
            .iter()
            .copied()
            .find(|r| r.name().eq_ignore_ascii_case(s)),
        Value::Number(n) => n.as_i64().and_then(Role::from_number),
        _ => None,
    };
    let role = found.ok_or_else(|| {
        let names: Vec<&str> = Role::ALL.iter().map(|r| r.name()).collect();
        invalid(
            &obj.field("role"),
            format!("must be one of {} (name or number)", names.join(", ")),
        )
    })?;
    if !psp.roles().contains(&role) {
        let names: Vec<&str> = psp.roles().iter().map(|r| r.name()).collect();
        return Err(invalid(
            &obj.field("role"),
            format!("{role} is not supported (supported: {})", names.join(", ")),
        ));
    }
    Ok(Some(role))
}

fn date(obj: &Obj<'_>, name: &str) -> Result<Option<NaiveDate>, ApiError> {
    let Some(v) = obj.string(name)? else {
        return Ok(None);
    };
    if v.is_empty() {
        return Ok(None);
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .map(Some)
        .map_err(|_| invalid(&obj.field(name), "must be a date written yyyy-MM-dd"))
}

/// `payerData` (contract §7.2/§7.3) as the PSP's payer, within the contract's and the PSP's
/// lengths (`psp`). Missing parts are fine.
fn payer(obj: &Obj<'_>, psp: &TextLimits) -> Result<Payer, ApiError> {
    let Some(p) = obj.object("payerData")? else {
        return Ok(Payer::default());
    };
    let external_customer_id = text(&p, "externalCustomerId", limits::EXTERNAL_CUSTOMER_ID)?;
    let company = text(&p, "companyName", limits::COMPANY_NAME.min(psp.company))?;
    let name = limits::NAME.min(psp.name);
    let given_name = text(&p, "firstName", name)?;
    let surname = text(&p, "lastName", name)?;
    text(&p, "vatId", limits::VAT_ID)?;
    text(&p, "phoneNumber", limits::PHONE)?;
    let email = text(&p, "emailAddress", limits::EMAIL.min(psp.email))?;
    if let Some(e) = &email {
        let ok = !e.contains(char::is_whitespace)
            && e.split_once('@')
                .is_some_and(|(local, domain)| !local.is_empty() && domain.len() >= 3);
        if !ok {
            return Err(invalid(
                &p.field("emailAddress"),
                "must be an e-mail address such as jane@example.com",
            ));
        }
    }
    let language = language(&p)?;
    let (mut street, mut postcode, mut city, mut country) = (None, None, None, None);
    if let Some(a) = p.object("address")? {
        let line = limits::ADDRESS_LINE.min(psp.street);
        let line1 = text(&a, "addressLine1", line)?;
        text(&a, "addressLine2", limits::ADDRESS_LINE)?;
        let s = text(&a, "street", line)?;
        let n = text(&a, "houseNumber", limits::HOUSE_NUMBER)?;
        postcode = text(&a, "postalCode", limits::POSTAL_CODE.min(psp.postcode))?;
        city = text(&a, "city", limits::CITY.min(psp.city))?;
        text(&a, "state", limits::STATE)?;
        country = two_letters(&a, "country", "an ISO 3166 alpha-2 code such as DE")?
            .map(|c| c.to_ascii_uppercase());
        street = match (s, n) {
            (Some(s), Some(n)) => {
                // Sent as one line: together they must fit the PSP's street.
                let one = format!("{s} {n}");
                let len = one.chars().count();
                if len > psp.street {
                    return Err(invalid(
                        &format!("{} and houseNumber", a.field("street")),
                        format!(
                            "are {len} characters long together (street, space, house \
                             number); at most {} are allowed",
                            psp.street
                        ),
                    ));
                }
                Some(one)
            }
            (Some(s), None) => Some(s),
            (None, _) => line1,
        };
    }
    Ok(Payer {
        given_name,
        surname,
        company,
        email,
        street,
        postcode,
        city,
        country,
        language,
        customer_id: external_customer_id,
    })
}

/// `language`: an ISO 639-1 code (`EN`, any case), optionally with a region (`en-US`, `de_DE`),
/// of which the language is used; lower case out.
fn language(p: &Obj<'_>) -> Result<Option<String>, ApiError> {
    let what = "must be an ISO 639-1 code such as EN (optionally with a region, en-US)";
    let Some(v) = text(p, "language", 5).map_err(|_| invalid(&p.field("language"), what))? else {
        return Ok(None);
    };
    let (lang, region) = match v.split_once(['-', '_']) {
        Some((l, r)) => (l, Some(r)),
        None => (v.as_str(), None),
    };
    let letters = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_alphabetic());
    if !letters(lang) || !region.is_none_or(letters) {
        return Err(invalid(&p.field("language"), what));
    }
    Ok(Some(lang.to_ascii_lowercase()))
}

fn two_letters(obj: &Obj<'_>, name: &str, what: &str) -> Result<Option<String>, ApiError> {
    let v = text(obj, name, 2).map_err(|_| invalid(&obj.field(name), format!("must be {what}")))?;
    match v {
        Some(v) if v.len() == 2 && v.bytes().all(|b| b.is_ascii_alphabetic()) => Ok(Some(v)),
        Some(_) => Err(invalid(&obj.field(name), format!("must be {what}"))),
        None => Ok(None),
    }
}

/// `initialBearer`: a free-form map of strings; bounded, no control characters.
fn bearer_entries(pmr: &Obj<'_>) -> Result<(), ApiError> {
    // Only checked here; read by `sepa_account`.
    let Some(b) = pmr.object("initialBearer")? else {
        return Ok(());
    };
    if b.len() > limits::BEARER_ENTRIES {
        return Err(invalid(
            &pmr.field("initialBearer"),
            format!("has more than {} entries", limits::BEARER_ENTRIES),
        ));
    }
    for (k, v) in b.entries() {
        let field = b.field(k);
        if k.chars().count() > limits::BEARER_KEY || k.chars().any(is_forbidden) {
            return Err(invalid(
                &b.field("(key)"),
                format!(
                    "keys must be at most {} characters without control characters",
                    limits::BEARER_KEY
                ),
            ));
        }
        match v {
            Value::Null => {}
            Value::String(s) => {
                if s.chars().any(is_forbidden) {
                    return Err(invalid(&field, "must not contain control characters"));
                }
                if s.chars().count() > limits::BEARER_VALUE {
                    return Err(invalid(
                        &field,
                        format!("is longer than {} characters", limits::BEARER_VALUE),
                    ));
                }
            }
            _ => return Err(invalid(&field, "must be a string")),
        }
    }
    Ok(())
}

/// A SEPA account from `initialBearer {Holder, IBAN[, BIC]}` (keys in any case).
fn sepa_account(pmr: &Obj<'_>, psp: &TextLimits) -> Result<SepaAccount, ApiError> {
    let base = pmr.field("initialBearer");
    let b = pmr
        .object("initialBearer")?
        .ok_or_else(|| invalid(&base, "is required for role Debit (Holder and IBAN)"))?;
    let holder = text(&b, "Holder", limits::HOLDER.min(psp.holder))?
        .ok_or_else(|| invalid(&b.field("Holder"), "is required"))?;
    let raw_iban = text(&b, "IBAN", 64)?.ok_or_else(|| invalid(&b.field("IBAN"), "is required"))?;
    let iban: String = raw_iban
        .chars()
        .filter(|c| *c != ' ')
        .collect::<String>()
        .to_ascii_uppercase();
    if !validate::iban_is_valid(&iban) {
        return Err(ApiError::code(
            PaymentErrorCode::InvalidIBAN,
            format!("{}: is not a valid IBAN", b.field("IBAN")),
        ));
    }
    let bic = text(&b, "BIC", 11)
        .map_err(|_| bic_error(&b))?
        .map(|v| v.to_ascii_uppercase());
    if let Some(v) = &bic
        && !((v.len() == 8 || v.len() == 11) && v.bytes().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(bic_error(&b));
    }
    Ok(SepaAccount { holder, iban, bic })
}

fn bic_error(b: &Obj<'_>) -> ApiError {
    ApiError::code(
        PaymentErrorCode::InvalidBic,
        format!("{}: must be 8 or 11 letters and digits", b.field("BIC")),
    )
}

fn return_urls(pmr: Option<&Obj<'_>>) -> Result<ReturnUrls, ApiError> {
    let Some(pmr) = pmr else {
        return Ok(ReturnUrls::default());
    };
    Ok(ReturnUrls {
        success: url(pmr, "successReturnUrl")?,
        error: url(pmr, "errorReturnUrl")?,
        abort: url(pmr, "abortReturnUrl")?,
    })
}

/// Fields every transaction request may carry that we read but do not use.
fn common_unused(obj: &Obj<'_>) -> Result<(), ApiError> {
    psp_settings_id(obj)?;
    text(
        obj,
        "transactionInvoiceReferenceText",
        limits::INVOICE_REFERENCE_TEXT,
    )?;
    Ok(())
}

/// `POST /api/Preauth`, checked.
#[derive(Clone)]
pub struct PreauthCommand {
    pub id: BillwerkTxId,
    pub money: Money,
    pub webhook: Url,
    pub agreement_id: String,
    /// One the merchant's PSP family supports (`PspRules::roles`).
    pub role: Role,
    pub is_initial: bool,
    pub urls: ReturnUrls,
    /// The account to register, for an initial `Debit` preauth.
    pub sepa: Option<SepaAccount>,
    pub payer: Payer,
    /// Within the contract's and the PSP's descriptor length, no control characters.
    pub reference: Option<String>,
}

impl FromBody for PreauthCommand {
    fn from_body(body: &Obj<'_>, rules: &Rules<'_>) -> Result<Self, ApiError> {
        let texts = rules.psp.texts();
        let id = required_tx_id(body, "transactionId")?;
        let money = money(body, true, rules.psp)?;
        let webhook = webhook_target(body, rules.targets)?;
        let agreement_id = agreement_id(body)?;
        common_unused(body)?;
        identifier(
            body,
            "migrationToken",
            limits::MIGRATION_TOKEN,
            |c| c.is_ascii_graphic(),
            "visible ASCII characters",
        )?;
        let pmr = body.object("paymentMeansReference")?;
        let role_field = "paymentMeansReference.role";
        let role = match &pmr {
            Some(p) => role(p, rules.psp)?,
            None => None,
        }
        .ok_or_else(|| invalid(role_field, "is required"))?;
        if role == Role::Debit {
            sepa_currency(&money)?;
        }
        let urls = return_urls(pmr.as_ref())?;
        let is_initial = body.boolean("isInitial")?.unwrap_or(true);
        let sepa = match (&pmr, role == Role::Debit && is_initial) {
            (Some(p), true) => Some(sepa_account(p, &texts)?),
            (None, true) => {
                return Err(invalid(
                    "paymentMeansReference.initialBearer",
                    "is required for role Debit (Holder and IBAN)",
                ));
            }
            (_, false) => None,
        };
        if let Some(p) = &pmr {
            bearer_entries(p)?;
        }
        let reference = text(
            body,
            "transactionReferenceText",
            limits::REFERENCE_TEXT.min(texts.descriptor),
        )?;
        let payer = payer(body, &texts)?;
        Ok(Self {
            id,
            money,
            webhook,
            agreement_id,
            role,
            is_initial,
            urls,
            sepa,
            payer,
            reference,
        })
    }
}

/// `POST /api/Payment`, checked: a capture when `capture_of` is set, else a charge on the
/// agreement. An empty `preauthTransactionId` is refused, never read as "no capture".
#[derive(Clone)]
pub struct PaymentCommand {
    pub id: BillwerkTxId,
    pub money: Money,
    pub webhook: Url,
    pub agreement_id: String,
    pub capture_of: Option<BillwerkTxId>,
    pub role: Option<Role>,
    pub reference: Option<String>,
    pub planned: Option<NaiveDate>,
}

impl FromBody for PaymentCommand {
    fn from_body(body: &Obj<'_>, rules: &Rules<'_>) -> Result<Self, ApiError> {
        let texts = rules.psp.texts();
        let id = required_tx_id(body, "transactionId")?;
        let money = money(body, false, rules.psp)?;
        let webhook = webhook_target(body, rules.targets)?;
        let agreement_id = agreement_id(body)?;
        let capture_of = tx_id(body, "preauthTransactionId")?;
        common_unused(body)?;
        let pmr = body.object("paymentMeansReference")?;
        let role = match &pmr {
            Some(p) => {
                return_urls(Some(p))?;
                bearer_entries(p)?;
                role(p, rules.psp)?
            }
            None => None,
        };
        if role == Some(Role::Debit) {
            sepa_currency(&money)?;
        }
        let reference = text(
            body,
            "transactionReferenceText",
            limits::REFERENCE_TEXT.min(texts.descriptor),
        )?;
        let planned = date(body, "plannedExecutionDate")?;
        payer(body, &texts)?;
        Ok(Self {
            id,
            money,
            webhook,
            agreement_id,
            capture_of,
            role,
            reference,
            planned,
        })
    }
}

/// `POST /api/Refund`, checked.
#[derive(Clone)]
pub struct RefundCommand {
    pub id: BillwerkTxId,
    pub money: Money,
    pub webhook: Url,
    pub payment_id: BillwerkTxId,
}

impl FromBody for RefundCommand {
    fn from_body(body: &Obj<'_>, rules: &Rules<'_>) -> Result<Self, ApiError> {
        let id = required_tx_id(body, "transactionId")?;
        let money = money(body, false, rules.psp)?;
        let webhook = webhook_target(body, rules.targets)?;
        let payment_id = required_tx_id(body, "paymentTransactionId")?;
        psp_settings_id(body)?;
        payer(body, &rules.psp.texts())?;
        Ok(Self {
            id,
            money,
            webhook,
            payment_id,
        })
    }
}

/// `POST /api/Preauth/Finalize`, checked (`finalizationData` is accepted and not used).
#[derive(Clone)]
pub struct FinalizeCommand {
    pub id: BillwerkTxId,
}

impl FromBody for FinalizeCommand {
    fn from_body(body: &Obj<'_>, _: &Rules<'_>) -> Result<Self, ApiError> {
        body.object("finalizationData")?;
        Ok(Self {
            id: required_tx_id(body, "transactionId")?,
        })
    }
}

/// `POST /api/Preauth/{id}/Cancel`, checked; the body may be empty.
#[derive(Clone, Default)]
pub struct CancelCommand;

impl FromBody for CancelCommand {
    fn from_body(body: &Obj<'_>, _: &Rules<'_>) -> Result<Self, ApiError> {
        psp_settings_id(body)?;
        Ok(Self)
    }
}

/// One `merchantSettings[i]` entry: `keyName` trimmed and non-empty, `keyValue` trimmed (empty
/// means "not set").
#[derive(Clone)]
pub struct SettingInput {
    /// `merchantSettings[i]`, for error messages.
    pub field: String,
    pub name: String,
    pub value: String,
}

/// `PUT /api/Settings`, checked: `{merchantSettings}` or `{merchantPspSettings: {…}}` (contract
/// §6.11 leaves the shape open), never both at once; each key at most once (ignoring case).
#[derive(Clone)]
pub struct SettingsCommand {
    pub values: Vec<SettingInput>,
}

/// The object that holds `merchantSettings`: the body, or the wrapper `merchantPspSettings`.
/// Both shapes in one body are ambiguous (which list is meant?) and refused, naming both.
fn settings_holder<'a>(body: &Obj<'a>) -> Result<Obj<'a>, ApiError> {
    let Some(wrapped) = body.object("merchantPspSettings")? else {
        return Ok(body.clone());
    };
    if body.get("merchantSettings").is_some() {
        return Err(invalid(
            &format!(
                "{} and {}",
                body.field_as_sent("merchantSettings"),
                body.field_as_sent("merchantPspSettings")
            ),
            "are both sent; send the settings either as {merchantSettings: [...]} or as \
             {merchantPspSettings: {merchantSettings: [...]}}, not both",
        ));
    }
    Ok(wrapped)
}

impl FromBody for SettingsCommand {
    fn from_body(body: &Obj<'_>, _: &Rules<'_>) -> Result<Self, ApiError> {
        let holder = settings_holder(body)?;
        let name = "merchantSettings";
        let items = holder
            .array(name)?
            .ok_or_else(|| invalid(&holder.field(name), "is required"))?;
        if items.len() > limits::SETTINGS_ENTRIES {
            return Err(invalid(
                &holder.field(name),
                format!("has more than {} entries", limits::SETTINGS_ENTRIES),
            ));
        }
        // Lower-cased name -> the entry that first named it.
        let mut seen: HashMap<String, (String, String)> = HashMap::new();
        let mut values = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let e = holder.element(name, i, item)?;
            let key = text(&e, "keyName", limits::SETTING_NAME)?
                .ok_or_else(|| invalid(&e.field("keyName"), "is required"))?;
            let value = text(&e, "keyValue", limits::SETTING_VALUE)?.unwrap_or_default();
            if let Some((first_field, first_key)) = seen.get(&key.to_ascii_lowercase()) {
                return Err(invalid(
                    &format!("{first_field} and {}", e.field("keyName")),
                    format!(
                        "'{first_key}' and '{key}' name the same setting (names are matched \
                         ignoring case); send it once"
                    ),
                ));
            }
            seen.insert(key.to_ascii_lowercase(), (e.field("keyName"), key.clone()));
            values.push(SettingInput {
                field: e.field("keyName"),
                name: key,
                value,
            });
        }
        Ok(Self { values })
    }
}

#[cfg(test)]
#[path = "commands_tests.rs"]
mod tests;
