//! HTTP to Mollie's Payments API v2 through the shared [`PspHttp`]: Bearer key, JSON bodies,
//! `Idempotency-Key` on every `POST` and `DELETE` (Mollie "API idempotency": a replay within one
//! hour returns the first answer), at most [`REPLAYS`] immediate replays of a call whose answer
//! was lost, and Mollie's error body (`{status, title, detail, field}`, Mollie "Handling errors")
//! read into one classification.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::psp::transport::{CallLabel, PspHttp, TransportError};

/// The operations `operation` names (metric label values, registered at zero at start-up).
pub const OPERATIONS: &[&str] = &[
    "customer",
    "payment",
    "payment_status",
    "payment_cancel",
    "refund",
    "refund_status",
    "capture",
    "capture_status",
    "mandates",
    "methods",
    "other",
];

/// How often a `POST` or `DELETE` whose answer was lost (timeout, dropped connection, 5xx) is
/// sent again at once with the same `Idempotency-Key`: within Mollie's one-hour window the
/// replay returns the first answer instead of acting twice (README, table of choices).
pub const REPLAYS: usize = 2;

/// The `Idempotency-Key` of one of our operations: `pspi:{operation}:{reference}`, where the
/// reference is Billwerk's id of the operation (with `-cancel` for a reversal), so the same
/// operation always sends the same key and two operations never share one.
pub fn idempotency_key(operation: &str, reference: &str) -> String {
    format!("pspi:{operation}:{reference}")
}

#[derive(Debug, Clone)]
pub struct Api {
    http: PspHttp,
}

/// An answer read as JSON, or why there is none.
#[derive(Debug, Clone)]
pub enum Reply {
    /// 2xx with a JSON body (an empty body reads as `null`).
    Ok(Value),
    /// Mollie answered with an error.
    Error(ApiError),
    /// No complete answer, or one we cannot read: the call may or may not have happened.
    NoAnswer(String),
}

/// Mollie's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub title: String,
    pub detail: String,
    pub field: Option<String>,
}

impl Api {
    pub fn new(timeout: Duration, connect_timeout: Duration) -> Self {
        Self {
            http: PspHttp::new("mollie", OPERATIONS, timeout, connect_timeout),
        }
    }

    /// GETs `base` + `path` with `query`.
    pub async fn get(
        &self,
        base: &str,
        key: &SecretString,
        path: &str,
        query: &[(&str, &str)],
    ) -> Reply {
        let req = self.http.client().get(url(base, path)).query(query);
        self.send(req, key, operation("GET", path)).await
    }

    /// POSTs `body` as JSON with `Idempotency-Key: idempotency_key`; a lost answer is
    /// replayed up to [`REPLAYS`] times with the same key and body.
    pub async fn post(
        &self,
        base: &str,
        key: &SecretString,
        path: &str,
        body: &Value,
        idempotency_key: &str,
    ) -> Reply {
        let op = operation("POST", path);
        self.replayed(|| {
            let req = self
                .http
                .client()
                .post(url(base, path))
                .json(body)
                .header("Idempotency-Key", idempotency_key);
            self.send(req, key, op)
        })
        .await
    }

    /// DELETEs `path` with `Idempotency-Key: idempotency_key` (Mollie ignores it on `DELETE`
    /// today; sent so every mutating call is keyed alike), replayed like [`Api::post`]: a
    /// second cancel of a cancelled payment is Mollie's 422, never a second effect.
    pub async fn delete(
        &self,
        base: &str,
        key: &SecretString,
        path: &str,
        idempotency_key: &str,
    ) -> Reply {
        let op = operation("DELETE", path);
        self.replayed(|| {
            let req = self
                .http
                .client()
                .delete(url(base, path))
                .header("Idempotency-Key", idempotency_key);
            self.send(req, key, op)
        })
        .await
    }

    /// Sends `call()` and, while its answer is lost, again up to [`REPLAYS`] times.
    async fn replayed<F, Fut>(&self, call: F) -> Reply
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Reply>,
    {
        let mut reply = call().await;
        for n in 0..REPLAYS {
            if !matches!(reply, Reply::NoAnswer(_)) {
                break;
            }
            tracing::info!(
                replay = n + 1,
                "Mollie's answer was lost; replaying with the same Idempotency-Key"
            );
            reply = call().await;
        }
        reply
    }

    async fn send(
        &self,
        req: reqwest::RequestBuilder,
        key: &SecretString,
        op: &'static str,
    ) -> Reply {
        let req = req.bearer_auth(key.expose_secret());
        let label = CallLabel {
            operation: op,
            result_code,
        };
        match self.http.send(req, label).await {
            Err(TransportError::Timeout) => Reply::NoAnswer("timeout waiting for Mollie".into()),
            Err(TransportError::Connection(e)) => Reply::NoAnswer(e),
            Ok(r) => read_reply(r.status, &r.body),
        }
    }
}

/// Reads a raw answer: a 2xx body as JSON, an error body as [`ApiError`].
pub fn read_reply(status: u16, body: &[u8]) -> Reply {
    if (200..300).contains(&status) {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Reply::Ok(Value::Null);
        }
        return match serde_json::from_slice::<Value>(body) {
            Ok(v) => Reply::Ok(v),
            Err(_) => Reply::NoAnswer(format!("HTTP {status} with a body that is not JSON")),
        };
    }
    if !(400..500).contains(&status) {
        return Reply::NoAnswer(format!("HTTP {status} from Mollie"));
    }
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    // Mollie's idempotency answers say nothing about the operation: the first request is still
    // running (409), or the key was used with another body (400; it may have acted then).
    if matches!(status, 400 | 409) && text("detail").contains("Idempotency-Key") {
        return Reply::NoAnswer(format!("HTTP {status} from Mollie: {}", text("detail")));
    }
    Reply::Error(ApiError {
        status,
        title: text("title"),
        detail: text("detail"),
        field: v.get("field").and_then(Value::as_str).map(str::to_string),
    })
}

/// The status of a Mollie resource in an answer (`paid`, `refunded`, …) for the log line; an
/// error body's numeric status is left out (the HTTP status is logged anyway).
fn result_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let s = v.get("status")?.as_str()?;
    let plausible =
        !s.is_empty() && s.len() <= 24 && s.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    plausible.then(|| s.to_string())
}

/// The metric label of a call, from its method and path (ids left out).
fn operation(method: &str, path: &str) -> &'static str {
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .split(['/', '?'])
        .filter(|s| !s.is_empty())
        .collect();
    match (method, segs.as_slice()) {
        ("POST", ["v2", "customers"]) => "customer",
        ("POST", ["v2", "payments"]) => "payment",
        ("GET", ["v2", "payments", _]) => "payment_status",
        ("DELETE", ["v2", "payments", _]) => "payment_cancel",
        ("POST", ["v2", "payments", _, "release-authorization"]) => "payment_cancel",
        ("POST", ["v2", "payments", _, "refunds"]) => "refund",
        ("GET", ["v2", "payments", _, "refunds", _]) => "refund_status",
        ("POST", ["v2", "payments", _, "captures"]) => "capture",
        ("GET", ["v2", "payments", _, "captures", _]) => "capture_status",
        (_, ["v2", "customers", _, "mandates", ..]) => "mandates",
        ("GET", ["v2", "methods", ..]) => "methods",
        _ => "other",
    }
}

fn url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_error_bodies_and_labels() {
        let body = br#"{"status":409,"title":"Conflict","detail":"A duplicate refund has been detected","_links":{}}"#;
        match read_reply(409, body) {
            Reply::Error(e) => {
                assert_eq!(e.status, 409);
                assert!(e.detail.contains("duplicate"));
                assert_eq!(e.field, None);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(read_reply(503, b"{}"), Reply::NoAnswer(_)));
        let busy = br#"{"status":409,"title":"Conflict","detail":"Another request with this Idempotency-Key is already being processed"}"#;
        assert!(matches!(read_reply(409, busy), Reply::NoAnswer(_)));
        assert_eq!(
            idempotency_key("refund", "BW-1-cancel"),
            "pspi:refund:BW-1-cancel"
        );
        assert!(matches!(read_reply(200, b"<html>"), Reply::NoAnswer(_)));
        assert!(matches!(read_reply(204, b""), Reply::Ok(Value::Null)));
        assert_eq!(operation("POST", "/v2/payments/tr_1/refunds"), "refund");
        assert_eq!(operation("GET", "/v2/customers/cst_1/mandates"), "mandates");
        assert_eq!(
            result_code(br#"{"status":"paid"}"#).as_deref(),
            Some("paid")
        );
        assert_eq!(result_code(br#"{"status":404}"#), None);
    }
}
