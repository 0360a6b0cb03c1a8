//! Coalescing, a change during an in-flight delivery, retries, Retry-After, the horizon and
//! redelivery.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::flows::operators::deliveries::{
    format_table, list_failed, redeliver_one, redeliver_since,
};
use crate::store::outbox::Redelivered;

pub(super) async fn burst_coalesces_to_one_webhook(env: Env) {
    let mut tx = new_tx(&env, "b1", &env.hook.url("/hook")).await;
    for i in 0..50 {
        let kind = if i == 49 {
            WebhookType::Preauth
        } else {
            WebhookType::Payment
        };
        tx = change(&env, &tx, secs(env.t0, 1), TxStatus::Pending, kind).await;
    }
    let w = worker(&env.store, cfg());
    let now = secs(env.t0, 2);
    let report = w.run_once(now).await;
    assert_eq!((report.claimed, report.delivered), (1, 1), "{report:?}");
    assert_eq!(w.run_once(secs(now, 1)).await.claimed, 0);
    let got = env.hook.received();
    assert!(!got.is_empty() && got.len() <= 2, "{got:?}");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].body["TransactionId"], "b1");
    assert_eq!(type_of(&got[0].body), 1, "the latest change wins");
    assert_eq!(only_row(&env).await.state, OutboxState::Delivered);
}

pub(super) async fn change_during_delivery_is_not_lost(env: Env) {
    let tx = new_tx(&env, "b1", &env.hook.url("/hook")).await;
    let tx = change(
        &env,
        &tx,
        secs(env.t0, 1),
        TxStatus::Pending,
        WebhookType::Payment,
    )
    .await;
    env.hook.set_delay(Some(Duration::from_millis(400)));
    let w = Arc::new(worker(&env.store, cfg()));
    let now = secs(env.t0, 2);
    let running = tokio::spawn({
        let w = w.clone();
        async move { w.run_once(now).await }
    });
    while env.hook.received().is_empty() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    change(
        &env,
        &tx,
        secs(env.t0, 2),
        TxStatus::Succeeded,
        WebhookType::Refund,
    )
    .await;
    let report = running.await.expect("join");
    assert_eq!(report.superseded, 1, "{report:?}");
    let row = only_row(&env).await;
    assert_eq!((row.state, row.webhook_type), (PENDING, 3));
    env.hook.set_delay(None);
    let report = w.run_once(secs(env.t0, 3)).await;
    assert_eq!(report.delivered, 1, "{report:?}");
    let got = env.hook.received();
    assert_eq!(got.len(), 2);
    assert_eq!((type_of(&got[0].body), type_of(&got[1].body)), (2, 3));
    assert_eq!(w.run_once(secs(env.t0, 4)).await.claimed, 0);
    assert_eq!(
        env.store
            .list_attempts(row.id)
            .await
            .expect("attempts")
            .len(),
        2
    );
}

pub(super) async fn retries_until_recovery(env: Env) {
    let tx = new_tx(&env, "b1", &env.hook.url("/hook")).await;
    change(&env, &tx, env.t0, TxStatus::Pending, WebhookType::Payment).await;
    env.hook.set_status(500);
    let w = worker(&env.store, cfg());
    let mut now = secs(env.t0, 1);
    for n in 1..=4 {
        if n == 4 {
            env.hook.set_status(200);
        }
        let before = only_row(&env).await;
        if n > 1 {
            let early = Ticks(before.next_attempt_at.0 - 1);
            assert_eq!(w.run_once(early).await.claimed, 0, "not due yet");
            now = before.next_attempt_at;
        }
        let report = w.run_once(now).await;
        assert_eq!(report.claimed, 1, "round {n}: {report:?}");
        let after = only_row(&env).await;
        if n < 4 {
            assert_eq!((after.state, after.attempts), (PENDING, n));
            // Equal jitter: at least half of first * 2^(n-1).
            let min = 15 * (1 << (n - 1));
            assert!(after.next_attempt_at >= secs(now, min), "round {n}");
            assert!(after.next_attempt_at <= secs(now, 2 * min), "round {n}");
        } else {
            assert_eq!(after.state, OutboxState::Delivered);
        }
    }
    let statuses: Vec<u16> = env
        .hook
        .received()
        .iter()
        .map(|r| r.status_returned)
        .collect();
    assert_eq!(statuses, vec![500, 500, 500, 200]);
    let row = only_row(&env).await;
    let attempts = env.store.list_attempts(row.id).await.expect("attempts");
    let recorded: Vec<Option<u16>> = attempts.iter().map(|a| a.http_status).collect();
    assert_eq!(recorded, vec![Some(500), Some(500), Some(500), Some(200)]);
    assert!(
        attempts
            .iter()
            .all(|a| a.latency_ms >= 0 && a.error.is_none())
    );
    let excerpt = attempts[0].response_excerpt.as_deref().unwrap_or_default();
    assert!(excerpt.contains("stand-in answered 500"), "{excerpt}");
    assert_eq!(w.run_once(secs(now, 100_000)).await.claimed, 0);
}

pub(super) async fn retry_after_is_honoured(env: Env) {
    let tx = new_tx(&env, "b1", &env.hook.url("/hook")).await;
    change(&env, &tx, env.t0, TxStatus::Pending, WebhookType::Payment).await;
    env.hook.set_status(503);
    env.hook.set_retry_after(Some("120".into()));
    let w = worker(&env.store, cfg());
    let now = secs(env.t0, 1);
    assert_eq!(w.run_once(now).await.rescheduled, 1);
    let row = only_row(&env).await;
    assert!(row.next_attempt_at >= secs(now, 120), "{row:?}");
    assert_eq!(w.run_once(secs(now, 119)).await.claimed, 0);
    env.hook.set_status(202);
    assert_eq!(w.run_once(row.next_attempt_at).await.delivered, 1);
}

pub(super) async fn horizon_then_redeliver(env: Env) {
    let tx = new_tx(&env, "b1", &env.hook.url("/hook")).await;
    let tx = change(&env, &tx, env.t0, TxStatus::Pending, WebhookType::Payment).await;
    env.hook.set_status(500);
    let w = worker(
        &env.store,
        WebhooksSection {
            give_up_after_secs: 3600,
            ..cfg()
        },
    );
    assert_eq!(w.run_once(secs(env.t0, 1)).await.rescheduled, 1);
    assert_eq!(w.run_once(secs(env.t0, 3601)).await.dead, 1);
    let dead = only_row(&env).await;
    assert_eq!((dead.state, dead.attempts), (OutboxState::Dead, 2));
    assert!(
        dead.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("gave up")
    );
    let failed = list_failed(&env.store, None).await.expect("list_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].last_attempt.as_ref().and_then(|a| a.http_status),
        Some(500)
    );
    assert!(
        format_table(&failed).contains(" dead "),
        "{}",
        format_table(&failed)
    );
    env.hook.set_status(200);
    let later = secs(SystemClock.now(), 1);
    let r = redeliver_one(&env.store, dead.id).await.expect("redeliver");
    assert_eq!(r, Redelivered::Requeued);
    assert_eq!(w.run_once(later).await.delivered, 1);
    assert_eq!(env.hook.received().len(), 3);
    assert!(
        list_failed(&env.store, None)
            .await
            .expect("list")
            .is_empty()
    );
    // All since t0: the delivered row again.
    assert_eq!(redeliver_since(&env.store, env.t0).await.expect("since"), 1);
    assert_eq!(w.run_once(secs(later, 1)).await.delivered, 1);
    assert_eq!(env.hook.received().len(), 4);
    // A newer pending row for the same transaction takes the redelivery instead.
    env.hook.set_status(500);
    change(
        &env,
        &tx,
        secs(later, 2),
        TxStatus::Succeeded,
        WebhookType::Payment,
    )
    .await;
    let pending = rows(&env)
        .await
        .into_iter()
        .find(|r| r.state == PENDING)
        .expect("pending");
    let r = redeliver_one(&env.store, dead.id).await.expect("redeliver");
    assert_eq!(r, Redelivered::MergedIntoPending(pending.id));
    assert!(matches!(
        redeliver_one(&env.store, 999_999).await,
        Err(crate::store::StoreError::NotFound)
    ));
}
