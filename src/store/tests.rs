//! Store tests, run against SQLite always and against Postgres when `PSPI_TEST_POSTGRES_URL` is
//! set (then an unreachable server fails the test). Each test gets its own fresh database.

use std::future::Future;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;
use crate::domain::{PaymentErrorCode, TxError};

async fn with_sqlite<F, Fut>(test: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let db = ScratchDb::sqlite().await.expect("scratch sqlite");
    let store = connect_sqlite(&db.url).await.expect("connect sqlite");
    store.migrate().await.expect("migrate sqlite");
    test(store).await;
}

async fn with_postgres<F, Fut>(test: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let Some(admin) = postgres_admin_url_from_env() else {
        return;
    };
    let db = ScratchDb::postgres(&admin).await.expect("scratch postgres");
    let store = connect_postgres(&db.url, 10)
        .await
        .expect("connect postgres");
    store.migrate().await.expect("migrate postgres");
    test(store).await;
    db.drop_db().await.expect("drop scratch database");
}

macro_rules! store_tests {
    ($($name:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::with_sqlite(super::$name).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::with_postgres(super::$name).await
                }
            )*
        }
    };
}

store_tests!(
    migrate_twice_is_noop,
    merchants,
    settings,
    idempotent_insert,
    apply_update_cas,
    items_chargebacks_agreement,
    touch_parent_bumps_strictly,
    outbox_coalesces,
    tenant_isolation,
    decimals_round_trip,
    concurrent_updates,
);

fn merchant(id: &str) -> MerchantRecord {
    MerchantRecord {
        id: id.into(),
        name: format!("name-{id}"),
        psp: "oppwa".into(),
        created_at: Ticks(7),
    }
}

fn record(merchant_id: &str, billwerk_id: &str) -> TransactionRecord {
    TransactionRecord {
        id: format!("tx-{merchant_id}-{billwerk_id}"),
        merchant_id: merchant_id.into(),
        kind: TxKind::Payment,
        billwerk_id: billwerk_id.into(),
        agreement_id: Some("agr-1".into()),
        role: Some(Role::CreditCard),
        currency: "EUR".into(),
        requested_amount: Decimal::from_str("12.50").expect("decimal"),
        authorized_amount: Decimal::ZERO,
        status: TxStatus::Initiated,
        psp_tx_id: None,
        webhook_target: "https://billwerk.example/hook".into(),
        parent_id: None,
        is_initial: true,
        expires_at: None,
        checkout_id: None,
        checkout_token: Some(format!("tok-{merchant_id}-{billwerk_id}")),
        success_url: Some("https://ok".into()),
        error_url: None,
        abort_url: None,
        language: Some("de".into()),
        reference_text: None,
        planned_execution_date: NaiveDate::from_ymd_opt(2024, 2, 29),
        booking_date: None,
        error: None,
        needs_reconcile: false,
        created_at: Ticks(100),
        last_updated: Ticks(100),
    }
}

async fn setup(store: &SqlStore, merchant_id: &str, billwerk_id: &str) -> TransactionRecord {
    if store
        .find_merchant(merchant_id)
        .await
        .expect("find")
        .is_none()
    {
        let hash = format!("hash-{merchant_id}");
        store
            .create_merchant(&merchant(merchant_id), hash.as_bytes())
            .await
            .expect("create");
    }
    let tx = record(merchant_id, billwerk_id);
    match store
        .insert_transaction(&tx, "created")
        .await
        .expect("insert")
    {
        Inserted::New(t) => t,
        Inserted::Existing(_) => panic!("expected a new transaction"),
    }
}

fn item(amount: &str, day: u32) -> PaymentItem {
    PaymentItem {
        external_item_id: Some(format!("item-{day}")),
        amount: Decimal::from_str(amount).expect("decimal"),
        booking_date: NaiveDate::from_ymd_opt(2024, 1, day).expect("date"),
        description: None,
    }
}

fn agreement(status: AgreementStatus) -> AgreementRecord {
    AgreementRecord {
        merchant_id: "m1".into(),
        agreement_id: "agr-1".into(),
        status,
        role: Some(Role::Debit),
        currency: Some("EUR".into()),
        bearer: [("IBAN".to_string(), "DE02…".to_string())]
            .into_iter()
            .collect(),
        registration_id: Some("reg".into()),
        initial_psp_tx_id: None,
        is_debit: true,
        updated_at: Ticks(300),
    }
}

async fn migrate_twice_is_noop(store: SqlStore) {
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

async fn merchants(store: SqlStore) {
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

async fn settings(store: SqlStore) {
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

async fn idempotent_insert(store: SqlStore) {
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

async fn apply_update_cas(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    let err = TxError {
        code: PaymentErrorCode::Rejected,
        message: "no".into(),
        psp_code: Some("800".into()),
        received_at: Ticks(5),
    };
    let u = TxUpdate {
        status: Some(TxStatus::Pending),
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
        status: Some(TxStatus::Failed),
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

async fn items_chargebacks_agreement(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    let cb = Chargeback {
        external_item_id: Some("cb-1".into()),
        amount: Decimal::from_str("-3.30").expect("decimal"),
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

async fn touch_parent_bumps_strictly(store: SqlStore) {
    let parent = setup(&store, "m1", "pay").await;
    let mut child = record("m1", "ref");
    child.kind = TxKind::Refund;
    child.parent_id = Some(parent.id.clone());
    child.checkout_token = None;
    store
        .insert_transaction(&child, "created")
        .await
        .expect("child");
    let touch = TxUpdate {
        touch_parent: Some(parent.id.clone()),
        ..TxUpdate::default()
    };
    // The child's new stamp (100) is not after the parent's (100): the parent moves by one tick.
    let _ = store
        .apply_update("m1", &child.id, Ticks(100), Ticks(100), &touch)
        .await;
    let p = store
        .get_transaction_by_id("m1", &parent.id)
        .await
        .expect("get")
        .expect("parent");
    assert_eq!(p.last_updated, Ticks(101));
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

async fn outbox_coalesces(store: SqlStore) {
    let tx = setup(&store, "m1", "b1").await;
    let n1 = TxUpdate {
        notify: Some(WebhookType::Payment),
        ..TxUpdate::default()
    };
    let n2 = TxUpdate {
        notify: Some(WebhookType::Agreement),
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
    assert_eq!(
        outbox_rows(&store).await,
        vec![("pending".into(), WebhookType::Agreement.number())]
    );
    let row: (Option<String>, String, i64) = sqlx::query_as(
        "SELECT agreement_id, target_url, updated_at FROM outbox WHERE merchant_id = $1",
    )
    .bind("m1")
    .fetch_one(store.pool())
    .await
    .expect("row");
    assert_eq!(row, (Some("agr-1".into()), tx.webhook_target.clone(), 300));
    // Once delivered, the next change queues a new row.
    sqlx::query("UPDATE outbox SET state = 'delivered'")
        .execute(store.pool())
        .await
        .expect("deliver");
    store
        .apply_update("m1", &tx.id, Ticks(300), Ticks(400), &n1)
        .await
        .expect("n3");
    assert_eq!(outbox_rows(&store).await.len(), 2);
}

async fn tenant_isolation(store: SqlStore) {
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
        status: Some(TxStatus::Failed),
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

async fn decimals_round_trip(store: SqlStore) {
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

async fn concurrent_updates(store: SqlStore) {
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

#[tokio::test]
async fn connect_by_scheme_and_redact() {
    let db = ScratchDb::sqlite().await.expect("scratch");
    let store = connect(&db.url, 2).await.expect("connect");
    assert_eq!(store.backend(), "sqlite");
    store.migrate().await.expect("migrate");
    let err = connect("mysql://u:secret@h/db", 2)
        .await
        .expect_err("unsupported")
        .to_string();
    assert!(err.contains("mysql") && !err.contains("secret"), "{err}");
    assert_eq!(
        redact_url("postgres://u:secret@h:5432/db"),
        "postgres://u:***@h:5432/db"
    );
    assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
}

#[tokio::test]
async fn memory_sqlite_works() {
    let store = connect("sqlite::memory:", 1).await.expect("connect");
    store.migrate().await.expect("migrate");
    assert!(store.list_merchants().await.expect("list").is_empty());
}
