//! Outbox worker tests against a recording Billwerk stand-in, on SQLite and (ignored unless asked
//! for) on Postgres, through `testing::on_each_backend!`. Each test gets a fresh database.

use std::future::Future;
use std::str::FromStr;
use std::sync::Arc;

use rust_decimal::Decimal;
use tokio_util::sync::CancellationToken;

use super::Worker;
use crate::config::WebhooksSection;
use crate::domain::{Clock, ManualClock, Role, SystemClock, Ticks, TxKind, TxStatus, WebhookType};
use crate::sim::billwerk::{BillwerkStandIn, StandInHandle};
use crate::store::outbox::{OutboxRow, OutboxState};
use crate::store::{
    Inserted, MerchantRecord, OutboxStore, SqlStore, Store, TransactionRecord, TxUpdate,
    connect_postgres, connect_sqlite,
};

mod cases;
mod more;

use cases::*;
use more::*;

/// A fresh database, the stand-in and a time base (the wall clock at the start).
pub(super) struct Env {
    pub store: SqlStore,
    pub url: String,
    pub hook: StandInHandle,
    pub t0: Ticks,
    _shutdown: tokio_util::sync::DropGuard,
}

async fn env_for(store: SqlStore, url: String) -> Env {
    store.migrate().await.expect("migrate");
    let token = CancellationToken::new();
    let hook = BillwerkStandIn::spawn("127.0.0.1:0".parse().expect("addr"), token.clone())
        .await
        .expect("stand-in");
    Env {
        store,
        url,
        hook,
        t0: SystemClock.now(),
        _shutdown: token.drop_guard(),
    }
}

/// Runs an outbox test on a fresh database of `backend` with a stand-in, then drops it.
async fn run<F, Fut>(backend: crate::store::scratch::Backend, test: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let (db, store) = crate::testing::scratch_store(backend).await;
    test(env_for(store.clone(), db.url.clone()).await).await;
    store.close().await;
    db.drop_db().await.expect("drop scratch database");
}

crate::testing::on_each_backend!(super::run;
    burst_coalesces_to_one_webhook,
    change_during_delivery_is_not_lost,
    retries_until_recovery,
    retry_after_is_honoured,
    horizon_then_redeliver,
    body_shape_and_agreement_topic,
    refused_target_is_dead_not_sent,
    two_workers_deliver_each_once,
    crash_after_claim_is_redelivered,
    run_loop_delivers_and_stops,
    leading_edge_at_once_trailing_edge_after_quiet,
);

pub(super) fn cfg() -> WebhooksSection {
    WebhooksSection {
        allowed_hosts: vec!["127.0.0.1".into()],
        allow_private_targets: true,
        request_timeout_secs: 5,
        first_retry_secs: 30,
        max_retry_secs: 3600,
        give_up_after_secs: 259_200,
        batch_size: 50,
        lease_secs: 60,
        poll_interval_ms: 10,
        coalesce_quiet_ms: 0,
        coalesce_max_wait_ms: 0,
    }
}

pub(super) fn worker(store: &SqlStore, cfg: WebhooksSection) -> Worker {
    let clock = Arc::new(ManualClock::new(Ticks(0)));
    Worker::new(Arc::new(store.clone()), cfg, clock).expect("worker")
}

pub(super) fn secs(t: Ticks, s: i64) -> Ticks {
    t.plus_seconds(s)
}

/// A merchant `m1` (created once) and a new payment whose webhookTarget is `target`.
pub(super) async fn new_tx(env: &Env, billwerk_id: &str, target: &str) -> TransactionRecord {
    if env.store.find_merchant("m1").await.expect("find").is_none() {
        let m = MerchantRecord {
            id: "m1".into(),
            name: "merchant one".into(),
            psp: "oppwa".into(),
            created_at: env.t0,
            disabled_at: None,
            previous_token_until: None,
        };
        env.store
            .create_merchant(&m, b"hash-m1")
            .await
            .expect("merchant");
    }
    let tx = TransactionRecord {
        id: format!("tx-{billwerk_id}"),
        merchant_id: "m1".into(),
        kind: TxKind::Payment,
        billwerk_id: billwerk_id.into(),
        agreement_id: Some("agr-1".into()),
        role: Some(Role::CreditCard),
        currency: "EUR".into(),
        requested_amount: Decimal::from_str("12.50").expect("decimal"),
        authorized_amount: Decimal::ZERO,
        status: TxStatus::Initiated,
        psp_tx_id: None,
        webhook_target: target.into(),
        parent_id: None,
        is_initial: true,
        expires_at: None,
        checkout_id: None,
        checkout_data: None,
        checkout_token: None,
        success_url: None,
        error_url: None,
        abort_url: None,
        language: None,
        reference_text: None,
        planned_execution_date: None,
        booking_date: None,
        error: None,
        needs_reconcile: false,
        created_at: env.t0,
        last_updated: env.t0,
        next_reconcile_at: None,
        reconcile_attempts: 0,
        collected_at_authorization: false,
        request_id: None,
    };
    match env
        .store
        .insert_transaction(&tx, "created")
        .await
        .expect("insert")
    {
        Inserted::New(t) => t,
        Inserted::Existing(_) => panic!("expected a new transaction"),
    }
}

/// Applies a change at `at` that queues a webhook of `kind`.
pub(super) async fn change(
    env: &Env,
    tx: &TransactionRecord,
    at: Ticks,
    status: TxStatus,
    kind: WebhookType,
) -> TransactionRecord {
    let at = Ticks::next_after(at, tx.last_updated);
    let u = TxUpdate {
        status: crate::domain::state::decide(
            tx.kind,
            tx.status,
            status,
            crate::domain::state::Trigger::PspOutcome,
            crate::domain::state::Facts::NONE,
        )
        .transition(),
        notify: Some(kind),
        note: "test".into(),
        ..TxUpdate::default()
    };
    env.store
        .apply_update("m1", &tx.id, tx.last_updated, at, &u)
        .await
        .expect("apply_update")
}

pub(super) async fn rows(env: &Env) -> Vec<OutboxRow> {
    let f = crate::store::outbox::DeliveryFilter::default();
    let mut rows = env.store.list_deliveries(&f).await.expect("list");
    rows.reverse();
    rows
}

pub(super) async fn only_row(env: &Env) -> OutboxRow {
    let mut all = rows(env).await;
    assert_eq!(all.len(), 1, "{all:?}");
    all.remove(0)
}

pub(super) fn type_of(body: &serde_json::Value) -> i64 {
    body["Type"].to_string().parse().expect("numeric Type")
}

pub(super) const PENDING: OutboxState = OutboxState::Pending;
