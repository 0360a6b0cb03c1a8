//! The SQL behind `OutboxStore`. Writes on SQLite start with a write statement so the deferred
//! transaction takes the write lock up front (a read-then-write upgrade could fail with BUSY).

use sqlx::{AnyConnection, Row};

use super::{
    Attempt, DeliveryFilter, Finish, Finished, OUTBOX_COLUMNS, OutboxRow, Redelivered, attempt_row,
    outbox_row,
};
use crate::domain::Ticks;
use crate::store::sql::SqlStore;
use crate::store::{StoreError, StoreResult};

impl SqlStore {
    pub(in crate::store) async fn claim_due_impl(
        &self,
        now: Ticks,
        lease_until: Ticks,
        window: super::ClaimWindow,
        limit: u32,
    ) -> StoreResult<Vec<OutboxRow>> {
        // One statement: the sub-select locks (and on Postgres skips already locked) rows, the
        // update stamps the lease; it commits before any HTTP call.
        // A row is taken when its burst has gone quiet, when it has waited too long, or when it
        // is the first change of a quiet transaction (leading edge: nothing coalesced into it,
        // never tried, and no other webhook of its transaction and topic sent within the quiet
        // window before it was queued). What follows a leading-edge row, while it is in flight
        // or within the window, coalesces into one trailing-edge row.
        let sql = format!(
            "UPDATE outbox SET lease_until = $1 WHERE id IN (SELECT c.id FROM outbox c \
             WHERE c.state = 'pending' AND c.next_attempt_at <= $2 \
             AND (c.lease_until IS NULL OR c.lease_until <= $2) \
             AND (c.updated_at <= $4 OR c.pending_since <= $5 \
                  OR (c.version = 0 AND c.attempts = 0 AND NOT EXISTS (\
                      SELECT 1 FROM outbox p WHERE p.transaction_id = c.transaction_id \
                      AND p.topic = c.topic AND p.id <> c.id AND p.updated_at > c.created_at - $6))) \
             ORDER BY c.next_attempt_at, c.id LIMIT $3{}) RETURNING {OUTBOX_COLUMNS}",
            self.dialect.row_lock_suffix()
        );
        let rows = sqlx::query(&sql)
            .bind(lease_until.0)
            .bind(now.0)
            .bind(i64::from(limit))
            .bind(window.settled_before.0)
            .bind(window.overdue_before.0)
            .bind(now.0.saturating_sub(window.settled_before.0).max(0))
            .fetch_all(&self.pool)
            .await?;
        let mut out = rows
            .iter()
            .map(outbox_row)
            .collect::<StoreResult<Vec<_>>>()?;
        out.sort_by_key(|r| (r.next_attempt_at, r.id));
        Ok(out)
    }

    pub(in crate::store) async fn finish_impl(
        &self,
        row: &OutboxRow,
        attempt: &Attempt,
        result: &Finish,
    ) -> StoreResult<Finished> {
        let mut tx = self.pool.begin().await?;
        let finished = match result {
            Finish::Delivered => mark_final(&mut tx, row, "delivered", None, attempt.at).await?,
            Finish::Retry { next_attempt_at } => {
                reschedule(&mut tx, row, *next_attempt_at, attempt).await?
            }
            Finish::Dead { reason } => {
                mark_final(&mut tx, row, "dead", Some(reason), attempt.at).await?
            }
        };
        insert_attempt(&mut tx, row.id, attempt).await?;
        tx.commit().await?;
        Ok(finished)
    }

    pub(in crate::store) async fn list_deliveries_impl(
        &self,
        f: &DeliveryFilter,
    ) -> StoreResult<Vec<OutboxRow>> {
        let mut sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE 1 = 1");
        let mut n = 0;
        let mut next = || {
            n += 1;
            format!("${n}")
        };
        if !f.states.is_empty() {
            let marks: Vec<String> = f.states.iter().map(|_| next()).collect();
            sql.push_str(&format!(" AND state IN ({})", marks.join(", ")));
        }
        if f.since.is_some() {
            sql.push_str(&format!(" AND updated_at >= {}", next()));
        }
        if f.merchant_id.is_some() {
            sql.push_str(&format!(" AND merchant_id = {}", next()));
        }
        sql.push_str(" ORDER BY id DESC");
        if f.limit > 0 {
            sql.push_str(&format!(" LIMIT {}", f.limit));
        }
        let mut q = sqlx::query(&sql);
        for s in &f.states {
            q = q.bind(s.as_str());
        }
        if let Some(since) = f.since {
            q = q.bind(since.0);
        }
        if let Some(m) = &f.merchant_id {
            q = q.bind(m.as_str());
        }
        let rows = q.fetch_all(&self.pool).await?;
        rows.iter().map(outbox_row).collect()
    }

    pub(in crate::store) async fn get_delivery_impl(
        &self,
        id: i64,
    ) -> StoreResult<Option<OutboxRow>> {
        let sql = format!("SELECT {OUTBOX_COLUMNS} FROM outbox WHERE id = $1");
        let row = sqlx::query(&sql)
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(outbox_row).transpose()
    }

    pub(in crate::store) async fn list_attempts_impl(
        &self,
        outbox_id: i64,
    ) -> StoreResult<Vec<Attempt>> {
        let rows = sqlx::query(
            "SELECT at, http_status, latency_ms, response_excerpt, error FROM outbox_attempts \
             WHERE outbox_id = $1 ORDER BY id",
        )
        .bind(outbox_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(attempt_row).collect()
    }

    pub(in crate::store) async fn last_attempts_impl(
        &self,
        outbox_ids: &[i64],
    ) -> StoreResult<std::collections::HashMap<i64, Attempt>> {
        let mut out = std::collections::HashMap::new();
        // Well under both backends' limits on bound parameters.
        for ids in outbox_ids.chunks(500) {
            let marks: Vec<String> = (1..=ids.len()).map(|n| format!("${n}")).collect();
            let sql = format!(
                "SELECT outbox_id, at, http_status, latency_ms, response_excerpt, error \
                 FROM outbox_attempts WHERE id IN (SELECT MAX(id) FROM outbox_attempts \
                 WHERE outbox_id IN ({}) GROUP BY outbox_id)",
                marks.join(", ")
            );
            let mut q = sqlx::query(&sql);
            for id in ids {
                q = q.bind(*id);
            }
            for row in q.fetch_all(&self.pool).await? {
                out.insert(row.try_get("outbox_id")?, attempt_row(&row)?);
            }
        }
        Ok(out)
    }

    pub(in crate::store) async fn redeliver_impl(
        &self,
        id: i64,
        now: Ticks,
    ) -> StoreResult<Redelivered> {
        let mut tx = self.pool.begin().await?;
        let due_now = "UPDATE outbox SET next_attempt_at = $2 WHERE id = $1 AND state = 'pending'";
        let n = sqlx::query(due_now)
            .bind(id)
            .bind(now.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n == 1 {
            tx.commit().await?;
            return Ok(Redelivered::AlreadyPending);
        }
        // The unique index allows one pending row per (merchant, transaction, topic).
        let sibling = "UPDATE outbox SET next_attempt_at = $2 WHERE state = 'pending' AND EXISTS \
            (SELECT 1 FROM outbox o WHERE o.id = $1 AND o.merchant_id = outbox.merchant_id \
            AND o.transaction_id = outbox.transaction_id AND o.topic = outbox.topic) RETURNING id";
        let merged = sqlx::query(sibling)
            .bind(id)
            .bind(now.0)
            .fetch_optional(&mut *tx)
            .await?;
        if let Some(r) = merged {
            let other: i64 = r.try_get("id")?;
            tx.commit().await?;
            return Ok(Redelivered::MergedIntoPending(other));
        }
        let requeue = "UPDATE outbox SET state = 'pending', next_attempt_at = $2, attempts = 0, \
            lease_until = NULL, pending_since = $2, updated_at = $2, last_error = NULL, \
            version = version + 1 WHERE id = $1 AND state IN ('dead', 'delivered')";
        let n = sqlx::query(requeue)
            .bind(id)
            .bind(now.0)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if n != 1 {
            return Err(StoreError::NotFound);
        }
        tx.commit().await?;
        Ok(Redelivered::Requeued)
    }

    pub(in crate::store) async fn redeliver_since_impl(
        &self,
        since: Ticks,
        now: Ticks,
    ) -> StoreResult<u64> {
        let ids: Vec<(i64,)> = sqlx::query_as(
            "SELECT id FROM outbox WHERE state IN ('dead', 'delivered') AND updated_at >= $1 \
             ORDER BY id",
        )
        .bind(since.0)
        .fetch_all(&self.pool)
        .await?;
        let mut count = 0;
        for (id,) in ids {
            match self.redeliver_impl(id, now).await {
                Ok(_) => count += 1,
                // Redelivered meanwhile by someone else: nothing left to do for it.
                Err(StoreError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(count)
    }
}

/// Delivered or dead, only for the version we sent; otherwise the row stays pending (released).
async fn mark_final(
    conn: &mut AnyConnection,
    row: &OutboxRow,
    state: &'static str,
    reason: Option<&String>,
    at: Ticks,
) -> StoreResult<Finished> {
    let n = sqlx::query(
        "UPDATE outbox SET state = $4, lease_until = NULL, attempts = attempts + 1, \
         last_error = $5, updated_at = $6 \
         WHERE id = $1 AND lease_until = $2 AND version = $3 AND state = 'pending'",
    )
    .bind(row.id)
    .bind(row.lease_until.map(|t| t.0))
    .bind(row.version)
    .bind(state)
    .bind(reason.map(String::as_str))
    .bind(at.0)
    .execute(&mut *conn)
    .await?
    .rows_affected();
    match (n, state) {
        (1, "delivered") => Ok(Finished::Delivered),
        (1, _) => Ok(Finished::Dead),
        _ => release(conn, row, reason).await,
    }
}

async fn reschedule(
    conn: &mut AnyConnection,
    row: &OutboxRow,
    next_attempt_at: Ticks,
    attempt: &Attempt,
) -> StoreResult<Finished> {
    let n = sqlx::query(
        "UPDATE outbox SET lease_until = NULL, attempts = attempts + 1, \
         next_attempt_at = $3, last_error = $4 \
         WHERE id = $1 AND lease_until = $2 AND state = 'pending'",
    )
    .bind(row.id)
    .bind(row.lease_until.map(|t| t.0))
    .bind(next_attempt_at.0)
    .bind(attempt_error(attempt))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(if n == 1 {
        Finished::Rescheduled
    } else {
        Finished::LeaseLost
    })
}

/// The row changed while we held it (or our lease is gone): release it if still ours, keep it
/// pending and due, so the newest content is sent next round.
async fn release(
    conn: &mut AnyConnection,
    row: &OutboxRow,
    error: Option<&String>,
) -> StoreResult<Finished> {
    let n = sqlx::query(
        "UPDATE outbox SET lease_until = NULL, attempts = attempts + 1, \
         last_error = COALESCE($3, last_error) \
         WHERE id = $1 AND lease_until = $2 AND state = 'pending'",
    )
    .bind(row.id)
    .bind(row.lease_until.map(|t| t.0))
    .bind(error.map(String::as_str))
    .execute(conn)
    .await?
    .rows_affected();
    Ok(if n == 1 {
        Finished::Superseded
    } else {
        Finished::LeaseLost
    })
}

fn attempt_error(a: &Attempt) -> Option<String> {
    a.error
        .clone()
        .or_else(|| a.http_status.map(|s| format!("HTTP {s}")))
}

async fn insert_attempt(conn: &mut AnyConnection, outbox_id: i64, a: &Attempt) -> StoreResult<()> {
    sqlx::query(
        "INSERT INTO outbox_attempts (outbox_id, at, http_status, latency_ms, \
         response_excerpt, error) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(outbox_id)
    .bind(a.at.0)
    .bind(a.http_status.map(i64::from))
    .bind(a.latency_ms)
    .bind(&a.response_excerpt)
    .bind(&a.error)
    .execute(conn)
    .await?;
    Ok(())
}
