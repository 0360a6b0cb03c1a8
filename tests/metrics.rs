//! Metric families at start-up: in a process of its own (the recorder is process-wide), the
//! operator listener's `/metrics` shows every bounded family at zero before anything happened,
//! and the business counters move by exactly what one checkout, one capture and one decline do.

#[path = "api/family.rs"]
mod family;
#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;

use harness::*;
use reqwest::StatusCode;

/// The value of the one series `name{labels}`; `None` when the series does not exist.
fn series(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let matching: Vec<f64> = text
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    assert!(matching.len() <= 1, "{name} {labels:?} is one series");
    matching.first().copied()
}

async fn scrape(app: &TestApp) -> String {
    let (status, text) = app.ops_get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    text
}

const AT_ZERO: &[(&str, &[&str])] = &[
    (
        "transactions_total",
        &[
            "kind=\"payment\"",
            "status=\"Succeeded\"",
            "error_code=\"none\"",
        ],
    ),
    (
        "transactions_total",
        &[
            "kind=\"payment\"",
            "status=\"Failed\"",
            "error_code=\"InsufficientBalance\"",
        ],
    ),
    (
        "transactions_total",
        &[
            "kind=\"refund\"",
            "status=\"Pending\"",
            "error_code=\"none\"",
        ],
    ),
    ("checkouts_total", &["result=\"completed\""]),
    ("checkouts_total", &["result=\"expired\""]),
    (
        "psp_calls_total",
        &[
            "psp=\"oppwa\"",
            "operation=\"backoffice\"",
            "outcome=\"timeout\"",
        ],
    ),
    (
        "psp_call_duration_seconds_count",
        &["psp=\"oppwa\"", "operation=\"payment\""],
    ),
    ("psp_notifications_total", &["result=\"applied\""]),
    ("webhook_attempts_total", &["outcome=\"dead\""]),
    ("rate_limited_total", &["class=\"money\""]),
    ("rate_limit_waits_total", &[]),
    ("db_pool_waiting", &[]),
];

#[tokio::test]
async fn metric_families_start_at_zero_and_count_payments_by_outcome_and_error_code() {
    let app = TestApp::spawn_with(|_| {}).await;
    let start = scrape(&app).await;
    for (name, labels) in AT_ZERO {
        assert_eq!(
            series(&start, name, labels),
            Some(0.0),
            "{name} {labels:?} exists at zero before anything happened"
        );
    }
    // The pool's own maximum (SQLite caps what database.max_connections asks for).
    let max = app.store.pool_stats().max;
    assert!(max >= 1 && max <= app.cfg.database.max_connections);
    assert_eq!(
        series(&start, "db_pool_max_connections", &[]),
        Some(f64::from(max))
    );
    assert!(series(&start, "db_pool_connections", &["state=\"idle\""]).is_some());
    let build = format!("version=\"{}\"", psp_integrator::telemetry::VERSION);
    assert_eq!(
        series(&start, "build_info", &[&build, "git_commit=\""]),
        Some(1.0)
    );
    assert_ne!(psp_integrator::telemetry::GIT_COMMIT, "");

    // One hosted checkout, its capture, and a declined charge on the stored card.
    let (status, body) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (pre, agr) = (tx_id(), agreement_id());
    app.card_preauth(&pre, &agr, 30.0, "4200000000000000").await;
    let (s, b) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre, &agr, 30.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    app.sim.sim.force_next_result("800.100.203");
    let (s, b) = app
        .post("/api/Payment", recurring_body(&tx_id(), &agr, 5.0))
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{b}");
    let after = scrape(&app).await;
    for (name, labels, want) in [
        (
            "transactions_total",
            &[
                "kind=\"payment\"",
                "status=\"Succeeded\"",
                "error_code=\"none\"",
            ][..],
            1.0,
        ),
        (
            "transactions_total",
            &[
                "kind=\"payment\"",
                "status=\"Failed\"",
                "error_code=\"InsufficientBalance\"",
            ],
            1.0,
        ),
        (
            "transactions_total",
            &[
                "kind=\"preauth\"",
                "status=\"Succeeded\"",
                "error_code=\"none\"",
            ],
            1.0,
        ),
        ("checkouts_total", &["result=\"completed\""], 1.0),
        ("checkouts_total", &["result=\"expired\""], 0.0),
        (
            "psp_call_duration_seconds_count",
            &["psp=\"oppwa\"", "operation=\"backoffice\""],
            1.0,
        ),
    ] {
        assert_eq!(
            series(&after, name, labels),
            Some(want),
            "{name} {labels:?} after one checkout, one capture, one decline"
        );
    }
    assert!(
        series(
            &after,
            "psp_calls_total",
            &["psp=\"oppwa\"", "operation=\"checkout\"", "outcome=\"2xx\""]
        )
        .is_some_and(|n| n >= 1.0)
    );
}
