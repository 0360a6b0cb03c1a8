//! Browser-facing pages of the hosted checkout (no bearer token; the URL token is the key).

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;

use crate::contract::ApiError;
use crate::flows::App;
use crate::flows::checkout::{self, BrowserReply};
use crate::html::escape;

#[derive(Debug, Deserialize)]
pub struct ReturnQuery {
    pub id: Option<String>,
}

fn reply(r: Result<BrowserReply, ApiError>) -> Response {
    let mut res = match r {
        Ok(BrowserReply::Html(html)) => Html(html).into_response(),
        Ok(BrowserReply::Redirect(url)) => Redirect::to(&url).into_response(),
        Ok(BrowserReply::Message { title, text }) => {
            Html(message_page(&title, &text)).into_response()
        }
        Err(e) => (
            e.http,
            Html(message_page(
                "Payment page unavailable",
                &e.body.error_message,
            )),
        )
            .into_response(),
    };
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res.headers_mut().insert(
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
    Query(q): Query<ReturnQuery>,
) -> Response {
    reply(checkout::returned(&app, &token, q.id.as_deref()).await)
}

pub async fn abort(State(app): State<App>, Path(token): Path<String>) -> Response {
    reply(checkout::abort(&app, &token).await)
}

fn message_page(title: &str, text: &str) -> String {
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{t}</title></head>\
         <body style=\"font-family:sans-serif;max-width:32em;margin:4em auto\"><h1>{t}</h1><p>{x}</p></body></html>",
        t = escape(title),
        x = escape(text)
    )
}
