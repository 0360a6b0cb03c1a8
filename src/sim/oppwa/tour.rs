//! `psp-integrator demo --psp oppwa`: the OPPWA family's narrated tour on a throw-away SQLite
//! database. The integrator (built by `startup::Application`, like `serve`), the OPPWA simulator
//! and a recording Billwerk stand-in run in this one process on free loopback ports; every step
//! is a real HTTP call. It lives with the simulator because it drives it (cards, result codes,
//! deliveries); the family registers it in `run::SIMULATOR`.

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::config::AppConfig;
use crate::domain::{Clock, SystemClock};
use crate::sim::billwerk::{BillwerkStandIn, StandInHandle};
use crate::sim::oppwa::{self as sim, SimHandle, WebhookConfig};
use crate::startup::{Application, Roles};

/// A test card the simulator approves without a 3DS challenge.
const CARD: &str = "4200000000000000";
const IBAN: &str = "DE89370400440532013000";

/// [`run`] as the simulator registry holds it.
pub fn run_boxed(config_dir: &Path) -> futures_util::future::BoxFuture<'_, Result<(), String>> {
    Box::pin(run(config_dir))
}

/// Runs the tour; `Err` names the step that went wrong.
pub async fn run(config_dir: &Path) -> Result<(), String> {
    crate::telemetry::init("error", false);
    let dir = scratch_dir()?;
    let result = tour(config_dir, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn scratch_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!("psp-integrator-demo-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
    Ok(dir)
}

fn demo_config(config_dir: &Path, dir: &Path) -> Result<AppConfig, String> {
    let mut cfg = AppConfig::load("default", config_dir).map_err(|e| e.to_string())?;
    cfg.database.url = format!("sqlite://{}", dir.join("demo.db").display());
    cfg.server.listen = "127.0.0.1:0".into();
    cfg.server.public_base_url = "http://127.0.0.1:0".into();
    cfg.ops.listen = "127.0.0.1:0".into();
    let sim = cfg
        .sim
        .of_mut::<super::OppwaSimSection>()
        .ok_or("sim.oppwa: the section is missing")?;
    sim.enabled = true;
    sim.listen = "127.0.0.1:0".into();
    // The tour delivers the PSP's notifications and our webhooks itself, step by step.
    sim.auto_deliver = false;
    cfg.webhooks.allowed_hosts.push("127.0.0.1".into());
    cfg.webhooks.allow_private_targets = true;
    Ok(cfg)
}

struct Tour {
    http: reqwest::Client,
    base: String,
    token: String,
    sim: SimHandle,
    standin: StandInHandle,
    application: Application,
    step: usize,
}

async fn tour(config_dir: &Path, dir: &Path) -> Result<(), String> {
    let cfg = demo_config(config_dir, dir)?;
    let stop = CancellationToken::new();
    let standin = BillwerkStandIn::spawn(([127, 0, 0, 1], 0).into(), stop.clone())
        .await
        .map_err(|e| format!("Billwerk stand-in: {e}"))?;
    let application = Application::build(cfg, Roles::API)
        .await
        .map_err(|e| format!("starting the integrator: {e}"))?;
    let sim = application
        .simulator("oppwa")
        .and_then(|s| {
            Some(SimHandle {
                base_url: s.base_url.clone(),
                addr: s.addr,
                sim: s.get::<sim::Sim>()?.clone(),
            })
        })
        .ok_or("the simulator did not start")?;
    println!("psp-integrator demo: Billwerk+ Transform asks this service to move money through a");
    println!("PSP (here OPPWA's simulator); the service tells Billwerk of changes by webhook.\n");
    println!("  integrator      {}", application.base_url());
    if let Some(ops) = application.ops_addr() {
        println!("  operator        http://{ops} (/metrics, /docs, /health/ready)");
    }
    println!("  OPPWA simulator {}", sim.base_url);
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
        "oppwa",
    )
    .await
    .map_err(|e| format!("creating the merchant: {e}"))?;
    let mut t = Tour {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| e.to_string())?,
        base: application.base_url(),
        token,
        sim,
        standin,
        application,
        step: 0,
    };
    let outcome = t.walk(&merchant).await;
    let Tour { application, .. } = t;
    application.stop().await;
    stop.cancel();
    outcome?;
    println!(
        "\nDone. Next: `cargo run -- serve` and the README's \"A first tour with curl\" do the same \
         by hand; http://127.0.0.1:9090/docs (the operator listener) then describes every endpoint."
    );
    Ok(())
}

impl Tour {
    fn title(&mut self, text: &str) {
        self.step += 1;
        println!("\n{}. {text}", self.step);
    }

    fn say(&self, text: impl AsRef<str>) {
        println!("   {}", text.as_ref());
    }

    async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value, String> {
        let (status, v) = self.call_raw(method.clone(), path, body).await?;
        if status != StatusCode::OK {
            return Err(format!("{method} {path} answered {status}: {v}"));
        }
        Ok(v)
    }

    async fn call_raw(
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

    async fn walk(&mut self, merchant: &crate::store::MerchantRecord) -> Result<(), String> {
        let merchant_id = merchant.id.as_str();
        let hook = self.standin.url("/PSPWebhooks/ExternalIntegration");

        self.title("Onboarding: a merchant, its API token, the PSP settings");
        self.say(format!(
            "`merchants create --name demo-shop` made merchant {merchant_id} and token {}…",
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
        let settings = json!({ "merchantSettings": [
            { "keyName": "AccessToken", "keyValue": sim::SANDBOX_ACCESS_TOKEN },
            { "keyName": "EntityId", "keyValue": sim::SANDBOX_ENTITY_ID },
            { "keyName": "MitEntityId", "keyValue": sim::SANDBOX_MIT_ENTITY_ID },
            { "keyName": "WebhookSecret", "keyValue": sim::SANDBOX_WEBHOOK_SECRET },
            { "keyName": "Environment", "keyValue": "Test" }
        ]});
        let valid = self
            .call(Method::PUT, "/api/Settings", Some(settings))
            .await?;
        self.say(format!(
            "PUT  /api/Settings         -> credentials stored encrypted; card valid: {}, debit valid: {}",
            valid["isCreditCardValid"], valid["isDebitValid"]
        ));
        let notify_url = self.application.app().notification_url(merchant);
        let id = self.sim.sim.add_webhook(WebhookConfig {
            url: notify_url.clone(),
            secret_hex: sim::SANDBOX_WEBHOOK_SECRET.to_string(),
            entity_id: None,
            types: vec![],
            fields: "ALL".into(),
        });
        let status = self.sim.sim.activate_webhook(id).await?;
        self.say(format!(
            "The PSP's notification webhook points at {notify_url} (test message: HTTP {status})"
        ));

        self.title("Card preauthorization through the hosted checkout");
        let agreement = new_ref();
        let pre = tx_id();
        let p = self
            .call(
                Method::POST,
                "/api/Preauth",
                Some(card_preauth(&pre, &agreement, 120, &hook)),
            )
            .await?;
        let redirect = p["redirectUrl"].as_str().unwrap_or_default().to_string();
        self.say(format!(
            "POST /api/Preauth 120 EUR  -> {} ; Billwerk sends the shopper to {}",
            txt(&p["status"]),
            short(&redirect)
        ));
        let landing = self.shopper_pays(&redirect).await?;
        self.say(format!(
            "The shopper enters card {}…{} at the PSP and returns to {landing}",
            &CARD[..4],
            &CARD[CARD.len() - 4..]
        ));
        let p = self
            .call(Method::GET, &format!("/api/Preauth/{pre}"), None)
            .await?;
        self.say(format!(
            "GET  /api/Preauth/{{id}}    -> {}, authorized {} EUR, card {} {} stored for later payments",
            txt(&p["status"]),
            p["authorizedAmount"],
            txt(&p["bearer"]["CardType"]),
            txt(&p["bearer"]["MaskedCardPan"])
        ));

        self.title("Capture part of the preauthorization");
        let capture = tx_id();
        let c = self
            .call(
                Method::POST,
                "/api/Payment",
                Some(json!({
                    "transactionId": capture, "preauthTransactionId": pre,
                    "agreementId": agreement, "requestedAmount": 100, "currency": "EUR",
                    "webhookTarget": hook,
                    "paymentMeansReference": { "role": "CreditCard" }
                })),
            )
            .await?;
        self.say(format!(
            "POST /api/Payment 100 EUR of the preauth -> {}, refundable {} EUR",
            txt(&c["status"]),
            c["refundableAmount"]
        ));

        self.title("Recurring payment on the stored card (no shopper present)");
        let recurring = tx_id();
        let r = self
            .call(
                Method::POST,
                "/api/Payment",
                Some(recurring_body(
                    &recurring,
                    &agreement,
                    30,
                    "CreditCard",
                    &hook,
                )),
            )
            .await?;
        self.say(format!(
            "POST /api/Payment 30 EUR on agreement {agreement} -> {}",
            txt(&r["status"])
        ));

        self.title("Partial refund");
        let refund = tx_id();
        let f = self
            .call(
                Method::POST,
                "/api/Refund",
                Some(json!({
                    "transactionId": refund, "paymentTransactionId": capture,
                    "requestedAmount": 25, "currency": "EUR", "webhookTarget": hook
                })),
            )
            .await?;
        let c = self
            .call(Method::GET, &format!("/api/Payment/{capture}"), None)
            .await?;
        self.say(format!(
            "POST /api/Refund 25 EUR of the capture -> {}; the capture now shows refunded {} EUR, refundable {} EUR",
            txt(&f["status"]), c["refundedAmount"], c["refundableAmount"]
        ));

        self.title("A declined payment");
        self.sim.sim.force_next_result("800.100.151");
        let declined = tx_id();
        let (status, e) = self
            .call_raw(
                Method::POST,
                "/api/Payment",
                Some(recurring_body(
                    &declined,
                    &agreement,
                    45,
                    "CreditCard",
                    &hook,
                )),
            )
            .await?;
        self.say(format!(
            "POST /api/Payment 45 EUR (the PSP declines) -> HTTP {}: errorCode {}, pspErrorCode {}, \"{}\"",
            status.as_u16(),
            txt(&e["errorCode"]),
            txt(&e["pspErrorCode"]),
            e["errorMessage"].as_str().unwrap_or_default()
        ));

        self.title("SEPA direct debit, settled days later by an encrypted PSP notification");
        let mandate_agreement = new_ref();
        let m = self
            .call(
                Method::POST,
                "/api/Preauth",
                Some(json!({
                    "transactionId": tx_id(), "agreementId": mandate_agreement,
                    "requestedAmount": 0, "currency": "EUR", "isInitial": true, "webhookTarget": hook,
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
        let debit = tx_id();
        let d = self
            .call(
                Method::POST,
                "/api/Payment",
                Some(recurring_body(
                    &debit,
                    &mandate_agreement,
                    25,
                    "Debit",
                    &hook,
                )),
            )
            .await?;
        self.say(format!(
            "POST /api/Payment 25 EUR debit -> {} (the bank has not confirmed yet)",
            txt(&d["status"])
        ));
        let psp_id = d["pspTransactionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.sim.sim.complete(&psp_id, "000.100.110")?;
        let delivered = self.psp_delivers().await;
        let d = self
            .call(Method::GET, &format!("/api/Payment/{debit}"), None)
            .await?;
        self.say(format!(
            "The PSP sends its AES-GCM encrypted notifications ({delivered}: one per transaction of this tour it has not reported yet, the settled debit among them); GET /api/Payment/{{id}} -> {}, paid {} EUR",
            txt(&d["status"]),
            d["payments"][0]["amount"]
        ));

        self.title("A chargeback on the debit");
        self.sim.sim.chargeback(&psp_id, "25.00", Some("MD06"))?;
        self.psp_delivers().await;
        let d = self
            .call(Method::GET, &format!("/api/Payment/{debit}"), None)
            .await?;
        self.say(format!(
            "The bank returns the debit (reason MD06) -> chargebacks: {} of {} EUR, reason {}",
            d["chargebacks"].as_array().map_or(0, Vec::len),
            d["chargebacks"][0]["amount"],
            txt(&d["chargebacks"][0]["reason"])
        ));

        self.title("The webhooks Billwerk received");
        let worker = crate::outbox::worker::Worker::new(
            self.application.app().store.clone(),
            self.application.config().webhooks.clone(),
            std::sync::Arc::new(SystemClock),
        )
        .map_err(|e| e.to_string())?;
        // As if the coalescing window had passed: one webhook per changed transaction.
        worker.run_once(SystemClock.now().plus_seconds(10)).await;
        let hooks = self.standin.received();
        self.say(
            "Answers Billwerk got synchronously need no webhook; what changed later (the checkout \
             completed in the browser, the debit settled, the chargeback) does, one per transaction \
             however many changes:",
        );
        self.say(format!(
            "{} webhook(s), each only {{TransactionId, AgreementId, Type}}; Billwerk then GETs the state:",
            hooks.len()
        ));
        let names = [
            (&pre, "card preauth"),
            (&capture, "capture"),
            (&recurring, "recurring"),
            (&refund, "refund"),
            (&declined, "declined"),
            (&debit, "SEPA debit"),
        ];
        for h in &hooks {
            let tx = h.body["TransactionId"].as_str().unwrap_or_default();
            let what = names
                .iter()
                .find(|(id, _)| id.as_str() == tx)
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

    /// Plays the shopper's browser: our page, the PSP's card form, back through our return URL.
    async fn shopper_pays(&self, redirect_url: &str) -> Result<String, String> {
        pay_as_shopper(&self.http, &self.sim.base_url, redirect_url, CARD).await
    }

    async fn psp_delivers(&self) -> usize {
        let reports = self.sim.sim.deliver_due().await;
        reports.iter().filter(|r| r.status == Some(200)).count()
    }
}

fn card_preauth(tx: &str, agreement: &str, amount: i64, hook: &str) -> Value {
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

fn recurring_body(tx: &str, agreement: &str, amount: i64, role: &str, hook: &str) -> Value {
    json!({
        "transactionId": tx, "agreementId": agreement, "requestedAmount": amount,
        "currency": "EUR", "webhookTarget": hook,
        "paymentMeansReference": { "role": role },
        "payerData": { "firstName": "John", "lastName": "Doe" }
    })
}

/// A Billwerk-style transaction id: `{yyyyMMdd}-{24 hex}`.
fn tx_id() -> String {
    format!("{}-{}", chrono::Utc::now().format("%Y%m%d"), &new_ref())
}

fn new_ref() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..24].to_string()
}

fn short(url: &str) -> String {
    match url.find("/checkout/") {
        Some(i) => format!("{}/checkout/…", &url[..i]),
        None => url.to_string(),
    }
}

/// Plays a shopper paying a hosted checkout with `card` on the simulator at `psp_base_url`: opens
/// our page at `redirect_url`, submits the PSP's card form, follows the redirect back through our
/// return URL, and returns where the browser lands (Billwerk's success, error or abort URL).
/// `http` must not follow redirects. Used by the demo and the load benchmark.
pub async fn pay_as_shopper(
    http: &reqwest::Client,
    psp_base_url: &str,
    redirect_url: &str,
    card: &str,
) -> Result<String, String> {
    let page = http
        .get(redirect_url)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let checkout_id = between(&page, "checkoutId=", "\"").ok_or("no checkout id on our page")?;
    let return_url = between(&page, "action=\"", "\"")
        .ok_or("no return URL on our page")?
        .replace("&amp;", "&");
    let form = [
        ("paymentBrand", "VISA"),
        ("card.number", card),
        ("card.holder", "Jane Jones"),
        ("card.expiryMonth", "12"),
        ("card.expiryYear", "2034"),
        ("card.cvv", "123"),
        ("shopperResultUrl", return_url.as_str()),
    ];
    let res = http
        .post(format!("{psp_base_url}/v1/checkouts/{checkout_id}/submit"))
        .form(&form)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let back = location(&res).ok_or("the PSP did not redirect back")?;
    let res = http.get(&back).send().await.map_err(|e| e.to_string())?;
    location(&res).ok_or_else(|| "our return URL did not redirect".to_string())
}

fn location(res: &reqwest::Response) -> Option<String> {
    res.headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)? + i;
    Some(s[i..j].to_string())
}

/// A JSON value for reading: strings without quotes.
fn txt(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
