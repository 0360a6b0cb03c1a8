//! Model-based test of payment state integrity. `proptest` generates sequences of API calls
//! and PSP events — settlements, declines, chargebacks and their reversals, refunds at the PSP
//! and through the API, partial captures, duplicates, reorderings, late contradictions,
//! unreadable amounts, excess chargebacks, lost PSP answers (refunds, captures, cancels),
//! refunds that never reach the PSP, chargebacks that cross refunds in flight, Billwerk's cancel
//! of the preauth, and reconciler rounds — and runs
//! them against the real service, database and simulator. After every step it checks:
//! - no final state is ever left;
//! - every Pending transaction has a reconciler deadline, and the reconciler's gauge of
//!   transactions with neither a final state nor a deadline is 0;
//! - the money rules: collected ≤ requested; reversals ≤ chargebacks; refunds + chargebacks −
//!   reversals ≤ collected; refundedAmount + refundableAmount ≤ paid; captures ≤ authorized;
//! - Billwerk got at least one webhook after every change a PSP event made visible.
//!
//! At the end every PSP event is delivered once more in order and the reconciler runs, and the
//! payment must then equal what the PSP reports. 200 sequences by default;
//! `PSPI_MODEL_CASES=5000 cargo test --test api model` runs more.

use std::collections::HashMap;
use std::str::FromStr;

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use psp_integrator::domain::{Clock, SystemClock, TxStatus};
use psp_integrator::flows::reconcile;
use psp_integrator::sim::oppwa::{self as sim, Fault};
use psp_integrator::store::PaymentTotals;
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::harness::*;

/// The debit's amount. Chargebacks draw on one half, refunds on the other, so that every
/// event the PSP makes fits the money rules whatever order they arrive in.
const DEBIT: i64 = 100;
const HALF: i64 = DEBIT / 2;
const AUTHORIZED: i64 = 80;

#[derive(Debug, Clone)]
enum Op {
    Settle,
    Decline,
    Chargeback(u8),
    ChargebackReversal(u8),
    PspRefund(u8),
    ApiRefund(u8),
    Capture(u8),
    OverCapture,
    Deliver(u8),
    Contradict(u8),
    Garble(u8),
    ExcessChargeback,
    LoseNextAnswer,
    Reconcile,
    /// An API refund that never reaches the PSP (its answer lost): in flight until it fails.
    StrandedRefund(u8),
    /// A chargeback that fits the payment only once the refunds in flight have failed.
    CrossingChargeback,
    /// Billwerk's Cancel of the preauth (its answer lost after `LoseNextAnswer`).
    CancelPreauth,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        2 => Just(Op::Settle),
        1 => Just(Op::Decline),
        2 => any::<u8>().prop_map(Op::Chargeback),
        1 => any::<u8>().prop_map(Op::ChargebackReversal),
        1 => any::<u8>().prop_map(Op::PspRefund),
        1 => any::<u8>().prop_map(Op::ApiRefund),
        1 => any::<u8>().prop_map(Op::Capture),
        1 => Just(Op::OverCapture),
        4 => any::<u8>().prop_map(Op::Deliver),
        1 => any::<u8>().prop_map(Op::Contradict),
        1 => any::<u8>().prop_map(Op::Garble),
        1 => Just(Op::ExcessChargeback),
        1 => Just(Op::LoseNextAnswer),
        1 => Just(Op::Reconcile),
        1 => any::<u8>().prop_map(Op::StrandedRefund),
        1 => Just(Op::CrossingChargeback),
        1 => Just(Op::CancelPreauth),
    ]
}

#[derive(Debug, Clone)]
struct Case {
    lost_debit_answer: bool,
    ops: Vec<Op>,
}

fn case() -> impl Strategy<Value = Case> {
    (any::<bool>(), prop::collection::vec(op(), 1..14)).prop_map(|(lost_debit_answer, ops)| Case {
        lost_debit_answer,
        ops,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AtPsp {
    Pending,
    Settled,
    Failed,
}

/// What the PSP (the simulator) holds: the truth the service must end up agreeing with.
struct World<'a> {
    app: &'a TestApp,
    agreement: String,
    debit: String,
    debit_psp: String,
    at_psp: AtPsp,
    /// Every PAYMENT notification the PSP would send, as it reports them.
    events: Vec<Value>,
    chargebacks: Vec<(String, Decimal)>,
    cb_total: Decimal,
    cr_total: Decimal,
    refund_total: Decimal,
    preauth: Option<(String, String)>,
    captured: Decimal,
    captures: Vec<String>,
    refunds: Vec<String>,
    lose_next: bool,
    days: i64,
    /// API refunds the PSP never received, and their total (reserved from the refund half).
    stranded: Vec<String>,
    stranded_total: Decimal,
    /// A crossing chargeback took the rest of the payment: no more refunds or chargebacks.
    exhausted: bool,
    /// Billwerk cancelled the preauth and the PSP reversed it.
    preauth_cancelled: bool,
    /// Final statuses seen, by Billwerk id.
    finals: HashMap<String, TxStatus>,
    /// The debit's view when Billwerk last heard of it, and the webhooks seen then.
    last_view: Value,
    last_hooks: usize,
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(TestCaseError::fail(format!($($fmt)*)));
        }
    };
}

fn money(cents: i64) -> Decimal {
    Decimal::new(cents, 2)
}

fn whole(v: i64) -> Decimal {
    Decimal::from(v)
}

impl<'a> World<'a> {
    async fn new(app: &'a TestApp, case: &Case) -> Result<World<'a>, TestCaseError> {
        let agreement = agreement_id();
        let (s, b) = app
            .post(
                "/api/Preauth",
                targeted(sepa_preauth_body(&tx_id(), &agreement), &app.hook_target()),
            )
            .await;
        ensure!(s == StatusCode::OK, "mandate: {b}");
        let debit = tx_id();
        let mut body = targeted(
            recurring_body(&debit, &agreement, DEBIT as f64),
            &app.hook_target(),
        );
        body["paymentMeansReference"]["role"] = json!("Debit");
        if case.lost_debit_answer {
            app.fault(Fault::DropAfterProcessing);
        }
        let (s, d) = app.post("/api/Payment", body).await;
        app.fault(Fault::None);
        ensure!(
            s == StatusCode::OK && d["status"] == "Pending",
            "debit: {d}"
        );
        let debit_psp = app
            .sim
            .sim
            .transactions()
            .into_iter()
            .find(|t| t["merchantTransactionId"] == debit.as_str() && t["paymentType"] == "DB")
            .and_then(|t| t["id"].as_str().map(str::to_string))
            .ok_or_else(|| TestCaseError::fail("the PSP holds the debit"))?;
        let preauth = if case
            .ops
            .iter()
            .any(|o| matches!(o, Op::Capture(_) | Op::OverCapture | Op::CancelPreauth))
        {
            let (pre, agr) = (tx_id(), agreement_id());
            app.card_preauth(&pre, &agr, AUTHORIZED as f64, "4200000000000000")
                .await;
            Some((pre, agr))
        } else {
            None
        };
        let last_view = app.get(&format!("/api/Payment/{debit}")).await.1;
        Ok(World {
            app,
            agreement,
            debit,
            debit_psp,
            at_psp: AtPsp::Pending,
            events: vec![],
            chargebacks: vec![],
            cb_total: Decimal::ZERO,
            cr_total: Decimal::ZERO,
            refund_total: Decimal::ZERO,
            preauth,
            captured: Decimal::ZERO,
            captures: vec![],
            refunds: vec![],
            lose_next: false,
            days: 0,
            stranded: vec![],
            stranded_total: Decimal::ZERO,
            exhausted: false,
            preauth_cancelled: false,
            finals: HashMap::new(),
            last_view,
            last_hooks: 0,
        })
    }

    fn event(&self, i: u8) -> Option<Value> {
        (!self.events.is_empty()).then(|| self.events[usize::from(i) % self.events.len()].clone())
    }

    /// The debit as Billwerk would read it (the error object of a failed one has `status`).
    async fn view(&self) -> Value {
        self.app
            .get(&format!("/api/Payment/{}", self.debit))
            .await
            .1
    }

    /// Runs an API call with the PSP's answer lost when `LoseNextAnswer` came before.
    async fn api(&mut self, path: &str, body: Value) -> (StatusCode, Value) {
        if std::mem::take(&mut self.lose_next) {
            self.app.fault(Fault::DropAfterProcessing);
        }
        let out = self.app.post(path, body).await;
        self.app.fault(Fault::None);
        out
    }

    async fn step(&mut self, op: &Op) -> Result<bool, TestCaseError> {
        let app = self.app;
        // Whether the step is a Billwerk API call (Billwerk has the answer; no webhook needed).
        let mut api_call = false;
        match op {
            Op::Settle | Op::Decline if self.at_psp == AtPsp::Pending => {
                let (code, state) = match op {
                    Op::Settle => ("000.100.110", AtPsp::Settled),
                    _ => ("800.100.203", AtPsp::Failed),
                };
                app.sim
                    .sim
                    .complete(&self.debit_psp, code)
                    .map_err(TestCaseError::fail)?;
                self.at_psp = state;
                self.events.push(app.psp_json(&self.debit_psp));
            }
            Op::Chargeback(p) if self.at_psp == AtPsp::Settled && !self.exhausted => {
                if let Some(a) = part(whole(HALF) - self.cb_total, *p) {
                    let cb = app
                        .sim
                        .sim
                        .chargeback(&self.debit_psp, &wire(a), Some("MD06"))
                        .map_err(TestCaseError::fail)?;
                    self.cb_total += a;
                    let id = cb["id"].as_str().unwrap_or_default().to_string();
                    self.chargebacks.push((id, a));
                    self.events.push(cb);
                }
            }
            Op::ChargebackReversal(i) if !self.chargebacks.is_empty() => {
                let (id, a) = self
                    .chargebacks
                    .remove(usize::from(*i) % self.chargebacks.len());
                let cr = app
                    .sim
                    .sim
                    .chargeback_reversal(&id, &wire(a))
                    .map_err(TestCaseError::fail)?;
                self.cr_total += a;
                self.events.push(cr);
            }
            Op::PspRefund(p) if self.at_psp == AtPsp::Settled && !self.exhausted => {
                if let Some(a) = part(whole(HALF) - self.refund_total - self.stranded_total, *p) {
                    let res: Value = app
                        .client
                        .post(format!(
                            "{}/v1/payments/{}",
                            app.sim.base_url, self.debit_psp
                        ))
                        .bearer_auth(sim::SANDBOX_ACCESS_TOKEN)
                        .form(&[
                            ("entityId", sim::SANDBOX_ENTITY_ID),
                            ("paymentType", "RF"),
                            ("amount", &wire(a)),
                            ("currency", "EUR"),
                        ])
                        .send()
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?
                        .json()
                        .await
                        .map_err(|e| TestCaseError::fail(e.to_string()))?;
                    let id = res["id"].as_str().unwrap_or_default().to_string();
                    ensure!(
                        res["result"]["code"]
                            .as_str()
                            .is_some_and(|c| c.starts_with("000.")),
                        "back-office refund: {res}"
                    );
                    self.refund_total += a;
                    self.events.push(app.psp_json(&id));
                }
            }
            Op::ApiRefund(p) => {
                let view = self.view().await;
                let refundable = amount_of(&view["refundableAmount"]);
                let room = (whole(HALF) - self.refund_total - self.stranded_total).min(refundable);
                if view["status"] == "Succeeded"
                    && let Some(a) = part(room, *p)
                {
                    api_call = true;
                    let id = tx_id();
                    let body = targeted(refund_body(&id, &self.debit, 0.0), &app.hook_target());
                    let mut body = body;
                    body["requestedAmount"] =
                        serde_json::Value::from_str(&a.to_string()).unwrap_or_default();
                    let (s, r) = self.api("/api/Refund", body).await;
                    ensure!(
                        s == StatusCode::OK,
                        "refund of {a} within {refundable}: {r}"
                    );
                    ensure!(
                        matches!(r["status"].as_str(), Some("Succeeded" | "Pending")),
                        "refund: {r}"
                    );
                    self.refund_total += a;
                    self.refunds.push(id.clone());
                    if let Some(rf) = app
                        .sim
                        .sim
                        .transactions()
                        .into_iter()
                        .find(|t| t["merchantTransactionId"] == id.as_str())
                    {
                        self.events.push(rf);
                    }
                }
            }
            Op::Capture(p) => {
                if let Some((pre, agr)) = self.preauth.clone()
                    && let Some(a) = part(whole(AUTHORIZED) - self.captured, *p)
                {
                    api_call = true;
                    let id = tx_id();
                    let mut body = capture_body(&id, &pre, &agr, 0.0);
                    body["requestedAmount"] =
                        serde_json::Value::from_str(&a.to_string()).unwrap_or_default();
                    let (s, c) = self.api("/api/Payment", body).await;
                    if self.preauth_cancelled {
                        ensure!(
                            s == StatusCode::UNPROCESSABLE_ENTITY,
                            "capture of a cancelled preauth: {s} {c}"
                        );
                        ensure!(app.psp_calls(&id) == 0, "no capture sent to the PSP");
                    } else {
                        ensure!(s == StatusCode::OK, "capture of {a}: {c}");
                        self.captured += a;
                        self.captures.push(id);
                    }
                }
            }
            Op::OverCapture => {
                if let Some((pre, agr)) = self.preauth.clone() {
                    api_call = true;
                    let over = whole(AUTHORIZED) - self.captured + money(1);
                    let mut body = capture_body(&tx_id(), &pre, &agr, 0.0);
                    body["requestedAmount"] =
                        serde_json::Value::from_str(&over.to_string()).unwrap_or_default();
                    let (s, c) = app.post("/api/Payment", body).await;
                    let code_ok = self.preauth_cancelled || c["errorCode"] == "InvalidAmount";
                    ensure!(
                        s == StatusCode::UNPROCESSABLE_ENTITY && code_ok,
                        "over-capture of {over}: {s} {c}"
                    );
                }
            }
            Op::Deliver(i) => {
                if let Some(e) = self.event(*i) {
                    ensure!(app.notify(&e).await == StatusCode::OK, "delivery");
                }
            }
            Op::Contradict(i) => {
                // A late contradiction of an outcome the service already has.
                let final_here = matches!(
                    self.view().await["status"].as_str(),
                    Some("Succeeded" | "Failed")
                );
                if let Some(mut e) = self
                    .event(*i)
                    .filter(|e| e["id"] == self.debit_psp.as_str())
                    && final_here
                {
                    let success = e["result"]["code"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("000.1"));
                    e["result"] = if success {
                        json!({"code": "800.100.152", "description": "declined"})
                    } else {
                        json!({"code": "000.100.110", "description": "ok"})
                    };
                    ensure!(app.notify(&e).await == StatusCode::OK, "contradiction");
                }
            }
            Op::Garble(i) => {
                if let Some(mut e) = self.event(*i) {
                    e["amount"] = json!("NaN");
                    ensure!(app.notify(&e).await == StatusCode::OK, "garbled");
                }
            }
            Op::ExcessChargeback => {
                if let Some(mut e) = self
                    .events
                    .iter()
                    .find(|e| e["paymentType"] == "CB")
                    .cloned()
                {
                    e["id"] = json!(uuid::Uuid::new_v4().simple().to_string());
                    e["amount"] = json!(wire(whole(DEBIT) + money(1)));
                    ensure!(app.notify(&e).await == StatusCode::OK, "excess chargeback");
                }
            }
            Op::LoseNextAnswer => self.lose_next = true,
            Op::StrandedRefund(p) => {
                let view = self.view().await;
                let refundable = amount_of(&view["refundableAmount"]);
                let room = (whole(HALF) - self.refund_total - self.stranded_total).min(refundable);
                if view["status"] == "Succeeded"
                    && !self.exhausted
                    && let Some(a) = part(room, *p)
                {
                    api_call = true;
                    let id = tx_id();
                    let mut body = targeted(refund_body(&id, &self.debit, 0.0), &app.hook_target());
                    body["requestedAmount"] =
                        serde_json::Value::from_str(&a.to_string()).unwrap_or_default();
                    app.fault(Fault::Unavailable);
                    let (s, r) = app.post("/api/Refund", body).await;
                    app.fault(Fault::None);
                    ensure!(
                        s == StatusCode::OK && r["status"] == "Pending",
                        "stranded refund: {s} {r}"
                    );
                    self.stranded_total += a;
                    self.stranded.push(id);
                }
            }
            Op::CrossingChargeback => {
                let a = whole(DEBIT) - self.cb_total - self.refund_total;
                if self.at_psp == AtPsp::Settled
                    && !self.exhausted
                    && !self.stranded.is_empty()
                    && a > Decimal::ZERO
                {
                    let cb = app
                        .sim
                        .sim
                        .chargeback(&self.debit_psp, &wire(a), Some("MD06"))
                        .map_err(TestCaseError::fail)?;
                    ensure!(
                        app.notify(&cb).await == StatusCode::OK,
                        "crossing chargeback"
                    );
                    self.exhausted = true;
                    self.cb_total += a;
                    let id = cb["id"].as_str().unwrap_or_default().to_string();
                    self.chargebacks.push((id, a));
                    self.events.push(cb);
                }
            }
            Op::CancelPreauth => {
                if let Some((pre, _)) = self.preauth.clone()
                    && !self.preauth_cancelled
                {
                    api_call = true;
                    if std::mem::take(&mut self.lose_next) {
                        app.fault(Fault::DropAfterProcessing);
                    }
                    let (s, c) = app
                        .send(
                            reqwest::Method::POST,
                            &format!("/api/Preauth/{pre}/Cancel"),
                            Some(&app.token),
                            Some(&json!({})),
                        )
                        .await;
                    app.fault(Fault::None);
                    ensure!(s == StatusCode::OK, "cancel: {s} {c}");
                    let status = c["cancellationStatus"].as_str().unwrap_or_default();
                    if self.captured.is_zero() {
                        ensure!(
                            matches!(status, "Succeeded" | "Pending"),
                            "cancel of an uncaptured preauth: {c}"
                        );
                        self.preauth_cancelled = true;
                    } else {
                        ensure!(
                            status == "NotCancelled",
                            "cancel of a captured preauth: {c}"
                        );
                    }
                }
            }
            Op::Reconcile => {
                self.days += 1;
                self.reconcile().await?;
            }
            _ => {}
        }
        Ok(api_call)
    }

    /// Reconciler rounds at the world's clock until one finds less than a full batch (the
    /// suite shares one database, so earlier sequences' pending debits are due too).
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

    /// The invariants, after every step.
    async fn check(&mut self, api_call: bool) -> Result<(), TestCaseError> {
        let app = self.app;
        let store = &app.store;
        let mut ids = vec![self.debit.clone()];
        ids.extend(self.captures.iter().cloned());
        ids.extend(self.refunds.iter().cloned());
        ids.extend(self.stranded.iter().cloned());
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
        }
        // The reconciler's own gauge, over every transaction of the database: none without a
        // final state and without a deadline (issue #16), whatever the sequence did.
        let gauges = psp_integrator::store::OpsStore::gauges(store.as_ref(), SystemClock.now())
            .await
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        ensure!(
            gauges.reconciler_unscheduled == 0,
            "{} transactions have neither a final state nor a deadline",
            gauges.reconciler_unscheduled
        );
        let d = app.record(&self.debit).await;
        let m = &app.merchant_id;
        let t = PaymentTotals::of(
            &store
                .list_items(m, &d.id)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            &store
                .list_chargebacks(m, &d.id)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
            &store
                .list_children(m, &d.id)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?,
        );
        ensure!(
            t.paid <= d.requested_amount,
            "collected {} > requested",
            t.paid
        );
        ensure!(
            t.reversed <= t.charged_back,
            "reversals {} > chargebacks {}",
            t.reversed,
            t.charged_back
        );
        ensure!(
            t.refunded + t.refunding + t.charged_back - t.reversed <= t.paid,
            "money out exceeds paid: {t:?}"
        );
        let view = self.view().await;
        if view["status"] != "Failed" {
            let paid = sum(&view["payments"]);
            ensure!(
                amount_of(&view["refundedAmount"]) + amount_of(&view["refundableAmount"]) <= paid,
                "refunded + refundable > paid: {view}"
            );
        }
        if let Some((pre, _)) = &self.preauth {
            let p = app.record(pre).await;
            let captured: Decimal = store
                .list_children(m, &p.id)
                .await
                .map_err(|e| TestCaseError::fail(e.to_string()))?
                .iter()
                .filter(|c| !matches!(c.status, TxStatus::Failed | TxStatus::Cancelled))
                .map(|c| c.requested_amount)
                .sum();
            ensure!(
                captured <= p.authorized_amount,
                "captured {captured} > authorized"
            );
        }
        // Webhooks: a change that a PSP event made visible reaches Billwerk.
        app.drain_outbox(60 + self.days * 86_400).await;
        let hooks = app
            .webhooks()
            .iter()
            .filter(|h| h["TransactionId"] == self.debit.as_str())
            .count();
        let visible = |v: &Value| {
            json!([
                v["status"],
                v["payments"],
                v["chargebacks"],
                v["refundedAmount"]
            ])
        };
        if visible(&view) != visible(&self.last_view) && !api_call {
            ensure!(
                hooks > self.last_hooks,
                "no webhook after a visible change: {} -> {view}",
                self.last_view
            );
        }
        self.last_view = view;
        self.last_hooks = hooks;
        Ok(())
    }

    /// After quiescence the service agrees with the PSP.
    async fn settle_down(&mut self) -> Result<(), TestCaseError> {
        for e in self.events.clone() {
            ensure!(
                self.app.notify(&e).await == StatusCode::OK,
                "final delivery"
            );
        }
        self.days += 30;
        self.reconcile().await?;
        self.check(false).await?;
        let d = self.app.record(&self.debit).await;
        let want = match self.at_psp {
            AtPsp::Pending => TxStatus::Pending,
            AtPsp::Settled => TxStatus::Succeeded,
            AtPsp::Failed => TxStatus::Failed,
        };
        ensure!(
            d.status == want,
            "the debit is {} while the PSP says {want}",
            d.status
        );
        if self.at_psp == AtPsp::Settled {
            let v = self.view().await;
            let cbs = sum(&v["chargebacks"]);
            let reversals: Decimal = v["payments"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter(|i| i["description"] == "Chargeback reversal")
                        .map(|i| amount_of(&i["amount"]))
                        .sum()
                })
                .unwrap_or_default();
            ensure!(
                cbs == self.cb_total,
                "chargebacks {cbs}, PSP {}: {v}",
                self.cb_total
            );
            ensure!(
                reversals == self.cr_total,
                "reversals {reversals}, PSP {}: {v}",
                self.cr_total
            );
            ensure!(
                amount_of(&v["refundedAmount"]) == self.refund_total,
                "refunded {}, PSP {}: {v}",
                v["refundedAmount"],
                self.refund_total
            );
        }
        for c in &self.captures {
            let tx = self.app.record(c).await;
            ensure!(
                tx.status == TxStatus::Succeeded,
                "capture {c} is {}",
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
        if let Some((pre, _)) = &self.preauth {
            let tx = self.app.record(pre).await;
            let want = if self.preauth_cancelled {
                TxStatus::Cancelled
            } else {
                TxStatus::Succeeded
            };
            ensure!(
                tx.status == want,
                "preauth is {} while the PSP says {want}",
                tx.status
            );
        }
        let _ = &self.agreement;
        Ok(())
    }
}

async fn run_case(app: &TestApp, case: Case) -> Result<(), TestCaseError> {
    let mut w = World::new(app, &case).await?;
    w.check(true).await?;
    for op in &case.ops {
        let api_call = w.step(op).await?;
        w.check(api_call).await?;
    }
    w.settle_down().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn generated_event_sequences_keep_state_and_money_intact() {
    let app = TestApp::spawn().await;
    let cases = std::env::var("PSPI_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result =
        tokio::task::block_in_place(|| runner.run(&case(), |c| handle.block_on(run_case(&app, c))));
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// A case the generator found (stop 25): a chargeback of the whole debit crossing a refund that
/// never reached the PSP is parked; an API refund in between must not take the money the
/// parked chargeback already claims at the PSP, or the chargeback can never apply.
#[tokio::test]
async fn a_refund_never_takes_what_a_parked_chargeback_claims() {
    let app = TestApp::spawn().await;
    let case = Case {
        lost_debit_answer: false,
        ops: vec![
            Op::Settle,
            Op::Reconcile,
            Op::StrandedRefund(0),
            Op::CrossingChargeback,
            Op::ApiRefund(0),
        ],
    };
    let steps = async {
        let mut w = World::new(&app, &case).await?;
        for op in &case.ops {
            let api_call = w.step(op).await?;
            w.check(api_call).await?;
        }
        // Billwerk asks anyway: refused before any PSP call, with the contract's error.
        let id = tx_id();
        let mut body = targeted(refund_body(&id, &w.debit, 0.0), &app.hook_target());
        body["requestedAmount"] = json!(0.01);
        let (s, r) = app.post("/api/Refund", body).await;
        ensure!(
            s == StatusCode::UNPROCESSABLE_ENTITY && r["errorCode"] == "InvalidAmount",
            "a refund of what the parked chargeback claims: {s} {r}"
        );
        w.settle_down().await
    };
    if let Err(e) = steps.await {
        panic!("{e}");
    }
}
