//! Browser-facing pages of the hosted checkout (no bearer token; the URL token is the key).
//! Every answer is uncacheable, sends no referrer, and may not be framed.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::errors::status_of;
use crate::contract::{ApiError, Failure};
use crate::domain::Lang;
use crate::flows::App;
use crate::flows::checkout::{self, BrowserReply, Notice, NoticeKind};
use crate::http::checkout_page::{NOTICE_CSP, new_nonce, payment_csp, render_form, render_notice};

/// `nonce`: the one [`checkout::page`] was given (other answers run no scripts).
fn reply(r: Result<BrowserReply, ApiError>, nonce: Option<&str>) -> Response {
    let (mut res, csp) = match r {
        Ok(BrowserReply::Payment(form)) => {
            let csp = nonce.map(|n| payment_csp(n, &form.widget.origin));
            (Html(render_form(&form)).into_response(), csp)
        }
        Ok(BrowserReply::Redirect(url)) => (Redirect::to(&url).into_response(), None),
        Ok(BrowserReply::Notice(n)) => (Html(render_notice(&n)).into_response(), None),
        Err(e) => {
            let kind = if e.is_server_side() {
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
            // The page says "not found" or "try later"; any other refusal is a bad link.
            let status = if e.failure == Failure::NotFound || e.is_server_side() {
                status_of(e.failure)
            } else {
                StatusCode::BAD_REQUEST
            };
            ((status, Html(render_notice(&n))).into_response(), None)
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
    let nonce = new_nonce();
    reply(checkout::page(&app, &token, &nonce).await, Some(&nonce))
}

pub async fn returned(
    State(app): State<App>,
    Path(token): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    // The PSP's own return parameters, read by its adapter.
    reply(checkout::returned(&app, &token, &q).await, None)
}

pub async fn abort(State(app): State<App>, Path(token): Path<String>) -> Response {
    reply(checkout::abort(&app, &token).await, None)
}
