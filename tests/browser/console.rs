//! The operator console in a real browser (issue #20): sign in, find a transaction by its
//! Billwerk id, read its timeline after a card preauth + capture + refund + a chargeback
//! notification, redeliver a dead webhook and see the new attempt, a viewer refused an action,
//! a forged form without the CSRF token refused, the accessibility check clean on every page,
//! and a phone viewport. With `PSPI_CONSOLE_SCREENSHOTS=1` the main pages are also saved to
//! `docs/console/` (the README's pictures).

use psp_integrator::domain::SystemClock;
use reqwest::StatusCode;

use crate::driver::{Browser, Screen};
use crate::harness::*;

const VISA: &str = "4200000000000000";
const PASSWORD: &str = "correct horse battery staple";

/// The app with the console on, sandbox settings, and two accounts: `otto` (operator) and
/// `vic` (viewer).
async fn console_app() -> TestApp {
    let app = TestApp::spawn_with(|c| c.console.enabled = true).await;
    let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (name, role) in [("otto", "operator"), ("vic", "viewer")] {
        psp_integrator::console::auth::create_operator(
            app.store.as_ref(),
            &SystemClock,
            name,
            role,
            &[],
            PASSWORD,
        )
        .await
        .expect("operator");
    }
    app
}

/// A card preauth of 100, a capture of 60, a refund of 10, then a chargeback of 5 notified by
/// the PSP; with `billwerk_down` the chargeback's webhook fails until it is given up (dead).
/// Returns the capture's Billwerk id.
async fn card_story(app: &TestApp, billwerk_down: bool) -> String {
    app.connect_psp_webhooks().await;
    let (pre, agr) = (tx_id(), agreement_id());
    app.card_preauth(&pre, &agr, 100.0, VISA).await;
    let cap = tx_id();
    let (s, p) = app
        .post(
            "/api/Payment",
            targeted(capture_body(&cap, &pre, &agr, 60.0), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let (s, r) = app
        .post("/api/Refund", refund_body(&tx_id(), &cap, 10.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    app.drain_outbox(5).await;
    if billwerk_down {
        app.standin.set_status(500);
    }
    let psp_id = p["pspTransactionId"].as_str().expect("psp id").to_string();
    app.sim
        .sim
        .chargeback(&psp_id, "5.00", Some("MD06"))
        .expect("chargeback");
    assert!(app.psp_delivers().await >= 1);
    if billwerk_down {
        let give_up = i64::try_from(app.cfg.webhooks.give_up_after_secs).expect("secs");
        for secs in [0, 600, give_up / 2, give_up + 3600] {
            app.drain_outbox(secs).await;
        }
        app.standin.set_status(200);
    } else {
        app.drain_outbox(5).await;
    }
    cap
}

/// Saves the page for the README when `PSPI_CONSOLE_SCREENSHOTS` is set.
async fn picture(b: &mut Browser, name: &str) {
    b.screenshot(name).await;
    if std::env::var_os("PSPI_CONSOLE_SCREENSHOTS").is_some() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/console");
        std::fs::create_dir_all(&dir).expect("docs/console");
        let png = b.c.screenshot().await.expect("screenshot");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("written");
    }
}

async fn sign_in(b: &Browser, app: &TestApp, name: &str) {
    b.goto(&format!("{}/console/login", app.ops)).await;
    b.fill("#name", name).await;
    b.fill("#password", PASSWORD).await;
    b.click("#sign-in").await;
    b.wait_for("#transactions").await;
}

/// Submits a form made in the page (what another site, or a hand-made request, would send).
async fn forged_post(b: &Browser, action: &str, fields: &[(&str, &str)]) {
    let inputs: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=hidden name=\"{k}\" value=\"{v}\">"))
        .collect();
    b.js(&format!(
        "const f = document.createElement('form'); f.method = 'post'; f.action = '{action}'; \
         f.innerHTML = '{inputs}'; document.body.appendChild(f); f.submit(); return true;"
    ))
    .await;
    b.wait_for("#message").await;
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn console_tells_a_card_payments_story() {
    let app = console_app().await;
    let cap = card_story(&app, false).await;
    let mut b = Browser::start("console-story", Screen::Desktop).await;
    b.goto(&format!("{}/console/login", app.ops)).await;
    b.assert_accessible("the console's sign-in page").await;
    picture(&mut b, "login").await;
    sign_in(&b, &app, "otto").await;
    b.assert_accessible("the transaction list").await;
    picture(&mut b, "transactions").await;
    b.fill("#billwerk_id", &cap).await;
    b.click("#find").await;
    b.wait_for("#transactions a.mono").await;
    assert_eq!(b.text("#transactions a.mono").await, cap);
    b.click("#transactions a.mono").await;
    b.wait_for("#timeline").await;
    let timeline = b.text("#timeline").await;
    for expected in [
        "Billwerk asked for a payment of 60",
        "request id ",
        "PSP call: capture",
        "PSP notification: PAYMENT CB",
        "verdict: chargeback applied",
        "State: Succeeded",
        "HTTP 200",
    ] {
        assert!(timeline.contains(expected), "{expected} in {timeline}");
    }
    let money = b.text("#money").await;
    assert!(
        money.contains("Refundable") && money.contains("45"),
        "{money}"
    );
    assert!(
        b.text("#children").await.contains("refund"),
        "the refund is a child"
    );
    b.assert_accessible("a transaction's timeline").await;
    picture(&mut b, "timeline").await;
    b.click("a[href='/console/attention']").await;
    b.wait_for("#merchants").await;
    b.assert_accessible("needs attention").await;
    picture(&mut b, "attention").await;
    b.click("a[href='/console/overview']").await;
    b.wait_for(".chart svg").await;
    b.assert_accessible("the overview").await;
    picture(&mut b, "overview").await;
    b.click("a[href='/console/audit']").await;
    b.wait_for("#audit").await;
    assert!(b.text("#audit").await.contains("signed in"));
    b.assert_accessible("the audit log").await;
    b.close().await;
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn console_redelivers_a_dead_webhook_and_refuses_viewers_and_forged_forms() {
    let app = console_app().await;
    let cap = card_story(&app, true).await;
    let rec = app.record(&cap).await;
    let id = rec.id.clone();
    let mut b = Browser::start("console-redeliver", Screen::Desktop).await;

    // A viewer sees no buttons; a form they send anyway (with their own token) is refused.
    sign_in(&b, &app, "vic").await;
    b.goto(&format!("{}/console/transactions/{id}", app.ops))
        .await;
    b.wait_for("#webhooks").await;
    let dead = b.text("#webhooks tbody").await;
    assert!(dead.contains("dead"), "{dead}");
    assert!(
        b.c.find(fantoccini::Locator::Css("button.redeliver"))
            .await
            .is_err()
    );
    let csrf = b.value("input[name=csrf]").await;
    let outbox = app
        .store
        .deliveries_of(&rec.merchant_id, &id)
        .await
        .expect("rows");
    let dead_id = outbox
        .iter()
        .find(|r| r.state.as_str() == "dead")
        .expect("dead row")
        .id
        .to_string();
    forged_post(
        &b,
        "/console/actions/redeliver",
        &[("csrf", &csrf), ("outbox_id", &dead_id)],
    )
    .await;
    assert_eq!(b.text("h1").await, "Not allowed");
    // An operator's form without the token is refused too.
    sign_in(&b, &app, "otto").await;
    forged_post(&b, "/console/actions/redeliver", &[("outbox_id", &dead_id)]).await;
    assert_eq!(b.text("h1").await, "This form has expired");

    // The real button works, and the new attempt shows on the timeline.
    b.goto(&format!("{}/console/transactions/{id}", app.ops))
        .await;
    let row = format!("#webhook-{dead_id}");
    let attempt = format!("Webhook {dead_id} (type");
    let before = b.text("#timeline").await.matches(&attempt).count();
    picture(&mut b, "dead-webhook").await;
    b.click(&format!("#redeliver-{dead_id}")).await;
    b.wait_for("#message").await;
    assert!(b.text("#message").await.contains("queued again"));
    app.drain_outbox(5).await;
    b.click("a[href^='/console/transactions/']").await;
    b.wait_for("#webhooks").await;
    let timeline = b.text("#timeline").await;
    assert_eq!(
        timeline.matches(&attempt).count(),
        before + 1,
        "one more attempt"
    );
    assert!(
        timeline.trim_end().ends_with("ms"),
        "the newest entry is the attempt"
    );
    assert!(b.text(&row).await.contains("delivered"));
    b.goto(&format!("{}/console/audit", app.ops)).await;
    let audit = b.text("#audit").await;
    assert!(
        audit.contains("refused: viewer role") && audit.contains("refused: no valid CSRF token")
    );
    b.close().await;
}

#[tokio::test]
#[ignore = "needs headless Chromium; run with --ignored"]
async fn console_on_a_phone() {
    let app = console_app().await;
    let cap = card_story(&app, false).await;
    let mut b = Browser::start("console-phone", Screen::Phone).await;
    sign_in(&b, &app, "vic").await;
    assert_eq!(b.js("return window.innerWidth;").await, 375);
    b.assert_fits_width("the transaction list on a phone").await;
    b.fill("#billwerk_id", &cap).await;
    b.click("#find").await;
    b.wait_for("#transactions a.mono").await;
    b.click("#transactions a.mono").await;
    b.wait_for("#timeline").await;
    b.assert_fits_width("a timeline on a phone").await;
    b.assert_accessible("a timeline on a phone").await;
    picture(&mut b, "phone-timeline").await;
    b.close().await;
}
