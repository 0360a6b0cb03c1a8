//! HTTP transport to OPPWA: Bearer auth, form-encoded POST bodies, `entityId` in the body for
//! POST and in the query for GET, timeouts, and transport errors kept apart from answers.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

const FORM: &str = "application/x-www-form-urlencoded; charset=UTF-8";

use crate::psp::transport::{CallLabel, PspHttp};
pub use crate::psp::transport::{RawReply, TransportError};

/// Where and as whom a call goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub base_url: &'a str,
    pub token: &'a SecretString,
    pub entity_id: &'a str,
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    http: PspHttp,
}

impl HttpClient {
    pub fn new(timeout: Duration, connect_timeout: Duration) -> Self {
        Self {
            http: PspHttp::new("oppwa", OPERATIONS, timeout, connect_timeout),
        }
    }

    /// POSTs `params` (with `entityId` first) form-encoded to `path`.
    pub async fn post(
        &self,
        target: Target<'_>,
        path: &str,
        params: &[(String, String)],
    ) -> Result<RawReply, TransportError> {
        let mut form: Vec<(&str, &str)> = vec![("entityId", target.entity_id)];
        form.extend(params.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let body = serde_urlencoded::to_string(&form)
            .map_err(|e| TransportError::Connection(format!("encoding the request: {e}")))?;
        let request = self
            .http
            .client()
            .post(url(target.base_url, path))
            .header(reqwest::header::CONTENT_TYPE, FORM)
            .body(body);
        self.send(target, request, operation("POST", path)).await
    }

    /// GETs `path` with `entityId` and `query` in the query string.
    pub async fn get(
        &self,
        target: Target<'_>,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<RawReply, TransportError> {
        let mut all: Vec<(&str, &str)> = vec![("entityId", target.entity_id)];
        all.extend_from_slice(query);
        let request = self
            .http
            .client()
            .get(url(target.base_url, path))
            .query(&all);
        self.send(target, request, operation("GET", path)).await
    }

    async fn send(
        &self,
        target: Target<'_>,
        request: reqwest::RequestBuilder,
        op: &'static str,
    ) -> Result<RawReply, TransportError> {
        let request = request.bearer_auth(target.token.expose_secret());
        let label = CallLabel {
            operation: op,
            result_code,
        };
        self.http.send(request, label).await
    }
}

/// The operations `operation` names (metric label values, registered at zero at start-up).
pub const OPERATIONS: &[&str] = &[
    "payment",
    "backoffice",
    "payment_status",
    "registration",
    "registration_payment",
    "deregistration",
    "checkout",
    "checkout_status",
    "query",
    "other",
];

/// `result.code` of an OPPWA answer, if it has a plausible one (digits and dots, as OPPWA's
/// codes are); nothing else of the body is read.
fn result_code(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Result {
        code: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        result: Option<Result>,
    }
    let code = serde_json::from_slice::<Answer>(body).ok()?.result?.code?;
    let plausible = !code.is_empty()
        && code.len() <= 16
        && code.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    plausible.then_some(code)
}

/// The metric label of a call: what it does, from its method and path (ids left out).
fn operation(method: &str, path: &str) -> &'static str {
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .filter(|s| !s.is_empty())
        .collect();
    match (method, segs.as_slice()) {
        ("POST", ["v1", "payments"]) => "payment",
        ("POST", ["v1", "payments", _]) => "backoffice",
        ("GET", ["v1", "payments", _]) => "payment_status",
        ("POST", ["v1", "registrations"]) => "registration",
        ("POST", ["v1", "registrations", _, "payments"]) => "registration_payment",
        ("DELETE", ["v1", "registrations", _]) => "deregistration",
        ("POST", ["v1", "checkouts"]) => "checkout",
        ("GET", ["v1", "checkouts", _, "payment"]) => "checkout_status",
        ("GET", ["v1", "query", ..]) => "query",
        _ => "other",
    }
}

fn url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}
