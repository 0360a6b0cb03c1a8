//! Throw-away databases for tests across the project: a fresh SQLite file in its own temp
//! directory, or a fresh Postgres database created through an admin URL. Not `cfg(test)` because
//! integration tests under `tests/` use it too.

use std::path::PathBuf;

use sqlx::{AnyConnection, Connection, Executor};

use super::StoreError;
use super::dialect::install_drivers;

/// The environment variable naming a Postgres server for tests (its URL, with admin rights).
pub const POSTGRES_URL_ENV: &str = "PSPI_TEST_POSTGRES_URL";

/// The database a test runs on: the one switch for every test of the project (lib tests pick
/// each backend explicitly; the API suite reads `PSPI_TEST_BACKEND`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// `PSPI_TEST_BACKEND=postgres` selects Postgres; anything else SQLite.
    pub fn from_env() -> Backend {
        match std::env::var("PSPI_TEST_BACKEND").as_deref() {
            Ok("postgres") => Backend::Postgres,
            _ => Backend::Sqlite,
        }
    }
}

/// The local server the suites use when `PSPI_TEST_POSTGRES_URL` is not set.
pub const DEFAULT_POSTGRES_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

/// A database that exists for one test; removed on drop.
#[derive(Debug)]
pub struct ScratchDb {
    /// The URL to hand to `store::connect`.
    pub url: String,
    kind: Kind,
}

#[derive(Debug)]
enum Kind {
    Sqlite {
        dir: PathBuf,
    },
    Postgres {
        admin_url: String,
        name: String,
        dropped: bool,
    },
}

/// The admin URL from `PSPI_TEST_POSTGRES_URL`, if set and non-empty.
pub fn postgres_admin_url_from_env() -> Option<String> {
    std::env::var(POSTGRES_URL_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
}

impl ScratchDb {
    /// A fresh database on `backend`; Postgres on the server of `PSPI_TEST_POSTGRES_URL` (the
    /// local default when unset). An unreachable server is an error, never a silent fallback.
    pub async fn on(backend: Backend) -> Result<ScratchDb, StoreError> {
        match backend {
            Backend::Sqlite => ScratchDb::sqlite()
                .await
                .map_err(|e| StoreError::Db(sqlx::Error::Io(e))),
            Backend::Postgres => {
                let admin = postgres_admin_url_from_env()
                    .unwrap_or_else(|| DEFAULT_POSTGRES_URL.to_string());
                ScratchDb::postgres(&admin).await
            }
        }
    }

    /// A fresh SQLite file in a new directory under the system temp dir.
    pub async fn sqlite() -> std::io::Result<ScratchDb> {
        let dir = std::env::temp_dir().join(format!("pspi-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::create_dir_all(&dir).await?;
        let url = format!("sqlite://{}?mode=rwc", dir.join("pspi.db").display());
        Ok(ScratchDb {
            url,
            kind: Kind::Sqlite { dir },
        })
    }

    /// A fresh, empty database `pspi_<uuid>` on the server behind `admin_url`.
    pub async fn postgres(admin_url: &str) -> Result<ScratchDb, StoreError> {
        install_drivers();
        let name = format!("pspi_{}", uuid::Uuid::new_v4().simple());
        let mut conn = AnyConnection::connect(admin_url).await?;
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await?;
        conn.close().await?;
        let mut url = url::Url::parse(admin_url)
            .map_err(|e| StoreError::Db(sqlx::Error::Configuration(Box::new(e))))?;
        url.set_path(&format!("/{name}"));
        let kind = Kind::Postgres {
            admin_url: admin_url.to_owned(),
            name,
            dropped: false,
        };
        Ok(ScratchDb {
            url: url.to_string(),
            kind,
        })
    }

    /// Removes the database now, closing any connection still open to it.
    pub async fn drop_db(mut self) -> Result<(), StoreError> {
        match &mut self.kind {
            Kind::Sqlite { dir } => {
                let _ = tokio::fs::remove_dir_all(&*dir).await;
                Ok(())
            }
            Kind::Postgres {
                admin_url,
                name,
                dropped,
            } => {
                *dropped = true;
                drop_postgres(admin_url, name).await
            }
        }
    }
}

async fn drop_postgres(admin_url: &str, name: &str) -> Result<(), StoreError> {
    let mut conn = AnyConnection::connect(admin_url).await?;
    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
        .await?;
    conn.close().await?;
    Ok(())
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        match &self.kind {
            Kind::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Kind::Postgres {
                admin_url,
                name,
                dropped: false,
            } => {
                // Drop cannot await, and the caller's runtime may be shutting down: use a
                // private runtime on its own thread. Best effort; failures are ignored.
                let (admin_url, name) = (admin_url.clone(), name.clone());
                let worker = std::thread::spawn(move || {
                    if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                    {
                        let _ = rt.block_on(drop_postgres(&admin_url, &name));
                    }
                });
                let _ = worker.join();
            }
            Kind::Postgres { dropped: true, .. } => {}
        }
    }
}
