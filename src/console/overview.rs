//! Overview for the last 24 hours and 7 days, per merchant and PSP: transactions by status,
//! acceptance rate (succeeded of those that reached an outcome), the top decline reasons,
//! webhook delivery delay (p50/p99, from the change to the successful attempt) and PSP
//! notifications by verdict; each as a chart with its numbers in a table beside it.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::RawQuery;
use axum::response::Response;

use super::{Layout, Signed, render, store_error};
use crate::domain::TxError;

/// Successful deliveries sampled for the delay percentiles (the newest ones).
const DELAY_SAMPLE: i64 = 20_000;

/// One merchant's figures in the window.
pub struct MerchantFigures {
    pub name: String,
    pub psp: String,
    pub by_status: Vec<(String, i64)>,
    pub total: i64,
    /// `None` when nothing reached an outcome.
    pub acceptance: Option<String>,
    pub declines: Vec<(String, i64)>,
    pub delay_p50: Option<i64>,
    pub delay_p99: Option<i64>,
    pub delivered: usize,
    pub verdicts: Vec<(String, i64)>,
    /// SVG charts (trusted markup drawn by `charts`).
    pub status_chart: String,
    pub verdict_chart: String,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage {
    l: Layout,
    window: &'static str,
    merchants: Vec<MerchantFigures>,
}

/// The `p`-th percentile (0..=100) of sorted values, nearest rank.
pub fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// `GET /console/overview?window=24h|7d`.
pub async fn page(s: Signed, RawQuery(raw): RawQuery) -> Response {
    let seven = raw.as_deref().is_some_and(|q| q.contains("window=7d"));
    let (window, secs) = if seven {
        ("7d", 7 * 86_400)
    } else {
        ("24h", 86_400)
    };
    match figures(&s, secs).await {
        Ok(merchants) => render(&OverviewPage {
            l: s.layout("overview"),
            window,
            merchants,
        }),
        Err(e) => store_error(&e),
    }
}

async fn figures(s: &Signed, secs: i64) -> Result<Vec<MerchantFigures>, crate::store::StoreError> {
    let store = s.ctx.app.store.as_ref();
    let since = s.now().plus_seconds(-secs);
    let merchants: Vec<_> = store
        .list_merchants()
        .await?
        .into_iter()
        .filter(|m| s.sees(&m.id))
        .collect();
    let statuses = store.status_counts(since).await?;
    let declines = store.decline_counts(since).await?;
    let verdicts = store.verdict_counts(since).await?;
    let mut delays: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (m, d) in store.delivery_delays(since, DELAY_SAMPLE).await? {
        delays.entry(m).or_default().push(d);
    }
    let mut out = Vec::new();
    for m in merchants {
        let by_status: Vec<(String, i64)> = statuses
            .iter()
            .filter(|c| c.merchant_id == m.id)
            .map(|c| (c.status.clone(), c.count))
            .collect();
        let count = |name: &str| {
            by_status
                .iter()
                .filter(|(st, _)| st == name)
                .map(|(_, n)| n)
                .sum::<i64>()
        };
        let ok = count("Succeeded");
        let decided = ok + count("Failed");
        let acceptance =
            (decided > 0).then(|| format!("{:.1} %", ok as f64 * 100.0 / decided as f64));
        let mut reasons: BTreeMap<String, i64> = BTreeMap::new();
        for d in declines.iter().filter(|d| d.merchant_id == m.id) {
            let why = serde_json::from_str::<TxError>(&d.error_json)
                .map(|e| format!("{} ({})", e.code, e.psp_code.unwrap_or_default()))
                .unwrap_or_else(|_| "unreadable".into());
            *reasons.entry(why).or_default() += d.count;
        }
        let mut reasons: Vec<_> = reasons.into_iter().collect();
        reasons.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        reasons.truncate(5);
        let mut d = delays.remove(&m.id).unwrap_or_default();
        d.sort_unstable();
        let v: Vec<(String, i64)> = verdicts
            .iter()
            .filter(|c| c.merchant_id == m.id)
            .map(|c| (c.outcome.clone(), c.count))
            .collect();
        let chart = |rows: &[(String, i64)]| {
            super::charts::bars(
                &rows
                    .iter()
                    .map(|(l, n)| (l.clone(), *n as f64))
                    .collect::<Vec<_>>(),
            )
        };
        out.push(MerchantFigures {
            name: m.name,
            psp: m.psp,
            total: by_status.iter().map(|(_, n)| n).sum(),
            status_chart: chart(&by_status),
            verdict_chart: chart(&v),
            by_status,
            acceptance,
            declines: reasons,
            delay_p50: percentile(&d, 50.0),
            delay_p99: percentile(&d, 99.0),
            delivered: d.len(),
            verdicts: v,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::percentile;

    #[test]
    fn percentiles_by_nearest_rank() {
        let v: Vec<i64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
