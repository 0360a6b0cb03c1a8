//! The flows' error in domain terms: the contract's error object (§11.1) and a [`Failure`] that
//! says what kind of failure it is. Nothing here knows HTTP: `src/http/errors.rs` maps each
//! [`Failure`] to its status (§11.2) in one place, and writes the answer.

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

/// What kind of failure an error is, in the contract's terms. It decides the HTTP status (one
/// mapping, `status_of` in `src/http/errors.rs`) and whether trying again can help; the error code in the
/// body stays what the contract's §9.9 calls the failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Failure {
    /// The request cannot be read at all (a body that is not JSON). The contract never uses
    /// 400; the predecessor did for exactly this (§11.3).
    Malformed,
    /// The request breaks a rule: a field is missing, malformed or out of range (the 422 codes
    /// of §11.2 that are not declines).
    Invalid,
    /// The payer's side declined: `InsufficientBalance`, `Rejected`, `Canceled` (422, §11.2).
    Declined,
    /// What the request names does not exist: an unknown id, merchant or checkout.
    NotFound,
    /// The Integrator token is missing or wrong (answered with a `Bearer` challenge, §11.2).
    Unauthorized,
    /// The PSP refused the merchant's credentials (`LoginError`; Billwerk disables the PSP).
    PspLogin,
    /// The merchant's request rate is exceeded (`LimitExceeded`).
    Limited,
    /// The operation is not possible in the transaction's current state, or was already
    /// executed (`InvalidPreconditions`, `AlreadyExecuted`).
    Precondition,
    /// The merchant's PSP settings are missing or not accepted, or the PSP does not permit the
    /// operation (`InvalidConfiguration`, `PermissionDenied`).
    Configuration,
    /// The PSP failed, limited us, timed out or could not be reached (`InternalProviderError`,
    /// `RateLimit`, `PSPConnectionTimeout`, `PSPConnectionProblem`).
    Upstream,
    /// Something failed inside the Integrator (`InternalError`, and the codes nothing maps).
    Internal,
    /// A dependency (the database) is unreachable for now; nothing was committed.
    Unavailable,
}

impl Failure {
    /// The failure an error code stands for when nothing more specific is known (§11.2's table,
    /// read as kinds of failure).
    pub fn of(code: PaymentErrorCode) -> Self {
        use PaymentErrorCode::*;
        match code {
            BearerInvalid
            | BearerExpired
            | InvalidData
            | InvalidAmount
            | InvalidCountry
            | InvalidCurrency
            | InvalidBic
            | InvalidIBAN
            | InvalidNationalIdNumber => Self::Invalid,
            InsufficientBalance | Rejected | Canceled => Self::Declined,
            LoginError => Self::PspLogin,
            LimitExceeded => Self::Limited,
            AlreadyExecuted | InvalidPreconditions => Self::Precondition,
            InvalidConfiguration | PermissionDenied => Self::Configuration,
            InternalProviderError | RateLimit | PSPConnectionTimeout | PSPConnectionProblem => {
                Self::Upstream
            }
            UnmappedError | InternalError | FailedCustomerUpdate => Self::Internal,
        }
    }

    /// The caller did nothing wrong: the failure lies with the Integrator, its database, the
    /// PSP, the merchant's PSP setup or the transaction's state (the contract answers all of
    /// them with a server error, §11.2).
    pub fn is_server_side(self) -> bool {
        matches!(
            self,
            Self::Precondition
                | Self::Configuration
                | Self::Upstream
                | Self::Internal
                | Self::Unavailable
        )
    }

    /// The same request may succeed later unchanged: a passing failure of the Integrator, its
    /// database or the PSP (not a state, a setup or an input that stays wrong).
    pub fn is_retryable(self) -> bool {
        matches!(self, Self::Upstream | Self::Internal | Self::Unavailable)
    }
}

/// The error of every flow (and of the reconciler): a [`Failure`] and the contract's error
/// object. It carries no HTTP: the HTTP layer (`src/http/errors.rs`) turns it into an answer.
#[derive(Debug, Clone)]
pub struct FlowError {
    /// What kind of failure this is; decides the HTTP status.
    pub failure: Failure,
    pub body: ErrorObject,
    /// The error is a transaction's own outcome (a decline), not a refusal of the request.
    pub declined: bool,
}

/// The former name of [`FlowError`], kept so the flows and commands read as before.
pub type ApiError = FlowError;

impl FlowError {
    /// An error whose kind follows the contract's table for `code` ([`Failure::of`]).
    pub fn code(code: PaymentErrorCode, message: impl Into<String>) -> Self {
        Self::with_failure(Failure::of(code), code, message)
    }

    /// An error of kind `failure` with `code` in its body (for the pairs §11.2 does not list).
    pub fn with_failure(
        failure: Failure,
        code: PaymentErrorCode,
        message: impl Into<String>,
    ) -> Self {
        Self {
            failure,
            body: ErrorObject {
                error_code: code,
                error_message: message.into(),
                psp_error_code: None,
                received_at: crate::domain::SystemClock.now_wire(),
                status: TxStatus::Failed,
            },
            declined: false,
        }
    }

    /// `InvalidData` naming the offending field (422).
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::code(PaymentErrorCode::InvalidData, format!("{field}: {message}"))
    }

    /// A body that is not JSON at all: `InvalidData`, [`Failure::Malformed`] (400).
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::with_failure(Failure::Malformed, PaymentErrorCode::InvalidData, message)
    }

    /// `InvalidData`, [`Failure::NotFound`] (404): "`what` not found".
    pub fn not_found(what: impl std::fmt::Display) -> Self {
        Self::unknown_id(format!("{what} not found"))
    }

    /// `InvalidData`, [`Failure::NotFound`] (404) for an id in the path that names nothing;
    /// `message` names the field.
    pub fn unknown_id(message: String) -> Self {
        Self::with_failure(Failure::NotFound, PaymentErrorCode::InvalidData, message)
    }

    /// A missing or wrong Integrator token: `InvalidConfiguration`, [`Failure::Unauthorized`]
    /// (401 with `WWW-Authenticate: Bearer`). Never `LoginError`, which disables the PSP (§11.2).
    pub fn unauthorized() -> Self {
        Self::with_failure(
            Failure::Unauthorized,
            PaymentErrorCode::InvalidConfiguration,
            "Authorization: must be exactly one header 'Bearer <token>' with a valid Integrator token",
        )
    }

    /// `InternalError` (500). The body never carries internal detail (that goes to the log).
    pub fn internal() -> Self {
        Self::code(
            PaymentErrorCode::InternalError,
            "internal error; the request can be retried",
        )
    }

    /// `InternalError`, [`Failure::Unavailable`] (503): a dependency (the database) is
    /// unreachable for now; nothing was committed and the request can be retried. The body
    /// carries no internal detail.
    pub fn unavailable() -> Self {
        Self::with_failure(
            Failure::Unavailable,
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

    /// See [`Failure::is_server_side`].
    pub fn is_server_side(&self) -> bool {
        self.failure.is_server_side()
    }

    /// See [`Failure::is_retryable`].
    pub fn is_retryable(&self) -> bool {
        self.failure.is_retryable()
    }
}

impl std::fmt::Display for FlowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:?} ({}): {}",
            self.failure,
            self.body.error_code.name(),
            self.body.error_message
        )
    }
}

impl std::error::Error for FlowError {}

impl crate::domain::SystemClock {
    fn now_wire(&self) -> String {
        use crate::domain::Clock;
        Ticks::to_wire(self.now())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_errors_keep_their_message() {
        let e = ApiError::invalid("currency", "XXX is not tender");
        assert_eq!(e.body.error_message, "currency: XXX is not tender");
        assert_eq!(e.failure, Failure::Invalid);
        assert!(!e.is_server_side() && !e.is_retryable());
    }

    #[test]
    fn a_recorded_outcome_keeps_its_code_kind_and_status() {
        let err = TxError {
            code: PaymentErrorCode::InsufficientBalance,
            message: "no funds".into(),
            psp_code: Some("800.100.152".into()),
            received_at: Ticks(17_000_000_000_000_000),
        };
        let e = FlowError::from_tx_error(&err, TxStatus::Cancelled);
        assert_eq!(e.failure, Failure::Declined);
        assert!(e.declined);
        assert_eq!(e.body.status, TxStatus::Cancelled);
        assert_eq!(e.body.psp_error_code.as_deref(), Some("800.100.152"));
    }

    #[test]
    fn retryable_failures_are_server_side() {
        use Failure::*;
        for f in [
            Malformed,
            Invalid,
            Declined,
            NotFound,
            Unauthorized,
            PspLogin,
            Limited,
            Precondition,
            Configuration,
            Upstream,
            Internal,
            Unavailable,
        ] {
            assert!(!f.is_retryable() || f.is_server_side(), "{f:?}");
        }
    }
}
