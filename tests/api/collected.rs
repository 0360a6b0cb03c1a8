//! Issue #18, input 5: a preauthorization the PSP books as a debit. The money is already
//! collected, so the preauth succeeds as such (README, choices): captures are booked from the
//! debit without a PSP call, a capture above it is refused, a cancel refunds what was not
//! captured — never a `CP` on a debit, never a 500.

use psp_integrator::domain::Clock;
use psp_integrator::flows::reconcile::{self, Policy};
use psp_integrator::sim::oppwa::{Fault, KindSwap};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

const VISA: &str = "4200000000000000";

fn checkout_as_debit() -> KindSwap {
    KindSwap {
        checkout_pa_as_db: true,
        ..KindSwap::default()
    }
}

/// The simulator's transactions for a merchantTransactionId.
fn psp_txs(app: &TestApp, mtid: &str) -> Vec<Value> {
    app.sim
        .sim
        .transactions()
        .into_iter()
        .filter(|t| t["merchantTransactionId"] == mtid)
        .collect()
}

/// No `CP` was ever sent to the PSP.
fn assert_no_capture_sent(app: &TestApp) {
    let cps: Vec<Value> = app
        .sim
        .sim
        .transactions()
        .into_iter()
        .filter(|t| t["paymentType"] == "CP")
        .collect();
    assert!(cps.is_empty(), "no CP on a debit: {cps:?}");
}

async fn reconcile_at(app: &TestApp, secs: i64) -> reconcile::Report {
    let now = psp_integrator::domain::SystemClock.now().plus_seconds(secs);
    reconcile::run_once(&app.app, &Policy::from(&app.cfg.reconciler), now)
        .await
        .expect("reconcile round")
}

/// A card preauth whose checkout the shopper paid at the PSP without coming back; returns
/// (preauth id, agreement id, checkout id).
async fn paid_checkout(app: &TestApp, amount: f64) -> (String, String, String) {
    let (pre, agr) = (tx_id(), agreement_id());
    let (s, p) = app
        .post(
            "/api/Preauth",
            targeted(preauth_body(&pre, &agr, amount), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let page = app
        .client
        .get(p["redirectUrl"].as_str().expect("redirectUrl"))
        .send()
        .await
        .expect("page");
    let html = page.text().await.expect("html");
    let checkout = between(&html, "checkoutId=", "\"").expect("checkout id");
    let ret = between(&html, "action=\"", "\"").expect("action");
    let res = app.submit_card(&checkout, &ret, VISA).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    (pre, agr, checkout)
}

/// A preauth answered as a debit, completed by Billwerk's Finalize: Succeeded with the amount,
/// recorded as money collected; returns (preauth id, agreement id, the debit's PSP id).
async fn finalized_as_debit(app: &TestApp, amount: i64) -> (String, String, String) {
    app.sim.sim.set_kind_swap(checkout_as_debit());
    let (pre, agr, checkout) = paid_checkout(app, amount as f64).await;
    let (s, f) = app
        .post(
            "/api/Preauth/Finalize",
            json!({"transactionId": pre, "finalizationData": {"id": checkout}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["status"], "Succeeded", "{f}");
    assert_eq!(f["authorizedAmount"], json!(amount));
    assert!(
        f["bearer"]["RegistrationId"].is_string(),
        "the card is stored: {f}"
    );
    let debit = f["pspTransactionId"].as_str().expect("psp id").to_string();
    assert_eq!(app.psp_json(&debit)["paymentType"], "DB");
    let rec = app.record(&pre).await;
    assert!(rec.collected_at_authorization, "recorded as collected");
    (pre, agr, debit)
}

#[tokio::test]
async fn checkout_answered_as_debit_is_captured_from_the_debit_and_refunded_against_it() {
    let app = TestApp::spawn().await;
    let (pre, agr, debit) = finalized_as_debit(&app, 20).await;
    let (s, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("Succeeded")));
    assert_eq!(v["authorizedAmount"], json!(20));

    // Above what was collected: refused, nothing sent.
    let too_much = tx_id();
    let (s, e) = app
        .post("/api/Payment", capture_body(&too_much, &pre, &agr, 25.0))
        .await;
    assert_error(s, &e, 422, "InvalidAmount", "20");
    assert_eq!(app.psp_calls(&too_much), 0);

    // A partial capture: booked from the debit at once, no PSP call.
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 12.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "Succeeded", "{c}");
    assert_eq!(c["pspTransactionId"], json!(debit));
    assert_eq!(c["payments"][0]["amount"], json!(12));
    assert_eq!(c["refundableAmount"], json!(12));
    assert_eq!(app.psp_calls(&cap), 0, "no PSP call for the capture");

    // What is left is 8: a capture of 9 is refused.
    let (s, e) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre, &agr, 9.0))
        .await;
    assert_error(s, &e, 422, "InvalidAmount", "8");

    // A refund of the capture goes against the debit.
    let rf = tx_id();
    let (s, r) = app.post("/api/Refund", refund_body(&rf, &cap, 5.0)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "Succeeded", "{r}");
    let sent = psp_txs(&app, &rf);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["paymentType"], "RF");
    assert_eq!(sent[0]["referencedId"], json!(debit));
    let (_, c) = app.get(&format!("/api/Payment/{cap}")).await;
    assert_eq!(
        (&c["refundedAmount"], &c["refundableAmount"]),
        (&json!(5), &json!(7))
    );
    assert_no_capture_sent(&app);
}

#[tokio::test]
async fn cancel_of_a_debit_preauth_refunds_the_debit_once() {
    let app = TestApp::spawn().await;
    let (pre, agr, debit) = finalized_as_debit(&app, 20).await;
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["cancellationStatus"], "Succeeded", "{c}");
    let refunds = psp_txs(&app, &format!("{pre}-cancel"));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["paymentType"], "RF");
    assert_eq!(refunds[0]["referencedId"], json!(debit));
    assert_eq!(refunds[0]["amount"], "20.00");
    let (s, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "Cancelled");
    assert_eq!(v["authorizedAmount"], json!(0));

    // Again: the same answer, no second refund.
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    assert_eq!(
        (s, &c["cancellationStatus"]),
        (StatusCode::OK, &json!("Succeeded"))
    );
    assert_eq!(psp_txs(&app, &format!("{pre}-cancel")).len(), 1);
    let (s, e) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre, &agr, 5.0))
        .await;
    assert_error(s, &e, 422, "InvalidData", "Cancelled");
    assert_no_capture_sent(&app);
}

#[tokio::test]
async fn cancel_after_a_partial_capture_refunds_only_the_rest() {
    let app = TestApp::spawn().await;
    let (pre, agr, debit) = finalized_as_debit(&app, 20).await;
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 12.0))
        .await;
    assert_eq!(
        (s, &c["status"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{c}"
    );
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    assert_eq!(
        (s, &c["cancellationStatus"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{c}"
    );
    let refunds = psp_txs(&app, &format!("{pre}-cancel"));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["referencedId"], json!(debit));
    assert_eq!(refunds[0]["amount"], "8.00", "only what was not captured");
    // The capture stands; nothing more can be captured.
    let (s, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{v}"
    );
    assert_eq!(v["authorizedAmount"], json!(12));
    let (s, e) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre, &agr, 1.0))
        .await;
    assert_error(s, &e, 422, "InvalidAmount", "");
    let (_, c) = app.get(&format!("/api/Payment/{cap}")).await;
    assert_eq!(c["refundableAmount"], json!(12));
    assert_no_capture_sent(&app);
}

#[tokio::test]
async fn a_cancel_refund_whose_answer_is_lost_is_settled_by_the_psp_record_not_resent() {
    let app = TestApp::spawn().await;
    let (pre, agr, _) = finalized_as_debit(&app, 20).await;
    app.fault(Fault::DropAfterProcessing);
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    app.fault(Fault::None);
    assert_eq!(
        (s, &c["cancellationStatus"]),
        (StatusCode::OK, &json!("Pending")),
        "{c}"
    );
    assert!(
        app.record(&pre).await.needs_reconcile,
        "marked for the reconciler"
    );
    // Meanwhile a capture is refused: the refund may have taken the money.
    let (s, e) = app
        .post("/api/Payment", capture_body(&tx_id(), &pre, &agr, 5.0))
        .await;
    assert_error(s, &e, 422, "InvalidData", "cancellation");
    // A repeated Cancel asks the PSP's record instead of refunding again.
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    assert_eq!(
        (s, &c["cancellationStatus"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{c}"
    );
    assert_eq!(
        psp_txs(&app, &format!("{pre}-cancel")).len(),
        1,
        "one refund"
    );
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(v["status"], "Cancelled");
}

#[tokio::test]
async fn a_crash_before_the_cancel_refund_answer_is_settled_by_the_reconciler() {
    let app = TestApp::spawn().await;
    let (pre, _, _) = finalized_as_debit(&app, 20).await;
    app.fault(Fault::DropAfterProcessing);
    let (_, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    app.fault(Fault::None);
    assert_eq!(c["cancellationStatus"], "Pending", "{c}");
    let r = reconcile_at(&app, 3600).await;
    assert_eq!(r.resolved, 1, "{r:?}");
    let (_, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(v["status"], "Cancelled", "{v}");
    assert_eq!(
        psp_txs(&app, &format!("{pre}-cancel")).len(),
        1,
        "one refund"
    );
    assert!(
        app.hooks_for(&pre).await.contains(&1),
        "Billwerk hears of it"
    );
}

#[tokio::test]
async fn a_lapsed_checkout_found_by_reference_as_a_debit_is_money_collected() {
    let app = TestApp::spawn().await;
    app.sim.sim.set_kind_swap(checkout_as_debit());
    let (pre, agr, _) = paid_checkout(&app, 20.0).await;
    // The shopper never returns and nobody finalizes: the session lapses, and the reconciler
    // finds the payment by our merchantTransactionId.
    app.sim.sim.advance_clock(31 * 60);
    let r = reconcile_at(&app, 32 * 60).await;
    assert_eq!(r.resolved, 1, "{r:?}");
    let (s, v) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{v}"
    );
    assert_eq!(v["authorizedAmount"], json!(20));
    let debit = v["pspTransactionId"].as_str().expect("psp id").to_string();
    assert_eq!(app.psp_json(&debit)["paymentType"], "DB");
    assert!(app.record(&pre).await.collected_at_authorization);
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 20.0))
        .await;
    assert_eq!(
        (s, &c["status"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{c}"
    );
    assert_eq!(c["pspTransactionId"], json!(debit));
    assert_no_capture_sent(&app);
}

#[tokio::test]
async fn a_stored_card_preauth_answered_as_a_debit_is_money_collected() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, VISA).await;
    app.sim.sim.set_kind_swap(KindSwap {
        s2s_pa_as_db: true,
        ..KindSwap::default()
    });
    let pre = tx_id();
    let mut body = preauth_body(&pre, &agr, 15.0);
    body["isInitial"] = json!(false);
    let (s, p) = app.post("/api/Preauth", body).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(p["authorizedAmount"], json!(15));
    let debit = p["pspTransactionId"].as_str().expect("psp id").to_string();
    assert_eq!(app.psp_json(&debit)["paymentType"], "DB");
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    assert_eq!(
        (s, &c["cancellationStatus"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{c}"
    );
    let refunds = psp_txs(&app, &format!("{pre}-cancel"));
    assert_eq!(refunds.len(), 1, "{refunds:?}");
    assert_eq!(refunds[0]["paymentType"], "RF");
    assert_eq!(refunds[0]["referencedId"], json!(debit));
    assert_no_capture_sent(&app);
}

#[tokio::test]
async fn the_simulator_refuses_a_capture_on_a_debit() {
    // What the PSP would answer to the `CP` the service no longer sends.
    let app = TestApp::spawn().await;
    let (_, _, debit) = finalized_as_debit(&app, 20).await;
    let res = app
        .client
        .post(format!("{}/v1/payments/{debit}", app.sim.base_url))
        .bearer_auth(psp_integrator::sim::oppwa::SANDBOX_ACCESS_TOKEN)
        .form(&[
            ("entityId", psp_integrator::sim::oppwa::SANDBOX_ENTITY_ID),
            ("paymentType", "CP"),
            ("amount", "5.00"),
            ("currency", "EUR"),
        ])
        .send()
        .await
        .expect("sim");
    let v: Value = res.json().await.expect("json");
    assert_eq!(v["result"]["code"], "700.400.510", "{v}");
}

/// The notification path: an event naming our preauth (by merchantTransactionId) is trusted only
/// when it matches what was asked for; otherwise the PSP is asked, and a PSP that holds no such
/// payment leaves the preauth as it was.
#[tokio::test]
async fn notifications_of_another_kind_amount_or_currency_are_not_trusted() {
    let app = TestApp::spawn().await;
    // A real PSP record of a paid checkout, as the template of the forged events.
    let paid = tx_id();
    let v = app.card_preauth(&paid, &agreement_id(), 20.0, VISA).await;
    let template = app.psp_json(v["pspTransactionId"].as_str().expect("psp id"));
    assert!(template["registrationId"].is_string(), "{template}");
    let cases: [(&str, &str, &str, &str, bool); 9] = [
        // (paymentType, amount, currency, registration, trusted as Succeeded)
        ("PA", "19.00", "EUR", "yes", false),
        ("PA", "20.00", "USD", "yes", false),
        ("DB", "21.00", "EUR", "yes", false),
        ("RF", "20.00", "EUR", "yes", false),
        ("CP", "20.00", "EUR", "yes", false),
        ("RV", "20.00", "EUR", "yes", false),
        ("CB", "20.00", "EUR", "yes", false),
        ("PA", "20.00", "EUR", "no", false),
        ("DB", "20.00", "EUR", "yes", true),
    ];
    for (n, (ptype, amount, currency, reg, trusted)) in cases.into_iter().enumerate() {
        let pre = tx_id();
        let (s, p) = app
            .post("/api/Preauth", preauth_body(&pre, &agreement_id(), 20.0))
            .await;
        assert_eq!(
            (s, &p["status"]),
            (StatusCode::OK, &json!("Initiated")),
            "{p}"
        );
        let mut ev = template.clone();
        ev["id"] = json!(format!("8ac7a4a18f000000000000000000{n:04}"));
        ev["merchantTransactionId"] = json!(pre);
        ev["paymentType"] = json!(ptype);
        ev["amount"] = json!(amount);
        ev["currency"] = json!(currency);
        if reg == "no" {
            ev.as_object_mut().expect("object").remove("registrationId");
        }
        assert_eq!(app.notify(&ev).await, StatusCode::OK, "case {n}");
        let rec = app.record(&pre).await;
        let what = format!("case {n}: {ptype} {amount} {currency} registration {reg}");
        if trusted {
            assert_eq!(rec.status.name(), "Succeeded", "{what}");
            assert!(rec.collected_at_authorization, "{what}: as collected");
        } else {
            assert_ne!(rec.status.name(), "Succeeded", "{what}");
            assert!(rec.authorized_amount.is_zero(), "{what}");
            assert!(!rec.collected_at_authorization, "{what}");
        }
    }
}

/// A preauth recorded as a plain authorization although the PSP booked a debit (as before this
/// fix): the PSP refuses the capture, its record of the preauth decides, and the capture is
/// booked from the debit — Billwerk never gets a 500 for it.
#[tokio::test]
async fn a_capture_refused_because_the_preauth_is_a_debit_is_booked_from_the_debit() {
    let app = TestApp::spawn().await;
    let (pre, agr, debit) = finalized_as_debit(&app, 20).await;
    // Forget that it was collected, as a row written before the fix.
    let rec = app.record(&pre).await;
    let update = psp_integrator::store::TxUpdate {
        collected_at_authorization: Some(false),
        note: "test: as recorded before issue #18".into(),
        ..Default::default()
    };
    let at = psp_integrator::domain::Ticks(rec.last_updated.0 + 1);
    app.store
        .apply_update(&app.merchant_id, &rec.id, rec.last_updated, at, &update)
        .await
        .expect("update");
    assert!(!app.record(&pre).await.collected_at_authorization);
    let cap = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&cap, &pre, &agr, 12.0))
        .await;
    assert_eq!(s, StatusCode::OK, "{c}");
    assert_eq!(c["status"], "Succeeded", "{c}");
    assert_eq!(c["pspTransactionId"], json!(debit));
    assert_eq!(c["payments"][0]["amount"], json!(12));
    let refused = psp_txs(&app, &cap);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["result"]["code"], "700.400.510");
    assert!(app.record(&pre).await.collected_at_authorization);
    // From now on the preauth is what it is: the next capture sends nothing.
    let next = tx_id();
    let (s, c) = app
        .post("/api/Payment", capture_body(&next, &pre, &agr, 8.0))
        .await;
    assert_eq!(
        (s, &c["status"]),
        (StatusCode::OK, &json!("Succeeded")),
        "{c}"
    );
    assert_eq!(app.psp_calls(&next), 0);
}

/// A chargeback of the debit behind money collected at authorization is shown on the capture
/// booked from it, and Billwerk hears of it.
#[tokio::test]
async fn a_chargeback_of_the_debit_lands_on_its_capture() {
    let app = TestApp::spawn().await;
    let (pre, agr, debit) = finalized_as_debit(&app, 20).await;
    let cap = tx_id();
    let (_, c) = app
        .post(
            "/api/Payment",
            targeted(capture_body(&cap, &pre, &agr, 12.0), &app.hook_target()),
        )
        .await;
    assert_eq!(c["status"], "Succeeded", "{c}");
    let cb = app
        .sim
        .sim
        .chargeback(&debit, "12.00", None)
        .expect("chargeback");
    assert_eq!(app.notify(&cb).await, StatusCode::OK);
    let (_, p) = app.get(&format!("/api/Payment/{cap}")).await;
    let cbs = p["chargebacks"].as_array().expect("chargebacks");
    assert_eq!(cbs.len(), 1, "{p}");
    assert_eq!(cbs[0]["amount"], json!(12), "{p}");
    assert_eq!(p["refundableAmount"], json!(0), "{p}");
    assert!(
        app.hooks_for(&cap).await.contains(&2),
        "Billwerk hears of it"
    );
    // More than any capture holds: not booked anywhere, kept for an operator.
    let big = app
        .sim
        .sim
        .chargeback(&debit, "8.00", None)
        .expect("chargeback");
    assert_eq!(app.notify(&big).await, StatusCode::OK);
    let (_, p) = app.get(&format!("/api/Payment/{cap}")).await;
    assert_eq!(p["chargebacks"].as_array().map(Vec::len), Some(1), "{p}");
}
