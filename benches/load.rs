//! Load benchmark: `cargo bench --bench load` (release build). See the README's "Performance"
//! section for what it measures, the targets and the environment variables.
//!
//! The integrator runs as a child process (the crate's own binary, `serve`), so its peak RSS is
//! its own (`VmHWM` from `/proc/<pid>/status`). The OPPWA simulator (no added latency) and the
//! Billwerk stand-in run inside this process, as does the load generator and the database floor.

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use psp_integrator::sim::billwerk::{BillwerkStandIn, StandInHandle};
use psp_integrator::sim::oppwa::{self as sim, Sim, SimConfig, SimHandle};
use psp_integrator::store::scratch::ScratchDb;
use rand::Rng;
use serde_json::{Value, json};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

const BIN: &str = env!("CARGO_BIN_EXE_psp-integrator");
const MANIFEST: &str = env!("CARGO_MANIFEST_DIR");

/// Settings, from the environment (see the README).
#[derive(Clone, Debug)]
struct Opts {
    postgres: bool,
    admin_url: String,
    secs: u64,
    agreements: usize,
    seed: i64,
    notify_rate: u64,
    notify_secs: u64,
    pool: Option<u32>,
}

fn env_or<T: std::str::FromStr>(key: &str, default: T) -> T {
    std::env::var(key)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(default)
}

impl Opts {
    fn from_env() -> Opts {
        Opts {
            postgres: std::env::var("PSPI_BENCH_BACKEND").as_deref() != Ok("sqlite"),
            admin_url: std::env::var("PSPI_BENCH_POSTGRES_URL")
                .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into()),
            secs: env_or("PSPI_BENCH_SECS", 6),
            agreements: env_or("PSPI_BENCH_AGREEMENTS", 200),
            seed: env_or("PSPI_BENCH_SEED_PAYMENTS", 100_000),
            notify_rate: env_or("PSPI_BENCH_NOTIFY_RATE", 200),
            notify_secs: env_or("PSPI_BENCH_NOTIFY_SECS", 5),
            pool: std::env::var("PSPI_BENCH_POOL")
                .ok()
                .and_then(|v| v.parse().ok()),
        }
    }
}

fn main() {
    // `cargo bench` passes `--bench`; there is nothing to filter.
    let opts = Opts::from_env();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(run(opts));
}

/// Latencies and errors per endpoint of one timed phase.
#[derive(Default)]
struct Stats {
    elapsed: Duration,
    lat: BTreeMap<&'static str, Vec<u32>>,
    errors: BTreeMap<&'static str, usize>,
    first_error: Option<String>,
    /// CPU seconds used during the phase: integrator, this process, PostgreSQL's processes.
    cpu: (f64, f64, f64),
}

/// Process id of the integrator child (0 until it runs), for CPU accounting.
static INTEGRATOR_PID: AtomicU32 = AtomicU32::new(0);

/// CPU seconds (user + system) of the integrator, of this process (load generator, simulator,
/// stand-in, floor client) and of every process named `postgres` on the machine (per process,
/// so backends that start or end during a phase are counted from their start or up to the last
/// reading).
#[derive(Default, Clone)]
struct Cpu {
    integrator: f64,
    bench: f64,
    postgres: HashMap<u32, f64>,
}

impl Cpu {
    fn now() -> Cpu {
        let pid = INTEGRATOR_PID.load(Ordering::SeqCst);
        let mut postgres = HashMap::new();
        if let Ok(dir) = std::fs::read_dir("/proc") {
            for e in dir.flatten() {
                let Some(n) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                    continue;
                };
                if let Some((comm, secs)) = proc_cpu(&n.to_string())
                    && comm == "postgres"
                {
                    postgres.insert(n, secs);
                }
            }
        }
        Cpu {
            integrator: if pid == 0 {
                0.0
            } else {
                proc_cpu(&pid.to_string()).map_or(0.0, |c| c.1)
            },
            bench: proc_cpu("self").map_or(0.0, |c| c.1),
            postgres,
        }
    }

    /// `(integrator, bench, postgres)` seconds used between `before` and `self`.
    fn since(&self, before: &Cpu) -> (f64, f64, f64) {
        let pg = self
            .postgres
            .iter()
            .map(|(pid, s)| s - before.postgres.get(pid).copied().unwrap_or(0.0))
            .sum();
        (
            self.integrator - before.integrator,
            self.bench - before.bench,
            pg,
        )
    }
}

/// `(comm, utime + stime in seconds)` of `/proc/<pid>/stat`.
fn proc_cpu(pid: &str) -> Option<(String, f64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat[open + 1..close].to_string();
    let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
    // After the comm: state is field 3 of the man page, utime 14 and stime 15.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((comm, (utime + stime) / CLOCK_TICKS_PER_SEC))
}

/// `sysconf(_SC_CLK_TCK)`: 100 on every Linux this runs on.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

impl Stats {
    fn total(&self) -> usize {
        self.lat.values().map(Vec::len).sum()
    }
    fn rate(&self, label: &str) -> f64 {
        self.lat.get(label).map_or(0, Vec::len) as f64 / self.elapsed.as_secs_f64()
    }
    fn all_rate(&self) -> f64 {
        self.total() as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, label: &str, q: f64) -> f64 {
        let Some(v) = self.lat.get(label) else {
            return f64::NAN;
        };
        if v.is_empty() {
            return f64::NAN;
        }
        let i = ((v.len() as f64 * q) as usize).min(v.len() - 1);
        f64::from(v[i]) / 1000.0
    }
    fn error_count(&self) -> usize {
        self.errors.values().sum()
    }
}

/// What one operation reports: its endpoint label and whether it succeeded.
type OpResult = (&'static str, Result<(), String>);

/// Runs `op` from `conc` workers for `dur`; `op` gets the worker number.
async fn drive<F, Fut>(conc: usize, dur: Duration, op: F) -> Stats
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = OpResult> + Send,
{
    let op = Arc::new(op);
    let cpu_before = Cpu::now();
    let start = Instant::now();
    let deadline = start + dur;
    let mut handles = Vec::new();
    for w in 0..conc {
        let op = op.clone();
        handles.push(tokio::spawn(async move {
            let mut s = Stats::default();
            while Instant::now() < deadline {
                let t = Instant::now();
                let (label, res) = op(w).await;
                let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
                match res {
                    Ok(()) => s.lat.entry(label).or_default().push(us),
                    Err(e) => {
                        *s.errors.entry(label).or_default() += 1;
                        s.first_error.get_or_insert(e);
                    }
                }
            }
            s
        }));
    }
    let mut all = Stats::default();
    for h in handles {
        let s = h.await.expect("worker");
        for (k, v) in s.lat {
            all.lat.entry(k).or_default().extend(v);
        }
        for (k, v) in s.errors {
            *all.errors.entry(k).or_default() += v;
        }
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    all.elapsed = start.elapsed();
    all.cpu = Cpu::now().since(&cpu_before);
    for v in all.lat.values_mut() {
        v.sort_unstable();
    }
    all
}

/// The running system under test.
struct Rig {
    opts: Opts,
    db_url: String,
    base: String,
    client: reqwest::Client,
    token: String,
    merchant_id: String,
    sim: SimHandle,
    standin: StandInHandle,
    child: Child,
    agreements: Vec<String>,
    /// (Billwerk id, PSP id) of every recurring payment made.
    payments: Mutex<Vec<(String, String)>>,
    peak_rss_kb: AtomicUsize,
}

impl Rig {
    fn hook(&self) -> String {
        self.standin.url("/PSPWebhooks/ExternalIntegration")
    }

    /// Samples the integrator's peak resident set (VmHWM), in kB.
    fn sample_rss(&self) -> usize {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let kb = status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        self.peak_rss_kb.fetch_max(kb, Ordering::SeqCst);
        kb
    }

    fn random_agreement(&self) -> String {
        let i = rand::thread_rng().gen_range(0..self.agreements.len());
        self.agreements[i].clone()
    }

    fn random_payment(&self) -> Option<(String, String)> {
        let p = self.payments.lock().expect("lock");
        if p.is_empty() {
            return None;
        }
        let i = rand::thread_rng().gen_range(0..p.len());
        Some(p[i].clone())
    }

    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        match req.send().await {
            Ok(res) => {
                let status = res.status().as_u16();
                let v = res.json().await.unwrap_or(Value::Null);
                (status, v)
            }
            Err(e) => (0, Value::String(e.to_string())),
        }
    }

    async fn recurring(&self) -> OpResult {
        let id = tx_id();
        let mut b = fixture("payment-recurring.json");
        b["transactionId"] = json!(id);
        b["agreementId"] = json!(self.random_agreement());
        b["requestedAmount"] = json!(10.0);
        b["webhookTarget"] = json!(self.hook());
        let (s, v) = self
            .send(reqwest::Method::POST, "/api/Payment", Some(&b))
            .await;
        if s != 200 || v["status"] != "Succeeded" {
            return ("POST /api/Payment", Err(format!("{s} {v}")));
        }
        let psp = v["pspTransactionId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        self.payments.lock().expect("lock").push((id, psp));
        ("POST /api/Payment", Ok(()))
    }

    async fn get_payment(&self) -> OpResult {
        let Some((id, _)) = self.random_payment() else {
            return self.recurring().await;
        };
        let (s, v) = self
            .send(reqwest::Method::GET, &format!("/api/Payment/{id}"), None)
            .await;
        let ok = s == 200 && v["transactionId"] == id.as_str();
        (
            "GET /api/Payment/{id}",
            ok.then_some(()).ok_or(format!("{s} {v}")),
        )
    }

    async fn refund(&self) -> OpResult {
        let Some((payment, _)) = self.random_payment() else {
            return self.recurring().await;
        };
        let mut b = fixture("refund.json");
        b["transactionId"] = json!(tx_id());
        b["paymentTransactionId"] = json!(payment);
        b["requestedAmount"] = json!(0.01);
        b["webhookTarget"] = json!(self.hook());
        let (s, v) = self
            .send(reqwest::Method::POST, "/api/Refund", Some(&b))
            .await;
        let ok = s == 200 && v["status"] == "Succeeded";
        (
            "POST /api/Refund",
            ok.then_some(()).ok_or(format!("{s} {v}")),
        )
    }

    /// The realistic mix: recurring payments dominate; reads and refunds beside them.
    async fn mix(&self) -> OpResult {
        let r: u32 = rand::thread_rng().gen_range(0..100);
        match r {
            0..75 => self.recurring().await,
            75..95 => self.get_payment().await,
            _ => self.refund().await,
        }
    }
}

fn tx_id() -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("20261201-{}", &hex[..24])
}

fn fixture(name: &str) -> Value {
    let path = std::path::Path::new(MANIFEST)
        .join("tests/fixtures/billwerk")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    serde_json::from_str(&text).expect("fixture is JSON")
}

/// One card agreement: a preauth completed on the hosted page.
async fn onboard(rig: &Rig, agreement: &str) -> Result<(), String> {
    let mut b = fixture("preauth-creditcard-redirect.json");
    b["transactionId"] = json!(tx_id());
    b["agreementId"] = json!(agreement);
    b["requestedAmount"] = json!(1.0);
    b["webhookTarget"] = json!(rig.hook());
    let (s, v) = rig
        .send(reqwest::Method::POST, "/api/Preauth", Some(&b))
        .await;
    let redirect = v["redirectUrl"]
        .as_str()
        .ok_or(format!("preauth {s} {v}"))?;
    let landed = psp_integrator::sim::oppwa::tour::pay_as_shopper(
        &rig.client,
        &rig.sim.base_url,
        redirect,
        "4200000000000000",
    )
    .await?;
    if landed.contains("success") {
        Ok(())
    } else {
        Err(format!("checkout landed on {landed}"))
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn start(opts: Opts) -> (Rig, ScratchDb, CancellationToken) {
    let scratch = if opts.postgres {
        ScratchDb::postgres(&opts.admin_url)
            .await
            .expect("Postgres reachable (PSPI_BENCH_POSTGRES_URL)")
    } else {
        ScratchDb::sqlite().await.expect("sqlite scratch")
    };
    let db_url = scratch.url.clone();
    let shutdown = CancellationToken::new();
    let sim = Sim::spawn(
        SimConfig::default(),
        "127.0.0.1:0".parse().expect("addr"),
        shutdown.clone(),
    )
    .await
    .expect("simulator");
    let standin = BillwerkStandIn::spawn("127.0.0.1:0".parse().expect("addr"), shutdown.clone())
        .await
        .expect("stand-in");

    // The merchant, created in the database before the service starts.
    let store = psp_integrator::store::connect(&db_url, 2)
        .await
        .expect("connect");
    store.migrate().await.expect("migrate");
    let cfg = psp_integrator::config::AppConfig::load(
        "default",
        &std::path::Path::new(MANIFEST).join("config"),
    )
    .expect("config");
    let providers = psp_integrator::startup::adapters(&cfg);
    let (m, token) = psp_integrator::flows::operators::merchants::create_merchant(
        store.as_ref(),
        &providers,
        &psp_integrator::domain::SystemClock,
        "bench",
        "oppwa",
    )
    .await
    .expect("merchant");
    drop(store);

    let port = free_port();
    let log = std::env::temp_dir().join(format!("pspi-bench-{port}.log"));
    let mut cmd = Command::new(BIN);
    cmd.args(["--config-dir", &format!("{MANIFEST}/config"), "serve"])
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--database-url", &db_url])
        .env("PSPI__SIM__OPPWA__ENABLED", "false")
        .env("PSPI__PSP__OPPWA__TEST_BASE_URL", &sim.base_url)
        .env(
            "PSPI__SERVER__PUBLIC_BASE_URL",
            format!("http://127.0.0.1:{port}"),
        )
        .env("PSPI__LIMITS__RATE_PER_SECOND", "1000000")
        .env("PSPI__LIMITS__BURST", "1000000")
        .env("PSPI__WEBHOOKS__ALLOWED_HOSTS", "127.0.0.1")
        .env("PSPI__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true")
        .env("PSPI__LOG__LEVEL", "warn")
        .env("PSPI__OPS__LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).expect("log file"));
    if let Some(p) = opts.pool {
        cmd.env("PSPI__DATABASE__MAX_CONNECTIONS", p.to_string());
    }
    let child = cmd.spawn().expect("integrator starts");
    INTEGRATOR_PID.store(child.id(), Ordering::SeqCst);
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(64)
        .build()
        .expect("client");
    let base = format!("http://127.0.0.1:{port}");
    let ready = Instant::now();
    loop {
        let ok = client
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if ok {
            break;
        }
        assert!(
            ready.elapsed() < Duration::from_secs(60),
            "the integrator did not become ready; see {}",
            log.display()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rig = Rig {
        opts,
        db_url,
        base,
        client,
        token,
        merchant_id: m.id,
        sim,
        standin,
        child,
        agreements: Vec::new(),
        payments: Mutex::new(Vec::new()),
        peak_rss_kb: AtomicUsize::new(0),
    };
    let settings = json!({ "merchantSettings": [
        { "keyName": "AccessToken", "keyValue": sim::SANDBOX_ACCESS_TOKEN },
        { "keyName": "EntityId", "keyValue": sim::SANDBOX_ENTITY_ID },
        { "keyName": "MitEntityId", "keyValue": sim::SANDBOX_MIT_ENTITY_ID },
        { "keyName": "WebhookSecret", "keyValue": sim::SANDBOX_WEBHOOK_SECRET },
        { "keyName": "Environment", "keyValue": "Test" }
    ]});
    let (s, v) = rig
        .send(reqwest::Method::PUT, "/api/Settings", Some(&settings))
        .await;
    assert_eq!(s, 200, "settings: {v}");
    (rig, scratch, shutdown)
}

/// A row of the results: figure, value, target, verdict.
struct Verdicts(Vec<(String, String, String, Option<bool>)>);

impl Verdicts {
    fn add(&mut self, figure: &str, value: String, target: &str, ok: Option<bool>) {
        self.0
            .push((figure.to_string(), value, target.to_string(), ok));
    }
    fn print(&self) {
        println!(
            "\n{:<58} {:>14} {:>22}  verdict",
            "figure", "value", "target"
        );
        for (f, v, t, ok) in &self.0 {
            let verdict = match ok {
                Some(true) => "PASS",
                Some(false) => "FAIL",
                None => "-",
            };
            println!("{f:<58} {v:>14} {t:>22}  {verdict}");
        }
    }
}

fn print_table(title: &str, conc: usize, s: &Stats) {
    println!(
        "\n{title}, {conc} clients, {:.1} s: {:.0} requests/s, {} errors{}",
        s.elapsed.as_secs_f64(),
        s.all_rate(),
        s.error_count(),
        s.first_error
            .as_ref()
            .map(|e| format!(" (first: {})", e.chars().take(160).collect::<String>()))
            .unwrap_or_default()
    );
    println!(
        "  {:<26} {:>9} {:>8} {:>8} {:>8} {:>8} {:>7}",
        "endpoint", "req/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "errors"
    );
    for label in s
        .lat
        .keys()
        .chain(s.errors.keys())
        .collect::<std::collections::BTreeSet<_>>()
    {
        println!(
            "  {:<26} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>7}",
            label,
            s.rate(label),
            s.pct(label, 0.5),
            s.pct(label, 0.9),
            s.pct(label, 0.99),
            s.pct(label, 1.0),
            s.errors.get(label).copied().unwrap_or(0)
        );
    }
    let n = s.total().max(1) as f64;
    let us = |secs: f64| secs * 1e6 / n;
    let (integrator, bench, postgres) = s.cpu;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    println!(
        "  CPU per request: integrator {:.0} µs, bench process {:.0} µs, postgres {:.0} µs; machine busy {:.0} %",
        us(integrator),
        us(bench),
        us(postgres),
        100.0 * (integrator + bench + postgres) / (s.elapsed.as_secs_f64() * cores)
    );
    let _ = std::io::stdout().flush();
}

async fn run(opts: Opts) {
    let dur = Duration::from_secs(opts.secs.max(1));
    println!(
        "load bench: backend {}, {} s per phase, {} agreements, {} seeded payments, notifications {}/s for {} s; integrator pid in a child process",
        if opts.postgres { "postgres" } else { "sqlite" },
        dur.as_secs(),
        opts.agreements,
        opts.seed,
        opts.notify_rate,
        opts.notify_secs
    );
    let (mut rig, scratch, shutdown) = start(opts.clone()).await;
    let agreements: Vec<String> = (0..opts.agreements)
        .map(|_| uuid::Uuid::new_v4().simple().to_string()[..24].to_string())
        .collect();
    let t = Instant::now();
    let rig_ref = &rig;
    let failures: Vec<String> = futures::stream::iter(agreements.iter())
        .map(|a| async move { onboard(rig_ref, a).await.err() })
        .buffer_unordered(8)
        .filter_map(|e| async move { e })
        .collect()
        .await;
    assert!(failures.is_empty(), "onboarding: {failures:?}");
    rig.agreements = agreements;
    println!(
        "onboarded {} card agreements in {:.1} s",
        rig.agreements.len(),
        t.elapsed().as_secs_f64()
    );
    let rig = Arc::new(rig);
    let floor = Floor::connect(&rig).await;
    let mut verdicts = Verdicts(Vec::new());

    // 1. Recurring POST only, near-empty tables, against its floor.
    let mut post = HashMap::new();
    let mut post_floor = HashMap::new();
    for conc in [8, 32] {
        let r = rig.clone();
        let s = drive(conc, dur, move |_| {
            let r = r.clone();
            async move { r.recurring().await }
        })
        .await;
        print_table("recurring POST /api/Payment", conc, &s);
        rig.sample_rss();
        let f = floor.post(conc, dur).await;
        print_table("floor: the statements of one recurring payment", conc, &f);
        post.insert(conc, s);
        post_floor.insert(conc, f);
    }
    for conc in [8, 32] {
        let (s, f) = (&post[&conc], &post_floor[&conc]);
        let ratio = s.all_rate() / f.all_rate();
        verdicts.add(
            &format!("recurring POST, {conc} clients, requests/s (errors)"),
            format!("{:.0} ({})", s.all_rate(), s.error_count()),
            "0 errors",
            Some(s.error_count() == 0),
        );
        verdicts.add(
            &format!("recurring POST ÷ floor, {conc} clients"),
            format!("{ratio:.2} ({:.0} of {:.0}/s)", s.all_rate(), f.all_rate()),
            ">= 0.50",
            Some(ratio >= 0.5),
        );
    }
    let (p8, p32) = (post[&8].all_rate(), post[&32].all_rate());
    verdicts.add(
        "recurring POST: 32 clients ÷ 8 clients",
        format!("{:.2}", p32 / p8),
        ">= 1.00",
        Some(p32 >= p8),
    );
    let p99 = post[&8].pct("POST /api/Payment", 0.99);
    verdicts.add(
        "recurring POST p99, 8 clients (ms)",
        format!("{p99:.1}"),
        "<= 25",
        Some(p99 <= 25.0),
    );

    // 2. GET only, against the reads one GET issues.
    for conc in [8, 32] {
        let r = rig.clone();
        let s = drive(conc, dur, move |_| {
            let r = r.clone();
            async move { r.get_payment().await }
        })
        .await;
        print_table("GET /api/Payment/{id}", conc, &s);
        let f = floor.get(conc, dur).await;
        print_table("floor: the reads of one GET", conc, &f);
        let ratio = s.all_rate() / f.all_rate();
        verdicts.add(
            &format!("GET ÷ read floor, {conc} clients"),
            format!("{ratio:.2} ({:.0} of {:.0}/s)", s.all_rate(), f.all_rate()),
            ">= 0.50",
            Some(ratio >= 0.5 && s.error_count() == 0),
        );
    }
    rig.sample_rss();

    // 3. The realistic mix.
    for conc in [8, 32] {
        let r = rig.clone();
        let s = drive(conc, dur, move |_| {
            let r = r.clone();
            async move { r.mix().await }
        })
        .await;
        print_table("mix (75% recurring POST, 20% GET, 5% refund)", conc, &s);
        verdicts.add(
            &format!("mix, {conc} clients, requests/s (errors)"),
            format!("{:.0} ({})", s.all_rate(), s.error_count()),
            "0 errors",
            Some(s.error_count() == 0),
        );
    }
    rig.sample_rss();

    // 4. The notification path.
    notifications(&rig, &mut verdicts).await;
    rig.sample_rss();

    // 5. Growth: the same POST run after bulk-seeding payments.
    if rig.opts.seed > 0 {
        let t = Instant::now();
        floor.seed(rig.opts.seed).await;
        println!(
            "\nseeded {} payments (with history and items) in {:.1} s",
            rig.opts.seed,
            t.elapsed().as_secs_f64()
        );
        let r = rig.clone();
        let s = drive(8, dur, move |_| {
            let r = r.clone();
            async move { r.recurring().await }
        })
        .await;
        print_table(
            &format!("recurring POST after {} more payments", rig.opts.seed),
            8,
            &s,
        );
        let ratio = s.all_rate() / p8;
        verdicts.add(
            &format!(
                "growth: POST after {} payments ÷ empty tables",
                rig.opts.seed
            ),
            format!("{ratio:.2}"),
            ">= 0.90",
            Some(ratio >= 0.9),
        );
    }
    rig.sample_rss();
    let rss = rig.peak_rss_kb.load(Ordering::SeqCst) as f64 / 1024.0;
    verdicts.add(
        "integrator peak RSS (MB, VmHWM of the child process)",
        format!("{rss:.1}"),
        "<= 64",
        Some(rss <= 64.0),
    );
    verdicts.print();

    shutdown.cancel();
    if let Ok(mut rig) = Arc::try_unwrap(rig) {
        let _ = rig.child.kill();
        let _ = rig.child.wait();
    }
    let _ = scratch.drop_db().await;
}

/// Encrypted PSP notifications at a fixed rate, each about a different payment (a chargeback),
/// then a few bursts on single payments; latency from sending to the webhook's arrival.
async fn notifications(rig: &Arc<Rig>, verdicts: &mut Verdicts) {
    let rate = rig.opts.notify_rate.max(1);
    let n = usize::try_from(rate * rig.opts.notify_secs).unwrap_or(0);
    let payments: Vec<(String, String)> = {
        let p = rig.payments.lock().expect("lock");
        p.iter().rev().take(n + 40).cloned().collect()
    };
    if payments.len() < n + 40 {
        println!(
            "\nnotification path skipped: only {} payments",
            payments.len()
        );
        return;
    }
    rig.standin.clear();
    let url = format!("{}/psp/oppwa/{}/notifications", rig.base, rig.merchant_id);
    let sent: Arc<Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>> = Arc::default();
    let failed = Arc::new(AtomicUsize::new(0));
    let mut ticker = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = tokio::task::JoinSet::new();
    let start = Instant::now();
    for (billwerk, psp) in payments.iter().take(n) {
        ticker.tick().await;
        let (rig, url, sent, failed) = (rig.clone(), url.clone(), sent.clone(), failed.clone());
        let (billwerk, psp) = (billwerk.clone(), psp.clone());
        tasks.spawn(async move {
            let ok = notify_chargeback(&rig, &url, &psp, &billwerk, &sent).await;
            if !ok {
                failed.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let sending = start.elapsed().as_secs_f64();
    // Bursts: five chargebacks on each of 40 payments, back to back.
    for (billwerk, psp) in payments.iter().skip(n).take(40) {
        for _ in 0..5 {
            if !notify_chargeback(rig, &url, psp, billwerk, &sent).await {
                failed.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    // Let every leading and trailing edge arrive (quiet window + poll + delivery).
    tokio::time::sleep(Duration::from_secs(3)).await;
    let received = rig.standin.received();
    let mut by_tx: HashMap<String, Vec<chrono::DateTime<chrono::Utc>>> = HashMap::new();
    for r in &received {
        if let Some(id) = r.body["TransactionId"].as_str() {
            by_tx
                .entry(id.to_string())
                .or_default()
                .push(r.at.to_datetime());
        }
    }
    let sent = sent.lock().expect("lock");
    let mut lat: Vec<f64> = Vec::new();
    let mut missing = 0;
    for (billwerk, _) in payments.iter().take(n) {
        let (Some(at), Some(hooks)) = (sent.get(billwerk), by_tx.get(billwerk)) else {
            missing += 1;
            continue;
        };
        if let Some(first) = hooks.iter().min() {
            lat.push((*first - *at).num_microseconds().unwrap_or(0) as f64 / 1000.0);
        }
    }
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| {
        lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1)))
            .copied()
            .unwrap_or(f64::NAN)
    };
    let isolated: usize = payments
        .iter()
        .take(n)
        .map(|(b, _)| by_tx.get(b).map_or(0, Vec::len))
        .sum();
    let burst_max = payments
        .iter()
        .skip(n)
        .take(40)
        .map(|(b, _)| by_tx.get(b).map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    println!(
        "\nnotification path: {n} isolated changes sent in {sending:.1} s ({:.0}/s), {} not acknowledged, {missing} without a webhook; p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; webhooks per transaction {:.2}; bursts of 5: at most {burst_max} webhooks",
        n as f64 / sending,
        failed.load(Ordering::SeqCst),
        pct(0.5),
        pct(0.99),
        pct(1.0),
        isolated as f64 / n.max(1) as f64,
    );
    verdicts.add(
        &format!("notification → webhook p99 at {rate}/s (ms)"),
        format!("{:.1}", pct(0.99)),
        "<= 250",
        Some(pct(0.99) <= 250.0 && missing == 0),
    );
    verdicts.add(
        "notification → webhook p50 (ms)",
        format!("{:.1}", pct(0.5)),
        "-",
        None,
    );
    verdicts.add(
        "webhooks per isolated change",
        format!("{:.2}", isolated as f64 / n.max(1) as f64),
        "1",
        Some(isolated == n),
    );
    verdicts.add(
        "webhooks per burst of 5 changes (max)",
        burst_max.to_string(),
        "<= 2",
        Some((1..=2).contains(&burst_max)),
    );
}

async fn notify_chargeback(
    rig: &Rig,
    url: &str,
    psp: &str,
    billwerk: &str,
    sent: &Mutex<HashMap<String, chrono::DateTime<chrono::Utc>>>,
) -> bool {
    let Ok(cb) = rig.sim.sim.chargeback(psp, "0.01", None) else {
        return false;
    };
    let plain = json!({"type": "PAYMENT", "payload": cb}).to_string();
    let Ok(enc) = sim::encrypt_notification(sim::SANDBOX_WEBHOOK_SECRET, plain.as_bytes(), None)
    else {
        return false;
    };
    sent.lock()
        .expect("lock")
        .entry(billwerk.to_string())
        .or_insert_with(chrono::Utc::now);
    rig.client
        .post(url)
        .header("content-type", "text/plain")
        .header("X-Initialization-Vector", enc.iv_hex)
        .header("X-Authentication-Tag", enc.tag_hex)
        .body(enc.body_hex)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}

const TX_COLUMNS: &str = "id, merchant_id, kind, billwerk_id, agreement_id, role, currency, \
    requested_amount, authorized_amount, status, psp_tx_id, webhook_target, parent_id, is_initial, \
    expires_at, checkout_id, checkout_data, checkout_token, success_url, error_url, abort_url, \
    language, reference_text, planned_execution_date, booking_date, error, needs_reconcile, \
    created_at, last_updated, next_reconcile_at, reconcile_attempts";
const AGR_COLUMNS: &str = "merchant_id, agreement_id, status, role, currency, bearer, \
    credential, initial_psp_tx_id, is_debit, updated_at";
const INSERT_TX: &str = "INSERT INTO transactions (id, merchant_id, kind, billwerk_id, agreement_id, \
    role, currency, requested_amount, authorized_amount, status, psp_tx_id, webhook_target, parent_id, \
    is_initial, expires_at, checkout_id, checkout_token, success_url, error_url, abort_url, language, \
    reference_text, planned_execution_date, booking_date, error, needs_reconcile, created_at, \
    last_updated) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
    $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28) ON CONFLICT (merchant_id, billwerk_id) DO NOTHING";
const UPDATE_TX: &str = "UPDATE transactions SET status = COALESCE($1, status), psp_tx_id = \
    COALESCE($2, psp_tx_id), authorized_amount = COALESCE($3, authorized_amount), expires_at = \
    COALESCE($4, expires_at), checkout_id = COALESCE($5, checkout_id), booking_date = COALESCE($6, \
    booking_date), error = CASE WHEN $7 = 1 THEN $8 ELSE error END, needs_reconcile = COALESCE($9, \
    needs_reconcile), last_updated = $10, checkout_data = COALESCE($14, checkout_data), \
    next_reconcile_at = COALESCE($15, next_reconcile_at), reconcile_attempts = COALESCE($16, \
    reconcile_attempts) WHERE id = $11 AND merchant_id = $12 AND last_updated = $13";
const INSERT_HISTORY: &str = "INSERT INTO transaction_history (transaction_id, merchant_id, status, \
    at, note) VALUES ($1, $2, $3, $4, $5)";
const INSERT_ITEM: &str = "INSERT INTO payment_items (transaction_id, merchant_id, external_item_id, \
    amount, booking_date, description, item_kind) VALUES ($1, $2, $3, $4, $5, $6, $7)";
const SELECT_ITEMS: &str = "SELECT item_kind, external_item_id, amount, booking_date, description \
    FROM payment_items WHERE merchant_id = $1 AND transaction_id = $2 ORDER BY id";
const SELECT_CHARGEBACKS: &str = "SELECT external_item_id, amount, booking_date, description, \
    fee_amount, reason, psp_reason_code, psp_reason_message FROM chargebacks WHERE merchant_id = $1 \
    AND transaction_id = $2 ORDER BY id";
const SELECT_PARKED: &str = "SELECT id, merchant_id, transaction_id, dedupe_key, event_data, \
    received_at FROM notifications WHERE merchant_id = $1 AND transaction_id = $2 AND parked = 1 \
    ORDER BY id";
const SELECT_MERCHANT: &str =
    "SELECT id, name, psp, created_at, token_hash FROM merchants WHERE token_hash = $1";
const SELECT_SETTINGS: &str = "SELECT sealed FROM merchant_settings WHERE merchant_id = $1";

/// The statements one request issues, run directly against the same database (Postgres: the
/// native driver with prepared statements, one connection per client as pgbench does; SQLite:
/// sqlx's `Any` driver).
struct Floor {
    merchant_id: String,
    token_hash: Vec<u8>,
    agreements: Vec<String>,
    /// A real recurring payment whose row the seed copies.
    template: String,
    db_url: String,
    postgres: bool,
}

macro_rules! floor_ops {
    ($post:ident, $get:ident, $parts:ident, $conn:ty) => {
        /// A payment's items, chargebacks and refunds: the reads its view and money check issue.
        async fn $parts(c: &mut $conn, m: &str, id: &str) -> Result<(), sqlx::Error> {
            sqlx::query(SELECT_ITEMS)
                .bind(m)
                .bind(id)
                .fetch_all(&mut *c)
                .await?;
            sqlx::query(SELECT_CHARGEBACKS)
                .bind(m)
                .bind(id)
                .fetch_all(&mut *c)
                .await?;
            sqlx::query(&format!(
                "SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND parent_id = $2 ORDER BY created_at, id"
            ))
            .bind(m)
            .bind(id)
            .fetch_all(&mut *c)
            .await?;
            Ok(())
        }

        /// One recurring payment's statements: four reads, two commits, the reads after.
        async fn $post(c: &mut $conn, f: &Floor, n: u64) -> Result<(), sqlx::Error> {
            let m = f.merchant_id.as_str();
            let id = uuid::Uuid::new_v4().simple().to_string();
            let billwerk = format!("floor-{id}");
            let agreement = &f.agreements[(n as usize) % f.agreements.len()];
            let now = chrono::Utc::now().timestamp_micros() * 10;
            sqlx::query(SELECT_MERCHANT)
                .bind(&f.token_hash)
                .fetch_optional(&mut *c)
                .await?;
            sqlx::query(&format!(
                "SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND billwerk_id = $2"
            ))
            .bind(m)
            .bind(&billwerk)
            .fetch_optional(&mut *c)
            .await?;
            sqlx::query(SELECT_SETTINGS)
                .bind(m)
                .fetch_optional(&mut *c)
                .await?;
            sqlx::query(&format!(
                "SELECT {AGR_COLUMNS} FROM agreements WHERE merchant_id = $1 AND agreement_id = $2"
            ))
            .bind(m)
            .bind(agreement)
            .fetch_optional(&mut *c)
            .await?;
            let mut tx = c.begin().await?;
            let none: Option<String> = None;
            let none_i: Option<i64> = None;
            sqlx::query(INSERT_TX)
                .bind(&id)
                .bind(m)
                .bind("payment")
                .bind(&billwerk)
                .bind(agreement)
                .bind("CreditCard")
                .bind("EUR")
                .bind("10")
                .bind("0")
                .bind("Pending")
                .bind(&none)
                .bind("http://127.0.0.1:9/PSPWebhooks/ExternalIntegration")
                .bind(&none)
                .bind(0_i64)
                .bind(none_i)
                .bind(&none)
                .bind(&none)
                .bind(&none)
                .bind(&none)
                .bind(&none)
                .bind(&none)
                .bind("YYNPG-MZXPB-FSGYB")
                .bind(&none)
                .bind(&none)
                .bind(&none)
                .bind(0_i64)
                .bind(now)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_HISTORY)
                .bind(&id)
                .bind(m)
                .bind("Pending")
                .bind(now)
                .bind("payment received")
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            let mut tx = c.begin().await?;
            sqlx::query(UPDATE_TX)
                .bind(Some("Succeeded"))
                .bind(Some(format!("psp-{id}")))
                .bind(&none)
                .bind(none_i)
                .bind(&none)
                .bind(Some("2026-12-01"))
                .bind(0_i64)
                .bind(&none)
                .bind(Some(0_i64))
                .bind(now + 1)
                .bind(&id)
                .bind(m)
                .bind(now)
                .bind(&none)
                .bind(none_i)
                .bind(none_i)
                .execute(&mut *tx)
                .await?;
            sqlx::query(&format!(
                "SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND id = $2"
            ))
            .bind(m)
            .bind(&id)
            .fetch_optional(&mut *tx)
            .await?;
            sqlx::query(INSERT_HISTORY)
                .bind(&id)
                .bind(m)
                .bind("Succeeded")
                .bind(now + 1)
                .bind("PSP outcome")
                .execute(&mut *tx)
                .await?;
            sqlx::query(INSERT_ITEM)
                .bind(&id)
                .bind(m)
                .bind(Some(format!("psp-{id}")))
                .bind("10")
                .bind("2026-12-01")
                .bind(&none)
                .bind("payment")
                .execute(&mut *tx)
                .await?;
            $parts(&mut tx, m, &id).await?;
            tx.commit().await?;
            sqlx::query(SELECT_PARKED)
                .bind(m)
                .bind(&id)
                .fetch_all(&mut *c)
                .await?;
            $get(c, f, &id, agreement, false).await
        }

        /// The reads of one GET (`with_lookup`), or the view reads after a write.
        async fn $get(
            c: &mut $conn,
            f: &Floor,
            id: &str,
            agreement: &str,
            with_lookup: bool,
        ) -> Result<(), sqlx::Error> {
            let m = f.merchant_id.as_str();
            let mut id = id.to_string();
            if with_lookup {
                sqlx::query(SELECT_MERCHANT)
                    .bind(&f.token_hash)
                    .fetch_optional(&mut *c)
                    .await?;
                let row = sqlx::query(&format!(
                    "SELECT {TX_COLUMNS} FROM transactions WHERE merchant_id = $1 AND billwerk_id = $2"
                ))
                .bind(m)
                .bind(&id)
                .fetch_optional(&mut *c)
                .await?;
                if let Some(r) = row {
                    id = sqlx::Row::try_get(&r, "id")?;
                }
            }
            $parts(c, m, &id).await?;
            sqlx::query(&format!(
                "SELECT {AGR_COLUMNS} FROM agreements WHERE merchant_id = $1 AND agreement_id = $2"
            ))
            .bind(m)
            .bind(agreement)
            .fetch_optional(&mut *c)
            .await?;
            Ok(())
        }
    };
}

floor_ops!(post_pg, get_pg, parts_pg, sqlx::PgConnection);
floor_ops!(post_any, get_any, parts_any, sqlx::AnyConnection);

impl Floor {
    async fn connect(rig: &Rig) -> Arc<Floor> {
        sqlx::any::install_default_drivers();
        let mut c = sqlx::AnyConnection::connect(&rig.db_url)
            .await
            .expect("floor connection");
        let row = sqlx::query("SELECT token_hash FROM merchants WHERE id = $1")
            .bind(&rig.merchant_id)
            .fetch_one(&mut c)
            .await
            .expect("merchant row");
        let token_hash: Vec<u8> = sqlx::Row::try_get(&row, "token_hash").expect("hash");
        let none_yet = rig.payments.lock().expect("lock").is_empty();
        let _ = c.close().await;
        // The seed copies a real recurring payment; make one if none exists yet.
        if none_yet {
            let _ = rig.recurring().await;
        }
        let template = rig
            .payments
            .lock()
            .expect("lock")
            .first()
            .map(|p| p.0.clone())
            .expect("a payment");
        Arc::new(Floor {
            merchant_id: rig.merchant_id.clone(),
            token_hash,
            agreements: rig.agreements.clone(),
            template,
            db_url: rig.db_url.clone(),
            postgres: rig.opts.postgres,
        })
    }

    async fn run(self: &Arc<Self>, conc: usize, dur: Duration, get: bool) -> Stats {
        // One connection per client, opened before the clock starts.
        let label = if get {
            "floor GET reads"
        } else {
            "floor POST statements"
        };
        let ids: Arc<Vec<String>> = Arc::new(if get {
            self.read_ids().await
        } else {
            Vec::new()
        });
        let conns: Vec<Arc<tokio::sync::Mutex<FloorConn>>> = {
            let mut v = Vec::new();
            for _ in 0..conc {
                v.push(Arc::new(tokio::sync::Mutex::new(self.open().await)));
            }
            v
        };
        let seq = Arc::new(AtomicUsize::new(0));
        let f = self.clone();
        drive(conc, dur, move |w| {
            let (f, conn, seq, ids) = (f.clone(), conns[w].clone(), seq.clone(), ids.clone());
            async move {
                let n = seq.fetch_add(1, Ordering::Relaxed) as u64;
                let mut c = conn.lock().await;
                let agreement = &f.agreements[(n as usize) % f.agreements.len()];
                let res = match (&mut *c, get) {
                    (FloorConn::Pg(c), false) => post_pg(c, &f, n).await,
                    (FloorConn::Any(c), false) => post_any(c, &f, n).await,
                    (FloorConn::Pg(c), true) => {
                        get_pg(c, &f, &ids[(n as usize) % ids.len()], agreement, true).await
                    }
                    (FloorConn::Any(c), true) => {
                        get_any(c, &f, &ids[(n as usize) % ids.len()], agreement, true).await
                    }
                };
                (label, res.map_err(|e| e.to_string()))
            }
        })
        .await
    }

    async fn open(&self) -> FloorConn {
        if self.postgres {
            let mut c = sqlx::PgConnection::connect(&self.db_url)
                .await
                .expect("floor connection");
            if std::env::var("PSPI_BENCH_FLOOR_CUSTOM").is_ok() {
                use sqlx::Executor;
                c.execute("SET plan_cache_mode = force_custom_plan")
                    .await
                    .expect("set");
            }
            FloorConn::Pg(c)
        } else {
            FloorConn::Any(
                sqlx::AnyConnection::connect(&self.db_url)
                    .await
                    .expect("floor connection"),
            )
        }
    }

    async fn read_ids(&self) -> Vec<String> {
        let mut c = sqlx::AnyConnection::connect(&self.db_url)
            .await
            .expect("connect");
        let rows = sqlx::query(
            "SELECT billwerk_id FROM transactions WHERE merchant_id = $1 AND kind = 'payment' \
             AND billwerk_id NOT LIKE 'floor-%' LIMIT 5000",
        )
        .bind(&self.merchant_id)
        .fetch_all(&mut c)
        .await
        .expect("ids");
        let _ = c.close().await;
        rows.iter()
            .filter_map(|r| sqlx::Row::try_get(r, "billwerk_id").ok())
            .collect()
    }

    async fn post(self: &Arc<Self>, conc: usize, dur: Duration) -> Stats {
        self.run(conc, dur, false).await
    }

    async fn get(self: &Arc<Self>, conc: usize, dur: Duration) -> Stats {
        self.run(conc, dur, true).await
    }

    /// Copies the template payment `n` times (with its history and payment item), in bulk.
    async fn seed(&self, n: i64) {
        let mut c = sqlx::AnyConnection::connect(&self.db_url)
            .await
            .expect("connect");
        let cols: Vec<&str> = TX_COLUMNS.split(',').map(str::trim).collect();
        let select: Vec<String> = cols
            .iter()
            .map(|c| match *c {
                "id" | "billwerk_id" => "'seed-' || g.n".to_string(),
                "psp_tx_id" => "'psp-seed-' || g.n".to_string(),
                "created_at" | "last_updated" => format!("t.{c} - g.n"),
                other => format!("t.{other}"),
            })
            .collect();
        let series = "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < $2)";
        let stmts = [
            format!(
                "{series} INSERT INTO transactions ({TX_COLUMNS}) SELECT {} FROM transactions t, g \
                 WHERE t.merchant_id = $1 AND t.billwerk_id = $3",
                select.join(", ")
            ),
            format!(
                "{series} INSERT INTO transaction_history (transaction_id, merchant_id, status, at, \
                 note) SELECT 'seed-' || g.n, h.merchant_id, h.status, h.at - g.n, h.note \
                 FROM transaction_history h, transactions t, g WHERE t.merchant_id = $1 \
                 AND t.billwerk_id = $3 AND h.transaction_id = t.id"
            ),
            format!(
                "{series} INSERT INTO payment_items (transaction_id, merchant_id, external_item_id, \
                 amount, booking_date, description, item_kind) SELECT 'seed-' || g.n, i.merchant_id, \
                 'item-seed-' || g.n, i.amount, i.booking_date, i.description, i.item_kind \
                 FROM payment_items i, transactions t, g WHERE t.merchant_id = $1 \
                 AND t.billwerk_id = $3 AND i.transaction_id = t.id"
            ),
        ];
        for s in &stmts {
            sqlx::query(s)
                .bind(&self.merchant_id)
                .bind(n)
                .bind(&self.template)
                .execute(&mut c)
                .await
                .expect("seed");
        }
        // As autovacuum would after such a load.
        let _ = sqlx::query("ANALYZE").execute(&mut c).await;
        let _ = c.close().await;
    }
}

enum FloorConn {
    Pg(sqlx::PgConnection),
    Any(sqlx::AnyConnection),
}
