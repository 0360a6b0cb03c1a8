//! Nothing acknowledged is lost: the real binary acknowledges PSP notifications, is killed
//! (SIGKILL, no graceful shutdown) before any webhook goes out, and a restarted service on the
//! same database delivers every acknowledged change. For the family under test: OPPWA's
//! notifications of settled SEPA debits, Mollie's webhooks of paid recurring card payments.

use std::process::Stdio;
use std::time::{Duration, Instant};

use psp_integrator::sim::mollie as msim;
use psp_integrator::sim::oppwa::{self as sim, Sim};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

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

/// The service binary as a client sees it.
struct Service {
    client: reqwest::Client,
    base: String,
    token: String,
}

impl Service {
    async fn call(&self, method: Method, path: &str, body: Value) -> reqwest::Response {
        self.client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("request sent")
    }

    /// GETs `url` and answers where it redirects to.
    async fn redirected(&self, url: &str) -> String {
        let res = self.client.get(url).send().await.expect("GET");
        assert!(res.status().is_redirection(), "{url}: {}", res.status());
        location(&res)
    }
}

/// OPPWA: a SEPA mandate and three debits of it, settled at the PSP, whose notifications the
/// service acknowledged; the debits' Billwerk ids.
async fn oppwa_settled_debits(
    svc: &Service,
    sim: &Sim,
    merchant: &str,
    target: &str,
) -> Vec<String> {
    let agr = agreement_id();
    let r = svc
        .call(
            Method::POST,
            "/api/Preauth",
            targeted(sepa_preauth_body(&tx_id(), &agr), target),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let mut debits = Vec::new();
    for _ in 0..3 {
        let id = tx_id();
        let mut body = targeted(recurring_body(&id, &agr, 9.0), target);
        body["paymentMeansReference"]["role"] = json!("Debit");
        let d: Value = svc
            .call(Method::POST, "/api/Payment", body)
            .await
            .json()
            .await
            .expect("json");
        debits.push((
            id,
            d["pspTransactionId"].as_str().expect("psp id").to_string(),
        ));
    }
    let hook = sim.add_webhook(sim::WebhookConfig {
        url: format!("{}/psp/oppwa/{merchant}/notifications", svc.base),
        secret_hex: sim::SANDBOX_WEBHOOK_SECRET.into(),
        entity_id: None,
        types: vec![],
        fields: "ALL".into(),
    });
    assert_eq!(sim.activate_webhook(hook).await.expect("activation"), 200);
    for (_, psp) in &debits {
        sim.complete(psp, "000.100.110").expect("settle");
    }
    let reports = sim.deliver_due().await;
    assert!(
        reports.iter().all(|r| r.status == Some(200)),
        "every notification acknowledged: {reports:?}"
    );
    debits.into_iter().map(|(id, _)| id).collect()
}

/// Mollie: a card agreement (the shopper pays the first payment on Mollie's page) and three
/// recurring card payments on it, paid at Mollie, whose webhooks the service acknowledged; the
/// payments' Billwerk ids.
async fn mollie_paid_charges(svc: &Service, mollie: &msim::Sim, target: &str) -> Vec<String> {
    let agr = agreement_id();
    let r = svc
        .call(
            Method::POST,
            "/api/Preauth",
            targeted(preauth_body(&tx_id(), &agr, 1.0), target),
        )
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let p: Value = r.json().await.expect("json");
    let page = svc
        .redirected(p["redirectUrl"].as_str().expect("redirectUrl"))
        .await;
    let res = svc
        .client
        .post(&page)
        .form(&[("outcome", "paid")])
        .send()
        .await
        .expect("Mollie's test page");
    assert!(res.status().is_redirection(), "{}", res.status());
    let landing = svc.redirected(&location(&res)).await;
    assert_eq!(landing, "https://merchant.example/success");
    let mut charges = Vec::new();
    for _ in 0..3 {
        let id = tx_id();
        let r = svc
            .call(
                Method::POST,
                "/api/Payment",
                targeted(recurring_body(&id, &agr, 9.0), target),
            )
            .await;
        assert_eq!(r.status(), StatusCode::OK);
        charges.push(id);
    }
    // The card payments settle at Mollie, which sends its webhooks.
    mollie.advance_clock(60);
    let attempts = mollie.deliver_due().await;
    assert!(
        attempts.len() >= charges.len() && attempts.iter().all(|a| a.status == Some(200)),
        "every webhook acknowledged: {attempts:?}"
    );
    charges
}

#[tokio::test]
async fn acknowledged_notifications_are_delivered_after_a_crash() {
    let family = Family::under_test();
    let outside = Outside::start().await;
    let standin = outside.standin.clone();
    let scratch = scratch_db().await;
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut envs = vec![
        (
            "PSPI__PSP__OPPWA__TEST_BASE_URL",
            outside.sim.base_url.clone(),
        ),
        ("PSPI__WEBHOOKS__ALLOWED_HOSTS", "127.0.0.1".to_string()),
        ("PSPI__WEBHOOKS__ALLOW_PRIVATE_TARGETS", "true".to_string()),
        ("PSPI__SERVER__PUBLIC_BASE_URL", base.clone()),
        ("PSPI__LOG__LEVEL", "warn".to_string()),
        ("PSPI__OPS__LISTEN", "127.0.0.1:0".to_string()),
    ];
    if let Some(m) = &outside.mollie {
        envs.push(("PSPI__PSP__MOLLIE__TEST_BASE_URL", m.base_url.clone()));
    }
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
            family.name(),
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
    let svc = Service {
        // The shopper's browser is played step by step.
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
        base: base.clone(),
        token: token.clone(),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while svc
        .client
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
    let target = standin.url("/hook");
    assert_eq!(
        svc.call(Method::PUT, "/api/Settings", sandbox_settings())
            .await
            .status(),
        StatusCode::OK
    );
    let payments = match &outside.mollie {
        None => oppwa_settled_debits(&svc, &outside.sim.sim, &merchant, &target).await,
        Some(m) => mollie_paid_charges(&svc, &m.sim, &target).await,
    };

    child.kill().await.expect("SIGKILL");
    assert!(
        standin.received().is_empty(),
        "nothing was delivered before the crash"
    );

    // Restart on the same database and let the outbox worker run.
    let app = TestApp::spawn_on(scratch, |_| {}).await;
    app.drain_outbox(5).await;
    let got: Vec<Value> = standin.received().into_iter().map(|r| r.body).collect();
    for id in &payments {
        assert!(
            got.contains(&json!({"TransactionId": id, "AgreementId": null, "Type": 2})),
            "{id} delivered: {got:?}"
        );
    }
    let (_, p) = app
        .send(
            Method::GET,
            &format!("/api/Payment/{}", payments[0]),
            Some(&token),
            None,
        )
        .await;
    assert_eq!(p["status"], "Succeeded");
}
