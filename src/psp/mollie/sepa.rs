//! SEPA direct debit on Mollie (contract/mollie.md §2.4, §2.14, §2.17): Billwerk's `Debit`
//! preauth with `initialBearer` becomes a customer and a `directdebit` mandate made from the
//! IBAN (valid at once, nothing charged); the stored credential is `cst_…/mdt_…`, and charges
//! on it are the `recurring` payments of `ops`.
//!
//! Mollie sends no webhook about mandates (§2.10): a mandate that is no longer valid (revoked
//! by the merchant or the debtor, invalidated by Mollie) is learned when a charge on it is
//! refused or fails, by reading the mandate then. The flows make the agreement inactive and
//! send one type-4 webhook (`flows::revoked`).
//!
//! The IBAN goes to Mollie in the mandate's body only; what is kept, answered and logged is the
//! masked form (`psp::sepa`).

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use super::Bound;
use super::api::Reply;
use super::read::{self, str_of};
use crate::domain::{PaymentErrorCode, TxStatus};
use crate::psp::sepa::{normalize_iban, sepa_bearer};
use crate::psp::{
    Decline, InitialPreauth, Outcome, PreauthStart, PspError, PspEvent, PspNotification, PspResult,
    StoredCredential,
};

/// The holder's name as Mollie takes it (`consumerName`); longer names are cut.
const HOLDER_MAX: usize = 70;

/// A SEPA account from Billwerk's `initialBearer`, with the mandate reference we made.
#[derive(Clone, Copy)]
pub(super) struct Account<'a> {
    pub holder: &'a str,
    pub iban: &'a str,
    pub bic: Option<&'a str>,
    pub mandate_id: &'a str,
    pub signed_on: NaiveDate,
}

/// Whether a mandate may still be charged, as far as one read shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MandateState {
    /// `valid`, or `pending` (Mollie has not confirmed it yet: not a reason to give up).
    Usable,
    /// `invalid`, or 404/410 for it (a revoked mandate, §6 Q4): never chargeable again.
    Gone,
    /// The read failed or said something else: nothing can be concluded.
    Unknown,
}

/// The credential stored for a mandate: the customer and the mandate, both needed to charge.
pub(super) fn credential(customer: &str, mandate: &str) -> String {
    format!("{customer}/{mandate}")
}

/// A stored credential's customer and mandate, when it is one of ours.
pub(super) fn split_credential(credential: &str) -> Option<(&str, &str)> {
    credential
        .split_once('/')
        .filter(|(c, m)| c.starts_with("cst_") && m.starts_with("mdt_"))
        .filter(|(c, m)| super::ops::safe_id(c) && super::ops::safe_id(m))
}

fn decline(code: PaymentErrorCode, psp_code: Option<String>, message: &str) -> PspResult {
    PspResult::bare(Outcome::Declined(Decline {
        code,
        status: TxStatus::Failed,
        psp_code,
        message: message.into(),
    }))
}

impl Bound {
    /// A customer, then a `directdebit` mandate from the IBAN with our mandate reference and
    /// the signature date. Each create carries its own `Idempotency-Key` (derived from
    /// Billwerk's id), so a retried preauth within Mollie's hour makes no second mandate.
    pub(super) async fn start_sepa(
        &self,
        req: &InitialPreauth,
        account: Account<'_>,
    ) -> PreauthStart {
        let customer = match self.create_customer(req).await {
            Ok(c) => c,
            Err(r) => return PreauthStart::Done(r),
        };
        if !super::ops::safe_id(&customer) {
            return PreauthStart::Done(PspResult::unknown("Mollie's customer id is unusable"));
        }
        let iban = normalize_iban(account.iban);
        let holder: String = account.holder.trim().chars().take(HOLDER_MAX).collect();
        let mut body = json!({
            "method": "directdebit",
            "consumerName": holder,
            "consumerAccount": iban,
            "signatureDate": account.signed_on.format("%Y-%m-%d").to_string(),
            "mandateReference": account.mandate_id,
        });
        if let Some(bic) = account.bic.filter(|b| !b.trim().is_empty()) {
            body["consumerBic"] = bic.trim().into();
        }
        let path = format!("/v2/customers/{customer}/mandates");
        let key = super::api::idempotency_key("mandate", &req.merchant_tx_id);
        let m = match self
            .mollie
            .api
            .post(self.base(), &self.s.api_key, &path, &body, &key)
            .await
        {
            Reply::Ok(m) => m,
            Reply::Error(e) if e.status == 422 && e.field.as_deref() == Some("consumerAccount") => {
                return PreauthStart::Done(decline(
                    PaymentErrorCode::InvalidIBAN,
                    Some("422".into()),
                    "Mollie refused the bank account (consumerAccount)",
                ));
            }
            other => return PreauthStart::Done(read::failed_call(other)),
        };
        let Some(mandate) = str_of(&m, "id").filter(|id| super::ops::safe_id(id)) else {
            return PreauthStart::Done(PspResult::unknown("Mollie's mandate answer has no id"));
        };
        let mut r = match str_of(&m, "status") {
            // Mollie makes an IBAN mandate valid at once (§2.4); a pending one is accepted like
            // a pending first-payment mandate (§5 #5) and checked when charged.
            Some("valid" | "pending") => PspResult::bare(Outcome::Succeeded),
            Some("invalid") => decline(
                PaymentErrorCode::BearerInvalid,
                Some("invalid".into()),
                "Mollie made the mandate invalid at once",
            ),
            other => PspResult::unknown(format!(
                "unexpected mandate status '{}'",
                other.unwrap_or("")
            )),
        };
        let id = credential(&customer, mandate);
        r.psp_transaction_id = Some(id.clone());
        r.result_code = str_of(&m, "status").map(str::to_string);
        if r.outcome == Outcome::Succeeded {
            r.credential = Some(StoredCredential {
                bearer: sepa_bearer(&holder, &iban, account.mandate_id, mandate),
                credential: id,
                initial_transaction_id: None,
                is_debit: true,
            });
            r.amount = Some(Decimal::ZERO);
            r.currency = Some(req.amount.currency.code().to_string());
        }
        PreauthStart::Done(r)
    }

    /// Reads one mandate of a customer.
    pub(super) async fn mandate_state(&self, customer: &str, mandate: &str) -> MandateState {
        let path = format!("/v2/customers/{customer}/mandates/{mandate}");
        match self
            .mollie
            .api
            .get(self.base(), &self.s.api_key, &path, &[])
            .await
        {
            Reply::Ok(m) => match str_of(&m, "status") {
                Some("valid" | "pending") => MandateState::Usable,
                Some("invalid") => MandateState::Gone,
                _ => MandateState::Unknown,
            },
            // 404 is also Mollie's answer to a wrong-mode key, but the key that made the
            // mandate reads it here: a missing mandate is a revoked one (§6 Q4).
            Reply::Error(e) if matches!(e.status, 404 | 410) => MandateState::Gone,
            _ => MandateState::Unknown,
        }
    }

    /// A mandate's state as a result (the status of a SEPA preauth, `cst_…/mdt_…`).
    pub(super) async fn mandate_status(
        &self,
        customer: &str,
        mandate: &str,
    ) -> Result<PspResult, PspError> {
        let mut r = match self.mandate_state(customer, mandate).await {
            MandateState::Usable => PspResult::bare(Outcome::Succeeded),
            MandateState::Gone => {
                let mut r = decline(
                    PaymentErrorCode::BearerInvalid,
                    None,
                    "the mandate is no longer valid at Mollie",
                );
                r.credential_invalid = true;
                r
            }
            MandateState::Unknown => {
                return Err(PspError {
                    code: PaymentErrorCode::PSPConnectionProblem,
                    psp_code: None,
                    message: "Mollie's mandate could not be read".into(),
                });
            }
        };
        r.psp_transaction_id = Some(credential(customer, mandate));
        Ok(r)
    }

    /// A charge on a stored mandate that Mollie refused or that failed: if the mandate is no
    /// longer valid, the decline says so (`BearerInvalid`) and marks the credential invalid.
    pub(super) async fn after_declined_charge(&self, stored: &str, r: PspResult) -> PspResult {
        if !matches!(r.outcome, Outcome::Declined(_)) {
            return r;
        }
        let Some((customer, mandate)) = split_credential(stored) else {
            return r;
        };
        if self.mandate_state(customer, mandate).await != MandateState::Gone {
            return r;
        }
        let psp_code = match &r.outcome {
            Outcome::Declined(d) => d.psp_code.clone(),
            _ => None,
        };
        PspResult {
            outcome: Outcome::Declined(Decline {
                code: PaymentErrorCode::BearerInvalid,
                status: TxStatus::Failed,
                psp_code,
                message: "the mandate is no longer valid at Mollie (revoked or invalidated)".into(),
            }),
            credential_invalid: true,
            ..r
        }
    }

    /// For a webhook's fetched payment: a recurring payment that failed, or got a chargeback,
    /// on a mandate that is no longer valid reports the revocation as its own event.
    pub(super) async fn revoked_mandate(&self, p: &Value) -> Option<PspNotification> {
        if str_of(p, "sequenceType") != Some("recurring") {
            return None;
        }
        let troubled =
            str_of(p, "status") == Some("failed") || !read::embedded(p, "chargebacks").is_empty();
        if !troubled {
            return None;
        }
        let customer = str_of(p, "customerId").filter(|c| super::ops::safe_id(c))?;
        let mandate = str_of(p, "mandateId").filter(|m| super::ops::safe_id(m))?;
        if self.mandate_state(customer, mandate).await != MandateState::Gone {
            return None;
        }
        Some(PspNotification {
            dedupe_key: format!("mollie:{mandate}:invalid"),
            event: PspEvent::CredentialRevoked {
                credential: credential(customer, mandate),
            },
        })
    }
}
