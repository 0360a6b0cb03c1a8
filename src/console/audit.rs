//! The audit log: every sign-in, refusal and action, with who, what, on what and how it ended;
//! shown newest first at `/console/audit`.

use askama::Template;
use axum::response::Response;

use super::{Layout, Signed, render, when};
use crate::domain::Ticks;
use crate::store::Store;
use crate::store::console::AuditEntry;

/// Writes one audit line. A failure is logged, not raised: the action it records has happened.
pub async fn record(
    store: &dyn Store,
    at: Ticks,
    operator: &str,
    action: &str,
    target: &str,
    outcome: &str,
) {
    let e = AuditEntry {
        at,
        operator: operator.chars().take(64).collect(),
        action: action.into(),
        target: target.chars().take(200).collect(),
        outcome: outcome.chars().take(500).collect(),
    };
    if let Err(err) = store.audit(&e).await {
        tracing::error!(error = %err, action, "console: audit line not written");
    }
}

#[derive(Template)]
#[template(path = "console/audit.html")]
struct AuditPage {
    l: Layout,
    rows: Vec<(String, AuditEntry)>,
}

/// `GET /console/audit`: the newest 500 lines. An operator limited to some merchants sees only
/// their own lines (the log's targets name other merchants' webhooks and transactions).
pub async fn page(s: Signed) -> Response {
    let limited = !s.op.merchants.is_empty();
    match s.ctx.app.store.list_audit(500).await {
        Ok(rows) => render(&AuditPage {
            l: s.layout("audit"),
            rows: rows
                .into_iter()
                .filter(|e| !limited || e.operator == s.op.name)
                .map(|e| (when(e.at), e))
                .collect(),
        }),
        Err(e) => super::store_error(&e),
    }
}
