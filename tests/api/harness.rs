//! Test harness: the real app on port 0 over a fresh database (SQLite by default, Postgres when
//! PSPI_TEST_BACKEND=postgres), the simulator of the PSP family under test on port 0
//! (PSPI_TEST_FAMILY, tests/api/family.rs; the OPPWA simulator always runs, for the tests that
//! are OPPWA's own), typed request helpers, and a scripted "browser" for the hosted checkout.

use std::sync::Arc;

use psp_integrator::config::AppConfig;
use psp_integrator::domain::SystemClock;
use psp_integrator::sim::billwerk::{BillwerkStandIn, StandInHandle};
use psp_integrator::sim::oppwa::{self as sim, Fault, Sim, SimConfig, SimHandle};
use psp_integrator::startup::{self, Application, Roles};
use psp_integrator::store::{self, Store, scratch::ScratchDb};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

#[allow(unused_imports)]
pub use crate::family::{Capability, Family, MollieSide, PspFault, PspMoney, Shopper};

pub struct TestApp {
    pub app: psp_integrator::flows::App,
    pub cfg: AppConfig,
    pub standin: StandInHandle,
    pub base: String,
    /// `http://host:port` of the operator listener (`/metrics`, `/docs`, `/openapi.json`).
    pub ops: String,
    pub client: reqwest::Client,
    /// The OPPWA simulator (runs for every family: OPPWA-only tests use it).
    pub sim: SimHandle,
    /// The PSP family the merchant is on (`PSPI_TEST_FAMILY`).
    pub family: Family,
    /// The Mollie simulator, when Mollie is under test.
    pub mollie: Option<MollieSide>,
    pub store: Arc<dyn Store>,
    pub token: String,
    pub merchant_id: String,
    /// The merchant's notification URL, as the app makes it (with its token).
    notify_url: String,
    shutdown: CancellationToken,
    /// The service itself, built like `serve` builds it.
    pub application: Option<Application>,
    scratch: Option<ScratchDb>,
}

/// The OPPWA simulator, the Mollie one when Mollie is under test, and the Billwerk stand-in, on
/// port 0, stopped with `shutdown`.
async fn psp_and_billwerk(
    shutdown: &CancellationToken,
) -> (SimHandle, Option<MollieSide>, StandInHandle) {
    let sim = Sim::spawn(
        SimConfig::default(),
        "127.0.0.1:0".parse().expect("addr"),
        shutdown.clone(),
    )
    .await
    .expect("simulator starts");
    let standin = BillwerkStandIn::spawn("127.0.0.1:0".parse().expect("addr"), shutdown.clone())
        .await
        .expect("stand-in starts");
    let mollie = match Family::under_test() {
        Family::Mollie => Some(crate::family::start_mollie(shutdown).await),
        Family::Oppwa => None,
    };
    (sim, mollie, standin)
}

/// What lives outside the service and survives its restarts: the PSP (simulator) and Billwerk
/// (stand-in). Stopped when dropped.
pub struct Outside {
    pub sim: SimHandle,
    pub mollie: Option<MollieSide>,
    pub standin: StandInHandle,
    shutdown: CancellationToken,
}

impl Outside {
    pub async fn start() -> Outside {
        let shutdown = CancellationToken::new();
        let (sim, mollie, standin) = psp_and_billwerk(&shutdown).await;
        Outside {
            sim,
            mollie,
            standin,
            shutdown,
        }
    }
}

impl Drop for Outside {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Which database the suite runs on. With PSPI_TEST_BACKEND=postgres an unreachable server fails
/// the test; it never silently falls back.
pub async fn scratch_db() -> ScratchDb {
    let backend = store::scratch::Backend::from_env();
    ScratchDb::on(backend)
        .await
        .unwrap_or_else(|e| panic!("a scratch database on {backend:?}: {e}"))
}

/// The service's warnings and errors (or what `RUST_LOG` asks for) through libtest's output
/// capture: shown with a failing test, not between passing ones. Tests that read the logs install
/// their own subscriber for their thread.
pub fn init_test_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .with_ansi(false)
        .try_init();
}

pub fn config_for(sim_url: &str, db_url: &str) -> AppConfig {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    let mut cfg = AppConfig::load("default", &dir).expect("default config");
    cfg.database.url = db_url.to_string();
    cfg.psp
        .of_mut::<psp_integrator::psp::oppwa::OppwaPspSection>()
        .expect("[psp.oppwa]")
        .test_base_url = sim_url.to_string();
    cfg.psp
        .of_mut::<psp_integrator::psp::oppwa::OppwaPspSection>()
        .expect("[psp.oppwa]")
        .live_base_url = sim_url.to_string();
    cfg.psp
        .of_mut::<psp_integrator::psp::oppwa::OppwaPspSection>()
        .expect("[psp.oppwa]")
        .timeout_secs = 10;
    cfg.sim.disable_all();
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.server.public_base_url = "http://127.0.0.1:0".into();
    cfg.ops.listen = "127.0.0.1:0".into();
    // Suites send bursts; the rate limit has its own test.
    cfg.limits.rate_per_second = 10_000;
    cfg.limits.burst = 10_000;
    // The Billwerk stand-in listens on loopback.
    cfg.webhooks.allowed_hosts.push("127.0.0.1".into());
    cfg.webhooks.allow_private_targets = true;
    cfg
}

/// Points the Mollie family's hosts at its simulator.
pub fn point_at_mollie(cfg: &mut AppConfig, mollie: &MollieSide) {
    let section = cfg
        .psp
        .of_mut::<psp_integrator::psp::mollie::MolliePspSection>()
        .expect("[psp.mollie]");
    section.test_base_url = mollie.base_url.clone();
    section.live_base_url = mollie.base_url.clone();
    section.timeout_secs = 10;
}

impl TestApp {
    /// A running app with one merchant of the family under test, whose sandbox settings point
    /// at its simulator.
    pub async fn spawn() -> TestApp {
        let app = Self::spawn_with(|_| {}).await;
        let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
        assert_eq!(status, StatusCode::OK, "sandbox settings accepted: {body}");
        app
    }

    /// A running app with one merchant and no settings; `tweak` adjusts the configuration.
    pub async fn spawn_with(tweak: impl FnOnce(&mut AppConfig)) -> TestApp {
        let scratch = scratch_db().await;
        Self::spawn_on(scratch, tweak).await
    }

    /// A running app over an existing database (e.g. after a crash), with a new merchant.
    pub async fn spawn_on(scratch: ScratchDb, tweak: impl FnOnce(&mut AppConfig)) -> TestApp {
        let shutdown = CancellationToken::new();
        let (sim, mollie, standin) = psp_and_billwerk(&shutdown).await;
        Self::assemble(scratch, (sim, mollie), standin, shutdown, tweak, None).await
    }

    /// The service over an existing database, against `parts`' simulator and stand-in (which
    /// outlive it, as the real PSP and Billwerk outlive a restart), for an existing merchant
    /// `(id, token)` or a new one.
    pub async fn attach(
        parts: &Outside,
        scratch: ScratchDb,
        merchant: Option<(String, String)>,
        tweak: impl FnOnce(&mut AppConfig),
    ) -> TestApp {
        let sim = SimHandle {
            base_url: parts.sim.base_url.clone(),
            addr: parts.sim.addr,
            sim: parts.sim.sim.clone(),
        };
        let shutdown = CancellationToken::new();
        Self::assemble(
            scratch,
            (sim, parts.mollie.clone()),
            parts.standin.clone(),
            shutdown,
            tweak,
            merchant,
        )
        .await
    }

    async fn assemble(
        scratch: ScratchDb,
        (sim, mollie): (SimHandle, Option<MollieSide>),
        standin: StandInHandle,
        shutdown: CancellationToken,
        tweak: impl FnOnce(&mut AppConfig),
        merchant: Option<(String, String)>,
    ) -> TestApp {
        init_test_logs();
        let family = Family::under_test();
        let mut cfg = config_for(&sim.base_url, &scratch.url);
        if let Some(m) = &mollie {
            point_at_mollie(&mut cfg, m);
        }
        tweak(&mut cfg);
        let application = Application::build(cfg, Roles::API)
            .await
            .expect("the application starts");
        let cfg = application.config().clone();
        let app = application.app().clone();
        let store = app.store.clone();
        let providers = app.providers.clone();
        let addr = application.addr().expect("listening");
        let (merchant_id, token) = match merchant {
            Some(m) => m,
            None => {
                let name = format!("acme-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
                let (m, token) = psp_integrator::flows::operators::merchants::create_merchant(
                    store.as_ref(),
                    &providers,
                    &SystemClock,
                    &name,
                    family.name(),
                )
                .await
                .expect("merchant");
                (m.id, token)
            }
        };
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let ops = format!("http://{}", application.ops_addr().expect("ops listener"));
        let record = store
            .find_merchant(&merchant_id)
            .await
            .expect("read")
            .expect("the merchant");
        let notify_url = app.notification_url(&record);
        TestApp {
            app,
            cfg,
            standin,
            base: format!("http://{addr}"),
            ops,
            client,
            sim,
            family,
            mollie,
            store,
            token,
            merchant_id,
            notify_url,
            shutdown,
            application: Some(application),
            scratch: Some(scratch),
        }
    }

    /// Stops the service gracefully and hands back its database (for a restart on it).
    pub async fn stop_keeping_db(mut self) -> ScratchDb {
        let scratch = self.scratch.take().expect("the app owns its database");
        self.shutdown.cancel();
        if let Some(a) = self.application.take() {
            a.stop().await;
        }
        scratch
    }

    /// Another merchant on the same app and family, with the sandbox settings of another PSP
    /// account; returns its token.
    pub async fn second_merchant(&self, name: &str) -> String {
        let mut cfg = config_for(&self.sim.base_url, "sqlite://unused.db");
        if let Some(m) = &self.mollie {
            point_at_mollie(&mut cfg, m);
        }
        let providers = startup::adapters(&cfg);
        let (_, token) = psp_integrator::flows::operators::merchants::create_merchant(
            self.store.as_ref(),
            &providers,
            &SystemClock,
            name,
            self.family.name(),
        )
        .await
        .expect("merchant");
        let (status, body) = self
            .put_settings(&token, self.family.sandbox_settings(true))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        token
    }

    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.expect("request sent");
        let status = res.status();
        let text = res.text().await.expect("body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// GETs `path` from the operator listener: (status, body text).
    pub async fn ops_get(&self, path: &str) -> (StatusCode, String) {
        let res = self
            .client
            .get(format!("{}{path}", self.ops))
            .send()
            .await
            .expect("ops request sent");
        (res.status(), res.text().await.expect("body"))
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.send(reqwest::Method::POST, path, Some(&self.token), Some(&body))
            .await
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.send(reqwest::Method::GET, path, Some(&self.token), None)
            .await
    }

    pub async fn put_settings(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.send(
            reqwest::Method::PUT,
            "/api/Settings",
            Some(token),
            Some(&body),
        )
        .await
    }

    /// Number of PSP transactions (charges, captures, refunds) the family's simulator holds for
    /// a Billwerk transaction id.
    pub fn psp_calls(&self, billwerk_id: &str) -> usize {
        match self.family {
            // Every OPPWA transaction carrying the id (chargebacks included).
            Family::Oppwa => self.sim.sim.count_by_merchant_tx_id(billwerk_id),
            Family::Mollie => self.psp_charges(billwerk_id),
        }
    }

    pub fn fault(&self, f: Fault) {
        self.sim.sim.set_fault(f);
    }

    /// A card preauth that the shopper completes on the hosted page; returns the preauth body.
    pub async fn card_preauth(&self, tx: &str, agreement: &str, amount: f64, card: &str) -> Value {
        let (status, body) = self
            .post("/api/Preauth", preauth_body(tx, agreement, amount))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["status"], "Initiated");
        let redirect = body["redirectUrl"]
            .as_str()
            .expect("redirectUrl")
            .to_string();
        let landing = self.pay_on_checkout(&redirect, card).await;
        assert_eq!(
            landing, "https://merchant.example/success",
            "browser lands on Billwerk's success URL"
        );
        let (status, body) = self.get(&format!("/api/Preauth/{tx}")).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    /// Plays the shopper who pays with `card` on the family's checkout, follows the redirects
    /// back through our return URL; returns where the browser finally lands.
    pub async fn pay_on_checkout(&self, redirect_url: &str, card: &str) -> String {
        self.shopper_on_checkout(redirect_url, Shopper::Pay(card))
            .await
    }

    /// OPPWA's widget: opens our page, submits the card at the PSP, follows the redirects back
    /// through our return URL; returns where the browser finally lands.
    pub async fn oppwa_pay_on_checkout(&self, redirect_url: &str, card: &str) -> String {
        let page = self.client.get(redirect_url).send().await.expect("page");
        assert_eq!(page.status(), StatusCode::OK);
        let html = page.text().await.expect("html");
        let checkout_id =
            between(&html, "checkoutId=", "\"").expect("checkout id in widget script");
        let return_url = between(&html, "action=\"", "\"")
            .expect("form action")
            .replace("&amp;", "&");
        let res = self.submit_card(&checkout_id, &return_url, card).await;
        assert_eq!(
            res.status(),
            StatusCode::SEE_OTHER,
            "PSP redirects back to our return URL"
        );
        let back = location(&res);
        assert!(back.starts_with(&return_url), "PSP returns to {back}");
        let res = self.client.get(&back).send().await.expect("return");
        assert!(
            res.status().is_redirection(),
            "return answers a redirect, got {}",
            res.status()
        );
        location(&res)
    }

    /// The simulator's hosted card form submission (what paymentWidgets.js posts).
    pub async fn submit_card(
        &self,
        checkout_id: &str,
        shopper_result_url: &str,
        card: &str,
    ) -> reqwest::Response {
        let form = [
            ("paymentBrand", brand(card)),
            ("card.number", card),
            ("card.holder", "Jane Jones"),
            ("card.expiryMonth", "12"),
            ("card.expiryYear", "2034"),
            ("card.cvv", if card.len() == 15 { "1234" } else { "123" }),
            ("shopperResultUrl", shopper_result_url),
        ];
        self.client
            .post(format!(
                "{}/v1/checkouts/{checkout_id}/submit",
                self.sim.base_url
            ))
            .form(&form)
            .send()
            .await
            .expect("submit card")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        if let Some(a) = self.application.take() {
            a.shutdown_token().cancel();
        }
        if let Some(s) = self.scratch.take() {
            // Dropping the database is async; run it on its own thread and runtime and wait, so
            // the test process never exits with its database still present.
            let done = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    rt.block_on(async move {
                        let _ = s.drop_db().await;
                    });
                }
            });
            let _ = done.join();
        }
    }
}

fn brand(card: &str) -> &'static str {
    match card.as_bytes().first() {
        Some(b'5') => "MASTER",
        Some(b'3') => "AMEX",
        _ => "VISA",
    }
}

pub fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .expect("Location header")
        .to_string()
}

pub fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_string())
}

/// The sandbox settings of the family under test.
pub fn sandbox_settings() -> Value {
    Family::under_test().sandbox_settings(false)
}

/// A Billwerk transaction id unique per call: `{yyyyMMdd}-{24 hex}`.
pub fn tx_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("20261122-{}", &hex[..24])
}

pub fn agreement_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..24].to_string()
}

pub const WEBHOOK: &str = "https://billwerk.example/PSPWebhooks/ExternalIntegration";

pub fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/billwerk")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("fixture {}: {e}", path.display()));
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// The card preauth fixture with fresh ids and the given amount.
pub fn preauth_body(tx: &str, agreement: &str, amount: f64) -> Value {
    let mut b = fixture("preauth-creditcard-redirect.json");
    b["transactionId"] = json!(tx);
    b["agreementId"] = json!(agreement);
    b["requestedAmount"] = json!(amount);
    b["webhookTarget"] = json!(WEBHOOK);
    b
}

pub fn sepa_preauth_body(tx: &str, agreement: &str) -> Value {
    let mut b = fixture("preauth-debit-initial-bearer.json");
    b["transactionId"] = json!(tx);
    b["agreementId"] = json!(agreement);
    b["webhookTarget"] = json!(WEBHOOK);
    b
}

pub fn capture_body(tx: &str, preauth: &str, agreement: &str, amount: f64) -> Value {
    let mut b = fixture("payment-capture.json");
    b["transactionId"] = json!(tx);
    b["preauthTransactionId"] = json!(preauth);
    b["agreementId"] = json!(agreement);
    b["requestedAmount"] = json!(amount);
    b["webhookTarget"] = json!(WEBHOOK);
    b
}

pub fn recurring_body(tx: &str, agreement: &str, amount: f64) -> Value {
    let mut b = fixture("payment-recurring.json");
    b["transactionId"] = json!(tx);
    b["agreementId"] = json!(agreement);
    b["requestedAmount"] = json!(amount);
    b["webhookTarget"] = json!(WEBHOOK);
    b
}

pub fn refund_body(tx: &str, payment: &str, amount: f64) -> Value {
    let mut b = fixture("refund.json");
    b["transactionId"] = json!(tx);
    b["paymentTransactionId"] = json!(payment);
    b["requestedAmount"] = json!(amount);
    b["webhookTarget"] = json!(WEBHOOK);
    b
}

/// `lastUpdated` and `receivedAt`: UTC with exactly 7 fractional digits.
pub fn assert_wire_time(v: &Value) {
    let s = v
        .as_str()
        .unwrap_or_else(|| panic!("timestamp is a string: {v}"));
    let ok = s.len() == 28
        && s.ends_with('Z')
        && s.as_bytes()[19] == b'.'
        && chrono::DateTime::parse_from_rfc3339(s).is_ok();
    assert!(
        ok,
        "timestamp {s} has the form yyyy-MM-ddTHH:mm:ss.fffffffZ"
    );
}

/// The exact set of keys of a JSON object.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    k.sort();
    k
}

/// Asserts an error object with the given status, errorCode and a field name in the message.
pub fn assert_error(
    status: StatusCode,
    body: &Value,
    want_status: u16,
    code: &str,
    mentions: &str,
) {
    assert_eq!(status.as_u16(), want_status, "status for {body}");
    assert_eq!(body["errorCode"], code, "errorCode in {body}");
    let msg = body["errorMessage"].as_str().unwrap_or_default();
    assert!(
        msg.contains(mentions),
        "errorMessage '{msg}' mentions '{mentions}'"
    );
    assert_wire_time(&body["receivedAt"]);
    assert!(body["status"].is_string(), "status present in {body}");
}

/// Notification and webhook plumbing for the asynchronous tests.
impl TestApp {
    /// The merchant's notification URL, as the app gives it to the PSP.
    pub fn notification_url(&self) -> String {
        self.notify_url.clone()
    }

    /// Where our webhooks to Billwerk go: the recording stand-in.
    pub fn hook_target(&self) -> String {
        self.standin.url("/PSPWebhooks/ExternalIntegration")
    }

    /// Configures the simulator's webhook at our notification URL and activates it (Mollie
    /// takes the URL with each payment: nothing to configure).
    pub async fn connect_psp_webhooks(&self) {
        if self.family == Family::Mollie {
            return;
        }
        let id = self.sim.sim.add_webhook(sim::WebhookConfig {
            url: self.notification_url(),
            secret_hex: sim::SANDBOX_WEBHOOK_SECRET.to_string(),
            entity_id: None,
            types: vec![],
            fields: "ALL".into(),
        });
        let status = self
            .sim
            .sim
            .activate_webhook(id)
            .await
            .expect("activation test sent");
        assert_eq!(status, 200, "our endpoint answers the activation test");
    }

    /// The PSP delivers every notification that is due; returns how many got a 200.
    pub async fn psp_delivers(&self) -> usize {
        if let Some(m) = &self.mollie {
            let attempts = m.sim.deliver_due().await;
            return attempts.iter().filter(|a| a.status == Some(200)).count();
        }
        let reports = self.sim.sim.deliver_due().await;
        reports.iter().filter(|r| r.status == Some(200)).count()
    }

    pub fn worker(&self) -> psp_integrator::outbox::worker::Worker {
        psp_integrator::outbox::worker::Worker::new(
            self.store.clone(),
            self.cfg.webhooks.clone(),
            Arc::new(SystemClock),
        )
        .expect("worker")
    }

    /// Runs the outbox worker once as if at `now + secs`.
    pub async fn drain_outbox(&self, secs: i64) {
        let now = psp_integrator::domain::Clock::now(&SystemClock).plus_seconds(secs);
        self.worker().run_once(now).await;
    }

    /// Webhooks the Billwerk stand-in received, as JSON bodies.
    pub fn webhooks(&self) -> Vec<Value> {
        self.standin
            .received()
            .into_iter()
            .map(|r| r.body)
            .collect()
    }
}

/// Hand-made PSP notifications, for events the simulator would not send in that order or shape.
impl TestApp {
    /// The simulator's record of a PSP transaction, as its API reports it.
    pub fn psp_json(&self, psp_id: &str) -> Value {
        self.sim
            .sim
            .transactions()
            .into_iter()
            .find(|t| t["id"] == psp_id)
            .unwrap_or_else(|| panic!("the simulator knows {psp_id}"))
    }

    /// Sends an encrypted `PAYMENT` notification with `payload` to our endpoint; the status.
    pub async fn notify(&self, payload: &Value) -> StatusCode {
        let plain = json!({"type": "PAYMENT", "payload": payload}).to_string();
        let enc = sim::encrypt_notification(sim::SANDBOX_WEBHOOK_SECRET, plain.as_bytes(), None)
            .expect("encrypt");
        self.client
            .post(self.notification_url())
            .header("content-type", "text/plain")
            .header("X-Initialization-Vector", enc.iv_hex)
            .header("X-Authentication-Tag", enc.tag_hex)
            .body(enc.body_hex)
            .send()
            .await
            .expect("notification sent")
            .status()
    }

    /// The state history notes of a transaction (by Billwerk id).
    pub async fn history_notes(&self, billwerk_id: &str) -> Vec<String> {
        let tx = self
            .store
            .get_transaction(&self.merchant_id, billwerk_id)
            .await
            .expect("read")
            .expect("transaction");
        self.store
            .history(&self.merchant_id, &tx.id)
            .await
            .expect("history")
            .into_iter()
            .map(|h| h.note)
            .collect()
    }

    /// The stored transaction (by Billwerk id).
    pub async fn record(&self, billwerk_id: &str) -> psp_integrator::store::TransactionRecord {
        self.store
            .get_transaction(&self.merchant_id, billwerk_id)
            .await
            .expect("read")
            .expect("transaction")
    }

    /// Webhooks Billwerk received about one transaction, after delivering everything due.
    pub async fn hooks_for(&self, billwerk_id: &str) -> Vec<i64> {
        self.drain_outbox(60).await;
        self.webhooks()
            .iter()
            .filter(|h| h["TransactionId"] == billwerk_id)
            .filter_map(|h| h["Type"].as_i64())
            .collect()
    }
}

/// A SEPA mandate whose webhooks go to the stand-in; returns the agreement.
pub async fn sepa_agreement(app: &TestApp) -> String {
    let agr = agreement_id();
    let (s, b) = app
        .post(
            "/api/Preauth",
            targeted(sepa_preauth_body(&tx_id(), &agr), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    agr
}

/// A pending SEPA debit of `amount` on `agr`; returns (Billwerk id, PSP id).
pub async fn pending_sepa_debit(app: &TestApp, agr: &str, amount: f64) -> (String, String) {
    let debit = tx_id();
    let mut body = targeted(recurring_body(&debit, agr, amount), &app.hook_target());
    body["paymentMeansReference"]["role"] = json!("Debit");
    let (s, d) = app.post("/api/Payment", body).await;
    assert_eq!(
        (s, d["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{d}"
    );
    (
        debit,
        d["pspTransactionId"].as_str().expect("psp id").to_string(),
    )
}

/// A body with its webhookTarget replaced.
pub fn targeted(mut body: Value, target: &str) -> Value {
    body["webhookTarget"] = json!(target);
    body
}

impl TestApp {
    /// The embedded default as `serve` runs it: SQLite at `db_url`, the built-in simulator
    /// (its state beside the database) on a free port. `merchant`: an existing (id, token), or
    /// `None` to create one.
    pub async fn embedded(db_url: &str, merchant: Option<(String, String)>) -> TestApp {
        init_test_logs();
        let shutdown = CancellationToken::new();
        let standin =
            BillwerkStandIn::spawn("127.0.0.1:0".parse().expect("addr"), shutdown.clone())
                .await
                .expect("stand-in starts");
        let mut cfg = config_for("http://127.0.0.1:1", db_url);
        cfg.sim
            .of_mut::<psp_integrator::sim::oppwa::OppwaSimSection>()
            .expect("[sim.oppwa]")
            .enabled = true;
        cfg.sim
            .of_mut::<psp_integrator::sim::oppwa::OppwaSimSection>()
            .expect("[sim.oppwa]")
            .listen = "127.0.0.1:0".into();
        cfg.sim
            .of_mut::<psp_integrator::sim::oppwa::OppwaSimSection>()
            .expect("[sim.oppwa]")
            .auto_deliver = false;
        let application = Application::build(cfg, Roles::API)
            .await
            .expect("the application starts");
        let handle = application.simulator("oppwa").expect("simulator runs");
        let sim = SimHandle {
            base_url: handle.base_url.clone(),
            addr: handle.addr,
            sim: handle.get::<Sim>().expect("the OPPWA simulator").clone(),
        };
        let cfg = application.config().clone();
        let app = application.app().clone();
        let store = app.store.clone();
        let (merchant_id, token) = match merchant {
            Some(m) => m,
            None => {
                let (m, token) = psp_integrator::flows::operators::merchants::create_merchant(
                    store.as_ref(),
                    &app.providers,
                    &SystemClock,
                    "embedded-shop",
                    "oppwa",
                )
                .await
                .expect("merchant");
                (m.id, token)
            }
        };
        let record = store
            .find_merchant(&merchant_id)
            .await
            .expect("read")
            .expect("the merchant");
        let notify_url = app.notification_url(&record);
        TestApp {
            base: application.base_url(),
            ops: format!("http://{}", application.ops_addr().expect("ops listener")),
            app,
            cfg,
            standin,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            sim,
            // The embedded default is OPPWA's (its built-in simulator).
            family: Family::Oppwa,
            mollie: None,
            store,
            token,
            merchant_id,
            notify_url,
            shutdown,
            application: Some(application),
            scratch: None,
        }
    }

    /// Stops the service and waits for it to finish (a clean restart follows).
    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(a) = self.application.take() {
            a.stop().await;
        }
    }
}

// --- Money in the API's JSON and in the PSP's wire format (the model tests) ---

/// `pct` (of 255) of `room` in cents, at least 0.01; `None` when there is no room.
pub fn part(room: rust_decimal::Decimal, pct: u8) -> Option<rust_decimal::Decimal> {
    let c = (room * rust_decimal::Decimal::from(100)).trunc();
    if c < rust_decimal::Decimal::ONE {
        return None;
    }
    let share = (c * rust_decimal::Decimal::from(pct) / rust_decimal::Decimal::from(255))
        .trunc()
        .max(rust_decimal::Decimal::ONE);
    Some(share / rust_decimal::Decimal::from(100))
}

/// `d` with two decimals, as a PSP's amount string (`"12.30"`).
pub fn wire(d: rust_decimal::Decimal) -> String {
    let mut d = d;
    d.rescale(2);
    d.to_string()
}

/// An amount in the API's JSON (a number, or a string); 0 when unreadable.
pub fn amount_of(v: &Value) -> rust_decimal::Decimal {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
        .parse::<rust_decimal::Decimal>()
        .unwrap_or_default()
}

/// Σ the `amount` of a JSON array's items (`payments`, `chargebacks`).
pub fn sum(items: &Value) -> rust_decimal::Decimal {
    items
        .as_array()
        .map(|a| a.iter().map(|i| amount_of(&i["amount"])).sum())
        .unwrap_or_default()
}
