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
    let found = store.merchant_by_token_hash(b"h1").await.expect("by hash");
    assert_eq!(found, Some((m.clone(), b"h1".to_vec())));
    store.rotate_token("m1", b"h1-new").await.expect("rotate");
    assert_eq!(
        store.merchant_by_token_hash(b"h1").await.expect("old"),
        None
    );
    assert!(
        store
            .merchant_by_token_hash(b"h1-new")
            .await
            .expect("new")
            .is_some()
    );
    assert!(matches!(
        store.rotate_token("zz", b"x").await,
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
