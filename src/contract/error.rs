//! The contract's error object (§11.1) and the one place that maps errors to HTTP (§11.2).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::{PaymentErrorCode, Ticks, TxError, TxStatus};

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

    pub fn unauthorized() -> Self {
        let mut e = Self::with_status(
            StatusCode::UNAUTHORIZED,
            PaymentErrorCode::InvalidConfiguration,
            "missing or invalid Integrator bearer token",
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

    /// The error object for a transaction whose current state is an error.
    pub fn from_tx_error(err: &TxError, status: TxStatus) -> Self {
        let mut e = Self::code(err.code, err.message.clone());
        e.body.psp_error_code = err.psp_code.clone();
        e.body.received_at = err.received_at.to_wire();
        e.body.status = status.as_error_status();
        e
    }

    pub fn with_psp_code(mut self, psp_code: Option<String>) -> Self {
        self.body.psp_error_code = psp_code;
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.http, axum::Json(self.body)).into_response();
        if self.challenge {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res
    }
}

impl crate::domain::SystemClock {
    fn now_wire(&self) -> String {
        use crate::domain::Clock;
        Ticks::to_wire(self.now())
    }
}
