//! PostgreSQL, for replicas sharing one database: the pool set-up and connection-failure notes.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use sqlx::any::AnyPoolOptions;

use super::StoreError;
use super::dialect::{Dialect, install_drivers};
use super::sql::SqlStore;

/// Connects a pool of at most `max_connections` (at least one) to `postgres://…`.
pub async fn connect_postgres(url: &str, max_connections: u32) -> Result<SqlStore, StoreError> {
    install_drivers();
    // sqlx pings a connection when it goes back to the pool; a second ping on every checkout
    // would double the round trips of a short statement. A connection is pinged on checkout
    // only when it may have died while idle: it has been idle long, or since before the last
    // connection failure this process saw (a database outage).
    let pool = AnyPoolOptions::new()
        .max_connections(max_connections.max(1))
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if idle_connection_suspect(meta.idle_for) {
                    sqlx::Connection::ping(conn).await?;
                }
                Ok(true)
            })
        })
        .connect(url)
        .await?;
    Ok(SqlStore::new(pool, Dialect::Postgres))
}

/// Idle longer than this, a connection is checked before use (server or network idle timeouts).
const IDLE_CHECK_AFTER: Duration = Duration::from_secs(30);

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Microseconds after `epoch()` of the last connection-level failure (0: none).
static LAST_FAILURE_US: AtomicU64 = AtomicU64::new(0);

/// Records that a database connection failed (I/O or TLS error): every connection idle since
/// before now is checked before its next use.
pub(super) fn note_connection_failure() {
    let us = u64::try_from(epoch().elapsed().as_micros()).unwrap_or(u64::MAX);
    LAST_FAILURE_US.fetch_max(us.max(1), Ordering::SeqCst);
}

/// Whether a connection idle for `idle_for` must be pinged before use.
fn idle_connection_suspect(idle_for: Duration) -> bool {
    if idle_for >= IDLE_CHECK_AFTER {
        return true;
    }
    let failure = LAST_FAILURE_US.load(Ordering::SeqCst);
    if failure == 0 {
        return false;
    }
    let now = epoch().elapsed();
    let idle_since = now.saturating_sub(idle_for);
    idle_since <= Duration::from_micros(failure)
}
