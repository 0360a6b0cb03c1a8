//! The PSP seam's run-time traps (issue #18), each shown with a fake PSP family of the other
//! kind (redirect checkout, no lookup by reference, several events per call, its own auth
//! header), on both backends. Each test fails if its trap comes back.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use rust_decimal::Decimal;

use super::App;
use crate::domain::{Money, Role, SystemClock, TxKind, TxStatus};
use crate::psp::{
    Capabilities, CheckoutKind, CheckoutPage, CheckoutRef, EventKind, FollowUp, Inbound,
    InitialPreauth, Lookup, LookupKind, MerchantCtx, MerchantPsp, MethodValidity,
    NotificationError, Outcome, PaymentEvent, PaymentProvider, PreauthStart, PspError, PspEvent,
    PspNotification, PspResult, PspSettings, Reference, Registry, ReturnLeg, SettingField,
    SettingsError, ShopperView, StoredCharge, TextLimits,
};
use crate::store::scratch::Backend;
use crate::store::{MerchantRecord, Store};

/// What the fake PSP answers, and what it saw.
#[derive(Debug, Default)]
struct Script {
    lookup: Option<Lookup>,
    checkout: Option<PspResult>,
    events: Vec<PspNotification>,
    /// Whether a database connection was held during any call.
    held_during_call: bool,
    calls: Vec<&'static str>,
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<Script>>);

impl Fake {
    fn note(&self, call: &'static str) {
        let mut s = self.0.lock().expect("script");
        s.held_during_call |= crate::store::session::holding();
        s.calls.push(call);
    }
    fn script(&self) -> std::sync::MutexGuard<'_, Script> {
        self.0.lock().expect("script")
    }
}

const PAGE: &str = "https://psp.example/pay/ch_1";

/// The fake family's tokenless notification path for merchant `m1` (its notifications carry a
/// signature header, so the family may use it).
const FAKE_M1: super::notification::Endpoint<'static> = super::notification::Endpoint {
    family: "fake",
    merchant_id: "m1",
    token: None,
};

impl PaymentProvider for Fake {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn capabilities(&self) -> Capabilities {
        Capabilities {
            roles: &[Role::CreditCard],
            refunds: true,
            cancel_preauth: true,
            capture_preauth: true,
            requires_return_url: true,
            checkout: CheckoutKind::Redirect,
            lookup: LookupKind::Limited,
            limits: TextLimits {
                descriptor: 22,
                holder: 64,
                name: 64,
                street: 64,
                city: 64,
                postcode: 16,
                email: 128,
                company: 64,
            },
            notification_headers: &["x-fake-signature"],
            self_authenticating_notifications: true,
        }
    }
    fn settings_schema(&self) -> &'static [SettingField] {
        &[]
    }
    fn check_amount(&self, _: &Money) -> Result<(), String> {
        Ok(())
    }
    fn bind(
        &self,
        _: &PspSettings,
        _: &MerchantCtx,
    ) -> Result<Arc<dyn MerchantPsp>, SettingsError> {
        Ok(Arc::new(self.clone()))
    }
    fn operation_timeout(&self) -> Duration {
        Duration::from_secs(5)
    }
}

#[async_trait]
impl MerchantPsp for Fake {
    async fn check_settings(&self) -> Result<MethodValidity, PspError> {
        Ok(MethodValidity::default())
    }
    async fn start_preauth(&self, _: &InitialPreauth) -> PreauthStart {
        self.note("start_preauth");
        PreauthStart::Done(PspResult::unknown("not scripted"))
    }
    fn shopper_view(&self, c: &CheckoutRef<'_>, _: &CheckoutPage) -> Option<ShopperView> {
        c.data.map(|url| ShopperView::Redirect(url.to_string()))
    }
    fn return_leg(&self, _: &CheckoutRef<'_>, _: &[(String, String)]) -> ReturnLeg {
        // A redirect PSP's return carries nothing of its own: every hit means "ask now".
        ReturnLeg::Finished
    }
    async fn complete_checkout(&self, _: &CheckoutRef<'_>) -> PspResult {
        self.note("complete_checkout");
        self.script()
            .checkout
            .clone()
            .unwrap_or_else(|| PspResult::bare(Outcome::Pending))
    }
    async fn authorize_stored(&self, _: &StoredCharge) -> PspResult {
        PspResult::unknown("not scripted")
    }
    async fn charge_stored(&self, _: &StoredCharge) -> PspResult {
        PspResult::unknown("not scripted")
    }
    async fn capture(&self, _: &FollowUp) -> PspResult {
        PspResult::unknown("not scripted")
    }
    async fn cancel(&self, _: &FollowUp) -> PspResult {
        PspResult::unknown("not scripted")
    }
    async fn refund(&self, _: &FollowUp) -> PspResult {
        PspResult::unknown("not scripted")
    }
    async fn fetch_status(&self, _: &str) -> Result<PspResult, PspError> {
        self.note("fetch_status");
        Ok(PspResult::bare(Outcome::Pending))
    }
    async fn lookup(&self, _: Reference<'_>, _: &crate::psp::Known) -> Lookup {
        self.note("lookup");
        self.script().lookup.clone().unwrap_or(Lookup::Unsupported)
    }
    async fn receive(
        &self,
        inbound: &Inbound<'_>,
    ) -> Result<Vec<PspNotification>, NotificationError> {
        self.note("receive");
        if inbound.header("x-fake-signature") != Some("good") {
            return Err(NotificationError::Unauthentic("bad signature".into()));
        }
        Ok(self.script().events.clone())
    }
}

struct Env {
    app: App,
    fake: Fake,
    store: crate::store::SqlStore,
    merchant: super::Merchant,
}

async fn run<F, Fut>(backend: Backend, test: F)
where
    F: FnOnce(Env) -> Fut,
    Fut: Future<Output = ()>,
{
    let (db, store) = crate::testing::scratch_store(backend).await;
    store.migrate().await.expect("migrate");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let cfg = crate::config::AppConfig::load("default", &dir).expect("config");
    let shared: Arc<dyn Store> = Arc::new(store.clone());
    let mut app = crate::startup::build_app(&cfg, shared, Arc::new(SystemClock)).expect("app");
    let fake = Fake::default();
    app.providers = Registry::default().with(Arc::new(fake.clone()));
    let record = MerchantRecord {
        id: "m1".into(),
        name: "Shop".into(),
        psp: "fake".into(),
        created_at: app.now(),
        disabled_at: None,
        previous_token_until: None,
    };
    store
        .create_merchant(&record, b"hash")
        .await
        .expect("merchant");
    let sealed = app.sealer.seal(br#"{"ApiKey":"test_x"}"#).expect("seal");
    store
        .put_settings("m1", &sealed, app.now())
        .await
        .expect("settings");
    let merchant = app.bind(record).expect("bind");
    test(Env {
        app,
        fake,
        store: store.clone(),
        merchant,
    })
    .await;
    store.close().await;
    db.drop_db().await.expect("drop scratch database");
}

crate::testing::on_each_backend!(super::run;
    unsupported_lookup_never_fails_a_payment,
    not_found_still_fails_after_the_grace,
    no_connection_is_held_during_a_psp_call,
    redirect_checkout_returns_without_parameters,
    several_events_per_call_and_neutral_auth,
);

/// A payment whose PSP id never reached us, created `age_secs` ago.
async fn lost_payment(e: &Env, age_secs: i64) -> crate::store::TransactionRecord {
    let money = Money::new(
        Decimal::new(1000, 2),
        crate::domain::Currency::parse("EUR").expect("EUR"),
        true,
    )
    .expect("money");
    let url = url::Url::parse("http://127.0.0.1:9/hook").expect("url");
    let mut rec = e
        .app
        .new_record(&e.merchant, TxKind::Payment, "pay-1", &money, &url);
    rec.created_at = e.app.now().plus_seconds(-age_secs);
    rec.next_reconcile_at = Some(e.app.now().plus_seconds(-1));
    e.store
        .insert_transaction(&rec, "test")
        .await
        .expect("insert");
    rec
}

fn policy(e: &Env) -> super::reconcile::Policy {
    super::reconcile::Policy {
        first_delay: 1,
        max_delay: 60,
        not_found_grace: e.app.not_found_grace_secs,
        checkout_grace: 60,
        batch: 10,
    }
}

async fn status_of(e: &Env, id: &str) -> crate::store::TransactionRecord {
    e.store
        .get_transaction_by_id("m1", id)
        .await
        .expect("read")
        .expect("row")
}

async fn unsupported_lookup_never_fails_a_payment(e: Env) {
    let tx = lost_payment(&e, 86_400).await;
    for _ in 0..3 {
        let now = status_of(&e, &tx.id)
            .await
            .next_reconcile_at
            .expect("deadline");
        super::reconcile::run_once(&e.app, &policy(&e), now)
            .await
            .expect("round");
    }
    let after = status_of(&e, &tx.id).await;
    assert_ne!(
        after.status,
        TxStatus::Failed,
        "failed for want of a search"
    );
    assert!(
        after.needs_reconcile && after.next_reconcile_at.is_some(),
        "kept for the reconciler"
    );
    assert_eq!(after.reconcile_attempts, 3);
    assert_eq!(e.fake.script().calls, ["lookup", "lookup", "lookup"]);
}

/// The contrast: a PSP that searched and holds nothing fails the payment after the grace (so
/// the test above would see a regression).
async fn not_found_still_fails_after_the_grace(e: Env) {
    e.fake.script().lookup = Some(Lookup::NotFound);
    let tx = lost_payment(&e, 86_400).await;
    super::reconcile::run_once(&e.app, &policy(&e), e.app.now())
        .await
        .expect("round");
    assert_eq!(status_of(&e, &tx.id).await.status, TxStatus::Failed);
}

async fn no_connection_is_held_during_a_psp_call(e: Env) {
    let tx = lost_payment(&e, 10).await;
    // Inside one unit of work, as a request is: the read pins a connection first.
    crate::store::session::pinned(async {
        let _ = e
            .store
            .get_transaction_by_id("m1", &tx.id)
            .await
            .expect("read");
        assert!(
            crate::store::session::holding(),
            "the read pinned a connection"
        );
        let psp = e.app.psp(&e.merchant).await.expect("bound");
        let _ = psp
            .lookup(Reference::Own("pay-1"), &crate::psp::Known::default())
            .await;
    })
    .await;
    let s = e.fake.script();
    assert_eq!(s.calls, ["lookup"]);
    assert!(
        !s.held_during_call,
        "a connection was held while the PSP answered"
    );
}

async fn redirect_checkout_returns_without_parameters(e: Env) {
    let money = Money::new(
        Decimal::new(500, 2),
        crate::domain::Currency::parse("EUR").expect("EUR"),
        true,
    )
    .expect("money");
    let url = url::Url::parse("http://127.0.0.1:9/hook").expect("url");
    let mut rec = e.app.new_record(
        &e.merchant,
        TxKind::Preauth,
        "20261203-0123456789abcdef01234567",
        &money,
        &url,
    );
    rec.is_initial = true;
    rec.role = Some(Role::CreditCard);
    rec.checkout_token = Some("tok1".into());
    rec.success_url = Some("https://billwerk.example/ok".into());
    e.store
        .insert_transaction(&rec, "test")
        .await
        .expect("insert");
    // As the flow records a created checkout.
    let update = crate::store::TxUpdate {
        checkout_id: Some("ch_1".into()),
        checkout_data: Some(PAGE.into()),
        expires_at: Some(e.app.now().plus_seconds(600)),
        note: "checkout created".into(),
        ..Default::default()
    };
    e.app
        .transition(rec.clone(), move |_| Some(update.clone()))
        .await
        .expect("checkout recorded");
    // Our page sends the shopper on to the PSP's page.
    let page = super::checkout::page(&e.app, "tok1", "nonce")
        .await
        .expect("page");
    assert_eq!(page, super::checkout::BrowserReply::Redirect(PAGE.into()));
    // The shopper comes back before paying: the PSP says open, the preauth stays Initiated and
    // the browser goes back to our page (which forwards to the PSP), not into a loop of ours.
    let back = super::checkout::returned(&e.app, "tok1", &[])
        .await
        .expect("return");
    assert_eq!(
        back,
        super::checkout::BrowserReply::Redirect(format!("{}/checkout/tok1", e.app.public_base_url))
    );
    // Paid: a return without any parameter reads the result and leads to Billwerk's URL.
    e.fake.script().checkout = Some(PspResult {
        psp_transaction_id: Some("tr_1".into()),
        amount: Some(Decimal::new(500, 2)),
        currency: Some("EUR".into()),
        kind: Some(EventKind::Authorization),
        credential: Some(crate::psp::StoredCredential {
            credential: "cst_1/mdt_1".into(),
            bearer: Default::default(),
            initial_transaction_id: None,
            is_debit: false,
        }),
        ..PspResult::bare(Outcome::Succeeded)
    });
    let done = super::checkout::returned(&e.app, "tok1", &[])
        .await
        .expect("return");
    assert_eq!(
        done,
        super::checkout::BrowserReply::Redirect("https://billwerk.example/ok".into())
    );
    let tx = status_of(&e, &rec.id).await;
    assert_eq!(tx.status, TxStatus::Succeeded);
    assert_eq!(
        e.fake.script().calls,
        ["complete_checkout", "complete_checkout"]
    );
}

fn refund_event(id: &str, amount: i64) -> PspNotification {
    PspNotification {
        dedupe_key: format!("{id}:refunded"),
        event: PspEvent::Payment(Box::new(PaymentEvent {
            kind: EventKind::Refund,
            psp_type: "refund".into(),
            merchant_tx_id: None,
            referenced_id: Some("tr_unknown".into()),
            checkout_id: None,
            result: PspResult {
                psp_transaction_id: Some(id.into()),
                amount: Some(Decimal::new(amount, 2)),
                currency: Some("EUR".into()),
                ..PspResult::bare(Outcome::Succeeded)
            },
            chargeback: None,
        })),
    }
}

async fn several_events_per_call_and_neutral_auth(e: Env) {
    e.fake.script().events = vec![refund_event("re_1", 100), refund_event("re_2", 200)];
    let headers = vec![
        ("x-fake-signature".to_string(), "good".to_string()),
        ("user-agent".to_string(), "psp".to_string()),
    ];
    let inbound = Inbound {
        headers: &headers,
        body: b"id=tr_1",
        query: "",
    };
    let ack = super::notification::receive(&e.app, FAKE_M1, inbound)
        .await
        .expect("ack");
    assert!(
        matches!(ack, super::notification::Ack::Stored(_)),
        "{ack:?}"
    );
    use sqlx::Row;
    let rows = sqlx::query("SELECT dedupe_key, auth FROM notifications ORDER BY id")
        .fetch_all(e.store.pool())
        .await
        .expect("rows");
    let got: Vec<(String, Option<String>)> = rows
        .iter()
        .map(|r| {
            (
                r.get::<String, _>("dedupe_key"),
                r.get::<Option<String>, _>("auth"),
            )
        })
        .collect();
    let auth = Some(r#"{"x-fake-signature":"good"}"#.to_string());
    assert_eq!(
        got,
        vec![
            ("re_1:refunded".into(), auth.clone()),
            ("re_2:refunded".into(), auth)
        ],
        "one row per event, each with the adapter's named header only"
    );
    // A copy of the call is a duplicate of both events.
    let inbound = Inbound {
        headers: &headers,
        body: b"id=tr_1",
        query: "",
    };
    let again = super::notification::receive(&e.app, FAKE_M1, inbound)
        .await
        .expect("ack");
    assert_eq!(again, super::notification::Ack::Duplicate);
}
