//! The operator console over real HTTP on the operator listener: sign-in, sessions and their
//! cookie, CSRF, roles, the transaction list and timeline, the actions, and the walls between
//! the console and the API (issue #20).

use psp_integrator::domain::SystemClock;
use reqwest::StatusCode;

use super::harness::*;

const VISA: &str = "4200000000000000";
const PASSWORD: &str = "correct horse battery staple";

/// A running app with the console enabled and sandbox settings.
pub async fn console_app() -> TestApp {
    let app = TestApp::spawn_with(|c| c.console.enabled = true).await;
    let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app
}

/// Creates an operator with the test password.
pub async fn operator(app: &TestApp, name: &str, role: &str, merchants: &[String]) {
    psp_integrator::console::auth::create_operator(
        app.store.as_ref(),
        &SystemClock,
        name,
        role,
        merchants,
        PASSWORD,
    )
    .await
    .expect("operator created");
}

/// A signed-in browser without JavaScript: the session cookie and the page's CSRF token.
pub struct Session<'a> {
    app: &'a TestApp,
    cookie: String,
}

impl<'a> Session<'a> {
    /// Signs in; panics unless the console answers with a session cookie.
    pub async fn sign_in(app: &'a TestApp, name: &str) -> Session<'a> {
        let res = login(app, name, PASSWORD).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "signed in");
        let set = res
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .expect("a session cookie")
            .to_string();
        let cookie = set.split(';').next().expect("name=value").to_string();
        Session { app, cookie }
    }

    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let res = self
            .app
            .client
            .get(format!("{}{path}", self.app.ops))
            .header("cookie", &self.cookie)
            .send()
            .await
            .expect("console GET");
        (res.status(), res.text().await.expect("body"))
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> (StatusCode, String) {
        let res = self
            .app
            .client
            .post(format!("{}{path}", self.app.ops))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .await
            .expect("console POST");
        (res.status(), res.text().await.expect("body"))
    }

    /// The CSRF token of this session, as its pages carry it.
    pub async fn csrf(&self) -> String {
        let (_, html) = self.get("/console/transactions").await;
        between(&html, "name=\"csrf\" value=\"", "\"").expect("a CSRF field")
    }
}

async fn login(app: &TestApp, name: &str, password: &str) -> reqwest::Response {
    app.client
        .post(format!("{}/console/login", app.ops))
        .form(&[("name", name), ("password", password)])
        .send()
        .await
        .expect("login sent")
}

/// A card preauth of 100, a capture of 60, a refund of 10 and a chargeback of 5 on the
/// capture; returns (preauth, capture) Billwerk ids. With `billwerk_down`, Billwerk answers
/// 500 from the chargeback on (its webhook keeps failing).
pub async fn card_story(app: &TestApp, billwerk_down: bool) -> (String, String) {
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
    assert_eq!(p["status"], "Succeeded", "{p}");
    let (s, r) = app
        .post("/api/Refund", refund_body(&tx_id(), &cap, 10.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let psp_id = p["pspTransactionId"].as_str().expect("psp id").to_string();
    app.drain_outbox(5).await;
    if billwerk_down {
        app.standin.set_status(500);
    }
    app.sim
        .sim
        .chargeback(&psp_id, "5.00", Some("MD06"))
        .expect("chargeback");
    assert!(
        app.psp_delivers().await >= 1,
        "the chargeback notification arrives"
    );
    app.drain_outbox(5).await;
    (pre, cap)
}

#[tokio::test]
async fn the_console_is_off_unless_enabled() {
    let app = TestApp::spawn().await;
    let (status, body) = app.ops_get("/console/login").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    // Never on the public port, enabled or not.
    let app = console_app().await;
    let res = app
        .client
        .get(format!("{}/console/login", app.base))
        .send()
        .await
        .expect("public GET");
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let (status, html) = app.ops_get("/console/login").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        html.contains("<form method=\"post\" action=\"/console/login\">"),
        "{html}"
    );
}

#[tokio::test]
async fn sign_in_sets_a_strict_http_only_cookie_and_wrong_passwords_are_throttled() {
    let app = console_app().await;
    operator(&app, "ann", "viewer", &[]).await;
    let res = login(&app, "ann", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    for part in [
        "pspi_console=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/console",
    ] {
        assert!(cookie.contains(part), "{part} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP base URL: {cookie}");
    // Only the token's hash is stored.
    let token = cookie
        .split(';')
        .next()
        .and_then(|kv| kv.split_once('='))
        .map(|(_, v)| v.to_string())
        .expect("token");
    assert!(
        app.store
            .session(&token, psp_integrator::domain::Ticks(0))
            .await
            .expect("read")
            .is_none(),
        "the raw token is not a stored key"
    );
    // Without a session, pages send you to sign in.
    let (status, _) = app.ops_get("/console/transactions").await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let res = login(&app, "ann", "wrong password!!").await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let html = res.text().await.expect("html");
    assert!(html.contains("Wrong name or password."), "{html}");
    // The allowance (5 a minute per name, sign-ins included) runs out.
    let mut last = StatusCode::OK;
    for _ in 0..5 {
        last = login(&app, "ann", "wrong password!!").await.status();
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    let audit = app.store.list_audit(50).await.expect("audit");
    assert!(audit.iter().any(|a| a.outcome == "signed in"), "{audit:?}");
    assert!(
        audit
            .iter()
            .any(|a| a.outcome.contains("too many attempts")),
        "{audit:?}"
    );
}

#[tokio::test]
async fn a_transaction_is_found_by_billwerk_id_and_its_story_told() {
    let app = console_app().await;
    let (pre, cap) = card_story(&app, false).await;
    operator(&app, "ann", "viewer", &[]).await;
    let s = Session::sign_in(&app, "ann").await;
    let (status, html) = s
        .get(&format!("/console/transactions?billwerk_id={cap}"))
        .await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let link = between(&html, "href=\"/console/transactions/", "\"").expect("one row");
    assert!(!html.contains(&pre), "only the capture matches");
    let (status, page) = s.get(&format!("/console/transactions/{link}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for expected in [
        "Billwerk asked for a payment of 60",
        "PSP call: capture",
        "PSP notification:",
        "verdict: chargeback applied",
        "State: Succeeded",
        "Webhook ",
        "HTTP 200",
        "<dt>Paid</dt><dd>60",
        "<dt>Refunded</dt><dd>10",
        "<dt>Charged back</dt><dd>5",
        "<dt>Refundable</dt><dd>45",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    // The preauth tells its own story: the checkout's result and the capture as a child.
    let (_, html) = s
        .get(&format!("/console/transactions?billwerk_id={pre}"))
        .await;
    let link = between(&html, "href=\"/console/transactions/", "\"").expect("row");
    let (_, page) = s.get(&format!("/console/transactions/{link}")).await;
    assert!(page.contains("PSP call: checkout result"), "{page}");
    assert!(page.contains(&cap), "the capture is listed: {page}");
    // No card data anywhere on the page.
    assert!(!page.contains(VISA) && !s.get("/console/transactions").await.1.contains(VISA));
}

#[tokio::test]
async fn the_list_filters_and_pages_newest_change_first() {
    let app = console_app().await;
    let agr = agreement_id();
    let mut ids = Vec::new();
    for i in 0..55 {
        let tx = tx_id();
        let (s, b) = app
            .post("/api/Preauth", preauth_body(&tx, &agr, 10.0 + f64::from(i)))
            .await;
        assert_eq!(s, StatusCode::OK, "{b}");
        ids.push(tx);
    }
    operator(&app, "ann", "viewer", &[]).await;
    let s = Session::sign_in(&app, "ann").await;
    let (_, first) = s.get("/console/transactions?kind=preauth").await;
    assert!(
        first.contains(&ids[54]) && !first.contains(&ids[4]),
        "newest first"
    );
    let next = between(&first, "id=\"next-page\" href=\"", "\"").expect("a next page");
    let (_, second) = s.get(&next.replace("&#38;", "&")).await;
    assert!(
        second.contains(&ids[0]) && !second.contains(&ids[54]),
        "{second}"
    );
    assert!(!second.contains("next-page"), "two pages in all");
    let (_, some) = s
        .get("/console/transactions?amount_min=20&amount_max=21.5&status=Initiated")
        .await;
    let rows = some.matches("href=\"/console/transactions/").count();
    assert_eq!(rows, 2, "amounts 20 and 21: {some}");
    let (status, bad) = s.get("/console/transactions?from=yesterday").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        bad.contains("from: a date like"),
        "a page for people: {bad}"
    );
}

#[tokio::test]
async fn a_dead_webhook_is_redelivered_from_the_console() {
    let app = console_app().await;
    let (_, tx) = card_story(&app, true).await;
    let give_up = i64::try_from(app.cfg.webhooks.give_up_after_secs).expect("secs");
    for secs in [0, 600, give_up / 2, give_up + 3600] {
        app.drain_outbox(secs).await;
    }
    let rec = app.record(&tx).await;
    let rows = app
        .store
        .deliveries_of(&rec.merchant_id, &rec.id)
        .await
        .expect("rows");
    let dead = rows
        .iter()
        .find(|r| r.state.as_str() == "dead")
        .expect("a dead webhook");
    app.standin.set_status(200);

    operator(&app, "vic", "viewer", &[]).await;
    operator(&app, "otto", "operator", &[]).await;
    let viewer = Session::sign_in(&app, "vic").await;
    let csrf = viewer.csrf().await;
    let oid = dead.id.to_string();
    let (status, page) = viewer
        .post(
            "/console/actions/redeliver",
            &[("csrf", &csrf), ("outbox_id", &oid)],
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a viewer may not act: {page}"
    );
    let ops = Session::sign_in(&app, "otto").await;
    let (status, page) = ops
        .post("/console/actions/redeliver", &[("outbox_id", &oid)])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "no CSRF token: {page}");
    let (status, _) = ops
        .post(
            "/console/actions/redeliver",
            &[("csrf", &csrf), ("outbox_id", &oid)],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "another session's token");
    let attempts_before = app
        .store
        .list_attempts(dead.id)
        .await
        .expect("attempts")
        .len();
    let csrf = ops.csrf().await;
    let (status, page) = ops
        .post(
            "/console/actions/redeliver",
            &[("csrf", &csrf), ("outbox_id", &oid)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("queued again"), "{page}");
    // Idempotent: a second click keeps one pending row.
    let (status, _) = ops
        .post(
            "/console/actions/redeliver",
            &[("csrf", &csrf), ("outbox_id", &oid)],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.drain_outbox(5).await;
    let attempts = app.store.list_attempts(dead.id).await.expect("attempts");
    assert_eq!(attempts.len(), attempts_before + 1, "one new attempt");
    assert_eq!(attempts.last().and_then(|a| a.http_status), Some(200));
    let (_, story) = ops.get(&format!("/console/transactions/{}", rec.id)).await;
    assert!(story.contains("HTTP 200"), "{story}");
    let audit = app.store.list_audit(50).await.expect("audit");
    let lines: Vec<_> = audit
        .iter()
        .map(|a| (a.action.as_str(), a.outcome.as_str()))
        .collect();
    assert!(
        lines.contains(&("redeliver", "refused: viewer role")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(a, o)| *a == "form" && o.contains("CSRF")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .any(|(a, o)| *a == "redeliver" && o.contains("queued")),
        "{lines:?}"
    );
    let (_, html) = ops.get("/console/audit").await;
    assert!(
        html.contains("refused: viewer role"),
        "the audit page shows it"
    );
}

#[tokio::test]
async fn asking_the_psp_and_reverifying_settings_are_logged_and_change_no_money() {
    let app = console_app().await;
    let agr = agreement_id();
    let tx = tx_id();
    let (s, b) = app
        .post("/api/Preauth", preauth_body(&tx, &agr, 12.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    operator(&app, "otto", "operator", &[]).await;
    let ops = Session::sign_in(&app, "otto").await;
    let csrf = ops.csrf().await;
    let id = app.record(&tx).await.id;
    let (status, page) = ops
        .post("/console/actions/ask-psp", &[("csrf", &csrf), ("tx", &id)])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    // An open checkout the shopper never used: the PSP says it is still open.
    assert_eq!(app.record(&tx).await.status.name(), "Initiated");
    let (status, page) = ops
        .post(
            "/console/actions/verify-settings",
            &[("csrf", &csrf), ("merchant", &app.merchant_id)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("verified"), "{page}");
    let (_, attention) = ops.get("/console/attention").await;
    assert!(attention.contains("verified (cards: yes"), "{attention}");
    let actions: Vec<String> = app
        .store
        .list_audit(20)
        .await
        .expect("audit")
        .into_iter()
        .map(|a| a.action)
        .collect();
    assert!(
        actions.contains(&"ask-psp".to_string())
            && actions.contains(&"verify-settings".to_string())
    );
}

#[tokio::test]
async fn tokens_and_sessions_do_not_cross_between_the_api_and_the_console() {
    let app = console_app().await;
    operator(&app, "ann", "operator", &[]).await;
    let s = Session::sign_in(&app, "ann").await;
    // A merchant's API token opens no console page.
    let res = app
        .client
        .get(format!("{}/console/transactions", app.ops))
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::SEE_OTHER, "sent to sign in");
    // A console session calls no API endpoint: the API's own error object, unchanged.
    let res = app
        .client
        .get(format!("{}/api/IntegrationInfo", app.base))
        .header("cookie", &s.cookie)
        .send()
        .await
        .expect("GET");
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = res.json().await.expect("json");
    assert!(body["errorCode"].is_string(), "{body}");
    // The console's errors are pages for people.
    let (status, html) = s.get("/console/no-such-page").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let (status, html) = s.get("/console/transactions/nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(html.contains("No such transaction"), "{html}");
    // Signing out ends the session.
    let csrf = s.csrf().await;
    let (status, _) = s.post("/console/logout", &[("csrf", &csrf)]).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    let (status, _) = s.get("/console/transactions").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "signed out");
}

#[tokio::test]
async fn an_operator_limited_to_a_merchant_sees_only_its_transactions() {
    let app = console_app().await;
    let other = app.second_merchant("other shop").await;
    let mine = tx_id();
    let (s, b) = app
        .post("/api/Preauth", preauth_body(&mine, &agreement_id(), 5.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let theirs = tx_id();
    let (s, b) = app
        .send(
            reqwest::Method::POST,
            "/api/Preauth",
            Some(&other),
            Some(&preauth_body(&theirs, &agreement_id(), 5.0)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    operator(
        &app,
        "lim",
        "viewer",
        std::slice::from_ref(&app.merchant_id),
    )
    .await;
    let s = Session::sign_in(&app, "lim").await;
    let (_, html) = s.get("/console/transactions").await;
    assert!(html.contains(&mine) && !html.contains(&theirs), "{html}");
    let other_id = app
        .store
        .search_transactions(&psp_integrator::store::console::TxFilter {
            billwerk_id: Some(theirs.clone()),
            limit: 1,
            ..Default::default()
        })
        .await
        .expect("search")
        .pop()
        .expect("their preauth")
        .id;
    let (status, _) = s.get(&format!("/console/transactions/{other_id}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn operator_accounts_are_managed_and_a_password_reset_ends_sessions() {
    use psp_integrator::console::auth;
    let app = console_app().await;
    let store = app.store.as_ref();
    operator(&app, "ann", "operator", &[]).await;
    let dup = auth::create_operator(store, &SystemClock, "ann", "viewer", &[], PASSWORD).await;
    assert!(
        matches!(dup, Err(auth::OperatorError::Duplicate(_))),
        "{dup:?}"
    );
    let weak = auth::create_operator(store, &SystemClock, "bob", "viewer", &[], "short").await;
    assert!(matches!(weak, Err(auth::OperatorError::WeakPassword)));
    let role = auth::create_operator(store, &SystemClock, "bob", "root", &[], PASSWORD).await;
    assert!(matches!(role, Err(auth::OperatorError::BadRole)));
    let unknown = auth::create_operator(
        store,
        &SystemClock,
        "bob",
        "viewer",
        &["nope".into()],
        PASSWORD,
    )
    .await;
    assert!(matches!(
        unknown,
        Err(auth::OperatorError::UnknownMerchant(_))
    ));
    let s = Session::sign_in(&app, "ann").await;
    auth::reset_password(store, "ann", "another long password")
        .await
        .expect("reset");
    let (status, _) = s.get("/console/transactions").await;
    assert_eq!(status, StatusCode::SEE_OTHER, "the old session ended");
    assert_eq!(
        login(&app, "ann", PASSWORD).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login(&app, "ann", "another long password").await.status(),
        StatusCode::SEE_OTHER
    );
    auth::remove_operator(store, "ann").await.expect("removed");
    assert!(store.list_operators().await.expect("list").is_empty());
    assert!(matches!(
        auth::remove_operator(store, "ann").await,
        Err(auth::OperatorError::NotFound(_))
    ));
}

#[tokio::test]
async fn overview_and_attention_pages_show_charts_with_their_numbers() {
    let app = console_app().await;
    card_story(&app, false).await;
    operator(&app, "ann", "viewer", &[]).await;
    let s = Session::sign_in(&app, "ann").await;
    for window in ["24h", "7d"] {
        let (status, html) = s.get(&format!("/console/overview?window={window}")).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert!(html.contains("<svg"), "a chart");
        assert!(
            html.contains("acceptance rate <strong>100.0 %</strong>"),
            "{html}"
        );
        assert!(
            html.contains("<td>Succeeded</td><td class=\"num\">"),
            "{html}"
        );
        assert!(html.contains("webhook delay p50 "), "{html}");
    }
    let (status, html) = s.get("/console/attention").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    assert!(html.contains("Nothing overdue."), "{html}");
    assert!(
        !html.contains("Re-verify</button>"),
        "a viewer gets no action buttons"
    );
}

/// The transaction list on a million rows (SQLite, or Postgres with `PSPI_TEST_BACKEND=postgres`):
/// how long a page takes with each filter.
/// Ignored (it inserts 1M rows); run with
/// `cargo test --test api console::list_on_a_million_rows -- --ignored --nocapture`.
/// The README ("Operator console") quotes its figures.
#[tokio::test]
#[ignore]
async fn list_on_a_million_rows() {
    use psp_integrator::domain::{Clock, Ticks};
    use psp_integrator::store::console::TxFilter;
    use psp_integrator::store::{ConsoleStore, MerchantRecord, Store};
    use std::time::Instant;

    let backend = psp_integrator::store::scratch::Backend::from_env();
    let scratch = psp_integrator::store::ScratchDb::on(backend)
        .await
        .expect("a scratch database");
    let postgres = matches!(backend, psp_integrator::store::scratch::Backend::Postgres);
    let store = if postgres {
        psp_integrator::store::connect_postgres(&scratch.url, 4)
            .await
            .expect("db")
    } else {
        psp_integrator::store::connect_sqlite(&scratch.url)
            .await
            .expect("db")
    };
    store.migrate().await.expect("migrated");
    let now = SystemClock.now();
    for (id, token) in [("m1", b"t1"), ("m2", b"t2")] {
        let m = MerchantRecord {
            id: id.into(),
            name: id.into(),
            psp: "oppwa".into(),
            created_at: now,
            disabled_at: None,
            previous_token_until: None,
        };
        store.create_merchant(&m, token).await.expect("merchant");
    }
    let base = now.plus_seconds(-30 * 86_400).0;
    let started = Instant::now();
    // The same rows on both backends: ids, Billwerk and PSP ids in hex, 10 % for m2, kinds
    // and statuses in turn, amounts 0.00 to 999.99, one created every 2.5 s over 30 days.
    let insert = if postgres {
        "INSERT INTO transactions (id, merchant_id, kind, billwerk_id, agreement_id, currency, \
           requested_amount, authorized_amount, status, psp_tx_id, webhook_target, is_initial, \
           needs_reconcile, created_at, last_updated) \
         SELECT lpad(to_hex(i), 32, '0'), CASE i % 10 WHEN 0 THEN 'm2' ELSE 'm1' END, \
           CASE i % 3 WHEN 0 THEN 'preauth' WHEN 1 THEN 'payment' ELSE 'refund' END, \
           '20261122-' || lpad(to_hex(i), 24, '0'), 'agr-' || (i % 50000), 'EUR', \
           (i % 1000) || '.' || lpad((i % 100)::text, 2, '0'), '0', \
           CASE i % 7 WHEN 0 THEN 'Failed' WHEN 1 THEN 'Pending' ELSE 'Succeeded' END, \
           '8ac7a4a' || lpad(to_hex(i), 25, '0'), 'https://example.com/hook', 0, 0, \
           $1 + i::bigint * 25000000, $1 + i::bigint * 25000000 + (i % 5) \
         FROM generate_series(1, 1000000) AS i"
    } else {
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000000) \
         INSERT INTO transactions (id, merchant_id, kind, billwerk_id, agreement_id, currency, \
           requested_amount, authorized_amount, status, psp_tx_id, webhook_target, is_initial, \
           needs_reconcile, created_at, last_updated) \
         SELECT printf('%032x', i), CASE i % 10 WHEN 0 THEN 'm2' ELSE 'm1' END, \
           CASE i % 3 WHEN 0 THEN 'preauth' WHEN 1 THEN 'payment' ELSE 'refund' END, \
           printf('20261122-%024x', i), printf('agr-%d', i % 50000), 'EUR', \
           printf('%d.%02d', i % 1000, i % 100), '0', \
           CASE i % 7 WHEN 0 THEN 'Failed' WHEN 1 THEN 'Pending' ELSE 'Succeeded' END, \
           printf('8ac7a4a%025x', i), 'https://example.com/hook', 0, 0, \
           $1 + i * 25000000, $1 + i * 25000000 + (i % 5) FROM n"
    };
    sqlx::query(insert)
        .bind(base)
        .execute(store.pool())
        .await
        .expect("1M rows");
    sqlx::query("ANALYZE")
        .execute(store.pool())
        .await
        .expect("analyze");
    println!("inserted 1,000,000 rows in {:?}", started.elapsed());

    let page = |f: TxFilter| TxFilter { limit: 51, ..f };
    let middle = (
        Ticks(base + 500_000 * 25_000_000 + 1),
        format!("{:032x}", 500_000),
    );
    let cases: Vec<(&str, TxFilter)> = vec![
        ("first page, no filter", page(TxFilter::default())),
        (
            "page at row 500,000 (keyset cursor)",
            page(TxFilter {
                before: Some(middle.clone()),
                ..Default::default()
            }),
        ),
        (
            "merchant m2, status Failed",
            page(TxFilter {
                merchant_id: Some("m2".into()),
                status: Some("Failed".into()),
                ..Default::default()
            }),
        ),
        (
            "operator limited to m2, kind refund, cursor at 500,000",
            page(TxFilter {
                merchants: vec!["m2".into()],
                kind: Some("refund".into()),
                before: Some(middle.clone()),
                ..Default::default()
            }),
        ),
        (
            "Billwerk id",
            page(TxFilter {
                billwerk_id: Some(format!("20261122-{:024x}", 777_777)),
                ..Default::default()
            }),
        ),
        (
            "PSP id",
            page(TxFilter {
                psp_tx_id: Some(format!("8ac7a4a{:025x}", 123_456)),
                ..Default::default()
            }),
        ),
        (
            "agreement",
            page(TxFilter {
                agreement_id: Some("agr-4242".into()),
                ..Default::default()
            }),
        ),
        (
            "created in one day",
            page(TxFilter {
                created_from: Some(Ticks(base + 400_000 * 25_000_000)),
                created_to: Some(Ticks(base + 400_000 * 25_000_000 + 864_000_000_000)),
                ..Default::default()
            }),
        ),
        (
            "amount 999.00 to 999.99 (rare)",
            page(TxFilter {
                amount_min: Some("999".into()),
                amount_max: Some("999.99".into()),
                ..Default::default()
            }),
        ),
    ];
    for (name, f) in cases {
        // The first run warms the page cache; the figure is the best of five.
        let mut best = std::time::Duration::MAX;
        let mut n = 0;
        for _ in 0..5 {
            let t = Instant::now();
            n = store.search_transactions(&f).await.expect("page").len();
            best = best.min(t.elapsed());
        }
        println!("{name}: {n} rows in {best:?}");
        assert!(n > 0, "{name} finds rows");
    }
    store.close().await;
    scratch.drop_db().await.expect("dropped");
}

/// `operators create|list|reset-password|remove` from the command line, as the README shows
/// them: the password on standard input or in `PSPI_OPERATOR_PASSWORD`; the account then signs
/// in over HTTP.
#[tokio::test]
async fn operators_are_managed_from_the_command_line() {
    use std::io::Write;
    use std::process::{Command, Stdio};
    const BIN: &str = env!("CARGO_BIN_EXE_psp-integrator");
    let app = console_app().await;
    let db = app.cfg.database.url.clone();
    let cli = |args: &[&str]| {
        let mut c = Command::new(BIN);
        c.current_dir(env!("CARGO_MANIFEST_DIR"))
            .args([
                "--config-dir",
                concat!(env!("CARGO_MANIFEST_DIR"), "/config"),
            ])
            .args(args)
            .args(["--database-url", &db])
            .env_remove("PSPI_PROFILE")
            .env_remove("PSPI_OPERATOR_PASSWORD")
            .env("PSPI__LOG__LEVEL", "warn");
        c
    };
    let mut child = cli(&[
        "operators",
        "create",
        "--name",
        "cli-ann",
        "--role",
        "operator",
    ])
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .expect("runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes())
        .expect("password sent");
    let out = child.wait_with_output().expect("ends");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("operator cli-ann created"));
    let out = cli(&["operators", "list"]).output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("cli-ann"));
    let s = Session::sign_in(&app, "cli-ann").await;
    let (status, _) = s.get("/console/attention").await;
    assert_eq!(status, StatusCode::OK);
    let out = cli(&["operators", "reset-password", "cli-ann"])
        .env("PSPI_OPERATOR_PASSWORD", "an even longer passphrase")
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(s.get("/console/attention").await.0, StatusCode::SEE_OTHER);
    let out = cli(&["operators", "remove", "cli-ann"])
        .output()
        .expect("runs");
    assert!(out.status.success());
    let out = cli(&["operators", "remove", "cli-ann"])
        .output()
        .expect("runs");
    assert!(
        !out.status.success(),
        "removing twice names the missing operator"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no operator named 'cli-ann'"));
}

/// Issue #20, point 4: every PSP call is on the timeline, also those that change nothing (a
/// cancel's reversal, the reconciler's failed and empty lookups), with operation, result and
/// duration; Billwerk's request shows its request id.
#[tokio::test]
async fn every_psp_call_and_the_request_id_are_on_the_timeline() {
    use psp_integrator::domain::{Clock, SystemClock};
    use psp_integrator::flows::reconcile;
    use psp_integrator::sim::oppwa::Fault;
    let app = console_app().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let res = app
        .client
        .post(format!("{}/api/Preauth", app.base))
        .bearer_auth(&app.token)
        .header("x-request-id", "billwerk-req-4711")
        .json(&preauth_body(&pre, &agr, 40.0))
        .send()
        .await
        .expect("preauth sent");
    assert_eq!(res.status(), StatusCode::OK);
    let body: serde_json::Value = res.json().await.expect("json");
    let redirect = body["redirectUrl"].as_str().expect("redirectUrl");
    app.pay_on_checkout(redirect, VISA).await;
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), serde_json::json!({}))
        .await;
    assert_eq!(
        (s, c["cancellationStatus"].as_str()),
        (StatusCode::OK, Some("Succeeded")),
        "{c}"
    );

    // A payment whose charge got no answer; the reconciler's lookups fail, then find nothing.
    let pay = tx_id();
    app.fault(Fault::Unavailable);
    let (_, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    assert_eq!(p["status"], "Pending", "{p}");
    let policy = reconcile::Policy::from(&app.cfg.reconciler);
    let now = SystemClock.now();
    reconcile::run_once(&app.app, &policy, now.plus_seconds(61))
        .await
        .expect("round");
    app.fault(Fault::None);
    reconcile::run_once(&app.app, &policy, now.plus_seconds(3600))
        .await
        .expect("round");

    operator(&app, "ann", "viewer", &[]).await;
    let s = Session::sign_in(&app, "ann").await;
    let pre_id = app.record(&pre).await.id;
    let (status, page) = s.get(&format!("/console/transactions/{pre_id}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    for expected in [
        "request id billwerk-req-4711",
        "PSP call: checkout result (",
        "PSP call: cancel (",
    ] {
        assert!(page.contains(expected), "{expected} in {page}");
    }
    let pay_rec = app.record(&pay).await;
    let calls: Vec<_> = app
        .store
        .psp_calls(&pay_rec.merchant_id, &pay_rec.id)
        .await
        .expect("calls")
        .into_iter()
        .map(|c| (c.note.operation, c.note.description.unwrap_or_default()))
        .collect();
    assert_eq!(calls.len(), 3, "{calls:?}");
    assert_eq!(calls[0].0, "charge", "{calls:?}");
    assert_eq!(calls[1].0, "lookup", "{calls:?}");
    assert!(calls[1].1.starts_with("failed:"), "{calls:?}");
    assert_eq!(calls[2].0, "lookup", "{calls:?}");
    assert!(calls[2].1.starts_with("not found"), "{calls:?}");
    let (_, page) = s
        .get(&format!("/console/transactions/{}", pay_rec.id))
        .await;
    assert_eq!(page.matches("PSP call: lookup (").count(), 2, "{page}");
    // The request id is only shown, never required: the reconciler's rows have none.
    assert!(
        page.contains("request id "),
        "the payment's own request: {page}"
    );
    assert!(!page.contains(VISA), "no card data");
}

/// Issue #20, point 5: parked events by the time they are given up, soonest first, with that
/// time; those waiting for a known transaction are never given up and come last.
#[tokio::test]
async fn parked_events_are_listed_by_the_time_they_are_given_up() {
    use psp_integrator::domain::{Clock, SystemClock};
    use psp_integrator::store::NotificationRecord;
    let app = console_app().await;
    let tx = tx_id();
    let (s, b) = app
        .post("/api/Preauth", preauth_body(&tx, &agreement_id(), 5.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let known = app.record(&tx).await.id;
    let now = SystemClock.now();
    let park = |key: &str, days_ago: f64, tx: Option<String>| NotificationRecord {
        merchant_id: app.merchant_id.clone(),
        psp: "oppwa".into(),
        dedupe_key: key.into(),
        received_at: now.plus_seconds(-(days_ago * 86_400.0) as i64),
        auth: None,
        body: b"{}".to_vec(),
        event: "PAYMENT CB".into(),
        psp_tx_id: Some(format!("psp-{key}")),
        transaction_id: tx,
        outcome: "parked".into(),
        consumes: true,
        parked_event: Some("{}".into()),
    };
    // Stored in another order than they are given up.
    for rec in [
        park("later-orphan", 1.0, None),
        park("waits-for-tx", 6.9, Some(known)),
        park("soon-orphan", 6.5, None),
    ] {
        assert!(
            app.store
                .record_notification(&rec, None)
                .await
                .expect("parked")
        );
    }
    operator(&app, "ann", "viewer", &[]).await;
    let s = Session::sign_in(&app, "ann").await;
    let (status, html) = s.get("/console/attention").await;
    assert_eq!(status, StatusCode::OK, "{html}");
    let table = between(&html, "<table id=\"parked\"", "</table>").expect("the parked table");
    let at = |k: &str| table.find(k).unwrap_or_else(|| panic!("{k} in {table}"));
    assert!(at("soon-orphan") < at("later-orphan"), "{table}");
    assert!(at("later-orphan") < at("waits-for-tx"), "{table}");
    assert_eq!(table.matches("(within a day)").count(), 1, "{table}");
    let soon =
        psp_integrator::console::when(now.plus_seconds(-(6.5 * 86_400.0) as i64 + 7 * 86_400));
    assert!(table.contains(&soon), "its give-up time {soon}: {table}");
    assert!(
        table.contains("never: it waits for its transaction"),
        "{table}"
    );
}

/// Issue #20, point 2: the cookie gets `Secure` where the base URL is HTTPS; a sign-in form
/// sent from another site is refused (no session is set), one from the console itself is not.
#[tokio::test]
async fn the_cookie_is_secure_behind_https_and_a_sign_in_from_another_site_is_refused() {
    let app = TestApp::spawn_with(|c| {
        c.console.enabled = true;
        c.server.public_base_url = "https://integrator.example".into();
    })
    .await;
    operator(&app, "ann", "viewer", &[]).await;
    let res = login(&app, "ann", PASSWORD).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let cookie = res.headers()["set-cookie"]
        .to_str()
        .expect("ascii")
        .to_string();
    assert!(cookie.contains("; Secure"), "{cookie}");
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let forged = app
        .client
        .post(format!("{}/console/login", app.ops))
        .header("origin", "https://evil.example")
        .form(&[("name", "ann"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sent");
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    assert!(forged.headers().get("set-cookie").is_none(), "no session");
    let html = forged.text().await.expect("html");
    assert!(
        html.starts_with("<!DOCTYPE html>") && html.contains("another site"),
        "{html}"
    );
    let own = app
        .client
        .post(format!("{}/console/login", app.ops))
        .header("origin", app.ops.trim_end_matches('/'))
        .header("sec-fetch-site", "same-origin")
        .form(&[("name", "ann"), ("password", PASSWORD)])
        .send()
        .await
        .expect("sent");
    assert_eq!(
        own.status(),
        StatusCode::SEE_OTHER,
        "the console's own form"
    );
    let audit = app.store.list_audit(20).await.expect("audit");
    assert!(
        audit
            .iter()
            .any(|a| a.outcome == "refused: sent from another site"),
        "{audit:?}"
    );
}
