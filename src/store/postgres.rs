//! PostgreSQL, for replicas sharing one database: the pool set-up, the Postgres dialect's
//! migrations and the SQL that differs from SQLite.

use std::time::Duration;

use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

use super::StoreError;
use super::sql::{Dialect, SqlStore, install_drivers};

pub(super) static MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// Lets replicas claim disjoint rows without waiting on each other's leases.
pub(super) const ROW_LOCK_SUFFIX: &str = " FOR UPDATE SKIP LOCKED";

/// Connects a pool of at most `max_connections` (at least one) to `postgres://…`.
pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<SqlStore, StoreError> {
    install_drivers();
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .connect(url)
        .await?;
    Ok(SqlStore::new(pool, Dialect::Postgres))
}
