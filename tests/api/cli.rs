//! The command line as a newcomer meets it: the demo, listings, the production guard.

use std::process::Command;

use crate::harness::*;

const BIN: &str = env!("CARGO_BIN_EXE_psp-integrator");
const CONFIG: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/config");

fn run(args: &[&str], envs: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(BIN)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("PSPI_PROFILE")
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn the_demo_walks_the_whole_tour_and_exits_0() {
    let started = std::time::Instant::now();
    let (ok, out, err) = run(&["demo"], &[]);
    assert!(ok, "demo failed:\n{out}\n{err}");
    for step in [
        "1. Onboarding",
        "2. Card preauthorization through the hosted checkout",
        "3. Capture",
        "4. Recurring payment",
        "5. Partial refund",
        "6. A declined payment",
        "7. SEPA direct debit",
        "8. A chargeback",
        "9. The webhooks Billwerk received",
    ] {
        assert!(out.contains(step), "step '{step}' in:\n{out}");
    }
    assert!(out.contains("-> Succeeded"), "{out}");
    assert!(out.contains("HTTP 422: errorCode BearerInvalid"), "{out}");
    assert!(
        out.contains("Type Payment"),
        "the settled debit's webhook: {out}"
    );
    assert!(
        !out.contains("DE89370400440532013000"),
        "the IBAN is never printed"
    );
    assert!(started.elapsed().as_secs() < 60, "within a minute");
}

/// The Mollie family's tour: its card first payment on Mollie's hosted test page, a recurring
/// charge, a refund through Mollie's lifecycle, a SEPA mandate and debit, a chargeback.
#[test]
fn the_mollie_demo_walks_its_tour_and_exits_0() {
    let started = std::time::Instant::now();
    let (ok, out, err) = run(&["demo", "--psp", "mollie"], &[]);
    assert!(ok, "demo failed:\n{out}\n{err}");
    for step in [
        "1. Onboarding",
        "2. Card first payment through Mollie's hosted test checkout",
        "3. Recurring charge",
        "4. Partial refund",
        "5. SEPA direct debit",
        "6. A chargeback",
        "7. The webhooks Billwerk received",
    ] {
        assert!(out.contains(step), "step '{step}' in:\n{out}");
    }
    assert!(out.contains("card valid: true, debit valid: true"), "{out}");
    assert!(out.contains("merchant.example/success"), "{out}");
    assert!(out.contains("refunded -> Succeeded"), "{out}");
    assert!(out.contains("chargebacks: 1 of 25 EUR"), "{out}");
    assert!(out.contains("Type Payment"), "{out}");
    assert!(
        !out.contains("DE89370400440532013000"),
        "the IBAN is never printed"
    );
    assert!(started.elapsed().as_secs() < 60, "within a minute");
}

/// `merchants create --psp mollie` makes a Mollie merchant whose token works at once and
/// whose settings form asks for Mollie's key.
#[tokio::test]
async fn merchants_create_with_psp_mollie() {
    let app = TestApp::spawn().await;
    let (ok, out, err) = run(
        &[
            "--config-dir",
            CONFIG,
            "merchants",
            "create",
            "--name",
            "mollie-newcomer",
            "--psp",
            "mollie",
            "--database-url",
            &app.cfg.database.url,
        ],
        &[("PSPI__LOG__LEVEL", "warn")],
    );
    assert!(ok, "{out}{err}");
    assert!(out.contains("psp:   mollie"), "{out}");
    let token = between(&out, "token: ", "\n").expect("the token");
    let (s, info) = app
        .send(
            reqwest::Method::GET,
            "/api/IntegrationInfo",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK, "{info}");
    let keys: Vec<&str> = info["merchantSettings"]
        .as_array()
        .expect("settings")
        .iter()
        .filter_map(|k| k["keyName"].as_str())
        .collect();
    assert!(keys.contains(&"ApiKey"), "{info}");
    let (ok, out, _) = run(
        &[
            "--config-dir",
            CONFIG,
            "merchants",
            "create",
            "--name",
            "nobody",
            "--psp",
            "adyen",
            "--database-url",
            &app.cfg.database.url,
        ],
        &[("PSPI__LOG__LEVEL", "warn")],
    );
    assert!(!ok, "an unknown family is refused: {out}");
}

#[tokio::test]
async fn merchants_list_has_a_header_row() {
    let app = TestApp::spawn().await;
    let (ok, out, err) = run(
        &[
            "--config-dir",
            CONFIG,
            "merchants",
            "list",
            "--database-url",
            &app.cfg.database.url,
        ],
        &[("PSPI__LOG__LEVEL", "warn")],
    );
    assert!(ok, "{err}");
    let mut lines = out.lines();
    let header = lines.next().expect("header");
    assert!(
        header.starts_with("ID") && header.contains("PSP NOTIFICATION URL"),
        "{out}"
    );
    assert!(lines.any(|l| l.starts_with(&app.merchant_id)), "{out}");
}

#[tokio::test]
async fn merchants_rotate_with_grace_disable_and_enable_from_the_command_line() {
    let app = TestApp::spawn().await;
    let db = app.cfg.database.url.clone();
    let cli = |args: &[&str]| {
        let mut all = vec!["--config-dir", CONFIG, "merchants"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--database-url", &db]);
        let (ok, out, err) = run(&all, &[("PSPI__LOG__LEVEL", "warn")]);
        assert!(ok, "{args:?}: {err}");
        out
    };
    let row = |out: &str| {
        out.lines()
            .find(|l| l.starts_with(&app.merchant_id))
            .unwrap_or_else(|| panic!("a row for the merchant in {out}"))
            .to_string()
    };
    assert!(row(&cli(&["list"])).contains("enabled"));
    let out = cli(&["rotate-token", &app.merchant_id, "--grace", "2h"]);
    assert!(out.contains("keeps working until"), "{out}");
    let token = between(&out, "): ", "\n").expect("the new token");
    let listed = row(&cli(&["list"]));
    assert!(listed.contains("current + previous until"), "{listed}");
    for t in [&app.token, &token] {
        let (s, _) = app
            .send(reqwest::Method::GET, "/api/IntegrationInfo", Some(t), None)
            .await;
        assert_eq!(
            s,
            reqwest::StatusCode::OK,
            "both tokens during the grace period"
        );
    }
    assert!(cli(&["disable", &app.merchant_id]).contains("disabled"));
    assert!(row(&cli(&["list"])).contains("disabled since"));
    let (s, _) = app
        .send(
            reqwest::Method::GET,
            "/api/IntegrationInfo",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::UNAUTHORIZED);
    assert!(cli(&["enable", &app.merchant_id]).contains("enabled"));
    let (s, _) = app
        .send(
            reqwest::Method::GET,
            "/api/IntegrationInfo",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(s, reqwest::StatusCode::OK);
    // The default grace comes from security.token_grace_secs; 0s ends the old token at once.
    let out = cli(&["rotate-token", &app.merchant_id, "--grace", "0s"]);
    assert!(out.contains("no longer works"), "{out}");
}

#[test]
fn the_production_profile_refuses_sqlite_and_loopback_naming_the_key() {
    let key = (
        "PSPI__SECURITY__MASTER_KEY",
        "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
    );
    let (ok, _, err) = run(
        &["--config-dir", CONFIG, "--profile", "production", "serve"],
        &[key],
    );
    assert!(!ok);
    assert!(
        err.contains("database.url") && err.contains("guard.allow_sqlite"),
        "{err}"
    );
    let (ok, _, err) = run(
        &["--config-dir", CONFIG, "--profile", "production", "serve"],
        &[
            key,
            ("PSPI__DATABASE__URL", "postgres://nobody@127.0.0.1:1/none"),
        ],
    );
    assert!(!ok);
    assert!(
        err.contains("server.public_base_url")
            && err.contains("guard.allow_loopback_public_base_url"),
        "{err}"
    );
}

#[tokio::test]
async fn merchants_print_their_notification_url_with_its_token() {
    let app = TestApp::spawn().await;
    let db = app.cfg.database.url.clone();
    let cli = |args: &[&str]| {
        let mut all = vec!["--config-dir", CONFIG, "merchants"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--database-url", &db]);
        let (ok, out, err) = run(&all, &[("PSPI__LOG__LEVEL", "warn")]);
        assert!(ok, "{args:?}: {err}");
        out
    };
    // The CLI's base URL is the configured one, the app's has its port: compare the paths.
    let want = app.notification_url();
    let path = &want[want.find("/psp/").expect("path")..];
    let printed = cli(&["notification-url", &app.merchant_id]);
    assert!(printed.trim_end().ends_with(path), "{printed} vs {path}");
    let listed = cli(&["list"]);
    assert!(
        listed
            .lines()
            .any(|l| l.starts_with(&app.merchant_id) && l.trim_end().ends_with(path)),
        "{listed}"
    );
    let name = format!("cli-url-{}", &app.merchant_id[..8]);
    let created = cli(&["create", "--name", &name, "--psp", "oppwa"]);
    let url = between(&created, "notification URL: ", "\n").expect("a URL");
    let segments: Vec<&str> = url.rsplit('/').collect();
    assert_eq!(segments[0], "notifications", "{url}");
    assert!(
        segments[1].len() == 32 && segments[1].chars().all(|c| c.is_ascii_hexdigit()),
        "a 32-hex token: {url}"
    );
    let (ok, _, err) = run(
        &[
            "--config-dir",
            CONFIG,
            "merchants",
            "notification-url",
            "no-such-merchant",
            "--database-url",
            &db,
        ],
        &[("PSPI__LOG__LEVEL", "warn")],
    );
    assert!(!ok && err.contains("no-such-merchant"), "{err}");
}
