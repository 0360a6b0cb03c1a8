//! SQLite, the embedded default: URL preparation and per-connection pragmas.

use std::path::Path;

use sqlx::Executor;
use sqlx::any::AnyPoolOptions;

use super::StoreError;
use super::dialect::{Dialect, install_drivers};
use super::sql::SqlStore;

/// busy_timeout comes first so that switching to WAL waits for a concurrent connection instead of
/// failing; foreign keys are off by default in SQLite and must be enabled per connection.
const PRAGMAS: &[&str] = &[
    "PRAGMA busy_timeout = 5000",
    "PRAGMA journal_mode = WAL",
    "PRAGMA synchronous = NORMAL",
    "PRAGMA foreign_keys = ON",
];

/// A file database is shared by a small pool; SQLite serialises writers anyway.
const FILE_POOL_SIZE: u32 = 8;

/// Connects to `sqlite:<path>` (or `sqlite://<path>`), creating the file and its directory if
/// missing. `sqlite::memory:` gives a single-connection in-memory database, for quick tests.
pub async fn connect_sqlite(url: &str) -> Result<SqlStore, StoreError> {
    install_drivers();
    let (url, memory) = prepare_url(url)?;
    let options = AnyPoolOptions::new().after_connect(|conn, _meta| {
        Box::pin(async move {
            for pragma in PRAGMAS {
                conn.execute(*pragma).await?;
            }
            Ok(())
        })
    });
    // Every connection to `:memory:` is its own database, so the pool must keep exactly one.
    let options = if memory {
        options
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
    } else {
        options.max_connections(FILE_POOL_SIZE)
    };
    let pool = options.connect(&url).await?;
    Ok(SqlStore::new(pool, Dialect::Sqlite))
}

/// Returns the URL to connect with (`mode=rwc` added for files) and whether it is in-memory.
fn prepare_url(url: &str) -> Result<(String, bool), StoreError> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .ok_or_else(|| config_error("a SQLite URL must start with sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    let memory = path == ":memory:" || query.split('&').any(|p| p == "mode=memory");
    if memory {
        return Ok((url.to_owned(), true));
    }
    if let Some(dir) = Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir).map_err(|e| {
            config_error(format!(
                "cannot create database directory {}: {e}",
                dir.display()
            ))
        })?;
    }
    let has_mode = query.split('&').any(|p| p.starts_with("mode="));
    let url = match (query.is_empty(), has_mode) {
        (_, true) => url.to_owned(),
        (true, false) => format!("{url}?mode=rwc"),
        (false, false) => format!("{url}&mode=rwc"),
    };
    Ok((url, false))
}

pub(super) fn config_error(msg: impl Into<String>) -> StoreError {
    StoreError::Db(sqlx::Error::Configuration(msg.into().into()))
}
