//! Outbox persistence for the Billwerk webhook worker: claim with a lease, record attempts,
//! finish, list and redeliver. Every method is one short DB transaction (or one statement); none
//! is held across the HTTP call.

use async_trait::async_trait;
use sqlx::Row;
use sqlx::any::AnyRow;

use super::sql::SqlStore;
use super::{StoreError, StoreResult};
use crate::domain::Ticks;

mod ops;

/// Where an outbox row is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboxState {
    Pending,
    Delivered,
    Dead,
}

impl OutboxState {
    pub fn as_str(self) -> &'static str {
        match self {
            OutboxState::Pending => "pending",
            OutboxState::Delivered => "delivered",
            OutboxState::Dead => "dead",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(OutboxState::Pending),
            "delivered" => Some(OutboxState::Delivered),
            "dead" => Some(OutboxState::Dead),
            _ => None,
        }
    }
}

/// One queued webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub id: i64,
    pub merchant_id: String,
    /// Our transaction id.
    pub transaction_id: String,
    /// Billwerk's transactionId: the webhook's `TransactionId`.
    pub billwerk_id: String,
    pub agreement_id: Option<String>,
    pub webhook_type: i64,
    pub target_url: String,
    /// `transaction` or `agreement`: what coalesces with what.
    pub topic: String,
    pub state: OutboxState,
    pub attempts: i64,
    pub next_attempt_at: Ticks,
    pub lease_until: Option<Ticks>,
    pub created_at: Ticks,
    pub updated_at: Ticks,
    /// Start of the current pending period; the give-up horizon counts from here.
    pub pending_since: Ticks,
    /// Bumped by every coalesced change; a delivery counts only for the version it sent.
    pub version: i64,
    pub last_error: Option<String>,
}

/// One recorded delivery attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attempt {
    pub at: Ticks,
    pub http_status: Option<u16>,
    pub latency_ms: i64,
    /// The response body, truncated.
    pub response_excerpt: Option<String>,
    /// Transport error or refusal reason.
    pub error: Option<String>,
}

/// What the worker decided after an attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    Delivered,
    Retry { next_attempt_at: Ticks },
    Dead { reason: String },
}

/// What `finish` actually did to the row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finished {
    Delivered,
    /// Sent, but a newer change was coalesced meanwhile: the row stays pending and due.
    Superseded,
    Rescheduled,
    Dead,
    /// Our lease had expired and someone else holds the row: only the attempt was recorded.
    LeaseLost,
}

/// Which deliveries to list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    /// Empty: all states.
    pub states: Vec<OutboxState>,
    /// Only rows updated at or after this instant.
    pub since: Option<Ticks>,
    pub merchant_id: Option<String>,
    /// At most this many rows, newest first (0: no limit).
    pub limit: u32,
}

/// What `redeliver` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redelivered {
    /// The row is pending again, due now.
    Requeued,
    /// A pending row for the same transaction and topic existed; it was made due now instead.
    MergedIntoPending(i64),
    /// The row was already pending; it was made due now.
    AlreadyPending,
}

/// Outbox operations beyond the enqueue that `apply_update` performs.
/// Coalescing: a row is taken once its latest change is older than `settled_before` (a burst has
/// gone quiet), or once it has been pending since before `overdue_before` (a steady stream of
/// changes still gets delivered).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimWindow {
    pub settled_before: Ticks,
    pub overdue_before: Ticks,
}

impl ClaimWindow {
    /// No waiting: every due row.
    pub fn immediate(now: Ticks) -> Self {
        Self {
            settled_before: now,
            overdue_before: now,
        }
    }
}

#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Leases up to `limit` due pending rows (next_attempt_at <= now, lease free or expired,
    /// and settled per `window`) until `lease_until`, oldest due first.
    async fn claim_due(
        &self,
        now: Ticks,
        lease_until: Ticks,
        window: ClaimWindow,
        limit: u32,
    ) -> StoreResult<Vec<OutboxRow>>;
    /// Records `attempt` and applies `result` to the claimed `row`, releasing the lease.
    async fn finish(
        &self,
        row: &OutboxRow,
        attempt: &Attempt,
        result: &Finish,
    ) -> StoreResult<Finished>;
    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<OutboxRow>>;
    async fn get_delivery(&self, id: i64) -> StoreResult<Option<OutboxRow>>;
    /// Oldest first.
    async fn list_attempts(&self, outbox_id: i64) -> StoreResult<Vec<Attempt>>;
    /// The most recent attempt of each of `outbox_ids` that has one, in one query per 500 ids.
    async fn last_attempts(
        &self,
        outbox_ids: &[i64],
    ) -> StoreResult<std::collections::HashMap<i64, Attempt>>;
    /// Makes a dead or delivered row pending again (due `now`); `NotFound` if there is none.
    async fn redeliver(&self, id: i64, now: Ticks) -> StoreResult<Redelivered>;
    /// Redelivers every dead or delivered row updated at or after `since`; returns how many.
    async fn redeliver_since(&self, since: Ticks, now: Ticks) -> StoreResult<u64>;
}

#[async_trait]
impl OutboxStore for SqlStore {
    async fn claim_due(
        &self,
        now: Ticks,
        lease_until: Ticks,
        window: ClaimWindow,
        limit: u32,
    ) -> StoreResult<Vec<OutboxRow>> {
        self.claim_due_impl(now, lease_until, window, limit).await
    }

    async fn finish(
        &self,
        row: &OutboxRow,
        attempt: &Attempt,
        result: &Finish,
    ) -> StoreResult<Finished> {
        self.finish_impl(row, attempt, result).await
    }

    async fn list_deliveries(&self, filter: &DeliveryFilter) -> StoreResult<Vec<OutboxRow>> {
        self.list_deliveries_impl(filter).await
    }

    async fn get_delivery(&self, id: i64) -> StoreResult<Option<OutboxRow>> {
        self.get_delivery_impl(id).await
    }

    async fn list_attempts(&self, outbox_id: i64) -> StoreResult<Vec<Attempt>> {
        self.list_attempts_impl(outbox_id).await
    }

    async fn last_attempts(
        &self,
        outbox_ids: &[i64],
    ) -> StoreResult<std::collections::HashMap<i64, Attempt>> {
        self.last_attempts_impl(outbox_ids).await
    }

    async fn redeliver(&self, id: i64, now: Ticks) -> StoreResult<Redelivered> {
        self.redeliver_impl(id, now).await
    }

    async fn redeliver_since(&self, since: Ticks, now: Ticks) -> StoreResult<u64> {
        self.redeliver_since_impl(since, now).await
    }
}

pub(super) const OUTBOX_COLUMNS: &str = "id, merchant_id, transaction_id, billwerk_id, \
    agreement_id, webhook_type, target_url, topic, state, attempts, next_attempt_at, lease_until, \
    created_at, updated_at, pending_since, version, last_error";

pub(super) fn outbox_row(row: &AnyRow) -> StoreResult<OutboxRow> {
    let state: String = row.try_get("state")?;
    let state = OutboxState::parse(&state)
        .ok_or_else(|| StoreError::Corrupt(format!("column state: {state:?}")))?;
    Ok(OutboxRow {
        id: row.try_get("id")?,
        merchant_id: row.try_get("merchant_id")?,
        transaction_id: row.try_get("transaction_id")?,
        billwerk_id: row.try_get("billwerk_id")?,
        agreement_id: row.try_get("agreement_id")?,
        webhook_type: row.try_get("webhook_type")?,
        target_url: row.try_get("target_url")?,
        topic: row.try_get("topic")?,
        state,
        attempts: row.try_get("attempts")?,
        next_attempt_at: Ticks(row.try_get("next_attempt_at")?),
        lease_until: row.try_get::<Option<i64>, _>("lease_until")?.map(Ticks),
        created_at: Ticks(row.try_get("created_at")?),
        updated_at: Ticks(row.try_get("updated_at")?),
        pending_since: Ticks(row.try_get("pending_since")?),
        version: row.try_get("version")?,
        last_error: row.try_get("last_error")?,
    })
}

pub(super) fn attempt_row(row: &AnyRow) -> StoreResult<Attempt> {
    let status: Option<i64> = row.try_get("http_status")?;
    Ok(Attempt {
        at: Ticks(row.try_get("at")?),
        http_status: status.and_then(|s| u16::try_from(s).ok()),
        latency_ms: row.try_get("latency_ms")?,
        response_excerpt: row.try_get("response_excerpt")?,
        error: row.try_get("error")?,
    })
}
