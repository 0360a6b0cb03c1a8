//! Business logic, one module per resource. A flow validates, takes the per-transaction lock,
//! commits the new transaction before calling the PSP (so the same Billwerk transactionId
//! never reaches the PSP twice), calls the PSP outside any DB transaction, then commits the
//! outcome with a version check.

pub mod backoff;
pub mod called;
pub mod checkout;
pub mod notification;
pub mod operators;
pub mod outcome;
pub mod payment;
pub mod preauth;
pub mod psp_call;
pub mod reconcile;
pub mod refund;
mod revoked;
#[cfg(test)]
mod seam_tests;
pub mod settings;
pub mod views;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use dashmap::DashMap;
use tokio::sync::{Mutex, OwnedMutexGuard};

use crate::contract::ApiError;
use crate::crypto::Sealer;
use crate::domain::{Clock, PaymentErrorCode, Ticks, TxKind};
use crate::psp::{PaymentProvider, PspSettings, Registry};
use crate::store::{MerchantRecord, PspCallNote, Store, StoreError, TransactionRecord, TxUpdate};

/// Everything a flow needs; cheap to clone.
#[derive(Clone, Debug)]
pub struct App {
    pub store: Arc<dyn Store>,
    pub providers: Registry,
    pub sealer: Arc<Sealer>,
    pub clock: Arc<dyn Clock>,
    /// Public base URL of this service (no trailing slash).
    pub public_base_url: String,
    pub locks: KeyedLocks,
    /// Seconds until the first PSP status query after an unknown outcome.
    pub recheck_after_secs: i64,
    /// How long a write keeps retrying while the database is unreachable.
    pub write_retry: std::time::Duration,
    /// Seconds after which something the PSP has never heard of did not happen.
    pub not_found_grace_secs: i64,
    /// Decides which webhookTarget hosts are acceptable.
    pub targets: Arc<crate::outbox::policy::TargetPolicy>,
    /// Wakes this process's outbox worker when a change has queued a webhook, so the first
    /// change of a quiet transaction leaves at once instead of at the next poll.
    pub outbox_wake: Arc<tokio::sync::Notify>,
    /// Runs after every status change [`App::transition`] commits: releases the notification
    /// events parked for it (`notification::release_parked`). A hook rather than a call, so
    /// this generic module does not depend on the notification flow (which depends on it).
    pub after_status: AfterStatus,
}

/// See [`App::after_status`].
pub type AfterStatus =
    for<'a> fn(&'a App, &'a TransactionRecord) -> futures_util::future::BoxFuture<'a, ()>;

/// The authenticated merchant and its PSP adapter.
#[derive(Clone, Debug)]
pub struct Merchant {
    pub record: MerchantRecord,
    pub provider: Arc<dyn PaymentProvider>,
}

impl Merchant {
    pub fn id(&self) -> &str {
        &self.record.id
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            // Only reached when a concurrent request used the headroom first.
            StoreError::MoneyRule(why) => ApiError::code(
                PaymentErrorCode::InvalidAmount,
                format!("requestedAmount: {why}"),
            ),
            e if e.is_unavailable() => {
                tracing::error!(error = %e, "database unavailable");
                ApiError::unavailable()
            }
            e => {
                tracing::error!(error = %e, "store failure");
                ApiError::internal()
            }
        }
    }
}

/// In-process locks per key, so concurrent duplicates of one request wait for the first and
/// then see its result. Across replicas the unique (merchant, transactionId) row is the guard.
#[derive(Clone, Debug, Default)]
pub struct KeyedLocks(Arc<DashMap<String, Arc<Mutex<()>>>>);

/// Holds a key's lock; dropping it releases the lock and forgets idle keys.
pub struct KeyGuard {
    map: KeyedLocks,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl KeyedLocks {
    pub async fn lock(&self, merchant_id: &str, key: &str) -> KeyGuard {
        // Never hold a database connection while waiting for another request.
        crate::store::session::release();
        let key = format!("{merchant_id}/{key}");
        let m = self.0.entry(key.clone()).or_default().clone();
        let guard = m.lock_owned().await;
        KeyGuard {
            map: self.clone(),
            key,
            guard: Some(guard),
        }
    }
}

impl Drop for KeyGuard {
    fn drop(&mut self) {
        self.guard.take();
        self.map
            .0
            .remove_if(&self.key, |_, m| Arc::strong_count(m) == 1);
    }
}

impl App {
    pub fn now(&self) -> Ticks {
        self.clock.now()
    }

    pub fn stamp(&self, now: Ticks, notify: bool) -> outcome::Stamp {
        outcome::Stamp {
            now,
            notify,
            recheck_after: self.recheck_after_secs,
        }
    }

    /// The merchant's PSP client: its settings decrypted and bound once, inside the wrapper
    /// that every PSP call goes through ([`psp_call::Guarded`]). A merchant without usable
    /// settings cannot transact: 422 `InvalidConfiguration` naming the key, nothing stored.
    pub async fn psp(&self, m: &Merchant) -> Result<psp_call::Guarded, ApiError> {
        let settings = self.settings(m).await?;
        self.bind_psp(m, &settings).map_err(|e| {
            ApiError::code(
                PaymentErrorCode::InvalidConfiguration,
                format!("PSP settings unusable: {e}"),
            )
        })
    }

    /// Binds `settings` for `m` (see [`App::psp`]).
    pub fn bind_psp(
        &self,
        m: &Merchant,
        settings: &PspSettings,
    ) -> Result<psp_call::Guarded, crate::psp::SettingsError> {
        let ctx = crate::psp::MerchantCtx {
            merchant_id: m.id().to_string(),
            notification_url: self.notification_url(&m.record),
        };
        let bound = m.provider.bind(settings, &ctx)?;
        Ok(psp_call::Guarded::new(
            bound,
            m.provider.name(),
            m.provider.operation_timeout(),
        ))
    }

    /// The URL at which `m`'s PSP delivers its notifications, with the merchant's token
    /// ([`notification::url`]); what the adapter registers at the PSP and `merchants list` prints.
    pub fn notification_url(&self, m: &MerchantRecord) -> String {
        notification::url(&self.public_base_url, &self.sealer, m)
    }

    /// The merchant's decrypted PSP settings; a merchant without settings cannot transact.
    pub async fn settings(&self, m: &Merchant) -> Result<PspSettings, ApiError> {
        self.stored_settings(m.id()).await?.ok_or_else(|| {
            ApiError::code(
                PaymentErrorCode::InvalidConfiguration,
                "PSP settings are not configured for this merchant; PUT /api/Settings first",
            )
        })
    }

    pub async fn stored_settings(
        &self,
        merchant_id: &str,
    ) -> Result<Option<PspSettings>, ApiError> {
        let Some(sealed) = self.store.get_settings(merchant_id).await? else {
            return Ok(None);
        };
        let plain = self.sealer.open(&sealed).map_err(|e| {
            tracing::error!(error = %e, merchant = merchant_id, "cannot open sealed settings");
            ApiError::internal()
        })?;
        let map = serde_json::from_slice(&plain).map_err(|e| {
            tracing::error!(error = %e, merchant = merchant_id, "sealed settings are not JSON");
            ApiError::internal()
        })?;
        Ok(Some(PspSettings(map)))
    }

    /// A transaction of this merchant and kind by Billwerk id; 404 otherwise.
    pub async fn find(
        &self,
        m: &Merchant,
        kind: TxKind,
        id: &str,
    ) -> Result<TransactionRecord, ApiError> {
        let not_found = ApiError::unknown_id;
        // Only a well-formed id is echoed; anything else could be arbitrary (and huge) input.
        if crate::domain::BillwerkTxId::parse(id).is_none() {
            return Err(not_found(
                "id: not found; a transaction id has the form {yyyyMMdd}-{24 hex digits}".into(),
            ));
        }
        match self.store.get_transaction(m.id(), id).await? {
            Some(tx) if tx.kind == kind => Ok(tx),
            _ => Err(not_found(format!("id: {} {id} not found", kind.as_str()))),
        }
    }

    /// Applies `decide(current)` with optimistic concurrency, re-reading on a version conflict.
    /// `decide` returning `None` means nothing to change. While the database is unreachable
    /// the write is retried for `write_retry`; a write whose commit was acknowledged to nobody
    /// shows up on the retry as a version conflict and is re-decided, never applied twice.
    pub async fn transition(
        &self,
        mut tx: TransactionRecord,
        decide: impl Fn(&TransactionRecord) -> Option<TxUpdate>,
    ) -> Result<TransactionRecord, ApiError> {
        let mut backoff = backoff::Backoff::within(self.write_retry);
        let mut conflicts = 0;
        while conflicts < MAX_VERSION_RETRIES {
            let Some(update) = decide(&tx) else {
                return Ok(tx);
            };
            let at = Ticks::next_after(self.now(), tx.last_updated);
            let applied = self
                .store
                .apply_update(&tx.merchant_id, &tx.id, tx.last_updated, at, &update)
                .await;
            let reread = match applied {
                Ok(t) => {
                    if update.status.is_some() {
                        counted(&t);
                        (self.after_status)(self, &t).await;
                    }
                    return Ok(t);
                }
                Err(StoreError::Conflict) => {
                    conflicts += 1;
                    true
                }
                Err(e) if e.is_unavailable() && !backoff.expired() => {
                    tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id,
                        "database unavailable; retrying the write");
                    backoff.wait().await;
                    true
                }
                Err(e) => return Err(e.into()),
            };
            if reread {
                tx = self.reread(&tx, backoff.deadline()).await?;
            }
        }
        tracing::error!(transaction_id = %tx.billwerk_id, merchant_id = %tx.merchant_id,
            internal_id = %tx.id, "gave up after repeated version conflicts");
        Err(ApiError::internal())
    }

    /// `tx` as stored now, retried like a write while the database is unreachable.
    async fn reread(
        &self,
        tx: &TransactionRecord,
        give_up: std::time::Instant,
    ) -> Result<TransactionRecord, ApiError> {
        let mut backoff = backoff::Backoff::until(give_up);
        loop {
            match self
                .store
                .get_transaction_by_id(&tx.merchant_id, &tx.id)
                .await
            {
                Ok(Some(t)) => return Ok(t),
                Ok(None) => return Err(ApiError::internal()),
                Err(e) if e.is_unavailable() && !backoff.expired() => backoff.wait().await,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Records the PSP's answer to a call about `tx`. Never an error: the PSP may have moved
    /// money, so if the database cannot take the write (after `write_retry`), `tx` is returned
    /// as it was — still carrying the reconciler deadline it was written with — and the caller
    /// answers that state (Pending until known), never "nothing happened" (issue #16).
    pub async fn record_answer(
        &self,
        tx: TransactionRecord,
        r: &impl called::Answer,
    ) -> (TransactionRecord, Recorded) {
        let stamp = self.stamp(self.now(), false);
        match self
            .transition_noting(tx.clone(), r.call(), |t| {
                outcome::update_for(t, r.result(), &stamp)
            })
            .await
        {
            Ok(t) => (t, Recorded::Yes),
            Err(e) => {
                tracing::error!(transaction_id = %tx.billwerk_id, internal_id = %tx.id,
                    error = ?e.body.error_code,
                    "the PSP's answer could not be recorded; the reconciler will ask the PSP");
                (tx, Recorded::No)
            }
        }
    }
}

impl App {
    /// [`App::transition`] for a change that follows from a PSP call: the call's note is written
    /// with the change (same DB transaction), or on its own when `decide` changes nothing, so
    /// the console's timeline shows every call. A write that fails loses the note with it.
    pub async fn transition_noting(
        &self,
        tx: TransactionRecord,
        call: Option<&PspCallNote>,
        decide: impl Fn(&TransactionRecord) -> Option<TxUpdate>,
    ) -> Result<TransactionRecord, ApiError> {
        let Some(call) = call else {
            return self.transition(tx, decide).await;
        };
        // Whether the last decision changed something: `transition` returns right after it.
        let changed = AtomicBool::new(false);
        let t = self
            .transition(tx, |t| {
                let u = decide(t);
                changed.store(u.is_some(), Ordering::Relaxed);
                u.map(|u| TxUpdate {
                    psp_call: Some(call.clone()),
                    ..u
                })
            })
            .await?;
        if !changed.load(Ordering::Relaxed) {
            self.note_call(&t, call).await;
        }
        Ok(t)
    }

    /// Writes a PSP call about `tx` that changed nothing (the console's timeline). Never an
    /// error: a note that cannot be written is logged and the flow goes on.
    pub async fn note_call(&self, tx: &TransactionRecord, call: &PspCallNote) {
        if let Err(e) = self
            .store
            .record_psp_call(&tx.merchant_id, &tx.id, self.now(), call)
            .await
        {
            tracing::warn!(transaction_id = %tx.billwerk_id, internal_id = %tx.id, error = %e,
                operation = %call.operation, "a PSP call could not be noted for the console");
        }
    }
}

/// Counts a transaction that just moved to its current status (`transactions_total`,
/// `checkouts_total`).
pub fn counted(t: &TransactionRecord) {
    crate::telemetry::transaction_moved(
        t.kind,
        t.status,
        t.error.as_ref().map(|e| e.code),
        t.checkout_id.is_some(),
    );
}

impl App {
    /// What the transition authority must know about `tx`'s money (`domain::state::Facts`).
    pub async fn facts(
        &self,
        tx: &TransactionRecord,
    ) -> Result<crate::domain::state::Facts, StoreError> {
        let captured = tx.kind == TxKind::Preauth
            && !crate::store::captured(&self.store.list_children(&tx.merchant_id, &tx.id).await?)
                .is_zero();
        Ok(crate::domain::state::Facts { captured })
    }

    /// What the store knows about `tx` for a PSP lookup ([`crate::psp::Known`]): its
    /// parent's PSP id (for `cancel_of`, its own) and its agreement's credential.
    pub async fn known(
        &self,
        tx: &TransactionRecord,
        cancel_of: bool,
    ) -> Result<crate::psp::Known, StoreError> {
        let parent_psp_id = if cancel_of {
            tx.psp_tx_id.clone()
        } else {
            match &tx.parent_id {
                Some(p) => self
                    .store
                    .get_transaction_by_id(&tx.merchant_id, p)
                    .await?
                    .and_then(|p| p.psp_tx_id),
                None => None,
            }
        };
        let credential = match &tx.agreement_id {
            Some(a) => self
                .store
                .get_agreement(&tx.merchant_id, a)
                .await?
                .and_then(|a| a.credential),
            None => None,
        };
        Ok(crate::psp::Known {
            parent_psp_id,
            credential,
        })
    }
}

/// Whether a PSP answer reached the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Yes,
    /// Not written: the caller answers the transaction as Pending.
    No,
}

/// Version conflicts tolerated by one write before it gives up (each re-reads and re-decides).
pub const MAX_VERSION_RETRIES: usize = 8;

/// The merchant's PSP must be able to carry the amount (its amount format), checked before
/// anything is stored or sent: 422 `InvalidAmount` otherwise.
pub fn psp_amount(m: &Merchant, money: &crate::domain::Money) -> Result<(), ApiError> {
    m.provider.check_amount(money).map_err(|why| {
        ApiError::code(
            PaymentErrorCode::InvalidAmount,
            format!("requestedAmount: {why}"),
        )
    })
}

/// A repeated POST may reuse a transactionId only for the same request: same kind, amount,
/// currency and agreement. Anything else is a client error, never a second PSP call.
pub fn check_replay(
    existing: &TransactionRecord,
    kind: TxKind,
    money: &crate::domain::Money,
    agreement_id: Option<&str>,
) -> Result<(), ApiError> {
    let field = "transactionId";
    if existing.kind != kind {
        return Err(ApiError::invalid(
            field,
            format!(
                "{} was already used for a {}",
                existing.billwerk_id,
                existing.kind.as_str()
            ),
        ));
    }
    let same_amount = existing.requested_amount == money.amount;
    let same_currency = existing.currency == money.currency.code();
    let same_agreement = agreement_id.is_none() || existing.agreement_id.as_deref() == agreement_id;
    if !(same_amount && same_currency && same_agreement) {
        return Err(ApiError::invalid(
            field,
            format!(
                "{} was already used with a different amount, currency or agreement",
                existing.billwerk_id
            ),
        ));
    }
    Ok(())
}

impl App {
    /// A new transaction row in state `Initiated`, before anything is sent to the PSP. It
    /// carries a reconciler deadline from the start: if the process or the database dies
    /// during or after the PSP call, the reconciler still asks the PSP what happened
    /// (issue #16: a transaction is never without a final state or a deadline). The deadline
    /// (`reconciler.first_delay_secs`) is longer than a PSP call may take, so the reconciler
    /// never asks while this process is still waiting for the answer.
    pub fn new_record(
        &self,
        m: &Merchant,
        kind: TxKind,
        billwerk_id: &str,
        money: &crate::domain::Money,
        webhook_target: &url::Url,
    ) -> TransactionRecord {
        let now = self.now();
        let mut rec = new_record(m, kind, billwerk_id, money, webhook_target, now);
        rec.needs_reconcile = true;
        rec.next_reconcile_at = Some(now.plus_seconds(self.recheck_after_secs));
        // Billwerk's request that created it, for the console's timeline.
        rec.request_id = crate::telemetry::request_id();
        rec
    }
}

/// The bare row of a new transaction (no reconciler deadline): for rows that are final when
/// written (a refund made at the PSP's back office) and for tests; flows that call the PSP use
/// [`App::new_record`].
pub fn new_record(
    m: &Merchant,
    kind: TxKind,
    billwerk_id: &str,
    money: &crate::domain::Money,
    webhook_target: &url::Url,
    now: Ticks,
) -> TransactionRecord {
    TransactionRecord {
        id: crate::domain::new_id(),
        merchant_id: m.id().to_string(),
        kind,
        billwerk_id: billwerk_id.to_string(),
        agreement_id: None,
        role: None,
        currency: money.currency.code().to_string(),
        requested_amount: money.amount,
        authorized_amount: rust_decimal::Decimal::ZERO,
        status: crate::domain::TxStatus::Initiated,
        psp_tx_id: None,
        webhook_target: webhook_target.to_string(),
        parent_id: None,
        is_initial: false,
        expires_at: None,
        checkout_id: None,
        checkout_data: None,
        checkout_token: None,
        success_url: None,
        error_url: None,
        abort_url: None,
        language: None,
        reference_text: None,
        planned_execution_date: None,
        booking_date: None,
        error: None,
        needs_reconcile: false,
        created_at: now,
        last_updated: now,
        next_reconcile_at: None,
        reconcile_attempts: 0,
        collected_at_authorization: false,
        request_id: None,
    }
}

impl App {
    /// A merchant by id with its adapter (for routes that are not called with a bearer token).
    pub async fn merchant(&self, id: &str) -> Result<Merchant, ApiError> {
        let record = self
            .store
            .find_merchant(id)
            .await?
            .filter(|r| r.id == id)
            .ok_or_else(|| ApiError::not_found("merchant"))?;
        self.bind(record)
    }

    /// A merchant record with its PSP adapter.
    pub fn bind(&self, record: MerchantRecord) -> Result<Merchant, ApiError> {
        let provider = self.providers.get(&record.psp).ok_or_else(|| {
            tracing::error!(psp = %record.psp, "merchant bound to an unknown PSP adapter");
            ApiError::internal()
        })?;
        Ok(Merchant { record, provider })
    }
}

impl App {
    /// The stored payment means of an active agreement, for merchant-initiated operations.
    pub async fn stored_method(
        &self,
        m: &Merchant,
        agreement_id: &str,
    ) -> Result<crate::psp::StoredMethod, ApiError> {
        use crate::domain::AgreementStatus;
        match self.store.get_agreement(m.id(), agreement_id).await? {
            Some(a) if a.status == AgreementStatus::Active => match a.credential {
                Some(credential) => Ok(crate::psp::StoredMethod {
                    credential,
                    is_debit: a.is_debit,
                    initial_transaction_id: a.initial_psp_tx_id,
                }),
                None => Err(ApiError::invalid(
                    "agreementId",
                    "the agreement has no stored payment means",
                )),
            },
            Some(_) => Err(ApiError::code(
                PaymentErrorCode::BearerInvalid,
                "agreementId: the agreement is inactive",
            )),
            None => Err(ApiError::invalid(
                "agreementId",
                format!("unknown agreement {agreement_id}"),
            )),
        }
    }
}
