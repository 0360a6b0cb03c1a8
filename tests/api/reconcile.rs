//! The reconciler: unknown outcomes are resolved by asking the PSP, abandoned checkouts expire,
//! and Billwerk hears about each once.

use psp_integrator::domain::{Clock, SystemClock};
use psp_integrator::flows::reconcile::{self, Policy};
use psp_integrator::sim::oppwa::Fault;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::*;

fn policy(app: &TestApp) -> Policy {
    Policy::from(&app.cfg.reconciler)
}

async fn reconcile_at(app: &TestApp, secs: i64) -> reconcile::Report {
    let now = SystemClock.now().plus_seconds(secs);
    reconcile::run_once(&app.app, &policy(app), now)
        .await
        .expect("reconcile round")
}

#[tokio::test]
async fn psp_timeout_is_resolved_by_the_reconciler_with_one_webhook_and_one_charge() {
    let app = TestApp::spawn_with(|c| {
        c.psp
            .of_mut::<psp_integrator::psp::oppwa::OppwaPspSection>()
            .expect("[psp.oppwa]")
            .timeout_secs = 1
    })
    .await;
    let (s, b) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;
    let pay = tx_id();
    app.fault(Fault::Delay { millis: 2500 });
    let (s, p) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&pay, &agr, 10.0), &app.hook_target()),
        )
        .await;
    app.fault(Fault::None);
    assert_eq!((s, p["status"].as_str()), (StatusCode::OK, Some("Pending")));

    assert_eq!(
        reconcile_at(&app, 5).await.examined,
        0,
        "not before the first delay"
    );
    let r = reconcile_at(&app, 61).await;
    assert_eq!((r.examined, r.resolved), (1, 1));
    let (_, g) = app.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(g["status"], "Succeeded", "{g}");
    assert_eq!(g["payments"][0]["amount"], json!(10));
    app.drain_outbox(70).await;
    let hooks = app.webhooks();
    assert_eq!(hooks.len(), 1, "{hooks:?}");
    assert_eq!(
        hooks[0],
        json!({"TransactionId": pay, "AgreementId": null, "Type": 2})
    );
    assert_eq!(
        app.psp_calls(&pay),
        1,
        "the simulator saw exactly one charge"
    );
    assert_eq!(
        reconcile_at(&app, 120).await.examined,
        0,
        "resolved transactions are not asked again"
    );
}

/// The PSP is unavailable (503 before it processes anything): the charge stays Pending, the
/// reconciler backs off while the PSP is still down, then finds that the PSP never got it
/// (OPPWA by its search by our reference; Mollie, which has none, by listing the agreement
/// customer's payments) and fails it after the grace period: never a charge.
#[tokio::test]
async fn unavailable_psp_backs_off_then_never_arrived_fails() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;
    let pay = tx_id();
    app.psp_fault(PspFault::Unavailable);
    let (_, p) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&pay, &agr, 10.0), &app.hook_target()),
        )
        .await;
    assert_eq!(p["status"], "Pending");
    // Still unavailable: rescheduled with growing delays.
    assert_eq!(reconcile_at(&app, 61).await.rescheduled, 1);
    assert_eq!(reconcile_at(&app, 62).await.examined, 0, "backed off");
    app.psp_fault(PspFault::None);
    // The PSP never saw it; after the grace period that is a definite failure.
    let r = reconcile_at(&app, 3600).await;
    assert_eq!(r.resolved, 1);
    let (s, e) = app.get(&format!("/api/Payment/{pay}")).await;
    assert_error(s, &e, 500, "PSPConnectionProblem", "never received");
    assert_eq!(app.psp_calls(&pay), 0);
}

#[tokio::test]
async fn abandoned_checkout_expires() {
    let app = TestApp::spawn().await;
    let pre = tx_id();
    let (_, p) = app
        .post(
            "/api/Preauth",
            targeted(
                preauth_body(&pre, &agreement_id(), 20.0),
                &app.hook_target(),
            ),
        )
        .await;
    assert_eq!(p["status"], "Initiated");
    assert_eq!(
        reconcile_at(&app, 60).await.examined,
        0,
        "checkout still open"
    );
    app.psp_advance_clock(31 * 60);
    let r = reconcile_at(&app, 32 * 60).await;
    assert_eq!(r.resolved, 1, "{r:?}");
    let (s, e) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s.as_u16(), 422, "{e}");
    assert_eq!(e["status"], "Expired");
    app.drain_outbox(33 * 60).await;
    assert_eq!(
        app.webhooks(),
        vec![json!({"TransactionId": pre, "AgreementId": null, "Type": 1})]
    );
}
