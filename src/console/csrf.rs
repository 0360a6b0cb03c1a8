//! CSRF protection: every state-changing form carries the session's synchronizer token (a
//! random value stored with the session, `console_sessions.csrf`) in a hidden `csrf` field; a
//! POST without it, or with another session's, is refused with a page and audit-logged. The
//! cookie's `SameSite=Strict` is a second line, not the only one.

use std::collections::HashMap;

use axum::http::StatusCode;
use axum::response::Response;
use subtle::ConstantTimeEq;

use super::{Signed, error_page};

/// The form's fields when its `csrf` field is this session's token; the refusal page otherwise.
/// The refusal is boxed: a `Response` is large next to the form.
pub fn check(s: &Signed, body: &[u8]) -> Result<HashMap<String, String>, Box<Response>> {
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(body).map_err(|_| {
        Box::new(error_page(
            StatusCode::BAD_REQUEST,
            "The form could not be read",
            "Go back, reload the page and try again.",
        ))
    })?;
    let sent = form.get("csrf").map(String::as_bytes).unwrap_or_default();
    if sent.is_empty() || !bool::from(sent.ct_eq(s.csrf.as_bytes())) {
        let store = s.ctx.app.store.clone();
        let (now, who) = (s.now(), s.op.name.clone());
        // Recorded without waiting: the refusal does not depend on it.
        tokio::spawn(async move {
            super::audit::record(
                store.as_ref(),
                now,
                &who,
                "form",
                "",
                "refused: no valid CSRF token",
            )
            .await;
        });
        return Err(Box::new(error_page(
            StatusCode::FORBIDDEN,
            "This form has expired",
            "The form did not carry this session's security token (it may come from another \
             site, or from before you signed in again). Reload the page and try again.",
        )));
    }
    Ok(form)
}
