//! Running it: the OpenAPI document against the served routes, metrics, readiness, request ids,
//! log redaction, rate and time limits.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use psp_integrator::http::health::{self, Health, Liveness};
use psp_integrator::sim::oppwa as sim;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// Every endpoint the contract and operations need: (method, path template).
const EXPECTED: &[(&str, &str)] = &[
    ("post", "/api/Preauth"),
    ("post", "/api/Preauth/Finalize"),
    ("get", "/api/Preauth/{id}"),
    ("post", "/api/Preauth/{id}/Cancel"),
    ("post", "/api/Payment"),
    ("get", "/api/Payment/{id}"),
    ("post", "/api/Refund"),
    ("get", "/api/Refund/{id}"),
    ("get", "/api/IntegrationInfo"),
    ("get", "/api/Settings"),
    ("put", "/api/Settings"),
    ("post", "/psp/{psp}/{merchant}/{token}/notifications"),
    ("post", "/psp/{psp}/{merchant}/notifications"),
    ("get", "/health/live"),
    ("get", "/health/ready"),
];

async fn raw(app: &TestApp, method: &str, path: &str) -> (StatusCode, String) {
    let m = reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes()).expect("method");
    let res = app
        .client
        .request(m, format!("{}{path}", app.base))
        .bearer_auth(&app.token)
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .expect("sent");
    (res.status(), res.text().await.expect("body"))
}

#[tokio::test]
async fn openapi_document_matches_the_served_routes() {
    let app = TestApp::spawn().await;
    let (status, doc) = app.ops_get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    let doc: Value = serde_json::from_str(&doc).expect("json");
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "put", "post", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = EXPECTED
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(
        documented, expected,
        "documented = expected, none missing, none extra"
    );

    // Every documented operation is served: the router, not its fallback, answers.
    for (method, path) in &documented {
        let concrete = path
            .replace("{id}", "20261122-000000000000000000000000")
            .replace("{psp}", "oppwa")
            .replace("{merchant}", &app.merchant_id)
            .replace("{token}", "0");
        let (status, body) = raw(&app, method, &concrete).await;
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            !body.contains("no such endpoint"),
            "{method} {path} is served: {status} {body}"
        );
    }
    // What is served but not described is exactly the documented exception list.
    for path in psp_integrator::http::UNDOCUMENTED_ROUTES {
        let concrete = path.replace("{token}", "unknown-token");
        let (_, body) = raw(&app, "get", &concrete).await;
        assert!(!body.contains("no such endpoint"), "{path} is served");
        assert!(
            !documented.iter().any(|(_, p)| p == path),
            "{path} undocumented"
        );
    }
    let (status, body) = raw(&app, "get", "/api/Nothing").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no such endpoint"));
    let (status, _) = raw(&app, "delete", "/api/Payment").await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);

    // The contract's names, enums, the error object and the bearer scheme.
    let schemas = &doc["components"]["schemas"];
    assert!(schemas["ErrorObject"]["properties"]["errorCode"].is_object());
    let statuses = schemas["TxStatus"]["enum"]
        .as_array()
        .expect("TxStatus enum");
    assert!(statuses.contains(&json!("Succeeded")) && statuses.contains(&json!("Pending")));
    let codes = schemas["PaymentErrorCode"]["enum"]
        .as_array()
        .expect("codes");
    assert!(codes.contains(&json!("LimitExceeded")));
    assert!(schemas["PreauthRequest"]["properties"]["transactionId"].is_object());
    assert!(schemas["PaymentResponse"]["properties"]["refundableAmount"].is_object());
    let example = &doc["paths"]["/api/Preauth"]["post"]["requestBody"]["content"]["application/json"]
        ["example"];
    assert_eq!(example["paymentMeansReference"]["role"], "CreditCard");
    // The settings body differs per PSP family: one named example each.
    let settings = &doc["paths"]["/api/Settings"]["put"]["requestBody"]["content"]["application/json"]
        ["examples"];
    assert_eq!(
        settings["mollie"]["value"]["merchantSettings"][0]["keyName"], "ApiKey",
        "{settings}"
    );
    assert_eq!(
        settings["oppwa"]["value"]["merchantSettings"][0]["keyName"], "AccessToken",
        "{settings}"
    );
    assert_eq!(schemas["ErrorObject"]["examples"][0]["status"], "Failed");
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        doc["paths"]["/api/Payment"]["post"]["security"][0]["bearer"],
        json!([])
    );

    // The docs UI and its assets come from the binary, on the operator listener.
    let (status, html) = app.ops_get("/docs").await;
    assert_eq!(status, StatusCode::OK);
    assert!(html.contains("/openapi.json") && html.contains("swagger-ui-bundle.js"));
    let (status, js) = app.ops_get("/docs/swagger-ui-bundle.js").await;
    assert_eq!(status, StatusCode::OK);
    assert!(js.len() > 100_000);
}

#[tokio::test]
async fn operator_routes_are_served_on_the_ops_port_only() {
    let app = TestApp::spawn().await;
    for path in psp_integrator::http::ops::ROUTES {
        let (status, body) = app.ops_get(path).await;
        assert_eq!(status, StatusCode::OK, "ops {path}: {body}");
    }
    let (_, ready) = app.ops_get("/health/ready").await;
    let ready: Value = serde_json::from_str(&ready).expect("json");
    assert_eq!(
        (ready["status"].as_str(), ready["database"].as_str()),
        (Some("ready"), Some("ok")),
        "the readiness report: {ready}"
    );
    // Billwerk and the PSP reach the public port: the operator's pages are not there.
    for path in [
        "/metrics",
        "/docs",
        "/docs/swagger-ui-bundle.js",
        "/openapi.json",
    ] {
        let (status, body) = raw(&app, "get", path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "public {path}");
        assert!(body.contains("no such endpoint"), "{path}: {body}");
    }
    // The load balancer's probes stay on the public port.
    for path in ["/health/live", "/health/ready"] {
        let (status, _) = raw(&app, "get", path).await;
        assert_eq!(status, StatusCode::OK, "public {path}");
    }
    // The operator listener answers its own unknown paths with the error object, too.
    let (status, body) = app.ops_get("/api/Payment").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no such endpoint"), "{body}");
}

fn metric(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

async fn scrape(app: &TestApp) -> String {
    let (status, text) = app.ops_get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    text
}

#[tokio::test]
async fn metrics_move_after_a_flow_and_carry_no_ids() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    app.connect_psp_webhooks().await;
    let before = scrape(&app).await;
    let (pre, agr) = (tx_id(), agreement_id());
    app.card_preauth(&pre, &agr, 50.0, "4200000000000000").await;
    let cap = tx_id();
    let (s, _) = app
        .post(
            "/api/Payment",
            targeted(capture_body(&cap, &pre, &agr, 50.0), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.psp_delivers().await;
    let after = scrape(&app).await;

    let payments = [
        "route=\"/api/Payment\"",
        "status=\"200\"",
        "method=\"POST\"",
    ];
    assert!(
        metric(&after, "http_requests_total", &payments)
            > metric(&before, "http_requests_total", &payments),
        "HTTP counter by route template moved"
    );
    let by_id = ["route=\"/api/Preauth/{id}\""];
    assert!(metric(&after, "http_request_duration_seconds_count", &by_id) >= 1.0);
    let calls = ["operation=\"backoffice\"", "outcome=\"2xx\""];
    assert!(
        metric(&after, "psp_calls_total", &calls) > metric(&before, "psp_calls_total", &calls),
        "PSP capture counted"
    );
    assert!(
        metric(
            &after,
            "psp_call_duration_seconds_count",
            &["operation=\"checkout\""]
        ) >= 1.0
    );
    // The PSP's notifications of outcomes the synchronous answers already recorded are counted
    // as verified and unchanged (`recorded`); the counter is process-wide, so compare.
    let recorded = ["result=\"recorded\""];
    assert!(
        metric(&after, "psp_notifications_total", &recorded)
            > metric(&before, "psp_notifications_total", &recorded),
        "notification counter moved"
    );
    // Business metrics: the capture succeeded, the checkout completed.
    let captured = [
        "kind=\"payment\"",
        "status=\"Succeeded\"",
        "error_code=\"none\"",
    ];
    assert!(
        metric(&after, "transactions_total", &captured)
            > metric(&before, "transactions_total", &captured),
        "payment outcome counted"
    );
    let completed = ["result=\"completed\""];
    assert!(
        metric(&after, "checkouts_total", &completed)
            > metric(&before, "checkouts_total", &completed),
        "completed checkout counted"
    );
    for gauge in [
        "outbox_pending",
        "outbox_oldest_pending_age_seconds",
        "outbox_dead",
        "reconciler_backlog",
        "db_pool_waiting",
        "db_pool_max_connections",
    ] {
        assert!(
            after.lines().any(|l| l.starts_with(&format!("{gauge} "))),
            "{gauge} present"
        );
    }
    assert!(
        metric(&after, "outbox_pending", &[]) >= 1.0,
        "webhooks queued"
    );
    app.drain_outbox(10).await;
    // The preauth's webhook went out (to an unreachable host here: a retry is an attempt too).
    assert!(metric(&scrape(&app).await, "webhook_attempts_total", &["outcome="]) >= 1.0);
    for secret in [
        pre.as_str(),
        cap.as_str(),
        agr.as_str(),
        app.token.as_str(),
        &app.merchant_id,
    ] {
        assert!(!after.contains(secret), "no ids or tokens in labels");
    }
}

#[tokio::test]
async fn request_ids_are_echoed_or_generated() {
    let app = TestApp::spawn().await;
    let res = app
        .client
        .get(format!("{}/api/IntegrationInfo", app.base))
        .bearer_auth(&app.token)
        .header("x-request-id", "billwerk-abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(res.headers()["x-request-id"], "billwerk-abc-123");
    let res = app
        .client
        .get(format!("{}/health/live", app.base))
        .header("x-request-id", "bad id with spaces")
        .send()
        .await
        .expect("sent");
    let id = res.headers()["x-request-id"].to_str().expect("ascii");
    assert_eq!(
        uuid::Uuid::parse_str(id).map(|u| u.get_version_num()),
        Ok(4)
    );
}

#[tokio::test]
async fn readiness_follows_migrations_and_workers() {
    let app = TestApp::spawn().await;
    let (status, body) = app.get("/health/ready").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["migrations"], "current");
    let (status, _) = app.get("/health/live").await;
    assert_eq!(status, StatusCode::OK);

    // A migration this build expects is missing (as after a rollback of the schema): 503 until
    // it is back, without a restart.
    let pool = sql_pool(&app).await;
    sqlx::query("UPDATE _sqlx_migrations SET success = $1 WHERE version = 1")
        .bind(false)
        .execute(&pool)
        .await
        .expect("unmark");
    let (status, body) = app.get("/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["migrations"], "1 pending");
    sqlx::query("UPDATE _sqlx_migrations SET success = $1 WHERE version = 1")
        .bind(true)
        .execute(&pool)
        .await
        .expect("mark");
    let (status, _) = app.get("/health/ready").await;
    assert_eq!(status, StatusCode::OK);

    // Workers: ready only while every started worker runs (a stopped or panicked one drops
    // its guard).
    let h = Health {
        store: app.store.clone(),
        workers: Liveness::default(),
        expected_workers: 1,
    };
    assert_eq!(health::check(&h).await.status, "not ready");
    let guard = h.workers.guard();
    assert_eq!(health::check(&h).await.status, "ready");
    let task = tokio::spawn(async move {
        let _alive = guard;
        panic!("worker crashed");
    });
    assert!(task.await.is_err());
    let r = health::check(&h).await;
    assert_eq!((r.status, r.workers.as_str()), ("not ready", "running 0/1"));
}

async fn sql_pool(app: &TestApp) -> sqlx::AnyPool {
    sqlx::any::install_default_drivers();
    sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(&app.cfg.database.url)
        .await
        .expect("second pool")
}

#[tokio::test]
async fn readiness_flips_with_the_database_and_recovers() {
    let app = TestApp::spawn().await;
    if app.store.backend() != "postgres" {
        // SQLite is a file in the process: it cannot become unreachable by itself.
        eprintln!("database outage: Postgres only (PSPI_TEST_BACKEND=postgres)");
        return;
    }
    let url = url::Url::parse(&app.cfg.database.url).expect("url");
    let db = url.path().trim_start_matches('/').to_string();
    let mut admin_url = url.clone();
    admin_url.set_path("/postgres");
    sqlx::any::install_default_drivers();
    let admin = sqlx::AnyPool::connect(admin_url.as_str())
        .await
        .expect("admin");
    let (status, _) = app.get("/health/ready").await;
    assert_eq!(status, StatusCode::OK);
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS false"))
        .execute(&admin)
        .await
        .expect("block");
    sqlx::query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1")
        .bind(&db)
        .execute(&admin)
        .await
        .expect("terminate");
    let (status, body) = app.get("/health/ready").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_ne!(body["database"], "ok");
    sqlx::query(&format!("ALTER DATABASE \"{db}\" ALLOW_CONNECTIONS true"))
        .execute(&admin)
        .await
        .expect("unblock");
    let (status, body) = app.get("/health/ready").await;
    assert_eq!(status, StatusCode::OK, "recovers by itself: {body}");
}

#[tokio::test]
async fn a_merchant_over_its_rate_gets_429_with_retry_after() {
    let app = TestApp::spawn_with(|c| {
        c.limits.rate_per_second = 1;
        c.limits.burst = 2;
    })
    .await;
    let other = app.second_merchant("other-shop").await;
    let url = format!("{}/api/IntegrationInfo", app.base);
    for _ in 0..2 {
        let r = app
            .client
            .get(&url)
            .bearer_auth(&app.token)
            .send()
            .await
            .expect("sent");
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = app
        .client
        .get(&url)
        .bearer_auth(&app.token)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .expect("ascii")
        .parse()
        .expect("seconds");
    assert!((1..=2).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().await.expect("json");
    assert_error(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        429,
        "LimitExceeded",
        "rate limit",
    );
    // Another merchant is not affected; neither are the probes.
    let r = app
        .client
        .get(&url)
        .bearer_auth(&other)
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), StatusCode::OK);
    let (status, _) = app.get("/health/live").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn a_slow_request_times_out_with_the_error_object_and_is_still_recorded() {
    let app = TestApp::spawn_with(|c| c.limits.request_timeout_secs = 1).await;
    let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let agr = agreement_id();
    let (s, p) = app
        .post("/api/Preauth", sepa_preauth_body(&tx_id(), &agr))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    app.psp_fault(PspFault::Delay(1500));
    let debit = tx_id();
    let mut body = recurring_body(&debit, &agr, 10.0);
    body["paymentMeansReference"]["role"] = json!("Debit");
    let (s, e) = app.post("/api/Payment", body.clone()).await;
    assert_error(s, &e, 503, "InternalError", "retried");
    app.psp_fault(PspFault::None);
    // The detached flow goes on; the retry waits for it and answers its result, without paying
    // twice.
    let (s, d) = app.post("/api/Payment", body).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(app.psp_calls(&debit), 1, "one PSP call");
}

/// A `MakeWriter` appending to a shared buffer.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn logs_of_a_full_flow_carry_no_secrets_or_payment_data() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .json()
        .finish();
    // The runtime is single-threaded: every task of the flow logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::spawn().await;
    app.connect_psp_webhooks().await;
    let (pre, agr) = (tx_id(), agreement_id());
    app.card_preauth(&pre, &agr, 80.0, "4200000000000000").await;
    // A capture where the family authorizes only (OPPWA), a recurring charge where the preauth
    // collected (Mollie); then a refund of it.
    let cap = tx_id();
    let body = if app.family.has(Capability::AuthorizeOnly) {
        capture_body(&cap, &pre, &agr, 80.0)
    } else {
        recurring_body(&cap, &agr, 80.0)
    };
    let (s, p) = app
        .post("/api/Payment", targeted(body, &app.hook_target()))
        .await;
    assert_eq!(s, StatusCode::OK);
    app.settled("Payment", &cap, p).await;
    let (s, _) = app
        .post("/api/Refund", refund_body(&tx_id(), &cap, 10.0))
        .await;
    assert_eq!(s, StatusCode::OK);
    let sepa = agreement_id();
    let (s, _) = app
        .post(
            "/api/Preauth",
            targeted(sepa_preauth_body(&tx_id(), &sepa), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    app.psp_delivers().await;
    app.drain_outbox(10).await;
    let (s, _) = app.get("/api/Settings").await;
    assert_eq!(s, StatusCode::OK);

    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(
        logs.contains("request answered"),
        "per-request lines captured"
    );
    assert!(
        logs.contains("\"route\":\"/api/Payment\""),
        "route template logged"
    );
    let merchant = format!("\"merchant_id\":\"{}\"", app.merchant_id);
    assert!(
        logs.lines().any(|l| l.contains("request answered")
            && l.contains("\"route\":\"/api/Refund\"")
            && l.contains(&merchant)),
        "the access log line names the merchant"
    );
    // The payment flow runs on its own task; its PSP calls still log under the request's id.
    assert!(
        logs.lines()
            .any(|l| l.contains("PSP answered") && l.contains("\"request_id\":")),
        "PSP call lines carry the request id"
    );
    assert!(logs.contains("\"request_id\":"));
    for (what, secret) in [
        ("API token", app.token.as_str()),
        ("PSP access token", sim::SANDBOX_ACCESS_TOKEN),
        ("webhook secret", sim::SANDBOX_WEBHOOK_SECRET),
        (
            "Mollie API key",
            psp_integrator::sim::mollie::SANDBOX_TEST_KEY,
        ),
        ("card number", "4200000000000000"),
        ("IBAN", "DE89370400440532013000"),
    ] {
        assert!(!logs.contains(secret), "{what} appears in the logs");
    }
}
