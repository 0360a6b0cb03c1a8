//! Crash windows of a money call (issue #16). A payment and a refund are sent to the real
//! binary, which is killed (SIGKILL) at each point of the call's life:
//! - before its request reaches the PSP (a proxy in front of the simulator holds it),
//! - while the PSP works on it (the simulator has charged and delays its answer),
//! - after the PSP answered but before the answer is committed (the database is blocked first),
//! - after the commit (Billwerk has the answer).
//!
//! Then the service restarts on the same database and its reconciler and outbox run. Every
//! transaction must end in the PSP's state, with at most one PSP call per Billwerk
//! transactionId (also when Billwerk retries its POST), one webhook for every change Billwerk did
//! not get as an answer, our money equal to the PSP's, and no transaction left without a final
//! state or a reconciler deadline.
//!
//! The second half cuts the database instead of the process, at the same point after the PSP
//! call, on both backends: the answer is the transaction's state (`Pending`), never a 503 that
//! reads as "nothing happened", and the reconciler finishes it.

use std::process::Stdio;
use std::str::FromStr;
use std::time::{Duration, Instant};

use psp_integrator::domain::{Clock, SystemClock};
use psp_integrator::flows::reconcile::{self, Policy};
use psp_integrator::sim::oppwa::Fault;
use psp_integrator::store::scratch::{Backend, ScratchDb};
use reqwest::StatusCode;
use rust_decimal::Decimal;
use serde_json::Value;
use sqlx::Connection;

use crate::harness::*;
use crate::proxy::Proxy;

const BIN: &str = env!("CARGO_BIN_EXE_psp-integrator");
const VISA: &str = "4200000000000000";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Payment,
    Refund,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Point {
    BeforePspCall,
    DuringPspCall,
    AnsweredNotCommitted,
    Committed,
}

/// A way to stop the service's writes: SQLite's write lock held by another connection, or the
/// proxy between the service and Postgres cut.
enum DbBlock {
    Sqlite(Box<sqlx::SqliteConnection>),
    Postgres,
}

/// The database a service reaches: directly (SQLite, a file) or through a proxy (Postgres).
struct Db {
    url: String,
    proxy: Option<Proxy>,
}

impl Db {
    async fn of(scratch: &ScratchDb) -> Db {
        let proxy = match Backend::from_env() {
            Backend::Sqlite => None,
            Backend::Postgres => {
                let url = url::Url::parse(&scratch.url).expect("url");
                let upstream = format!(
                    "{}:{}",
                    url.host_str().expect("host"),
                    url.port().unwrap_or(5432)
                );
                Some(Proxy::start(upstream).await)
            }
        };
        Db {
            url: scratch.url.clone(),
            proxy,
        }
    }

    /// The URL the service under test uses (through the proxy on Postgres).
    fn service_url(&self) -> String {
        match &self.proxy {
            None => self.url.clone(),
            Some(p) => {
                let mut url = url::Url::parse(&self.url).expect("url");
                url.set_port(Some(p.port)).expect("port");
                url.to_string()
            }
        }
    }

    async fn block(&self) -> DbBlock {
        match &self.proxy {
            Some(p) => {
                p.cut().await;
                DbBlock::Postgres
            }
            None => {
                let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&self.url)
                    .expect("sqlite url")
                    .busy_timeout(Duration::from_secs(30));
                let mut conn = sqlx::SqliteConnection::connect_with(&opts)
                    .await
                    .expect("a second connection");
                sqlx::query("BEGIN EXCLUSIVE")
                    .execute(&mut conn)
                    .await
                    .expect("the write lock");
                DbBlock::Sqlite(Box::new(conn))
            }
        }
    }

    async fn unblock(&self, block: DbBlock) {
        match block {
            DbBlock::Sqlite(conn) => conn.close().await.expect("lock released"),
            DbBlock::Postgres => {
                if let Some(p) = &self.proxy {
                    p.restore();
                }
            }
        }
    }
}

/// The merchant, its card agreement and (for a refund) a paid payment, made through a
/// service that is then stopped; its database is handed back.
struct Setup {
    merchant: (String, String),
    agreement: String,
    payment: Option<(String, Decimal)>,
}

async fn prepare(outside: &Outside, scratch: ScratchDb, op: Op) -> (Setup, ScratchDb) {
    let app = TestApp::attach(outside, scratch, None, |_| {}).await;
    let (s, b) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let agreement = agreement_id();
    app.card_preauth(&tx_id(), &agreement, 0.0, VISA).await;
    let payment = match op {
        Op::Payment => None,
        Op::Refund => {
            let id = tx_id();
            let (s, p) = app
                .post(
                    "/api/Payment",
                    targeted(recurring_body(&id, &agreement, 90.0), &app.hook_target()),
                )
                .await;
            assert_eq!(
                (s, p["status"].as_str()),
                (StatusCode::OK, Some("Succeeded"))
            );
            Some((id, Decimal::new(90, 0)))
        }
    };
    let merchant = (app.merchant_id.clone(), app.token.clone());
    let scratch = app.stop_keeping_db().await;
    (
        Setup {
            merchant,
            agreement,
            payment,
        },
        scratch,
    )
}

/// `psp-integrator serve` as a child process (no workers: the restarted service runs them).
async fn serve(db_url: &str, psp_url: &str) -> (tokio::process::Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let base = format!("http://127.0.0.1:{port}");
    let config_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    let child = tokio::process::Command::new(BIN)
        .args(["--config-dir", config_dir, "serve", "--listen"])
        .arg(format!("127.0.0.1:{port}"))
        .args(["--database-url", db_url, "--no-simulator", "--no-workers"])
        .env("PSPI__PSP__OPPWA__TEST_BASE_URL", psp_url)
        .env("PSPI__WEBHOOKS__ALLOWED_HOSTS", "127.0.0.1")
        .env("PSPI__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env("PSPI__SERVER__PUBLIC_BASE_URL", &base)
        .env("PSPI__LOG__LEVEL", "error")
        .env("PSPI__OPS__LISTEN", "127.0.0.1:0")
        // Keeps retrying its write while the database is blocked, until it is killed.
        .env("PSPI__DATABASE__WRITE_RETRY_SECS", "120")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while client
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .map(|r| r.status())
        .ok()
        != Some(StatusCode::OK)
    {
        assert!(Instant::now() < deadline, "service did not become ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, base)
}

/// Waits until the simulator holds a transaction for `billwerk_id` (it has moved the money).
async fn until_psp_has(outside: &Outside, billwerk_id: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while outside.sim.sim.count_by_merchant_tx_id(billwerk_id) == 0 {
        assert!(Instant::now() < deadline, "the PSP never got {billwerk_id}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// The amount the PSP booked for `billwerk_id`, if it holds a successful transaction for it.
fn psp_amount(outside: &Outside, billwerk_id: &str) -> Option<Decimal> {
    outside
        .sim
        .sim
        .transactions()
        .into_iter()
        .find(|t| t["merchantTransactionId"] == billwerk_id)
        .filter(|t| {
            t["result"]["code"]
                .as_str()
                .is_some_and(|c| c.starts_with("000."))
        })
        .and_then(|t| t["amount"].as_str().and_then(|a| Decimal::from_str(a).ok()))
}

/// Reconciler rounds as if minutes, then past the not-found grace, then an hour had passed;
/// then every webhook that is due.
async fn settle(app: &TestApp) {
    let policy = Policy::from(&app.cfg.reconciler);
    let grace = policy.not_found_grace;
    for secs in [120, grace + 300, grace + 4000] {
        reconcile::run_once(&app.app, &policy, SystemClock.now().plus_seconds(secs))
            .await
            .expect("reconciler round");
    }
    app.drain_outbox(4000).await;
}

async fn crash_at(op: Op, point: Point) {
    let outside = Outside::start().await;
    let scratch = scratch_db().await;
    let db = Db::of(&scratch).await;
    let (setup, scratch) = prepare(&outside, scratch, op).await;

    let gate = Proxy::start(outside.sim.addr.to_string()).await;
    if point == Point::BeforePspCall {
        gate.hold();
    }
    outside.sim.sim.set_fault(match point {
        Point::DuringPspCall => Fault::Delay { millis: 20_000 },
        Point::AnsweredNotCommitted => Fault::Delay { millis: 1_000 },
        _ => Fault::None,
    });
    let (mut child, base) = serve(
        &db.service_url(),
        &format!("http://127.0.0.1:{}", gate.port),
    )
    .await;

    let id = tx_id();
    let sent = Decimal::new(3000 + i64::from(rand_cents()), 2);
    let target = outside.standin.url("/PSPWebhooks/ExternalIntegration");
    let (path, body) = request_of(op, &setup, &id, to_f64(sent), &target);
    let request = {
        let (url, token, body) = (
            format!("{base}{path}"),
            setup.merchant.1.clone(),
            body.clone(),
        );
        tokio::spawn(async move {
            reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
        })
    };
    let mut blocked = None;
    match point {
        Point::BeforePspCall => gate.until_held().await,
        Point::DuringPspCall => until_psp_has(&outside, &id).await,
        Point::AnsweredNotCommitted => {
            until_psp_has(&outside, &id).await;
            blocked = Some(db.block().await);
            gate.until_answered(1).await;
        }
        Point::Committed => {
            let res = request.await.expect("task").expect("answer");
            assert_eq!(res.status(), StatusCode::OK);
        }
    }
    child.kill().await.expect("SIGKILL");
    if let Some(b) = blocked {
        db.unblock(b).await;
    }
    outside.sim.sim.set_fault(Fault::None);

    // Restart on the same database, against the same PSP and Billwerk.
    let app = TestApp::attach(&outside, scratch, Some(setup.merchant.clone()), |_| {}).await;
    // Billwerk, which got no answer (or a lost one), sends the same request again.
    let (s, again) = app.post(path, body.clone()).await;
    assert!(
        s == StatusCode::OK || s == StatusCode::UNPROCESSABLE_ENTITY,
        "{op:?} at {point:?}: retried POST answers the state, got {s} {again}"
    );
    settle(&app).await;

    let reached = point != Point::BeforePspCall;
    assert_eq!(
        app.psp_calls(&id),
        usize::from(reached),
        "{op:?} at {point:?}: one PSP call at most, also after Billwerk's retry"
    );
    let booked = psp_amount(&outside, &id);
    assert_eq!(
        booked.is_some(),
        reached,
        "{op:?} at {point:?}: the PSP's state"
    );
    let kind = if op == Op::Payment {
        "Payment"
    } else {
        "Refund"
    };
    let (_, view) = app.get(&format!("/api/{kind}/{id}")).await;
    let want = if reached { "Succeeded" } else { "Failed" };
    assert_eq!(view["status"], want, "{op:?} at {point:?}: {view}");

    // Money: ours equals the PSP's.
    match (&op, &setup.payment) {
        (Op::Payment, _) => {
            let ours: Decimal = view["payments"]
                .as_array()
                .map(|items| items.iter().map(amount).sum())
                .unwrap_or_default();
            assert_eq!(
                ours,
                booked.unwrap_or_default(),
                "{op:?} at {point:?}: {view}"
            );
        }
        (Op::Refund, Some((payment, paid))) => {
            let (_, p) = app.get(&format!("/api/Payment/{payment}")).await;
            let refunded = booked.unwrap_or_default();
            assert_eq!(
                amount(&p["refundedAmount"]),
                refunded,
                "{op:?} at {point:?}: {p}"
            );
            assert_eq!(
                amount(&p["refundableAmount"]),
                *paid - refunded,
                "{op:?} at {point:?}: {p}"
            );
        }
        (Op::Refund, None) => unreachable!(),
    }

    // One webhook for the change Billwerk did not get as an answer; none when it did.
    let hooks = app.hooks_for(&id).await;
    let expected = usize::from(point != Point::Committed);
    assert_eq!(
        hooks.len(),
        expected,
        "{op:?} at {point:?}: webhooks {hooks:?}"
    );
    let gauges = app.store.gauges(SystemClock.now()).await.expect("gauges");
    assert_eq!(gauges.reconciler_unscheduled, 0, "{op:?} at {point:?}");
    app.stop().await;
}

fn amount(v: &Value) -> Decimal {
    match v {
        Value::Object(o) => o.get("amount").map(amount).unwrap_or_default(),
        Value::String(s) => Decimal::from_str(s).unwrap_or_default(),
        other => Decimal::from_str(&other.to_string()).unwrap_or_default(),
    }
}

fn to_f64(d: Decimal) -> f64 {
    f64::from_str(&d.to_string()).expect("amount")
}

/// A generated amount part (cents), so the points run with different amounts.
fn rand_cents() -> u16 {
    (uuid::Uuid::new_v4().as_u128() % 5000) as u16
}

#[tokio::test]
async fn payment_killed_before_the_psp_call() {
    crash_at(Op::Payment, Point::BeforePspCall).await;
}

#[tokio::test]
async fn payment_killed_during_the_psp_call() {
    crash_at(Op::Payment, Point::DuringPspCall).await;
}

#[tokio::test]
async fn payment_killed_after_the_answer_before_the_commit() {
    crash_at(Op::Payment, Point::AnsweredNotCommitted).await;
}

#[tokio::test]
async fn payment_killed_after_the_commit() {
    crash_at(Op::Payment, Point::Committed).await;
}

#[tokio::test]
async fn refund_killed_before_the_psp_call() {
    crash_at(Op::Refund, Point::BeforePspCall).await;
}

#[tokio::test]
async fn refund_killed_during_the_psp_call() {
    crash_at(Op::Refund, Point::DuringPspCall).await;
}

#[tokio::test]
async fn refund_killed_after_the_answer_before_the_commit() {
    crash_at(Op::Refund, Point::AnsweredNotCommitted).await;
}

#[tokio::test]
async fn refund_killed_after_the_commit() {
    crash_at(Op::Refund, Point::Committed).await;
}

/// The request of `op` for a new Billwerk id, with its webhooks going to the stand-in.
fn request_of(op: Op, setup: &Setup, id: &str, amount: f64, target: &str) -> (&'static str, Value) {
    match (&op, &setup.payment) {
        (Op::Payment, _) => (
            "/api/Payment",
            targeted(recurring_body(id, &setup.agreement, amount), target),
        ),
        (Op::Refund, Some((payment, _))) => (
            "/api/Refund",
            targeted(refund_body(id, payment, amount), target),
        ),
        (Op::Refund, None) => unreachable!("a refund case has a payment"),
    }
}

/// The database goes away after the PSP was called. If it stays away longer than the
/// service's write retries, the answer is `Pending` — never a 503 that reads as "nothing was
/// written", never `Failed` — the transaction keeps its deadline, and once the database is back
/// the reconciler records what the PSP did, with one webhook. If it comes back within them,
/// the answer is the PSP's outcome itself.
async fn database_cut_after_the_psp_call(op: Op, back_in_time: bool) {
    let outside = Outside::start().await;
    let scratch = scratch_db().await;
    let db = Db::of(&scratch).await;
    let (setup, scratch) = prepare(&outside, scratch, op).await;
    let gate = Proxy::start(outside.sim.addr.to_string()).await;
    let (service_url, psp_url) = (db.service_url(), format!("http://127.0.0.1:{}", gate.port));
    let app = TestApp::attach(&outside, scratch, Some(setup.merchant.clone()), |cfg| {
        cfg.database.url = service_url;
        cfg.psp
            .of_mut::<psp_integrator::psp::oppwa::OppwaPspSection>()
            .expect("[psp.oppwa]")
            .test_base_url = psp_url;
        cfg.database.write_retry_secs = if back_in_time { 60 } else { 1 };
    })
    .await;
    outside.sim.sim.set_fault(Fault::Delay { millis: 1_000 });
    let id = tx_id();
    let (path, body) = request_of(op, &setup, &id, 42.5, &app.hook_target());
    let request = {
        let (url, token, body) = (
            format!("{}{path}", app.base),
            app.token.clone(),
            body.clone(),
        );
        tokio::spawn(async move {
            let res = reqwest::Client::new()
                .post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("answer");
            let status = res.status();
            (status, res.json::<Value>().await.expect("json"))
        })
    };
    until_psp_has(&outside, &id).await;
    let block = db.block().await;
    gate.until_answered(1).await;
    outside.sim.sim.set_fault(Fault::None);
    let what = format!("{op:?}, database back in time: {back_in_time}");
    if back_in_time {
        db.unblock(block).await;
        let (s, v) = request.await.expect("task");
        assert_eq!(
            (s, v["status"].as_str()),
            (StatusCode::OK, Some("Succeeded")),
            "{what}: {v}"
        );
        assert_eq!(
            app.hooks_for(&id).await.len(),
            0,
            "{what}: Billwerk had the answer"
        );
    } else {
        let (s, v) = request.await.expect("task");
        assert_eq!(
            s,
            StatusCode::OK,
            "{what}: the transaction's state, not an error: {v}"
        );
        assert_eq!(v["status"], "Pending", "{what}: {v}");
        assert_eq!(v["transactionId"], id.as_str(), "{what}: {v}");
        db.unblock(block).await;
        let rec = app.record(&id).await;
        assert!(
            rec.needs_reconcile && rec.next_reconcile_at.is_some(),
            "{what}: a deadline: {rec:?}"
        );
        settle(&app).await;
        assert_eq!(
            app.hooks_for(&id).await,
            vec![if op == Op::Payment { 2 } else { 3 }],
            "{what}"
        );
    }
    let kind = if op == Op::Payment {
        "Payment"
    } else {
        "Refund"
    };
    let (_, view) = app.get(&format!("/api/{kind}/{id}")).await;
    assert_eq!(view["status"], "Succeeded", "{what}: {view}");
    assert_eq!(app.psp_calls(&id), 1, "{what}");
    assert_eq!(
        psp_amount(&outside, &id),
        Some(Decimal::new(425, 1)),
        "{what}"
    );
    if let Some((payment, paid)) = &setup.payment {
        let (_, p) = app.get(&format!("/api/Payment/{payment}")).await;
        assert_eq!(
            amount(&p["refundedAmount"]),
            Decimal::new(425, 1),
            "{what}: {p}"
        );
        assert_eq!(
            amount(&p["refundableAmount"]),
            *paid - Decimal::new(425, 1),
            "{what}: {p}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn payment_answer_is_pending_when_the_database_stays_away() {
    database_cut_after_the_psp_call(Op::Payment, false).await;
}

#[tokio::test]
async fn refund_answer_is_pending_when_the_database_stays_away() {
    database_cut_after_the_psp_call(Op::Refund, false).await;
}

#[tokio::test]
async fn payment_write_is_retried_until_the_database_is_back() {
    database_cut_after_the_psp_call(Op::Payment, true).await;
}

#[tokio::test]
async fn refund_write_is_retried_until_the_database_is_back() {
    database_cut_after_the_psp_call(Op::Refund, true).await;
}
