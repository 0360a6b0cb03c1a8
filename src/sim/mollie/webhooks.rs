//! Classic webhooks (§3.18): a form `POST` of `id=tr_…` to the payment's `webhookUrl`, no
//! signature, 15 s timeout, only 200 counts; ten attempts on Mollie's schedule, then give up.
//! Queued inside the state lock; sent by [`Sim::deliver_due`] outside it.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::Sim;
use super::state::State;

/// Waits before attempts 2–10: 1, 2, 4, 8, 16, 29 min, 1 h, 2 h, 22 h (26 h in all).
pub(crate) const RETRY_WAITS_SECS: [i64; 9] =
    [60, 120, 240, 480, 960, 29 * 60, 3600, 2 * 3600, 22 * 3600];
pub(crate) const MAX_ATTEMPTS: u32 = 10;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Delivery {
    pub id: u64,
    pub payment_id: String,
    pub url: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_at: DateTime<Utc>,
}

/// One HTTP attempt, recorded for assertions (`GET /__admin/webhooks/attempts`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// Sim-clock time, RFC 3339.
    pub time: String,
    pub payment_id: String,
    pub url: String,
    /// `None` when no HTTP answer arrived (refused, timeout).
    pub status: Option<u16>,
    pub error: Option<String>,
    /// 1 for the first attempt of a delivery.
    pub attempt: u32,
    /// The delivery was dropped after this failed attempt (the tenth).
    pub gave_up: bool,
}

#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Hooks {
    pub queue: Vec<Delivery>,
    pub attempts: Vec<Attempt>,
    pub next_id: u64,
}

impl State {
    /// Queues the webhook of payment `pid` (if it has a `webhookUrl`), honouring the fold and
    /// late-webhook knobs.
    pub(crate) fn notify(&mut self, pid: &str) {
        let now = self.now();
        let Some(p) = self.payments.get(pid) else {
            return;
        };
        let Some(url) = p.webhook_url.clone() else {
            return;
        };
        let final_status = p.status.is_final();
        let folded = self.knobs.fold_webhooks
            && self
                .hooks
                .queue
                .iter()
                .any(|d| d.payment_id == pid && d.attempts == 0);
        if !folded {
            self.push_delivery(pid, &url, now);
        }
        if final_status && self.knobs.late_webhook_secs > 0 {
            let at = now + Duration::seconds(self.knobs.late_webhook_secs);
            self.push_delivery(pid, &url, at);
        }
    }

    fn push_delivery(&mut self, pid: &str, url: &str, at: DateTime<Utc>) {
        self.hooks.next_id += 1;
        self.hooks.queue.push(Delivery {
            id: self.hooks.next_id,
            payment_id: pid.to_string(),
            url: url.to_string(),
            attempts: 0,
            next_at: at,
        });
    }

    /// Applies one attempt's outcome: done, rescheduled, or given up after the tenth.
    fn settle(&mut self, delivery_id: u64, ok: bool) -> bool {
        let now = self.now();
        let divisor = i64::from(self.knobs.retry_divisor.max(1));
        let Some(i) = self.hooks.queue.iter().position(|d| d.id == delivery_id) else {
            return false;
        };
        if ok {
            self.hooks.queue.remove(i);
            return false;
        }
        let d = &mut self.hooks.queue[i];
        d.attempts += 1;
        if d.attempts >= MAX_ATTEMPTS {
            self.hooks.queue.remove(i);
            return true;
        }
        let wait = RETRY_WAITS_SECS[(d.attempts - 1) as usize] * 1000 / divisor;
        d.next_at = now + Duration::milliseconds(wait);
        false
    }
}

/// The POST itself; `(status, error)`. Redirects 301/302 are followed as GET without body
/// (reqwest's default policy, as Mollie does); only 200 is success.
async fn post(client: &reqwest::Client, url: &str, pid: &str) -> (Option<u16>, Option<String>) {
    let body = serde_urlencoded::to_string([("id", pid)]).unwrap_or_default();
    let sent = client
        .post(url)
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let s = r.status().as_u16();
            (Some(s), (s != 200).then(|| format!("HTTP {s}")))
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

impl Sim {
    /// Sends every delivery due on the sim clock and reschedules failures; returns the attempts.
    pub async fn deliver_due(&self) -> Vec<Attempt> {
        self.deliver(None).await
    }

    /// Sends the queued, untried webhook of `pid` at once (the webhook-before-answer knob).
    pub(crate) async fn deliver_now(&self, pid: &str) -> Vec<Attempt> {
        self.deliver(Some(pid)).await
    }

    async fn deliver(&self, only: Option<&str>) -> Vec<Attempt> {
        let _one_at_a_time = self.inner.delivering.lock().await;
        let (batch, duplicate) = self.with_state(|st, _| {
            let now = st.now();
            let due: Vec<Delivery> = st
                .hooks
                .queue
                .iter()
                .filter(|d| match only {
                    Some(pid) => d.payment_id == pid && d.attempts == 0,
                    None => !st.knobs.hold_webhooks && d.next_at <= now,
                })
                .cloned()
                .collect();
            (due, st.knobs.duplicate_webhooks)
        });
        let mut out = Vec::new();
        for d in batch {
            // Armed before the call: the receiver's own fetch while it handles the webhook is
            // the one that sees the 404 (mollie-api-node#295).
            self.with_state(|st, _| {
                if st.knobs.transient_404_gets > 0 {
                    let n = st.knobs.transient_404_gets;
                    st.transient_404.insert(d.payment_id.clone(), n);
                }
            });
            let copies = if duplicate { 2 } else { 1 };
            let mut results = Vec::new();
            for _ in 0..copies {
                results.push(post(&self.inner.client, &d.url, &d.payment_id).await);
            }
            let ok = results.iter().any(|(s, _)| *s == Some(200));
            self.with_state(|st, _| {
                let gave_up = st.settle(d.id, ok);
                let time = st.now().to_rfc3339();
                for (status, error) in results {
                    let a = Attempt {
                        time: time.clone(),
                        payment_id: d.payment_id.clone(),
                        url: d.url.clone(),
                        status,
                        error,
                        attempt: d.attempts + 1,
                        gave_up,
                    };
                    st.hooks.attempts.push(a.clone());
                    out.push(a);
                }
            });
        }
        out
    }

    /// Deliveries queued and not yet done (including those waiting for a retry).
    pub fn pending_deliveries(&self) -> usize {
        self.with_state(|st, _| st.hooks.queue.len())
    }

    /// Every attempt so far, oldest first.
    pub fn webhook_attempts(&self) -> Vec<Attempt> {
        self.with_state(|st, _| st.hooks.attempts.clone())
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(15))
        .build()
        .unwrap_or_default()
}

/// `auto_deliver`: calls [`Sim::deliver_due`] every second until `shutdown`.
pub(crate) fn spawn_auto_delivery(sim: Sim, shutdown: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tick.tick() => {
                    sim.deliver_due().await;
                }
            }
        }
    });
}
