//! The transaction list (filters, keyset pagination, newest change first) and one
//! transaction's story: a single timeline merging the Billwerk request, the PSP calls, the PSP
//! notifications with their verdicts, the state changes, parked events and every webhook
//! attempt; beside it the money, the children and the agreement.

use askama::Template;
use axum::extract::{Path, RawQuery};
use axum::http::StatusCode;
use axum::response::Response;
use rust_decimal::Decimal;

use super::{Layout, Signed, error_page, render, store_error, when};
use crate::domain::{Ticks, TxKind, TxStatus};
use crate::store::console::TxFilter;
use crate::store::outbox::OutboxState;
use crate::store::{AgreementRecord, PaymentTotals, TransactionRecord};

/// Rows per page of the list.
pub const PAGE: i64 = 50;

/// The list's query string; every field optional, empty means "any".
#[derive(Debug, Default, serde::Deserialize)]
#[serde(default)]
pub struct ListQuery {
    pub merchant: String,
    pub kind: String,
    pub status: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    pub from: String,
    /// `YYYY-MM-DD` (UTC), inclusive.
    pub to: String,
    pub amount_min: String,
    pub amount_max: String,
    pub billwerk_id: String,
    pub psp_id: String,
    pub agreement: String,
    /// Keyset cursor: `<last_updated ticks>_<id>` of the last row shown.
    pub before: String,
}

/// One row of the list.
pub struct Row {
    pub id: String,
    pub billwerk_id: String,
    pub merchant: String,
    pub kind: &'static str,
    pub status: String,
    pub amount: String,
    pub psp_id: String,
    pub updated: String,
}

#[derive(Template)]
#[template(path = "console/transactions.html")]
struct ListPage {
    l: Layout,
    q: ListQuery,
    rows: Vec<Row>,
    /// The query string of the next page, if there is one.
    next: Option<String>,
    kinds: &'static [&'static str],
    statuses: Vec<&'static str>,
    /// `(id, name)` of the merchants this operator sees.
    merchants: Vec<(String, String)>,
    problem: Option<String>,
}

fn opt(s: &str) -> Option<String> {
    let s = s.trim();
    (!s.is_empty()).then(|| s.to_string())
}

fn day(s: &str, field: &str, end: bool) -> Result<Option<Ticks>, String> {
    let Some(s) = opt(s) else { return Ok(None) };
    let d = chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
        .map_err(|_| format!("{field}: a date like 2026-12-03"))?;
    let d = if end { d.succ_opt().unwrap_or(d) } else { d };
    let dt = d.and_hms_opt(0, 0, 0).map(|n| n.and_utc());
    Ok(dt.map(Ticks::from_datetime))
}

fn amount(s: &str, field: &str) -> Result<Option<String>, String> {
    opt(s)
        .map(|a| {
            a.parse::<Decimal>()
                .map(|d| d.to_string())
                .map_err(|_| format!("{field}: a number like 12.50"))
        })
        .transpose()
}

impl ListQuery {
    /// The store filter, or what is wrong with the form.
    fn filter(&self, s: &Signed) -> Result<TxFilter, String> {
        let before = match opt(&self.before) {
            None => None,
            Some(c) => {
                let (t, id) = c.split_once('_').ok_or("before: not a page cursor")?;
                let t = t.parse::<i64>().map_err(|_| "before: not a page cursor")?;
                Some((Ticks(t), id.to_string()))
            }
        };
        let kind = opt(&self.kind);
        if let Some(k) = &kind
            && !["preauth", "payment", "refund"].contains(&k.as_str())
        {
            return Err("kind: preauth, payment or refund".into());
        }
        let status = opt(&self.status);
        if let Some(st) = &status
            && TxStatus::from_name(st).is_none()
        {
            return Err("status: one of the listed statuses".into());
        }
        Ok(TxFilter {
            merchants: s.op.merchants.clone(),
            merchant_id: opt(&self.merchant),
            kind,
            status: status
                .and_then(|st| TxStatus::from_name(&st))
                .map(|st| st.name().into()),
            created_from: day(&self.from, "from", false)?,
            created_to: day(&self.to, "to", true)?,
            amount_min: amount(&self.amount_min, "amount from")?,
            amount_max: amount(&self.amount_max, "amount to")?,
            billwerk_id: opt(&self.billwerk_id),
            psp_tx_id: opt(&self.psp_id),
            agreement_id: opt(&self.agreement),
            before,
            limit: PAGE + 1,
        })
    }

    /// This query with another cursor, as a query string.
    fn with_before(&self, before: &str) -> String {
        let pairs = [
            ("merchant", self.merchant.as_str()),
            ("kind", &self.kind),
            ("status", &self.status),
            ("from", &self.from),
            ("to", &self.to),
            ("amount_min", &self.amount_min),
            ("amount_max", &self.amount_max),
            ("billwerk_id", &self.billwerk_id),
            ("psp_id", &self.psp_id),
            ("agreement", &self.agreement),
            ("before", before),
        ];
        serde_urlencoded::to_string(
            pairs
                .iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .collect::<Vec<_>>(),
        )
        .unwrap_or_default()
    }
}

/// Merchant names by id (for the rows) and the merchants this operator sees.
async fn merchant_names(
    s: &Signed,
) -> Result<std::collections::BTreeMap<String, String>, crate::store::StoreError> {
    Ok(s.ctx
        .app
        .store
        .list_merchants()
        .await?
        .into_iter()
        .filter(|m| s.sees(&m.id))
        .map(|m| (m.id, m.name))
        .collect())
}

/// `GET /console/transactions`.
pub async fn list(s: Signed, RawQuery(raw): RawQuery) -> Response {
    let q: ListQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or("")).unwrap_or_default();
    let names = match merchant_names(&s).await {
        Ok(n) => n,
        Err(e) => return store_error(&e),
    };
    let (rows, next, problem) = match q.filter(&s) {
        Err(why) => (Vec::new(), None, Some(why)),
        Ok(f) => match s.ctx.app.store.search_transactions(&f).await {
            Err(e) => return store_error(&e),
            Ok(mut found) => {
                let more = found.len() > PAGE as usize;
                found.truncate(PAGE as usize);
                let next = found
                    .last()
                    .filter(|_| more)
                    .map(|t| q.with_before(&format!("{}_{}", t.last_updated.0, t.id)));
                let rows = found.iter().map(|t| row(t, &names)).collect();
                (rows, next, None)
            }
        },
    };
    let mut res = render(&ListPage {
        l: s.layout("transactions"),
        rows,
        next,
        kinds: &["preauth", "payment", "refund"],
        statuses: TxStatus::ALL.iter().map(|st| st.name()).collect(),
        merchants: names.into_iter().collect(),
        problem: problem.clone(),
        q,
    });
    if problem.is_some() {
        *res.status_mut() = StatusCode::BAD_REQUEST;
    }
    res
}

fn row(t: &TransactionRecord, names: &std::collections::BTreeMap<String, String>) -> Row {
    Row {
        id: t.id.clone(),
        billwerk_id: t.billwerk_id.clone(),
        merchant: names
            .get(&t.merchant_id)
            .cloned()
            .unwrap_or_else(|| t.merchant_id.clone()),
        kind: t.kind.as_str(),
        status: t.status.name().into(),
        amount: format!("{} {}", t.requested_amount, t.currency),
        psp_id: t.psp_tx_id.clone().unwrap_or_default(),
        updated: when(t.last_updated),
    }
}

/// One entry of the timeline.
pub struct Event {
    pub at: Ticks,
    pub when: String,
    /// `request`, `psp`, `notification`, `state`, `parked`, `webhook`.
    pub kind: &'static str,
    pub title: String,
    pub detail: String,
}

/// A webhook delivery with its attempts, for the table under the timeline and its action.
pub struct Delivery {
    pub id: i64,
    pub webhook_type: i64,
    pub state: &'static str,
    pub attempts: i64,
    pub next: String,
    pub last_error: String,
    pub can_redeliver: bool,
}

#[derive(Template)]
#[template(path = "console/transaction.html")]
struct ShowPage {
    l: Layout,
    tx: Row,
    events: Vec<Event>,
    money: Vec<(&'static str, String)>,
    children: Vec<Row>,
    parent: Option<String>,
    agreement: Option<AgreementRecord>,
    deliveries: Vec<Delivery>,
    needs_reconcile: bool,
    can_act: bool,
}

/// `GET /console/transactions/{id}` (our id).
pub async fn show(s: Signed, Path(id): Path<String>) -> Response {
    match story(&s, &id).await {
        Ok(Some(page)) => render(&page),
        Ok(None) => error_page(
            StatusCode::NOT_FOUND,
            "No such transaction",
            "There is no transaction with this id among the merchants you may see.",
        ),
        Err(e) => store_error(&e),
    }
}

async fn story(s: &Signed, id: &str) -> Result<Option<ShowPage>, crate::store::StoreError> {
    let store = s.ctx.app.store.as_ref();
    let Some(tx) = store
        .transaction_any(id)
        .await?
        .filter(|t| s.sees(&t.merchant_id))
    else {
        return Ok(None);
    };
    let names = merchant_names(s).await?;
    let m = &tx.merchant_id;
    let history = store.history(m, &tx.id).await?;
    let calls = store.psp_calls(&tx.merchant_id, &tx.id).await?;
    let notes = store.notifications_of(&tx.merchant_id, &tx.id).await?;
    let parked = store.parked_for(m, &tx.id).await?;
    let outbox = store.deliveries_of(&tx.merchant_id, &tx.id).await?;
    let (items, chargebacks, children) = store.payment_parts(m, &tx.id).await?;
    let agreement = match &tx.agreement_id {
        Some(a) => store.get_agreement(m, a).await?,
        None => None,
    };

    let mut events = Vec::new();
    let mut push = |at: Ticks, kind, title: String, detail: String| {
        events.push(Event {
            at,
            when: when(at),
            kind,
            title,
            detail,
        })
    };
    push(
        tx.created_at,
        "request",
        format!(
            "Billwerk asked for a {} of {} {}",
            tx.kind.as_str(),
            tx.requested_amount,
            tx.currency
        ),
        match &tx.request_id {
            Some(r) => format!("transactionId {} · request id {r}", tx.billwerk_id),
            None => format!("transactionId {}", tx.billwerk_id),
        },
    );
    for c in &calls {
        let n = &c.note;
        push(
            c.at,
            "psp",
            format!("PSP call: {} ({} ms)", n.operation, n.duration_ms),
            [n.result_code.clone(), n.description.clone()]
                .into_iter()
                .flatten()
                .collect::<Vec<_>>()
                .join(" — "),
        );
    }
    for h in &history {
        push(
            h.at,
            "state",
            format!("State: {}", h.status),
            h.note.clone(),
        );
    }
    for n in &notes {
        push(
            n.received_at,
            "notification",
            format!("PSP notification: {}", n.event),
            format!("verdict: {}", n.outcome),
        );
    }
    for p in &parked {
        push(
            p.received_at,
            "parked",
            "Parked event, waiting for this transaction".into(),
            format!("event {}", p.dedupe_key),
        );
    }
    let mut deliveries = Vec::new();
    for o in &outbox {
        for a in store.list_attempts(o.id).await? {
            let result = match (a.http_status, &a.error) {
                (Some(code), _) => format!("HTTP {code}"),
                (None, Some(e)) => e.clone(),
                (None, None) => "no answer".into(),
            };
            push(
                a.at,
                "webhook",
                format!(
                    "Webhook {} (type {}) attempt: {result}",
                    o.id, o.webhook_type
                ),
                format!("{} ms", a.latency_ms),
            );
        }
        deliveries.push(Delivery {
            id: o.id,
            webhook_type: o.webhook_type,
            state: o.state.as_str(),
            attempts: o.attempts,
            next: if o.state == OutboxState::Pending {
                when(o.next_attempt_at)
            } else {
                String::new()
            },
            last_error: o.last_error.clone().unwrap_or_default(),
            can_redeliver: o.state != OutboxState::Pending,
        });
    }
    events.sort_by_key(|e| e.at);

    let money = money(&tx, &items, &chargebacks, &children);
    let can_act = s.can_act();
    Ok(Some(ShowPage {
        l: s.layout("transactions"),
        needs_reconcile: tx.needs_reconcile,
        parent: tx.parent_id.clone(),
        tx: row(&tx, &names),
        events,
        money,
        children: children.iter().map(|c| row(c, &names)).collect(),
        agreement,
        deliveries,
        can_act,
    }))
}

fn money(
    tx: &TransactionRecord,
    items: &[crate::store::PaymentItem],
    chargebacks: &[crate::store::Chargeback],
    children: &[TransactionRecord],
) -> Vec<(&'static str, String)> {
    let c = &tx.currency;
    let f = |d: Decimal| format!("{d} {c}");
    match tx.kind {
        TxKind::Preauth => vec![
            ("Authorized", f(tx.authorized_amount)),
            ("Captured", f(crate::store::captured(children))),
        ],
        TxKind::Payment => {
            let t = PaymentTotals::of(items, chargebacks, children);
            vec![
                ("Paid", f(t.paid)),
                ("Refunded", f(t.refunded)),
                ("Refunds in flight", f(t.refunding)),
                ("Charged back", f(t.charged_back)),
                ("Chargebacks reversed", f(t.reversed)),
                ("Refundable", f(t.refundable())),
            ]
        }
        TxKind::Refund => vec![("Refund", f(tx.requested_amount))],
    }
}
