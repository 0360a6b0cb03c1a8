//! The outbox worker: claims due rows with a lease (short DB transaction), POSTs each webhook with
//! no DB transaction open, then records the attempt and the outcome (another short transaction).
//! Rows of one round are delivered concurrently (at most `batch_size` at once), so one slow target
//! does not hold up the others.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use super::policy::{GuardedResolver, TargetPolicy};
use super::schedule::{after, is_dead, next_delay, parse_retry_after};
use crate::config::WebhooksSection;
use crate::contract::responses::Webhook;
use crate::domain::{Clock, Ticks, WebhookType};
use crate::store::Store;
use crate::store::outbox::{Attempt, ClaimWindow, Finish, Finished, OutboxRow};

/// Response bodies are kept up to this many characters.
const EXCERPT_CHARS: usize = 512;
/// Read at most this many bytes of a response (enough for the excerpt).
const EXCERPT_BYTES: usize = 4 * EXCERPT_CHARS;
const USER_AGENT: &str = concat!("psp-integrator/", env!("CARGO_PKG_VERSION"));

/// What one round did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub claimed: usize,
    pub delivered: usize,
    /// Sent, but changed meanwhile: stays pending for the newer content.
    pub superseded: usize,
    pub rescheduled: usize,
    pub dead: usize,
    pub lease_lost: usize,
    /// Store errors (claim or finish); the rows are retried once their lease expires.
    pub errors: usize,
}

/// Delivers the outbox.
#[derive(Debug)]
pub struct Worker {
    store: Arc<dyn Store>,
    client: reqwest::Client,
    cfg: WebhooksSection,
    policy: TargetPolicy,
    clock: Arc<dyn Clock>,
    wake: Arc<tokio::sync::Notify>,
}

impl Worker {
    /// The HTTP client follows no redirects, ignores proxy settings and, unless private targets
    /// are allowed, refuses names that resolve to private addresses.
    pub fn new(
        store: Arc<dyn Store>,
        cfg: WebhooksSection,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, reqwest::Error> {
        let policy = TargetPolicy::new(&cfg);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(Duration::from_secs(cfg.request_timeout_secs.max(1)))
            .user_agent(USER_AGENT)
            .dns_resolver(Arc::new(GuardedResolver {
                allow_private: policy.allow_private(),
            }))
            .build()?;
        Ok(Self {
            store,
            client,
            cfg,
            policy,
            clock,
            wake: Arc::default(),
        })
    }

    /// Starts the next round as soon as `wake` is notified (a change queued a webhook) rather
    /// than after the poll interval.
    pub fn woken_by(mut self, wake: Arc<tokio::sync::Notify>) -> Self {
        self.wake = wake;
        self
    }

    fn window(&self, now: Ticks) -> ClaimWindow {
        let ms = |v: u64| {
            Ticks(
                now.0
                    .saturating_sub(i64::try_from(v).unwrap_or(i64::MAX).saturating_mul(10_000)),
            )
        };
        ClaimWindow {
            settled_before: ms(self.cfg.coalesce_quiet_ms),
            overdue_before: ms(self.cfg.coalesce_max_wait_ms),
        }
    }

    /// Claims the rows due at `now` and delivers them; never panics on store or HTTP errors.
    #[tracing::instrument(level = "error", name = "outbox_round", skip_all)]
    pub async fn run_once(&self, now: Ticks) -> RunReport {
        let mut report = RunReport::default();
        let lease_until = now.plus_seconds(i64::try_from(self.cfg.lease_secs).unwrap_or(60));
        let rows = match self
            .store
            .claim_due(
                now,
                lease_until,
                self.window(now),
                self.cfg.batch_size.max(1),
            )
            .await
        {
            Ok(rows) => rows,
            Err(e) => {
                tracing::error!(error = %e, "outbox claim failed");
                report.errors += 1;
                return report;
            }
        };
        report.claimed = rows.len();
        let outcomes = join_all(rows.iter().map(|row| self.deliver(row, now))).await;
        for outcome in outcomes {
            match outcome {
                Ok(Finished::Delivered) => report.delivered += 1,
                Ok(Finished::Superseded) => report.superseded += 1,
                Ok(Finished::Rescheduled) => report.rescheduled += 1,
                Ok(Finished::Dead) => report.dead += 1,
                Ok(Finished::LeaseLost) => report.lease_lost += 1,
                Err(()) => report.errors += 1,
            }
        }
        report
    }

    /// Runs rounds until `shutdown` is cancelled; pauses `poll_interval_ms` (or until woken)
    /// when a round found less than a full batch.
    pub async fn run(self, shutdown: CancellationToken) {
        let pause = Duration::from_millis(self.cfg.poll_interval_ms.max(1));
        while !shutdown.is_cancelled() {
            let report = self.run_once(self.clock.now()).await;
            let full = report.claimed >= self.cfg.batch_size.max(1) as usize;
            if full && report.errors == 0 {
                continue;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
            }
        }
    }

    #[tracing::instrument(level = "error", name = "webhook", skip_all,
        fields(transaction_id = %row.billwerk_id, merchant_id = %row.merchant_id, outbox_id = row.id))]
    async fn deliver(&self, row: &OutboxRow, now: Ticks) -> Result<Finished, ()> {
        let (attempt, finish) = self.attempt(row, now).await;
        tracing::info!(
            outbox_id = row.id,
            merchant_id = %row.merchant_id,
            transaction_id = %row.billwerk_id,
            status = attempt.http_status,
            latency_ms = attempt.latency_ms,
            error = attempt.error.as_deref(),
            outcome = %describe(&finish),
            "webhook attempt"
        );
        crate::telemetry::webhook_attempt(match finish {
            Finish::Delivered => "delivered",
            Finish::Retry { .. } => "retry",
            Finish::Dead { .. } => "dead",
        });
        self.store
            .finish(row, &attempt, &finish)
            .await
            .map_err(|e| tracing::error!(outbox_id = row.id, error = %e, "outbox finish failed"))
    }

    async fn attempt(&self, row: &OutboxRow, now: Ticks) -> (Attempt, Finish) {
        let mut attempt = Attempt {
            at: now,
            http_status: None,
            latency_ms: 0,
            response_excerpt: None,
            error: None,
        };
        let url = match self.policy.check_str(&row.target_url) {
            Ok(url) => url,
            Err(reason) => {
                let reason = format!("target refused: {reason}");
                attempt.error = Some(reason.clone());
                return (attempt, Finish::Dead { reason });
            }
        };
        let started = Instant::now();
        let sent = self.client.post(url).json(&webhook_body(row)).send().await;
        let (retry_after, ok) = match sent {
            Ok(resp) => {
                let status = resp.status();
                attempt.http_status = Some(status.as_u16());
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| parse_retry_after(v, now.to_datetime()));
                attempt.response_excerpt = Some(read_excerpt(resp).await);
                (retry_after, status.is_success())
            }
            Err(e) => {
                attempt.error = Some(error_chain(&e));
                (None, false)
            }
        };
        attempt.latency_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let finish = if ok {
            Finish::Delivered
        } else {
            self.after_failure(row, now, retry_after, &attempt)
        };
        (attempt, finish)
    }

    fn after_failure(
        &self,
        row: &OutboxRow,
        now: Ticks,
        retry_after: Option<Duration>,
        attempt: &Attempt,
    ) -> Finish {
        let give_up = Duration::from_secs(self.cfg.give_up_after_secs);
        if is_dead(row.pending_since, now, give_up) {
            let last = attempt
                .error
                .clone()
                .or_else(|| attempt.http_status.map(|s| format!("HTTP {s}")))
                .unwrap_or_default();
            return Finish::Dead {
                reason: format!("gave up after {} attempts: {last}", row.attempts + 1),
            };
        }
        let delay = next_delay(
            u32::try_from(row.attempts).unwrap_or(u32::MAX),
            Duration::from_secs(self.cfg.first_retry_secs.max(1)),
            Duration::from_secs(self.cfg.max_retry_secs.max(1)),
            rand::random::<f64>(),
            retry_after,
        );
        Finish::Retry {
            next_attempt_at: after(now, delay),
        }
    }
}

/// The thin webhook (§12): which transaction changed; `AgreementId` only for type 4.
pub fn webhook_body(row: &OutboxRow) -> Webhook {
    let agreement = row.webhook_type == WebhookType::Agreement.number();
    Webhook {
        transaction_id: row.billwerk_id.clone(),
        agreement_id: if agreement {
            row.agreement_id.clone()
        } else {
            None
        },
        webhook_type: row.webhook_type,
    }
}

async fn read_excerpt(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < EXCERPT_BYTES {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    String::from_utf8_lossy(&buf)
        .chars()
        .take(EXCERPT_CHARS)
        .collect()
}

/// The error with its causes (reqwest's top-level text alone hides e.g. "connection refused").
fn error_chain(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text.chars().take(EXCERPT_CHARS).collect()
}

/// The decision for the log: times as RFC 3339.
fn describe(f: &Finish) -> String {
    match f {
        Finish::Delivered => "delivered".to_string(),
        Finish::Retry { next_attempt_at } => {
            format!("retry at {}", next_attempt_at.to_datetime().to_rfc3339())
        }
        Finish::Dead { reason } => format!("dead: {reason}"),
    }
}
