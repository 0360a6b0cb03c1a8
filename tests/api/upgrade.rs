//! Upgrades and rollbacks: this release runs against the schema of the next one
//! (expand/contract). A newer release's migration it does not know is tolerated and reported
//! (log at warn, readiness); one marked incompatible stops start-up and `migrate` with what to
//! do; with `database.migrate_on_start = false` start-up waits for `migrate`.

use std::borrow::Cow;
use std::sync::{Arc, Mutex};

use psp_integrator::config::AppConfig;
use psp_integrator::startup::{Application, Roles};
use psp_integrator::store::{self, SchemaAction};
use reqwest::StatusCode;
use serde_json::Value;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::harness::*;

/// Applies one migration as a newer release's `migrate` would (sqlx records its description
/// from the file name: `9001_add_merchant_note.sql` → `add merchant note`).
async fn apply_newer_migration(url: &str, version: i64, description: &str, sql: &str) {
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(1)
        .connect(url)
        .await
        .expect("pool");
    let migration = Migration::new(
        version,
        Cow::Owned(description.to_string()),
        MigrationType::Simple,
        Cow::Owned(sql.to_string()),
        false,
    );
    Migrator {
        migrations: Cow::Owned(vec![migration]),
        ignore_missing: true,
        locking: true,
        no_tx: false,
    }
    .run(&pool)
    .await
    .expect("the newer release's migration applies");
    pool.close().await;
}

fn config(url: &str) -> AppConfig {
    config_for("http://127.0.0.1:1", url)
}

async fn readiness(app: &Application) -> (StatusCode, Value) {
    let res = reqwest::get(format!("{}/health/ready", app.base_url()))
        .await
        .expect("probe");
    let status = res.status();
    (status, res.json().await.expect("json"))
}

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
async fn a_newer_releases_migration_is_tolerated_and_reported() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("warn")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let scratch = scratch_db().await;
    let cfg = config(&scratch.url);
    Application::build(cfg.clone(), Roles::API)
        .await
        .expect("this release migrates and starts")
        .stop()
        .await;
    // The next release expands the schema; then this release starts again (a rollback, or an
    // old replica restarting during a rolling deploy).
    apply_newer_migration(
        &scratch.url,
        9001,
        "add merchant note",
        "ALTER TABLE merchants ADD COLUMN note TEXT",
    )
    .await;
    let app = Application::build(cfg.clone(), Roles::API)
        .await
        .expect("the previous release starts on the newer schema");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["migrations"], "current", "{body}");
    assert_eq!(
        body["newer_migrations"],
        serde_json::json!(["9001 (add merchant note)"])
    );
    let logs = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(
        logs.contains("WARN") && logs.contains("9001 (add merchant note)"),
        "start-up says so at warn: {logs}"
    );
    // It still works on the newer schema: onboarding writes a merchant row.
    let store = app.app().store.clone();
    let (m, _) = psp_integrator::flows::operators::merchants::create_merchant(
        store.as_ref(),
        &app.app().providers,
        &psp_integrator::domain::SystemClock,
        "after-upgrade",
        "oppwa",
    )
    .await
    .expect("a merchant on the newer schema");
    assert!(store.find_merchant(&m.id).await.expect("read").is_some());
    // This release's `migrate` leaves the newer migration alone and reports it.
    let status = store.migrate().await.expect("migrate tolerates it");
    assert_eq!(status.newer.len(), 1);
    assert!(status.pending.is_empty());
    app.stop().await;

    // The production recipe (migrations as a separate step) starts as well.
    let mut checked = cfg.clone();
    checked.database.migrate_on_start = false;
    Application::build(checked, Roles::API)
        .await
        .expect("starts without migrating")
        .stop()
        .await;
}

#[tokio::test]
async fn a_migration_marked_incompatible_is_refused_with_what_to_do() {
    let scratch = scratch_db().await;
    let cfg = config(&scratch.url);
    let app = Application::build(cfg.clone(), Roles::API)
        .await
        .expect("starts");
    apply_newer_migration(
        &scratch.url,
        9002,
        "incompatible drop legacy column",
        "CREATE TABLE legacy_marker (id BIGINT)",
    )
    .await;
    // A replica already running leaves the load balancer's rotation.
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["migrations"], "incompatible: 9002", "{body}");
    app.stop().await;

    let err = Application::build(cfg.clone(), Roles::API)
        .await
        .err()
        .expect("refused")
        .to_string();
    assert!(
        err.contains("9002 (incompatible drop legacy column)")
            && err.contains("marked incompatible")
            && err.contains("restore the database"),
        "{err}"
    );
    // `migrate` (this release) refuses it too, and so does the check-only start.
    let err = store::open(&cfg.database, SchemaAction::Migrate)
        .await
        .expect_err("migrate refused")
        .to_string();
    assert!(err.contains("9002"), "{err}");
    let err = store::open(&cfg.database, SchemaAction::Check)
        .await
        .expect_err("check refused")
        .to_string();
    assert!(err.contains("9002"), "{err}");
}

#[tokio::test]
async fn without_migrate_on_start_serve_waits_for_the_migrate_step() {
    let scratch = scratch_db().await;
    let mut cfg = config(&scratch.url);
    cfg.database.migrate_on_start = false;
    let err = Application::build(cfg.clone(), Roles::API)
        .await
        .err()
        .expect("a fresh database is refused")
        .to_string();
    assert!(
        err.contains("psp-integrator migrate") && err.contains("migrate_on_start"),
        "{err}"
    );
    let migrated = store::open(&cfg.database, SchemaAction::Migrate)
        .await
        .expect("the migrate step");
    assert!(
        migrated
            .schema_status()
            .await
            .expect("status")
            .pending
            .is_empty()
    );
    let app = Application::build(cfg, Roles::API)
        .await
        .expect("starts after migrate");
    let (status, body) = readiness(&app).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.stop().await;
}
