//! PSP answers mapped to the contract: declines to error codes and statuses, an unknown outcome
//! (timeout, dropped connection) to Pending without a second charge.

use psp_integrator::domain::TxStatus;
use reqwest::StatusCode;

use crate::family_events::{PspStandIn, set_psp_timeout};

use crate::harness::*;

async fn recurring_ready(app: &TestApp) -> String {
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, "4200000000000000")
        .await;
    agr
}

/// How a decline case is provoked at the PSP.
#[derive(Clone, Copy, Debug)]
enum Provoke {
    /// OPPWA's next result code, forced at its simulator (on a 10.00 charge).
    Code(&'static str),
    /// Mollie's test amount that fails a recurring card payment with this `failureReason`.
    Amount(f64, &'static str),
}

#[tokio::test]
async fn declines_map_to_error_codes_and_get_repeats_them() {
    let app = TestApp::spawn().await;
    let agr = recurring_ready(&app).await;
    // (how the PSP is made to decline, our HTTP status, errorCode, transaction status)
    let cases: Vec<(Provoke, u16, &str, &str)> = match app.family {
        Family::Oppwa => vec![
            (
                Provoke::Code("800.100.203"),
                422,
                "InsufficientBalance",
                "Failed",
            ),
            (
                Provoke::Code("800.100.155"),
                422,
                "InsufficientBalance",
                "Failed",
            ),
            (Provoke::Code("800.100.151"), 422, "BearerInvalid", "Failed"),
            (Provoke::Code("800.100.157"), 422, "BearerExpired", "Failed"),
            (Provoke::Code("100.100.303"), 422, "BearerExpired", "Failed"),
            (Provoke::Code("800.100.152"), 422, "Rejected", "Failed"),
            (Provoke::Code("100.396.101"), 422, "Canceled", "Cancelled"),
            (
                Provoke::Code("600.200.100"),
                500,
                "InvalidConfiguration",
                "Failed",
            ),
            (
                Provoke::Code("999.999.999"),
                500,
                "InternalProviderError",
                "Failed",
            ),
            (Provoke::Code("800.900.300"), 401, "LoginError", "Failed"),
        ],
        // Mollie's recurring card payment is pending first and fails when it settles; its
        // simulator's test amounts 1001–1011 EUR pick the reason (contract/mollie.md §2.15).
        Family::Mollie => vec![
            (
                Provoke::Amount(1001.0, "invalid_card_number"),
                422,
                "BearerInvalid",
                "Failed",
            ),
            (
                Provoke::Amount(1002.0, "invalid_cvv"),
                422,
                "BearerInvalid",
                "Failed",
            ),
            (
                Provoke::Amount(1004.0, "card_expired"),
                422,
                "BearerExpired",
                "Failed",
            ),
            (
                Provoke::Amount(1006.0, "refused_by_issuer"),
                422,
                "Rejected",
                "Failed",
            ),
            (
                Provoke::Amount(1007.0, "insufficient_funds"),
                422,
                "InsufficientBalance",
                "Failed",
            ),
            (
                Provoke::Amount(1008.0, "inactive_card"),
                422,
                "BearerInvalid",
                "Failed",
            ),
            (
                Provoke::Amount(1011.0, "card_declined"),
                422,
                "Rejected",
                "Failed",
            ),
        ],
    };
    for (provoke, http, error_code, status) in cases {
        let (amount, code) = match provoke {
            Provoke::Code(code) => {
                app.sim.sim.force_next_result(code);
                (10.0, code)
            }
            Provoke::Amount(amount, reason) => (amount, reason),
        };
        let pay = tx_id();
        let answer = app
            .post("/api/Payment", recurring_body(&pay, &agr, amount))
            .await;
        let (s, e) = app.settled_answer("Payment", &pay, answer).await;
        assert_error(s, &e, http, error_code, "");
        assert_eq!(e["pspErrorCode"], code);
        assert_eq!(e["status"], status, "{code}");
        let (s2, e2) = app.get(&format!("/api/Payment/{pay}")).await;
        assert_eq!(s2, s, "GET repeats the error for {code}");
        assert_eq!(e2["errorCode"], error_code);
        let (s3, e3) = app
            .post("/api/Payment", recurring_body(&pay, &agr, amount))
            .await;
        assert_eq!(
            (s3, &e3["errorCode"]),
            (s, &e["errorCode"]),
            "replay repeats the error"
        );
        assert_eq!(app.psp_calls(&pay), 1, "{code}: one PSP call");
    }
}

/// Pending and awaiting the reconciler (a deadline set), with exactly one charge at the PSP.
async fn assert_awaits_the_reconciler(app: &TestApp, pay: &str, what: &str) {
    let rec = app.record(pay).await;
    assert_eq!(rec.status, TxStatus::Pending, "{what}");
    assert!(
        rec.needs_reconcile && rec.next_reconcile_at.is_some(),
        "{what}: a reconciler deadline"
    );
}

/// The PSP's answer says its outcome is not known yet: Pending with a reconciler deadline,
/// never Failed; Billwerk's replay does not charge again.
#[tokio::test]
async fn uncertain_timeout_code_stays_pending() {
    let app = TestApp::spawn().await;
    let agr = recurring_ready(&app).await;
    let pay = tx_id();
    // OPPWA's "timeout, uncertain result" code; Mollie has no such code: its recurring card
    // payment answers `pending` (not known yet) by itself.
    if app.family == Family::Oppwa {
        app.sim.sim.force_next_result("900.100.300");
    }
    let (s, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Pending");
    assert_awaits_the_reconciler(&app, &pay, "uncertain").await;
    let (_, again) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    assert_eq!(again["status"], "Pending", "{again}");
    assert_eq!(app.psp_calls(&pay), 1, "the replay did not charge again");
    // OPPWA's record keeps the uncertain code; Mollie's payment settles and the service
    // learns it.
    if app.family == Family::Mollie {
        let rec = app.psp_settles_and_reconciler_asks(&pay).await;
        assert_eq!(rec.status, TxStatus::Succeeded);
        assert_eq!(app.psp_charges(&pay), 1, "exactly one charge");
    }
}

/// The PSP acts but answers after our timeout (Mollie's adapter replays the call twice with
/// its `Idempotency-Key`, each answer late too): Pending with a reconciler deadline, one
/// charge; Billwerk's replay does not charge again; the reconciler later finds the charge.
#[tokio::test]
async fn psp_timeout_leaves_the_payment_pending_and_never_charges_twice() {
    let psp = PspStandIn::start().await;
    let app = TestApp::spawn_with(|c| {
        psp.route(c);
        set_psp_timeout(c, 1)
    })
    .await;
    let (s, b) = app.put_settings(&app.token, sandbox_settings()).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let agr = recurring_ready(&app).await;
    let pay = tx_id();
    psp.answer_late(2500);
    let (s, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    psp.answer_late(0);
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Pending");
    let (_, again) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
        .await;
    assert_eq!(again["status"], "Pending");
    assert_eq!(app.psp_calls(&pay), 1, "the PSP saw exactly one charge");
    let rec = app
        .store
        .get_transaction(&app.merchant_id, &pay)
        .await
        .expect("read")
        .expect("row");
    assert!(rec.needs_reconcile, "marked for reconciliation");
    assert!(rec.next_reconcile_at.is_some(), "with a deadline");
    let rec = app.psp_settles_and_reconciler_asks(&pay).await;
    assert_eq!(rec.status, TxStatus::Succeeded, "the reconciler found it");
    assert_eq!(app.psp_charges(&pay), 1, "exactly one charge");
}

/// An answer lost after the PSP acted, and a PSP that refuses with 503 (Mollie's adapter
/// replays each twice): Pending with a reconciler deadline, never Failed at once. The
/// reconciler then finds the charge (lost answer: Succeeded, one charge) or proves the PSP
/// never received it (503: Failed, no charge).
#[tokio::test]
async fn dropped_connection_and_unavailable_psp_stay_pending() {
    let app = TestApp::spawn().await;
    let agr = recurring_ready(&app).await;
    for (fault, charges, resolved) in [
        (PspFault::DropAfterCommit, 1, TxStatus::Succeeded),
        (PspFault::Unavailable, 0, TxStatus::Failed),
    ] {
        let pay = tx_id();
        app.psp_fault(fault);
        let (s, p) = app
            .post("/api/Payment", recurring_body(&pay, &agr, 10.0))
            .await;
        app.psp_fault(PspFault::None);
        assert_eq!(s, StatusCode::OK, "{fault:?}: {p}");
        assert_eq!(p["status"], "Pending", "{fault:?}");
        assert_awaits_the_reconciler(&app, &pay, &format!("{fault:?}")).await;
        assert_eq!(app.psp_charges(&pay), charges, "{fault:?}");
        let rec = app.psp_settles_and_reconciler_asks(&pay).await;
        assert_eq!(rec.status, resolved, "{fault:?}");
        assert_eq!(
            app.psp_charges(&pay),
            charges,
            "{fault:?}: never charged again"
        );
    }
}
