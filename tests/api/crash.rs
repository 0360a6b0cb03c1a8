//! Nothing acknowledged is lost: the real binary acknowledges PSP notifications, is killed
//! (SIGKILL, no graceful shutdown) before any webhook goes out, and a restarted service on the
//! same database delivers every acknowledged change.

use std::process::Stdio;
use std::time::{Duration, Instant};

use psp_integrator::sim::billwerk::BillwerkStandIn;
use psp_integrator::sim::oppwa::{self as sim, Sim, SimConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_psp-integrator");

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn field(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.trim().strip_prefix(label))
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| panic!("no '{label}' in {out}"))
}

#[tokio::test]
async fn acknowledged_notifications_are_delivered_after_a_crash() {
    let shutdown = CancellationToken::new();
    let sim = Sim::spawn(
        SimConfig::default(),
        "127.0.0.1:0".parse().expect("addr"),
        shutdown.clone(),
    )
    .await
    .expect("sim");
    let standin = BillwerkStandIn::spawn("127.0.0.1:0".parse().expect("addr"), shutdown.clone())
        .await
        .expect("stand-in");
    let scratch = scratch_db().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let envs = [
        ("PSPI__PSP__OPPWA__TEST_BASE_URL", sim.base_url.clone()),
        ("PSPI__WEBHOOKS__ALLOWED_HOSTS", "127.0.0.1".to_string()),
        ("PSPI__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true".to_string()),
        ("PSPI__SERVER__PUBLIC_BASE_URL", base.clone()),
        ("PSPI__LOG__LEVEL", "warn".to_string()),
        ("PSPI__OPS__LISTEN", "127.0.0.1:0".to_string()),
    ];
    let config_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/config");
    let out = std::process::Command::new(BIN)
        .args([
            "--config-dir",
            config_dir,
            "merchants",
            "create",
            "--name",
            "crashy",
            "--psp",
            "oppwa",
            "--database-url",
            &scratch.url,
        ])
        .envs(envs.clone())
        .output()
        .expect("merchants create runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (merchant, token) = (field(&text, "id:"), field(&text, "token:"));

    let mut child = tokio::process::Command::new(BIN)
        .args([
            "--config-dir",
            config_dir,
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .args([
            "--database-url",
            &scratch.url,
            "--no-simulator",
            "--no-workers",
        ])
        .envs(envs)
        .stdout(Stdio::null())
        // Its warnings about the crash would land between the passing tests' lines.
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
    let call = |method: reqwest::Method, path: &str, body: Value| {
        client
            .request(method, format!("{base}{path}"))
            .bearer_auth(&token)
            .json(&body)
            .send()
    };
    let target = standin.url("/hook");
    assert_eq!(
        call(reqwest::Method::PUT, "/api/Settings", sandbox_settings())
            .await
            .expect("put")
            .status(),
        StatusCode::OK
    );
    let agr = agreement_id();
    let r = call(
        reqwest::Method::POST,
        "/api/Preauth",
        targeted(sepa_preauth_body(&tx_id(), &agr), &target),
    )
    .await
    .expect("preauth");
    assert_eq!(r.status(), StatusCode::OK);
    let mut debits = Vec::new();
    for _ in 0..3 {
        let id = tx_id();
        let mut body = targeted(recurring_body(&id, &agr, 9.0), &target);
        body["paymentMeansReference"]["role"] = json!("Debit");
        let d: Value = call(reqwest::Method::POST, "/api/Payment", body)
            .await
            .expect("debit")
            .json()
            .await
            .expect("json");
        debits.push((
            id,
            d["pspTransactionId"].as_str().expect("psp id").to_string(),
        ));
    }
    let hook = sim.sim.add_webhook(sim::WebhookConfig {
        url: format!("{base}/psp/oppwa/{merchant}/notifications"),
        secret_hex: sim::SANDBOX_WEBHOOK_SECRET.into(),
        entity_id: None,
        types: vec![],
        fields: "ALL".into(),
    });
    assert_eq!(
        sim.sim.activate_webhook(hook).await.expect("activation"),
        200
    );
    for (_, psp) in &debits {
        sim.sim.complete(psp, "000.100.110").expect("settle");
    }
    let reports = sim.sim.deliver_due().await;
    assert!(
        reports.iter().all(|r| r.status == Some(200)),
        "every notification acknowledged: {reports:?}"
    );

    child.kill().await.expect("SIGKILL");
    assert!(
        standin.received().is_empty(),
        "nothing was delivered before the crash"
    );

    // Restart on the same database and let the outbox worker run.
    let app = TestApp::spawn_on(scratch, |_| {}).await;
    app.drain_outbox(5).await;
    let got: Vec<Value> = standin.received().into_iter().map(|r| r.body).collect();
    for (id, _) in &debits {
        assert!(
            got.contains(&json!({"TransactionId": id, "AgreementId": null, "Type": 2})),
            "{id} delivered: {got:?}"
        );
    }
    let (_, p) = app
        .send(
            reqwest::Method::GET,
            &format!("/api/Payment/{}", debits[0].0),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(p["status"], "Succeeded");
    shutdown.cancel();
}
