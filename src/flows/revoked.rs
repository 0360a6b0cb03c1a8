//! A stored credential found no longer valid at the PSP (revoked, invalid, gone) makes its
//! agreement inactive, and Billwerk hears of it by exactly one type-4 webhook naming the
//! agreement and the preauth that created it (contract §13), however often and however
//! concurrently it is seen. One flow for every way it is seen: a PSP notification saying so
//! (OPPWA's deleted registration, a Mollie webhook whose payment failed on a mandate that is no
//! longer valid) and a charge on the agreement that finds it (Mollie has no mandate webhooks).

use super::{App, MAX_VERSION_RETRIES};
use crate::domain::{AgreementStatus, Ticks, WebhookType};
use crate::store::{StoreError, TransactionRecord, TxUpdate};

/// What a revocation does to the agreement holding the credential.
#[derive(Debug)]
pub(super) enum Revocation {
    /// No agreement of the merchant holds the credential.
    UnknownCredential,
    /// The agreement has no preauth to name in the webhook.
    NoPreauth,
    /// Already inactive: Billwerk was told before.
    AlreadyInactive(Box<TransactionRecord>),
    /// Make it inactive with `update` on its newest preauth (which queues the webhook). The
    /// update is applied against the preauth's version, so of two sightings at once one
    /// applies and the other, planned again, finds the agreement inactive.
    Apply(Box<(TransactionRecord, TxUpdate)>),
}

/// Plans the revocation of `credential` (adapter-owned, as stored with the agreement).
pub(super) async fn plan(
    app: &App,
    merchant_id: &str,
    credential: &str,
) -> Result<Revocation, StoreError> {
    let Some(mut agreement) = app
        .store
        .agreement_by_credential(merchant_id, credential)
        .await?
    else {
        return Ok(Revocation::UnknownCredential);
    };
    let Some(preauth) = app
        .store
        .latest_preauth_of_agreement(merchant_id, &agreement.agreement_id)
        .await?
    else {
        return Ok(Revocation::NoPreauth);
    };
    if agreement.status == AgreementStatus::Inactive {
        return Ok(Revocation::AlreadyInactive(Box::new(preauth)));
    }
    agreement.status = AgreementStatus::Inactive;
    agreement.updated_at = app.now();
    let update = TxUpdate {
        agreement: Some(agreement),
        notify: Some(WebhookType::Agreement),
        note: "stored credential revoked at the PSP; agreement inactive".into(),
        ..TxUpdate::default()
    };
    Ok(Revocation::Apply(Box::new((preauth, update))))
}

/// Applies a revocation seen outside a notification (a charge's answer). Returns whether this
/// call made the agreement inactive. A failure is logged and left: the next sighting (a
/// charge, a notification) tries again.
pub(super) async fn apply(app: &App, merchant_id: &str, credential: &str) -> bool {
    for _ in 0..MAX_VERSION_RETRIES {
        let (preauth, update) = match plan(app, merchant_id, credential).await {
            Ok(Revocation::Apply(b)) => *b,
            Ok(_) => return false,
            Err(e) => {
                tracing::error!(merchant_id, error = %e,
                    "a revoked credential could not be recorded; it is tried again when seen again");
                return false;
            }
        };
        let at = Ticks::next_after(app.now(), preauth.last_updated);
        match app
            .store
            .apply_update(merchant_id, &preauth.id, preauth.last_updated, at, &update)
            .await
        {
            Ok(_) => {
                tracing::warn!(merchant_id, transaction_id = %preauth.billwerk_id,
                    "stored credential no longer valid at the PSP: agreement inactive");
                return true;
            }
            Err(StoreError::Conflict) => continue,
            Err(e) => {
                tracing::error!(merchant_id, error = %e,
                    "a revoked credential could not be recorded; it is tried again when seen again");
                return false;
            }
        }
    }
    false
}
