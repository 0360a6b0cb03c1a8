//! The contract's error object (§11.1) and the one place that maps errors to HTTP (§11.2).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{PaymentErrorCode, Ticks, TxError, TxStatus};

tokio::task_local! {
    /// The correlation id of the request being answered; set by the HTTP edge for the whole
    /// request, logged with every 5xx and shown in its body.
    pub static CORRELATION_ID: String;
}

/// Marks a response whose body is already the error object (the HTTP edge leaves it alone).
#[derive(Debug, Clone, Copy)]
pub struct ErrorBody;

/// The header that carries a 5xx answer's correlation id.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// `PaymentErrorDto` as written to Billwerk.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorObject {
    pub error_code: PaymentErrorCode,
    pub error_message: String,
    pub psp_error_code: Option<String>,
    pub received_at: String,
    pub status: TxStatus,
}

/// An error answer: the error object plus its HTTP status.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub http: StatusCode,
    pub body: ErrorObject,
    /// Adds `WWW-Authenticate: Bearer` (missing or wrong Integrator token).
    pub challenge: bool,
    /// The error is a transaction's own outcome (a decline), not a refusal of the request.
    pub declined: bool,
}

impl ApiError {
    /// An error whose HTTP status follows the contract's table for `code`.
    pub fn code(code: PaymentErrorCode, message: impl Into<String>) -> Self {
        let http =
            StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        Self::with_status(http, code, message)
    }

    pub fn with_status(
        http: StatusCode,
        code: PaymentErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            http,
            body: ErrorObject {
                error_code: code,
                error_message: message.into(),
                psp_error_code: None,
                received_at: crate::domain::SystemClock.now_wire(),
                status: TxStatus::Failed,
            },
            challenge: false,
            declined: false,
        }
    }

    /// 422 `InvalidData` naming the offending field.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::code(PaymentErrorCode::InvalidData, format!("{field}: {message}"))
    }

    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::with_status(
            StatusCode::NOT_FOUND,
            PaymentErrorCode::InvalidData,
            format!("{what} not found"),
        )
    }

    /// 404 `InvalidData` for an id in the path that names nothing; `message` names the field.
    pub fn unknown_id(message: String) -> Self {
        Self::with_status(
            StatusCode::NOT_FOUND,
            PaymentErrorCode::InvalidData,
            message,
        )
    }

    pub fn unauthorized() -> Self {
        let mut e = Self::with_status(
            StatusCode::UNAUTHORIZED,
            PaymentErrorCode::InvalidConfiguration,
            "Authorization: must be exactly one header 'Bearer <token>' with a valid Integrator token",
        );
        e.challenge = true;
        e
    }

    /// A 500 whose body never carries internal detail (that goes to the log).
    pub fn internal() -> Self {
        Self::code(
            PaymentErrorCode::InternalError,
            "internal error; the request can be retried",
        )
    }

    /// A 503 `InternalError`: a dependency (the database) is unreachable for now; nothing was
    /// committed and the request can be retried. The body carries no internal detail.
    pub fn unavailable() -> Self {
        Self::with_status(
            StatusCode::SERVICE_UNAVAILABLE,
            PaymentErrorCode::InternalError,
            "service temporarily unavailable; the request can be retried",
        )
    }

    /// The error object for a transaction whose current state is an error.
    pub fn from_tx_error(err: &TxError, status: TxStatus) -> Self {
        let mut e = Self::code(err.code, err.message.clone());
        e.body.psp_error_code = err.psp_code.clone();
        e.body.received_at = err.received_at.to_wire();
        e.body.status = status.as_error_status();
        e.declined = true;
        e
    }

    pub fn with_psp_code(mut self, psp_code: Option<String>) -> Self {
        self.body.psp_error_code = psp_code;
        self
    }
}

/// What a 5xx body says instead of the detail: a fixed sentence per error code.
fn generic_message(code: PaymentErrorCode) -> &'static str {
    use PaymentErrorCode::*;
    match code {
        InvalidConfiguration => {
            "the merchant's PSP settings are missing or were not accepted; check them with PUT /api/Settings"
        }
        PSPConnectionTimeout => "the PSP did not answer in time",
        PSPConnectionProblem => "the PSP could not be reached or never received the request",
        InternalProviderError => "the PSP reported an internal error",
        RateLimit => "the PSP is limiting requests; retry later",
        AlreadyExecuted => "the operation was already executed at the PSP",
        InvalidPreconditions => "the operation is not possible in the transaction's current state",
        PermissionDenied => "the PSP does not permit this operation for the merchant",
        _ => "internal error; the request can be retried",
    }
}

impl IntoResponse for ApiError {
    /// 5xx bodies carry only a generic sentence and a correlation id; the detail goes to the log
    /// under the same id.
    fn into_response(mut self) -> Response {
        let mut correlation = None;
        if self.http.is_server_error() {
            let id = CORRELATION_ID
                .try_with(Clone::clone)
                .unwrap_or_else(|_| crate::domain::new_id());
            tracing::error!(
                correlation_id = %id,
                status = self.http.as_u16(),
                error_code = ?self.body.error_code,
                psp_error_code = ?self.body.psp_error_code,
                detail = %self.body.error_message,
                "answered with a server error"
            );
            self.body.error_message = format!(
                "{}; correlation id {id}",
                generic_message(self.body.error_code)
            );
            correlation = HeaderValue::from_str(&id).ok();
        }
        let answered = crate::http::observe::Answered {
            declined: self.declined,
            tx_status: self.declined.then(|| self.body.status.name()),
            error_code: Some(self.body.error_code.name()),
            psp_error_code: self.body.psp_error_code.clone(),
        };
        let mut res = (self.http, axum::Json(self.body)).into_response();
        res.extensions_mut().insert(answered);
        if self.challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(id) = correlation {
            res.headers_mut().insert(CORRELATION_HEADER, id);
        }
        res.extensions_mut().insert(ErrorBody);
        res
    }
}

impl crate::domain::SystemClock {
    fn now_wire(&self) -> String {
        use crate::domain::Clock;
        Ticks::to_wire(self.now())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(buf);
            }
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn a_5xx_body_has_only_a_generic_message_and_the_logged_correlation_id() {
        let log = Captured::default();
        let writer = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let res = tracing::subscriber::with_default(subscriber, || {
            CORRELATION_ID.sync_scope("c0ffee".to_string(), || {
                ApiError::code(
                    PaymentErrorCode::PSPConnectionProblem,
                    "connection problem with OPPWA: error sending request",
                )
                .into_response()
            })
        });
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            res.headers()
                .get(CORRELATION_HEADER)
                .and_then(|v| v.to_str().ok()),
            Some("c0ffee")
        );
        let bytes = axum::body::to_bytes(res.into_body(), 4096)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        let message = body["errorMessage"].as_str().unwrap_or_default();
        assert!(message.ends_with("correlation id c0ffee"), "{message}");
        assert!(!message.contains("error sending request"), "{message}");
        let logged = log
            .0
            .lock()
            .map(|v| String::from_utf8_lossy(&v).to_string());
        let logged = logged.unwrap_or_default();
        assert!(logged.contains("correlation_id=c0ffee"), "{logged}");
        assert!(
            logged.contains("error sending request"),
            "detail is logged: {logged}"
        );
    }

    #[test]
    fn client_errors_keep_their_message() {
        let e = ApiError::invalid("currency", "XXX is not tender");
        assert_eq!(e.body.error_message, "currency: XXX is not tender");
        assert_eq!(e.http, StatusCode::UNPROCESSABLE_ENTITY);
    }
}
