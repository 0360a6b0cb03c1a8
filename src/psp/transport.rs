//! The HTTP transport every adapter uses: timeouts, no redirects, the request id on every call,
//! one metric and one log line per call, and transport failures kept apart from answers. The
//! database connection is given back before any adapter operation by the flows' wrapper
//! (`flows::psp_call`), so an adapter cannot hold one across a PSP call.

use std::time::Duration;

/// An HTTP answer, whatever its status; the body is interpreted by the adapter.
#[derive(Debug, Clone)]
pub struct RawReply {
    pub status: u16,
    pub body: Vec<u8>,
}

/// No (complete) answer arrived; the request may or may not have been processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    #[error("timeout waiting for the PSP")]
    Timeout,
    #[error("connection problem with the PSP: {0}")]
    Connection(String),
}

/// A PSP family's HTTP client (cheap to clone).
#[derive(Debug, Clone)]
pub struct PspHttp {
    psp: &'static str,
    http: reqwest::Client,
    timeout: Duration,
}

/// What one call is, for metrics and logs.
#[derive(Debug, Clone, Copy)]
pub struct CallLabel {
    /// The metric's `operation` label (one of the family's registered operations).
    pub operation: &'static str,
    /// Reads the PSP's result code from an answer body for the log line (never the body
    /// itself: it can carry card or account data).
    pub result_code: fn(&[u8]) -> Option<String>,
}

impl PspHttp {
    /// A client for family `psp`; `operations` are its metric label values, registered at zero.
    pub fn new(
        psp: &'static str,
        operations: &[&'static str],
        timeout: Duration,
        connect_timeout: Duration,
    ) -> Self {
        crate::telemetry::psp_families(psp, operations);
        let built = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            // A redirected POST could be replayed elsewhere; a 3xx is treated as no answer.
            .redirect(reqwest::redirect::Policy::none())
            .build();
        let http = built.unwrap_or_else(|e| {
            tracing::error!(psp, error = %e, "building the PSP HTTP client failed; using defaults");
            reqwest::Client::new()
        });
        Self { psp, http, timeout }
    }

    /// The underlying client, to build requests with.
    pub fn client(&self) -> &reqwest::Client {
        &self.http
    }

    /// Sends `request` with the request id, under the timeout, and records the call.
    pub async fn send(
        &self,
        mut request: reqwest::RequestBuilder,
        label: CallLabel,
    ) -> Result<RawReply, TransportError> {
        if let Some(id) = crate::telemetry::request_id() {
            request = request.header("X-Request-Id", id);
        }
        let started = std::time::Instant::now();
        let result = async {
            let response = request
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
        let op = label.operation;
        crate::telemetry::psp_call(self.psp, op, outcome, elapsed.as_secs_f64());
        let latency_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX);
        let (status, body) = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(psp = self.psp, operation = op, outcome, latency_ms, error = %e, "PSP call failed");
                return Err(e);
            }
        };
        let code = (label.result_code)(&body);
        if let Some(c) = &code {
            crate::telemetry::note_psp_result(c);
        }
        tracing::info!(
            psp = self.psp,
            operation = op,
            status,
            result_code = code.as_deref().unwrap_or("none"),
            latency_ms,
            "PSP answered"
        );
        Ok(RawReply {
            status,
            body: body.to_vec(),
        })
    }
}

/// The URL is dropped from the error text: it can carry credentials' ids.
fn transport_error(e: reqwest::Error) -> TransportError {
    if e.is_timeout() {
        TransportError::Timeout
    } else {
        // Logged once, with the operation, by `send`.
        TransportError::Connection(e.without_url().to_string())
    }
}
