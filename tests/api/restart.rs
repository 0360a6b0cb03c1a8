//! Restarts: the embedded simulator's memory, and master key rotation across instances.

use psp_integrator::startup::{Application, Roles};
use reqwest::StatusCode;
use serde_json::Value;

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_psp-integrator");
const NEW_KEY: &str = "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff00112233445566778899aabbccddeeff";

#[tokio::test]
async fn the_embedded_simulator_keeps_its_state_across_a_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = format!("sqlite://{}", dir.path().join("pspi.db").display());
    let first = TestApp::embedded(&db, None).await;
    let (s, b) = first.put_settings(&first.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let (pre, agr) = (tx_id(), agreement_id());
    first
        .card_preauth(&pre, &agr, 60.0, "4200000000000000")
        .await;
    let cap = tx_id();
    let (s, c) = first
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 60.0))
        .await;
    assert_eq!(
        (s, c["status"].as_str()),
        (StatusCode::OK, Some("Succeeded")),
        "{c}"
    );
    let merchant = (first.merchant_id.clone(), first.token.clone());
    first.stop().await;
    assert!(
        dir.path().join("pspi.db.oppwa-sim.json").exists(),
        "state file beside the database"
    );

    let second = TestApp::embedded(&db, Some(merchant)).await;
    let (s, r) = second
        .post("/api/Payment", recurring_body(&tx_id(), &agr, 15.0))
        .await;
    assert_eq!(s, StatusCode::OK, "recurring payment after a restart: {r}");
    assert_eq!(r["status"], "Succeeded");
    let (s, f) = second
        .post("/api/Refund", refund_body(&tx_id(), &cap, 20.0))
        .await;
    assert_eq!(s, StatusCode::OK, "refund after a restart: {f}");
    assert_eq!(f["status"], "Succeeded");
    second.stop().await;
}

async fn settings_with(base: &str, token: &str) -> (StatusCode, Value) {
    let res = reqwest::Client::new()
        .get(format!("{base}/api/Settings"))
        .bearer_auth(token)
        .send()
        .await
        .expect("sent");
    let status = res.status();
    (status, res.json().await.unwrap_or(Value::Null))
}

fn keys_cli(args: &[&str], db: &str, master: &str, previous: &str) -> (bool, String) {
    let out = std::process::Command::new(BIN)
        .args([
            "--config-dir",
            concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            "keys",
        ])
        .args(args)
        .args(["--database-url", db])
        .env("PSPI__SECURITY__MASTER_KEY", master)
        .env("PSPI__SECURITY__PREVIOUS_MASTER_KEYS", previous)
        .env("PSPI__LOG__LEVEL", "warn")
        .output()
        .expect("runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[tokio::test]
async fn master_key_rotation_accepts_both_keys_during_rollout_then_only_the_new_one() {
    let app = TestApp::spawn().await;
    let old_key = app.cfg.security.master_key.clone();
    let db = app.cfg.database.url.clone();
    let instance = |master: &str, previous: Vec<String>| {
        let mut cfg = app.cfg.clone();
        cfg.security.master_key = master.to_string();
        cfg.security.previous_master_keys = previous;
        cfg.server.public_base_url = "http://127.0.0.1:0".into();
        Application::build(cfg, Roles::API)
    };

    // Rollout: the new key seals, the old one still opens what is stored.
    let rolled = instance(NEW_KEY, vec![old_key.clone()])
        .await
        .expect("starts");
    let (s, b) = settings_with(&rolled.base_url(), &app.token).await;
    assert_eq!(
        s,
        StatusCode::OK,
        "old settings readable during the rollout: {b}"
    );

    let (ok, out) = keys_cli(&["rotate"], &db, NEW_KEY, &old_key);
    assert!(ok, "{out}");
    assert!(out.contains("1 merchant(s) re-sealed"), "{out}");
    let (ok, out) = keys_cli(&["rotate"], &db, NEW_KEY, &old_key);
    assert!(
        ok && out.contains("0 merchant(s) re-sealed"),
        "idempotent: {out}"
    );
    let (ok, out) = keys_cli(&["status"], &db, NEW_KEY, "");
    assert!(ok, "{out}");
    assert!(
        !out.contains("v1 ") && out.lines().count() == 3,
        "one key id in use: {out}"
    );
    rolled.stop().await;

    // After the rollout: the new key alone suffices; the old key alone no longer opens them.
    let new_only = instance(NEW_KEY, vec![]).await.expect("starts");
    let (s, b) = settings_with(&new_only.base_url(), &app.token).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let listed: Vec<&str> = b["merchantSettings"]
        .as_array()
        .expect("settings")
        .iter()
        .filter_map(|v| v["keyName"].as_str())
        .collect();
    assert!(listed.contains(&"EntityId"), "{b}");
    new_only.stop().await;
    let old_only = instance(&old_key, vec![]).await.expect("starts");
    let (s, _) = settings_with(&old_only.base_url(), &app.token).await;
    assert_ne!(s, StatusCode::OK);
    old_only.stop().await;

    // A key that opens nothing is reported, naming what to configure.
    let (ok, out) = keys_cli(&["rotate"], &db, &old_key, "");
    assert!(
        !ok && out.contains("security.previous_master_keys"),
        "{out}"
    );
}
