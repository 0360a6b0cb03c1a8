//! Model-based test of state and money integrity that runs for the PSP family under test
//! (tests/api/family.rs): `proptest` generates sequences of recurring card charges, API refunds,
//! refunds that never reach the PSP, chargebacks at the PSP (which may cross those), lost PSP
//! answers, notification deliveries, PSP settlement and reconciler rounds on one card agreement,
//! runs them against the real service, database and the family's simulator, and checks after
//! every step:
//! - no final state is ever left, and every Pending transaction has a reconciler deadline;
//! - per payment: collected ≤ requested; refundedAmount + refundableAmount ≤ collected;
//!   chargebacks ≤ collected;
//! - the PSP holds at most one charge (or refund) per Billwerk transaction id.
//!
//! At the end the PSP settles, delivers everything and the reconciler runs; every payment must
//! then be Succeeded with exactly one charge at the PSP, its collected, refunded and
//! charged-back money must equal the PSP's, and every refund the PSP never received must be
//! Failed. (`model.rs` is OPPWA's deeper SEPA-debit model with hand-made notifications.) 24
//! sequences by default; `PSPI_MONEY_MODEL_CASES=500` runs more.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use psp_integrator::domain::{Clock, SystemClock, TxStatus};
use psp_integrator::flows::reconcile;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::Value;

use crate::harness::*;

#[derive(Debug, Clone)]
enum Op {
    Charge(u8),
    Refund(u8, u8),
    /// A refund the PSP never receives (it is unavailable): Pending until the reconciler
    /// concludes it never arrived; meanwhile a chargeback may cross it.
    StrandedRefund(u8, u8),
    Chargeback(u8, u8),
    LoseNextAnswer,
    Deliver,
    Settle,
    Reconcile,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => any::<u8>().prop_map(Op::Charge),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(i, p)| Op::Refund(i, p)),
        1 => (any::<u8>(), any::<u8>()).prop_map(|(i, p)| Op::StrandedRefund(i, p)),
        2 => (any::<u8>(), any::<u8>()).prop_map(|(i, p)| Op::Chargeback(i, p)),
        1 => Just(Op::LoseNextAnswer),
        2 => Just(Op::Deliver),
        1 => Just(Op::Settle),
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

fn cents(v: i64) -> Decimal {
    Decimal::new(v, 2)
}

/// `pct` (of 255) of `room` in cents, at least 0.01; `None` when there is no room.
fn part(room: Decimal, pct: u8) -> Option<Decimal> {
    let c = (room * Decimal::from(100)).trunc();
    if c < Decimal::ONE {
        return None;
    }
    let share = (c * Decimal::from(pct) / Decimal::from(255))
        .trunc()
        .max(Decimal::ONE);
    Some(share / Decimal::from(100))
}

fn wire(d: Decimal) -> String {
    let mut d = d;
    d.rescale(2);
    d.to_string()
}

fn amount_of(v: &Value) -> Decimal {
    v.as_str()
        .map(str::to_string)
        .unwrap_or_else(|| v.to_string())
        .parse::<Decimal>()
        .unwrap_or_default()
}

fn sum(items: &Value) -> Decimal {
    items
        .as_array()
        .map(|a| a.iter().map(|i| amount_of(&i["amount"])).sum())
        .unwrap_or_default()
}

fn f64_of(d: Decimal) -> f64 {
    d.to_string().parse().unwrap_or(0.0)
}

struct World<'a> {
    app: &'a TestApp,
    agreement: String,
    /// Billwerk ids of the recurring payments and the amount each asked for.
    payments: Vec<(String, Decimal)>,
    refunds: Vec<String>,
    /// Refunds that never reached the PSP: Failed once the reconciler gives them up.
    stranded: Vec<String>,
    lose_next: bool,
    days: i64,
    finals: HashMap<String, TxStatus>,
}

impl<'a> World<'a> {
    async fn new(app: &'a TestApp) -> World<'a> {
        let agreement = agreement_id();
        app.card_preauth(&tx_id(), &agreement, 10.0, "4200000000000000")
            .await;
        World {
            app,
            agreement,
            payments: vec![],
            refunds: vec![],
            stranded: vec![],
            lose_next: false,
            days: 0,
            finals: HashMap::new(),
        }
    }

    /// A POST with the PSP's answer lost when `LoseNextAnswer` came before.
    async fn api(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        let lose = std::mem::take(&mut self.lose_next);
        if lose {
            self.app.psp_fault(PspFault::DropAfterCommit);
        }
        let out = self
            .app
            .post(path, targeted(body, &self.app.hook_target()))
            .await;
        if lose {
            self.app.psp_fault(PspFault::None);
        }
        out
    }

    async fn view(&self, id: &str) -> Value {
        self.app.get(&format!("/api/Payment/{id}")).await.1
    }

    async fn step(&mut self, op: &Op) -> Result<(), TestCaseError> {
        let app = self.app;
        match op {
            Op::Charge(p) => {
                let amount = cents(100 + i64::from(*p) * 40);
                let id = tx_id();
                let body = recurring_body(&id, &self.agreement, f64_of(amount));
                let (s, b) = self.api("/api/Payment", body).await;
                ensure!(s == StatusCode::OK, "charge: {s} {b}");
                self.payments.push((id, amount));
            }
            Op::Refund(i, p) if !self.payments.is_empty() => {
                let (id, _) = &self.payments[usize::from(*i) % self.payments.len()];
                let v = self.view(id).await;
                if v["status"] != "Succeeded" {
                    return Ok(());
                }
                let room = amount_of(&v["refundableAmount"]) - sum(&v["chargebacks"]);
                if let Some(a) = part(room, *p) {
                    let rf = tx_id();
                    let (s, b) = self
                        .api("/api/Refund", refund_body(&rf, id, f64_of(a)))
                        .await;
                    ensure!(
                        s == StatusCode::OK || b["errorCode"] == "InvalidAmount",
                        "refund: {s} {b}"
                    );
                    if s == StatusCode::OK {
                        self.refunds.push(rf);
                    }
                }
            }
            Op::StrandedRefund(i, p) if !self.payments.is_empty() => {
                let (id, _) = &self.payments[usize::from(*i) % self.payments.len()];
                let v = self.view(id).await;
                if v["status"] != "Succeeded" {
                    return Ok(());
                }
                if let Some(a) = part(amount_of(&v["refundableAmount"]), *p) {
                    let rf = tx_id();
                    app.psp_fault(PspFault::Unavailable);
                    let (s, b) = app
                        .post(
                            "/api/Refund",
                            targeted(refund_body(&rf, id, f64_of(a)), &app.hook_target()),
                        )
                        .await;
                    app.psp_fault(PspFault::None);
                    ensure!(
                        s == StatusCode::OK && b["status"] == "Pending",
                        "a refund the PSP never received: {s} {b}"
                    );
                    self.stranded.push(rf);
                }
            }
            Op::Chargeback(i, p) if !self.payments.is_empty() => {
                let (id, _) = &self.payments[usize::from(*i) % self.payments.len()];
                let Some(psp_id) = app.record(id).await.psp_tx_id else {
                    return Ok(());
                };
                let m = app.psp_money(&psp_id);
                let room = cents(m.charged - m.refunded - m.charged_back);
                if m.charged > 0
                    && let Some(a) = part(room, *p)
                {
                    app.psp_chargeback(&psp_id, &wire(a)).await;
                }
            }
            Op::LoseNextAnswer => self.lose_next = true,
            Op::Deliver => {
                app.psp_delivers().await;
            }
            Op::Settle => {
                self.days += 3;
                app.psp_settles().await;
            }
            Op::Reconcile => self.reconcile().await?,
            _ => {}
        }
        Ok(())
    }

    /// Reconciler rounds at the world's clock until one finds less than a full batch.
    async fn reconcile(&self) -> Result<(), TestCaseError> {
        let policy = reconcile::Policy::from(&self.app.cfg.reconciler);
        let now = SystemClock.now().plus_seconds(self.days * 86_400);
        for _ in 0..20 {
            let r = reconcile::run_once(&self.app.app, &policy, now)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            if r.examined < usize::try_from(policy.batch).unwrap_or(usize::MAX) {
                break;
            }
        }
        Ok(())
    }

    async fn check(&mut self) -> Result<(), TestCaseError> {
        let app = self.app;
        let ids: Vec<String> = self
            .payments
            .iter()
            .map(|(id, _)| id.clone())
            .chain(self.refunds.iter().cloned())
            .chain(self.stranded.iter().cloned())
            .collect();
        for id in &ids {
            let tx = app.record(id).await;
            if let Some(before) = self.finals.get(id) {
                ensure!(
                    *before == tx.status,
                    "{id} left the final state {before} for {}",
                    tx.status
                );
            }
            if !matches!(tx.status, TxStatus::Initiated | TxStatus::Pending) {
                self.finals.insert(id.clone(), tx.status);
            }
            if tx.status == TxStatus::Pending {
                ensure!(
                    tx.needs_reconcile && tx.next_reconcile_at.is_some(),
                    "{id} is Pending without a reconciler deadline"
                );
            }
            ensure!(
                app.psp_charges(id) <= 1,
                "{id}: {} charges at the PSP",
                app.psp_charges(id)
            );
        }
        for (id, requested) in &self.payments {
            let v = self.view(id).await;
            if v["status"] == "Failed" {
                continue;
            }
            let paid = sum(&v["payments"]);
            ensure!(paid <= *requested, "{id}: collected {paid} > requested");
            ensure!(
                amount_of(&v["refundedAmount"]) + amount_of(&v["refundableAmount"]) <= paid,
                "{id}: refunded + refundable > paid: {v}"
            );
            ensure!(
                sum(&v["chargebacks"]) <= paid,
                "{id}: chargebacks > paid: {v}"
            );
        }
        Ok(())
    }

    /// After quiescence the service agrees with the PSP.
    async fn settle_down(&mut self) -> Result<(), TestCaseError> {
        self.days += 30;
        self.app.psp_settles().await;
        self.reconcile().await?;
        self.app.psp_delivers().await;
        self.check().await?;
        for (id, _) in &self.payments {
            let tx = self.app.record(id).await;
            ensure!(
                tx.status == TxStatus::Succeeded,
                "{id} is {} after settlement",
                tx.status
            );
            ensure!(
                self.app.psp_charges(id) == 1,
                "{id}: {} charges at the PSP",
                self.app.psp_charges(id)
            );
            let psp_id = tx.psp_tx_id.clone().unwrap_or_default();
            let m = self.app.psp_money(&psp_id);
            let v = self.view(id).await;
            let ours = (
                sum(&v["payments"]),
                amount_of(&v["refundedAmount"]),
                sum(&v["chargebacks"]),
            );
            let theirs = (cents(m.charged), cents(m.refunded), cents(m.charged_back));
            ensure!(
                ours == theirs,
                "{id}: ours {ours:?}, the PSP's {theirs:?}: {v}"
            );
        }
        for r in &self.refunds {
            let tx = self.app.record(r).await;
            ensure!(
                tx.status == TxStatus::Succeeded,
                "refund {r} is {} after settlement",
                tx.status
            );
        }
        for r in &self.stranded {
            let tx = self.app.record(r).await;
            ensure!(
                tx.status == TxStatus::Failed,
                "refund {r} never reached the PSP but is {}",
                tx.status
            );
        }
        Ok(())
    }
}

async fn run_case(app: &TestApp, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let mut w = World::new(app).await;
    for op in &ops {
        w.step(op).await?;
        w.check().await?;
    }
    w.settle_down().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_sequences_keep_state_and_money_equal_to_the_psps() {
    let app = TestApp::spawn().await;
    app.connect_psp_webhooks().await;
    let cases = std::env::var("PSPI_MONEY_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(24);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let strategy = prop::collection::vec(op(), 1..12);
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |ops| handle.block_on(run_case(&app, ops)))
    });
    if let Err(e) = result {
        panic!("{} run: {e}", app.family.name());
    }
}
