//! Payment state integrity: no PSP event undoes a final state, early events are kept, money
//! totals add up. Each test is one of the failing inputs of the state-integrity work. The PSP's
//! own notifications come through the family driver (tests/api/family_sepa.rs); the hand-made
//! ones are encrypted OPPWA `PAYMENT` notifications built from what the simulator reports for
//! the transaction, with only the named fields changed.

use psp_integrator::sim::oppwa::Fault;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::family_events::PspStandIn;
use crate::family_sepa::PspNote;
use crate::harness::*;

const VISA: &str = "4200000000000000";

/// A card agreement ready for recurring payments.
async fn card_agreement(app: &TestApp) -> String {
    let agr = agreement_id();
    app.card_preauth(&tx_id(), &agr, 0.0, VISA).await;
    agr
}

/// Settles a pending debit at the PSP and delivers the settlement notification.
async fn settle(app: &TestApp, psp_id: &str) {
    app.psp_settles_debit_and_tells(psp_id).await;
}

async fn payment(app: &TestApp, id: &str) -> Value {
    let (s, p) = app.get(&format!("/api/Payment/{id}")).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    p
}

fn amounts(items: &Value) -> Vec<String> {
    items
        .as_array()
        .expect("array")
        .iter()
        .map(|i| i["amount"].to_string())
        .collect()
}

/// Input 1: a paid recurring card payment told "declined" later stays paid; the contradiction
/// is in its history and Billwerk is not told anything changed. (Mollie's webhook names the
/// payment and the fetch says `failed`: a stand-in in front of Mollie answers so, as Mollie
/// itself never would for a paid payment.)
#[tokio::test]
async fn a_late_decline_never_undoes_a_paid_recurring_payment() {
    let psp = PspStandIn::start().await;
    let app = TestApp::spawn_behind(&psp).await;
    let agr = card_agreement(&app).await;
    let pay = tx_id();
    let (s, p) = app
        .post(
            "/api/Payment",
            targeted(recurring_body(&pay, &agr, 49.99), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let p = app.settled("Payment", &pay, p).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    let psp_id = p["pspTransactionId"].as_str().expect("psp id").to_string();
    let hooks = app.hooks_for(&pay).await;

    assert_eq!(
        app.psp_reports_late_decline(&psp, &psp_id).await,
        StatusCode::OK
    );

    let p = payment(&app, &pay).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(amounts(&p["payments"]), vec!["49.99"]);
    assert!(
        app.history_notes(&pay)
            .await
            .iter()
            .any(|n| n.starts_with("contradiction")),
        "the contradiction is recorded for an operator"
    );
    assert_eq!(
        app.hooks_for(&pay).await,
        hooks,
        "no webhook: nothing changed"
    );
    assert!(
        app.psp_says_paid(&psp_id),
        "the PSP's own record still says paid"
    );
}

/// Input 2: a settled SEPA debit stays Succeeded when a decline arrives afterwards (a returned
/// debit comes as a chargeback, not as a failure). A paid Mollie payment never turns failed, so
/// there the failure is a fetch a PSP stand-in rewrites.
#[tokio::test]
async fn a_settled_debit_ignores_a_later_failure_notification() {
    let stand_in = PspStandIn::start().await;
    let app = TestApp::spawn_behind(&stand_in).await;
    let agr = sepa_agreement(&app).await;
    let (debit, psp_id) = pending_sepa_debit(&app, &agr, 25.0).await;
    settle(&app, &psp_id).await;
    assert_eq!(payment(&app, &debit).await["status"], "Succeeded");

    assert_eq!(
        app.psp_reports_debit_failed(&stand_in, &psp_id).await,
        StatusCode::OK
    );
    let p = payment(&app, &debit).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(amounts(&p["payments"]), vec!["25"]);
}

/// Input 3: a chargeback that arrives before the settlement it refers to is kept and applied
/// when the payment settles; a re-sent copy changes nothing. On OPPWA the chargeback's own
/// notification comes first; Mollie's webhook fetches the payment, so the first one we get
/// already shows it paid and charged back (both applied at once), and the later ones are
/// redeliveries.
#[tokio::test]
async fn a_chargeback_before_its_settlement_is_applied_when_the_debit_settles() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let (debit, psp_id) = pending_sepa_debit(&app, &agr, 30.0).await;
    let settled = app.psp_settles_debit(&psp_id);
    let (_, cb) = app.psp_sepa_chargeback(&psp_id, "30.00", Some("AM04"));

    assert_eq!(
        app.deliver(&cb).await,
        StatusCode::OK,
        "the early chargeback is acknowledged"
    );
    if cb.carries_state() {
        let p = payment(&app, &debit).await;
        assert_eq!(
            (
                p["status"].as_str(),
                p["chargebacks"].as_array().map(Vec::len)
            ),
            (Some("Pending"), Some(0))
        );
    }

    assert_eq!(app.deliver(&settled).await, StatusCode::OK);
    let p = payment(&app, &debit).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(amounts(&p["chargebacks"]), vec!["30"], "{p}");
    assert_eq!(p["chargebacks"][0]["reason"], "InsufficientBalance");
    assert_eq!(p["refundableAmount"], json!(0));
    assert_eq!(
        app.hooks_for(&debit).await,
        vec![2],
        "Billwerk hears of the final state"
    );

    assert_eq!(
        app.deliver(&cb).await,
        StatusCode::OK,
        "a re-sent chargeback is acknowledged"
    );
    let p = payment(&app, &debit).await;
    assert_eq!(
        amounts(&p["chargebacks"]),
        vec!["30"],
        "and not applied twice"
    );
}

/// Input 4: chargebacks never exceed what was paid. Both PSPs refuse a chargeback beyond the
/// payment, so the excess is a copy of the first under another id: a hand-made OPPWA
/// notification, a Mollie fetch a PSP stand-in rewrites.
#[tokio::test]
async fn chargebacks_never_exceed_what_was_paid() {
    let stand_in = PspStandIn::start().await;
    let app = TestApp::spawn_behind(&stand_in).await;
    let agr = sepa_agreement(&app).await;
    let (debit, psp_id) = pending_sepa_debit(&app, &agr, 25.0).await;
    settle(&app, &psp_id).await;
    let (_, first) = app.psp_sepa_chargeback(&psp_id, "20.00", None);
    assert_eq!(app.deliver(&first).await, StatusCode::OK);
    let p = payment(&app, &debit).await;
    assert_eq!(amounts(&p["chargebacks"]), vec!["20"], "{p}");
    assert_eq!(p["refundableAmount"], json!(5));
    assert_eq!(
        app.psp_reports_excess_chargeback(&stand_in, &psp_id, &first)
            .await,
        StatusCode::OK
    );
    let p = payment(&app, &debit).await;
    assert_eq!(amounts(&p["chargebacks"]), vec!["20"], "{p}");
    assert_eq!(p["refundableAmount"], json!(5));
    assert!(
        app.history_notes(&debit)
            .await
            .iter()
            .any(|n| n.contains("would exceed")),
        "the excess is recorded"
    );
}

/// Input 5: a notification whose amount cannot be read is not trusted; the PSP's status
/// decides, both ways. OPPWA's is hand-made: "settled" with the amount `NaN`. Mollie's webhook
/// carries no amount nor status at all, only the id: the same rule is a webhook that comes
/// before the settlement (the fetch says pending) and again after it.
#[tokio::test]
async fn an_unreadable_amount_is_not_trusted_and_the_psp_status_decides() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let (debit, psp_id) = pending_sepa_debit(&app, &agr, 20.0).await;
    let nan = match app.family {
        Family::Oppwa => {
            let mut nan = app.psp_json(&psp_id);
            nan["result"] = json!({"code": "000.100.110", "description": "settled"});
            nan["amount"] = json!("NaN");
            PspNote::Oppwa(nan)
        }
        Family::Mollie => app.psp_note(&psp_id),
    };
    assert_eq!(app.deliver(&nan).await, StatusCode::OK);
    assert_eq!(
        payment(&app, &debit).await["status"],
        "Pending",
        "the PSP still says pending"
    );

    app.psp_settles_debit(&psp_id);
    assert_eq!(
        app.deliver(&nan).await,
        StatusCode::OK,
        "the same notification once more"
    );
    let p = payment(&app, &debit).await;
    assert_eq!(
        p["status"], "Succeeded",
        "now the PSP's status says settled: {p}"
    );
    assert_eq!(amounts(&p["payments"]), vec!["20"]);
}

/// Input 6: a notification that was not applied does not use up its event key. OPPWA's
/// notification with a wrong amount cannot be checked while the PSP is unavailable: kept, not
/// applied. Mollie's webhook cannot be fetched then: refused, so Mollie delivers it again.
#[tokio::test]
async fn an_unapplied_notification_never_shadows_the_authentic_one() {
    let app = TestApp::spawn().await;
    let agr = card_agreement(&app).await;
    let pay = tx_id();
    let (_, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 40.0))
        .await;
    let p = app.settled("Payment", &pay, p).await;
    assert_eq!(p["status"], "Succeeded");
    let refund = tx_id();
    app.psp_fault(PspFault::DropAfterCommit);
    let (s, r) = app
        .post(
            "/api/Refund",
            targeted(refund_body(&refund, &pay, 15.0), &app.hook_target()),
        )
        .await;
    app.psp_fault(PspFault::None);
    assert_eq!(
        (s, r["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{r}"
    );
    let (unverifiable, authentic) = app.psp_refund_notes(&refund);
    let unapplied = match app.family {
        Family::Oppwa => StatusCode::OK,
        Family::Mollie => StatusCode::INTERNAL_SERVER_ERROR,
    };

    // While the PSP cannot be asked: not applied, key not used up.
    app.psp_fault(PspFault::Unavailable);
    assert_eq!(app.deliver(&unverifiable).await, unapplied);
    let (_, r) = app.get(&format!("/api/Refund/{refund}")).await;
    assert_eq!(r["status"], "Pending");
    // The same notification again is evaluated again, not dropped as a duplicate.
    assert_eq!(app.deliver(&unverifiable).await, unapplied);
    app.psp_fault(PspFault::None);
    // The authentic one (same id and code) applies.
    assert_eq!(app.deliver(&authentic).await, StatusCode::OK);
    let (_, r) = app.get(&format!("/api/Refund/{refund}")).await;
    assert_eq!(
        (r["status"].as_str(), &r["refundedAmount"]),
        (Some("Succeeded"), &json!(15)),
        "{r}"
    );
    let p = payment(&app, &pay).await;
    assert_eq!(
        (&p["refundedAmount"], &p["refundableAmount"]),
        (&json!(15), &json!(25))
    );
}

/// Input 7: the PSP's amount format is the adapter's concern, for every ISO-4217 exponent.
/// OPPWA carries 2 decimals for every currency; Mollie carries JPY without decimals and no
/// 3-decimal currency (refused before any PSP call).
#[tokio::test]
async fn amounts_are_sent_in_the_psp_format_for_every_currency_exponent() {
    let app = TestApp::spawn().await;
    // (currency, requestedAmount, what the PSP gets: None = refused with 422 InvalidAmount)
    let table: &[(&str, Value, Option<&str>)] = match app.family {
        Family::Oppwa => &[
            ("KWD", json!(10.5), Some("10.50")),
            ("KWD", json!(0), Some("0.00")),
            ("JPY", json!(1200), Some("1200.00")),
            ("EUR", json!(12.3), Some("12.30")),
        ],
        Family::Mollie => &[
            ("KWD", json!(10.5), None),
            ("EUR", json!(0), Some("0.00")),
            ("JPY", json!(1200), Some("1200")),
            ("EUR", json!(12.3), Some("12.30")),
        ],
    };
    for (currency, amount, sent) in table {
        let pre = tx_id();
        let mut body = preauth_body(&pre, &agreement_id(), 1.0);
        body["currency"] = json!(currency);
        body["requestedAmount"] = amount.clone();
        let (s, p) = app.post("/api/Preauth", body).await;
        let Some(sent) = sent else {
            assert_error(s, &p, 422, "InvalidAmount", "requestedAmount");
            assert_eq!(app.psp_calls(&pre), 0, "{currency} {amount}");
            continue;
        };
        assert_eq!(
            (s, p["status"].as_str()),
            (StatusCode::OK, Some("Initiated")),
            "{currency}: {p}"
        );
        // The simulator validates OPPWA's amount pattern: a checkout exists only if accepted.
        assert!(p["redirectUrl"].is_string(), "{currency} {sent}: {p}");
        if app.family == Family::Mollie {
            let at_mollie = app
                .mollie()
                .sim
                .payments()
                .into_iter()
                .find(|m| m["metadata"]["transactionId"] == pre.as_str())
                .expect("the payment at Mollie");
            assert_eq!(
                at_mollie["amount"],
                json!({"currency": currency, "value": sent})
            );
        }
    }
    // A 3-decimal amount the PSP cannot carry is refused before any PSP call.
    let pre = tx_id();
    let mut body = preauth_body(&pre, &agreement_id(), 1.0);
    body["currency"] = json!("KWD");
    body["requestedAmount"] = json!(10.505);
    let (s, b) = app.post("/api/Preauth", body).await;
    assert_error(s, &b, 422, "InvalidAmount", "requestedAmount");
    assert_eq!(app.psp_calls(&pre), 0);
    let (s, _) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "nothing stored");
}

/// Input 8: a refund made in the PSP's back office is reflected in the payment.
#[tokio::test]
async fn a_back_office_refund_is_reflected_and_reported() {
    let app = TestApp::spawn().await;
    let agr = agreement_id();
    let pre = tx_id();
    app.card_preauth(&pre, &agr, 50.0, VISA).await;
    // A capture where the family authorizes only (OPPWA), a recurring charge where the preauth
    // collected (Mollie).
    let pay = tx_id();
    let body = if app.family.has(Capability::AuthorizeOnly) {
        capture_body(&pay, &pre, &agr, 50.0)
    } else {
        recurring_body(&pay, &agr, 50.0)
    };
    let (_, p) = app
        .post("/api/Payment", targeted(body, &app.hook_target()))
        .await;
    let p = app.settled("Payment", &pay, p).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    let cp = p["pspTransactionId"].as_str().expect("psp id").to_string();
    // What Billwerk heard of the payment itself (Mollie's recurring charge settles later).
    let before = app.hooks_for(&pay).await.len();

    let rf = app.psp_back_office_refund(&cp, "20.00").await;
    assert_eq!(app.deliver(&rf).await, StatusCode::OK);

    let p = payment(&app, &pay).await;
    assert_eq!(
        (&p["refundedAmount"], &p["refundableAmount"]),
        (&json!(20), &json!(30)),
        "{p}"
    );
    assert_eq!(
        app.hooks_for(&pay).await[before..],
        [2],
        "Billwerk hears of it"
    );
    // Billwerk cannot refund the same money again.
    let (s, b) = app
        .post("/api/Refund", refund_body(&tx_id(), &pay, 31.0))
        .await;
    assert_error(s, &b, 422, "InvalidAmount", "refundable");
    assert_eq!(app.deliver(&rf).await, StatusCode::OK, "a copy");
    assert_eq!(
        payment(&app, &pay).await["refundedAmount"],
        json!(20),
        "counted once"
    );
}

/// Input 9: a chargeback reversal gives the money back to the merchant, also when it arrives
/// before its chargeback. Mollie's webhook fetches the payment: the first one we get shows the
/// chargeback and its reversal together, the second is a redelivery.
#[tokio::test]
async fn a_chargeback_reversal_is_reflected_also_before_its_chargeback() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let (debit, psp_id) = pending_sepa_debit(&app, &agr, 30.0).await;
    settle(&app, &psp_id).await;
    let (cb_id, cb) = app.psp_sepa_chargeback(&psp_id, "30.00", None);
    let cr = app.psp_reverses_chargeback(&psp_id, &cb_id, "30.00");

    assert_eq!(app.deliver(&cr).await, StatusCode::OK, "the reversal first");
    if cr.carries_state() {
        let p = payment(&app, &debit).await;
        assert_eq!(amounts(&p["payments"]), vec!["30"], "parked: {p}");
    }
    assert_eq!(app.deliver(&cb).await, StatusCode::OK);
    let p = payment(&app, &debit).await;
    assert_eq!(amounts(&p["chargebacks"]), vec!["30"], "{p}");
    assert_eq!(amounts(&p["payments"]), vec!["30", "30"], "{p}");
    assert_eq!(p["payments"][1]["description"], "Chargeback reversal");
    assert_eq!(
        p["refundableAmount"],
        json!(30),
        "the money is the merchant's again"
    );
}

/// Input 10: a cancelled preauth reserves nothing.
#[tokio::test]
async fn a_cancelled_preauth_reports_nothing_authorized() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let pre = tx_id();
    let p = app.card_preauth(&pre, &agreement_id(), 70.0, VISA).await;
    assert_eq!(p["authorizedAmount"], json!(70));
    let (s, c) = app
        .post(&format!("/api/Preauth/{pre}/Cancel"), json!({}))
        .await;
    assert_eq!(
        (s, c["cancellationStatus"].as_str()),
        (StatusCode::OK, Some("Succeeded")),
        "{c}"
    );
    let (s, b) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        (b["status"].as_str(), &b["authorizedAmount"]),
        (Some("Cancelled"), &json!(0))
    );
}

/// Input 11: an unknown PSP id is absent, never an empty string.
#[tokio::test]
async fn a_capture_with_a_lost_answer_has_no_psp_id_yet() {
    let app = TestApp::spawn().await;
    if app.lacks(Capability::AuthorizeOnly) {
        return;
    }
    let agr = agreement_id();
    let pre = tx_id();
    app.card_preauth(&pre, &agr, 60.0, VISA).await;
    let pay = tx_id();
    app.fault(Fault::DropAfterProcessing);
    let (s, p) = app
        .post("/api/Payment", capture_body(&pay, &pre, &agr, 60.0))
        .await;
    app.fault(Fault::None);
    assert_eq!(
        (s, p["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{p}"
    );
    assert_eq!(p["pspTransactionId"], Value::Null, "{p}");
    assert_eq!(payment(&app, &pay).await["pspTransactionId"], Value::Null);
    // The reconciler finds it at the PSP by our merchantTransactionId.
    let policy = psp_integrator::flows::reconcile::Policy::from(&app.cfg.reconciler);
    let later =
        psp_integrator::domain::Clock::now(&psp_integrator::domain::SystemClock).plus_seconds(3600);
    let r = psp_integrator::flows::reconcile::run_once(&app.app, &policy, later)
        .await
        .expect("round");
    assert_eq!(r.resolved, 1, "{r:?}");
    let p = payment(&app, &pay).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert!(p["pspTransactionId"].is_string(), "{p}");
}

/// Input 12: the replica that loses a concurrent duplicate POST answers a payment state.
#[tokio::test]
async fn a_duplicate_post_during_the_psp_call_answers_pending() {
    let app = TestApp::spawn().await;
    let agr = card_agreement(&app).await;
    let pay = tx_id();
    // What the winning replica has stored while its PSP call is under way.
    let m = app.app.merchant(&app.merchant_id).await.expect("merchant");
    let money = psp_integrator::domain::Money::new(
        rust_decimal::Decimal::new(1500, 2),
        psp_integrator::domain::Currency::parse("EUR").expect("EUR"),
        false,
    )
    .expect("money");
    let url = url::Url::parse(WEBHOOK).expect("url");
    let mut rec = psp_integrator::flows::new_record(
        &m,
        psp_integrator::domain::TxKind::Payment,
        &pay,
        &money,
        &url,
        psp_integrator::domain::Clock::now(&psp_integrator::domain::SystemClock),
    );
    rec.agreement_id = Some(agr.clone());
    app.store
        .insert_transaction(&rec, "other replica")
        .await
        .expect("insert");

    let (s, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 15.0))
        .await;
    assert_eq!(
        (s, p["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{p}"
    );
    assert_eq!(payment(&app, &pay).await["status"], "Pending");
    assert_eq!(app.psp_calls(&pay), 0, "the loser never calls the PSP");
}

/// Input 14: a pending debit is scheduled for reconciliation, and the reconciler settles it
/// without any notification.
#[tokio::test]
async fn a_pending_debit_is_reconciled_without_a_notification() {
    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let (debit, psp_id) = pending_sepa_debit(&app, &agr, 12.0).await;
    let rec = app.record(&debit).await;
    assert!(
        rec.needs_reconcile && rec.next_reconcile_at.is_some(),
        "{rec:?}"
    );

    let policy = psp_integrator::flows::reconcile::Policy::from(&app.cfg.reconciler);
    let later = |secs: i64| {
        psp_integrator::domain::Clock::now(&psp_integrator::domain::SystemClock).plus_seconds(secs)
    };
    let r = psp_integrator::flows::reconcile::run_once(&app.app, &policy, later(3600))
        .await
        .expect("round");
    assert_eq!(r.rescheduled, 1, "still pending at the PSP: {r:?}");
    let rec = app.record(&debit).await;
    assert!(rec.needs_reconcile && rec.status == psp_integrator::domain::TxStatus::Pending);

    app.psp_settles_debit(&psp_id);
    let r = psp_integrator::flows::reconcile::run_once(&app.app, &policy, later(7 * 86400))
        .await
        .expect("round");
    assert_eq!(r.resolved, 1, "{r:?}");
    assert_eq!(payment(&app, &debit).await["status"], "Succeeded");
    assert_eq!(app.hooks_for(&debit).await, vec![2]);
}

/// Input 13: a PSP answer is checked against what we asked for before it is trusted. A stand-in
/// PSP replays real answer bodies: a successful card checkout without a stored card (OPPWA: no
/// `registrationId`; Mollie: a paid first payment without `mandateId` and a customer without
/// mandates). The preauth fails; money the PSP collected for it (Mollie's first payment always
/// collects; OPPWA when it books the checkout as a debit) is given back at the PSP, once, while
/// Billwerk hears of the failure once; a checkout that only reserved gives nothing back.
#[tokio::test]
async fn a_checkout_success_without_a_stored_card_is_not_reported_as_success() {
    let psp = PspStandIn::start().await;
    psp.rewrite(strip_stored_card);
    let app = TestApp::spawn_behind(&psp).await;
    if app.family == Family::Oppwa {
        // Only reserved (PA): nothing to give back.
        let (pre, psp_id) = unregistered_checkout(&app).await;
        assert_eq!(
            app.psp_charges(&format!("{pre}-cancel")),
            0,
            "nothing refunded"
        );
        assert_eq!(app.psp_money(&psp_id).refunded, 0);
        assert!(!app.record(&pre).await.needs_reconcile);
        assert_eq!(app.hooks_for(&pre).await, vec![1]);
    }
    collecting(&app);
    let (pre, psp_id) = unregistered_checkout(&app).await;
    assert_given_back(&app, &pre, &psp_id).await;
}

/// The refund giving collected money back loses its answer: the reconciler finds it at the PSP
/// by our reference and never sends a second one.
#[tokio::test]
async fn collected_money_whose_give_back_answer_is_lost_is_found_never_refunded_twice() {
    let psp = PspStandIn::start().await;
    let app = TestApp::spawn_behind(&psp).await;
    collecting(&app);
    fault_after_the_checkout(&psp, &app, PspFault::DropAfterCommit);
    let (pre, psp_id) = unregistered_checkout(&app).await;
    app.psp_fault(PspFault::None);
    assert!(
        app.record(&pre).await.needs_reconcile,
        "marked until the PSP's record says given back"
    );
    assert_eq!(
        app.psp_charges(&format!("{pre}-cancel")),
        1,
        "the PSP has it"
    );
    assert_given_back(&app, &pre, &psp_id).await;
}

/// The PSP is down when the collected money is to be given back: the reconciler sends the
/// refund once the PSP, asked by our reference, has still never heard of it after the grace.
#[tokio::test]
async fn collected_money_the_psp_could_not_refund_is_given_back_later_once() {
    let psp = PspStandIn::start().await;
    let app = TestApp::spawn_behind(&psp).await;
    collecting(&app);
    fault_after_the_checkout(&psp, &app, PspFault::Unavailable);
    let (pre, psp_id) = unregistered_checkout(&app).await;
    app.psp_fault(PspFault::None);
    let cancel = format!("{pre}-cancel");
    assert!(app.record(&pre).await.needs_reconcile, "marked");
    assert_eq!(app.psp_charges(&cancel), 0, "nothing reached the PSP");
    // Within the not-found grace the reconciler only looks.
    reconcile_at(&app, 120).await;
    assert_eq!(app.psp_charges(&cancel), 0, "not sent within the grace");
    // After it: sent again, once; a later round finds it and sends nothing more.
    reconcile_at(&app, 700).await;
    assert_eq!(app.psp_charges(&cancel), 1, "given back after the grace");
    reconcile_at(&app, 1_200).await;
    assert_eq!(app.psp_charges(&cancel), 1, "never twice");
    assert_given_back(&app, &pre, &psp_id).await;
}

/// Whichever way the failed registration's outcome arrives — the PSP's notification, or the
/// reconciler asking about a checkout the shopper never came back from — the collected money
/// goes back, once.
#[tokio::test]
async fn collected_money_is_given_back_whichever_way_the_outcome_arrives() {
    let psp = PspStandIn::start().await;
    psp.rewrite(strip_stored_card);
    let app = TestApp::spawn_behind(&psp).await;
    collecting(&app);

    // The PSP's notification (OPPWA's, hand-made from its record without the card).
    let (pre, agr, redirect) = card_checkout(&app).await;
    app.pay_without_returning(&redirect, VISA).await;
    match app.family {
        Family::Oppwa => {
            let mut n = app
                .sim
                .sim
                .transactions()
                .into_iter()
                .find(|t| t["merchantTransactionId"] == pre.as_str())
                .expect("the debit at the PSP");
            if let Some(o) = n.as_object_mut() {
                o.remove("registrationId");
            }
            assert_eq!(app.notify(&n).await, StatusCode::OK);
        }
        Family::Mollie => {
            app.psp_delivers().await;
        }
    }
    let psp_id = failed_unregistered(&app, &pre, &agr).await;
    assert_eq!(app.psp_charges(&format!("{pre}-cancel")), 1, "sent at once");
    assert_given_back(&app, &pre, &psp_id).await;

    // The reconciler, once the checkout's lifetime (Mollie's: days) is over.
    let (pre, agr, redirect) = card_checkout(&app).await;
    app.pay_without_returning(&redirect, VISA).await;
    reconcile_at(&app, 4 * 24 * 3600).await;
    let psp_id = failed_unregistered(&app, &pre, &agr).await;
    assert_eq!(
        app.psp_charges(&format!("{pre}-cancel")),
        1,
        "sent in the round"
    );
    assert_given_back_at(&app, &pre, &psp_id, 5 * 24 * 3600).await;
}

/// The stand-in's rule: the PSP's answers without the stored card.
fn strip_stored_card(path: &str, body: &mut Value) {
    // OPPWA's payment answer of the checkout.
    if path.ends_with("/payment")
        && let Some(o) = body.as_object_mut()
    {
        o.remove("registrationId");
    }
    // Mollie's payment, and the customer's mandates.
    if path.starts_with("/v2/payments/")
        && let Some(o) = body.as_object_mut()
    {
        o.remove("mandateId");
    }
    if path.ends_with("/mandates") {
        body["count"] = json!(0);
        body["_embedded"]["mandates"] = json!([]);
    }
}

/// The PSP collects the money of the checkout at authorization (Mollie's first payment always
/// does; OPPWA books the checkout as a debit).
fn collecting(app: &TestApp) {
    if app.family == Family::Oppwa {
        app.sim
            .sim
            .set_kind_swap(psp_integrator::sim::oppwa::KindSwap {
                checkout_pa_as_db: true,
                ..psp_integrator::sim::oppwa::KindSwap::default()
            });
    }
}

/// Strips the stored card, and arms `fault` at the PSP once the checkout's result has been read
/// (OPPWA: the checkout's payment; Mollie: the customer's mandates), so it hits the refund
/// that gives the money back.
fn fault_after_the_checkout(psp: &PspStandIn, app: &TestApp, fault: PspFault) {
    let armed = std::sync::atomic::AtomicBool::new(false);
    let oppwa = app.sim.sim.clone();
    let mollie = app.mollie.as_ref().map(|m| m.sim.clone());
    psp.rewrite(move |path, body| {
        strip_stored_card(path, body);
        let last_read = path.ends_with("/payment") || path.ends_with("/mandates");
        if !last_read || armed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            return;
        }
        match &mollie {
            Some(m) => m.update_knobs(|k| match fault {
                PspFault::DropAfterCommit => k.drop_after_commit = 1_000,
                _ => {
                    k.error_status = 503;
                    k.error_times = 1_000;
                }
            }),
            None => oppwa.set_fault(match fault {
                PspFault::DropAfterCommit => Fault::DropAfterProcessing,
                _ => Fault::Unavailable,
            }),
        }
    });
}

/// An initial card preauth of 25.00 paid on the checkout while the PSP stores no card: Failed,
/// 422 `Rejected`, the agreement unusable. Returns (preauth id, the PSP's id of the payment).
async fn unregistered_checkout(app: &TestApp) -> (String, String) {
    let (pre, agr, redirect) = card_checkout(app).await;
    let landing = app.pay_on_checkout(&redirect, VISA).await;
    assert_eq!(
        landing, "https://merchant.example/error",
        "the shopper is not told it worked"
    );
    let psp_id = failed_unregistered(app, &pre, &agr).await;
    (pre, psp_id)
}

/// An initial card preauth of 25.00 with its checkout: (preauth id, agreement id, redirect URL).
async fn card_checkout(app: &TestApp) -> (String, String, String) {
    let pre = tx_id();
    let agr = agreement_id();
    let (s, p) = app
        .post(
            "/api/Preauth",
            targeted(preauth_body(&pre, &agr, 25.0), &app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    let redirect = p["redirectUrl"].as_str().expect("redirect").to_string();
    (pre, agr, redirect)
}

/// The preauth failed for want of a stored card and its agreement cannot be charged; the PSP's
/// id of its payment.
async fn failed_unregistered(app: &TestApp, pre: &str, agr: &str) -> String {
    let (s, b) = app.get(&format!("/api/Preauth/{pre}")).await;
    assert_error(s, &b, 422, "Rejected", "stored no payment method");
    let (s, b) = app
        .post("/api/Payment", recurring_body(&tx_id(), agr, 5.0))
        .await;
    assert_error(s, &b, 422, "InvalidData", "agreementId");
    app.record(pre).await.psp_tx_id.expect("the PSP's payment")
}

async fn reconcile_at(app: &TestApp, secs: i64) {
    use psp_integrator::domain::Clock;
    let now = psp_integrator::domain::SystemClock.now().plus_seconds(secs);
    let policy = psp_integrator::flows::reconcile::Policy::from(&app.cfg.reconciler);
    psp_integrator::flows::reconcile::run_once(&app.app, &policy, now)
        .await
        .expect("reconcile round");
}

/// The preauth's collected money is given back at the PSP by exactly one refund (the PSP
/// completes it — Mollie's take a while — and the reconciler finds it so); the preauth stays
/// Failed and Billwerk heard of it once.
async fn assert_given_back(app: &TestApp, pre: &str, psp_id: &str) {
    assert_given_back_at(app, pre, psp_id, 3 * 3600).await;
}

/// [`assert_given_back`] with the reconciler's round `secs` from now.
async fn assert_given_back_at(app: &TestApp, pre: &str, psp_id: &str, secs: i64) {
    app.psp_settles().await;
    reconcile_at(app, secs).await;
    let rec = app.record(pre).await;
    assert_eq!(rec.status, psp_integrator::domain::TxStatus::Failed);
    assert!(!rec.needs_reconcile, "settled: nothing left to give back");
    let money = app.psp_money(psp_id);
    assert_eq!(money.charged, 2500, "{money:?}");
    assert_eq!(money.refunded, money.charged, "all of it given back");
    assert_eq!(
        app.psp_charges(&format!("{pre}-cancel")),
        1,
        "exactly one refund"
    );
    let notes = app.history_notes(pre).await;
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("collected money given back: refund")),
        "{notes:?}"
    );
    assert_eq!(app.hooks_for(pre).await, vec![1], "one Type-1 webhook");
}

/// Input 13, amount: a success for another amount than requested is not trusted: Pending, the
/// answer noted as unknown, for the reconciler to ask again. While the PSP keeps saying so the
/// reconciler does not trust it either; once the PSP tells the truth, the charge succeeds once.
#[tokio::test]
async fn a_success_for_another_amount_is_not_trusted() {
    use psp_integrator::domain::TxStatus;
    let psp = PspStandIn::start().await;
    let app = TestApp::spawn_behind(&psp).await;
    let agr = card_agreement(&app).await;
    app.psp_answers_paid_for(&psp, "99.00");
    let pay = tx_id();
    let (s, p) = app
        .post("/api/Payment", recurring_body(&pay, &agr, 9.0))
        .await;
    assert_eq!(
        (s, p["status"].as_str()),
        (StatusCode::OK, Some("Pending")),
        "{p}"
    );
    assert!(
        app.record(&pay).await.needs_reconcile,
        "the reconciler will ask"
    );
    let untrusted = "psp outcome unknown: amount or currency differs from the request";
    assert!(
        app.history_notes(&pay).await.iter().any(|n| n == untrusted),
        "{:?}",
        app.history_notes(&pay).await
    );
    // Asked again while the PSP still says paid for 99.00.
    app.reconciler_round(120).await;
    let rec = app.record(&pay).await;
    assert_eq!(rec.status, TxStatus::Pending, "still not trusted");
    assert!(rec.needs_reconcile, "asked again later");
    psp.pass_through();
    let rec = app.psp_settles_and_reconciler_asks(&pay).await;
    assert_eq!(rec.status, TxStatus::Succeeded, "the true answer is taken");
    let psp_id = rec.psp_tx_id.expect("the PSP's payment");
    assert_eq!(app.psp_money(&psp_id).charged, 900, "9.00 charged");
    assert_eq!(app.psp_charges(&pay), 1, "exactly one charge");
}
