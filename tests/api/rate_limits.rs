//! The per-merchant rate limit protects without refusing a billing run: money-moving POSTs over
//! the rate wait (bounded) for their turn; reads are refused at once with 429 + Retry-After.
//! The numbers are printed (`cargo test --test api rate_limits -- --nocapture`).

use std::time::{Duration, Instant};

use futures::future::join_all;
use psp_integrator::config::LimitsSection;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

/// The limits of the embedded default profile.
fn default_limits() -> LimitsSection {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    psp_integrator::config::AppConfig::load("default", &dir)
        .expect("default config")
        .limits
}

/// Sends `n` SEPA debits at once on one agreement; (served, refused with 429, elapsed).
async fn burst(app: &TestApp, n: usize) -> (usize, usize, Duration) {
    let agr = sepa_agreement(app).await;
    let started = Instant::now();
    let answers = join_all((0..n).map(|_| {
        let mut b = recurring_body(&tx_id(), &agr, 3.0);
        b["paymentMeansReference"]["role"] = json!("Debit");
        async move { app.post("/api/Payment", b).await }
    }))
    .await;
    let elapsed = started.elapsed();
    let refused = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::TOO_MANY_REQUESTS)
        .count();
    let served = answers.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(served + refused, n, "every answer is 200 or 429");
    (served, refused, elapsed)
}

#[tokio::test]
async fn a_billing_burst_above_the_old_limit_is_served() {
    const N: usize = 240;
    // The old default (50/s, burst 100, no wait) refused most of such a burst.
    let old = TestApp::spawn_with(|c| {
        c.limits.rate_per_second = 50;
        c.limits.burst = 100;
        c.limits.money_wait_ms = 0;
    })
    .await;
    put_sandbox(&old).await;
    let (served, refused, took) = burst(&old, N).await;
    println!(
        "old limit (50/s, burst 100, no wait): {served} served, {refused} refused (429) in {took:?}"
    );
    assert!(refused > 0, "the old limit refused part of the run");

    // The new default: the whole burst is served.
    let new = TestApp::spawn_with(|c| c.limits = default_limits()).await;
    put_sandbox(&new).await;
    let (served, refused, took) = burst(&new, N).await;
    println!(
        "new default (1000/s, burst 1000, wait 2 s): {served} served, {refused} refused in {took:?}"
    );
    assert_eq!((served, refused), (N, 0));

    // Even the old rate serves it once money-moving POSTs wait for their turn: the run is
    // slowed to the rate, not refused.
    let waiting = TestApp::spawn_with(|c| {
        c.limits.rate_per_second = 50;
        c.limits.burst = 100;
        c.limits.money_wait_ms = 4000;
    })
    .await;
    put_sandbox(&waiting).await;
    let (served, refused, took) = burst(&waiting, N).await;
    println!("old rate with a 4 s wait: {served} served, {refused} refused in {took:?}");
    assert_eq!((served, refused), (N, 0));
    // The SEPA mandate's own POST took one token: N more at 50/s beyond 100 need ≥ 2.8 s.
    assert!(
        took >= Duration::from_millis(2500),
        "paced by the rate: {took:?}"
    );
}

async fn put_sandbox(app: &TestApp) {
    let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn reads_are_refused_at_once_and_a_wait_beyond_the_bound_is_refused() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_per_second = 1;
        c.limits.burst = 1;
        c.limits.money_wait_ms = 300;
    })
    .await;
    // The burst token is used by the first call; a read is refused at once.
    let (s, _) = app.get("/api/IntegrationInfo").await;
    assert_eq!(s, StatusCode::OK);
    let started = Instant::now();
    let (s, e) = app.get("/api/IntegrationInfo").await;
    assert_error(s, &e, 429, "LimitExceeded", "rate limit");
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "no wait for reads"
    );
    // A payment whose turn is ~1 s away does not wait 300 ms for nothing: 429 at once, with
    // Retry-After, and nothing stored.
    let pay = tx_id();
    let started = Instant::now();
    let res = app
        .client
        .post(format!("{}/api/Payment", app.base))
        .bearer_auth(&app.token)
        .json(&recurring_body(&pay, &agreement_id(), 1.0))
        .send()
        .await
        .expect("sent");
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(started.elapsed() < Duration::from_millis(250));
    let retry: u64 = res.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert_eq!(retry, 1);
    assert!(
        app.store
            .get_transaction(&app.merchant_id, &pay)
            .await
            .expect("read")
            .is_none()
    );
}
