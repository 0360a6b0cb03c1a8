//! Needs attention: what an operator must look at (Pending past its reconciler deadline,
//! contradictions, parked events by the time they are given up, dead or long-retrying webhooks, merchants whose PSP settings
//! did not verify), and the actions. Every action needs the operator role and the session's
//! CSRF token, is audit-logged and idempotent, and none moves money or invents a state: webhook
//! redelivery uses `admin_deliveries`, "ask the PSP now" runs the reconciler's query
//! (`flows::reconcile::ask_now`) whose answer goes through the one transition authority, and
//! re-verifying settings only asks the PSP (`flows::settings::verify_stored`).

use askama::Template;
use axum::body::Bytes;
use axum::http::StatusCode;
use axum::response::Response;

use super::{Layout, MessagePage, Signed, error_page, render, store_error, when};
use crate::domain::Ticks;
use crate::store::outbox::OutboxState;

/// How far back contradictions are listed, in seconds (7 days).
const CONTRADICTIONS_SINCE: i64 = 7 * 24 * 3600;
/// A webhook still retrying after this many attempts is "long-retrying".
const LONG_RETRY_ATTEMPTS: i64 = 3;

/// Parked events read at most (oldest first, which for events that may be given up is their
/// give-up order).
const PARKED_LIMIT: i64 = 500;
/// A parked event given up within this many seconds is flagged (a day).
const GIVE_UP_SOON: i64 = 24 * 3600;

/// A parked PSP event and when it is given up.
pub struct Parked {
    pub tx: Option<String>,
    pub merchant: String,
    pub received: String,
    pub what: String,
    pub gives_up_at: Option<Ticks>,
    /// When it is given up, or that it never is.
    pub gives_up: String,
    /// Given up within a day.
    pub soon: bool,
}

/// A line of one of the page's lists.
pub struct Item {
    /// Our transaction id (link), if the line is about one.
    pub tx: Option<String>,
    pub merchant: String,
    pub when: String,
    pub what: String,
    /// A webhook id the line offers to redeliver.
    pub redeliver: Option<i64>,
}

#[derive(Template)]
#[template(path = "console/attention.html")]
struct AttentionPage {
    l: Layout,
    overdue: Vec<Item>,
    contradictions: Vec<Item>,
    parked: Vec<Parked>,
    webhooks: Vec<Item>,
    /// `(merchant id, name, last verification outcome)`.
    merchants: Vec<(String, String, String)>,
    can_act: bool,
}

/// `GET /console/attention`.
pub async fn page(s: Signed) -> Response {
    match build(&s).await {
        Ok(p) => render(&p),
        Err(e) => store_error(&e),
    }
}

async fn build(s: &Signed) -> Result<AttentionPage, crate::store::StoreError> {
    let store = s.ctx.app.store.as_ref();
    let now = s.now();
    let overdue = store
        .overdue_reconciles(now, 200)
        .await?
        .into_iter()
        .filter(|t| s.sees(&t.merchant_id))
        .map(|t| Item {
            what: format!(
                "{} {} is {} past its reconciler time ({} attempts)",
                t.kind.as_str(),
                t.billwerk_id,
                t.status,
                t.reconcile_attempts
            ),
            when: t.next_reconcile_at.map(when).unwrap_or_default(),
            merchant: t.merchant_id.clone(),
            tx: Some(t.id),
            redeliver: None,
        })
        .collect();
    let contradictions = store
        .contradictions(now.plus_seconds(-CONTRADICTIONS_SINCE), 200)
        .await?
        .into_iter()
        .filter(|(_, m, _, _)| s.sees(m))
        .map(|(tx, merchant, at, note)| Item {
            tx: Some(tx),
            merchant,
            when: when(at),
            what: note,
            redeliver: None,
        })
        .collect();
    // Those that will be given up first, soonest first (the reconciler's rule,
    // `notification::gives_up_at`), then those that wait for a known transaction.
    let mut parked: Vec<Parked> = store
        .parked_all(0, PARKED_LIMIT)
        .await?
        .into_iter()
        .filter(|p| s.sees(&p.merchant_id))
        .map(|p| {
            let gives_up = crate::flows::notification::gives_up_at(&p);
            Parked {
                soon: gives_up.is_some_and(|at| at <= now.plus_seconds(GIVE_UP_SOON)),
                gives_up_at: gives_up,
                gives_up: gives_up
                    .map_or_else(|| "never: it waits for its transaction".into(), when),
                what: if p.transaction_id.is_some() {
                    format!("event {} waits for its transaction to settle", p.dedupe_key)
                } else {
                    format!("event {} matches no transaction of ours yet", p.dedupe_key)
                },
                tx: p.transaction_id,
                merchant: p.merchant_id,
                received: when(p.received_at),
            }
        })
        .collect();
    parked.sort_by_key(|p| (p.gives_up_at.is_none(), p.gives_up_at));
    let webhooks = crate::admin_deliveries::list_failed(store, None)
        .await?
        .into_iter()
        .filter(|d| s.sees(&d.row.merchant_id))
        .filter(|d| d.row.state == OutboxState::Dead || d.row.attempts >= LONG_RETRY_ATTEMPTS)
        .map(|d| {
            let r = &d.row;
            let last = d
                .last_attempt
                .as_ref()
                .map(|a| match (a.http_status, &a.error) {
                    (Some(c), _) => format!("HTTP {c}"),
                    (None, Some(e)) => e.clone(),
                    _ => String::new(),
                })
                .unwrap_or_default();
            Item {
                tx: Some(r.transaction_id.clone()),
                merchant: r.merchant_id.clone(),
                when: when(r.updated_at),
                what: format!(
                    "webhook {} ({}) for {}: {} attempts, last: {last}",
                    r.id,
                    r.state.as_str(),
                    r.billwerk_id,
                    r.attempts
                ),
                redeliver: (r.state == OutboxState::Dead).then_some(r.id),
            }
        })
        .collect();
    let audit = store.list_audit(1000).await?;
    let merchants = store
        .list_merchants()
        .await?
        .into_iter()
        .filter(|m| s.sees(&m.id))
        .map(|m| {
            let last = audit
                .iter()
                .find(|a| a.action == "verify-settings" && a.target == m.id)
                .map(|a| format!("{} ({})", a.outcome, when(a.at)))
                .unwrap_or_else(|| "not verified from the console yet".into());
            (m.id, m.name, last)
        })
        .collect();
    Ok(AttentionPage {
        l: s.layout("attention"),
        overdue,
        contradictions,
        parked,
        webhooks,
        merchants,
        can_act: s.can_act(),
    })
}

/// The checks every action makes before it runs: the operator role and the CSRF token.
fn authorize(
    s: &Signed,
    body: &[u8],
    action: &str,
) -> Result<std::collections::HashMap<String, String>, Box<Response>> {
    let form = super::csrf::check(s, body)?;
    if !s.can_act() {
        let store = s.ctx.app.store.clone();
        let (now, who, action) = (s.now(), s.op.name.clone(), action.to_string());
        tokio::spawn(async move {
            super::audit::record(
                store.as_ref(),
                now,
                &who,
                &action,
                "",
                "refused: viewer role",
            )
            .await;
        });
        return Err(Box::new(error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Your role (viewer) may read but not act. Ask an operator.",
        )));
    }
    Ok(form)
}

fn done(s: &Signed, title: &str, text: String, back: (String, String)) -> Response {
    render(&MessagePage {
        l: s.layout(""),
        title: title.into(),
        text,
        back: Some(back),
    })
}

fn field<'a>(form: &'a std::collections::HashMap<String, String>, k: &str) -> &'a str {
    form.get(k).map(|v| v.trim()).unwrap_or_default()
}

/// `POST /console/actions/redeliver` (`outbox_id`): one dead or delivered webhook goes out again.
pub async fn redeliver(s: Signed, body: Bytes) -> Response {
    let form = match authorize(&s, &body, "redeliver") {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let store = s.ctx.app.store.as_ref();
    let Ok(id) = field(&form, "outbox_id").parse::<i64>() else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Redeliver",
            "No webhook id was given.",
        );
    };
    let row = match store.get_delivery(id).await {
        Ok(Some(r)) if s.sees(&r.merchant_id) => r,
        Ok(_) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Redeliver",
                "There is no such webhook.",
            );
        }
        Err(e) => return store_error(&e),
    };
    let outcome = crate::admin_deliveries::redeliver_one(store, id).await;
    let text = match &outcome {
        Ok(r) => crate::admin_deliveries::describe_redelivery(id, *r),
        Err(crate::store::StoreError::NotFound) => format!("webhook {id} cannot be redelivered"),
        Err(e) => return store_error(e),
    };
    s.ctx.app.outbox_wake.notify_one();
    super::audit::record(
        store,
        s.now(),
        &s.op.name,
        "redeliver",
        &format!("webhook {id}"),
        &text,
    )
    .await;
    done(
        &s,
        "Webhook queued again",
        text,
        (
            format!("/console/transactions/{}", row.transaction_id),
            "Back to the transaction".into(),
        ),
    )
}

/// `POST /console/actions/redeliver-since` (`since`, RFC 3339 or `YYYY-MM-DD`): every dead or
/// delivered webhook updated since then goes out again. Limited operators may not (it is not
/// scoped by merchant).
pub async fn redeliver_since(s: Signed, body: Bytes) -> Response {
    let form = match authorize(&s, &body, "redeliver-since") {
        Ok(f) => f,
        Err(r) => return *r,
    };
    if !s.op.merchants.is_empty() {
        return error_page(
            StatusCode::FORBIDDEN,
            "Not allowed",
            "Redelivering everything since a time spans all merchants; your account is limited to some.",
        );
    }
    let raw = field(&form, "since");
    let since = chrono::DateTime::parse_from_rfc3339(raw)
        .map(|d| d.with_timezone(&chrono::Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|n| n.and_utc())
        });
    let Some(since) = since else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "Redeliver since",
            "Give a time like 2026-12-03T10:00:00Z or a date like 2026-12-03.",
        );
    };
    let store = s.ctx.app.store.as_ref();
    let n = match crate::admin_deliveries::redeliver_since(store, Ticks::from_datetime(since)).await
    {
        Ok(n) => n,
        Err(e) => return store_error(&e),
    };
    s.ctx.app.outbox_wake.notify_one();
    let text = format!(
        "{n} webhook(s) updated since {} are queued again",
        since.to_rfc3339()
    );
    super::audit::record(store, s.now(), &s.op.name, "redeliver-since", raw, &text).await;
    done(
        &s,
        "Webhooks queued again",
        text,
        (
            "/console/attention".into(),
            "Back to needs attention".into(),
        ),
    )
}

/// `POST /console/actions/ask-psp` (`tx`): the reconciler's status query for one transaction,
/// now. What the PSP answers is recorded by the reconciler's own rules; nothing else changes.
pub async fn ask_psp(s: Signed, body: Bytes) -> Response {
    let form = match authorize(&s, &body, "ask-psp") {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let app = &s.ctx.app;
    let id = field(&form, "tx").to_string();
    let tx = match app.store.transaction_any(&id).await {
        Ok(Some(t)) if s.sees(&t.merchant_id) => t,
        Ok(_) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Ask the PSP",
                "There is no such transaction.",
            );
        }
        Err(e) => return store_error(&e),
    };
    let before = tx.status;
    let open_checkout = tx.checkout_id.is_some() && tx.psp_tx_id.is_none();
    let text = if !(tx.needs_reconcile || open_checkout) {
        format!(
            "{} is {before}; its outcome is known, so the PSP was not asked",
            tx.billwerk_id
        )
    } else {
        match crate::flows::reconcile::ask_now(app, &s.ctx.console.policy, tx.clone()).await {
            Ok(known) => {
                let now = app.store.transaction_any(&id).await.ok().flatten();
                let status = now.map(|t| t.status.to_string()).unwrap_or_default();
                if known {
                    format!(
                        "the PSP answered: {} is {status} (was {before})",
                        tx.billwerk_id
                    )
                } else {
                    format!(
                        "no final answer yet; {} stays {status} and is asked again later",
                        tx.billwerk_id
                    )
                }
            }
            Err(e) => format!("the PSP could not be asked: {}", e.body.error_message),
        }
    };
    super::audit::record(
        app.store.as_ref(),
        s.now(),
        &s.op.name,
        "ask-psp",
        &tx.billwerk_id,
        &text,
    )
    .await;
    done(
        &s,
        "Asked the PSP",
        text,
        (
            format!("/console/transactions/{id}"),
            "Back to the transaction".into(),
        ),
    )
}

/// `POST /console/actions/verify-settings` (`merchant`): asks the PSP whether the merchant's
/// stored settings still work. Nothing is stored but the audit line.
pub async fn verify_settings(s: Signed, body: Bytes) -> Response {
    let form = match authorize(&s, &body, "verify-settings") {
        Ok(f) => f,
        Err(r) => return *r,
    };
    let app = &s.ctx.app;
    let id = field(&form, "merchant").to_string();
    if !s.sees(&id) {
        return error_page(
            StatusCode::NOT_FOUND,
            "Re-verify settings",
            "There is no such merchant.",
        );
    }
    let m = match app.merchant(&id).await {
        Ok(m) => m,
        Err(_) => {
            return error_page(
                StatusCode::NOT_FOUND,
                "Re-verify settings",
                "There is no such merchant.",
            );
        }
    };
    let text = match crate::flows::settings::verify_stored(app, &m).await {
        Ok(Some(ok)) => ok,
        Ok(None) => "no PSP settings stored".into(),
        Err(why) => format!("failed: {why}"),
    };
    super::audit::record(
        app.store.as_ref(),
        s.now(),
        &s.op.name,
        "verify-settings",
        &id,
        &text,
    )
    .await;
    done(
        &s,
        "Settings checked",
        format!("{}: {text}", m.record.name),
        (
            "/console/attention".into(),
            "Back to needs attention".into(),
        ),
    )
}
