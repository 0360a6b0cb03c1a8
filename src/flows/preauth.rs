//! Preauthorizations: initial (hosted card checkout or SEPA mandate), non-initial on a stored
//! agreement, cancel and finalize.

use chrono::Datelike;

use super::{App, Merchant, check_replay, new_record, outcome, views};
use crate::contract::ApiError;
use crate::contract::commands::{CancelCommand, FinalizeCommand, PreauthCommand, sepa_currency};
use crate::contract::responses::{CancellationResponse, PreauthResponse};
use crate::domain::state::Trigger;
use crate::domain::{CancellationStatus, Role, TxKind, TxStatus, time::FAR_FUTURE};
use crate::psp::{
    FollowUp, InitialMethod, InitialPreauth, Outcome, PreauthStart, PspResult, StoredCharge,
    StoredMethod,
};
use crate::store::{Inserted, TransactionRecord, TxUpdate};

/// `POST /api/Preauth`.
pub async fn create(
    app: &App,
    m: &Merchant,
    cmd: PreauthCommand,
) -> Result<PreauthResponse, ApiError> {
    let PreauthCommand {
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
    } = cmd;
    super::psp_amount(m, &money)?;

    let _guard = app.locks.lock(m.id(), id.as_str()).await;
    if let Some(existing) = app.store.get_transaction(m.id(), id.as_str()).await? {
        check_replay(&existing, TxKind::Preauth, &money, Some(&agreement_id))?;
        return views::preauth(app, &existing).await;
    }
    let settings = app.settings(m).await?;
    let stored = if is_initial {
        None
    } else {
        Some(app.stored_method(m, &agreement_id).await?)
    };
    if stored.as_ref().is_some_and(|s| s.is_debit) {
        sepa_currency(&money)?;
    }

    let mut rec = new_record(m, TxKind::Preauth, id.as_str(), &money, &webhook, app.now());
    rec.agreement_id = Some(agreement_id.clone());
    rec.role = Some(role);
    rec.is_initial = is_initial;
    rec.success_url = urls.success.map(String::from);
    rec.error_url = urls.error.map(String::from);
    rec.abort_url = urls.abort.map(String::from);
    rec.language = payer.language.clone();
    rec.reference_text = reference.clone();
    if is_initial && role == Role::CreditCard {
        rec.checkout_token = Some(crate::domain::new_id());
    }
    let tx = match app
        .store
        .insert_transaction(&rec, "preauth received")
        .await?
    {
        Inserted::New(t) => t,
        Inserted::Existing(e) => {
            check_replay(&e, TxKind::Preauth, &money, Some(&agreement_id))?;
            return views::preauth(app, &e).await;
        }
    };

    let tx = match stored {
        Some(stored) => authorize_stored(app, m, &settings, tx, stored, reference).await?,
        None => {
            let method = match sepa {
                Some(acc) => InitialMethod::SepaDebit {
                    holder: acc.holder,
                    iban: acc.iban,
                    bic: acc.bic,
                    mandate_id: mandate_id(),
                    signed_on: app.now().date(),
                },
                None => InitialMethod::Card,
            };
            let req = InitialPreauth {
                merchant_tx_id: tx.billwerk_id.clone(),
                amount: money,
                method,
                payer,
                reference_text: reference,
                shopper_result_url: format!(
                    "{}/checkout/{}/return",
                    app.public_base_url,
                    tx.checkout_token.clone().unwrap_or_default()
                ),
            };
            start_initial(app, m, &settings, tx, &req).await?
        }
    };
    views::preauth(app, &tx).await
}

async fn start_initial(
    app: &App,
    m: &Merchant,
    settings: &crate::psp::PspSettings,
    tx: TransactionRecord,
    req: &InitialPreauth,
) -> Result<TransactionRecord, ApiError> {
    match m.provider.start_preauth(settings, req).await {
        PreauthStart::Redirect(c) => {
            let update = TxUpdate {
                checkout_id: Some(c.checkout_id.clone()),
                checkout_integrity: c.integrity.clone(),
                expires_at: Some(c.expires_at),
                note: "checkout created".into(),
                ..TxUpdate::default()
            };
            app.transition(tx, move |_| Some(update.clone())).await
        }
        PreauthStart::Done(r) => {
            let now = app.now();
            app.transition(tx, |t| outcome::update_for(t, &r, &app.stamp(now, false)))
                .await
        }
    }
}

/// A non-initial preauth: reserve on the stored card. A SEPA mandate or a zero amount reserves
/// nothing, so those succeed without a PSP call.
async fn authorize_stored(
    app: &App,
    m: &Merchant,
    settings: &crate::psp::PspSettings,
    tx: TransactionRecord,
    stored: StoredMethod,
    reference_text: Option<String>,
) -> Result<TransactionRecord, ApiError> {
    let now = app.now();
    if stored.is_debit || tx.requested_amount.is_zero() {
        return app
            .transition(tx, |t| {
                let mut u = outcome::local(
                    t,
                    TxStatus::Succeeded,
                    Trigger::PspOutcome,
                    None,
                    "nothing to reserve on a stored agreement",
                    None,
                )?;
                u.expires_at = Some(FAR_FUTURE);
                u.authorized_amount = Some(rust_decimal::Decimal::ZERO);
                Some(u)
            })
            .await;
    }
    let money = crate::domain::Money::new(
        tx.requested_amount,
        crate::domain::Currency::parse(&tx.currency).ok_or_else(ApiError::internal)?,
        true,
    )
    .map_err(|_| ApiError::internal())?;
    let req = StoredCharge {
        merchant_tx_id: tx.billwerk_id.clone(),
        amount: money,
        stored,
        reference_text,
    };
    let r = m.provider.authorize_stored(settings, &req).await;
    app.transition(tx, |t| outcome::update_for(t, &r, &app.stamp(now, false)))
        .await
}

/// A SEPA mandate reference: unique, upper case, within the 35 characters SEPA allows.
fn mandate_id() -> String {
    let id = crate::domain::new_id().to_ascii_uppercase();
    let year = chrono::Utc::now().year();
    format!("PSPI{year}{}", &id[..20])
}

/// `GET /api/Preauth/{id}`.
pub async fn get(app: &App, m: &Merchant, id: &str) -> Result<PreauthResponse, ApiError> {
    let tx = app.find(m, TxKind::Preauth, id).await?;
    views::preauth(app, &tx).await
}

/// `POST /api/Preauth/Finalize`: completes a checkout preauth by asking the PSP.
pub async fn finalize(
    app: &App,
    m: &Merchant,
    cmd: FinalizeCommand,
) -> Result<PreauthResponse, ApiError> {
    let id = cmd.id;
    let tx = app.find(m, TxKind::Preauth, id.as_str()).await?;
    let tx = super::checkout::complete(app, m, tx, false).await?;
    views::preauth(app, &tx).await
}

/// `POST /api/Preauth/{id}/Cancel`.
pub async fn cancel(
    app: &App,
    m: &Merchant,
    id: &str,
    _cmd: CancelCommand,
) -> Result<CancellationResponse, ApiError> {
    let tx = app.find(m, TxKind::Preauth, id).await?;
    let _guard = app.locks.lock(m.id(), id).await;
    let tx = app
        .find(m, TxKind::Preauth, tx.billwerk_id.as_str())
        .await?;
    let status = cancel_locked(app, m, tx).await?;
    Ok(CancellationResponse {
        cancellation_status: status,
        transaction_id: id.to_string(),
    })
}

async fn cancel_locked(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
) -> Result<CancellationStatus, ApiError> {
    let cancelled = |t: &TransactionRecord, note: &'static str| {
        outcome::local(t, TxStatus::Cancelled, Trigger::Cancel, None, note, None)
    };
    match tx.status {
        TxStatus::Cancelled => return Ok(CancellationStatus::Succeeded),
        TxStatus::Failed | TxStatus::Expired | TxStatus::Pending => {
            return Ok(CancellationStatus::NotCancelled);
        }
        TxStatus::Initiated => {
            app.transition(tx, |t| cancelled(t, "cancelled before the shopper paid"))
                .await?;
            return Ok(CancellationStatus::Succeeded);
        }
        TxStatus::Succeeded => {}
    }
    let captures = app.store.list_children(m.id(), &tx.id).await?;
    if captures
        .iter()
        .any(|c| !matches!(c.status, TxStatus::Failed | TxStatus::Cancelled))
    {
        return Ok(CancellationStatus::NotCancelled);
    }
    let psp_id = match (&tx.psp_tx_id, tx.authorized_amount.is_zero()) {
        (Some(p), false) => p.clone(),
        _ => {
            app.transition(tx, |t| cancelled(t, "nothing reserved; cancelled locally"))
                .await?;
            return Ok(CancellationStatus::Succeeded);
        }
    };
    let settings = app.settings(m).await?;
    let req = FollowUp {
        merchant_tx_id: format!("{}-cancel", tx.billwerk_id),
        psp_transaction_id: psp_id,
        amount: None,
        merchant_initiated: !tx.is_initial,
    };
    let r: PspResult = m.provider.cancel(&settings, &req).await;
    Ok(match r.outcome {
        Outcome::Succeeded => {
            app.transition(tx, |t| cancelled(t, "reversed at the PSP"))
                .await?;
            CancellationStatus::Succeeded
        }
        Outcome::Declined(d) if d.code == crate::domain::PaymentErrorCode::AlreadyExecuted => {
            app.transition(tx, |t| cancelled(t, "already reversed at the PSP"))
                .await?;
            CancellationStatus::Succeeded
        }
        Outcome::Declined(_) => CancellationStatus::Failed,
        Outcome::Pending | Outcome::Unknown(_) => CancellationStatus::Pending,
    })
}
