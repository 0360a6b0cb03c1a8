//! Operators and sign-in: Argon2id password hashes (RustCrypto `argon2`, its default
//! parameters: 19 MiB, 2 passes), a random session token in an `HttpOnly`, `SameSite=Strict`
//! cookie (`Secure` behind HTTPS) stored only as its SHA-256, and a sign-in throttle (GCRA via
//! `governor`) per operator name and for the whole listener.

use std::num::NonZeroU32;

use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use askama::Template;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};

use super::{Ctx, Layout, Signed, error_page, render};
use crate::domain::Clock;
use crate::store::Store;
use crate::store::console::OperatorRecord;

/// The cookie holding the session token.
pub const COOKIE: &str = "pspi_console";
/// May read everything the operator's merchants allow.
pub const ROLE_VIEWER: &str = "viewer";
/// May also act (redeliver, ask the PSP, re-verify settings).
pub const ROLE_OPERATOR: &str = "operator";

/// Sign-in attempts allowed per operator name and, ten times as many, per listener.
#[derive(Debug)]
pub struct Throttle {
    by_name: DefaultKeyedRateLimiter<String>,
    all: DefaultDirectRateLimiter,
}

impl Throttle {
    /// `per_minute` attempts per name (at least 1).
    pub fn new(per_minute: u32) -> Self {
        let n = NonZeroU32::new(per_minute.max(1)).unwrap_or(NonZeroU32::MIN);
        let all = NonZeroU32::new(per_minute.max(1).saturating_mul(10)).unwrap_or(n);
        Throttle {
            by_name: RateLimiter::keyed(Quota::per_minute(n)),
            all: RateLimiter::direct(Quota::per_minute(all)),
        }
    }

    /// Takes one attempt for `name`; `false` when its allowance (or the listener's) is used up.
    pub fn allow(&self, name: &str) -> bool {
        self.all.check().is_ok() && self.by_name.check_key(&name.to_lowercase()).is_ok()
    }
}

/// Why an operator command failed.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error("operator name must be 1 to 64 letters, digits, '.', '_', '-' or '@'")]
    BadName,
    #[error("role must be 'viewer' or 'operator'")]
    BadRole,
    #[error("password must be at least 12 characters")]
    WeakPassword,
    #[error("an operator named '{0}' already exists")]
    Duplicate(String),
    #[error("no operator named '{0}'")]
    NotFound(String),
    #[error("no merchant with id or name '{0}'")]
    UnknownMerchant(String),
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

/// An Argon2id PHC string for `password` (random salt).
pub fn hash_password(password: &str) -> Result<String, OperatorError> {
    let salt = SaltString::generate(&mut argon2::password_hash::rand_core::OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| OperatorError::Hash(e.to_string()))
}

/// Whether `password` matches the stored PHC string (constant-time compare inside `argon2`).
pub fn verify_password(password: &str, phc: &str) -> bool {
    PasswordHash::new(phc).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// A hash that no password matches, verified against when the name is unknown, so that an
/// unknown name takes as long as a wrong password.
fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password(&crate::crypto::new_token()).unwrap_or_default())
}

/// The stored form of a session token: SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The session token from the `Cookie` header.
pub fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
        .filter(|v| !v.is_empty() && v.len() <= 128)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Creates an operator. `merchants`: ids or names of the merchants they may see (empty: all).
pub async fn create_operator(
    store: &dyn Store,
    clock: &dyn Clock,
    name: &str,
    role: &str,
    merchants: &[String],
    password: &str,
) -> Result<OperatorRecord, OperatorError> {
    if !valid_name(name) {
        return Err(OperatorError::BadName);
    }
    if role != ROLE_VIEWER && role != ROLE_OPERATOR {
        return Err(OperatorError::BadRole);
    }
    if password.chars().count() < 12 {
        return Err(OperatorError::WeakPassword);
    }
    let mut ids = Vec::new();
    for m in merchants.iter().map(|m| m.trim()).filter(|m| !m.is_empty()) {
        let found = store
            .find_merchant(m)
            .await?
            .ok_or_else(|| OperatorError::UnknownMerchant(m.into()))?;
        ids.push(found.id);
    }
    let op = OperatorRecord {
        id: crate::domain::new_id(),
        name: name.into(),
        role: role.into(),
        merchants: ids,
        created_at: clock.now(),
    };
    if !store
        .create_operator(&op, &hash_password(password)?)
        .await?
    {
        return Err(OperatorError::Duplicate(name.into()));
    }
    Ok(op)
}

/// Sets a new password and ends the operator's sessions.
pub async fn reset_password(
    store: &dyn Store,
    name: &str,
    password: &str,
) -> Result<(), OperatorError> {
    if password.chars().count() < 12 {
        return Err(OperatorError::WeakPassword);
    }
    if !store
        .set_operator_password(name, &hash_password(password)?)
        .await?
    {
        return Err(OperatorError::NotFound(name.into()));
    }
    Ok(())
}

/// Removes an operator and ends their sessions.
pub async fn remove_operator(store: &dyn Store, name: &str) -> Result<(), OperatorError> {
    if !store.remove_operator(name).await? {
        return Err(OperatorError::NotFound(name.into()));
    }
    Ok(())
}

#[derive(Template)]
#[template(path = "console/login.html")]
struct LoginPage {
    l: Layout,
    error: Option<String>,
    name: String,
}

/// `GET /console/login`.
pub async fn login_page(_c: Ctx) -> Response {
    render(&LoginPage {
        l: Layout::default(),
        error: None,
        name: String::new(),
    })
}

#[derive(serde::Deserialize)]
struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// Whether a sign-in was sent from another site. A browser that says where the form came from
/// (`Sec-Fetch-Site`) is believed; otherwise an `Origin` naming another host than the one the
/// form was sent to. `Origin: null` proves nothing (the console's `Referrer-Policy:
/// no-referrer` makes browsers send it for the console's own form), nor does a client that
/// sends neither header (curl, an old browser): neither is a forged form in a current browser.
fn cross_site(headers: &HeaderMap) -> bool {
    let text = |name: header::HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")) {
        return site.eq_ignore_ascii_case("cross-site");
    }
    match text(header::ORIGIN) {
        None | Some("null") => false,
        Some(origin) => {
            let origin_host = origin.split_once("://").map_or(origin, |(_, h)| h);
            text(header::HOST).is_none_or(|h| !origin_host.eq_ignore_ascii_case(h))
        }
    }
}

/// `POST /console/login`: a session cookie and the transaction list, or the form again.
/// Sign-in needs no CSRF token (there is no session yet): a sign-in sent from another site
/// (`Sec-Fetch-Site`, `Origin`) is refused, so no site can sign a browser into an account of
/// its choosing; `SameSite=Strict` keeps the cookie from being sent cross-site afterwards.
pub async fn login(c: Ctx, headers: HeaderMap, body: Bytes) -> Response {
    if cross_site(&headers) {
        super::audit::record(
            c.app.store.as_ref(),
            c.app.now(),
            "",
            "sign-in",
            "",
            "refused: sent from another site",
        )
        .await;
        return error_page(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            "This sign-in form was sent from another site. Open the console's own sign-in page.",
        );
    }
    let Ok(form) = serde_urlencoded::from_bytes::<LoginForm>(&body) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Sign-in",
            "The form could not be read.",
        );
    };
    let name = form.name.trim().to_string();
    let again = |status: StatusCode, why: &str| {
        let mut res = render(&LoginPage {
            l: Layout::default(),
            error: Some(why.into()),
            name: name.clone(),
        });
        *res.status_mut() = status;
        res
    };
    let store = c.app.store.as_ref();
    let now = c.app.now();
    if !c.console.throttle.allow(&name) {
        super::audit::record(
            store,
            now,
            &name,
            "sign-in",
            "",
            "refused: too many attempts",
        )
        .await;
        return again(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many sign-in attempts. Wait a minute and try again.",
        );
    }
    let found = match store.operator_by_name(&name).await {
        Ok(f) => f,
        Err(e) => return super::store_error(&e),
    };
    let password = form.password;
    let (op, ok) = match found {
        Some((op, phc)) => {
            let ok = tokio::task::spawn_blocking(move || verify_password(&password, &phc))
                .await
                .unwrap_or(false);
            (Some(op), ok)
        }
        None => {
            let _ =
                tokio::task::spawn_blocking(move || verify_password(&password, decoy_hash())).await;
            (None, false)
        }
    };
    let Some(op) = op.filter(|_| ok) else {
        super::audit::record(
            store,
            now,
            &name,
            "sign-in",
            "",
            "refused: wrong name or password",
        )
        .await;
        return again(StatusCode::UNAUTHORIZED, "Wrong name or password.");
    };
    let token = crate::crypto::new_token();
    let csrf = crate::crypto::new_token();
    let expires = now.plus_seconds(c.console.session_secs);
    if let Err(e) = store
        .create_session(&token_hash(&token), &op.id, &csrf, now, expires)
        .await
    {
        return super::store_error(&e);
    }
    super::audit::record(store, now, &op.name, "sign-in", "", "signed in").await;
    let mut res = Redirect::to("/console/transactions").into_response();
    let cookie = format!(
        "{COOKIE}={token}; Path=/console; HttpOnly; SameSite=Strict; Max-Age={}{}",
        c.console.session_secs,
        if c.console.secure_cookie {
            "; Secure"
        } else {
            ""
        }
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        res.headers_mut().insert(header::SET_COOKIE, v);
    }
    res
}

/// `POST /console/logout` (CSRF-checked): ends the session.
pub async fn logout(s: Signed, body: Bytes) -> Response {
    if let Err(res) = super::csrf::check(&s, &body) {
        return *res;
    }
    let now = s.now();
    if let Some(t) = s.ctx.token.as_deref()
        && let Err(e) = s.ctx.app.store.end_session(&token_hash(t), now).await
    {
        return super::store_error(&e);
    }
    super::audit::record(
        s.ctx.app.store.as_ref(),
        now,
        &s.op.name,
        "sign-out",
        "",
        "signed out",
    )
    .await;
    let mut res = Redirect::to("/console/login").into_response();
    res.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static(
            "pspi_console=; Path=/console; HttpOnly; SameSite=Strict; Max-Age=0",
        ),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_verifies_only_against_its_own_hash() {
        let h = hash_password("correct horse battery").expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_password("correct horse battery", &h));
        assert!(!verify_password("correct horse batterz", &h));
        assert!(!verify_password("correct horse battery", "not a hash"));
    }

    #[test]
    fn the_throttle_refuses_past_its_allowance_per_name() {
        let t = Throttle::new(2);
        assert!(t.allow("ann"));
        assert!(t.allow("ANN"));
        assert!(!t.allow("ann"));
        assert!(t.allow("bob"));
    }

    #[test]
    fn a_sign_in_from_another_site_is_told_apart() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(!cross_site(&h(&[("host", "127.0.0.1:9090")])), "curl");
        assert!(!cross_site(&h(&[
            ("host", "127.0.0.1:9090"),
            ("origin", "http://127.0.0.1:9090"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(cross_site(&h(&[
            ("host", "127.0.0.1:9090"),
            ("origin", "https://evil.example"),
        ])));
        assert!(cross_site(&h(&[
            ("host", "127.0.0.1:9090"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!cross_site(&h(&[
            ("host", "127.0.0.1:9090"),
            ("origin", "null"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!cross_site(&h(&[("origin", "null"), ("host", "a")])));
    }

    #[test]
    fn the_cookie_token_is_read_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; pspi_console=abc; b=2"),
        );
        assert_eq!(cookie_token(&h).as_deref(), Some("abc"));
        assert_eq!(cookie_token(&HeaderMap::new()), None);
    }
}
