//! OPPWA result codes: classification by the documented regex groups (spec §5.1) and the
//! mapping of a group to a domain `Outcome`.
//!
//! The regexes are copied exactly as the docs print them, including the unescaped `.` in
//! `100.2[01]` and the odd `[00-99]` class, so that classification stays faithful to the PSP.

use std::sync::LazyLock;

use regex::Regex;

use crate::domain::{PaymentErrorCode, TxStatus};
use crate::psp::{Decline, Outcome};

/// The result-code groups of spec §5.1, in the table's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultGroup {
    Success,
    ManualReview,
    PendingShort,
    PendingLong,
    ThreeDSIntercard,
    RejectedBank,
    CommunicationError,
    SystemError,
    AsyncWorkflow,
    SoftDecline,
    ExternalRisk,
    AddressValidation,
    ThreeDSecure,
    Blacklist,
    RiskValidation,
    ConfigValidation,
    RegistrationValidation,
    JobValidation,
    ReferenceValidation,
    FormatValidation,
    AddressParams,
    ContactValidation,
    AccountValidation,
    AmountValidation,
    RiskManagement,
    Chargeback,
    Unmatched,
}

const GROUPS: &[(ResultGroup, &str)] = &[
    (
        ResultGroup::Success,
        r"^(000\.000\.|000\.100\.1|000\.[36]|000\.400\.[1][12]0)",
    ),
    (
        ResultGroup::ManualReview,
        r"^(000\.400\.0[^3]|000\.400\.100)",
    ),
    (ResultGroup::PendingShort, r"^(000\.200)"),
    (ResultGroup::PendingLong, r"^(800\.400\.5|100\.400\.500)"),
    (
        ResultGroup::ThreeDSIntercard,
        r"^(000\.400\.[1][0-9][1-9]|000\.400\.2)",
    ),
    (ResultGroup::RejectedBank, r"^(800\.[17]00|800\.800\.[123])"),
    (
        ResultGroup::CommunicationError,
        r"^(900\.[1234]00|000\.400\.030)",
    ),
    (
        ResultGroup::SystemError,
        r"^(800\.[56]|999\.|600\.1|800\.800\.[84])",
    ),
    (ResultGroup::AsyncWorkflow, r"^(100\.39[765])"),
    (ResultGroup::SoftDecline, r"^(300\.100\.100)"),
    (
        ResultGroup::ExternalRisk,
        r"^(100\.400\.[0-3]|100\.380\.100|100\.380\.11|100\.380\.4|100\.380\.5)",
    ),
    (ResultGroup::AddressValidation, r"^(800\.400\.1)"),
    (ResultGroup::ThreeDSecure, r"^(800\.400\.2|100\.390)"),
    (ResultGroup::Blacklist, r"^(800\.[32])"),
    (ResultGroup::RiskValidation, r"^(800\.1[123456]0)"),
    (
        ResultGroup::ConfigValidation,
        r"^(600\.[23]|500\.[12]|800\.121)",
    ),
    (ResultGroup::RegistrationValidation, r"^(100\.[13]50)"),
    (ResultGroup::JobValidation, r"^(100\.250|100\.360)"),
    (ResultGroup::ReferenceValidation, r"^(700\.[1345][05]0)"),
    (
        ResultGroup::FormatValidation,
        r"^(200\.[123]|100\.[53][07]|800\.900|100\.[69]00\.500)",
    ),
    (ResultGroup::AddressParams, r"^(100\.800)"),
    (
        ResultGroup::ContactValidation,
        r"^(100\.700|100\.900\.[123467890][00-99])",
    ),
    (ResultGroup::AccountValidation, r"^(100\.100|100.2[01])"),
    (ResultGroup::AmountValidation, r"^(100\.55)"),
    (
        ResultGroup::RiskManagement,
        r"^(100\.380\.[23]|100\.380\.101)",
    ),
    (ResultGroup::Chargeback, r"^(000\.100\.2)"),
];

static COMPILED: LazyLock<Vec<(ResultGroup, Regex)>> = LazyLock::new(|| {
    GROUPS
        .iter()
        .filter_map(|(group, pattern)| Regex::new(pattern).ok().map(|re| (*group, re)))
        .collect()
});

/// The first group (in table order) whose regex matches `code`.
pub fn classify(code: &str) -> ResultGroup {
    let code = code.trim();
    COMPILED
        .iter()
        .find(|(_, re)| re.is_match(code))
        .map_or(ResultGroup::Unmatched, |(group, _)| *group)
}

/// "Too many requests": checked before grouping because its group (risk validation) would
/// otherwise turn a retryable throttle into a hard reject.
pub const THROTTLED: &str = "800.120.100";
/// The query found no transaction.
pub const NOT_FOUND: &str = "700.400.580";
/// Invalid authentication information.
pub const BAD_AUTH: &str = "800.900.300";
/// Unknown channel (entity id).
pub const UNKNOWN_CHANNEL: &str = "800.900.201";
/// Invalid or missing parameter; on a checkout status read it means "no payment session".
pub const NO_SESSION: &str = "200.300.404";

/// The domain outcome of a PSP result code.
pub fn outcome(code: &str, description: &str) -> Outcome {
    let code = code.trim();
    if code == THROTTLED {
        return declined(
            PaymentErrorCode::RateLimit,
            TxStatus::Failed,
            code,
            description,
        );
    }
    let reject = |c| declined(c, TxStatus::Failed, code, description);
    match classify(code) {
        ResultGroup::Success | ResultGroup::Chargeback => Outcome::Succeeded,
        ResultGroup::ManualReview => {
            tracing::warn!(
                result_code = code,
                "OPPWA transaction succeeded but needs manual review"
            );
            Outcome::Succeeded
        }
        ResultGroup::PendingShort | ResultGroup::PendingLong => Outcome::Pending,
        ResultGroup::CommunicationError => {
            Outcome::Unknown(format!("PSP communication error {code}: {description}"))
        }
        ResultGroup::Unmatched => Outcome::Unknown(format!("unclassified result code {code}")),
        ResultGroup::RejectedBank => reject(bank_reject_code(code)),
        ResultGroup::AccountValidation => reject(if code == "100.100.303" {
            PaymentErrorCode::BearerExpired
        } else {
            PaymentErrorCode::BearerInvalid
        }),
        ResultGroup::RegistrationValidation => reject(PaymentErrorCode::BearerInvalid),
        ResultGroup::AmountValidation => reject(PaymentErrorCode::InvalidAmount),
        ResultGroup::ReferenceValidation => reject(reference_code(code)),
        ResultGroup::FormatValidation => reject(format_code(code)),
        ResultGroup::AddressValidation
        | ResultGroup::AddressParams
        | ResultGroup::ContactValidation
        | ResultGroup::JobValidation => reject(PaymentErrorCode::InvalidData),
        ResultGroup::ConfigValidation => reject(PaymentErrorCode::InvalidConfiguration),
        ResultGroup::SystemError => reject(PaymentErrorCode::InternalProviderError),
        ResultGroup::AsyncWorkflow => async_workflow(code, description),
        ResultGroup::ThreeDSecure
        | ResultGroup::ThreeDSIntercard
        | ResultGroup::SoftDecline
        | ResultGroup::ExternalRisk
        | ResultGroup::RiskManagement
        | ResultGroup::Blacklist
        | ResultGroup::RiskValidation => reject(PaymentErrorCode::Rejected),
    }
}

fn declined(code: PaymentErrorCode, status: TxStatus, psp: &str, description: &str) -> Outcome {
    Outcome::Declined(Decline {
        code,
        status,
        psp_code: Some(psp.to_string()),
        message: description.to_string(),
    })
}

fn bank_reject_code(code: &str) -> PaymentErrorCode {
    match code {
        "800.100.203" | "800.100.155" => PaymentErrorCode::InsufficientBalance,
        "800.100.151" | "800.100.153" => PaymentErrorCode::BearerInvalid,
        "800.100.157" => PaymentErrorCode::BearerExpired,
        _ => PaymentErrorCode::Rejected,
    }
}

fn reference_code(code: &str) -> PaymentErrorCode {
    match code {
        "700.400.100" | "700.400.200" | "700.100.200" => PaymentErrorCode::InvalidAmount,
        "700.300.300" => PaymentErrorCode::AlreadyExecuted,
        _ => PaymentErrorCode::InvalidPreconditions,
    }
}

fn format_code(code: &str) -> PaymentErrorCode {
    if code.starts_with("800.900.3") || code.starts_with("800.900.2") {
        PaymentErrorCode::LoginError
    } else {
        PaymentErrorCode::InvalidData
    }
}

fn async_workflow(code: &str, description: &str) -> Outcome {
    match code {
        "100.396.101" => declined(
            PaymentErrorCode::Canceled,
            TxStatus::Cancelled,
            code,
            description,
        ),
        "100.396.103" => declined(
            PaymentErrorCode::Canceled,
            TxStatus::Expired,
            code,
            description,
        ),
        _ => declined(
            PaymentErrorCode::Rejected,
            TxStatus::Failed,
            code,
            description,
        ),
    }
}

#[cfg(test)]
#[path = "result_codes_tests.rs"]
mod tests;
