//! Inbound PSP notifications. Nothing is acknowledged before it is committed: the raw
//! notification, the transaction's change and the Billwerk outbox row go into one DB
//! transaction, and only then does the PSP get its 200.
//!
//! What an event may do (README "State model"):
//! - an event about a transaction's own outcome moves it only as `domain::state` allows; one
//!   that contradicts a final state, or whose amount or currency is missing, unreadable or
//!   different, is checked with a PSP status query and the PSP's own status decides; a
//!   contradiction is recorded (history, log, metric), never applied;
//! - refunds made at the PSP, reversals, chargebacks and chargeback reversals are money events
//!   of a payment, bounded by the money rules; one that arrives before the payment is settled
//!   (or a reversal before its chargeback) is parked and applied when the payment gets there;
//! - an event is de-duplicated by its full identity, and only once it was applied, verified or
//!   parked: a notification that could not be verified never shadows a later copy.

use rust_decimal::Decimal;

use super::{App, Merchant, outcome, views};
use crate::domain::state::{Facts, Trigger};
use crate::domain::{ChargebackReason, TxKind, TxStatus, WebhookType};
use crate::psp::{
    EventKind, Inbound, Lookup, MerchantPsp, NotificationError, Outcome, PaymentEvent, PspEvent,
    PspNotification, PspResult, Reference,
};
use crate::store::{
    Chargeback, ItemKind, MerchantRecord, NotificationChange, NotificationRecord, ParkedEvent,
    PaymentItem, PspCallNote, StoreError, TransactionRecord, TxUpdate,
};

/// The verdict stored on a notification the merchant's PSP settings cannot read (wrong mode,
/// revoked key), for an operator.
pub const MISCONFIGURED: &str = "MISCONFIGURED";

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

/// What becomes of an event.
#[derive(Debug)]
enum Plan {
    /// Apply `update` to the transaction (the key is used up).
    Apply(Box<(TransactionRecord, TxUpdate)>, String),
    /// Record without a change. `verified`: the event was checked (a copy of it is a
    /// duplicate); otherwise a later copy is evaluated again.
    Record {
        tx: Option<TransactionRecord>,
        label: String,
        verified: bool,
        /// A contradiction: also noted in the transaction's history for an operator.
        contradiction: bool,
    },
    /// Kept until the transaction can take it, with the PSP-neutral event as JSON (filled in
    /// by `payment`).
    Park(Option<TransactionRecord>, String, Option<String>),
}

impl Plan {
    fn record(tx: &TransactionRecord, label: impl Into<String>) -> Plan {
        Plan::Record {
            tx: Some(tx.clone()),
            label: label.into(),
            verified: true,
            contradiction: false,
        }
    }

    fn contradiction(tx: &TransactionRecord, label: impl Into<String>) -> Plan {
        let label = label.into();
        tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, status = %tx.status, what = %label, "contradictory PSP event, not applied");
        Plan::Record {
            tx: Some(tx.clone()),
            label,
            verified: true,
            contradiction: true,
        }
    }

    fn unverified(tx: Option<&TransactionRecord>, label: impl Into<String>) -> Plan {
        Plan::Record {
            tx: tx.cloned(),
            label: label.into(),
            verified: false,
            contradiction: false,
        }
    }

    /// The metric label of the result.
    fn result(&self) -> &'static str {
        match self {
            Plan::Apply(..) => "applied",
            Plan::Park(..) => "parked",
            Plan::Record {
                contradiction: true,
                ..
            } => "contradiction",
            Plan::Record {
                verified: false, ..
            } => "unverified",
            Plan::Record { .. } => "recorded",
        }
    }

    /// The transaction change committed with the record, if any.
    fn change(&self, app: &App) -> Option<NotificationChange> {
        let (tx, update) = match self {
            Plan::Apply(boxed, _) => (&boxed.0, boxed.1.clone()),
            Plan::Record {
                tx: Some(tx),
                label,
                contradiction: true,
                ..
            } => (
                tx,
                TxUpdate {
                    note: format!("contradiction: {label}"),
                    keep_version: true,
                    ..TxUpdate::default()
                },
            ),
            _ => return None,
        };
        Some(NotificationChange {
            tx_id: tx.id.clone(),
            expected: tx.last_updated,
            at: crate::domain::Ticks::next_after(app.now(), tx.last_updated),
            update,
        })
    }

    fn label(&self) -> &str {
        match self {
            Plan::Apply(_, l) | Plan::Park(_, l, _) | Plan::Record { label: l, .. } => l,
        }
    }

    fn tx_id(&self) -> Option<String> {
        match self {
            Plan::Apply(b, _) => Some(b.0.id.clone()),
            Plan::Park(tx, _, _) => tx.as_ref().map(|t| t.id.clone()),
            Plan::Record { tx, .. } => tx.as_ref().map(|t| t.id.clone()),
        }
    }
}

fn count(result: &'static str) {
    crate::telemetry::notification_outcome(result);
}

/// The stored form of an inbound call: its body and the authentication parts its adapter names.
struct Raw<'a> {
    body: &'a [u8],
    auth: Option<String>,
}

/// Where a notification came in: the path's family, merchant id and token (`None` on the
/// tokenless path). All of it is unauthenticated input.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint<'a> {
    pub family: &'a str,
    pub merchant_id: &'a str,
    pub token: Option<&'a str>,
}

/// The URL `merchant`'s PSP delivers its notifications to (registered at the PSP, or sent with
/// each payment): `{base}/psp/{family}/{merchant id}/{token}/notifications`, the token being
/// [`crate::crypto::Sealer::notification_token`] under the current master key.
pub fn url(
    public_base_url: &str,
    sealer: &crate::crypto::Sealer,
    merchant: &MerchantRecord,
) -> String {
    format!(
        "{public_base_url}/psp/{}/{}/{}/notifications",
        merchant.psp,
        merchant.id,
        sealer.notification_token(&merchant.id)
    )
}

/// Whether `m` takes notifications at `at`: the family is the merchant's and either the token
/// is the merchant's (under the current or a previous master key, compared in constant time) or,
/// on the tokenless path, the family's notifications authenticate themselves
/// (`Capabilities::self_authenticating_notifications`).
pub fn accepts(app: &App, m: &Merchant, at: &Endpoint<'_>) -> bool {
    if !m.record.psp.eq_ignore_ascii_case(at.family) {
        return false;
    }
    match at.token {
        Some(token) => app.sealer.accepts_notification_token(m.id(), token),
        None => m.provider.capabilities().self_authenticating_notifications,
    }
}

/// `POST /psp/{psp}/{merchant}/{token}/notifications` (and the tokenless path, for the families
/// that allow it): nothing is read, stored or counted as received before [`accepts`] holds.
#[tracing::instrument(level = "error", name = "notification", skip_all,
    fields(merchant_id = tracing::field::Empty))]
pub async fn receive(app: &App, at: Endpoint<'_>, inbound: Inbound<'_>) -> Result<Ack, Refused> {
    let merchant_id = at.merchant_id;
    let m = app
        .merchant(merchant_id)
        .await
        // A database that cannot be read is not an unknown endpoint: the PSP must retry.
        .map_err(|e| {
            if e.is_retryable() {
                Refused::Internal
            } else {
                Refused::UnknownEndpoint
            }
        })?;
    if !accepts(app, &m, &at) {
        return Err(Refused::UnknownEndpoint);
    }
    // Named once it is known (the path's id is unauthenticated input until then).
    tracing::Span::current().record("merchant_id", m.id());
    crate::telemetry::note_merchant(m.id());
    let settings = app
        .stored_settings(m.id())
        .await
        .map_err(|_| Refused::Internal)?
        .ok_or(Refused::UnknownEndpoint)?;
    let raw = Raw {
        body: inbound.body,
        auth: inbound.kept(m.provider.capabilities().notification_headers),
    };
    let client = match app.bind_psp(&m, &settings) {
        Ok(c) => c,
        Err(e) => {
            let why = format!("settings unusable: {e}");
            tracing::warn!(merchant = %m.id(), reason = %why, "notification refused");
            count("rejected");
            return Err(Refused::Unauthentic(why));
        }
    };
    let started = std::time::Instant::now();
    let received = client.receive(&inbound).await;
    // A family whose notifications do not authenticate themselves only names the transaction:
    // its adapter fetched the state from the PSP, a call the console's timeline shows.
    let fetch =
        (!m.provider.capabilities().self_authenticating_notifications).then(|| PspCallNote {
            operation: "fetch (notification)".into(),
            result_code: None,
            description: Some(format!(
                "{} event(s) read",
                received.as_ref().map_or(0, Vec::len)
            )),
            duration_ms: i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX),
        });
    let decoded = match received {
        Ok(n) => n,
        Err(NotificationError::Unauthentic(why)) => {
            tracing::warn!(merchant = %m.id(), reason = %why, "notification refused");
            count("rejected");
            return Err(Refused::Unauthentic(why));
        }
        Err(NotificationError::Malformed(why)) => {
            // Authentic but not understood: keep it for an operator, stop the PSP retrying.
            tracing::warn!(merchant = %m.id(), reason = %why, "notification not understood");
            let key = format!("malformed:{}", crate::domain::new_id());
            let plan = Plan::unverified(None, format!("not understood: {why}"));
            let rec = record(app, &m, &raw, key, ("unknown", None), plan);
            app.store.record_notification(&rec, None).await?;
            count("malformed");
            return Ok(Ack::Stored("not understood".into()));
        }
        Err(NotificationError::Unavailable(why)) => {
            // Nothing could be read now (the PSP did not answer the fetch): it must retry.
            tracing::warn!(merchant = %m.id(), reason = %why, "notification not readable now");
            count("unavailable");
            return Err(Refused::Internal);
        }
        Err(NotificationError::Misconfigured(why)) => {
            // The merchant's settings cannot read what the PSP names (a test key for a live
            // payment, a revoked key): kept with the verdict for an operator, never a payment
            // outcome; not acknowledged, so the PSP delivers it again once the key is fixed.
            tracing::error!(merchant = %m.id(), reason = %why,
                "notification cannot be read with the merchant's PSP settings: configuration error");
            let key = format!("misconfigured:{}", crate::domain::new_id());
            let plan = Plan::unverified(None, format!("{MISCONFIGURED}: {why}"));
            let rec = record(app, &m, &raw, key, ("unknown", None), plan);
            app.store.record_notification(&rec, None).await?;
            count("misconfigured");
            return Err(Refused::Internal);
        }
    };
    if decoded.is_empty() {
        // Authentic, but nothing has changed: the call is kept, and uses up no event key.
        let key = format!("call:{}", crate::domain::new_id());
        let rec = record(
            app,
            &m,
            &raw,
            key,
            ("none", None),
            Plan::unverified(None, "no change"),
        );
        app.store.record_notification(&rec, None).await?;
        count("recorded");
        return Ok(Ack::Stored("no change".into()));
    }
    // One call may report several events (a fetch can reveal a capture, a refund and a
    // chargeback at once): each is planned and committed on its own, in the order given; a
    // failure makes the PSP deliver the call again, and what was committed is then a duplicate.
    let mut acks = Vec::with_capacity(decoded.len());
    let mut fetch = fetch;
    for n in decoded {
        acks.push(one(app, &m, &raw, n, &mut fetch).await?);
    }
    Ok(combined(acks))
}

/// The answer for a call with several events: stored if any was, else a test, else a duplicate.
fn combined(acks: Vec<Ack>) -> Ack {
    let mut test = false;
    let mut stored = Vec::new();
    for a in acks {
        match a {
            Ack::Stored(label) => stored.push(label),
            Ack::Test => test = true,
            Ack::Duplicate => {}
        }
    }
    if !stored.is_empty() {
        Ack::Stored(stored.join("; "))
    } else if test {
        Ack::Test
    } else {
        Ack::Duplicate
    }
}

/// Plans and commits one event of a call.
async fn one(
    app: &App,
    m: &Merchant,
    raw: &Raw<'_>,
    decoded: PspNotification,
    fetch: &mut Option<PspCallNote>,
) -> Result<Ack, Refused> {
    let m = m.clone();
    if app.store.event_seen(m.id(), &decoded.dedupe_key).await? {
        count("duplicate");
        return Ok(Ack::Duplicate);
    }
    let (kind, psp_id) = describe(&decoded.event);
    let mut replanned = false;
    for _ in 0..8 {
        let plan = match &decoded.event {
            PspEvent::Test => return Ok(Ack::Test),
            PspEvent::Ignored(what) => Plan::Record {
                tx: None,
                label: format!("ignored: {what}"),
                verified: true,
                contradiction: false,
            },
            PspEvent::CredentialRevoked { credential } => {
                credential_revoked(app, &m, credential).await?
            }
            PspEvent::Payment(ev) => payment(app, &m, ev).await?,
        };
        let change = plan.change(app);
        let result = plan.result();
        let label = plan.label().to_string();
        let applied = match &plan {
            Plan::Apply(b, _) => Some(b.0.clone()),
            _ => None,
        };
        let moves = change.as_ref().is_some_and(|c| c.update.status.is_some());
        if let Some(tx) = &applied {
            crate::telemetry::note_transaction(&tx.billwerk_id);
        }
        let rec = record(
            app,
            &m,
            raw,
            decoded.dedupe_key.clone(),
            (&kind, psp_id.clone()),
            plan,
        );
        match app.store.record_notification(&rec, change.as_ref()).await {
            Ok(true) => {
                count(result);
                if let Some(tx) = applied
                    && let Ok(Some(fresh)) = app.store.get_transaction_by_id(m.id(), &tx.id).await
                {
                    // Noted once, on the first transaction the call changed.
                    if let Some(note) = fetch.take() {
                        app.note_call(&fresh, &note).await;
                    }
                    if moves {
                        super::counted(&fresh);
                    }
                    release_parked(app, &fresh).await;
                    // Money collected for a preauth this event failed goes back now.
                    super::preauth::give_back(app, &m, &fresh).await;
                }
                return Ok(Ack::Stored(label));
            }
            Ok(false) => {
                count("duplicate");
                return Ok(Ack::Duplicate);
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::MoneyRule(_)) if !replanned => {
                // A concurrent change used the headroom: judge the event again against the
                // money as it is now (it may have to wait for money in flight).
                replanned = true;
                continue;
            }
            Err(StoreError::MoneyRule(why)) => {
                // The store's money rules refused it again: keep it as a verified refusal.
                let tx_id = rec.transaction_id.clone().unwrap_or_default();
                let tx = app.store.get_transaction_by_id(m.id(), &tx_id).await?;
                let plan = match &tx {
                    Some(t) => Plan::contradiction(t, format!("not applied: {why}")),
                    None => Plan::unverified(None, format!("not applied: {why}")),
                };
                let change = plan.change(app);
                let rec = record(
                    app,
                    &m,
                    raw,
                    decoded.dedupe_key.clone(),
                    (&kind, psp_id.clone()),
                    plan,
                );
                match app.store.record_notification(&rec, change.as_ref()).await {
                    Ok(true) => {
                        count("contradiction");
                        return Ok(Ack::Stored(rec.outcome));
                    }
                    Ok(false) => return Ok(Ack::Duplicate),
                    Err(StoreError::Conflict) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
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
            format!("PAYMENT {}", ev.psp_type),
            ev.result.psp_transaction_id.clone(),
        ),
        PspEvent::CredentialRevoked { credential } => {
            ("CREDENTIAL REVOKED".into(), Some(credential.clone()))
        }
        PspEvent::Ignored(what) => (what.clone(), None),
    }
}

fn record(
    app: &App,
    m: &Merchant,
    raw: &Raw<'_>,
    dedupe_key: String,
    (event, psp_tx_id): (&str, Option<String>),
    plan: Plan,
) -> NotificationRecord {
    let consumes = !matches!(
        plan,
        Plan::Record {
            verified: false,
            ..
        }
    );
    NotificationRecord {
        merchant_id: m.id().to_string(),
        psp: m.record.psp.clone(),
        dedupe_key,
        received_at: app.now(),
        auth: raw.auth.clone(),
        body: raw.body.to_vec(),
        event: event.to_string(),
        psp_tx_id,
        transaction_id: plan.tx_id(),
        outcome: plan.label().to_string(),
        consumes,
        parked_event: match plan {
            Plan::Park(_, _, event) => event,
            _ => None,
        },
    }
}

/// A revoked credential makes its agreement inactive (`revoked`, shared with the charges
/// that find one); applied with the notification's record.
async fn credential_revoked(app: &App, m: &Merchant, credential: &str) -> Result<Plan, Refused> {
    use super::revoked::Revocation;
    Ok(match super::revoked::plan(app, m.id(), credential).await? {
        Revocation::UnknownCredential => Plan::unverified(None, "unknown stored credential"),
        Revocation::NoPreauth => Plan::unverified(None, "agreement without preauth"),
        Revocation::AlreadyInactive(preauth) => {
            Plan::record(&preauth, "agreement already inactive")
        }
        Revocation::Apply(b) => Plan::Apply(b, "agreement inactive".into()),
    })
}

/// How an event relates to the transaction it was matched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Relation {
    /// The event is the transaction's own PSP transaction.
    Own,
    /// The event is another PSP transaction that refers to it (capture, reversal, refund,
    /// chargeback, chargeback reversal).
    Refers,
}

/// Finds our transaction for a payment event: by the event's own PSP id, by the
/// merchantTransactionId we sent, else by the PSP id the event refers to.
async fn locate(
    app: &App,
    m: &Merchant,
    ev: &PaymentEvent,
) -> Result<Option<(TransactionRecord, Relation)>, Refused> {
    if let Some(id) = &ev.result.psp_transaction_id
        && let Some(tx) = app.store.transaction_by_psp_id(m.id(), id).await?
    {
        return Ok(Some((tx, Relation::Own)));
    }
    let mut by_reference = None;
    if let Some(mt) = &ev.merchant_tx_id
        && let Some(tx) = app.store.get_transaction(m.id(), mt).await?
    {
        if tx.psp_tx_id.is_none() && outcome::fits(&tx, &ev.kind) {
            return Ok(Some((tx, Relation::Own)));
        }
        by_reference = Some(tx);
    }
    if let Some(r) = &ev.referenced_id
        && let Some(tx) = app.store.transaction_by_psp_id(m.id(), r).await?
    {
        return Ok(Some((tx, Relation::Refers)));
    }
    Ok(by_reference.map(|tx| (tx, Relation::Refers)))
}

/// The plan for a payment event, matched exhaustively on what it is to which transaction.
async fn payment(app: &App, m: &Merchant, ev: &PaymentEvent) -> Result<Plan, Refused> {
    let Some((tx, relation)) = locate(app, m, ev).await? else {
        if ev.referenced_id.is_some() && is_money_event(&ev.kind) {
            // It refers to a PSP transaction we do not know yet, e.g. one whose answer was lost
            // and that the reconciler is still looking for: keep it until it is known.
            return finish_park(
                Plan::Park(
                    None,
                    "refers to a transaction not known yet: parked".into(),
                    None,
                ),
                ev,
            );
        }
        // Our transactions exist before the PSP hears of them: an event for none of them is
        // not ours to apply, and a copy of it is a duplicate.
        return Ok(Plan::Record {
            tx: None,
            label: "unknown transaction".into(),
            verified: true,
            contradiction: false,
        });
    };
    let (tx, relation) = match collected_capture(app, m, &tx, ev).await? {
        Some(capture) => (capture, Relation::Refers),
        None => (tx, relation),
    };
    let plan = match (relation, tx.kind, &ev.kind) {
        (Relation::Own, _, k) if outcome::fits(&tx, k) => own_outcome(app, m, tx, ev).await?,
        (Relation::Refers, TxKind::Preauth, EventKind::Reversal) => {
            let facts = app.facts(&tx).await?;
            preauth_reversed(&tx, facts, ev)
        }
        (
            Relation::Refers,
            TxKind::Payment,
            EventKind::Reversal | EventKind::Refund | EventKind::Chargeback,
        )
        | (Relation::Refers, TxKind::Payment, EventKind::ChargebackReversal) => {
            money_event(app, m, tx, ev).await?
        }
        (
            Relation::Own | Relation::Refers,
            _,
            EventKind::Authorization
            | EventKind::Debit
            | EventKind::Capture
            | EventKind::Reversal
            | EventKind::Refund
            | EventKind::Chargeback
            | EventKind::ChargebackReversal
            | EventKind::Other(_),
        ) => {
            let why = format!(
                "a {} event this {} does not expect",
                ev.psp_type,
                tx.kind.as_str()
            );
            verify(app, m, tx, &why).await?
        }
    };
    finish_park(plan, ev)
}

/// Money collected at authorization is shown on the preauth's captures, which share the debit's
/// PSP id (README, choices): a refund, reversal, chargeback or chargeback reversal of that debit
/// goes to the first capture with room for it. `None` when `tx` is no such preauth or capture,
/// or none has room (the event is then verified and recorded for an operator as before).
async fn collected_capture(
    app: &App,
    m: &Merchant,
    tx: &TransactionRecord,
    ev: &PaymentEvent,
) -> Result<Option<TransactionRecord>, Refused> {
    if !tx.collected_at_authorization || !is_money_event(&ev.kind) {
        return Ok(None);
    }
    let preauth_id = match (tx.kind, &tx.parent_id) {
        (TxKind::Preauth, _) => tx.id.clone(),
        (TxKind::Payment, Some(p)) => p.clone(),
        _ => return Ok(None),
    };
    let amount = ev.result.amount.unwrap_or_default();
    for c in app.store.list_children(m.id(), &preauth_id).await? {
        if c.kind != TxKind::Payment || c.status != TxStatus::Succeeded {
            continue;
        }
        let t = views::payment_totals(app, &c)
            .await
            .map_err(|_| Refused::Internal)?;
        let room = match ev.kind {
            EventKind::ChargebackReversal => t.charged_back - t.reversed,
            _ => t.paid + t.reversed - t.refunded - t.refunding - t.charged_back,
        };
        if amount <= room {
            return Ok(Some(c));
        }
    }
    Ok(None)
}

/// Events that move a payment's money rather than decide a transaction's own outcome.
fn is_money_event(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Reversal
            | EventKind::Refund
            | EventKind::Chargeback
            | EventKind::ChargebackReversal
    )
}

/// A parked plan carries the PSP-neutral event it keeps.
fn finish_park(plan: Plan, ev: &PaymentEvent) -> Result<Plan, Refused> {
    match plan {
        Plan::Park(tx, label, None) => {
            let json = serde_json::to_string(ev).map_err(|e| {
                tracing::error!(error = %e, "cannot serialize a parked event");
                Refused::Internal
            })?;
            Ok(Plan::Park(tx, label, Some(json)))
        }
        plan => Ok(plan),
    }
}

/// An event about the transaction's own outcome.
async fn own_outcome(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    ev: &PaymentEvent,
) -> Result<Plan, Refused> {
    let r = &ev.result;
    let readable = r.amount.is_some() && r.currency.is_some();
    if !readable || outcome::differs(&tx, r) || matches!(r.outcome, Outcome::Unknown(_)) {
        let why = if readable {
            "amount, currency or result not as expected"
        } else {
            "amount or currency missing or unreadable"
        };
        return verify(app, m, tx, why).await;
    }
    let stamp = app.stamp(app.now(), true);
    Ok(match outcome::effect(&tx, r, &stamp) {
        outcome::Effect::Update(u) => Plan::Apply(Box::new((tx, *u)), "applied".into()),
        outcome::Effect::NoChange => Plan::record(&tx, "no change"),
        outcome::Effect::Contradiction(to) => {
            let why = format!("reported {to} for a {} {}", tx.status, tx.kind.as_str());
            verify(app, m, tx, &why).await?
        }
    })
}

/// A reversal of a preauth confirmed by the PSP: nothing is reserved any more. One of a preauth
/// that was captured meanwhile is stale news the API itself would refuse (a captured
/// authorization cannot be cancelled): recorded as a contradiction, never applied.
fn preauth_reversed(tx: &TransactionRecord, facts: Facts, ev: &PaymentEvent) -> Plan {
    if ev.result.outcome != Outcome::Succeeded {
        return Plan::record(tx, "reversal not completed: no change");
    }
    match outcome::local(
        tx,
        facts,
        TxStatus::Cancelled,
        Trigger::Cancel,
        None,
        "reversed at the PSP",
        Some(WebhookType::Preauth),
    ) {
        Some(u) => Plan::Apply(Box::new((tx.clone(), u)), "reversal applied".into()),
        None if tx.status == TxStatus::Cancelled => Plan::record(tx, "already cancelled"),
        None if facts.captured => Plan::contradiction(tx, "reversal of a captured preauth"),
        None => Plan::contradiction(tx, format!("reversal of a {} preauth", tx.status)),
    }
}

/// The event's money, confirmed with the PSP when the notification's own is missing,
/// unreadable or in another currency.
async fn event_money(
    app: &App,
    m: &Merchant,
    tx: &TransactionRecord,
    ev: &PaymentEvent,
) -> Result<Option<PspResult>, Refused> {
    let r = &ev.result;
    let currency_ok = r
        .currency
        .as_deref()
        .is_some_and(|c| c.eq_ignore_ascii_case(&tx.currency));
    if r.amount.is_some_and(|a| a > Decimal::ZERO) && currency_ok {
        return Ok(Some(r.clone()));
    }
    let Some(id) = &r.psp_transaction_id else {
        return Ok(None);
    };
    let psp = app.psp(m).await.map_err(|_| Refused::Internal)?;
    let (found, call) = super::called::timed_status("status (event)", psp.fetch_status(id)).await;
    app.note_call(tx, &call).await;
    Ok(found.ok().filter(|f| {
        // The PSP's record of this very event: of the event's kind, in the payment's currency.
        f.kind.as_ref().is_none_or(|k| *k == ev.kind)
            && f.amount.is_some_and(|a| a > Decimal::ZERO)
            && f.currency
                .as_deref()
                .is_some_and(|c| c.eq_ignore_ascii_case(&tx.currency))
    }))
}

/// A refund or reversal made at the PSP, a chargeback, or a chargeback reversal on a payment.
async fn money_event(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    ev: &PaymentEvent,
) -> Result<Plan, Refused> {
    let what = match ev.kind {
        EventKind::Chargeback => "chargeback",
        EventKind::ChargebackReversal => "chargeback reversal",
        _ => "refund at the PSP",
    };
    let Some(r) = event_money(app, m, &tx, ev).await? else {
        return Ok(Plan::unverified(
            Some(&tx),
            format!("{what}: amount or currency unreadable or different, PSP status unavailable"),
        ));
    };
    if r.outcome != Outcome::Succeeded {
        return Ok(Plan::record(
            &tx,
            format!("{what} not completed: no change"),
        ));
    }
    let amount = r.amount.unwrap_or_default();
    match tx.status {
        TxStatus::Initiated | TxStatus::Pending => {
            return Ok(Plan::Park(
                Some(tx),
                format!("{what} parked until the payment settles"),
                None,
            ));
        }
        TxStatus::Succeeded => {}
        TxStatus::Failed | TxStatus::Cancelled | TxStatus::Expired => {
            return Ok(Plan::contradiction(
                &tx,
                format!("{what} of {amount} on a {} payment", tx.status),
            ));
        }
    }
    let totals = views::payment_totals(app, &tx)
        .await
        .map_err(|_| Refused::Internal)?;
    let own_id = r.psp_transaction_id.clone();
    let date = r.booking_date.unwrap_or_else(|| app.now().date());
    let mut update = TxUpdate {
        notify: Some(WebhookType::Payment),
        note: format!("{what} {amount}"),
        ..TxUpdate::default()
    };
    let mut t = totals;
    match ev.kind {
        EventKind::Chargeback => {
            let known = app.store.list_chargebacks(m.id(), &tx.id).await?;
            if own_id.is_some() && known.iter().any(|c| c.external_item_id == own_id) {
                return Ok(Plan::record(&tx, "chargeback already recorded"));
            }
            t.charged_back += amount;
            let info = ev.chargeback.clone();
            update.add_chargebacks.push(Chargeback {
                external_item_id: own_id,
                amount,
                booking_date: date,
                description: Some("Chargeback".into()),
                fee_amount: None,
                reason: info
                    .as_ref()
                    .map_or(ChargebackReason::Unknown, |i| i.reason),
                psp_reason_code: info.as_ref().and_then(|i| i.reason_code.clone()),
                psp_reason_message: info.and_then(|i| i.reason_message),
            });
        }
        EventKind::ChargebackReversal => {
            let known = app.store.list_items(m.id(), &tx.id).await?;
            if own_id.is_some() && known.iter().any(|i| i.external_item_id == own_id) {
                return Ok(Plan::record(&tx, "chargeback reversal already recorded"));
            }
            t.reversed += amount;
            if t.reversed > t.charged_back {
                return Ok(Plan::Park(
                    Some(tx),
                    "chargeback reversal parked until its chargeback arrives".into(),
                    None,
                ));
            }
            update.add_items.push(PaymentItem {
                kind: ItemKind::ChargebackReversal,
                external_item_id: own_id,
                amount,
                booking_date: date,
                description: Some("Chargeback reversal".into()),
            });
        }
        _ => {
            let Some(child) = external_refund(app, m, &tx, &r, amount, date) else {
                return Ok(Plan::record(&tx, "refund without a PSP id: not applied"));
            };
            if app
                .store
                .get_transaction(m.id(), &child.billwerk_id)
                .await?
                .is_some()
            {
                return Ok(Plan::record(&tx, "refund at the PSP already recorded"));
            }
            t.refunded += amount;
            update.add_child = Some(child);
        }
    }
    if let Some(why) = crate::store::payment_violation(tx.requested_amount, &t) {
        // Refunds still in flight may yet fail and free the room: an event refused only because
        // of them waits for them to settle and is judged again then (issue #21), instead of being
        // recorded as a refusal that uses its key up.
        let settled = crate::store::PaymentTotals {
            refunding: Decimal::ZERO,
            ..t
        };
        if !t.refunding.is_zero()
            && crate::store::payment_violation(tx.requested_amount, &settled).is_none()
        {
            return Ok(Plan::Park(
                Some(tx),
                format!(
                    "{what} of {amount} parked until refunds in flight ({}) settle",
                    t.refunding
                ),
                None,
            ));
        }
        return Ok(Plan::contradiction(
            &tx,
            format!("{what} not applied: {why}"),
        ));
    }
    Ok(Plan::Apply(
        Box::new((tx, update)),
        format!("{what} applied"),
    ))
}

/// A refund that Billwerk did not ask for (made in the PSP's back office, or a reversal of a
/// settled payment), as a succeeded child of the payment so refundedAmount reflects it.
fn external_refund(
    app: &App,
    m: &Merchant,
    payment: &TransactionRecord,
    r: &PspResult,
    amount: Decimal,
    date: chrono::NaiveDate,
) -> Option<TransactionRecord> {
    let psp_id = r.psp_transaction_id.clone()?;
    let currency = crate::domain::Currency::parse(&payment.currency)?;
    let money = crate::domain::Money::new(amount, currency, false).ok()?;
    let target = url::Url::parse(&payment.webhook_target).ok()?;
    let billwerk_id = format!("psp-refund-{psp_id}");
    let mut refund = super::new_record(m, TxKind::Refund, &billwerk_id, &money, &target, app.now());
    refund.status = TxStatus::Succeeded;
    refund.psp_tx_id = Some(psp_id);
    refund.parent_id = Some(payment.id.clone());
    refund.agreement_id = payment.agreement_id.clone();
    refund.role = payment.role;
    refund.is_initial = payment.is_initial;
    refund.booking_date = Some(date);
    Some(refund)
}

/// Asks the PSP for the transaction's own state instead of trusting the event; the PSP's answer
/// decides. Without an answer nothing is applied and the event's key stays free.
async fn verify(
    app: &App,
    m: &Merchant,
    tx: TransactionRecord,
    why: &str,
) -> Result<Plan, Refused> {
    let psp = app.psp(m).await.map_err(|_| Refused::Internal)?;
    // Noted on the transaction's timeline on their own: the change they may lead to is
    // committed later, with the notification.
    let fetched = match &tx.psp_tx_id {
        Some(id) => {
            let (r, call) =
                super::called::timed_status("status (verify)", psp.fetch_status(id)).await;
            app.note_call(&tx, &call).await;
            r.ok()
        }
        None => {
            let known = app.known(&tx, false).await?;
            let (l, call) = super::called::timed_lookup(
                "lookup (verify)",
                psp.lookup(Reference::Own(&tx.billwerk_id), &known),
            )
            .await;
            app.note_call(&tx, &call).await;
            match l {
                Lookup::Found(r) => Some(r),
                Lookup::NotFound | Lookup::Unsupported | Lookup::Failed(_) => None,
            }
        }
    };
    let Some(r) = fetched.filter(|r| !matches!(r.outcome, Outcome::Unknown(_))) else {
        return Ok(Plan::unverified(
            Some(&tx),
            format!("{why}; PSP status unavailable: not applied"),
        ));
    };
    let stamp = app.stamp(app.now(), true);
    Ok(match outcome::effect(&tx, &r, &stamp) {
        outcome::Effect::Update(u) => Plan::Apply(
            Box::new((tx, *u)),
            format!("{why}; applied the PSP's status"),
        ),
        outcome::Effect::NoChange if outcome::differs(&tx, &r) => Plan::contradiction(
            &tx,
            format!("{why}; the PSP reports another amount or currency"),
        ),
        outcome::Effect::NoChange if !crate::domain::state::is_final(tx.status) => {
            // Neither confirmed nor refuted yet: a later copy is evaluated again, and the
            // reconciler keeps asking meanwhile.
            Plan::unverified(
                Some(&tx),
                format!("{why}; the PSP still reports {}: not applied", tx.status),
            )
        }
        outcome::Effect::NoChange => {
            let claims_other = why.starts_with("reported");
            let label = format!("{why}; the PSP confirms {}: not applied", tx.status);
            if claims_other {
                Plan::contradiction(&tx, label)
            } else {
                Plan::record(&tx, label)
            }
        }
        outcome::Effect::Contradiction(to) => Plan::contradiction(
            &tx,
            format!(
                "{why}; the PSP's status says {to} too: kept {}, needs an operator",
                tx.status
            ),
        ),
    })
}

/// What the events parked on a settled payment claim of its money
/// ([`PaymentTotals::claimed`](crate::store::PaymentTotals::claimed)): Σ the chargebacks, refunds
/// and reversals made at the PSP that wait for refunds in flight to settle. The PSP has already
/// moved that money, so a new refund must not take it again. An event whose amount or currency
/// cannot be read claims the whole payment: a refund then waits rather than paying out twice.
pub async fn claimed(app: &App, tx: &TransactionRecord) -> Result<Decimal, StoreError> {
    if tx.kind != TxKind::Payment || tx.status != TxStatus::Succeeded {
        return Ok(Decimal::ZERO);
    }
    let mut sum = Decimal::ZERO;
    for p in app.store.parked_for(&tx.merchant_id, &tx.id).await? {
        // An unreadable parked event is given up by the reconciler's sweep; it claims nothing.
        let Ok(ev) = serde_json::from_str::<PaymentEvent>(&p.event) else {
            continue;
        };
        if !matches!(
            ev.kind,
            EventKind::Chargeback | EventKind::Refund | EventKind::Reversal
        ) {
            continue;
        }
        let same_currency = ev
            .result
            .currency
            .as_deref()
            .is_none_or(|c| c.eq_ignore_ascii_case(&tx.currency));
        match ev.result.amount {
            Some(a) if a > Decimal::ZERO && same_currency => sum += a,
            _ => return Ok(tx.requested_amount),
        }
    }
    Ok(sum)
}

/// Applies the events parked for `tx` that it can now take. Called after any status change of a
/// payment, and by the reconciler's sweep, so a parked event is never dropped.
pub async fn release_parked(app: &App, tx: &TransactionRecord) {
    // A payment that settled, or a refund of one that settled (which frees or takes room that
    // a parked chargeback or refund may have waited for).
    let payment_id = match (tx.kind, tx.status) {
        (_, TxStatus::Initiated | TxStatus::Pending) => return,
        (TxKind::Payment, _) => &tx.id,
        (TxKind::Refund, _) => match &tx.parent_id {
            Some(p) => p,
            None => return,
        },
        (TxKind::Preauth, _) => return,
    };
    match app.store.parked_for(&tx.merchant_id, payment_id).await {
        Ok(events) => {
            for p in events {
                if let Err(e) = resolve_parked(app, &p).await {
                    tracing::warn!(error = %e, event = p.id, "parked event not resolved yet");
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot read parked events"),
    }
}

/// [`release_parked`] as [`App::after_status`](super::App::after_status).
pub fn release_parked_hook<'a>(
    app: &'a App,
    tx: &'a TransactionRecord,
) -> futures_util::future::BoxFuture<'a, ()> {
    Box::pin(release_parked(app, tx))
}

/// How long an event that refers to no known transaction is kept, in days.
pub const ORPHAN_DAYS: i64 = 7;

/// When a parked event is given up (recorded as "unknown transaction") if it still matches no
/// transaction of ours: [`ORPHAN_DAYS`] after it arrived, at the first reconciler round from
/// then on. `None`: it waits for a known transaction, and is never given up.
pub fn gives_up_at(p: &ParkedEvent) -> Option<crate::domain::Ticks> {
    p.transaction_id
        .is_none()
        .then(|| p.received_at.plus_seconds(ORPHAN_DAYS * 86_400))
}

/// Re-plans one parked event; `Ok(true)` when it was resolved (applied or recorded).
pub async fn resolve_parked(app: &App, p: &ParkedEvent) -> Result<bool, Refused> {
    resolve_parked_at(app, p, app.now()).await
}

/// [`resolve_parked`] at `now` (the reconciler round's clock, which decides the give-up).
pub async fn resolve_parked_at(
    app: &App,
    p: &ParkedEvent,
    now: crate::domain::Ticks,
) -> Result<bool, Refused> {
    let m = app
        .merchant(&p.merchant_id)
        .await
        .map_err(|_| Refused::Internal)?;
    let ev: PaymentEvent = match serde_json::from_str(&p.event) {
        Ok(ev) => ev,
        Err(e) => {
            tracing::error!(error = %e, event = p.id, "parked event unreadable");
            return Ok(app
                .store
                .resolve_parked(p, "parked event unreadable", None)
                .await?);
        }
    };
    let mut replanned = false;
    for _ in 0..8 {
        let mut plan = payment(app, &m, &ev).await?;
        if let Plan::Park(tx, ..) = &plan {
            // Still waiting. An event that never matched any transaction of ours is given up
            // after a week: it was not ours.
            let stale = gives_up_at(p).is_some_and(|at| now > at);
            if tx.is_some() || !stale {
                return Ok(false);
            }
            plan = Plan::Record {
                tx: None,
                label: "unknown transaction".into(),
                verified: true,
                contradiction: false,
            };
        }
        let change = plan.change(app);
        let result = plan.result();
        let label = format!("after parking: {}", plan.label());
        match app.store.resolve_parked(p, &label, change.as_ref()).await {
            Ok(done) => {
                if done {
                    count(result);
                }
                return Ok(done);
            }
            Err(StoreError::Conflict) => continue,
            Err(StoreError::MoneyRule(_)) if !replanned => {
                replanned = true;
                continue;
            }
            Err(StoreError::MoneyRule(why)) => {
                let label = format!("after parking: not applied: {why}");
                return Ok(app.store.resolve_parked(p, &label, None).await?);
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(Refused::Internal)
}
