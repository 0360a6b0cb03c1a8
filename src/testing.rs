//! Test support for the lib's test modules: fresh databases on either backend and one macro that
//! runs a list of tests on both. The SQLite variant always runs; the Postgres variant is
//! `#[ignore]`d so that a plain `cargo test` reports it as ignored rather than passed, and runs
//! with `cargo test --lib on_postgres -- --ignored` against `PSPI_TEST_POSTGRES_URL`.

use crate::store::scratch::{Backend, ScratchDb};
use crate::store::{SqlStore, connect_postgres, connect_sqlite};

/// A fresh, empty database on `backend` and a store connected to it (not yet migrated).
pub async fn scratch_store(backend: Backend) -> (ScratchDb, SqlStore) {
    let db = ScratchDb::on(backend).await.expect("scratch database");
    let store = match backend {
        Backend::Sqlite => connect_sqlite(&db.url).await,
        Backend::Postgres => connect_postgres(&db.url, 10).await,
    }
    .expect("connect to the scratch database");
    (db, store)
}

/// `on_each_backend!(run; a, b, …)` makes `on_sqlite::a` and `on_postgres::a` (ignored unless
/// asked for), each calling `run(backend, a)`; `run` builds the test's environment.
macro_rules! on_each_backend {
    ($run:path; $($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    $run($crate::store::scratch::Backend::Sqlite, super::$name).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                #[ignore = "Postgres: PSPI_TEST_POSTGRES_URL=… cargo test --lib on_postgres -- --ignored"]
                async fn $name() {
                    $run($crate::store::scratch::Backend::Postgres, super::$name).await
                }
            )*
        }
    };
}
pub(crate) use on_each_backend;
