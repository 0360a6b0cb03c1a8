//! SEPA direct debit on Mollie, end to end: Billwerk's `Debit` preauth with `initialBearer`
//! becomes a Mollie customer and a `directdebit` mandate; recurring debits on it settle through
//! Mollie's id-only webhook; a refund; an invalid IBAN is refused before anything is stored or
//! sent; a mandate found no longer valid (when charging, or on a webhook's fetch) makes the
//! agreement inactive with exactly one type-4 webhook; no IBAN reaches the logs.

use std::sync::{Arc, Mutex};

use psp_integrator::sim::mollie::SANDBOX_TEST_KEY;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::harness::*;
use crate::mollie::{MollieApp, api_key};

/// The fixture's IBAN (tests/fixtures/billwerk/preauth-debit-initial-bearer.json).
const IBAN: &str = "DE89370400440532013000";

async fn mollie() -> MollieApp {
    let m = MollieApp::start().await;
    let (s, b) = m
        .send(
            Method::PUT,
            "/api/Settings",
            Some(&api_key(SANDBOX_TEST_KEY)),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    // Direct debit is on for recurring payments: mandates can be charged.
    assert_eq!(
        (&b["isCreditCardValid"], &b["isDebitValid"]),
        (&json!(true), &json!(true)),
        "{b}"
    );
    m
}

/// A SEPA preauth on `agr`; the answer.
async fn sepa_preauth(m: &MollieApp, pre: &str, agr: &str) -> Value {
    let body = targeted(sepa_preauth_body(pre, agr), &m.app.hook_target());
    let (s, p) = m.post("/api/Preauth", body).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    p
}

/// A debit of `amount` on `agr`; status and answer.
async fn debit(m: &MollieApp, id: &str, agr: &str, amount: f64) -> (StatusCode, Value) {
    let mut body = targeted(recurring_body(id, agr, amount), &m.app.hook_target());
    body["paymentMeansReference"]["role"] = json!("Debit");
    m.post("/api/Payment", body).await
}

/// Mollie's own API, as the merchant's dashboard would use it.
async fn at_mollie(m: &MollieApp, method: Method, path: &str) -> (StatusCode, Value) {
    let res = m
        .app
        .client
        .request(method, format!("{}{path}", m.sim_url))
        .bearer_auth(SANDBOX_TEST_KEY)
        .send()
        .await
        .expect("Mollie answers");
    let status = res.status();
    let text = res.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// The customer and mandate of a SEPA preauth (its PSP id is `cst_…/mdt_…`).
fn customer_and_mandate(p: &Value) -> (String, String) {
    let id = p["pspTransactionId"].as_str().expect("psp id");
    let (c, m) = id.split_once('/').expect("cst_…/mdt_…");
    (c.to_string(), m.to_string())
}

/// Lets Mollie deliver every webhook that is due until none is left.
async fn deliver_all(m: &MollieApp) {
    for _ in 0..10 {
        if m.sim.deliver_due().await.is_empty() {
            return;
        }
    }
}

/// Type-4 (agreement) webhooks Billwerk received.
fn agreement_hooks(m: &MollieApp) -> Vec<Value> {
    m.app
        .webhooks()
        .into_iter()
        .filter(|h| h["Type"] == 4)
        .collect()
}

#[tokio::test]
async fn sepa_mandate_recurring_debit_and_refund() {
    let m = mollie().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let p = sepa_preauth(&m, &pre, &agr).await;
    assert_eq!(p["status"], "Succeeded", "{p}");
    assert_eq!(p["authorizedAmount"], json!(0), "{p}");
    assert_eq!(p["bearer"]["Holder"], "JOHN DOE", "{p}");
    assert_eq!(p["bearer"]["IBAN"], "DE89**************3000", "{p}");
    let reference = p["bearer"]["MandateId"]
        .as_str()
        .expect("mandate reference")
        .to_string();
    assert!(!reference.is_empty() && reference.len() <= 35, "{p}");
    assert!(!p.to_string().contains(IBAN), "the IBAN is never answered");
    let (cst, mdt) = customer_and_mandate(&p);
    assert_eq!(p["bearer"]["RegistrationId"], mdt.as_str(), "{p}");

    // At Mollie: a valid direct-debit mandate with the IBAN, our reference and today's date.
    let (s, md) = at_mollie(
        &m,
        Method::GET,
        &format!("/v2/customers/{cst}/mandates/{mdt}"),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{md}");
    assert_eq!(md["method"], "directdebit", "{md}");
    assert_eq!(md["status"], "valid", "{md}");
    assert_eq!(md["mandateReference"], reference.as_str(), "{md}");
    assert_eq!(md["details"]["consumerAccount"], IBAN, "{md}");
    assert!(md["signatureDate"].is_string(), "{md}");
    assert!(m.sim.payments().is_empty(), "a mandate charges nothing");

    // A recurring debit: pending at Mollie until the bank collects it.
    let pay = tx_id();
    let (s, d) = debit(&m, &pay, &agr, 25.0).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["status"], "Pending", "{d}");
    assert_eq!(d["bearer"]["MandateId"], reference.as_str(), "{d}");
    let tr = d["pspTransactionId"].as_str().expect("psp id").to_string();
    let sent = m
        .sim
        .payments()
        .into_iter()
        .find(|x| x["id"] == tr.as_str())
        .expect("the debit at Mollie");
    assert_eq!(sent["sequenceType"], "recurring", "{sent}");
    assert_eq!(sent["method"], "directdebit", "{sent}");
    assert_eq!(sent["mandateId"], mdt.as_str(), "{sent}");
    assert_eq!(sent["customerId"], cst.as_str(), "{sent}");
    assert_eq!(
        m.sim
            .count_payments_with_metadata(&json!({"transactionId": pay})),
        1
    );

    // Collected two days later; Mollie's webhook makes us fetch it and tell Billwerk.
    m.sim.advance_clock(3 * 24 * 3600);
    deliver_all(&m).await;
    let (_, r) = m.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(r["status"], "Succeeded", "{r}");
    assert_eq!(r["refundableAmount"], json!(25), "{r}");

    // A refund of part of it.
    let rf = tx_id();
    let (s, b) = m
        .post(
            "/api/Refund",
            targeted(refund_body(&rf, &pay, 5.0), &m.app.hook_target()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert!(
        matches!(b["status"].as_str(), Some("Pending" | "Succeeded")),
        "{b}"
    );
    m.sim.advance_clock(6 * 3600);
    deliver_all(&m).await;
    let (_, b) = m.get(&format!("/api/Refund/{rf}")).await;
    assert_eq!(b["status"], "Succeeded", "{b}");
    let (_, r) = m.get(&format!("/api/Payment/{pay}")).await;
    assert_eq!(r["refundableAmount"], json!(20), "{r}");
    m.app.drain_outbox(3600).await;
    let hooks = m.app.webhooks();
    assert!(
        hooks.iter().any(|h| h["TransactionId"] == pay.as_str()),
        "{hooks:?}"
    );
    assert!(agreement_hooks(&m).is_empty(), "{hooks:?}");
}

#[tokio::test]
async fn an_invalid_iban_is_refused_before_anything_is_stored_or_sent() {
    let m = mollie().await;
    let pre = tx_id();
    let mut body = targeted(
        sepa_preauth_body(&pre, &agreement_id()),
        &m.app.hook_target(),
    );
    body["paymentMeansReference"]["initialBearer"]["IBAN"] = json!("DE89370400440532013001");
    let (s, e) = m.post("/api/Preauth", body).await;
    assert_error(s, &e, 422, "InvalidIBAN", "IBAN");
    assert!(!e.to_string().contains("DE89370400440532013001"), "{e}");
    let (s, _) = m.get(&format!("/api/Preauth/{pre}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, list) = at_mollie(&m, Method::GET, "/v2/customers").await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["count"], json!(0), "no customer at Mollie: {list}");
}

#[tokio::test]
async fn a_revoked_mandate_found_when_charging_sends_one_type4() {
    let m = mollie().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let p = sepa_preauth(&m, &pre, &agr).await;
    let (cst, mdt) = customer_and_mandate(&p);
    // A first debit works.
    let (s, d) = debit(&m, &tx_id(), &agr, 10.0).await;
    assert_eq!((s, d["status"].as_str()), (StatusCode::OK, Some("Pending")));

    // The merchant revokes the mandate in Mollie's dashboard: Mollie tells nobody.
    let (s, _) = at_mollie(
        &m,
        Method::DELETE,
        &format!("/v2/customers/{cst}/mandates/{mdt}"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);

    // The next debit is refused; reading the mandate shows it invalid.
    let refused = tx_id();
    let (s, e) = debit(&m, &refused, &agr, 10.0).await;
    assert_error(s, &e, 422, "BearerInvalid", "mandate");
    // Later debits are refused by us, without a call to Mollie.
    let before = m.sim.payments().len();
    let (s, e) = debit(&m, &tx_id(), &agr, 10.0).await;
    assert_error(s, &e, 422, "BearerInvalid", "inactive");
    assert_eq!(m.sim.payments().len(), before);

    m.app.drain_outbox(60).await;
    let four = agreement_hooks(&m);
    assert_eq!(four.len(), 1, "exactly one type-4 webhook: {four:?}");
    assert_eq!(four[0]["TransactionId"], pre.as_str(), "{four:?}");
    assert_eq!(four[0]["AgreementId"], agr.as_str(), "{four:?}");
}

#[tokio::test]
async fn a_mandate_gone_at_mollie_found_by_a_webhook_sends_one_type4() {
    let m = mollie().await;
    // Mollie answers 404 for a revoked mandate (one reading of §6 Q4).
    m.sim.update_knobs(|k| {
        k.revoked_mandate_get = psp_integrator::sim::mollie::RevokedMandateGet::NotFound;
        k.sepa_failure = Some("MD01".into());
    });
    let (pre, agr) = (tx_id(), agreement_id());
    let p = sepa_preauth(&m, &pre, &agr).await;
    let (cst, mdt) = customer_and_mandate(&p);
    let (first, second) = (tx_id(), tx_id());
    for id in [&first, &second] {
        let (s, d) = debit(&m, id, &agr, 10.0).await;
        assert_eq!((s, d["status"].as_str()), (StatusCode::OK, Some("Pending")));
    }
    // The debtor revokes the mandate at the bank; both pending debits come back failed.
    let (s, _) = at_mollie(
        &m,
        Method::DELETE,
        &format!("/v2/customers/{cst}/mandates/{mdt}"),
    )
    .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    m.sim.advance_clock(3 * 24 * 3600);
    deliver_all(&m).await;
    // Mollie delivers again (duplicates, late retries): still one.
    m.sim.advance_clock(3600);
    deliver_all(&m).await;
    for id in [&first, &second] {
        let (_, r) = m.get(&format!("/api/Payment/{id}")).await;
        assert_eq!(r["status"], "Failed", "{r}");
    }
    m.app.drain_outbox(60).await;
    let four = agreement_hooks(&m);
    assert_eq!(four.len(), 1, "exactly one type-4 webhook: {four:?}");
    assert_eq!(four[0]["TransactionId"], pre.as_str(), "{four:?}");
    let (s, e) = debit(&m, &tx_id(), &agr, 10.0).await;
    assert_error(s, &e, 422, "BearerInvalid", "inactive");
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
async fn no_iban_reaches_the_logs() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("trace")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .json()
        .finish();
    // Single-threaded runtime: every task of the service logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let m = mollie().await;
    let (pre, agr) = (tx_id(), agreement_id());
    let p = sepa_preauth(&m, &pre, &agr).await;
    let (cst, mdt) = customer_and_mandate(&p);
    let pay = tx_id();
    let (s, _) = debit(&m, &pay, &agr, 12.5).await;
    assert_eq!(s, StatusCode::OK);
    m.sim.advance_clock(3 * 24 * 3600);
    deliver_all(&m).await;
    at_mollie(
        &m,
        Method::DELETE,
        &format!("/v2/customers/{cst}/mandates/{mdt}"),
    )
    .await;
    let (s, _) = debit(&m, &tx_id(), &agr, 12.5).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let mut bad = sepa_preauth_body(&tx_id(), &agreement_id());
    bad["paymentMeansReference"]["initialBearer"]["IBAN"] = json!("DE89370400440532013001");
    m.post("/api/Preauth", bad).await;
    m.app.drain_outbox(60).await;

    let text = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    assert!(text.lines().count() > 10, "the run logged: {text}");
    for needle in [
        IBAN,
        "DE89 3704 0044 0532 0130 00",
        "370400440532013",
        "0532013001",
    ] {
        assert!(!text.contains(needle), "an IBAN in the logs: {needle}");
    }
}

/// One step of the generated sequences on one SEPA agreement.
#[derive(Debug, Clone)]
enum Op {
    /// Billwerk asks for a debit of this many cents.
    Debit(u32),
    /// The merchant revokes the mandate at Mollie (`DELETE`).
    Revoke,
    /// Mollie makes the mandate invalid (no webhook).
    Invalidate,
    /// Two days pass: pending debits are collected (or returned), webhooks delivered.
    Settle,
    /// An hour passes: Mollie's retries and late webhooks.
    Redeliver,
    /// The bank returns the oldest collected debit without a chargeback.
    Chargeback,
}

fn op() -> impl proptest::strategy::Strategy<Value = Op> {
    use proptest::prelude::*;
    prop_oneof![
        3 => (100u32..50_000).prop_map(Op::Debit),
        1 => Just(Op::Revoke),
        1 => Just(Op::Invalidate),
        2 => Just(Op::Settle),
        1 => Just(Op::Redeliver),
        1 => Just(Op::Chargeback),
    ]
}

/// Runs one sequence; a broken invariant is the error.
async fn sepa_case(m: &MollieApp, ops: Vec<Op>, bank_fails: bool) -> Result<(), String> {
    m.sim
        .update_knobs(|k| k.sepa_failure = bank_fails.then(|| "MD01".to_string()));
    let (pre, agr) = (tx_id(), agreement_id());
    let p = sepa_preauth(m, &pre, &agr).await;
    let (cst, mdt) = customer_and_mandate(&p);
    let mut gone = false;
    let mut charged_after_gone = false;
    let mut debits: Vec<(String, Option<String>)> = Vec::new();
    for op in ops {
        match op {
            Op::Debit(cents) => {
                let id = tx_id();
                let (s, d) = debit(m, &id, &agr, f64::from(cents) / 100.0).await;
                match (gone, s, d["status"].as_str()) {
                    (false, StatusCode::OK, Some("Pending")) => {
                        debits.push((id, d["pspTransactionId"].as_str().map(str::to_string)));
                    }
                    (true, StatusCode::UNPROCESSABLE_ENTITY, _)
                        if d["errorCode"] == "BearerInvalid" =>
                    {
                        charged_after_gone = true;
                    }
                    _ => return Err(format!("debit (mandate gone: {gone}) -> {s} {d}")),
                }
            }
            Op::Revoke => {
                at_mollie(
                    m,
                    Method::DELETE,
                    &format!("/v2/customers/{cst}/mandates/{mdt}"),
                )
                .await;
                gone = true;
            }
            Op::Invalidate => {
                m.sim.invalidate_mandate(&mdt)?;
                gone = true;
            }
            Op::Settle => {
                m.sim.advance_clock(3 * 24 * 3600);
                deliver_all(m).await;
            }
            Op::Redeliver => {
                m.sim.advance_clock(3600);
                deliver_all(m).await;
            }
            Op::Chargeback => {
                let paid = m.sim.payments().into_iter().find(|x| {
                    x["customerId"] == cst.as_str()
                        && x["status"] == "paid"
                        && x.get("amountChargedBack").is_none()
                });
                if let Some(x) = paid {
                    let tr = x["id"].as_str().unwrap_or_default();
                    m.sim.chargeback(tr, None, Some("MD06"), false)?;
                    deliver_all(m).await;
                }
            }
        }
    }
    m.sim.advance_clock(3 * 24 * 3600);
    deliver_all(m).await;
    m.app.drain_outbox(60).await;

    // At most one type-4 per agreement; exactly one once a charge found the mandate gone.
    let four = agreement_hooks(m)
        .into_iter()
        .filter(|h| h["AgreementId"] == agr.as_str())
        .count();
    if four > 1 || (charged_after_gone && four != 1) {
        return Err(format!(
            "{four} type-4 webhooks (charged after gone: {charged_after_gone})"
        ));
    }
    // Money: each debit as Mollie has it, collected once, charged back at most its amount.
    let at_mollie_now = m.sim.payments();
    for (id, tr) in &debits {
        let (_, d) = m.get(&format!("/api/Payment/{id}")).await;
        let theirs = at_mollie_now
            .iter()
            .find(|x| Some(x["id"].as_str().unwrap_or_default()) == tr.as_deref())
            .ok_or_else(|| format!("{id} unknown at Mollie"))?;
        let expected = match theirs["status"].as_str() {
            Some("paid") => "Succeeded",
            Some("failed") => "Failed",
            other => return Err(format!("{id} still {other:?} at Mollie")),
        };
        if d["status"] != expected {
            return Err(format!("{id}: ours {d}, Mollie's {theirs}"));
        }
        let sum = |k: &str| {
            d[k].as_array().map_or(0.0, |a| {
                a.iter().filter_map(|i| i["amount"].as_f64()).sum::<f64>()
            })
        };
        let requested = d["requestedAmount"].as_f64().unwrap_or_default();
        let collected = sum("payments");
        let charged_back = sum("chargebacks");
        let money_ok = if expected == "Succeeded" {
            (collected - requested).abs() < 1e-9 && charged_back <= requested + 1e-9
        } else {
            collected == 0.0 && charged_back == 0.0
        };
        let theirs_cb = theirs["_embedded"]["chargebacks"]
            .as_array()
            .map_or(0, Vec::len);
        let ours_cb = d["chargebacks"].as_array().map_or(0, Vec::len);
        if !money_ok || theirs_cb != ours_cb {
            return Err(format!("{id}: money differs: ours {d}, Mollie's {theirs}"));
        }
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_sequences_send_at_most_one_type4_and_keep_money() {
    use proptest::prelude::*;
    use proptest::test_runner::{Config, TestCaseError, TestRunner};
    let m = mollie().await;
    let cases = std::env::var("PSPI_MOLLIE_SEPA_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12);
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let strategy = (proptest::collection::vec(op(), 1..8), any::<bool>());
    let result = tokio::task::block_in_place(|| {
        runner.run(&strategy, |(ops, fails)| {
            handle
                .block_on(sepa_case(&m, ops, fails))
                .map_err(TestCaseError::fail)
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
