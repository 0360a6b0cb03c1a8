//! Choosing the backend from a database URL, and printing such URLs without their password.

use std::sync::Arc;

use super::postgres::connect_postgres;
use super::sqlite::{config_error, connect_sqlite};
use super::{Store, StoreResult};

/// Connects to `sqlite:…`, `postgres://…` or `postgresql://…`. `max_connections` applies to
/// Postgres; SQLite sizes its own small pool.
pub async fn connect(url: &str, max_connections: u32) -> StoreResult<Arc<dyn Store>> {
    match scheme(url) {
        Some("sqlite") => Ok(Arc::new(connect_sqlite(url).await?)),
        Some("postgres" | "postgresql") => {
            Ok(Arc::new(connect_postgres(url, max_connections).await?))
        }
        // Only the scheme is named: the rest of the URL may hold a password.
        Some(other) => Err(config_error(format!(
            "unsupported database URL scheme `{other}:`; expected sqlite:, postgres: or postgresql:"
        ))),
        None => Err(config_error(
            "database URL has no scheme; expected sqlite:, postgres: or postgresql:",
        )),
    }
}

fn scheme(url: &str) -> Option<&str> {
    let (scheme, _) = url.split_once(':')?;
    let valid = scheme
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    valid.then_some(scheme)
}

/// The URL with any password replaced by `***`, for logs.
pub fn redact_url(url: &str) -> String {
    if let Ok(mut parsed) = url::Url::parse(url) {
        if parsed.password().is_some() && parsed.set_password(Some("***")).is_ok() {
            return parsed.to_string();
        }
        if parsed.password().is_none() {
            return url.to_owned();
        }
    }
    redact_by_hand(url)
}

/// Fallback for URLs `url` cannot parse: hide everything between `user:` and the last `@`.
fn redact_by_hand(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_owned();
    };
    match rest[..at].find(':') {
        Some(colon) => format!("{}{}:***{}", &url[..start], &rest[..colon], &rest[at..]),
        None => url.to_owned(),
    }
}
