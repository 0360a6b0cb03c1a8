//! `apply_update`: compare-and-set, appended children, parent bump, outbox coalescing and
//! concurrency.

use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;
use crate::domain::{PaymentErrorCode, TxError};

pub(super) async fn apply_update_cas(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    let err = TxError {
        code: PaymentErrorCode::Rejected,
        message: "no".into(),
        psp_code: Some("800".into()),
        received_at: Ticks(5),
    };
    let u = TxUpdate {
        status: moved(&tx, TxStatus::Pending),
        psp_tx_id: Some("psp-1".into()),
        error: Some(Some(err.clone())),
        needs_reconcile: Some(true),
        add_items: vec![item("1.00", 1)],
        notify: Some(WebhookType::Payment),
        note: "pending".into(),
        ..TxUpdate::default()
    };
    let fresh = store
        .apply_update("m1", &tx.id, Ticks(100), Ticks(200), &u)
        .await
        .expect("update");
    assert_eq!(
        (fresh.status, fresh.last_updated),
        (TxStatus::Pending, Ticks(200))
    );
    assert_eq!(
        (fresh.psp_tx_id.as_deref(), fresh.error.as_ref()),
        (Some("psp-1"), Some(&err))
    );
    assert!(fresh.needs_reconcile);
    assert_eq!(
        fresh.checkout_token, tx.checkout_token,
        "None fields are kept"
    );
    // A stale stamp changes nothing at all.
    let stale = TxUpdate {
        status: moved(&tx, TxStatus::Failed),
        add_items: vec![item("2.00", 2)],
        notify: Some(WebhookType::Refund),
        ..u.clone()
    };
    let res = store
        .apply_update("m1", &tx.id, Ticks(100), Ticks(300), &stale)
        .await;
    assert!(matches!(res, Err(StoreError::Conflict)), "{res:?}");
    assert_eq!(
        store
            .get_transaction_by_id("m1", &tx.id)
            .await
            .expect("get"),
        Some(fresh.clone())
    );
    assert_eq!(store.history("m1", &tx.id).await.expect("history").len(), 2);
    assert_eq!(
        store.list_items("m1", &tx.id).await.expect("items").len(),
        1
    );
    assert_eq!(
        outbox_rows(&store).await,
        vec![("pending".into(), WebhookType::Payment.number())]
    );
    let clear = TxUpdate {
        error: Some(None),
        note: "clear".into(),
        ..TxUpdate::default()
    };
    let cleared = store
        .apply_update("m1", &tx.id, Ticks(200), Ticks(250), &clear)
        .await
        .expect("clear");
    assert_eq!((cleared.error, cleared.status), (None, TxStatus::Pending));
    let missing = store
        .apply_update("m1", "nope", Ticks(1), Ticks(2), &clear)
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound)), "{missing:?}");
}

/// (state, webhook_type) of every outbox row.
async fn outbox_rows(store: &SqlStore) -> Vec<(String, i64)> {
    sqlx::query_as::<_, (String, i64)>("SELECT state, webhook_type FROM outbox ORDER BY id")
        .fetch_all(store.pool())
        .await
        .expect("outbox rows")
}

pub(super) async fn items_chargebacks_agreement(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    let cb = Chargeback {
        external_item_id: Some("cb-1".into()),
        amount: Decimal::from_str("3.30").expect("decimal"),
        booking_date: NaiveDate::from_ymd_opt(2024, 3, 1).expect("date"),
        description: Some("disputed".into()),
        fee_amount: Some(Decimal::from_str("0.75").expect("decimal")),
        reason: ChargebackReason::UserInitiated,
        psp_reason_code: Some("MD06".into()),
        psp_reason_message: None,
    };
    let u1 = TxUpdate {
        add_items: vec![item("5.00", 3), item("1.10", 1)],
        add_chargebacks: vec![cb.clone()],
        agreement: Some(agreement(AgreementStatus::Pending)),
        ..TxUpdate::default()
    };
    store
        .apply_update("m1", &tx.id, Ticks(100), Ticks(200), &u1)
        .await
        .expect("u1");
    let u2 = TxUpdate {
        add_items: vec![item("0.01", 2)],
        agreement: Some(agreement(AgreementStatus::Active)),
        ..TxUpdate::default()
    };
    store
        .apply_update("m1", &tx.id, Ticks(200), Ticks(300), &u2)
        .await
        .expect("u2");
    let items = store.list_items("m1", &tx.id).await.expect("items");
    assert_eq!(
        items,
        vec![item("5.00", 3), item("1.10", 1), item("0.01", 2)],
        "insertion order"
    );
    assert_eq!(
        store.list_chargebacks("m1", &tx.id).await.expect("cbs"),
        vec![cb]
    );
    let agr = store.get_agreement("m1", "agr-1").await.expect("agreement");
    assert_eq!(agr, Some(agreement(AgreementStatus::Active)));
    assert_eq!(
        store
            .get_agreement("m2", "agr-1")
            .await
            .expect("other merchant"),
        None
    );
    let history = store.history("m1", &tx.id).await.expect("history");
    assert_eq!(
        history.iter().map(|h| h.status).collect::<Vec<_>>(),
        vec![TxStatus::Initiated; 3]
    );
}

pub(super) async fn touch_parent_bumps_strictly(store: SqlStore) {
    let parent = setup(&store, "m1", "pay").await;
    let paid = TxUpdate {
        add_items: vec![item("12.50", 1)],
        ..TxUpdate::default()
    };
    store
        .apply_update("m1", &parent.id, Ticks(100), Ticks(100), &paid)
        .await
        .expect("paid");
    let mut child = record("m1", "ref");
    child.kind = TxKind::Refund;
    child.parent_id = Some(parent.id.clone());
    child.checkout_token = None;
    store
        .insert_transaction(&child, "created")
        .await
        .expect("child");
    // A new refund changes what its payment can still refund: the payment moves (100 -> 101).
    let p = store
        .get_transaction_by_id("m1", &parent.id)
        .await
        .expect("get")
        .expect("parent");
    assert_eq!(p.last_updated, Ticks(101));
    let touch = TxUpdate {
        touch_parent: Some(parent.id.clone()),
        ..TxUpdate::default()
    };
    // The child's new stamp (100) is not after the parent's (101): the parent moves by one tick.
    let _ = store
        .apply_update("m1", &child.id, Ticks(100), Ticks(100), &touch)
        .await;
    let p = store
        .get_transaction_by_id("m1", &parent.id)
        .await
        .expect("get")
        .expect("parent");
    assert_eq!(p.last_updated, Ticks(102));
    store
        .apply_update("m1", &child.id, Ticks(100), Ticks(500), &touch)
        .await
        .expect("touch");
    let p = store
        .get_transaction_by_id("m1", &parent.id)
        .await
        .expect("get")
        .expect("parent");
    assert_eq!(p.last_updated, Ticks(500));
    let children = store
        .list_children("m1", &parent.id)
        .await
        .expect("children");
    assert_eq!(
        children.iter().map(|c| c.id.as_str()).collect::<Vec<_>>(),
        vec![child.id.as_str()]
    );
}

pub(super) async fn outbox_coalesces(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    let n1 = TxUpdate {
        notify: Some(WebhookType::Payment),
        ..TxUpdate::default()
    };
    let n2 = TxUpdate {
        notify: Some(WebhookType::Agreement),
        ..TxUpdate::default()
    };
    let n3 = TxUpdate {
        notify: Some(WebhookType::Refund),
        ..TxUpdate::default()
    };
    store
        .apply_update("m1", &tx.id, Ticks(100), Ticks(200), &n1)
        .await
        .expect("n1");
    store
        .apply_update("m1", &tx.id, Ticks(200), Ticks(300), &n2)
        .await
        .expect("n2");
    store
        .apply_update("m1", &tx.id, Ticks(300), Ticks(350), &n3)
        .await
        .expect("n3");
    // Agreement webhooks have their own topic; the transaction's own coalesce.
    assert_eq!(
        outbox_rows(&store).await,
        vec![
            ("pending".into(), WebhookType::Refund.number()),
            ("pending".into(), WebhookType::Agreement.number())
        ]
    );
    let row: (Option<String>, String, i64, i64) = sqlx::query_as(
        "SELECT agreement_id, target_url, updated_at, version FROM outbox \
         WHERE merchant_id = $1 AND topic = 'agreement'",
    )
    .bind("m1")
    .fetch_one(store.pool())
    .await
    .expect("row");
    assert_eq!(
        row,
        (Some("agr-1".into()), tx.webhook_target.clone(), 300, 0)
    );
    let version: (i64,) = sqlx::query_as("SELECT version FROM outbox WHERE topic = 'transaction'")
        .fetch_one(store.pool())
        .await
        .expect("version");
    assert_eq!(version.0, 1, "bumped by the coalesced change");
    // Once delivered, the next change queues a new row.
    sqlx::query("UPDATE outbox SET state = 'delivered'")
        .execute(store.pool())
        .await
        .expect("deliver");
    store
        .apply_update("m1", &tx.id, Ticks(350), Ticks(400), &n1)
        .await
        .expect("n4");
    assert_eq!(outbox_rows(&store).await.len(), 3);
}

pub(super) async fn concurrent_updates(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    // Same expected stamp from 8 tasks: exactly one wins.
    let mut tasks = Vec::new();
    for i in 0..8i64 {
        let (store, id) = (store.clone(), tx.id.clone());
        tasks.push(tokio::spawn(async move {
            let u = TxUpdate {
                add_items: vec![item("1", 1)],
                ..TxUpdate::default()
            };
            store
                .apply_update("m1", &id, Ticks(100), Ticks(200 + i), &u)
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.expect("join") {
            Ok(_) => wins += 1,
            Err(StoreError::Conflict) => {}
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(wins, 1);
    // Read-modify-write with retries: no update is lost.
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (store, id) = (store.clone(), tx.id.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let cur = store
                    .get_transaction_by_id("m1", &id)
                    .await?
                    .ok_or(StoreError::NotFound)?;
                let u = TxUpdate {
                    add_items: vec![item("1", 2)],
                    ..TxUpdate::default()
                };
                let at = Ticks(cur.last_updated.0 + 1);
                match store
                    .apply_update("m1", &id, cur.last_updated, at, &u)
                    .await
                {
                    Err(StoreError::Conflict) => continue,
                    other => return other,
                }
            }
        }));
    }
    for t in tasks {
        t.await.expect("join").expect("update");
    }
    assert_eq!(
        store.list_items("m1", &tx.id).await.expect("items").len(),
        9
    );
    assert_eq!(
        store.history("m1", &tx.id).await.expect("history").len(),
        10
    );
}

/// Eight concurrent refunds of 3.00 on a payment of 10.00: the money rule is checked inside each
/// insert's transaction after the payment's row is locked, so exactly three fit.
pub(super) async fn concurrent_refunds_share_the_headroom(store: SqlStore) {
    let payment = setup(&store, "m1", "pay").await;
    let paid = TxUpdate {
        add_items: vec![item("10.00", 1)],
        ..TxUpdate::default()
    };
    store
        .apply_update("m1", &payment.id, Ticks(100), Ticks(100), &paid)
        .await
        .expect("paid");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        let mut refund = record("m1", &format!("refund-{i}"));
        refund.kind = TxKind::Refund;
        refund.parent_id = Some(payment.id.clone());
        refund.checkout_token = None;
        refund.requested_amount = Decimal::from_str("3.00").expect("decimal");
        tasks.push(tokio::spawn(async move {
            store.insert_transaction(&refund, "refund").await
        }));
    }
    let (mut fits, mut refused) = (0, 0);
    for t in tasks {
        match t.await.expect("join") {
            Ok(Inserted::New(_)) => fits += 1,
            Err(StoreError::MoneyRule(_)) => refused += 1,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!((fits, refused), (3, 5));
    let children = store
        .list_children("m1", &payment.id)
        .await
        .expect("children");
    assert_eq!(children.len(), 3, "nothing of a refused refund was written");
}

/// A preauth whose money was collected at authorization takes no new capture while its cancel's
/// refund is under way (issue #18): the refund's amount was fixed without it.
pub(super) async fn no_capture_while_collected_money_is_refunded(store: SqlStore) {
    setup(&store, "m1", "other").await;
    let mut pre = record("m1", "pre");
    pre.kind = TxKind::Preauth;
    pre.status = TxStatus::Succeeded;
    pre.requested_amount = Decimal::from_str("20.00").expect("decimal");
    pre.authorized_amount = pre.requested_amount;
    pre.collected_at_authorization = true;
    pre.needs_reconcile = true;
    pre.checkout_token = None;
    store.insert_transaction(&pre, "pre").await.expect("pre");
    let stored = store
        .get_transaction("m1", "pre")
        .await
        .expect("read")
        .expect("pre");
    assert!(stored.collected_at_authorization, "the flag round-trips");
    let mut capture = record("m1", "cap");
    capture.parent_id = Some(pre.id.clone());
    capture.checkout_token = None;
    capture.requested_amount = Decimal::from_str("5.00").expect("decimal");
    match store.insert_transaction(&capture, "capture").await {
        Err(StoreError::MoneyRule(_)) => {}
        other => panic!("refused while the refund is under way, got {other:?}"),
    }
    let settled = TxUpdate {
        needs_reconcile: Some(false),
        ..TxUpdate::default()
    };
    let at = Ticks(stored.last_updated.0 + 1);
    store
        .apply_update("m1", &pre.id, stored.last_updated, at, &settled)
        .await
        .expect("settled");
    assert!(matches!(
        store.insert_transaction(&capture, "capture").await,
        Ok(Inserted::New(_))
    ));
}
