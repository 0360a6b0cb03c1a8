//! Inbound PSP notifications. Nothing is acknowledged before it is committed: the raw
//! notification, the transaction's forward-only change and the Billwerk outbox row go into one
//! DB transaction, and only then does the PSP get its 200. Duplicates (PSP retries, several
//! configured webhooks) are recognised by the event key and change nothing.

use rust_decimal::Decimal;

use super::{App, Merchant, outcome, views};
use crate::domain::{AgreementStatus, ChargebackReason, TxKind, TxStatus, WebhookType};
use crate::psp::{
    InboundNotification, NotificationError, Outcome, PaymentEvent, PspEvent, PspResult,
};
use crate::store::{
    Chargeback, NotificationChange, NotificationRecord, StoreError, TransactionRecord, TxUpdate,
};

/// How a notification was answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ack {
    /// Stored (and applied, where it changed something): answer 200.
    Stored(String),
    /// Seen before: answer 200, nothing written.
    Duplicate,
    /// The PSP's activation test: answer 200.
    Test,
}

/// Why a notification is refused; none of these wrote anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("unknown notification endpoint")]
    UnknownEndpoint,
    #[error("{0}")]
    Unauthentic(String),
    #[error("storage failure")]
    Internal,
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure while receiving a notification");
        Refused::Internal
    }
}

/// What to do with a decoded event.
enum Plan {
    Apply(Box<(TransactionRecord, TxUpdate)>, String),
    Record(Option<String>, String),
}

/// `POST /psp/{psp}/{merchant}/notifications`.
pub async fn receive(
    app: &App,
    psp: &str,
    merchant_id: &str,
    inbound: InboundNotification<'_>,
) -> Result<Ack, Refused> {
    let m = app
        .merchant(merchant_id)
        .await
        .map_err(|_| Refused::UnknownEndpoint)?;
    if !m.record.psp.eq_ignore_ascii_case(psp) {
        return Err(Refused::UnknownEndpoint);
    }
    let settings = app
        .stored_settings(m.id())
        .await
        .map_err(|_| Refused::Internal)?
        .ok_or(Refused::UnknownEndpoint)?;
    let decoded = match m.provider.decode_notification(&settings, &inbound) {
        Ok(n) => n,
        Err(NotificationError::Unauthentic(why)) => {
            tracing::warn!(merchant = %m.id(), reason = %why, "notification refused");
            return Err(Refused::Unauthentic(why));
        }
        Err(NotificationError::Malformed(why)) => {
            // Authentic but not understood: keep it for an operator, stop the PSP retrying.
            tracing::warn!(merchant = %m.id(), reason = %why, "notification not understood");
            let key = format!("malformed:{}", crate::domain::new_id());
            let rec = record(
                app,
                &m,
                &inbound,
                key,
                "unknown",
                None,
                None,
                format!("not understood: {why}"),
            );
            app.store.record_notification(&rec, None).await?;
            return Ok(Ack::Stored("not understood".into()));
        }
    };
    let (kind, psp_id) = describe(&decoded.event);
    for _ in 0..8 {
        let plan = match &decoded.event {
            PspEvent::Test => return Ok(Ack::Test),
            PspEvent::Ignored(what) => Plan::Record(None, format!("ignored: {what}")),
            PspEvent::RegistrationDeleted { registration_id } => {
                registration_deleted(app, &m, registration_id).await?
            }
            PspEvent::Payment(ev) => payment(app, &m, ev).await?,
        };
        let (change, tx_id, outcome) = match plan {
            Plan::Apply(boxed, label) => {
                let (tx, update) = *boxed;
                let at = crate::domain::Ticks::next_after(app.now(), tx.last_updated);
                let c = NotificationChange {
                    tx_id: tx.id.clone(),
                    expected: tx.last_updated,
                    at,
                    update,
                };
                (Some(c), Some(tx.id.clone()), label)
            }
            Plan::Record(tx_id, label) => (None, tx_id, label),
        };
        let rec = record(
            app,
            &m,
            &inbound,
            decoded.dedupe_key.clone(),
            &kind,
            psp_id.clone(),
            tx_id,
            outcome.clone(),
        );
        match app.store.record_notification(&rec, change.as_ref()).await {
            Ok(true) => return Ok(Ack::Stored(outcome)),
            Ok(false) => return Ok(Ack::Duplicate),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    tracing::error!(merchant = %m.id(), "notification kept conflicting with concurrent updates");
    Err(Refused::Internal)
}

fn describe(event: &PspEvent) -> (String, Option<String>) {
    match event {
        PspEvent::Test => ("test".into(), None),
        PspEvent::Payment(ev) => (
            format!("PAYMENT {}", ev.payment_type),
            ev.result.psp_transaction_id.clone(),
        ),
        PspEvent::RegistrationDeleted { registration_id } => {
            ("REGISTRATION DELETED".into(), Some(registration_id.clone()))
        }
        PspEvent::Ignored(what) => (what.clone(), None),
    }
}

#[allow(clippy::too_many_arguments)]
fn record(
    app: &App,
    m: &Merchant,
    inbound: &InboundNotification<'_>,
    dedupe_key: String,
    event: &str,
    psp_tx_id: Option<String>,
    transaction_id: Option<String>,
    outcome: String,
) -> NotificationRecord {
    NotificationRecord {
        merchant_id: m.id().to_string(),
        psp: m.record.psp.clone(),
        dedupe_key,
        received_at: app.now(),
        iv: inbound.iv.unwrap_or_default().to_string(),
        tag: inbound.tag.unwrap_or_default().to_string(),
        body: inbound.body.to_vec(),
        event: event.to_string(),
        psp_tx_id,
        transaction_id,
        outcome,
    }
}

/// A deleted registration makes its agreement inactive; Billwerk hears of it by a type-4
/// webhook naming the agreement and the preauth that created it.
async fn registration_deleted(
    app: &App,
    m: &Merchant,
    registration_id: &str,
) -> Result<Plan, Refused> {
    let Some(mut agreement) = app
        .store
        .agreement_by_registration(m.id(), registration_id)
        .await?
    else {
        return Ok(Plan::Record(None, "unknown registration".into()));
    };
    if agreement.status == AgreementStatus::Inactive {
        return Ok(Plan::Record(None, "agreement already inactive".into()));
    }
    let Some(preauth) = app
        .store
        .latest_preauth_of_agreement(m.id(), &agreement.agreement_id)
        .await?
    else {
        return Ok(Plan::Record(None, "agreement without preauth".into()));
    };
    agreement.status = AgreementStatus::Inactive;
    agreement.updated_at = app.now();
    let update = TxUpdate {
        agreement: Some(agreement),
        notify: Some(WebhookType::Agreement),
        note: "registration deleted at the PSP; agreement inactive".into(),
        ..TxUpdate::default()
    };
    Ok(Plan::Apply(
        Box::new((preauth, update)),
        "agreement inactive".into(),
    ))
}

/// Finds our transaction for a payment event: by the merchantTransactionId we sent, else by
/// the PSP id (a chargeback by the id of the debit it reverses).
async fn locate(
    app: &App,
    m: &Merchant,
    ev: &PaymentEvent,
) -> Result<Option<TransactionRecord>, Refused> {
    if ev.payment_type == "CB"
        && let Some(r) = &ev.referenced_id
        && let Some(tx) = app.store.transaction_by_psp_id(m.id(), r).await?
    {
        return Ok(Some(tx));
    }
    if let Some(mt) = &ev.merchant_tx_id {
        let base = mt.strip_suffix("-cancel").unwrap_or(mt);
        if let Some(tx) = app.store.get_transaction(m.id(), base).await? {
            return Ok(Some(tx));
        }
    }
    match &ev.result.psp_transaction_id {
        Some(id) => Ok(app.store.transaction_by_psp_id(m.id(), id).await?),
        None => Ok(None),
    }
}

async fn payment(app: &App, m: &Merchant, ev: &PaymentEvent) -> Result<Plan, Refused> {
    let Some(tx) = locate(app, m, ev).await? else {
        return Ok(Plan::Record(None, "unknown transaction".into()));
    };
    let stamp = app.stamp(app.now(), true);
    let expected = matches!(
        (tx.kind, ev.payment_type.as_str()),
        (TxKind::Preauth, "PA" | "DB") | (TxKind::Payment, "DB" | "CP") | (TxKind::Refund, "RF")
    );
    let plan = match ev.payment_type.as_str() {
        "CB" if tx.kind == TxKind::Payment => chargeback(app, &tx, ev).await?,
        "RV" if matches!(ev.result.outcome, Outcome::Succeeded) => {
            let u = outcome::local(
                TxStatus::Cancelled,
                None,
                "reversed at the PSP",
                Some(tx.kind.webhook_type()),
            );
            forward(tx, u, "reversal applied")
        }
        _ if expected && !matches!(ev.result.outcome, Outcome::Unknown(_)) => {
            if let Some(why) = mismatch(&tx, &ev.result) {
                return Ok(Plan::Record(Some(tx.id.clone()), why));
            }
            match outcome::update_for(&tx, &ev.result, &stamp) {
                Some(u) => Plan::Apply(Box::new((tx, u)), "applied".into()),
                None => Plan::Record(Some(tx.id.clone()), "stale: not a forward change".into()),
            }
        }
        // Ambiguous (unexpected type for this transaction, or an unclassifiable code): ask the
        // PSP for the transaction's own state instead of trusting the event.
        _ => verify(app, m, tx, &stamp).await?,
    };
    Ok(plan)
}

fn forward(tx: TransactionRecord, u: TxUpdate, label: &str) -> Plan {
    match u.status {
        Some(s) if !tx.status.can_transition_to(s) => {
            Plan::Record(Some(tx.id.clone()), "stale: not a forward change".into())
        }
        _ => Plan::Apply(Box::new((tx, u)), label.into()),
    }
}

/// An event about a different amount or currency than ours is recorded, never applied.
fn mismatch(tx: &TransactionRecord, r: &PspResult) -> Option<String> {
    outcome::differs(tx, r).then(|| {
        tracing::warn!(tx = %tx.id, "notification amount or currency differs from the transaction");
        "amount or currency mismatch: not applied".to_string()
    })
}

async fn chargeback(app: &App, tx: &TransactionRecord, ev: &PaymentEvent) -> Result<Plan, Refused> {
    let amount = ev.result.amount.unwrap_or(Decimal::ZERO);
    let paid = views::payment_balance(app, tx)
        .await
        .map_err(|_| Refused::Internal)?
        .paid;
    let currency_ok = ev
        .result
        .currency
        .as_deref()
        .is_none_or(|c| c.eq_ignore_ascii_case(&tx.currency));
    if amount <= Decimal::ZERO || amount > paid || !currency_ok {
        return Ok(Plan::Record(
            Some(tx.id.clone()),
            "chargeback amount or currency mismatch: not applied".into(),
        ));
    }
    let info = ev.chargeback.clone();
    let cb = Chargeback {
        external_item_id: ev.result.psp_transaction_id.clone(),
        amount,
        booking_date: ev.result.booking_date.unwrap_or_else(|| app.now().date()),
        description: Some("Chargeback".into()),
        fee_amount: None,
        reason: info
            .as_ref()
            .map_or(ChargebackReason::Unknown, |i| i.reason),
        psp_reason_code: info.as_ref().and_then(|i| i.reason_code.clone()),
        psp_reason_message: info.and_then(|i| i.reason_message),
    };
    let update = TxUpdate {
        add_chargebacks: vec![cb],
        notify: Some(WebhookType::Payment),
        note: format!("chargeback {amount}"),
        ..TxUpdate::default()
    };
    Ok(Plan::Apply(
        Box::new((tx.clone(), update)),
        "chargeback recorded".into(),
    ))
}

async fn verify(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    stamp: &outcome::Stamp,
) -> Result<Plan, Refused> {
    let settings = app.settings(m).await.map_err(|_| Refused::Internal)?;
    let fetched = match &tx.psp_tx_id {
        Some(id) => m.provider.fetch_status(&settings, id).await.ok(),
        None => m
            .provider
            .find_by_merchant_tx_id(&settings, &tx.billwerk_id)
            .await
            .ok()
            .flatten(),
    };
    let Some(r) = fetched else {
        return Ok(Plan::Record(
            Some(tx.id.clone()),
            "ambiguous; PSP status unavailable".into(),
        ));
    };
    if mismatch(&tx, &r).is_some() {
        return Ok(Plan::Record(
            Some(tx.id.clone()),
            "ambiguous; PSP status differs in amount".into(),
        ));
    }
    Ok(match outcome::update_for(&tx, &r, stamp) {
        Some(u) => Plan::Apply(Box::new((tx, u)), "applied after a PSP status query".into()),
        None => Plan::Record(
            Some(tx.id.clone()),
            "ambiguous; PSP status is not a forward change".into(),
        ),
    })
}
