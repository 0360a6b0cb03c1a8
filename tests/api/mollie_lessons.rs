//! The ten lessons of Mollie's public bug reports (contract/mollie.md §5), one test each, and
//! the lost answers of issue 19: a create answer lost and replayed within Mollie's idempotency
//! hour, lost for good and found again after it by listing the customer's payments, and a
//! webhook delivered before the create answer. Every Mollie webhook here is delivered by the
//! simulator to the URL the adapter gave it; its clock is driven explicitly.
//!
//! Covered in `mollie.rs` and referenced, not repeated: the duplicate refund's 409 as a clear
//! 422 (§5 #9) and a chargeback keeping `paid` while the Billwerk payment gains it (§5 #8), both
//! in `card_first_payment_recurring_refund_and_webhook`; the
//! chargeback delivered twice is below.

use psp_integrator::domain::{Clock, SystemClock};
use psp_integrator::flows::reconcile::{self, Policy};
use psp_integrator::sim::mollie::{SANDBOX_LIVE_KEY, SANDBOX_TEST_KEY};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;
use crate::mollie::{MollieApp, api_key};

/// A Mollie merchant with the sandbox test key.
async fn shop() -> MollieApp {
    let m = MollieApp::start().await;
    let (s, b) = m
        .send(
            Method::PUT,
            "/api/Settings",
            Some(&api_key(SANDBOX_TEST_KEY)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    m
}

/// An initial card preauth: Billwerk's answer and Mollie's hosted test page's URL.
async fn first_payment(m: &MollieApp, pre: &str, agr: &str) -> String {
    let target = m.app.hook_target();
    let (s, p) = m
        .post(
            "/api/Preauth",
            targeted(preauth_body(pre, agr, 30.0), &target),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "Initiated", "{p}");
    let ours = p["redirectUrl"].as_str().expect("redirectUrl").to_string();
    let res = m.app.client.get(&ours).send().await.expect("our page");
    assert!(res.status().is_redirection(), "{}", res.status());
    location(&res)
}

/// The tester picks `outcome` on Mollie's hosted test page; returns where Mollie sends the
/// browser.
async fn choose(m: &MollieApp, page: &str, outcome: &str) -> String {
    let res = m
        .app
        .client
        .post(page)
        .form(&[("outcome", outcome)])
        .send()
        .await
        .expect("test page");
    assert!(res.status().is_redirection(), "{}", res.status());
    location(&res)
}

async fn finalize(m: &MollieApp, pre: &str) -> Value {
    let (s, f) = m
        .post(
            "/api/Preauth/Finalize",
            json!({"transactionId": pre, "finalizationData": {}}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    f
}

/// A card agreement (customer + mandate at Mollie), paid on the test page and finalized.
async fn agreement(m: &MollieApp) -> String {
    let (pre, agr) = (tx_id(), agreement_id());
    let page = first_payment(m, &pre, &agr).await;
    choose(m, &page, "paid").await;
    let f = finalize(m, &pre).await;
    assert_eq!(f["status"], "Succeeded", "{f}");
    // The first payment's webhook is answered now, so later deliveries are only new ones.
    m.sim.deliver_due().await;
    agr
}

async fn recurring(m: &MollieApp, pay: &str, agr: &str, amount: f64) -> (StatusCode, Value) {
    let target = m.app.hook_target();
    m.post(
        "/api/Payment",
        targeted(recurring_body(pay, agr, amount), &target),
    )
    .await
}

fn charges(m: &MollieApp, reference: &str) -> usize {
    m.sim
        .count_payments_with_metadata(&json!({ "transactionId": reference }))
}

/// The simulator's payment carrying `reference`.
fn mollie_payment(m: &MollieApp, reference: &str) -> Value {
    m.sim
        .payments()
        .into_iter()
        .find(|p| p["metadata"]["transactionId"] == reference)
        .unwrap_or_else(|| panic!("no Mollie payment for {reference}"))
}

async fn status_of(m: &MollieApp, path: &str) -> Value {
    let (s, r) = m.get(path).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

async fn reconcile_at(m: &MollieApp, secs: i64) -> reconcile::Report {
    let policy = Policy::from(&m.app.cfg.reconciler);
    reconcile::run_once(&m.app.app, &policy, SystemClock.now().plus_seconds(secs))
        .await
        .expect("reconcile round")
}

/// Issue 19: a create whose answer is lost after Mollie committed it is replayed at once with
/// the same `Idempotency-Key`; Mollie's replay returns the first payment, never a second one.
#[tokio::test]
async fn a_lost_create_answer_is_replayed_with_the_same_key_one_charge() {
    let m = shop().await;
    let agr = agreement(&m).await;
    m.sim.update_knobs(|k| k.drop_after_commit = 1);
    let pay = tx_id();
    let (s, r) = recurring(&m, &pay, &agr, 20.0).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    // Mollie's first answer, replayed: the card charge was created `pending`.
    let tr = mollie_payment(&m, &pay)["id"].clone();
    assert_eq!(r["pspTransactionId"], tr, "the replay's answer: {r}");
    assert!(
        matches!(r["status"].as_str(), Some("Pending" | "Succeeded")),
        "{r}"
    );
    assert_eq!(charges(&m, &pay), 1, "exactly one charge at Mollie");
    // It pays; Mollie's webhook settles it.
    let attempts = m.sim.deliver_due().await;
    assert!(
        attempts.iter().all(|a| a.status == Some(200)),
        "{attempts:?}"
    );
    let r = status_of(&m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    assert_eq!(charges(&m, &pay), 1);
}

/// Issue 19: the answer lost for good (the replays lost too) leaves the payment Pending, never
/// Failed; after Mollie's idempotency hour the reconciler finds it by listing the agreement
/// customer's payments and matching our metadata.
#[tokio::test]
async fn a_create_answer_lost_beyond_the_idempotency_hour_is_found_by_listing() {
    let m = shop().await;
    let agr = agreement(&m).await;
    // The call and both replays are committed (once) and their answers dropped.
    m.sim.update_knobs(|k| k.drop_after_commit = 3);
    let pay = tx_id();
    let (s, r) = recurring(&m, &pay, &agr, 20.0).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "Pending", "unknown is never failed: {r}");
    assert_eq!(charges(&m, &pay), 1, "the replays did not charge again");
    assert_eq!(
        m.sim.knobs().drop_after_commit,
        0,
        "all three answers dropped"
    );

    // Mollie forgets the key after an hour: only a search can find the payment now.
    m.sim.advance_clock(2 * 3600);
    let report = reconcile_at(&m, 3 * 3600).await;
    assert!(report.examined >= 1, "{report:?}");
    let r = status_of(&m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    assert_eq!(r["pspTransactionId"], mollie_payment(&m, &pay)["id"], "{r}");
    assert_eq!(charges(&m, &pay), 1, "exactly one charge at Mollie");
    m.app.drain_outbox(4 * 3600).await;
    assert_eq!(
        m.app.hooks_for(&pay).await.len(),
        1,
        "Billwerk hears of it once"
    );
}

/// §5 #1 (laravel-mollie#119) and issue 19: the webhook arrives before the create answer.
/// Our row is committed before Mollie is called, so the webhook finds it; the create answer
/// then agrees: one charge, Succeeded, one Billwerk webhook.
#[tokio::test]
async fn a_webhook_before_the_create_answer_finds_our_row_one_charge() {
    let m = shop().await;
    let agr = agreement(&m).await;
    m.sim.update_knobs(|k| k.webhook_before_answer = true);
    let pay = tx_id();
    let (s, r) = recurring(&m, &pay, &agr, 20.0).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let tr = mollie_payment(&m, &pay)["id"]
        .as_str()
        .expect("id")
        .to_string();
    let early: Vec<_> = m
        .sim
        .webhook_attempts()
        .into_iter()
        .filter(|a| a.payment_id == tr)
        .collect();
    assert!(
        early.iter().any(|a| a.status == Some(200)),
        "the early webhook was taken, not dropped: {early:?}"
    );
    let r = status_of(&m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    assert_eq!(charges(&m, &pay), 1);
    m.app.drain_outbox(3600).await;
    assert!(
        m.app.hooks_for(&pay).await.len() <= 1,
        "at most one webhook"
    );
}

/// §5 #2 (mollie-api-node#295): a 404 fetching the payment right after its webhook means
/// "unknown yet": not acknowledged (Mollie retries), never a failure; the retry applies it.
#[tokio::test]
async fn a_transient_404_after_a_webhook_is_retried_never_failed() {
    let m = shop().await;
    let agr = agreement(&m).await;
    m.sim.update_knobs(|k| k.card_recurring_secs = 600);
    let pay = tx_id();
    let (s, r) = recurring(&m, &pay, &agr, 20.0).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["status"], "Pending", "{r}");
    m.sim.update_knobs(|k| k.transient_404_gets = 1);
    m.sim.advance_clock(600);
    let first = m.sim.deliver_due().await;
    assert!(
        first.iter().all(|a| a.status != Some(200)),
        "the 404 is not acknowledged: {first:?}"
    );
    let r = status_of(&m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Pending", "never failed by a 404: {r}");
    m.sim.update_knobs(|k| k.transient_404_gets = 0);
    retried_and_applied(&m, &pay).await;
}

/// §5 #3 (mollie-api-node#269): a live key cannot read a test payment (Mollie's wrong-mode
/// 404). That is a configuration error for the operator: the call is kept with the verdict
/// MISCONFIGURED, counted, not acknowledged (Mollie retries), and the payment does not move.
#[tokio::test]
async fn a_wrong_mode_key_is_a_configuration_error_never_an_outcome() {
    let m = shop().await;
    let agr = agreement(&m).await;
    m.sim.update_knobs(|k| k.card_recurring_secs = 600);
    let pay = tx_id();
    let (_, r) = recurring(&m, &pay, &agr, 20.0).await;
    assert_eq!(r["status"], "Pending", "{r}");
    // The operator pastes the live key by mistake.
    let (s, b) = m
        .send(
            Method::PUT,
            "/api/Settings",
            Some(&api_key(SANDBOX_LIVE_KEY)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    m.sim.advance_clock(600);
    let attempts = m.sim.deliver_due().await;
    assert!(!attempts.is_empty());
    assert!(
        attempts.iter().all(|a| a.status != Some(200)),
        "not acknowledged: {attempts:?}"
    );
    let r = status_of(&m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Pending", "never a payment outcome: {r}");
    let verdicts = m
        .app
        .store
        .verdict_counts(psp_integrator::domain::Ticks(0))
        .await
        .expect("verdicts");
    assert!(
        verdicts
            .iter()
            .any(|v| v.outcome.starts_with("MISCONFIGURED") && v.count >= 1),
        "{verdicts:?}"
    );
    let (_, metrics) = m.app.ops_get("/metrics").await;
    assert!(
        metrics.contains("psp_notifications_total{result=\"misconfigured\"}"),
        "{metrics}"
    );
    // The key fixed, Mollie's next attempt is applied.
    let (s, _) = m
        .send(
            Method::PUT,
            "/api/Settings",
            Some(&api_key(SANDBOX_TEST_KEY)),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    retried_and_applied(&m, &pay).await;
}

/// §5 #4 (Shopware6#1037): the shopper's return, Billwerk's Finalize and Mollie's webhook at
/// the same time: the transition is taken once, under a lock, without any sleep.
#[tokio::test]
async fn the_return_leg_finalize_and_the_webhook_racing_take_one_transition() {
    let m = shop().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let page = first_payment(&m, &pre, &agr).await;
    let back = choose(&m, &page, "paid").await;
    let (ret, fin, hooks) = tokio::join!(
        m.app.client.get(&back).send(),
        m.post(
            "/api/Preauth/Finalize",
            json!({"transactionId": pre, "finalizationData": {}}),
        ),
        m.sim.deliver_due(),
    );
    assert!(ret.expect("return leg").status().is_redirection());
    assert_eq!(fin.0, StatusCode::OK, "{}", fin.1);
    assert_eq!(fin.1["status"], "Succeeded", "{}", fin.1);
    assert!(hooks.iter().all(|a| a.status == Some(200)), "{hooks:?}");
    let r = status_of(&m, &format!("/api/Preauth/{pre}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    m.app.drain_outbox(3600).await;
    assert!(m.app.hooks_for(&pre).await.len() <= 1);
}

/// §5 #5 (laravel-cashier-mollie#289): a mandate still `pending` after a paid first payment
/// (PayPal, Belfius) does not hold the preauth back: the paid payment decides, the mandate is
/// the agreement's credential.
#[tokio::test]
async fn a_pending_mandate_after_a_paid_first_payment_is_accepted() {
    let m = shop().await;
    m.sim.update_knobs(|k| k.mandate_pending_secs = 72 * 3600);
    let (pre, agr) = (tx_id(), agreement_id());
    let page = first_payment(&m, &pre, &agr).await;
    choose(&m, &page, "paid").await;
    let f = finalize(&m, &pre).await;
    assert_eq!(f["status"], "Succeeded", "{f}");
    assert!(
        f["bearer"]["RegistrationId"]
            .as_str()
            .is_some_and(|r| r.starts_with("mdt_")),
        "{f}"
    );
    let attempts = m.sim.deliver_due().await;
    assert!(
        attempts.iter().all(|a| a.status == Some(200)),
        "the webhook is not failed to force retries: {attempts:?}"
    );
}

/// §5 #6 (api-documentation#455): a cancelled test first payment leaves a `pending` mandate;
/// the payment's status decides: the preauth is cancelled and the agreement cannot be charged.
#[tokio::test]
async fn a_cancelled_first_payment_with_a_pending_mandate_grants_nothing() {
    let m = shop().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let page = first_payment(&m, &pre, &agr).await;
    choose(&m, &page, "canceled").await;
    let (_, f) = m
        .post(
            "/api/Preauth/Finalize",
            json!({"transactionId": pre, "finalizationData": {}}),
        )
        .await;
    assert_eq!(f["status"], "Cancelled", "{f}");
    assert!(f["bearer"].get("RegistrationId").is_none(), "{f}");
    let (s, r) = recurring(&m, &tx_id(), &agr, 5.0).await;
    assert!(
        s.is_client_error() || r["status"] == "Failed",
        "no charge on an agreement that never became valid: {s} {r}"
    );
    assert_eq!(m.sim.payments().len(), 1, "no recurring payment at Mollie");
}

/// §5 #7 (mollie-api-php#649): the create answer of a first payment has no `mandateId`; the
/// mandate is read at completion.
#[tokio::test]
async fn the_mandate_is_read_at_completion_not_from_the_create_answer() {
    let m = shop().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let page = first_payment(&m, &pre, &agr).await;
    let created = mollie_payment(&m, &pre);
    assert!(created.get("mandateId").is_none(), "{created}");
    choose(&m, &page, "paid").await;
    let f = finalize(&m, &pre).await;
    let paid = mollie_payment(&m, &pre);
    assert_eq!(
        f["bearer"]["RegistrationId"], paid["mandateId"],
        "{f} {paid}"
    );
}

/// §5 #10 (mollie-api-php#758): amounts follow the currency's exponent — JPY without
/// decimals, no 3-decimal currency — refused with 422 `InvalidAmount` before Mollie is called.
#[tokio::test]
async fn currency_decimals_are_checked_before_mollie_is_called() {
    let m = shop().await;
    let target = m.app.hook_target();
    for (currency, amount) in [("JPY", 10.5), ("BHD", 10.0)] {
        let mut b = targeted(preauth_body(&tx_id(), &agreement_id(), amount), &target);
        b["currency"] = json!(currency);
        let (s, e) = m.post("/api/Preauth", b).await;
        assert_error(s, &e, 422, "InvalidAmount", currency);
    }
    assert!(m.sim.payments().is_empty(), "nothing reached Mollie");
    // A whole JPY amount travels as "1500".
    let pre = tx_id();
    let mut b = targeted(preauth_body(&pre, &agreement_id(), 1500.0), &target);
    b["currency"] = json!("JPY");
    let (s, p) = m.post("/api/Preauth", b).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(
        mollie_payment(&m, &pre)["amount"],
        json!({"currency": "JPY", "value": "1500"})
    );
}

/// A paid recurring payment on a fresh agreement: (Billwerk id, Mollie id).
async fn paid_payment(m: &MollieApp, amount: f64) -> (String, String) {
    let agr = agreement(m).await;
    let pay = tx_id();
    let (s, r) = recurring(m, &pay, &agr, amount).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    m.sim.deliver_due().await;
    let r = status_of(m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    let tr = r["pspTransactionId"].as_str().expect("psp id").to_string();
    (pay, tr)
}

/// Issue 19: a refund whose answer is lost for good (the replays too) stays Pending; after the
/// idempotency hour the reconciler finds it among its payment's refunds by our metadata: one
/// refund at Mollie, the refund's final state.
#[tokio::test]
async fn a_refund_answer_lost_beyond_the_hour_is_found_among_the_payments_refunds() {
    let m = shop().await;
    let (pay, tr) = paid_payment(&m, 20.0).await;
    m.sim.update_knobs(|k| {
        k.drop_after_commit = 3;
        k.refund_delay_secs = 60;
    });
    let rf = tx_id();
    let target = m.app.hook_target();
    let (s, b) = m
        .post(
            "/api/Refund",
            targeted(refund_body(&rf, &pay, 5.0), &target),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["status"], "Pending", "unknown is never failed: {b}");
    m.sim.advance_clock(2 * 3600);
    reconcile_at(&m, 3 * 3600).await;
    let r = status_of(&m, &format!("/api/Refund/{rf}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    assert!(
        r["pspTransactionId"]
            .as_str()
            .is_some_and(|id| id.starts_with(&format!("{tr}/re_"))),
        "{r}"
    );
    let refunds = mollie_payment(&m, &pay)["_embedded"]["refunds"].clone();
    assert_eq!(refunds.as_array().map(Vec::len), Some(1), "{refunds}");
}

/// §5 #8 (WooCommerce PR #1049), beside `mollie.rs`'s chargeback test: the same webhook fired
/// again for an unchanged payment (Mollie's duplicate delivery, status still `paid`) changes
/// nothing: events are deduplicated on the fetched state, not on the call's bytes.
#[tokio::test]
async fn a_chargeback_webhook_delivered_twice_is_taken_once() {
    let m = shop().await;
    let (pay, tr) = paid_payment(&m, 20.0).await;
    m.app.drain_outbox(60).await;
    m.app.standin.clear();
    m.sim.update_knobs(|k| k.duplicate_webhooks = true);
    m.sim
        .chargeback(&tr, Some("20.00"), None, false)
        .expect("chargeback");
    let attempts = m.sim.deliver_due().await;
    assert_eq!(attempts.len(), 2, "{attempts:?}");
    assert!(
        attempts.iter().all(|a| a.status == Some(200)),
        "{attempts:?}"
    );
    let r = status_of(&m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["chargebacks"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["status"], "Succeeded", "{r}");
    m.app.drain_outbox(3600).await;
    let hooks = m.app.webhooks();
    let for_pay = hooks
        .iter()
        .filter(|h| h["TransactionId"] == pay.as_str())
        .count();
    assert_eq!(for_pay, 1, "one Billwerk webhook: {hooks:?}");
}

/// Mollie's next attempt (a minute on) is acknowledged and the payment is Succeeded.
async fn retried_and_applied(m: &MollieApp, pay: &str) {
    m.sim.advance_clock(61);
    let retry = m.sim.deliver_due().await;
    assert!(retry.iter().any(|a| a.status == Some(200)), "{retry:?}");
    let r = status_of(m, &format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
}

/// A payment on the merchant's Mollie account that we did not make (another integration's,
/// without our metadata or with its own) whose webhook reaches us: the fetch with the
/// merchant's key reads it, it is ours to apply for none of our transactions, so it is
/// answered 200 (Mollie stops retrying), recorded for an operator, and changes nothing: no
/// transaction moves, Billwerk hears nothing, also of a chargeback on it.
#[tokio::test]
async fn a_webhook_for_a_payment_we_did_not_make_is_recorded_and_changes_nothing() {
    let m = shop().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let page = first_payment(&m, &pre, &agr).await;
    choose(&m, &page, "paid").await;
    assert_eq!(finalize(&m, &pre).await["status"], "Succeeded");
    m.sim.deliver_due().await;
    let before = status_of(&m, &format!("/api/Preauth/{pre}")).await;
    m.app.drain_outbox(60).await;
    m.app.standin.clear();

    let mut foreign = Vec::new();
    for metadata in [Value::Null, json!({"orderId": "webshop-4711"})] {
        let res = m
            .app
            .client
            .post(format!("{}/v2/payments", m.sim_url))
            .bearer_auth(SANDBOX_TEST_KEY)
            .json(&json!({
                "amount": {"currency": "EUR", "value": "30.00"},
                "description": "Order 4711",
                "redirectUrl": "https://webshop.example/return",
                "webhookUrl": m.notification_url(),
                "metadata": metadata,
            }))
            .send()
            .await
            .expect("created at Mollie");
        assert_eq!(res.status(), StatusCode::CREATED);
        let p: Value = res.json().await.expect("json");
        let tr = p["id"].as_str().expect("id").to_string();
        m.sim.set_payment_status(&tr, "paid").expect("paid");
        foreign.push(tr);
    }
    // The other integration's customer also charges one of them back.
    m.sim
        .chargeback(&foreign[1], None, None, false)
        .expect("chargeback");
    let attempts = m.sim.deliver_due().await;
    for tr in &foreign {
        assert!(
            attempts
                .iter()
                .any(|a| &a.payment_id == tr && a.status == Some(200)),
            "answered 200, so Mollie stops retrying: {attempts:?}"
        );
        assert!(
            m.app
                .store
                .transaction_by_psp_id(&m.merchant_id, tr)
                .await
                .expect("read")
                .is_none(),
            "no transaction of ours takes {tr}"
        );
    }
    assert_eq!(
        status_of(&m, &format!("/api/Preauth/{pre}")).await,
        before,
        "our own transaction did not move"
    );
    m.app.drain_outbox(3600).await;
    assert!(m.app.webhooks().is_empty(), "{:?}", m.app.webhooks());
    let verdicts = m
        .app
        .store
        .verdict_counts(psp_integrator::domain::Ticks(0))
        .await
        .expect("verdicts");
    let count = |outcome: &str| {
        verdicts
            .iter()
            .filter(|v| v.merchant_id == m.merchant_id && v.outcome == outcome)
            .map(|v| v.count)
            .sum::<i64>()
    };
    assert_eq!(
        count("unknown transaction"),
        2,
        "both recorded for an operator: {verdicts:?}"
    );
    // The chargeback names a payment we do not know: kept aside (in case it is one of ours
    // whose answer was lost), never applied; the reconciler gives it up after a week.
    assert_eq!(
        count("refers to a transaction not known yet: parked"),
        1,
        "{verdicts:?}"
    );
    // The reconciler's rounds, at their own clock: kept for a week, given up after it.
    let parked = || async {
        m.app
            .store
            .parked_all(0, 1000)
            .await
            .expect("parked")
            .into_iter()
            .filter(|p| p.merchant_id == m.merchant_id)
            .count()
    };
    // Two more chargebacks, and rounds that read one parked event a page: every page is swept.
    for _ in 0..2 {
        m.sim
            .chargeback(&foreign[0], Some("1.00"), None, false)
            .expect("chargeback");
    }
    m.sim.deliver_due().await;
    assert_eq!(parked().await, 3);
    let policy = Policy {
        batch: 1,
        ..Policy::from(&m.app.cfg.reconciler)
    };
    let now = SystemClock.now();
    for (days, left) in [(6, 3), (8, 0)] {
        reconcile::run_once(&m.app.app, &policy, now.plus_seconds(days * 86_400))
            .await
            .expect("round");
        assert_eq!(parked().await, left, "{days} days on");
    }
}

/// A paid first payment whose mandate is already `invalid` when we read it stores nothing a
/// later charge could use: the preauth fails (422 `Rejected`), and the money the payment
/// collected is given back by one refund, completed at Mollie and found by the reconciler.
#[tokio::test]
async fn a_paid_first_payment_naming_an_invalid_mandate_fails_and_is_given_back() {
    let m = shop().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let page = first_payment(&m, &pre, &agr).await;
    choose(&m, &page, "paid").await;
    let paid = mollie_payment(&m, &pre);
    let mandate = paid["mandateId"].as_str().expect("a mandate").to_string();
    m.sim
        .invalidate_mandate(&mandate)
        .expect("mandate invalidated");
    let (s, f) = m
        .post(
            "/api/Preauth/Finalize",
            json!({"transactionId": pre, "finalizationData": {}}),
        )
        .await;
    assert_error(s, &f, 422, "Rejected", "stored no payment method");
    let (s, r) = recurring(&m, &tx_id(), &agr, 5.0).await;
    assert_error(s, &r, 422, "InvalidData", "agreementId");

    // Mollie completes the refund later; the reconciler finds it done.
    m.sim.advance_clock(3 * 24 * 3600);
    reconcile_at(&m, 3 * 3600).await;
    let paid = mollie_payment(&m, &pre);
    assert_eq!(paid["amountRefunded"]["value"], "30.00", "{paid}");
    let refunds = paid["_embedded"]["refunds"].clone();
    assert_eq!(refunds.as_array().map(Vec::len), Some(1), "{refunds}");
    assert_eq!(refunds[0]["status"], "refunded", "{refunds}");
    let rec = m
        .app
        .store
        .get_transaction(&m.merchant_id, &pre)
        .await
        .expect("read")
        .expect("the preauth");
    assert_eq!(rec.status, psp_integrator::domain::TxStatus::Failed);
    assert!(!rec.needs_reconcile, "given back: {rec:?}");
    // Finalize had the answer; giving the money back tells Billwerk nothing new.
    assert!(m.app.hooks_for(&pre).await.is_empty());
}
