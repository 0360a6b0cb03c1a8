//! How an HTTP reply (or its absence) becomes a domain result. Money-moving calls never turn
//! an unclear answer into a decline; lookups turn it into a `PspError`.

use super::client::{RawReply, TransportError};
use super::response::{self, OppwaResponse};
use super::result_codes::{self, BAD_AUTH, NOT_FOUND, THROTTLED, UNKNOWN_CHANNEL};
use crate::domain::{PaymentErrorCode, TxStatus};
use crate::psp::{Decline, Outcome, PspError, PspResult};

type Reply = Result<RawReply, TransportError>;

const TOKEN_REJECTED: &str = "access token rejected";
const ENTITY_UNKNOWN: &str = "entity id unknown to the PSP";

fn is_auth_status(status: u16) -> bool {
    status == 401 || status == 403
}

/// The parsed answer of a money call, or the final result when there is nothing to decide on.
pub fn money_response(reply: Reply) -> Result<OppwaResponse, Box<PspResult>> {
    let reply = reply.map_err(|e| Box::new(PspResult::unknown(e.to_string())))?;
    let parsed = response::parse(&reply.body);
    if is_auth_status(reply.status) {
        let psp_code = parsed.as_ref().map(|p| p.code().to_string());
        let outcome = decline(
            PaymentErrorCode::LoginError,
            psp_code.clone(),
            TOKEN_REJECTED,
        );
        return Err(Box::new(PspResult {
            result_code: psp_code,
            ..PspResult::bare(outcome)
        }));
    }
    if reply.status >= 500 {
        let reason = format!("OPPWA answered HTTP {}", reply.status);
        return Err(Box::new(PspResult::unknown(reason)));
    }
    parsed.ok_or_else(|| {
        let reason = format!("OPPWA answer without result code (HTTP {})", reply.status);
        Box::new(PspResult::unknown(reason))
    })
}

/// A money call's result, decided only by `result.code`.
pub fn money_result(reply: Reply) -> PspResult {
    match money_response(reply) {
        Ok(resp) => response::to_result(&resp, resp.outcome()),
        Err(result) => *result,
    }
}

pub fn decline(code: PaymentErrorCode, psp_code: Option<String>, message: &str) -> Outcome {
    Outcome::Declined(Decline {
        code,
        status: TxStatus::Failed,
        psp_code,
        message: message.to_string(),
    })
}

pub fn psp_error(code: PaymentErrorCode, psp_code: Option<&str>, message: &str) -> PspError {
    PspError {
        code,
        psp_code: psp_code.map(String::from),
        message: message.to_string(),
    }
}

/// The answer of a read-only call: `Ok(None)` when the PSP does not know the transaction.
pub fn lookup(reply: Reply) -> Result<Option<OppwaResponse>, PspError> {
    use PaymentErrorCode as E;
    let reply = reply.map_err(|e| match e {
        TransportError::Timeout => psp_error(E::PSPConnectionTimeout, None, &e.to_string()),
        TransportError::Connection(_) => psp_error(E::PSPConnectionProblem, None, &e.to_string()),
    })?;
    let parsed = response::parse(&reply.body);
    let code = parsed.as_ref().map(|p| p.code().to_string());
    if is_auth_status(reply.status) {
        return Err(psp_error(E::LoginError, code.as_deref(), TOKEN_REJECTED));
    }
    if reply.status >= 500 {
        let message = format!("OPPWA answered HTTP {}", reply.status);
        return Err(psp_error(
            E::InternalProviderError,
            code.as_deref(),
            &message,
        ));
    }
    let Some(resp) = parsed else {
        if reply.status == 404 {
            return Ok(None);
        }
        let message = format!("unreadable OPPWA answer (HTTP {})", reply.status);
        return Err(psp_error(E::InternalProviderError, None, &message));
    };
    match resp.code() {
        NOT_FOUND | "700.100.100" => Ok(None),
        THROTTLED => Err(psp_error(E::RateLimit, Some(THROTTLED), resp.description())),
        c if c == BAD_AUTH || c.starts_with("800.900.3") => {
            Err(psp_error(E::LoginError, Some(c), TOKEN_REJECTED))
        }
        c if c == UNKNOWN_CHANNEL || c.starts_with("800.900.2") => {
            Err(psp_error(E::LoginError, Some(c), ENTITY_UNKNOWN))
        }
        _ => Ok(Some(resp)),
    }
}

/// A lookup answer that is not about a transaction (validation, configuration, …).
pub fn lookup_error(resp: &OppwaResponse) -> PspError {
    let code = match result_codes::outcome(resp.code(), resp.description()) {
        Outcome::Declined(d) => d.code,
        _ => PaymentErrorCode::InternalProviderError,
    };
    psp_error(code, Some(resp.code()), resp.description())
}
