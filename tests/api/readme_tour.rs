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
