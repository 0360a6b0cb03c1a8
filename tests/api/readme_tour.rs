//! The README's tour, step 7, run as written (with the simulator's real address): it must find
//! the id of the webhook it creates instead of assuming one, because the simulator keeps the
//! webhooks of earlier runs.

use crate::harness::*;

/// The lines of tour step 7 from `W=$(` through the activation call.
fn step_seven() -> String {
    let readme = include_str!("../../README.md");
    let step = readme
        .split("**7. Notifications from the PSP.**")
        .nth(1)
        .expect("tour step 7 in the README");
    let block = step
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("step 7's shell block");
    let start = block.find("W=$(").expect("step 7 captures the webhook id");
    let end = block[start..]
        .find("/activate")
        .map(|i| start + i)
        .expect("step 7 activates the webhook");
    let line_end = block[end..].find('\n').map_or(block.len(), |i| end + i);
    block[start..line_end].to_string()
}

#[tokio::test]
async fn tour_step_seven_finds_the_webhook_id_after_earlier_runs() {
    let app = TestApp::spawn().await;
    // An earlier run's webhook already holds id 1 in the simulator.
    app.connect_psp_webhooks().await;
    let script = step_seven().replace("http://127.0.0.1:8081", &app.sim.base_url);
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("B", &app.base)
        .env("M", &app.merchant_id)
        .env("N", app.notification_url())
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let hooks = app.sim.sim.webhooks();
    assert_eq!(hooks.len(), 2, "{hooks:?}");
    assert_eq!(
        hooks[1]["active"], true,
        "the tour activated its own: {hooks:?}"
    );
    let id = hooks[1]["id"].to_string();
    assert!(
        stdout.lines().any(|l| l.trim() == id),
        "the tour printed its webhook's id: {stdout}"
    );
}

/// Every shell block of the README's "A tour with Mollie", as one script: the lines that start
/// the service, make the merchant or set `B`, `T` and `S` are left out (the test does those).
fn mollie_tour() -> String {
    let readme = include_str!("../../README.md");
    let section = readme
        .split("## A tour with Mollie")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("the Mollie tour in the README");
    section
        .split("```sh\n")
        .skip(1)
        .filter_map(|b| b.split("```").next())
        .flat_map(str::lines)
        .filter(|l| {
            !(l.starts_with("PSPI__") || l.starts_with("cargo run") || l.starts_with("export "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[tokio::test]
async fn the_mollie_tour_runs_as_written() {
    let m = crate::mollie::MollieApp::start().await;
    let script = mollie_tour();
    let out = tokio::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("B", &m.app.base)
        .env("T", &m.token)
        .env("S", &m.sim_url)
        .output()
        .await
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for expected in [
        r#""isDebitValid":true"#,
        "https://merchant.example/success",
        r#""RegistrationId":"mdt_"#,
        r#""IBAN":"DE89**************3000""#,
        r#""reason":"UserInitiated""#,
        "HTTP 204",
        r#""errorCode":"BearerInvalid""#,
        "HTTP 422",
    ] {
        assert!(stdout.contains(expected), "{expected} in:\n{stdout}");
    }
    assert!(
        !stdout.contains(r#""IBAN":"DE89370400440532013000""#),
        "{stdout}"
    );
    let (_, p) = m
        .get("/api/Preauth/20261122-6391a2f61c48d9fa18616620")
        .await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    let (_, r) = m
        .get("/api/Payment/20261122-6391a2f61c48d9fa18616622")
        .await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    let (_, f) = m.get("/api/Refund/20261122-6391a2f61c48d9fa18616623").await;
    assert_eq!(f["status"], "Succeeded", "{f}");
    let (_, d) = m
        .get("/api/Payment/20261122-6391a2f61c48d9fa18616632")
        .await;
    assert_eq!(d["status"], "Succeeded", "{d}");
    assert_eq!(d["chargebacks"].as_array().map(Vec::len), Some(1), "{d}");
    // Booked on Mollie's days (the tour moves its clock), never before the payment they undo.
    let day = |v: &serde_json::Value| v["bookingDate"].as_str().unwrap_or_default().to_string();
    assert!(
        day(&d["chargebacks"][0]) >= day(&d["payments"][0]) && !day(&d["payments"][0]).is_empty(),
        "{d}"
    );
}
