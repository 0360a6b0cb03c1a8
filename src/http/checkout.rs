//! Browser-facing pages of the hosted checkout (no bearer token; the URL token is the key).
//! Every answer is uncacheable, sends no referrer, and may not be framed.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::contract::ApiError;
use crate::flows::App;
use crate::flows::checkout::{self, BrowserReply};
use crate::pages::{Lang, NOTICE_CSP, Notice, NoticeKind};

fn reply(r: Result<BrowserReply, ApiError>) -> Response {
    let (mut res, csp) = match r {
        Ok(BrowserReply::Payment { html, csp }) => (Html(html).into_response(), Some(csp)),
        Ok(BrowserReply::Redirect(url)) => (Redirect::to(&url).into_response(), None),
        Ok(BrowserReply::Notice(n)) => (Html(n.render()).into_response(), None),
        Err(e) => {
            let kind = if e.http.is_server_error() {
                NoticeKind::Unavailable
            } else {
                NoticeKind::Unknown
            };
            let n = Notice {
                kind,
                lang: Lang::En,
                shop: None,
                back_url: None,
            };
            let status = if e.http == StatusCode::NOT_FOUND || e.http.is_server_error() {
                e.http
            } else {
                StatusCode::BAD_REQUEST
            };
            ((status, Html(n.render())).into_response(), None)
        }
    };
    let h = res.headers_mut();
    let csp = csp
        .and_then(|c| HeaderValue::from_str(&c).ok())
        .unwrap_or(HeaderValue::from_static(NOTICE_CSP));
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    res
}

pub async fn page(State(app): State<App>, Path(token): Path<String>) -> Response {
    reply(checkout::page(&app, &token).await)
}

pub async fn returned(
    State(app): State<App>,
    Path(token): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    // The PSP's own return parameters, read by its adapter.
    reply(checkout::returned(&app, &token, &q).await)
}

pub async fn abort(State(app): State<App>, Path(token): Path<String>) -> Response {
    reply(checkout::abort(&app, &token).await)
}
