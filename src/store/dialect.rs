//! What differs between the two SQL backends once connected: their migrations and how a claim
//! locks rows. `sql.rs` (queries) and `sqlite.rs` / `postgres.rs` (connecting) both use this.

use std::sync::Once;

use sqlx::migrate::Migrator;

static SQLITE: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES: Migrator = sqlx::migrate!("./migrations/postgres");

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// Appended to a `SELECT` that claims work rows (e.g. the outbox): `FOR UPDATE SKIP LOCKED`
    /// on Postgres, nothing on SQLite (whose writers are serialised anyway).
    pub fn row_lock_suffix(self) -> &'static str {
        match self {
            // SQLite takes row locks at database level; there is nothing to skip.
            Dialect::Sqlite => "",
            // Lets replicas claim disjoint rows without waiting on each other's leases.
            Dialect::Postgres => " FOR UPDATE SKIP LOCKED",
        }
    }

    /// This dialect's migrations, tolerating applied versions it does not know: those belong to a
    /// newer release (expand/contract), checked by
    /// [`SchemaStatus::refusal`](super::SchemaStatus::refusal) before running.
    pub(super) fn migrator(self) -> Migrator {
        let base = match self {
            Dialect::Sqlite => &SQLITE,
            Dialect::Postgres => &POSTGRES,
        };
        Migrator {
            migrations: base.migrations.clone(),
            ignore_missing: true,
            locking: base.locking,
            no_tx: base.no_tx,
        }
    }
}

/// `Any` needs its drivers registered once per process before the first connect.
pub(super) fn install_drivers() {
    static ONCE: Once = Once::new();
    ONCE.call_once(sqlx::any::install_default_drivers);
}
