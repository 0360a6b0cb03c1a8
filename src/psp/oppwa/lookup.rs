//! Calls that move no money: the credential probe, status reads, the query by our
//! transaction id, and reading a checkout's result.

use super::Oppwa;
use super::reply::{lookup, lookup_error, money_response, psp_error};
use super::response::{OppwaResponse, newest_payment, payment_result};
use super::result_codes::{NO_SESSION, NOT_FOUND, ResultGroup, THROTTLED, classify};
use super::settings::{MIT_ENTITY_ID, OppwaSettings};
use super::transformers::is_safe_id;
use crate::domain::{PaymentErrorCode, TxStatus, new_id};
use crate::psp::{Decline, MethodValidity, Outcome, PspError, PspResult};

impl Oppwa {
    /// The entities to search: the main one, then the MIT channel when configured.
    fn entities(s: &OppwaSettings) -> impl Iterator<Item = &str> {
        std::iter::once(s.entity_id.as_str()).chain(s.mit_entity_id.as_deref())
    }

    pub(super) async fn check(&self, s: &OppwaSettings) -> Result<MethodValidity, PspError> {
        self.probe(s, &s.entity_id).await?;
        if let Some(mit) = s.mit_entity_id.as_deref() {
            self.probe(s, mit).await.map_err(|e| PspError {
                message: format!("{MIT_ENTITY_ID}: {}", e.message),
                ..e
            })?;
        }
        Ok(MethodValidity {
            credit_card: true,
            debit: true,
        })
    }

    /// A query for a transaction id that cannot exist: any answer but "not found" or a
    /// successful query means the credentials do not work.
    async fn probe(&self, s: &OppwaSettings, entity: &str) -> Result<(), PspError> {
        let probe_id = format!("probe-{}", new_id());
        let query = [("merchantTransactionId", probe_id.as_str())];
        let reply = self
            .http
            .get(self.target(s, entity), "/v1/query", &query)
            .await;
        match lookup(reply)? {
            None => Ok(()),
            Some(resp) if resp.outcome() == Outcome::Succeeded => Ok(()),
            Some(resp) => Err(lookup_error(&resp)),
        }
    }

    pub(super) async fn status(&self, s: &OppwaSettings, id: &str) -> Result<PspResult, PspError> {
        if !is_safe_id(id) {
            let message = "not a valid OPPWA transaction id";
            return Err(psp_error(PaymentErrorCode::InvalidData, None, message));
        }
        let path = format!("/v1/payments/{id}");
        for entity in Self::entities(s) {
            let reply = self.http.get(self.target(s, entity), &path, &[]).await;
            if let Some(resp) = lookup(reply)? {
                return found_payment(&resp);
            }
        }
        let message = "transaction not found at OPPWA";
        Err(psp_error(
            PaymentErrorCode::InvalidPreconditions,
            Some(NOT_FOUND),
            message,
        ))
    }

    pub(super) async fn find(
        &self,
        s: &OppwaSettings,
        merchant_tx_id: &str,
    ) -> Result<Option<PspResult>, PspError> {
        let query = [("merchantTransactionId", merchant_tx_id)];
        for entity in Self::entities(s) {
            let reply = self
                .http
                .get(self.target(s, entity), "/v1/query", &query)
                .await;
            let Some(resp) = lookup(reply)? else {
                continue;
            };
            if let Some(payment) = newest_payment(&resp) {
                return Ok(Some(payment_result(payment)));
            }
            if resp.outcome() != Outcome::Succeeded {
                return Err(lookup_error(&resp));
            }
        }
        Ok(None)
    }

    pub(super) async fn complete(
        &self,
        s: &OppwaSettings,
        checkout_id: &str,
        merchant_tx_id: &str,
    ) -> PspResult {
        if !is_safe_id(checkout_id) {
            return PspResult::unknown("checkout id is not a valid OPPWA id");
        }
        let path = format!("/v1/checkouts/{checkout_id}/payment");
        let reply = self
            .http
            .get(self.target(s, &s.entity_id), &path, &[])
            .await;
        let resp = match money_response(reply) {
            Ok(resp) => resp,
            Err(result) => return unclear_read(*result),
        };
        if resp.code() == NO_SESSION {
            return self.after_lapsed_session(s, merchant_tx_id).await;
        }
        checkout_payment(&resp, checkout_id)
    }

    /// The checkout session is gone (read before, or expired): the query decides.
    async fn after_lapsed_session(&self, s: &OppwaSettings, merchant_tx_id: &str) -> PspResult {
        match self.find(s, merchant_tx_id).await {
            Ok(Some(found)) => found,
            Ok(None) => PspResult {
                result_code: Some(NO_SESSION.to_string()),
                ..PspResult::bare(Outcome::Declined(Decline {
                    code: PaymentErrorCode::Canceled,
                    status: TxStatus::Expired,
                    psp_code: Some(NO_SESSION.to_string()),
                    message: "checkout expired without payment".to_string(),
                }))
            },
            Err(e) => PspResult::unknown(format!("checkout session gone, lookup failed: {e}")),
        }
    }
}

/// A status answer that must be a payment; anything else is an error of the request.
fn found_payment(resp: &OppwaResponse) -> Result<PspResult, PspError> {
    match resp.id.as_deref() {
        Some(id) if !id.is_empty() => Ok(payment_result(resp)),
        _ => Err(lookup_error(resp)),
    }
}

/// Reading a result never proves a payment failed: a decline of the read is no decline of
/// the payment, so it stays unknown and the caller reconciles.
fn unclear_read(result: PspResult) -> PspResult {
    match result.outcome {
        Outcome::Declined(d) => {
            PspResult::unknown(format!("checkout result unreadable: {}", d.message))
        }
        _ => result,
    }
}

/// The payment behind a checkout. Only an answer that is a payment (has an id other than the
/// checkout's) or a session cancel/timeout can decline it; throttling or request errors leave
/// the outcome unknown.
pub fn checkout_payment(resp: &OppwaResponse, checkout_id: &str) -> PspResult {
    let is_payment = resp
        .id
        .as_deref()
        .is_some_and(|id| !id.is_empty() && id != checkout_id);
    let mut result = payment_result(resp);
    if !is_payment {
        result.psp_transaction_id = None;
    }
    // Cancel and timeout codes describe the checkout session itself, so they may decline it.
    let about_session = classify(resp.code()) == ResultGroup::AsyncWorkflow;
    let trusted = (is_payment || about_session) && resp.code() != THROTTLED;
    match result.outcome {
        Outcome::Declined(d) if !trusted => PspResult {
            outcome: Outcome::Unknown(format!("checkout result unclear: {}", d.message)),
            ..result
        },
        _ => result,
    }
}
