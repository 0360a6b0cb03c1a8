//! Operator functions for Billwerk webhook deliveries, used by the CLI (and the console): list
//! what failed, redeliver one, or everything dead or delivered since a time.

use std::fmt::Write;

use crate::domain::{Clock, SystemClock, Ticks};
use crate::store::outbox::{Attempt, DeliveryFilter, OutboxRow, OutboxState, Redelivered};
use crate::store::{Store, StoreResult};

/// A delivery with its most recent attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliverySummary {
    pub row: OutboxRow,
    pub last_attempt: Option<Attempt>,
}

/// Dead rows, and pending rows with at least one failed attempt, updated since `since`; newest
/// first.
pub async fn list_failed(
    store: &dyn Store,
    since: Option<Ticks>,
) -> StoreResult<Vec<DeliverySummary>> {
    let filter = DeliveryFilter {
        states: vec![OutboxState::Pending, OutboxState::Dead],
        since,
        merchant_id: None,
        limit: 0,
    };
    let rows: Vec<OutboxRow> = store
        .list_deliveries(&filter)
        .await?
        .into_iter()
        .filter(|row| row.state == OutboxState::Dead || row.attempts > 0)
        .collect();
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let mut last = store.last_attempts(&ids).await?;
    Ok(rows
        .into_iter()
        .map(|row| DeliverySummary {
            last_attempt: last.remove(&row.id),
            row,
        })
        .collect())
}

/// Makes one dead or delivered row pending again, due now.
pub async fn redeliver_one(store: &dyn Store, id: i64) -> StoreResult<Redelivered> {
    store.redeliver(id, SystemClock.now()).await
}

/// Redelivers every dead or delivered row updated since `since`; returns how many.
pub async fn redeliver_since(store: &dyn Store, since: Ticks) -> StoreResult<u64> {
    store.redeliver_since(since, SystemClock.now()).await
}

/// A plain-text table for the terminal.
pub fn format_table(rows: &[DeliverySummary]) -> String {
    let mut out = format!(
        "{:>6}  {:<9}  {:<32}  {:<33}  {:>4}  {:>8}  {:<28}  {}\n",
        "ID", "STATE", "MERCHANT", "TRANSACTION", "TYPE", "ATTEMPTS", "NEXT/UPDATED", "LAST RESULT"
    );
    for s in rows {
        let r = &s.row;
        let when = match r.state {
            OutboxState::Pending => r.next_attempt_at,
            _ => r.updated_at,
        };
        let _ = writeln!(
            out,
            "{:>6}  {:<9}  {:<32}  {:<33}  {:>4}  {:>8}  {:<28}  {}",
            r.id,
            r.state.as_str(),
            r.merchant_id,
            r.billwerk_id,
            r.webhook_type,
            r.attempts,
            when.to_wire(),
            last_result(s)
        );
    }
    out
}

fn last_result(s: &DeliverySummary) -> String {
    let text = match &s.last_attempt {
        Some(a) => {
            let mut parts = Vec::new();
            if let Some(code) = a.http_status {
                parts.push(format!("HTTP {code} after {} ms", a.latency_ms));
            }
            if let Some(e) = &a.error {
                parts.push(e.clone());
            }
            if let Some(body) = a
                .response_excerpt
                .as_deref()
                .filter(|b| !b.trim().is_empty())
            {
                parts.push(format!("answer: {}", body.trim()));
            }
            parts.join("; ")
        }
        None => s.row.last_error.clone().unwrap_or_default(),
    };
    // One line per row, the whole cause: control characters become spaces.
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// What `redeliver_one` did, as a sentence.
pub fn describe_redelivery(id: i64, r: Redelivered) -> String {
    match r {
        Redelivered::Requeued => format!("webhook {id} is queued again and goes out now"),
        Redelivered::MergedIntoPending(other) => format!(
            "webhook {id} joined webhook {other}, already waiting for the same transaction; \
             it goes out now"
        ),
        Redelivered::AlreadyPending => {
            format!("webhook {id} was still waiting to be delivered; it goes out now")
        }
    }
}
