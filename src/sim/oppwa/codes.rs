//! Result codes: exact descriptions (contract §5.3) and the HTTP status each class gets.

use axum::http::StatusCode;

pub(crate) const OK_INTERNAL: &str = "000.100.110";
pub(crate) const OK_EXTERNAL: &str = "000.100.112";
pub(crate) const PENDING: &str = "000.200.000";
/// Chargeback group `^(000\.100\.2)`: the simulator's chargebacks all use this one.
pub(crate) const CHARGEBACK: &str = "000.100.200";
pub(crate) const CHECKOUT_CREATED: &str = "000.200.100";
pub(crate) const REQUEST_OK: &str = "000.000.100";
pub(crate) const FRICTIONLESS: &str = "000.400.110";
pub(crate) const INVALID_PARAM: &str = "200.300.404";
pub(crate) const INVALID_ACCOUNT: &str = "100.100.101";
pub(crate) const CARD_EXPIRED: &str = "100.100.303";
pub(crate) const NOT_FOUND: &str = "700.400.580";
pub(crate) const TOO_MANY: &str = "800.120.100";
pub(crate) const BAD_AUTH: &str = "800.900.300";
pub(crate) const UNKNOWN_CHANNEL: &str = "800.900.201";
pub(crate) const NON_INSTANT: &str = "800.400.500";
pub(crate) const AUTH_FAILED: &str = "100.380.401";
pub(crate) const TECH_3DS: &str = "100.390.112";
pub(crate) const CANCELLED: &str = "100.396.101";
pub(crate) const TIMED_OUT: &str = "100.396.103";

/// Status text returned for a checkout whose session is gone (read, expired or unknown).
pub(crate) const NO_SESSION: &str = "invalid or missing parameter - (opp) No payment session found for the requested id - are you mixing test/live servers or have you paid more than 30min ago?";

const TABLE: &[(&str, &str)] = &[
    ("000.000.000", "Transaction succeeded"),
    ("000.000.100", "successful request"),
    (
        "000.100.110",
        "Request successfully processed in 'Merchant in Integrator Test Mode'",
    ),
    (
        "000.100.111",
        "Request successfully processed in 'Merchant in Validator Test Mode'",
    ),
    (
        "000.100.112",
        "Request successfully processed in 'Merchant in Connector Test Mode'",
    ),
    ("000.100.200", "Reason not Specified"),
    ("000.200.000", "transaction pending"),
    ("000.200.100", "successfully created checkout"),
    ("000.200.101", "successfully updated checkout"),
    ("000.200.102", "successfully deleted checkout"),
    ("000.200.103", "checkout is pending"),
    ("000.200.200", "Transaction initialized"),
    ("000.300.000", "Two-step transaction succeeded"),
    (
        "000.400.000",
        "Transaction succeeded (please review manually due to fraud suspicion)",
    ),
    (
        "000.400.100",
        "Transaction succeeded, risk after payment rejected",
    ),
    ("000.400.109", "Card is not enrolled for 3DS version 2"),
    (
        "000.400.110",
        "Authentication successful (frictionless flow)",
    ),
    (
        "100.100.101",
        "invalid creditcard, bank account number or bank name",
    ),
    ("100.100.303", "card expired"),
    ("100.150.200", "registration does not exist"),
    ("100.150.202", "registration is already deregistered"),
    ("100.380.401", "User Authentication Failed"),
    ("100.390.112", "Technical Error in 3D system"),
    ("100.396.101", "Cancelled by user"),
    ("100.396.103", "Previously pending transaction timed out"),
    ("100.400.500", "waiting for external risk"),
    ("200.300.404", "invalid or missing parameter"),
    (
        "300.100.100",
        "Transaction declined (additional customer authentication required)",
    ),
    ("600.200.100", "invalid Payment Method"),
    ("700.100.100", "reference id not existing"),
    ("700.100.200", "non matching reference amount"),
    (
        "700.300.300",
        "referenced tx can not be refunded, captured or reversed (already refunded, captured or reversed)",
    ),
    (
        "700.400.100",
        "cannot capture (PA value exceeded, PA reverted or invalid workflow?)",
    ),
    (
        "700.400.200",
        "cannot refund (refund volume exceeded or tx reversed or invalid workflow?)",
    ),
    (
        "700.400.300",
        "cannot reverse (already refunded|reversed, invalid workflow or amount exceeded)",
    ),
    (
        "700.400.510",
        "capture needs at least one successful transaction of type (PA)",
    ),
    (
        "700.400.520",
        "refund needs at least one successful transaction of type (CP or DB or RB or RC)",
    ),
    (
        "700.400.530",
        "reversal needs at least one successful transaction of type (CP or DB or RB or PA)",
    ),
    ("700.400.580", "cannot find transaction"),
    ("800.100.100", "transaction declined for unknown reason"),
    ("800.100.151", "transaction declined (invalid card)"),
    (
        "800.100.152",
        "transaction declined by authorization system",
    ),
    ("800.100.153", "transaction declined (invalid CVV)"),
    (
        "800.100.155",
        "transaction declined (amount exceeds credit)",
    ),
    ("800.100.157", "transaction declined (wrong expiry date)"),
    ("800.100.203", "Insufficient Funds"),
    ("800.120.100", "Too many requests. Please try again later."),
    (
        "800.400.500",
        "Waiting for confirmation of non-instant payment. Denied for now.",
    ),
    ("800.600.100", "transaction is being already processed"),
    (
        "800.700.100",
        "transaction for the same session is currently being processed, please try again later.",
    ),
    ("800.900.201", "unknown channel"),
    ("800.900.300", "invalid authentication information"),
    ("900.100.300", "timeout, uncertain result"),
    ("900.100.400", "timeout at connectors/acquirer side"),
    ("999.999.999", "UNDEFINED CONNECTOR/ACQUIRER ERROR"),
];

/// Description used for codes the simulator has no text for (forced codes only).
const GENERIC: &str = "simulated result (code not in the simulator's description table)";

pub(crate) fn description(code: &str) -> &'static str {
    TABLE
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(GENERIC, |(_, d)| d)
}

/// Every code the simulator knows, for `GET /v1/resultcodes`.
pub(crate) fn all() -> impl Iterator<Item = (&'static str, &'static str)> {
    TABLE.iter().copied()
}

/// Success and success-with-manual-review groups of the current regex set (§5.1).
pub(crate) fn is_success(code: &str) -> bool {
    let review = code
        .strip_prefix("000.400.0")
        .is_some_and(|rest| rest.chars().next().is_some_and(|c| c != '3'))
        || code.starts_with("000.400.100");
    [
        "000.000.",
        "000.100.1",
        "000.3",
        "000.6",
        "000.400.110",
        "000.400.120",
    ]
    .iter()
    .any(|p| code.starts_with(p))
        || review
}

/// Short (`000.200`) and long (`800.400.5`, `100.400.500`) pending groups.
pub(crate) fn is_pending(code: &str) -> bool {
    ["000.200", "800.400.5", "100.400.500"]
        .iter()
        .any(|p| code.starts_with(p))
}

/// 200 for success and pending groups, 400 for every rejection (§1.4).
pub(crate) fn http_status(code: &str) -> StatusCode {
    if is_success(code) || is_pending(code) {
        StatusCode::OK
    } else {
        StatusCode::BAD_REQUEST
    }
}

/// Syntactically a result code: `NNN.NNN.NNN`.
pub(crate) fn is_well_formed(code: &str) -> bool {
    let parts: Vec<&str> = code.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| p.len() == 3 && p.bytes().all(|b| b.is_ascii_digit()))
}
