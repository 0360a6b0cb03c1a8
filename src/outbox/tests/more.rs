//! Body shape, the allow-list at delivery time, two workers on one database, and a crash after
//! the claim.

use std::collections::HashMap;

use super::*;
use crate::domain::{AgreementStatus, Bearer};
use crate::store::AgreementRecord;
use crate::store::outbox::ClaimWindow;

pub(super) async fn body_shape_and_agreement_topic(env: Env) {
    let tx = new_tx(
        &env,
        "20221108-636a91f61c48d9fa186166f8",
        &env.hook.url("/PSPWebhooks/X"),
    )
    .await;
    let tx = change(&env, &tx, env.t0, TxStatus::Pending, WebhookType::Payment).await;
    let agreement = AgreementRecord {
        merchant_id: "m1".into(),
        agreement_id: "636a918ca2500caaf0390a15".into(),
        status: AgreementStatus::Inactive,
        role: Some(Role::Debit),
        currency: Some("EUR".into()),
        bearer: Bearer::default(),
        credential: None,
        initial_psp_tx_id: None,
        is_debit: true,
        updated_at: env.t0,
    };
    let u = TxUpdate {
        agreement: Some(agreement),
        notify: Some(WebhookType::Agreement),
        ..TxUpdate::default()
    };
    env.store
        .apply_update("m1", &tx.id, tx.last_updated, secs(env.t0, 1), &u)
        .await
        .expect("agreement change");
    assert_eq!(
        rows(&env).await.len(),
        2,
        "agreement webhooks do not coalesce"
    );
    let w = worker(&env.store, cfg());
    assert_eq!(w.run_once(secs(env.t0, 2)).await.delivered, 2);
    let mut got = env.hook.received();
    got.sort_by_key(|r| r.raw.clone());
    let raws: Vec<&str> = got.iter().map(|r| r.raw.as_str()).collect();
    assert_eq!(
        raws,
        vec![
            r#"{"TransactionId":"20221108-636a91f61c48d9fa186166f8","AgreementId":"636a918ca2500caaf0390a15","Type":4}"#,
            r#"{"TransactionId":"20221108-636a91f61c48d9fa186166f8","AgreementId":null,"Type":2}"#,
        ]
    );
    for r in &got {
        assert_eq!(r.path, "/PSPWebhooks/X");
        assert_eq!(r.content_type.as_deref(), Some("application/json"));
        let ua = r.user_agent.as_deref().unwrap_or_default();
        assert!(ua.starts_with("psp-integrator/"), "{ua}");
    }
}

pub(super) async fn refused_target_is_dead_not_sent(env: Env) {
    let tx = new_tx(&env, "b1", "http://evil.example/hook").await;
    change(&env, &tx, env.t0, TxStatus::Pending, WebhookType::Payment).await;
    let tx2 = new_tx(&env, "b2", &env.hook.url("/hook")).await;
    change(&env, &tx2, env.t0, TxStatus::Pending, WebhookType::Payment).await;
    // Loopback listed but private targets not allowed: refused as well.
    let strict = worker(
        &env.store,
        WebhooksSection {
            allow_private_targets: false,
            ..cfg()
        },
    );
    let report = strict.run_once(secs(env.t0, 1)).await;
    assert_eq!((report.claimed, report.dead), (2, 2), "{report:?}");
    assert!(env.hook.received().is_empty());
    let all = rows(&env).await;
    assert!(
        all[0]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("allow-list")
    );
    assert!(
        all[1]
            .last_error
            .as_deref()
            .unwrap_or_default()
            .contains("private")
    );
}

pub(super) async fn two_workers_deliver_each_once(env: Env) {
    const N: usize = 40;
    for i in 0..N {
        let tx = new_tx(&env, &format!("b{i}"), &env.hook.url("/hook")).await;
        change(&env, &tx, env.t0, TxStatus::Pending, WebhookType::Payment).await;
    }
    env.hook
        .set_delay(Some(std::time::Duration::from_millis(20)));
    // Two replicas: separate pools on one database.
    let other = if env.url.starts_with("sqlite") {
        connect_sqlite(&env.url).await
    } else {
        connect_postgres(&env.url, 5).await
    }
    .expect("second pool");
    let small = WebhooksSection {
        batch_size: 7,
        ..cfg()
    };
    let (w1, w2) = (worker(&env.store, small.clone()), worker(&other, small));
    let now = secs(env.t0, 1);
    loop {
        let (a, b) = tokio::join!(w1.run_once(now), w2.run_once(now));
        assert_eq!(
            a.errors + b.errors + a.lease_lost + b.lease_lost,
            0,
            "{a:?} {b:?}"
        );
        if a.claimed + b.claimed == 0 {
            break;
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    for r in env.hook.received() {
        let id = r.body["TransactionId"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        *seen.entry(id).or_default() += 1;
    }
    assert_eq!(seen.len(), N);
    assert!(seen.values().all(|&n| n == 1), "{seen:?}");
}

pub(super) async fn crash_after_claim_is_redelivered(env: Env) {
    let tx = new_tx(&env, "b1", &env.hook.url("/hook")).await;
    change(&env, &tx, env.t0, TxStatus::Succeeded, WebhookType::Payment).await;
    let now = secs(env.t0, 1);
    // A worker claimed the row and died before sending.
    let claimed = env
        .store
        .claim_due(now, secs(now, 60), ClaimWindow::immediate(now), 10)
        .await
        .expect("claim");
    assert_eq!(claimed.len(), 1);
    let w = worker(&env.store, cfg());
    assert_eq!(
        w.run_once(secs(now, 59)).await.claimed,
        0,
        "lease still held"
    );
    assert_eq!(w.run_once(secs(now, 60)).await.delivered, 1);
    assert_eq!(env.hook.received().len(), 1);
    // The dead worker's late finish does not undo anything.
    let attempt = crate::store::outbox::Attempt {
        at: now,
        http_status: None,
        latency_ms: 0,
        response_excerpt: None,
        error: Some("crashed".into()),
    };
    let late = env
        .store
        .finish(
            &claimed[0],
            &attempt,
            &crate::store::outbox::Finish::Delivered,
        )
        .await
        .expect("finish");
    assert_eq!(late, crate::store::outbox::Finished::LeaseLost);
    assert_eq!(only_row(&env).await.state, OutboxState::Delivered);
}

pub(super) async fn run_loop_delivers_and_stops(env: Env) {
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let w = Worker::new(Arc::new(env.store.clone()), cfg(), clock).expect("worker");
    let stop = CancellationToken::new();
    let running = tokio::spawn(w.run(stop.clone()));
    let tx = new_tx(&env, "b1", &env.hook.url("/hook")).await;
    change(
        &env,
        &tx,
        SystemClock.now(),
        TxStatus::Succeeded,
        WebhookType::Payment,
    )
    .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while env.hook.received().is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    stop.cancel();
    tokio::time::timeout(std::time::Duration::from_secs(5), running)
        .await
        .expect("stops on cancel")
        .expect("join");
    assert_eq!(env.hook.received().len(), 1);
    assert_eq!(only_row(&env).await.state, OutboxState::Delivered);
}

/// Leading and trailing edge: the first change of a quiet transaction goes at once; what follows
/// within the quiet window becomes one more webhook about the final state once it is quiet; a
/// change after a quiet spell goes at once again.
pub(super) async fn leading_edge_at_once_trailing_edge_after_quiet(env: Env) {
    let ms = |t: Ticks, ms: i64| Ticks(t.0 + ms * 10_000);
    let cfg = WebhooksSection {
        coalesce_quiet_ms: 500,
        coalesce_max_wait_ms: 5_000,
        ..cfg()
    };
    let w = worker(&env.store, cfg);
    let start = secs(env.t0, 1);
    let mut tx = new_tx(&env, "lt1", &env.hook.url("/hook")).await;
    tx = change(&env, &tx, start, TxStatus::Pending, WebhookType::Payment).await;
    let report = w.run_once(start).await;
    assert_eq!(report.delivered, 1, "leading edge at once: {report:?}");

    // A burst within the quiet window after it: nothing until the last change is 500 ms old.
    for (i, kind) in [
        WebhookType::Refund,
        WebhookType::Payment,
        WebhookType::Preauth,
    ]
    .into_iter()
    .enumerate()
    {
        let at = ms(start, 100 * (i as i64 + 1));
        tx = change(&env, &tx, at, TxStatus::Pending, kind).await;
        assert_eq!(w.run_once(at).await.claimed, 0, "change {i} waits");
    }
    assert_eq!(w.run_once(ms(start, 700)).await.claimed, 0, "not quiet yet");
    let report = w.run_once(ms(start, 800)).await;
    assert_eq!(report.delivered, 1, "trailing edge: {report:?}");
    let got = env.hook.received();
    assert_eq!(got.len(), 2, "two webhooks for the burst");
    assert_eq!(
        (type_of(&got[0].body), type_of(&got[1].body)),
        (2, 1),
        "the last one is about the final state"
    );

    // Quiet for a while: the next change leaves at once again.
    let later = secs(start, 10);
    change(&env, &tx, later, TxStatus::Pending, WebhookType::Refund).await;
    assert_eq!(w.run_once(later).await.delivered, 1);
    assert_eq!(env.hook.received().len(), 3);
}
