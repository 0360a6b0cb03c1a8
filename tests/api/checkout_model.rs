//! Model-based test of a hosted checkout's crossing moves (issue #21). `proptest` generates
//! orders of: the shopper paying at the PSP (without following its redirect), returning,
//! aborting; the PSP's notifications; Billwerk's Finalize and Cancel, with the Cancel's answer
//! lost at times; and reconciler rounds. After every step no final state was left and no
//! transaction is without a final state or a deadline; after quiescence the preauth equals what
//! the PSP holds:
//! - an authorization that stands at the PSP ⇔ `Succeeded` with the amount authorized;
//! - an authorization reversed at the PSP ⇔ `Cancelled`;
//! - no payment at the PSP ⇒ never `Succeeded`;
//! - at most one reversal sent to the PSP.
//!
//! 48 orders by default; `PSPI_MODEL_CASES=2000 cargo test --test api checkout_model` runs more.

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use psp_integrator::domain::{Clock, SystemClock, TxStatus};
use psp_integrator::flows::reconcile;
use psp_integrator::sim::oppwa::Fault;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

const VISA: &str = "4200000000000000";

#[derive(Debug, Clone)]
enum Op {
    Pay,
    Return,
    Abort,
    Finalize,
    Cancel,
    LoseNextCancel,
    Deliver,
    Reconcile,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => Just(Op::Pay),
        2 => Just(Op::Return),
        2 => Just(Op::Abort),
        1 => Just(Op::Finalize),
        2 => Just(Op::Cancel),
        1 => Just(Op::LoseNextCancel),
        2 => Just(Op::Deliver),
        1 => Just(Op::Reconcile),
    ]
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)*)));
        }
    };
}

struct Checkout<'a> {
    app: &'a TestApp,
    pre: String,
    redirect: String,
    checkout_id: String,
    return_url: String,
    /// Where the PSP sent the shopper after paying (not followed until `Return`).
    back: Option<String>,
    lose_next: bool,
    hours: i64,
    last: TxStatus,
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

impl<'a> Checkout<'a> {
    async fn open(app: &'a TestApp) -> Result<Checkout<'a>, TestCaseError> {
        let (pre, agr) = (tx_id(), agreement_id());
        let body = targeted(preauth_body(&pre, &agr, 40.0), &app.hook_target());
        let (s, b) = app.post("/api/Preauth", body).await;
        ensure!(s == StatusCode::OK, "preauth: {b}");
        let redirect = b["redirectUrl"].as_str().unwrap_or_default().to_string();
        let html = app
            .client
            .get(&redirect)
            .send()
            .await
            .map_err(fail)?
            .text()
            .await
            .map_err(fail)?;
        let checkout_id = between(&html, "checkoutId=", "\"").unwrap_or_default();
        let return_url = between(&html, "action=\"", "\"")
            .unwrap_or_default()
            .replace("&amp;", "&");
        Ok(Checkout {
            app,
            pre,
            redirect,
            checkout_id,
            return_url,
            back: None,
            lose_next: false,
            hours: 0,
            last: TxStatus::Initiated,
        })
    }

    /// The authorization at the PSP and whether it was reversed.
    fn at_psp(&self) -> (Option<Value>, bool) {
        let txs = self.app.sim.sim.transactions();
        let ok = |t: &Value| {
            t["result"]["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("000.000") || c.starts_with("000.100"))
        };
        let pa = txs
            .iter()
            .find(|t| t["merchantTransactionId"] == self.pre.as_str() && t["paymentType"] == "PA")
            .filter(|t| ok(t))
            .cloned();
        let reversed = pa.as_ref().is_some_and(|pa| {
            txs.iter()
                .any(|t| t["paymentType"] == "RV" && t["referencedId"] == pa["id"] && ok(t))
        });
        (pa, reversed)
    }

    async fn status(&self) -> TxStatus {
        self.app.record(&self.pre).await.status
    }

    async fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let app = self.app;
        match op {
            // The form is on our page only while the preauth waits for the shopper.
            Op::Pay if self.at_psp().0.is_none() && self.status().await == TxStatus::Initiated => {
                let res = app
                    .submit_card(&self.checkout_id, &self.return_url, VISA)
                    .await;
                if res.status() == StatusCode::SEE_OTHER {
                    self.back = Some(location(&res));
                }
            }
            Op::Return => {
                let url = self
                    .back
                    .clone()
                    .unwrap_or_else(|| format!("{}/return?id={}", self.redirect, self.checkout_id));
                let res = app.client.get(&url).send().await.map_err(fail)?;
                ensure!(!res.status().is_server_error(), "return: {}", res.status());
            }
            Op::Abort => {
                let url = format!("{}/abort", self.redirect);
                let res = app.client.get(&url).send().await.map_err(fail)?;
                ensure!(!res.status().is_server_error(), "abort: {}", res.status());
            }
            Op::Finalize => {
                let body = json!({"transactionId": self.pre});
                let (s, v) = app.post("/api/Preauth/Finalize", body).await;
                ensure!(!s.is_server_error(), "finalize: {s} {v}");
            }
            Op::Cancel => {
                if std::mem::take(&mut self.lose_next) {
                    app.fault(Fault::DropAfterProcessing);
                }
                let (s, v) = app
                    .send(
                        reqwest::Method::POST,
                        &format!("/api/Preauth/{}/Cancel", self.pre),
                        Some(&app.token),
                        Some(&json!({})),
                    )
                    .await;
                app.fault(Fault::None);
                ensure!(s == StatusCode::OK, "cancel: {s} {v}");
            }
            Op::LoseNextCancel => self.lose_next = true,
            Op::Deliver => {
                app.psp_delivers().await;
            }
            Op::Reconcile => {
                self.hours += 1;
                self.reconcile().await?;
            }
            Op::Pay => {}
        }
        Ok(())
    }

    async fn reconcile(&self) -> Result<(), TestCaseError> {
        let policy = reconcile::Policy::from(&self.app.cfg.reconciler);
        let now = SystemClock.now().plus_seconds(self.hours * 3600);
        reconcile::run_once(&self.app.app, &policy, now)
            .await
            .map_err(fail)?;
        Ok(())
    }

    async fn check(&mut self) -> Result<(), TestCaseError> {
        let now = self.status().await;
        let allowed = now == self.last
            || matches!(self.last, TxStatus::Initiated | TxStatus::Pending)
            || (self.last == TxStatus::Succeeded && now == TxStatus::Cancelled);
        ensure!(allowed, "{} moved to {now}", self.last);
        self.last = now;
        let g = self
            .app
            .store
            .gauges(SystemClock.now())
            .await
            .map_err(fail)?;
        ensure!(
            g.reconciler_unscheduled == 0,
            "{} transactions without a final state or a deadline",
            g.reconciler_unscheduled
        );
        Ok(())
    }

    async fn quiesce(&mut self) -> Result<(), TestCaseError> {
        self.app.psp_delivers().await;
        for extra in [2, 24, 24 * 8] {
            self.hours += extra;
            self.reconcile().await?;
        }
        self.app.psp_delivers().await;
        let (pa, reversed) = self.at_psp();
        let (_, v) = self.app.get(&format!("/api/Preauth/{}", self.pre)).await;
        let ours = self.status().await;
        match (&pa, reversed) {
            (Some(_), false) => {
                ensure!(
                    ours == TxStatus::Succeeded,
                    "PSP authorized; ours {ours}: {v}"
                );
                ensure!(v["authorizedAmount"] == json!(40), "{v}");
            }
            (Some(_), true) => ensure!(ours == TxStatus::Cancelled, "PSP reversed; ours {ours}"),
            (None, _) => ensure!(ours != TxStatus::Succeeded, "no payment at the PSP: {v}"),
        }
        let reversals = self.app.psp_calls(&format!("{}-cancel", self.pre));
        ensure!(reversals <= 1, "{reversals} reversals sent");
        Ok(())
    }
}

async fn run_case(app: &TestApp, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut c = Checkout::open(app).await?;
    for op in &ops {
        c.step(op).await?;
        c.check().await?;
    }
    c.quiesce().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_checkout_orders_end_as_the_psp_says() {
    let app = TestApp::spawn().await;
    app.connect_psp_webhooks().await;
    let cases = std::env::var("PSPI_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(48);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let strategy = prop::collection::vec(op(), 1..10);
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |ops| handle.block_on(run_case(&app, ops)))
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
