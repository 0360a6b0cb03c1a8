//! The operator console (issue #20; README: "Operator console"): server-rendered pages on the
//! operator listener that answer "what happened to this payment?" and offer the few safe fixes
//! (redeliver webhooks, ask the PSP now, re-verify settings). Off unless `[console] enabled`.
//!
//! Layout: `auth` (operators, passwords, sessions, sign-in throttle), `csrf` (the synchronizer
//! token on every form), `audit` (what operators did), one module per area (`transactions`,
//! `attention`, `overview`), `charts` (SVG drawn on the server) and `cli` (`operators …`).
//! Every page reads without JavaScript; the only asset is a stylesheet built into the binary.

pub mod attention;
pub mod audit;
pub mod auth;
pub mod charts;
pub mod cli;
pub mod csrf;
pub mod overview;
pub mod transactions;

use std::sync::Arc;

use askama::Template;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::config::AppConfig;
use crate::domain::Ticks;
use crate::flows::App;
use crate::http::ops::OpsState;
use crate::store::console::OperatorRecord;

/// The console's settings and in-memory state (the sign-in throttle).
#[derive(Debug)]
pub struct Console {
    /// How long a sign-in lasts, in seconds.
    pub session_secs: i64,
    /// Cookies get `Secure` when `server.public_base_url` is HTTPS.
    pub secure_cookie: bool,
    /// The reconciler's timing, for "ask the PSP now".
    pub policy: crate::flows::reconcile::Policy,
    pub(crate) throttle: auth::Throttle,
}

impl Console {
    /// The console when `[console] enabled`; `None` otherwise.
    pub fn from_config(cfg: &AppConfig) -> Option<Arc<Console>> {
        let c = &cfg.console;
        c.enabled.then(|| {
            Arc::new(Console {
                session_secs: i64::try_from(c.session_secs).unwrap_or(i64::MAX),
                secure_cookie: cfg.server.public_base_url.starts_with("https://"),
                policy: (&cfg.reconciler).into(),
                throttle: auth::Throttle::new(c.login_attempts_per_minute),
            })
        })
    }
}

/// The console's routes (an ops listener section, `http::ops::sections`).
pub fn section() -> Router<OpsState> {
    Router::new()
        .route("/console", get(home))
        .route("/console/login", get(auth::login_page).post(auth::login))
        .route("/console/logout", post(auth::logout))
        .route("/console/transactions", get(transactions::list))
        .route("/console/transactions/{id}", get(transactions::show))
        .route("/console/attention", get(attention::page))
        .route("/console/overview", get(overview::page))
        .route("/console/audit", get(audit::page))
        .route("/console/actions/redeliver", post(attention::redeliver))
        .route(
            "/console/actions/redeliver-since",
            post(attention::redeliver_since),
        )
        .route("/console/actions/ask-psp", post(attention::ask_psp))
        .route(
            "/console/actions/verify-settings",
            post(attention::verify_settings),
        )
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/{*rest}", get(not_found).post(not_found))
}

const CSS: &str = include_str!("assets/console.css");

async fn stylesheet(_c: Ctx) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "max-age=3600"),
        ],
        CSS,
    )
        .into_response()
}

async fn not_found(_c: Ctx) -> Response {
    error_page(
        StatusCode::NOT_FOUND,
        "Not found",
        "There is no such console page.",
    )
}

/// The console's part of the request: the application and the console (404 when disabled).
pub struct Ctx {
    pub app: App,
    pub console: Arc<Console>,
    /// The session token from the cookie, if any.
    pub token: Option<String>,
}

impl FromRequestParts<OpsState> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &OpsState) -> Result<Self, Response> {
        let Some(console) = s.console.clone() else {
            return Err(crate::http::edge::for_status(StatusCode::NOT_FOUND).into_response());
        };
        Ok(Ctx {
            app: s.app.clone(),
            console,
            token: auth::cookie_token(&parts.headers),
        })
    }
}

/// A signed-in operator (a live session); anyone else is sent to the sign-in page.
pub struct Signed {
    pub ctx: Ctx,
    pub op: OperatorRecord,
    /// This session's CSRF token (every form carries it).
    pub csrf: String,
}

impl FromRequestParts<OpsState> for Signed {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, s: &OpsState) -> Result<Self, Response> {
        let ctx = Ctx::from_request_parts(parts, s).await?;
        let Some(token) = ctx.token.as_deref() else {
            return Err(Redirect::to("/console/login").into_response());
        };
        let found = ctx
            .app
            .store
            .session(&auth::token_hash(token), ctx.app.now())
            .await
            .map_err(|e| store_error(&e))?;
        match found {
            Some((op, csrf)) => Ok(Signed { ctx, op, csrf }),
            None => Err(Redirect::to("/console/login").into_response()),
        }
    }
}

impl Signed {
    /// Whether this operator may act (not only read).
    pub fn can_act(&self) -> bool {
        self.op.role == auth::ROLE_OPERATOR
    }

    /// Whether this operator may see this merchant's data.
    pub fn sees(&self, merchant_id: &str) -> bool {
        self.op.merchants.is_empty() || self.op.merchants.iter().any(|m| m == merchant_id)
    }

    /// The frame every page shares.
    pub fn layout(&self, active: &'static str) -> Layout {
        Layout {
            operator: Some(self.op.name.clone()),
            role: self.op.role.clone(),
            csrf: self.csrf.clone(),
            active,
        }
    }

    pub fn now(&self) -> Ticks {
        self.ctx.app.now()
    }
}

/// What the shared frame (`templates/console/base.html`) shows.
#[derive(Debug, Clone, Default)]
pub struct Layout {
    /// The signed-in operator's name (none on the sign-in page).
    pub operator: Option<String>,
    pub role: String,
    pub csrf: String,
    /// Which navigation entry is current.
    pub active: &'static str,
}

/// A page for people: title and text (errors and results of actions).
#[derive(Template)]
#[template(path = "console/message.html")]
pub struct MessagePage {
    pub l: Layout,
    pub title: String,
    pub text: String,
    /// A link onward: `(href, label)`.
    pub back: Option<(String, String)>,
}

/// Renders a page; a template that fails to render is a 500 page, never a panic.
pub fn render(t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => html_response(StatusCode::OK, html),
        Err(e) => {
            tracing::error!(error = %e, "console page did not render");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "This page could not be shown.",
            )
        }
    }
}

fn html_response(status: StatusCode, html: String) -> Response {
    let mut res = (status, html).into_response();
    let h = res.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; \
             frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

/// An error page for people (not the API's error object).
pub fn error_page(status: StatusCode, title: &str, text: &str) -> Response {
    let page = MessagePage {
        l: Layout::default(),
        title: title.into(),
        text: text.into(),
        back: Some(("/console/transactions".into(), "Back to the console".into())),
    };
    let html = page
        .render()
        .unwrap_or_else(|_| format!("<!DOCTYPE html><title>{status}</title>"));
    html_response(status, html)
}

/// A store failure as a page (details go to the log, not to the page).
pub fn store_error(e: &crate::store::StoreError) -> Response {
    tracing::error!(error = %e, "console: store failure");
    error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "The database did not answer",
        "Try again in a moment.",
    )
}

/// A time as the console shows it: UTC, to the second.
pub fn when(t: Ticks) -> String {
    t.to_datetime().format("%Y-%m-%d %H:%M:%S UTC").to_string()
}

async fn home(_c: Ctx) -> Response {
    Redirect::to("/console/transactions").into_response()
}
