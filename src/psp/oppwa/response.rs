//! OPPWA response bodies (serde, unknown fields ignored, scalars read leniently) and their
//! translation into `PspResult`s and bearers.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::result_codes;
use crate::domain::Bearer;
use crate::psp::{EventKind, Outcome, PspResult, StoredCredential};

/// A string, or a number/bool written as text; anything else counts as absent.
fn lenient<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    })
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ResultInfo {
    #[serde(deserialize_with = "lenient")]
    pub code: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CardInfo {
    #[serde(deserialize_with = "lenient")]
    pub bin: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub last4_digits: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub holder: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub expiry_month: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub expiry_year: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct StandingInstructionInfo {
    #[serde(deserialize_with = "lenient")]
    pub initial_transaction_id: Option<String>,
}

/// A payment, checkout, registration or query answer; which fields are set depends on the call.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OppwaResponse {
    #[serde(deserialize_with = "lenient")]
    pub id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub registration_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub payment_type: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub payment_brand: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub amount: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub currency: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub timestamp: Option<String>,
    #[serde(deserialize_with = "lenient")]
    pub integrity: Option<String>,
    pub result: ResultInfo,
    pub result_details: Value,
    pub card: Option<CardInfo>,
    pub standing_instruction: Option<StandingInstructionInfo>,
    pub payments: Vec<OppwaResponse>,
}

impl OppwaResponse {
    pub fn code(&self) -> &str {
        self.result.code.as_deref().unwrap_or_default()
    }

    pub fn description(&self) -> &str {
        self.result.description.as_deref().unwrap_or_default()
    }

    pub fn outcome(&self) -> Outcome {
        result_codes::outcome(self.code(), self.description())
    }

    pub(super) fn result_detail(&self, key: &str) -> Option<String> {
        match self.result_details.get(key)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            _ => None,
        }
    }
}

/// The body as an OPPWA answer, or `None` when it is not JSON or carries no `result.code`.
pub fn parse(body: &[u8]) -> Option<OppwaResponse> {
    let parsed: OppwaResponse = serde_json::from_slice(body).ok()?;
    let has_code = parsed
        .result
        .code
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty());
    has_code.then_some(parsed)
}

/// `YYYY-MM-DD HH:MM:SS+0000`, optionally with milliseconds.
pub fn parse_timestamp(ts: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_str(ts.trim(), "%Y-%m-%d %H:%M:%S%.f%z")
        .ok()
        .map(|dt| dt.with_timezone(&Utc))
}

fn booking_date(ts: Option<&str>) -> Option<NaiveDate> {
    ts.and_then(parse_timestamp).map(|dt| dt.date_naive())
}

/// OPPWA's `paymentType` codes in PSP-neutral terms (spec §2, §4: PA, DB, CP, RV, RF, CB, and
/// CR for a chargeback reversal). `PA.CP` collects at once, like a debit.
pub fn event_kind(payment_type: &str) -> EventKind {
    match payment_type.trim().to_ascii_uppercase().as_str() {
        "PA" => EventKind::Authorization,
        "DB" | "PA.CP" => EventKind::Debit,
        "CP" => EventKind::Capture,
        "RV" => EventKind::Reversal,
        "RF" => EventKind::Refund,
        "CB" => EventKind::Chargeback,
        "CR" => EventKind::ChargebackReversal,
        other => EventKind::Other(other.to_string()),
    }
}

/// An amount as OPPWA writes it (`^[0-9]{1,12}(\.[0-9]{2})?$`); anything else is unreadable.
fn read_amount(text: &str) -> Option<Decimal> {
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let ok = (1..=12).contains(&int.len())
        && digits(int)
        && frac.len() <= 3
        && digits(frac)
        && !(t.contains('.') && frac.is_empty());
    ok.then(|| Decimal::from_str(t).ok()).flatten()
}

/// Every field of the answer that `PspResult` carries, with the given outcome. An amount or
/// currency that is present but unreadable makes the outcome unknown: a result whose money
/// cannot be checked is never trusted.
pub fn to_result(resp: &OppwaResponse, outcome: Outcome) -> PspResult {
    let amount = resp.amount.as_deref().map(read_amount);
    let currency = resp.currency.as_deref().map(|c| {
        let c = c.trim();
        (c.len() == 3 && c.bytes().all(|b| b.is_ascii_alphabetic())).then(|| c.to_ascii_uppercase())
    });
    let unreadable = matches!(amount, Some(None)) || matches!(currency, Some(None));
    let outcome = match outcome {
        Outcome::Succeeded | Outcome::Pending if unreadable => {
            Outcome::Unknown("amount or currency unreadable".into())
        }
        o => o,
    };
    PspResult {
        outcome,
        psp_transaction_id: resp.id.clone(),
        amount: amount.flatten(),
        currency: currency.flatten(),
        result_code: resp.result.code.clone(),
        description: resp.result.description.clone(),
        credential: None,
        kind: resp.payment_type.as_deref().map(event_kind),
        booking_date: booking_date(resp.timestamp.as_deref()),
        credential_invalid: false,
    }
}

/// A payment read back (checkout result, status, query): with the card registration when it
/// succeeded and stored a card.
pub fn payment_result(resp: &OppwaResponse) -> PspResult {
    let mut result = to_result(resp, resp.outcome());
    if result.outcome == Outcome::Succeeded {
        result.credential = card_registration(resp);
    }
    result
}

/// The card token of a successful CIT, with the bearer Billwerk shows.
pub fn card_registration(resp: &OppwaResponse) -> Option<StoredCredential> {
    let registration_id = resp.registration_id.clone().filter(|r| !r.is_empty())?;
    let card = resp.card.as_ref()?;
    let mut bearer = Bearer::new();
    let mut put = |key: &str, value: Option<&String>| {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            bearer.insert(key.to_string(), v.clone());
        }
    };
    put("RegistrationId", Some(&registration_id));
    put("CardType", resp.payment_brand.as_ref());
    put("Last4CardNumber", card.last4_digits.as_ref());
    put("Holder", card.holder.as_ref());
    put("ExpiryMonth", card.expiry_month.as_ref());
    put("ExpiryYear", card.expiry_year.as_ref());
    if let (Some(bin), Some(last4)) = (&card.bin, &card.last4_digits) {
        bearer.insert("MaskedCardPan".into(), format!("{bin}******{last4}"));
    }
    let initial = resp
        .standing_instruction
        .as_ref()
        .and_then(|si| si.initial_transaction_id.clone())
        .filter(|id| !id.is_empty())
        .or_else(|| resp.result_detail("CardholderInitiatedTransactionID"))
        .or_else(|| resp.id.clone());
    Some(StoredCredential {
        credential: registration_id,
        bearer,
        initial_transaction_id: initial,
        is_debit: false,
    })
}

pub use crate::psp::sepa::sepa_bearer;

/// The newest payment of a query answer, by `timestamp` (later list position breaks ties).
pub fn newest_payment(resp: &OppwaResponse) -> Option<&OppwaResponse> {
    // Chargebacks and their reversals carry the original's merchantTransactionId: they are
    // events about our transaction, never the transaction itself.
    resp.payments
        .iter()
        .filter(|p| {
            !matches!(
                p.payment_type.as_deref().map(event_kind),
                Some(EventKind::Chargeback | EventKind::ChargebackReversal)
            )
        })
        .enumerate()
        .max_by_key(|(i, p)| (p.timestamp.as_deref().and_then(parse_timestamp), *i))
        .map(|(_, p)| p)
}

#[cfg(test)]
#[path = "response_tests.rs"]
mod tests;
