//! Merchants, settings, inserts, reads, tenant isolation and exact decoding.

use std::str::FromStr;

use rust_decimal::Decimal;

use super::*;

pub(super) async fn migrate_twice_is_noop(store: SqlStore) {
    setup(&store, "m1", "b1").await;
    store.migrate().await.expect("second migrate");
    assert!(
        store
            .get_transaction("m1", "b1")
            .await
            .expect("get")
            .is_some()
    );
}

pub(super) async fn merchants(store: SqlStore) {
    let m = merchant("m1");
    store.create_merchant(&m, b"h1").await.expect("create");
    store
        .create_merchant(&merchant("m2"), b"h2")
        .await
        .expect("create m2");
    assert_eq!(
        store.find_merchant("m1").await.expect("by id"),
        Some(m.clone())
    );
    assert_eq!(
        store.find_merchant("name-m1").await.expect("by name"),
        Some(m.clone())
    );
    assert_eq!(store.find_merchant("nope").await.expect("unknown"), None);
    assert_eq!(store.list_merchants().await.expect("list").len(), 2);
    let found = store
        .merchant_by_token_hash(b"h1", Ticks(0))
        .await
        .expect("by hash");
    assert_eq!(found, Some((m.clone(), b"h1".to_vec())));
    store
        .rotate_token("m1", b"h1-new", None)
        .await
        .expect("rotate");
    assert_eq!(
        store
            .merchant_by_token_hash(b"h1", Ticks(0))
            .await
            .expect("old"),
        None
    );
    assert!(
        store
            .merchant_by_token_hash(b"h1-new", Ticks(0))
            .await
            .expect("new")
            .is_some()
    );
    assert!(matches!(
        store.rotate_token("zz", b"x", None).await,
        Err(StoreError::NotFound)
    ));
    // With an overlap, the replaced token works until the overlap's end, not after; the stored
    // hash returned is the one that matched.
    store
        .rotate_token("m1", b"h1-third", Some(Ticks(100)))
        .await
        .expect("rotate with overlap");
    let (rec, hash) = store
        .merchant_by_token_hash(b"h1-new", Ticks(99))
        .await
        .expect("previous")
        .expect("previous token still valid");
    assert_eq!(
        (rec.previous_token_until, hash),
        (Some(Ticks(100)), b"h1-new".to_vec())
    );
    assert_eq!(
        store
            .merchant_by_token_hash(b"h1-new", Ticks(100))
            .await
            .expect("expired"),
        None
    );
    assert!(
        store
            .merchant_by_token_hash(b"h1-third", Ticks(1000))
            .await
            .expect("current")
            .is_some()
    );
    // Disabling keeps the first time; enabling clears it.
    store
        .set_merchant_disabled("m1", Some(Ticks(5)))
        .await
        .expect("disable");
    store
        .set_merchant_disabled("m1", Some(Ticks(9)))
        .await
        .expect("disable again");
    let rec = store.find_merchant("m1").await.expect("find").expect("m1");
    assert_eq!(rec.disabled_at, Some(Ticks(5)));
    store
        .set_merchant_disabled("m1", None)
        .await
        .expect("enable");
    let rec = store.find_merchant("m1").await.expect("find").expect("m1");
    assert_eq!(rec.disabled_at, None);
    assert!(matches!(
        store.set_merchant_disabled("zz", None).await,
        Err(StoreError::NotFound)
    ));
    let dup = MerchantRecord {
        id: "m3".into(),
        ..m
    };
    assert!(
        store.create_merchant(&dup, b"h3").await.is_err(),
        "names are unique"
    );
}

pub(super) async fn settings(store: SqlStore) {
    store
        .create_merchant(&merchant("m1"), b"h")
        .await
        .expect("create");
    assert_eq!(store.get_settings("m1").await.expect("none"), None);
    store
        .put_settings("m1", b"sealed-1", Ticks(1))
        .await
        .expect("put");
    store
        .put_settings("m1", b"sealed-2", Ticks(2))
        .await
        .expect("put again");
    assert_eq!(
        store.get_settings("m1").await.expect("get"),
        Some(b"sealed-2".to_vec())
    );
}

pub(super) async fn idempotent_insert(store: SqlStore) {
    let first = setup(&store, "m1", "b1").await;
    let mut again = record("m1", "b1");
    again.id = "other-id".into();
    again.requested_amount = Decimal::from(99);
    match store
        .insert_transaction(&again, "dup")
        .await
        .expect("insert")
    {
        Inserted::Existing(t) => assert_eq!(t, first),
        Inserted::New(_) => panic!("second insert must not create"),
    }
    assert_eq!(
        store.get_transaction("m1", "b1").await.expect("get"),
        Some(first.clone())
    );
    assert_eq!(
        store
            .get_transaction_by_id("m1", &first.id)
            .await
            .expect("by id"),
        Some(first.clone())
    );
    let token = first.checkout_token.clone().expect("token");
    assert_eq!(
        store.get_by_checkout_token(&token).await.expect("by token"),
        Some(first.clone())
    );
    let history = store.history("m1", &first.id).await.expect("history");
    assert_eq!(
        history,
        vec![HistoryEntry {
            status: TxStatus::Initiated,
            at: Ticks(100),
            note: "created".into()
        }]
    );
}

pub(super) async fn tenant_isolation(store: SqlStore) {
    let a = setup(&store, "ma", "b1").await;
    store
        .create_merchant(&merchant("mb"), b"hb")
        .await
        .expect("mb");
    assert_eq!(store.get_transaction("mb", "b1").await.expect("get"), None);
    assert_eq!(
        store
            .get_transaction_by_id("mb", &a.id)
            .await
            .expect("by id"),
        None
    );
    let u = TxUpdate {
        status: moved(&a, TxStatus::Failed),
        ..TxUpdate::default()
    };
    let res = store
        .apply_update("mb", &a.id, a.last_updated, Ticks(999), &u)
        .await;
    assert!(matches!(res, Err(StoreError::NotFound)), "{res:?}");
    assert!(
        store
            .history("mb", &a.id)
            .await
            .expect("history")
            .is_empty()
    );
    assert_eq!(
        store.get_transaction("ma", "b1").await.expect("get"),
        Some(a)
    );
    // The same Billwerk id under another merchant is a different transaction.
    setup(&store, "mb", "b1").await;
}

pub(super) async fn decimals_round_trip(store: SqlStore) {
    store
        .create_merchant(&merchant("m1"), b"h")
        .await
        .expect("create");
    for (i, s) in [
        "0.1",
        "12345678901.99",
        "0.10",
        "79228162514264337593543950335",
    ]
    .iter()
    .enumerate()
    {
        let mut tx = record("m1", &format!("b{i}"));
        tx.requested_amount = Decimal::from_str(s).expect("decimal");
        tx.checkout_token = None;
        store.insert_transaction(&tx, "").await.expect("insert");
        let back = store
            .get_transaction("m1", &tx.billwerk_id)
            .await
            .expect("get")
            .expect("row");
        assert_eq!(back.requested_amount.to_string(), *s, "exact, scale kept");
    }
}

pub(super) async fn corrupt_rows_are_reported(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    sqlx::query("UPDATE transactions SET status = 'Bogus' WHERE id = $1")
        .bind(&tx.id)
        .execute(store.pool())
        .await
        .expect("corrupt status");
    let err = store
        .get_transaction("m1", "b1")
        .await
        .expect_err("bad enum");
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("status")),
        "{err:?}"
    );
    sqlx::query(
        "UPDATE transactions SET status = 'Pending', requested_amount = 'x1' WHERE id = $1",
    )
    .bind(&tx.id)
    .execute(store.pool())
    .await
    .expect("corrupt amount");
    let err = store
        .get_transaction("m1", "b1")
        .await
        .expect_err("bad decimal");
    assert!(
        matches!(&err, StoreError::Corrupt(m) if m.contains("requested_amount")),
        "{err:?}"
    );
}

/// PostgreSQL keeps a prepared statement's generic plan for the connection's life, and the pool
/// prepares its statements while the tables may still be empty. Even then, each lookup's generic
/// plan must reach its rows through the index of its own key: a plan through an index led by
/// `merchant_id` alone reads all of the merchant's rows, and slowed every request as the tables
/// grew (migration 0009). SQLite's planner picks by equality terms and needs no such check.
pub(super) async fn generic_plans_use_the_key_index(store: SqlStore) {
    if store.backend() != "postgres" {
        return;
    }
    let mut c = store.pool().acquire().await.expect("connection");
    sqlx::raw_sql("SET plan_cache_mode = force_generic_plan")
        .execute(&mut *c)
        .await
        .expect("generic plans");
    let lookups = [
        (
            "transactions_billwerk_id_merchant_id_key",
            "SELECT id FROM transactions WHERE merchant_id = $1 AND billwerk_id = $2",
        ),
        (
            "transactions_pkey",
            "SELECT id FROM transactions WHERE merchant_id = $1 AND id = $2",
        ),
        (
            "transactions_parent",
            "SELECT id FROM transactions WHERE merchant_id = $1 AND parent_id = $2 \
             ORDER BY created_at, id",
        ),
        (
            "transactions_psp_tx",
            "SELECT id FROM transactions WHERE merchant_id = $1 AND psp_tx_id = $2",
        ),
        (
            "transactions_agreement",
            "SELECT id FROM transactions WHERE merchant_id = $1 AND agreement_id = $2 \
             AND kind = 'preauth' ORDER BY created_at DESC LIMIT 1",
        ),
        (
            "payment_items_tx",
            "SELECT id FROM payment_items WHERE merchant_id = $1 AND transaction_id = $2 \
             ORDER BY id",
        ),
        (
            "chargebacks_tx",
            "SELECT id FROM chargebacks WHERE merchant_id = $1 AND transaction_id = $2 \
             ORDER BY id",
        ),
        (
            "transaction_history_tx",
            "SELECT id FROM transaction_history WHERE merchant_id = $1 \
             AND transaction_id = $2 ORDER BY id",
        ),
        (
            "agreements_pkey",
            "SELECT status FROM agreements WHERE merchant_id = $1 AND agreement_id = $2",
        ),
        (
            "notifications_parked",
            "SELECT id FROM notifications WHERE merchant_id = $1 AND transaction_id = $2 \
             AND parked = 1 ORDER BY id",
        ),
        (
            "notifications_event",
            "SELECT COUNT(*) FROM notifications WHERE merchant_id = $1 AND dedupe_key = $2 \
             AND consumes = 1",
        ),
    ];
    for (i, (index, sql)) in lookups.iter().enumerate() {
        sqlx::raw_sql(&format!("PREPARE lookup{i} (text, text) AS {sql}"))
            .execute(&mut *c)
            .await
            .expect("prepare");
        let rows = sqlx::raw_sql(&format!("EXPLAIN EXECUTE lookup{i} ('m', 'k')"))
            .fetch_all(&mut *c)
            .await
            .expect("explain");
        let plan: Vec<String> = rows
            .iter()
            .map(|r| sqlx::Row::try_get::<String, _>(r, 0).expect("plan line"))
            .collect();
        let plan = plan.join("\n");
        assert!(
            (plan.contains(&format!(" using {index} ")) || plan.contains(&format!(" on {index}")))
                && !plan.contains("Seq Scan"),
            "{sql}\nexpected a scan of {index}, got:\n{plan}"
        );
    }
}

/// Inside `session::pinned`, every statement a request's flow issues runs on the one pinned
/// connection, and `release` gives it back: on a pool of a single connection, four concurrent
/// units of work each reading, writing and releasing (as a flow does around a PSP call) all
/// finish. A statement that took a second checkout while the unit held the first would wait
/// for itself until the acquire timeout.
pub(super) async fn a_unit_of_work_needs_one_connection(store: SqlStore) {
    use crate::store::session;
    let tx = setup(&store, "m1", "b1").await;
    let options = (*store.pool().connect_options()).clone();
    let one = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(std::time::Duration::from_secs(3))
        .connect_with(options)
        .await
        .expect("pool of one");
    let one = SqlStore::new(one, store.dialect());
    let unit = |n: u32| {
        let (one, tx) = (one.clone(), tx.clone());
        async move {
            session::pinned(async {
                for round in 0..3 {
                    let now = one
                        .get_transaction("m1", "b1")
                        .await
                        .expect("read")
                        .expect("present");
                    one.merchant_by_token_hash(b"hash-m1", Ticks(0))
                        .await
                        .expect("auth");
                    one.get_settings("m1").await.expect("settings");
                    one.get_agreement("m1", "a1").await.expect("agreement");
                    one.payment_parts("m1", &tx.id).await.expect("parts");
                    one.parked_for("m1", &tx.id).await.expect("parked");
                    one.event_seen("m1", "key").await.expect("seen");
                    one.history("m1", &tx.id).await.expect("history");
                    let update = TxUpdate {
                        note: format!("unit {n} round {round}"),
                        ..TxUpdate::default()
                    };
                    let at = Ticks::next_after(now.last_updated, now.last_updated);
                    match one
                        .apply_update("m1", &tx.id, now.last_updated, at, &update)
                        .await
                    {
                        Ok(_) | Err(StoreError::Conflict) => {}
                        Err(e) => panic!("update: {e}"),
                    }
                    // As before a PSP call: the next statement takes the connection anew.
                    session::release();
                }
            })
            .await
        }
    };
    let all = futures::future::join_all((0..4).map(|n| tokio::spawn(unit(n))));
    let done = tokio::time::timeout(std::time::Duration::from_secs(20), all)
        .await
        .expect("units of work finish on one connection");
    for d in done {
        d.expect("unit of work");
    }
    one.close().await;
}
