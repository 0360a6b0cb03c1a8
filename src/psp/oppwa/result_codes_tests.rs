//! Tests of result-code classification and outcome mapping.

use super::*;

use ResultGroup as G;

#[test]
fn all_regexes_compile() {
    assert_eq!(COMPILED.len(), GROUPS.len());
}

#[test]
fn every_group_has_a_code() {
    let cases = [
        ("000.000.000", G::Success),
        ("000.100.110", G::Success),
        ("000.100.112", G::Success),
        ("000.300.000", G::Success),
        ("000.400.110", G::Success),
        ("000.400.000", G::ManualReview),
        ("000.400.100", G::ManualReview),
        ("000.200.000", G::PendingShort),
        ("000.200.100", G::PendingShort),
        ("800.400.500", G::PendingLong),
        ("100.400.500", G::PendingLong),
        ("000.400.101", G::ThreeDSIntercard),
        ("000.400.200", G::ThreeDSIntercard),
        ("800.100.151", G::RejectedBank),
        ("800.100.203", G::RejectedBank),
        ("900.100.300", G::CommunicationError),
        ("000.400.030", G::CommunicationError),
        ("999.999.999", G::SystemError),
        ("800.600.100", G::SystemError),
        ("100.396.101", G::AsyncWorkflow),
        ("300.100.100", G::SoftDecline),
        ("100.380.401", G::ExternalRisk),
        ("100.400.100", G::ExternalRisk),
        ("800.400.100", G::AddressValidation),
        ("100.390.112", G::ThreeDSecure),
        ("800.400.200", G::ThreeDSecure),
        ("800.300.101", G::Blacklist),
        ("800.120.100", G::RiskValidation),
        ("600.200.100", G::ConfigValidation),
        ("100.150.200", G::RegistrationValidation),
        ("100.250.100", G::JobValidation),
        ("700.400.580", G::ReferenceValidation),
        ("700.100.100", G::ReferenceValidation),
        ("200.300.404", G::FormatValidation),
        ("800.900.300", G::FormatValidation),
        ("100.800.100", G::AddressParams),
        ("100.700.100", G::ContactValidation),
        ("100.900.100", G::ContactValidation),
        ("100.100.303", G::AccountValidation),
        ("100.200.100", G::AccountValidation),
        ("100.550.300", G::AmountValidation),
        ("100.380.201", G::RiskManagement),
        ("100.380.101", G::RiskManagement),
        ("000.100.201", G::Chargeback),
        ("123.456.789", G::Unmatched),
        ("", G::Unmatched),
    ];
    for (code, group) in cases {
        assert_eq!(classify(code), group, "{code}");
    }
}

#[test]
fn quirks_are_kept() {
    // The unescaped `.` in `100.2[01]` matches any character there.
    assert_eq!(classify("100x200"), G::AccountValidation);
}

fn decline(code: &str) -> (PaymentErrorCode, TxStatus) {
    match outcome(code, "desc") {
        Outcome::Declined(d) => {
            assert_eq!(d.psp_code.as_deref(), Some(code));
            assert_eq!(d.message, "desc");
            (d.code, d.status)
        }
        other => panic!("{code}: expected a decline, got {other:?}"),
    }
}

fn decline_code(code: &str) -> PaymentErrorCode {
    let (c, status) = decline(code);
    assert_eq!(status, TxStatus::Failed, "{code}");
    c
}

#[test]
fn successes_and_pendings() {
    for code in [
        "000.000.000",
        "000.100.110",
        "000.400.110",
        "000.400.000",
        "000.400.100",
    ] {
        assert_eq!(outcome(code, ""), Outcome::Succeeded, "{code}");
    }
    assert_eq!(outcome("000.100.201", ""), Outcome::Succeeded);
    for code in ["000.200.000", "000.200.100", "800.400.500", "100.400.500"] {
        assert_eq!(outcome(code, ""), Outcome::Pending, "{code}");
    }
}

#[test]
fn uncertain_is_unknown() {
    for code in ["900.100.300", "900.100.400", "000.400.030", "555.555.555"] {
        assert!(matches!(outcome(code, "x"), Outcome::Unknown(_)), "{code}");
    }
}

#[test]
fn decline_mapping() {
    use PaymentErrorCode as E;
    let cases = [
        ("800.100.203", E::InsufficientBalance),
        ("800.100.155", E::InsufficientBalance),
        ("800.100.151", E::BearerInvalid),
        ("800.100.153", E::BearerInvalid),
        ("800.100.157", E::BearerExpired),
        ("800.100.152", E::Rejected),
        ("800.100.100", E::Rejected),
        ("100.100.303", E::BearerExpired),
        ("100.100.101", E::BearerInvalid),
        ("100.150.200", E::BearerInvalid),
        ("100.550.300", E::InvalidAmount),
        ("700.400.100", E::InvalidAmount),
        ("700.400.200", E::InvalidAmount),
        ("700.100.200", E::InvalidAmount),
        ("700.300.300", E::AlreadyExecuted),
        ("700.100.100", E::InvalidPreconditions),
        ("700.400.520", E::InvalidPreconditions),
        ("800.900.300", E::LoginError),
        ("800.900.201", E::LoginError),
        ("800.900.301", E::LoginError),
        ("200.300.404", E::InvalidData),
        ("800.900.100", E::InvalidData),
        ("800.400.100", E::InvalidData),
        ("100.800.100", E::InvalidData),
        ("100.700.100", E::InvalidData),
        ("100.250.100", E::InvalidData),
        ("600.200.100", E::InvalidConfiguration),
        ("999.999.999", E::InternalProviderError),
        ("100.397.101", E::Rejected),
        ("100.390.112", E::Rejected),
        ("000.400.101", E::Rejected),
        ("300.100.100", E::Rejected),
        ("100.380.401", E::Rejected),
        ("100.380.201", E::Rejected),
        ("800.300.101", E::Rejected),
        ("800.110.100", E::Rejected),
        ("800.120.100", E::RateLimit),
    ];
    for (code, expected) in cases {
        assert_eq!(decline_code(code), expected, "{code}");
    }
}

#[test]
fn async_cancel_and_expiry() {
    let cancelled = (PaymentErrorCode::Canceled, TxStatus::Cancelled);
    let expired = (PaymentErrorCode::Canceled, TxStatus::Expired);
    assert_eq!(decline("100.396.101"), cancelled);
    assert_eq!(decline("100.396.103"), expired);
}
