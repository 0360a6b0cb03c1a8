//! HAL+JSON answers: resources, Mollie's error body and cursor-paginated lists (§2.13, §3.1).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

pub(crate) const HAL: &str = "application/hal+json";
const DOCS_ERRORS: &str = "https://docs.mollie.com/overview/handling-errors";

/// Mollie's error object: `{status, title, detail, field?, _links.documentation}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ApiError {
    pub status: u16,
    pub detail: String,
    pub field: Option<String>,
}

impl ApiError {
    pub(crate) fn new(status: u16, detail: impl Into<String>) -> Self {
        Self {
            status,
            detail: detail.into(),
            field: None,
        }
    }

    /// 422 naming the offending field.
    pub(crate) fn field(field: &str, detail: impl Into<String>) -> Self {
        Self {
            status: 422,
            detail: detail.into(),
            field: Some(field.to_string()),
        }
    }

    pub(crate) fn with_field(mut self, field: &str) -> Self {
        self.field = Some(field.to_string());
        self
    }

    pub(crate) fn not_found(noun: &str, id: &str) -> Self {
        Self::new(404, format!("No {noun} exists with token {id}."))
    }

    /// The answer for a resource of the key's profile in the other mode (mollie-api-node#269).
    pub(crate) fn wrong_mode(noun: &str, id: &str) -> Self {
        let mut n = noun.to_string();
        if let Some(f) = n.get_mut(..1) {
            f.make_ascii_uppercase();
        }
        Self::new(
            404,
            format!(
                "{n} {id} exists, but the wrong mode is used. Try switching live / test API keys."
            ),
        )
    }

    pub(crate) fn unauthorized() -> Self {
        Self::new(401, "Missing authentication, or failed to authenticate")
    }

    pub(crate) fn body(&self) -> Value {
        let code = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut b = json!({
            "status": self.status,
            "title": code.canonical_reason().unwrap_or("Error"),
            "detail": self.detail,
        });
        if let (Some(f), Value::Object(m)) = (&self.field, &mut b) {
            m.insert("field".into(), Value::String(f.clone()));
        }
        if let Value::Object(m) = &mut b {
            m.insert(
                "_links".into(),
                json!({"documentation": {"href": DOCS_ERRORS, "type": "text/html"}}),
            );
        }
        b
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        hal(self.status, &self.body())
    }
}

/// `body` as `application/hal+json` with `status`.
pub(crate) fn hal(status: u16, body: &Value) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = (code, body.to_string()).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(HAL));
    r
}

pub(crate) fn ok(body: &Value) -> Response {
    hal(200, body)
}

pub(crate) fn created(body: &Value) -> Response {
    hal(201, body)
}

pub(crate) type ApiResult = Result<Response, ApiError>;

/// `{href, type}` as Mollie writes links.
pub(crate) fn link(href: &str, kind: &str) -> Value {
    json!({"href": href, "type": kind})
}

/// `limit` (1–250, default 50) and `from` (an id in the list) of a list request.
#[derive(Debug, Default, serde::Deserialize)]
pub(crate) struct Page {
    pub limit: Option<String>,
    pub from: Option<String>,
}

/// One page of `items` (newest first, each with an `id`) as a HAL list under `_embedded.{name}`.
pub(crate) fn list(items: Vec<Value>, name: &str, url: &str, page: &Page) -> ApiResult {
    let limit = match page.limit.as_deref() {
        None => 50,
        Some(l) => l
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=250).contains(n))
            .ok_or_else(|| {
                ApiError::new(400, "The limit must be between 1 and 250").with_field("limit")
            })?,
    };
    let start = match page.from.as_deref() {
        None => 0,
        Some(from) => items
            .iter()
            .position(|v| v["id"] == from)
            .ok_or_else(|| ApiError::new(400, "Invalid cursor").with_field("from"))?,
    };
    let end = (start + limit).min(items.len());
    let page_link = |from: &Value| {
        let from = from.as_str().unwrap_or_default();
        link(&format!("{url}?from={from}&limit={limit}"), HAL)
    };
    let next = items.get(end).map(|v| page_link(&v["id"]));
    let previous = (start > 0).then(|| page_link(&items[start.saturating_sub(limit)]["id"]));
    let slice = items.get(start..end).unwrap_or_default().to_vec();
    let mut self_href = format!("{url}?limit={limit}");
    if let Some(f) = &page.from {
        self_href = format!("{url}?from={f}&limit={limit}");
    }
    Ok(ok(&json!({
        "count": slice.len(),
        "_embedded": {name: slice},
        "_links": {
            "self": link(&self_href, HAL),
            "previous": previous,
            "next": next,
            "documentation": link("https://docs.mollie.com/reference/pagination", "text/html"),
        }
    })))
}
