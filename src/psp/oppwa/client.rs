//! HTTP transport to OPPWA: Bearer auth, form-encoded POST bodies, `entityId` in the body for
//! POST and in the query for GET, timeouts, and transport errors kept apart from answers.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

const FORM: &str = "application/x-www-form-urlencoded; charset=UTF-8";

/// An HTTP answer, whatever its status; the body is interpreted by the caller.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// No (complete) answer arrived; the request may or may not have been processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timeout waiting for OPPWA")]
    Timeout,
    #[error("connection problem with OPPWA: {0}")]
    Connection(String),
}

/// Where and as whom a call goes.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub base_url: &'a str,
    pub token: &'a SecretString,
    pub entity_id: &'a str,
}

#[derive(Debug, Clone)]
pub struct HttpClient {
    http: reqwest::Client,
    timeout: Duration,
}

impl HttpClient {
    pub fn new(timeout: Duration, connect_timeout: Duration) -> Self {
        let built = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            // A redirected POST could be replayed elsewhere; a 3xx is treated as no answer.
            .redirect(reqwest::redirect::Policy::none())
            .build();
        let http = built.unwrap_or_else(|e| {
            tracing::error!(error = %e, "building the OPPWA HTTP client failed; using defaults");
            reqwest::Client::new()
        });
        Self { http, timeout }
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
        let request = self.http.get(url(target.base_url, path)).query(&all);
        self.send(target, request, operation("GET", path)).await
    }

    async fn send(
        &self,
        target: Target<'_>,
        mut request: reqwest::RequestBuilder,
        op: &'static str,
    ) -> Result<RawReply, TransportError> {
        // Never hold a database connection while waiting for the PSP.
        crate::store::session::release();
        if let Some(id) = crate::telemetry::request_id() {
            request = request.header("X-Request-Id", id);
        }
        let started = std::time::Instant::now();
        let result = async {
            let response = request
                .bearer_auth(target.token.expose_secret())
                .timeout(self.timeout)
                .send()
                .await
                .map_err(transport_error)?;
            let status = response.status().as_u16();
            let body = response.bytes().await.map_err(transport_error)?;
            Ok::<_, TransportError>((status, body))
        }
        .await;
        let outcome = match &result {
            Ok((s, _)) if *s < 300 => "2xx",
            Ok((s, _)) if *s < 500 => "4xx",
            Ok(_) => "5xx",
            Err(TransportError::Timeout) => "timeout",
            Err(TransportError::Connection(_)) => "connection",
        };
        let elapsed = started.elapsed();
        crate::telemetry::psp_call("oppwa", op, outcome, elapsed.as_secs_f64());
        let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let (status, body) = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(operation = op, outcome, latency_ms, error = %e, "OPPWA call failed");
                return Err(e);
            }
        };
        // The result code only (never the body: it can carry card or account data). The
        // request's and the flow's spans name the merchant and Billwerk's transactionId.
        let code = result_code(&body);
        if let Some(c) = &code {
            crate::telemetry::note_psp_result(c);
        }
        tracing::info!(
            operation = op,
            status,
            result_code = code.as_deref().unwrap_or("none"),
            latency_ms,
            "OPPWA answered"
        );
        Ok(RawReply {
            status,
            body: body.to_vec(),
        })
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

/// The URL is dropped from the error text: it can carry registration ids.
fn transport_error(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else {
        // Logged once, with the operation, by `send`.
        TransportError::Connection(e.without_url().to_string())
    }
}
