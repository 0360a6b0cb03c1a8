//! Store tests, on SQLite and (ignored unless asked for) on Postgres, through
//! `testing::on_each_backend!`. Each test gets its own fresh database.

use std::future::Future;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

use super::*;

mod basics;
mod expand_contract;
mod updates;

use basics::*;
use updates::*;

/// Runs a store test on a fresh, migrated database of `backend`, then drops the database.
async fn run<F, Fut>(backend: crate::store::scratch::Backend, test: F)
where
    F: FnOnce(SqlStore) -> Fut,
    Fut: Future<Output = ()>,
{
    let (db, store) = crate::testing::scratch_store(backend).await;
    store.migrate().await.expect("migrate");
    test(store).await;
    db.drop_db().await.expect("drop scratch database");
}

crate::testing::on_each_backend!(super::run;
    corrupt_rows_are_reported,
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
    concurrent_refunds_share_the_headroom,
    generic_plans_use_the_key_index,
    a_unit_of_work_needs_one_connection,
    no_capture_while_collected_money_is_refunded,
);

pub(super) fn merchant(id: &str) -> MerchantRecord {
    MerchantRecord {
        id: id.into(),
        name: format!("name-{id}"),
        psp: "oppwa".into(),
        created_at: Ticks(7),
        disabled_at: None,
        previous_token_until: None,
    }
}

pub(super) fn record(merchant_id: &str, billwerk_id: &str) -> TransactionRecord {
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
        checkout_data: None,
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
        next_reconcile_at: None,
        reconcile_attempts: 0,
        collected_at_authorization: false,
        request_id: None,
    }
}

pub(super) async fn setup(
    store: &SqlStore,
    merchant_id: &str,
    billwerk_id: &str,
) -> TransactionRecord {
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

/// The transition the state model allows from `tx`'s status to `to` (as a PSP outcome).
pub(super) fn moved(
    tx: &TransactionRecord,
    to: TxStatus,
) -> Option<crate::domain::state::Transition> {
    let t = crate::domain::state::decide(
        tx.kind,
        tx.status,
        to,
        crate::domain::state::Trigger::PspOutcome,
        crate::domain::state::Facts::NONE,
    )
    .transition();
    assert!(t.is_some(), "{} -> {to} is allowed", tx.status);
    t
}

pub(super) fn item(amount: &str, day: u32) -> PaymentItem {
    PaymentItem {
        kind: ItemKind::Payment,
        external_item_id: Some(format!("item-{day}")),
        amount: Decimal::from_str(amount).expect("decimal"),
        booking_date: NaiveDate::from_ymd_opt(2024, 1, day).expect("date"),
        description: None,
    }
}

pub(super) fn agreement(status: AgreementStatus) -> AgreementRecord {
    AgreementRecord {
        merchant_id: "m1".into(),
        agreement_id: "agr-1".into(),
        status,
        role: Some(Role::Debit),
        currency: Some("EUR".into()),
        bearer: [("IBAN".to_string(), "DE02…".to_string())]
            .into_iter()
            .collect(),
        credential: Some("reg".into()),
        initial_psp_tx_id: None,
        is_debit: true,
        updated_at: Ticks(300),
    }
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

#[tokio::test]
async fn sqlite_creates_missing_directories() {
    let db = ScratchDb::sqlite().await.expect("scratch");
    let dir = db
        .url
        .trim_start_matches("sqlite://")
        .trim_end_matches("pspi.db?mode=rwc");
    let url = format!("sqlite://{dir}nested/deeper/x.db");
    let store = connect(&url, 1).await.expect("connect without mode=rwc");
    store.migrate().await.expect("migrate");
    assert!(std::path::Path::new(&format!("{dir}nested/deeper/x.db")).exists());
}
