//! What every family's narrated tour (`psp-integrator demo --psp <family>`) shares: a
//! throw-away SQLite database, the integrator built like `serve` with only the toured family's
//! simulator inside, a recording Billwerk stand-in, the narrator that makes real HTTP calls and
//! prints one short paragraph per step, Billwerk's request bodies, and the closing list of the
//! webhooks Billwerk received. Each family's tour (`sim/<family>/tour.rs`) adds only the steps
//! that drive its own simulator.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::AppConfig;
use crate::domain::{Clock, SystemClock};
use crate::sim::billwerk::{BillwerkStandIn, StandInHandle};
use crate::startup::{Application, Roles};

/// The IBAN the tours use for SEPA (a valid test IBAN; shown only masked).
pub const IBAN: &str = "DE89370400440532013000";

/// A running tour: the integrator, the stand-in, the merchant's token, the step counter.
pub struct Stage {
    pub http: reqwest::Client,
    pub base: String,
    pub token: String,
    pub merchant_id: String,
    /// Where the merchant's PSP delivers its notifications (with the merchant's token).
    pub notification_url: String,
    pub standin: StandInHandle,
    pub application: Application,
    /// Where Billwerk's webhooks go (the stand-in).
    pub hook: String,
    step: usize,
    stop: CancellationToken,
    dir: PathBuf,
}

/// Starts the integrator with `family`'s simulator and a merchant of that family, and prints
/// the cast. `tweak` sets the family's own `[sim.<family>]` keys (e.g. no self-delivery, so
/// the tour delivers step by step).
pub async fn stage(
    config_dir: &Path,
    family: &'static str,
    psp_name: &str,
    tweak: impl FnOnce(&mut AppConfig),
) -> Result<Stage, String> {
    crate::telemetry::init("error", false);
    let dir = std::env::temp_dir().join(format!("psp-integrator-demo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    let staged = stage_in(config_dir, family, psp_name, tweak, &dir).await;
    if staged.is_err() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    staged
}

async fn stage_in(
    config_dir: &Path,
    family: &'static str,
    psp_name: &str,
    tweak: impl FnOnce(&mut AppConfig),
    dir: &Path,
) -> Result<Stage, String> {
    let mut cfg = AppConfig::load("default", config_dir).map_err(|e| e.to_string())?;
    cfg.database.url = format!("sqlite://{}", dir.join("demo.db").display());
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.server.public_base_url = "http://127.0.0.1:0".into();
    cfg.ops.listen = "127.0.0.1:0".into();
    cfg.sim.disable_all();
    let section = cfg
        .sim
        .get_mut(family)
        .ok_or_else(|| format!("no [sim.{family}] section"))?;
    section.set_enabled(true);
    section.set_listen("127.0.0.1:0".into());
    cfg.webhooks.allowed_hosts.push("127.0.0.1".into());
    cfg.webhooks.allow_private_targets = true;
    tweak(&mut cfg);

    let stop = CancellationToken::new();
    let standin = BillwerkStandIn::spawn(([127, 0, 0, 1], 0).into(), stop.clone())
        .await
        .map_err(|e| format!("Billwerk stand-in: {e}"))?;
    let application = Application::build(cfg, Roles::API)
        .await
        .map_err(|e| format!("starting the integrator: {e}"))?;
    let sim_url = application
        .simulator(family)
        .map(|s| s.base_url.clone())
        .ok_or("the simulator did not start")?;
    println!("psp-integrator demo: Billwerk+ Transform asks this service to move money through a");
    println!(
        "PSP (here {psp_name}'s simulator); the service tells Billwerk of changes by webhook.\n"
    );
    println!("  integrator      {}", application.base_url());
    if let Some(ops) = application.ops_addr() {
        println!("  operator        http://{ops} (/metrics, /docs, /health/ready)");
    }
    println!("  {:<15} {sim_url}", format!("{psp_name} simulator"));
    println!(
        "  Billwerk        {} (a stand-in that records webhooks)",
        standin.url("")
    );
    println!(
        "  database        {} (deleted afterwards)",
        application.config().database.url
    );
    let (merchant, token) = crate::flows::operators::merchants::create_merchant(
        application.app().store.as_ref(),
        &application.app().providers,
        &SystemClock,
        "demo-shop",
        family,
    )
    .await
    .map_err(|e| format!("creating the merchant: {e}"))?;
    Ok(Stage {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?,
        base: application.base_url(),
        token,
        notification_url: application.app().notification_url(&merchant),
        merchant_id: merchant.id,
        hook: standin.url("/PSPWebhooks/ExternalIntegration"),
        standin,
        application,
        step: 0,
        stop,
        dir: dir.to_path_buf(),
    })
}

impl Stage {
    /// The simulator value of the toured family (its module's `Sim`).
    pub fn simulator<T: std::any::Any + Clone>(&self, family: &str) -> Result<T, String> {
        self.application
            .simulator(family)
            .and_then(|s| s.get::<T>().cloned())
            .ok_or_else(|| "the simulator did not start".to_string())
    }

    /// The simulator's base URL.
    pub fn simulator_url(&self, family: &str) -> String {
        self.application
            .simulator(family)
            .map(|s| s.base_url.clone())
            .unwrap_or_default()
    }

    /// Stops everything, deletes the database, and prints the way on after a tour that worked.
    pub async fn finish(self, outcome: Result<(), String>) -> Result<(), String> {
        let Stage {
            application,
            stop,
            dir,
            ..
        } = self;
        application.stop().await;
        stop.cancel();
        let _ = std::fs::remove_dir_all(&dir);
        outcome?;
        println!(
            "\nDone. Next: the README's tour of this family does the same by hand on \
             `cargo run -- serve` (with the family's simulator enabled, as the tour says); \
             http://127.0.0.1:9090/docs (the operator listener) then describes every endpoint."
        );
        Ok(())
    }

    pub fn title(&mut self, text: &str) {
        self.step += 1;
        println!("\n{}. {text}", self.step);
    }

    pub fn say(&self, text: impl AsRef<str>) {
        println!("   {}", text.as_ref());
    }

    /// A call that must answer 200; its JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let (status, v) = self.call_raw(method.clone(), path, body).await?;
        if status != StatusCode::OK {
            return Err(format!("{method} {path} answered {status}: {v}"));
        }
        Ok(v)
    }

    /// A call with the merchant's token; its status and JSON (or text).
    pub async fn call_raw(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req
            .send()
            .await
            .map_err(|e| format!("{method} {path}: {e}"))?;
        let status = res.status();
        let text = res.text().await.map_err(|e| e.to_string())?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        ))
    }

    /// Onboarding: what `IntegrationInfo` asks for, then the settings and their validity.
    pub async fn onboard(&mut self, family: &str, settings: Value) -> Result<(), String> {
        self.title("Onboarding: a merchant, its API token, the PSP settings");
        self.say(format!(
            "`merchants create --name demo-shop --psp {family}` made merchant {} and token {}…",
            self.merchant_id,
            self.token.get(..12).unwrap_or_default()
        ));
        let info = self.call(Method::GET, "/api/IntegrationInfo", None).await?;
        let keys: Vec<&str> = info["merchantSettings"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s["keyName"].as_str()).collect())
            .unwrap_or_default();
        self.say(format!(
            "GET  /api/IntegrationInfo  -> cards and SEPA debit; settings to fill: {}",
            keys.join(", ")
        ));
        let valid = self
            .call(Method::PUT, "/api/Settings", Some(settings))
            .await?;
        self.say(format!(
            "PUT  /api/Settings         -> credentials stored encrypted; card valid: {}, debit valid: {}",
            valid["isCreditCardValid"], valid["isDebitValid"]
        ));
        Ok(())
    }

    /// A SEPA mandate preauth from an IBAN; the agreement id.
    pub async fn sepa_mandate(&self) -> Result<String, String> {
        let agreement = new_ref();
        let m = self
            .call(
                Method::POST,
                "/api/Preauth",
                Some(json!({
                    "transactionId": tx_id(), "agreementId": agreement,
                    "requestedAmount": 0, "currency": "EUR", "isInitial": true,
                    "webhookTarget": self.hook,
                    "paymentMeansReference": {
                        "role": "Debit",
                        "initialBearer": { "Holder": "JOHN DOE", "IBAN": IBAN }
                    },
                    "payerData": { "firstName": "John", "lastName": "Doe" }
                })),
            )
            .await?;
        self.say(format!(
            "POST /api/Preauth (mandate) -> {}, IBAN shown masked as {}, mandate {}",
            txt(&m["status"]),
            txt(&m["bearer"]["IBAN"]),
            txt(&m["bearer"]["MandateId"])
        ));
        Ok(agreement)
    }

    /// A 25 EUR SEPA debit on `agreement`, Pending until the bank collects it; its id and the
    /// PSP's id. `pending` says why it is not final yet.
    pub async fn sepa_debit(
        &self,
        agreement: &str,
        pending: &str,
    ) -> Result<(String, String), String> {
        let debit = tx_id();
        let d = self
            .call(
                Method::POST,
                "/api/Payment",
                Some(recurring_body(&debit, agreement, 25, "Debit", &self.hook)),
            )
            .await?;
        self.say(format!(
            "POST /api/Payment 25 EUR debit -> {} ({pending})",
            txt(&d["status"])
        ));
        let psp_id = d["pspTransactionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        Ok((debit, psp_id))
    }

    /// The last step: runs the webhook worker once (as if the coalescing window had passed)
    /// and lists what Billwerk received, naming the tour's transactions by `names`.
    pub async fn webhooks_received(&mut self, names: &[(&str, &str)]) -> Result<(), String> {
        self.title("The webhooks Billwerk received");
        let worker = crate::outbox::worker::Worker::new(
            self.application.app().store.clone(),
            self.application.config().webhooks.clone(),
            std::sync::Arc::new(SystemClock),
        )
        .map_err(|e| e.to_string())?;
        worker.run_once(SystemClock.now().plus_seconds(10)).await;
        let hooks = self.standin.received();
        self.say(
            "Answers Billwerk got synchronously need no webhook; what changed after the answer (a \
             checkout completed in the browser, a payment or refund settled, a chargeback) does, \
             one per transaction however many changes:",
        );
        self.say(format!(
            "{} webhook(s), each only {{TransactionId, AgreementId, Type}}; Billwerk then GETs the state:",
            hooks.len()
        ));
        for h in &hooks {
            let tx = h.body["TransactionId"].as_str().unwrap_or_default();
            let what = names
                .iter()
                .find(|(id, _)| *id == tx)
                .map_or("mandate", |(_, n)| n);
            let kind = h.body["Type"]
                .as_i64()
                .and_then(crate::domain::WebhookType::from_number)
                .map_or("?", |t| t.name());
            self.say(format!("  {what:<13} Type {kind:<8} {}", h.raw));
        }
        if hooks.is_empty() {
            return Err("no webhook reached the Billwerk stand-in".into());
        }
        Ok(())
    }
}

/// An initial card preauth as Billwerk sends it.
pub fn card_preauth(tx: &str, agreement: &str, amount: i64, hook: &str) -> Value {
    json!({
        "transactionId": tx, "agreementId": agreement, "requestedAmount": amount,
        "currency": "EUR", "isInitial": true, "webhookTarget": hook,
        "paymentMeansReference": {
            "role": "CreditCard",
            "successReturnUrl": "https://merchant.example/success",
            "errorReturnUrl": "https://merchant.example/error",
            "abortReturnUrl": "https://merchant.example/abort"
        },
        "payerData": { "firstName": "John", "lastName": "Doe", "language": "EN" }
    })
}

/// A merchant-initiated payment on an agreement (`role`: `CreditCard` or `Debit`).
pub fn recurring_body(tx: &str, agreement: &str, amount: i64, role: &str, hook: &str) -> Value {
    json!({
        "transactionId": tx, "agreementId": agreement, "requestedAmount": amount,
        "currency": "EUR", "webhookTarget": hook,
        "paymentMeansReference": { "role": role },
        "payerData": { "firstName": "John", "lastName": "Doe" }
    })
}

/// A refund as Billwerk sends it.
pub fn refund_body(tx: &str, payment: &str, amount: i64, hook: &str) -> Value {
    json!({
        "transactionId": tx, "paymentTransactionId": payment,
        "requestedAmount": amount, "currency": "EUR", "webhookTarget": hook
    })
}

/// A Billwerk-style transaction id: `{yyyyMMdd}-{24 hex}`.
pub fn tx_id() -> String {
    format!("{}-{}", chrono::Utc::now().format("%Y%m%d"), &new_ref())
}

/// 24 hex characters (an agreement id).
pub fn new_ref() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..24].to_string()
}

/// A checkout URL without its token.
pub fn short(url: &str) -> String {
    match url.find("/checkout/") {
        Some(i) => format!("{}/checkout/…", &url[..i]),
        None => url.to_string(),
    }
}

/// A redirect's target.
pub fn location(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// The text between `start` and the next `end`.
pub fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_string())
}

/// A JSON value for reading: strings without quotes.
pub fn txt(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
