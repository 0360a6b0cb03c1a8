//! Family driver steps for what happens at the PSP after the fact: a chargeback whose
//! notification a test delivers again, a late report that contradicts a paid payment, and a PSP
//! stand-in in front of the family's simulator that rewrites its answers (for answers the
//! simulator itself would not give). Beside `family.rs`, same rule: one test body for both
//! families, the family's own steps here.

// A toolbox: each suite uses the part it needs.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use psp_integrator::config::AppConfig;
use psp_integrator::sim::mollie as msim;
use psp_integrator::sim::oppwa as osim;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::family_sepa::PspNote;
use crate::harness::*;

/// Mollie's payment of one of our PSP ids (`tr_…` or `tr_…/re_…`).
pub fn payment_of(psp_id: &str) -> &str {
    psp_id.split('/').next().unwrap_or(psp_id)
}

impl TestApp {
    /// [`Self::settled`] for an answer that may be an error: `now` (our HTTP status and body)
    /// when the transaction (`kind`: `Preauth`, `Payment`, `Refund`) is not Pending, else the
    /// PSP settles and our answer to reading it again (Mollie's recurring card payment fails
    /// only then).
    pub async fn settled_answer(
        &self,
        kind: &str,
        id: &str,
        now: (StatusCode, Value),
    ) -> (StatusCode, Value) {
        if now.1["status"] != "Pending" {
            return now;
        }
        self.psp_settles().await;
        self.get(&format!("/api/{kind}/{id}")).await
    }

    /// A chargeback of `amount` (major units as the PSP writes them) on the PSP's payment
    /// `psp_id`, made at the PSP and notified to us: our answer to the notification, and the
    /// notification for a redelivery.
    pub async fn psp_chargeback_notified(
        &self,
        psp_id: &str,
        amount: &str,
    ) -> (StatusCode, PspNote) {
        match self.family {
            Family::Oppwa => {
                let cb = self
                    .sim
                    .sim
                    .chargeback(psp_id, amount, None)
                    .expect("chargeback at the PSP");
                (self.notify(&cb).await, PspNote::Oppwa(cb))
            }
            Family::Mollie => {
                let pid = payment_of(psp_id);
                self.mollie()
                    .sim
                    .chargeback(pid, Some(amount), None, false)
                    .expect("chargeback at the PSP");
                (self.mollie_delivers(pid).await, PspNote::Mollie(pid.into()))
            }
        }
    }

    /// The PSP delivers `d` again; our answer.
    pub async fn psp_redelivers(&self, d: &PspNote) -> StatusCode {
        self.deliver(d).await
    }

    /// The Mollie simulator delivers what is due; our answer to its webhooks for payment `pid`
    /// (the first one that is not 200, else 200). There must be one.
    async fn mollie_delivers(&self, pid: &str) -> StatusCode {
        let attempts = self.mollie().sim.deliver_due().await;
        let mine: Vec<_> = attempts.iter().filter(|a| a.payment_id == pid).collect();
        assert!(
            !mine.is_empty(),
            "Mollie sent a webhook for {pid}: {attempts:?}"
        );
        let status = mine
            .iter()
            .map(|a| a.status.unwrap_or(599))
            .find(|s| *s != 200)
            .unwrap_or(200);
        StatusCode::from_u16(status).expect("an HTTP status")
    }

    /// Mollie's classic webhook for payment `pid` (a form POST `id=tr_…`, unsigned) sent to our
    /// notification URL as Mollie sends it; our answer.
    pub async fn mollie_webhook(&self, pid: &str) -> StatusCode {
        self.client
            .post(self.notification_url())
            .form(&[("id", pid)])
            .send()
            .await
            .expect("webhook sent")
            .status()
    }

    /// Mollie's webhook for the payment of `psp_id`, while `stand_in` makes the fetch answer
    /// `failed` (with `details` added to the payment's `details`); our answer to the webhook.
    pub async fn mollie_fetch_says_failed(
        &self,
        stand_in: &PspStandIn,
        psp_id: &str,
        details: Value,
    ) -> StatusCode {
        let pid = payment_of(psp_id).to_string();
        let path = format!("/v2/payments/{pid}");
        stand_in.rewrite(move |p, body| {
            if p == path {
                body["status"] = json!("failed");
                body["failedAt"] = body["paidAt"].clone();
                if let (Some(into), Some(from)) =
                    (body["details"].as_object_mut(), details.as_object())
                {
                    into.extend(from.clone());
                } else {
                    body["details"] = details.clone();
                }
            }
        });
        let status = self.mollie_webhook(&pid).await;
        stand_in.pass_through();
        status
    }

    /// The PSP reports, after the paid payment `psp_id` was settled, that it failed: OPPWA a
    /// "declined" notification built from the PSP's record; Mollie its webhook, whose fetch
    /// `stand_in` makes answer `failed` (Mollie's own record stays `paid`: a paid payment never
    /// fails there). Our answer to the report.
    pub async fn psp_reports_late_decline(
        &self,
        stand_in: &PspStandIn,
        psp_id: &str,
    ) -> StatusCode {
        match self.family {
            Family::Oppwa => {
                let mut late = self.psp_json(psp_id);
                late["result"] = json!({"code": "800.100.152", "description": "transaction declined by authorization system"});
                self.notify(&late).await
            }
            Family::Mollie => {
                let details = json!({"failureReason": "card_declined",
                    "failureMessage": "The card was declined"});
                self.mollie_fetch_says_failed(stand_in, psp_id, details)
                    .await
            }
        }
    }

    /// Whether the PSP's own record of `psp_id` says paid.
    pub fn psp_says_paid(&self, psp_id: &str) -> bool {
        match self.family {
            Family::Oppwa => self.psp_json(psp_id)["result"]["code"] == "000.100.110",
            Family::Mollie => {
                let pid = payment_of(psp_id);
                self.mollie()
                    .sim
                    .payments()
                    .iter()
                    .any(|p| p["id"] == pid && p["status"] == "paid")
            }
        }
    }

    /// A running app whose calls to the PSP go through `stand_in`, with the family's sandbox
    /// settings.
    pub async fn spawn_behind(stand_in: &PspStandIn) -> TestApp {
        let app = TestApp::spawn_with(|cfg| stand_in.route(cfg)).await;
        let (s, b) = app.put_settings(&app.token, sandbox_settings()).await;
        assert_eq!(s, StatusCode::OK, "sandbox settings accepted: {b}");
        app
    }
}

/// Sets the family's PSP call timeout (`[psp.<family>] timeout_secs`) in `cfg`.
pub fn set_psp_timeout(cfg: &mut AppConfig, secs: u64) {
    use psp_integrator::psp::mollie::MolliePspSection;
    use psp_integrator::psp::oppwa::OppwaPspSection;
    match Family::under_test() {
        Family::Oppwa => {
            cfg.psp
                .of_mut::<OppwaPspSection>()
                .expect("[psp.oppwa]")
                .timeout_secs = secs
        }
        Family::Mollie => {
            cfg.psp
                .of_mut::<MolliePspSection>()
                .expect("[psp.mollie]")
                .timeout_secs = secs
        }
    }
}

/// Outcomes the service could not know at once, resolved later.
impl TestApp {
    /// One reconciler round as if `secs` seconds from now.
    pub async fn reconciler_round(&self, secs: i64) -> psp_integrator::flows::reconcile::Report {
        use psp_integrator::domain::Clock;
        let now = psp_integrator::domain::SystemClock.now().plus_seconds(secs);
        let policy = psp_integrator::flows::reconcile::Policy::from(&self.cfg.reconciler);
        psp_integrator::flows::reconcile::run_once(&self.app, &policy, now)
            .await
            .expect("reconcile round")
    }

    /// The PSP finishes what is under way ([`Self::psp_settles`]), then the reconciler asks it
    /// about what is due two hours from now (past every first deadline and the not-found
    /// grace); the stored transaction (by Billwerk id) afterwards.
    pub async fn psp_settles_and_reconciler_asks(
        &self,
        billwerk_id: &str,
    ) -> psp_integrator::store::TransactionRecord {
        self.psp_settles().await;
        self.reconciler_round(2 * 3600).await;
        self.record(billwerk_id).await
    }

    /// From now on, through `stand_in`, the PSP answers a recurring charge as paid for
    /// `amount` (major units, e.g. `"99.00"`) whatever was asked: OPPWA its registration
    /// payment's answer and every status read or query of it; Mollie the created payment and
    /// every fetch of it.
    pub fn psp_answers_paid_for(&self, stand_in: &PspStandIn, amount: &'static str) {
        match self.family {
            Family::Oppwa => stand_in.rewrite(move |path, body| {
                let ours = ["/v1/registrations/", "/v1/payments/", "/v1/query"]
                    .iter()
                    .any(|p| path.starts_with(p));
                if !ours {
                    return;
                }
                if body.get("amount").is_some() {
                    body["amount"] = json!(amount);
                }
                // The query's list of payments.
                if let Some(list) = body.get_mut("payments").and_then(Value::as_array_mut) {
                    for p in list {
                        p["amount"] = json!(amount);
                    }
                }
            }),
            Family::Mollie => stand_in.rewrite(move |path, body| {
                // The create (`/v2/payments`) and a fetch (`/v2/payments/tr_…`), not its
                // refunds or captures.
                let fetch = path
                    .strip_prefix("/v2/payments/")
                    .is_some_and(|rest| !rest.contains('/'));
                if (path == "/v2/payments" || fetch) && body["amount"].is_object() {
                    body["status"] = json!("paid");
                    body["paidAt"] = body["createdAt"].clone();
                    body["amount"]["value"] = json!(amount);
                }
            }),
        }
    }
}

/// A notification as it travels to us: the URL it is posted to, its headers and its body.
#[derive(Clone, Debug)]
pub struct WireNote {
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl TestApp {
    /// An authentic notification, as the PSP sends it: OPPWA an encrypted `PAYMENT`
    /// notification of a paid debit (made by hand: OPPWA's authenticity is its encryption);
    /// Mollie the webhook of a payment of this merchant, made here (Mollie's authenticity is
    /// our fetch of the id with the merchant's key).
    pub async fn psp_authentic_wire_note(&self) -> WireNote {
        match self.family {
            Family::Oppwa => {
                let plain = br#"{"type":"PAYMENT","payload":{"id":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"DB","amount":"1.00","currency":"EUR","result":{"code":"000.100.110","description":"ok"}}}"#;
                let enc = osim::encrypt_notification(osim::SANDBOX_WEBHOOK_SECRET, plain, None)
                    .expect("encrypt");
                WireNote {
                    url: self.notification_url(),
                    headers: vec![
                        ("content-type", "text/plain".into()),
                        ("X-Initialization-Vector", enc.iv_hex),
                        ("X-Authentication-Tag", enc.tag_hex),
                    ],
                    body: enc.body_hex,
                }
            }
            Family::Mollie => {
                let p = self
                    .card_preauth(&tx_id(), &agreement_id(), 0.0, "4200000000000000")
                    .await;
                let tr = p["pspTransactionId"].as_str().expect("a Mollie payment id");
                mollie_wire_note(self.notification_url(), tr)
            }
        }
    }

    /// Notifications made from `authentic` that are not the PSP's, each with our expected
    /// answer. OPPWA: a byte flipped in its body, tag or IV, a body that is not hex (400), the
    /// authentic one at a merchant path that does not exist (404). Mollie: the id of another
    /// Mollie account's payment and an id Mollie never gave (the merchant's key fetches
    /// neither: 500, not acknowledged, so a real but early webhook is delivered again), the
    /// authentic one under a wrong URL token (Mollie's only proof of origin) and at a merchant
    /// path that does not exist (404).
    pub async fn forgeries_of(&self, authentic: &WireNote) -> Vec<(WireNote, u16)> {
        let elsewhere = WireNote {
            url: format!(
                "{}/psp/{}/nope/notifications",
                self.base,
                self.family.name()
            ),
            ..authentic.clone()
        };
        match self.family {
            Family::Oppwa => {
                let flip = |h: &str| {
                    let mut b = hex::decode(h).expect("hex");
                    b[0] ^= 1;
                    hex::encode_upper(b)
                };
                let with_header = |name: &str| {
                    let mut n = authentic.clone();
                    for (k, v) in &mut n.headers {
                        if *k == name {
                            *v = flip(v);
                        }
                    }
                    n
                };
                let with_body = |body: String| WireNote {
                    body,
                    ..authentic.clone()
                };
                vec![
                    (with_body(flip(&authentic.body)), 400),
                    (with_header("X-Authentication-Tag"), 400),
                    (with_header("X-Initialization-Vector"), 400),
                    (with_body("not hex".into()), 400),
                    (elsewhere, 404),
                ]
            }
            Family::Mollie => {
                let url = self.notification_url();
                let other = self.mollie_other_accounts_payment().await;
                vec![
                    (mollie_wire_note(url.clone(), &other), 500),
                    (mollie_wire_note(url.clone(), "tr_forged00000"), 500),
                    (
                        mollie_wire_note(wrong_token(&url), &payment_of_note(authentic)),
                        404,
                    ),
                    (elsewhere, 404),
                ]
            }
        }
    }

    /// Posts `n` as the PSP would; our answer.
    pub async fn post_wire(&self, n: &WireNote) -> StatusCode {
        let mut req = self.client.post(&n.url).body(n.body.clone());
        for (k, v) in &n.headers {
            req = req.header(*k, v);
        }
        req.send().await.expect("notification sent").status()
    }

    /// A payment made at the Mollie simulator under another account's key: real, but not
    /// this merchant's.
    async fn mollie_other_accounts_payment(&self) -> String {
        let res = self
            .client
            .post(format!("{}/v2/payments", self.mollie().base_url))
            .bearer_auth(msim::OTHER_TEST_KEY)
            .json(&json!({
                "amount": {"currency": "EUR", "value": "10.00"},
                "description": "another account's payment",
                "redirectUrl": "https://shop.example/return",
            }))
            .send()
            .await
            .expect("payment at Mollie");
        let status = res.status();
        let p: Value = res.json().await.expect("json");
        assert_eq!(status, StatusCode::CREATED, "{p}");
        p["id"].as_str().expect("a payment id").to_string()
    }
}

/// `url` with its last path segment before `/notifications` (the token) changed.
fn wrong_token(url: &str) -> String {
    let (head, _) = url
        .trim_end_matches("/notifications")
        .rsplit_once('/')
        .expect("a tokened notification URL");
    format!("{head}/{}/notifications", "0".repeat(32))
}

/// The payment id a Mollie webhook names.
fn payment_of_note(n: &WireNote) -> String {
    n.body.trim_start_matches("id=").to_string()
}

/// Mollie's webhook for `tr` (a form body `id=tr_…`) posted to `url`.
fn mollie_wire_note(url: String, tr: &str) -> WireNote {
    WireNote {
        url,
        headers: vec![("content-type", "application/x-www-form-urlencoded".into())],
        body: serde_urlencoded::to_string([("id", tr)]).expect("form"),
    }
}

/// How the stand-in changes a JSON answer: given the request's path and the answer's body.
type Rule = Arc<dyn Fn(&str, &mut Value) + Send + Sync>;

/// A PSP stand-in in front of the family's simulator: it forwards every call and rewrites the
/// JSON answers by its current rule (none: it passes them through).
pub struct PspStandIn {
    url: String,
    upstream: Arc<Mutex<String>>,
    rule: Arc<Mutex<Option<Rule>>>,
    late_ms: Arc<Mutex<u64>>,
}

#[derive(Clone)]
struct Shared {
    upstream: Arc<Mutex<String>>,
    rule: Arc<Mutex<Option<Rule>>>,
    late_ms: Arc<Mutex<u64>>,
    client: reqwest::Client,
}

impl PspStandIn {
    /// Listens on port 0; [`PspStandIn::route`] points the service at it.
    pub async fn start() -> PspStandIn {
        use axum::extract::{Request, State};
        use axum::response::IntoResponse;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let shared = Shared {
            upstream: Arc::new(Mutex::new(String::new())),
            rule: Arc::new(Mutex::new(None)),
            late_ms: Arc::new(Mutex::new(0)),
            client: reqwest::Client::new(),
        };
        async fn forward(State(s): State<Shared>, req: Request) -> axum::response::Response {
            let base = s.upstream.lock().expect("lock").clone();
            let path = req.uri().path().to_string();
            let target = format!(
                "{base}{}",
                req.uri().path_and_query().map_or("/", |p| p.as_str())
            );
            let mut out = s.client.request(req.method().clone(), target);
            for (k, v) in req.headers() {
                if k != axum::http::header::HOST {
                    out = out.header(k, v);
                }
            }
            let body = axum::body::to_bytes(req.into_body(), 1 << 20)
                .await
                .expect("body");
            // The PSP dropped the connection (a fault): drop ours too, the same lost answer.
            // `resume_unwind` ends this connection's task without the panic hook's message.
            let dropped =
                || -> ! { std::panic::resume_unwind(Box::new("the PSP dropped the connection")) };
            let Ok(res) = out.body(body).send().await else {
                dropped()
            };
            let status = res.status();
            let Ok(bytes) = res.bytes().await else {
                dropped()
            };
            let rule = s.rule.lock().expect("lock").clone();
            let body = match (rule, serde_json::from_slice::<Value>(&bytes)) {
                (Some(rule), Ok(mut v)) => {
                    rule(&path, &mut v);
                    v.to_string().into_bytes()
                }
                _ => bytes.to_vec(),
            };
            // After the PSP has acted: the call is committed, only its answer is late.
            let late = *s.late_ms.lock().expect("lock");
            if late > 0 {
                tokio::time::sleep(std::time::Duration::from_millis(late)).await;
            }
            (status, body).into_response()
        }
        let app = axum::Router::new()
            .fallback(forward)
            .with_state(shared.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        PspStandIn {
            url,
            upstream: shared.upstream,
            rule: shared.rule,
            late_ms: shared.late_ms,
        }
    }

    /// From now on every answer leaves `ms` milliseconds after the PSP has processed the call
    /// (0: at once). Mollie's simulator delays before processing, and a call whose client gave
    /// up is then never processed; this is the PSP that acted but answered too late.
    pub fn answer_late(&self, ms: u64) {
        *self.late_ms.lock().expect("lock") = ms;
    }

    /// From now on every JSON answer goes through `rule` (the request's path, the body).
    pub fn rewrite(&self, rule: impl Fn(&str, &mut Value) + Send + Sync + 'static) {
        *self.rule.lock().expect("lock") = Some(Arc::new(rule));
    }

    /// From now on the answers pass unchanged.
    pub fn pass_through(&self) {
        *self.rule.lock().expect("lock") = None;
    }

    /// Points the family's PSP hosts at the stand-in, which forwards to where they pointed.
    pub fn route(&self, cfg: &mut AppConfig) {
        use psp_integrator::psp::mollie::MolliePspSection;
        use psp_integrator::psp::oppwa::OppwaPspSection;
        let mut upstream = self.upstream.lock().expect("lock");
        match Family::under_test() {
            Family::Oppwa => {
                let s = cfg.psp.of_mut::<OppwaPspSection>().expect("[psp.oppwa]");
                *upstream = s.test_base_url.clone();
                s.test_base_url = self.url.clone();
                s.live_base_url = self.url.clone();
            }
            Family::Mollie => {
                let s = cfg.psp.of_mut::<MolliePspSection>().expect("[psp.mollie]");
                *upstream = s.test_base_url.clone();
                s.test_base_url = self.url.clone();
                s.live_base_url = self.url.clone();
            }
        }
    }
}
