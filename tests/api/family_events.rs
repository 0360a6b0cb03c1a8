//! Family driver steps for what happens at the PSP after the fact: a chargeback whose
//! notification a test delivers again, a late report that contradicts a paid payment, and a PSP
//! stand-in in front of the family's simulator that rewrites its answers (for answers the
//! simulator itself would not give). Beside `family.rs`, same rule: one test body for both
//! families, the family's own steps here.

// A toolbox: each suite uses the part it needs.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use psp_integrator::config::AppConfig;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::family_sepa::PspNote;
use crate::harness::*;

/// Mollie's payment of one of our PSP ids (`tr_…` or `tr_…/re_…`).
pub fn payment_of(psp_id: &str) -> &str {
    psp_id.split('/').next().unwrap_or(psp_id)
}

impl TestApp {
    /// The amount of a card preauth that only stands for registering the card: 0 where the
    /// family registers without an amount ([`Capability::ZeroAmountRegistration`]), else 1.
    pub fn registration_amount(&self) -> f64 {
        if self.family.has(Capability::ZeroAmountRegistration) {
            0.0
        } else {
            1.0
        }
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
                let pid = payment_of(psp_id).to_string();
                let path = format!("/v2/payments/{pid}");
                stand_in.rewrite(move |p, body| {
                    if p == path {
                        body["status"] = json!("failed");
                        body["failedAt"] = body["paidAt"].clone();
                        body["details"]["failureReason"] = json!("card_declined");
                        body["details"]["failureMessage"] = json!("The card was declined");
                    }
                });
                let status = self.mollie_webhook(&pid).await;
                stand_in.pass_through();
                status
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

/// How the stand-in changes a JSON answer: given the request's path and the answer's body.
type Rule = Arc<dyn Fn(&str, &mut Value) + Send + Sync>;

/// A PSP stand-in in front of the family's simulator: it forwards every call and rewrites the
/// JSON answers by its current rule (none: it passes them through).
pub struct PspStandIn {
    url: String,
    upstream: Arc<Mutex<String>>,
    rule: Arc<Mutex<Option<Rule>>>,
}

#[derive(Clone)]
struct Shared {
    upstream: Arc<Mutex<String>>,
    rule: Arc<Mutex<Option<Rule>>>,
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
            let res = out.body(body).send().await.expect("upstream");
            let status = res.status();
            let bytes = res.bytes().await.expect("upstream body");
            let rule = s.rule.lock().expect("lock").clone();
            let body = match (rule, serde_json::from_slice::<Value>(&bytes)) {
                (Some(rule), Ok(mut v)) => {
                    rule(&path, &mut v);
                    v.to_string().into_bytes()
                }
                _ => bytes.to_vec(),
            };
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
        }
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
