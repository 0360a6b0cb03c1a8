//! Request parameter lists for OPPWA, built by pure functions. `entityId` is added by the
//! client (body for POST, query for GET), so none of these lists contain it.

use crate::domain::Money;
use crate::psp::{FollowUp, InitialPreauth, Payer, StoredCharge};

/// OPPWA's amount format, `^[0-9]{1,12}(\.[0-9]{2})?$` (spec §2): always two decimals,
/// whatever the currency's ISO-4217 exponent (0, 2 or 3). An amount that needs a third decimal
/// (10.505 KWD) or more than 12 integer digits cannot be sent; the error says why.
pub fn amount(money: &Money) -> Result<String, String> {
    let mut a = money.amount.normalize();
    if a.scale() > 2 {
        return Err(format!(
            "{} {} has more than the two decimals the PSP accepts",
            money.amount, money.currency
        ));
    }
    if a.trunc() > rust_decimal::Decimal::from(999_999_999_999_i64) {
        return Err("is too large; at most 12 digits before the decimal point are allowed".into());
    }
    a.rescale(2);
    Ok(a.to_string())
}

/// The wire amount; callers checked it with [`amount`] (through `check_amount`) before any
/// transaction was stored, so the fallback never reaches the PSP in practice.
fn wire_amount(money: &Money) -> String {
    amount(money).unwrap_or_else(|_| money.fixed())
}

/// Flat, dotted form parameters in sending order.
pub type Params = Vec<(String, String)>;

pub const PREAUTH: &str = "PA";
pub const DEBIT: &str = "DB";
pub const CAPTURE: &str = "CP";
pub const REVERSAL: &str = "RV";
pub const REFUND: &str = "RF";

/// The SEPA bank account of an initial preauth.
#[derive(Debug, Clone, Copy)]
pub struct SepaAccount<'a> {
    pub holder: &'a str,
    pub iban: &'a str,
    pub bic: Option<&'a str>,
    pub mandate_id: &'a str,
    pub signed_on: chrono::NaiveDate,
}

fn push(p: &mut Params, key: &str, value: impl Into<String>) {
    p.push((key.to_string(), value.into()));
}

/// Pushes a trimmed, non-empty value cut to `max` characters.
fn push_opt(p: &mut Params, key: &str, value: Option<&str>, max: usize) {
    if let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) {
        push(p, key, truncate(v, max));
    }
}

/// Cuts at a character boundary; OPPWA rejects over-long fields instead of cutting them.
pub fn truncate(value: &str, max: usize) -> String {
    value.chars().take(max).collect()
}

/// `POST /v1/checkouts`: a CIT preauth (zero amount = card verification) that stores the card.
pub fn checkout_params(req: &InitialPreauth) -> Params {
    let mut p = Params::new();
    push(&mut p, "amount", wire_amount(&req.amount));
    push(&mut p, "currency", req.amount.currency.code());
    push(&mut p, "paymentType", PREAUTH);
    push(&mut p, "createRegistration", "true");
    push(&mut p, "standingInstruction.mode", "INITIAL");
    push(&mut p, "standingInstruction.source", "CIT");
    push(&mut p, "standingInstruction.type", "UNSCHEDULED");
    push(&mut p, "merchantTransactionId", &req.merchant_tx_id);
    payer_params(&mut p, &req.payer);
    reference_params(&mut p, req.reference_text.as_deref());
    push(&mut p, "integrity", "true");
    p
}

/// `POST /v1/registrations`: stores a SEPA direct-debit account with its mandate.
pub fn sepa_registration_params(req: &InitialPreauth, account: &SepaAccount<'_>) -> Params {
    let iban = normalize_iban(account.iban);
    let mut p = Params::new();
    push(&mut p, "paymentBrand", "DIRECTDEBIT_SEPA");
    push(
        &mut p,
        "bankAccount.holder",
        truncate(account.holder.trim(), 128),
    );
    push(&mut p, "bankAccount.iban", iban.clone());
    push_opt(&mut p, "bankAccount.bic", account.bic, 11);
    push(
        &mut p,
        "bankAccount.country",
        iban.chars().take(2).collect::<String>(),
    );
    push(&mut p, "bankAccount.mandate.id", account.mandate_id);
    let signed = account.signed_on.format("%Y-%m-%d").to_string();
    push(&mut p, "bankAccount.mandate.dateOfSignature", signed);
    push(&mut p, "merchantTransactionId", &req.merchant_tx_id);
    payer_params(&mut p, &req.payer);
    p
}

/// `POST /v1/registrations/{id}/payments`: a merchant-initiated PA or DB on a stored agreement.
pub fn stored_payment_params(req: &StoredCharge, payment_type: &str) -> Params {
    let mut p = Params::new();
    push(&mut p, "amount", wire_amount(&req.amount));
    push(&mut p, "currency", req.amount.currency.code());
    push(&mut p, "paymentType", payment_type);
    push(&mut p, "merchantTransactionId", &req.merchant_tx_id);
    // SEPA debits carry the mandate instead of card-on-file flags.
    if !req.stored.is_debit {
        push(&mut p, "standingInstruction.mode", "REPEATED");
        push(&mut p, "standingInstruction.source", "MIT");
        push(&mut p, "standingInstruction.type", "UNSCHEDULED");
        let initial = req.stored.initial_transaction_id.as_deref();
        push_opt(
            &mut p,
            "standingInstruction.initialTransactionId",
            initial,
            255,
        );
    }
    p
}

/// `POST /v1/payments/{id}`: capture, reversal or refund. A reversal without an amount is a
/// full reversal, which OPPWA wants without amount and currency.
pub fn follow_up_params(req: &FollowUp, payment_type: &str) -> Params {
    let mut p = Params::new();
    push(&mut p, "paymentType", payment_type);
    if let Some(amount) = &req.amount {
        push(&mut p, "amount", wire_amount(amount));
        push(&mut p, "currency", amount.currency.code());
    }
    push(&mut p, "merchantTransactionId", &req.merchant_tx_id);
    p
}

fn payer_params(p: &mut Params, payer: &Payer) {
    push_opt(p, "customer.givenName", payer.given_name.as_deref(), 48);
    push_opt(p, "customer.surname", payer.surname.as_deref(), 48);
    // A cut e-mail address would be wrong, so an over-long one is left out.
    let email = payer.email.as_deref().filter(|e| e.trim().len() <= 128);
    push_opt(p, "customer.email", email, 128);
    push_opt(p, "customer.companyName", payer.company.as_deref(), 60);
    push_opt(
        p,
        "customer.merchantCustomerId",
        payer.customer_id.as_deref(),
        255,
    );
    push_opt(p, "billing.street1", payer.street.as_deref(), 100);
    push_opt(p, "billing.city", payer.city.as_deref(), 80);
    push_opt(p, "billing.postcode", payer.postcode.as_deref(), 16);
    let country = payer
        .country
        .as_deref()
        .map(str::trim)
        .filter(|c| c.len() == 2 && c.bytes().all(|b| b.is_ascii_alphabetic()));
    push_opt(
        p,
        "billing.country",
        country.map(str::to_ascii_uppercase).as_deref(),
        2,
    );
}

fn reference_params(p: &mut Params, reference: Option<&str>) {
    push_opt(p, "merchantInvoiceId", reference, 255);
    push_opt(p, "descriptor", reference, 127);
}

pub use crate::psp::sepa::normalize_iban;

/// Only characters that need no escaping may go into a URL path segment.
pub fn is_safe_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
        && id != "."
        && id != ".."
}

#[cfg(test)]
#[path = "transformers_tests.rs"]
pub(super) mod tests;
