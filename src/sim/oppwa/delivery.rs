//! Sending queued webhooks (§6.4, §11.17): due batches on the sim clock, retry ladder, failing
//! destinations held back, delivery faults, the activation test and the optional auto-delivery loop.

use std::collections::HashSet;
use std::future::Future;

use chrono::Duration;
use serde::Serialize;
use tokio_util::sync::CancellationToken;

use super::crypto::encrypt_notification;
use super::state::State;
use super::util::fmt_timestamp;
use super::webhooks::{Attempt, WebhookConfig};
use super::{Sim, SimConfig};

/// The "Click to Test" activation message (§6.1).
pub(crate) const ACTIVATION_TEST: &str = r#"{"type":"test","action":"webhook activation","payload":{"result":{"code":"000.100.110","description":"Request successfully processed in 'Merchant in Integrator Test Mode'"}}}"#;

/// Retries stop once the next one would fall later than this after the event.
const GIVE_UP_SECS: i64 = 30 * 24 * 3600;
const LADDER_SECS: &[i64] = &[60, 120, 240, 480, 900, 1800, 3600];
const DAILY_SECS: i64 = 24 * 3600;

/// One HTTP attempt made by [`Sim::deliver_due`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryReport {
    pub webhook_id: u64,
    pub url: String,
    #[serde(rename = "type")]
    pub type_: String,
    /// `None` when no HTTP answer arrived (refused, timeout, encryption error).
    pub status: Option<u16>,
    pub error: Option<String>,
    /// 1 for the first attempt of a message.
    pub attempt: u32,
}

/// Delay before retry number `failures` (1 = after the first failure).
pub(crate) fn retry_delay(failures: u32) -> Duration {
    let i = failures.saturating_sub(1) as usize;
    Duration::seconds(LADDER_SECS.get(i).copied().unwrap_or(DAILY_SECS))
}

struct Outgoing {
    delivery_id: u64,
    webhook_id: u64,
    url: String,
    secret: String,
    body: String,
    type_: String,
    attempt: u32,
}

fn secret_of(c: &WebhookConfig, cfg: &SimConfig) -> String {
    if c.secret_hex.is_empty() {
        cfg.webhook_secret.clone()
    } else {
        c.secret_hex.clone()
    }
}

/// Everything due now, in queue order, skipping destinations that are still held back.
fn due_batch(st: &State, cfg: &SimConfig) -> Vec<Outgoing> {
    let now = st.now();
    let h = &st.hooks;
    if h.faults.hold {
        return Vec::new();
    }
    let mut batch: Vec<Outgoing> = h
        .queue
        .iter()
        .filter(|d| d.next_at <= now)
        .filter(|d| h.blocked_until.get(&d.webhook_id).is_none_or(|b| *b <= now))
        .filter_map(|d| {
            let w = h.get(d.webhook_id)?;
            Some(Outgoing {
                delivery_id: d.id,
                webhook_id: d.webhook_id,
                url: w.config.url.clone(),
                secret: secret_of(&w.config, cfg),
                body: d.body.clone(),
                type_: d.type_.clone(),
                attempt: d.attempts + 1,
            })
        })
        .collect();
    if h.faults.reverse_order {
        batch.reverse();
    }
    batch
}

async fn post(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
    body: &str,
) -> (Option<u16>, Option<String>) {
    let enc = match encrypt_notification(secret, body.as_bytes(), None) {
        Ok(e) => e,
        Err(e) => return (None, Some(e)),
    };
    let sent = client
        .post(url)
        .header("Content-Type", "text/plain")
        .header("X-Initialization-Vector", enc.iv_hex)
        .header("X-Authentication-Tag", enc.tag_hex)
        .body(enc.body_hex)
        .send()
        .await;
    match sent {
        Ok(r) => {
            let s = r.status().as_u16();
            let err = (!(200..300).contains(&s)).then(|| format!("HTTP {s}"));
            (Some(s), err)
        }
        Err(e) => (None, Some(e.to_string())),
    }
}

fn record(st: &mut State, r: &DeliveryReport) {
    let time = fmt_timestamp(st.now());
    st.hooks.attempts.push(Attempt {
        time,
        webhook_id: r.webhook_id,
        url: r.url.clone(),
        type_: r.type_.clone(),
        status: r.status,
        error: r.error.clone(),
        attempt: r.attempt,
    });
}

/// Applies one message's outcome; returns `true` when it was dropped for good after 30 days.
fn settle_outcome(st: &mut State, delivery_id: u64, webhook_id: u64, ok: bool) -> bool {
    let now = st.now();
    let h = &mut st.hooks;
    let Some(i) = h.queue.iter().position(|d| d.id == delivery_id) else {
        return false;
    };
    if ok {
        h.queue.remove(i);
        h.blocked_until.remove(&webhook_id);
        return false;
    }
    let d = &mut h.queue[i];
    d.attempts += 1;
    d.next_at = now + retry_delay(d.attempts);
    let next_at = d.next_at;
    let expired = next_at - d.created_at > Duration::seconds(GIVE_UP_SECS);
    h.blocked_until.insert(webhook_id, next_at);
    if expired {
        h.queue.remove(i);
    }
    expired
}

impl Sim {
    /// Sends every delivery due on the sim clock (30 s timeout each) and reschedules failures.
    pub async fn deliver_due(&self) -> Vec<DeliveryReport> {
        let _one_at_a_time = self.inner.delivering.lock().await;
        self.with_state(|st, cfg| {
            if let Some(after) = cfg.settle_after_secs {
                st.settle_due(after);
            }
        });
        let (batch, duplicate) =
            self.with_state(|st, cfg| (due_batch(st, cfg), st.hooks.faults.duplicate));
        let mut failing: HashSet<u64> = HashSet::new();
        let mut reports = Vec::new();
        for s in batch {
            // Failing retrial pattern: after one failure, the rest for that URL waits.
            if failing.contains(&s.webhook_id) {
                continue;
            }
            let copies = if duplicate { 2 } else { 1 };
            let mut mine = Vec::new();
            for _ in 0..copies {
                let (status, error) = post(&self.inner.client, &s.url, &s.secret, &s.body).await;
                mine.push(DeliveryReport {
                    webhook_id: s.webhook_id,
                    url: s.url.clone(),
                    type_: s.type_.clone(),
                    status,
                    error,
                    attempt: s.attempt,
                });
            }
            let ok = mine.iter().any(|r| r.error.is_none());
            let gave_up =
                self.with_state(|st, _| settle_outcome(st, s.delivery_id, s.webhook_id, ok));
            if !ok {
                failing.insert(s.webhook_id);
            }
            for mut r in mine {
                if gave_up {
                    r.error = r.error.map(|e| format!("{e}; gave up after 30 days"));
                }
                self.with_state(|st, _| record(st, &r));
                reports.push(r);
            }
        }
        reports
    }

    /// Sends the activation test to webhook `id`; HTTP 200 activates it. Returns the HTTP status.
    pub fn activate_webhook(
        &self,
        id: u64,
    ) -> impl Future<Output = Result<u16, String>> + Send + 'static {
        let sim = self.clone();
        async move {
            let (url, secret) = sim
                .with_state(|st, cfg| {
                    st.hooks
                        .get(id)
                        .map(|w| (w.config.url.clone(), secret_of(&w.config, cfg)))
                })
                .ok_or_else(|| format!("unknown webhook {id}"))?;
            let (status, error) = post(&sim.inner.client, &url, &secret, ACTIVATION_TEST).await;
            let report = DeliveryReport {
                webhook_id: id,
                url,
                type_: "test".into(),
                status,
                error: error.clone(),
                attempt: 1,
            };
            sim.with_state(|st, _| {
                record(st, &report);
                if let (Some(200), Some(w)) =
                    (status, st.hooks.webhooks.iter_mut().find(|w| w.id == id))
                {
                    w.active = true;
                }
            });
            status.ok_or_else(|| error.unwrap_or_else(|| "no response".into()))
        }
    }

    /// Queued messages not yet delivered (incl. those waiting for a retry).
    pub fn pending_deliveries(&self) -> usize {
        self.with_state(|st, _| st.hooks.queue.len())
    }
}

/// `SimConfig::auto_deliver`: calls [`Sim::deliver_due`] every second until `shutdown`.
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
