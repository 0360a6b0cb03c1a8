//! The one place where an error becomes an HTTP answer: each [`Failure`] of the flows gets its
//! status here (contract §11.2), a missing token its `WWW-Authenticate` challenge, and a 5xx its
//! correlation id in place of the detail. [`HttpError`] also carries the refusals that only the
//! HTTP layer knows (413, 408, 415, 405, …), which have no place in the flows.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::contract::error::{ErrorObject, Failure, FlowError};
use crate::domain::PaymentErrorCode;

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

/// The HTTP status of a kind of failure: contract §11.2 for the error codes, 404/503/400 for
/// what the table does not cover (an unknown resource, an unreachable database, a body that is
/// not JSON), and 401 for a missing or wrong Integrator token (§11.2 "Also").
pub fn status_of(failure: Failure) -> StatusCode {
    match failure {
        Failure::Malformed => StatusCode::BAD_REQUEST,
        Failure::Invalid | Failure::Declined => StatusCode::UNPROCESSABLE_ENTITY,
        Failure::NotFound => StatusCode::NOT_FOUND,
        Failure::Unauthorized | Failure::PspLogin => StatusCode::UNAUTHORIZED,
        Failure::Limited => StatusCode::TOO_MANY_REQUESTS,
        Failure::Precondition | Failure::Configuration | Failure::Upstream | Failure::Internal => {
            StatusCode::INTERNAL_SERVER_ERROR
        }
        Failure::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    }
}

/// An error answer: the contract's error object with its HTTP status.
#[derive(Debug, Clone)]
pub struct HttpError {
    pub status: StatusCode,
    pub body: ErrorObject,
    /// Adds `WWW-Authenticate: Bearer` (missing or wrong Integrator token).
    pub challenge: bool,
    /// The error is a transaction's own outcome (a decline), not a refusal of the request.
    pub declined: bool,
}

impl HttpError {
    /// A refusal by the HTTP layer itself, with the status it calls for.
    pub fn new(status: StatusCode, code: PaymentErrorCode, message: impl Into<String>) -> Self {
        // The failure kind is not read: the status is given.
        let body = FlowError::with_failure(Failure::Invalid, code, message).body;
        Self {
            status,
            body,
            challenge: false,
            declined: false,
        }
    }
}

impl From<FlowError> for HttpError {
    fn from(e: FlowError) -> Self {
        Self {
            status: status_of(e.failure),
            challenge: e.failure == Failure::Unauthorized,
            declined: e.declined,
            body: e.body,
        }
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

impl IntoResponse for HttpError {
    /// 5xx bodies carry only a generic sentence and a correlation id; the detail goes to the log
    /// under the same id.
    fn into_response(mut self) -> Response {
        let mut correlation = None;
        if self.status.is_server_error() {
            let id = CORRELATION_ID
                .try_with(Clone::clone)
                .unwrap_or_else(|_| crate::domain::new_id());
            tracing::error!(
                correlation_id = %id,
                status = self.status.as_u16(),
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
        let answered = super::observe::Answered {
            declined: self.declined,
            tx_status: self.declined.then(|| self.body.status.name()),
            error_code: Some(self.body.error_code.name()),
            psp_error_code: self.body.psp_error_code.clone(),
        };
        let mut res = (self.status, axum::Json(self.body)).into_response();
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

impl IntoResponse for FlowError {
    fn into_response(self) -> Response {
        HttpError::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Every error code, with the status contract §11.2 prescribes for it (copied from the
    /// table, not computed).
    const CONTRACT_TABLE: &[(PaymentErrorCode, u16)] = {
        use PaymentErrorCode::*;
        &[
            (BearerInvalid, 422),
            (BearerExpired, 422),
            (InvalidData, 422),
            (InvalidAmount, 422),
            (InvalidCountry, 422),
            (InvalidCurrency, 422),
            (InvalidBic, 422),
            (InvalidIBAN, 422),
            (InvalidNationalIdNumber, 422),
            (InsufficientBalance, 422),
            (Rejected, 422),
            (Canceled, 422),
            (LoginError, 401),
            (LimitExceeded, 429),
            (UnmappedError, 500),
            (AlreadyExecuted, 500),
            (RateLimit, 500),
            (InvalidPreconditions, 500),
            (InternalError, 500),
            (InvalidConfiguration, 500),
            (PermissionDenied, 500),
            (PSPConnectionTimeout, 500),
            (InternalProviderError, 500),
            (PSPConnectionProblem, 500),
            // Not mapped in the sample; it throws there, so it ends up as 500.
            (FailedCustomerUpdate, 500),
        ]
    };

    #[test]
    fn every_error_code_is_answered_with_the_contracts_status() {
        for &(code, status) in CONTRACT_TABLE {
            let e = HttpError::from(FlowError::code(code, "x"));
            assert_eq!(e.status.as_u16(), status, "{code:?}");
            assert!(!e.challenge, "{code:?}: only a missing token is challenged");
            assert_eq!(
                Failure::of(code).is_server_side(),
                e.status.is_server_error(),
                "{code:?}"
            );
        }
        let listed: std::collections::HashSet<_> =
            CONTRACT_TABLE.iter().map(|(c, _)| c.number()).collect();
        for n in 0..=24 {
            assert!(listed.contains(&n), "code {n} missing from the table");
        }
    }

    #[test]
    fn the_failures_outside_the_table_have_their_own_status() {
        let cases = [
            (FlowError::malformed("body: x"), 400, false),
            (FlowError::not_found("merchant"), 404, false),
            (FlowError::unknown_id("transactionId: x".into()), 404, false),
            (FlowError::unauthorized(), 401, true),
            (FlowError::unavailable(), 503, false),
            (FlowError::internal(), 500, false),
            (FlowError::invalid("currency", "x"), 422, false),
        ];
        for (e, status, challenge) in cases {
            let failure = e.failure;
            let h = HttpError::from(e);
            assert_eq!(h.status.as_u16(), status, "{failure:?}");
            assert_eq!(h.challenge, challenge, "{failure:?}");
            assert_eq!(failure.is_server_side(), h.status.is_server_error());
        }
        let res = FlowError::unauthorized().into_response();
        assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            res.headers().get(header::WWW_AUTHENTICATE),
            Some(&HeaderValue::from_static("Bearer"))
        );
    }

    #[test]
    fn every_failure_has_one_status_and_server_side_means_5xx() {
        use Failure::*;
        for (f, status) in [
            (Malformed, 400),
            (Invalid, 422),
            (Declined, 422),
            (NotFound, 404),
            (Unauthorized, 401),
            (PspLogin, 401),
            (Limited, 429),
            (Precondition, 500),
            (Configuration, 500),
            (Upstream, 500),
            (Internal, 500),
            (Unavailable, 503),
        ] {
            assert_eq!(status_of(f).as_u16(), status, "{f:?}");
            assert_eq!(f.is_server_side(), status >= 500, "{f:?}");
        }
    }

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
                FlowError::code(
                    PaymentErrorCode::PSPConnectionProblem,
                    "connection problem with the PSP: error sending request",
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
}
