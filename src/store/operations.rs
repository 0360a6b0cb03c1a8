//! What operating the service needs from the database: readiness (migrations current), the
//! gauges behind `/metrics`, and re-sealing merchant settings when the master key rotates.

use async_trait::async_trait;
use sqlx::Row;

use super::schema::SchemaStatus;
use super::sql::SqlStore;
use super::{StoreError, StoreResult};
use crate::domain::Ticks;
use crate::telemetry::Gauges;

/// Operational queries; every one is a single short statement.
#[async_trait]
pub trait OpsStore: Send + Sync {
    /// Migrations this build knows that the database has not applied (0 when current).
    async fn migrations_pending(&self) -> StoreResult<usize>;
    /// This build's missing migrations and the applied ones it does not know (a newer release's).
    async fn schema_status(&self) -> StoreResult<SchemaStatus>;
    /// Outbox depth, oldest pending age (relative to `now`), dead webhooks, reconciler backlog.
    async fn gauges(&self, now: Ticks) -> StoreResult<Gauges>;
    /// Every merchant's sealed settings blob: `(merchant_id, sealed)`.
    async fn all_sealed_settings(&self) -> StoreResult<Vec<(String, Vec<u8>)>>;
    /// Replaces a merchant's sealed blob if it is still `old` (false when it changed meanwhile).
    async fn reseal_settings(
        &self,
        merchant_id: &str,
        old: &[u8],
        new: &[u8],
        at: Ticks,
    ) -> StoreResult<bool>;
}

#[async_trait]
impl OpsStore for SqlStore {
    async fn migrations_pending(&self) -> StoreResult<usize> {
        Ok(self.schema_status_impl().await?.pending.len())
    }

    async fn schema_status(&self) -> StoreResult<SchemaStatus> {
        self.schema_status_impl().await
    }

    async fn gauges(&self, now: Ticks) -> StoreResult<Gauges> {
        let row = sqlx::query(
            "SELECT \
               (SELECT COUNT(*) FROM outbox WHERE state = 'pending') AS pending, \
               (SELECT MIN(pending_since) FROM outbox WHERE state = 'pending') AS oldest, \
               (SELECT COUNT(*) FROM outbox WHERE state = 'dead') AS dead, \
               (SELECT COUNT(*) FROM transactions WHERE needs_reconcile = 1) AS backlog, \
               (SELECT COUNT(*) FROM transactions WHERE status IN ('Initiated', 'Pending') \
                  AND needs_reconcile = 0 \
                  AND NOT (status = 'Initiated' AND checkout_id IS NOT NULL \
                           AND expires_at IS NOT NULL)) AS unscheduled",
        )
        .fetch_one(&mut *self.conn().await?)
        .await?;
        let oldest: Option<i64> = row.try_get("oldest")?;
        let age = oldest.map_or(0.0, |t| {
            // Ticks are 100 ns; the age is shown in seconds.
            (now.0.saturating_sub(t)).max(0) as f64 / 10_000_000.0
        });
        Ok(Gauges {
            outbox_pending: row.try_get("pending")?,
            outbox_oldest_pending_age_secs: age,
            outbox_dead: row.try_get("dead")?,
            reconciler_backlog: row.try_get("backlog")?,
            reconciler_unscheduled: row.try_get("unscheduled")?,
        })
    }

    async fn all_sealed_settings(&self) -> StoreResult<Vec<(String, Vec<u8>)>> {
        let rows =
            sqlx::query("SELECT merchant_id, sealed FROM merchant_settings ORDER BY merchant_id")
                .fetch_all(&mut *self.conn().await?)
                .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("merchant_id")?, r.try_get("sealed")?)))
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn reseal_settings(
        &self,
        merchant_id: &str,
        old: &[u8],
        new: &[u8],
        at: Ticks,
    ) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE merchant_settings SET sealed = $1, updated_at = $2 \
             WHERE merchant_id = $3 AND sealed = $4",
        )
        .bind(new)
        .bind(at.0)
        .bind(merchant_id)
        .bind(old)
        .execute(&mut *self.conn().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }
}
