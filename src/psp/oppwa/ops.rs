//! The money-moving operations: checkout creation, SEPA registration, stored charges and
//! back-office follow-ups (capture, reversal, refund).

use rust_decimal::Decimal;

use super::Oppwa;
use super::reply::{decline, money_response, money_result};
use super::response::{sepa_bearer, to_result};
use super::settings::OppwaSettings;
use super::transformers::{self as tf, SepaAccount, is_safe_id};
use crate::domain::{Clock, PaymentErrorCode, SystemClock};
use crate::psp::{
    Checkout, FollowUp, InitialPreauth, Outcome, PreauthStart, PspResult, StoredCharge,
    StoredCredential,
};

/// A COPYandPAY checkout lives 30 minutes (spec §3.4).
const CHECKOUT_LIFETIME_SECS: i64 = 30 * 60;

/// A reference we cannot put into a URL: nothing was sent, so nothing moved.
pub fn invalid_id(what: &str) -> PspResult {
    let message = format!("{what} is not a valid OPPWA id");
    PspResult::bare(decline(PaymentErrorCode::InvalidData, None, &message))
}

/// The entity a follow-up runs on: the MIT channel when the original ran there.
pub fn follow_up_entity<'a>(settings: &'a OppwaSettings, req: &FollowUp) -> &'a str {
    if req.merchant_initiated {
        settings.mit_entity()
    } else {
        &settings.entity_id
    }
}

impl Oppwa {
    pub(super) async fn start_card(&self, s: &OppwaSettings, req: &InitialPreauth) -> PreauthStart {
        let params = tf::checkout_params(req);
        let reply = self
            .http
            .post(self.target(s, &s.entity_id), "/v1/checkouts", &params)
            .await;
        let resp = match money_response(reply) {
            Ok(resp) => resp,
            Err(result) => return PreauthStart::Done(*result),
        };
        match (resp.outcome(), resp.id.as_deref()) {
            (Outcome::Pending, Some(id)) if is_safe_id(id) => PreauthStart::Checkout(Checkout {
                checkout_id: id.to_string(),
                expires_at: SystemClock.now().plus_seconds(CHECKOUT_LIFETIME_SECS),
                data: resp.integrity.clone().filter(|i| !i.is_empty()),
            }),
            (Outcome::Succeeded | Outcome::Pending, _) => {
                let reason = format!("checkout answer {} without a usable id", resp.code());
                PreauthStart::Done(to_result(&resp, Outcome::Unknown(reason)))
            }
            (outcome, _) => PreauthStart::Done(to_result(&resp, outcome)),
        }
    }

    pub(super) async fn start_sepa(
        &self,
        s: &OppwaSettings,
        req: &InitialPreauth,
        account: &SepaAccount<'_>,
    ) -> PreauthStart {
        let params = tf::sepa_registration_params(req, account);
        let reply = self
            .http
            .post(self.target(s, &s.entity_id), "/v1/registrations", &params)
            .await;
        let resp = match money_response(reply) {
            Ok(resp) => resp,
            Err(result) => return PreauthStart::Done(*result),
        };
        let mut result = to_result(&resp, resp.outcome());
        if result.outcome == Outcome::Succeeded {
            let Some(id) = resp.id.clone().filter(|id| !id.is_empty()) else {
                let reason = "SEPA registration answer without an id".to_string();
                return PreauthStart::Done(to_result(&resp, Outcome::Unknown(reason)));
            };
            let iban = tf::normalize_iban(account.iban);
            result.credential = Some(StoredCredential {
                bearer: sepa_bearer(account.holder, &iban, account.mandate_id, &id),
                credential: id,
                initial_transaction_id: None,
                is_debit: true,
            });
            result.amount = Some(Decimal::ZERO);
            result.currency = Some(req.amount.currency.code().to_string());
        }
        PreauthStart::Done(result)
    }

    pub(super) async fn stored(
        &self,
        s: &OppwaSettings,
        req: &StoredCharge,
        payment_type: &str,
    ) -> PspResult {
        let registration = &req.stored.credential;
        if !is_safe_id(registration) {
            return invalid_id("registration id");
        }
        let path = format!("/v1/registrations/{registration}/payments");
        let params = tf::stored_payment_params(req, payment_type);
        // SEPA registrations live on the main channel; the MIT channel is for cards.
        let entity = if req.stored.is_debit {
            &s.entity_id
        } else {
            s.mit_entity()
        };
        money_result(self.http.post(self.target(s, entity), &path, &params).await)
    }

    pub(super) async fn follow_up(
        &self,
        s: &OppwaSettings,
        req: &FollowUp,
        payment_type: &str,
    ) -> PspResult {
        if !is_safe_id(&req.psp_transaction_id) {
            return invalid_id("PSP transaction id");
        }
        let path = format!("/v1/payments/{}", req.psp_transaction_id);
        let params = tf::follow_up_params(req, payment_type);
        let target = self.target(s, follow_up_entity(s, req));
        money_result(self.http.post(target, &path, &params).await)
    }
}
