//! What an operator reads in the logs about one payment: the request line and the PSP call
//! line name Billwerk's transactionId, the merchant and the outcome; a decline and a refused
//! request read differently; no card number or IBAN appears.

use std::sync::{Arc, Mutex};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

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

/// The captured JSON lines.
fn lines(capture: &Capture) -> Vec<Value> {
    let text = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("a JSON log line"))
        .collect()
}

/// A field of the line's event, or of any span it is in.
fn field<'a>(line: &'a Value, name: &str) -> Option<&'a Value> {
    line["fields"]
        .get(name)
        .or_else(|| line["spans"].as_array()?.iter().find_map(|s| s.get(name)))
}

fn text<'a>(line: &'a Value, name: &str) -> Option<&'a str> {
    field(line, name).and_then(Value::as_str)
}

/// The one line with `message` about transaction `tx`.
fn line_about<'a>(all: &'a [Value], message: &str, tx: &str) -> &'a Value {
    let found: Vec<&Value> = all
        .iter()
        .filter(|l| l["fields"]["message"] == message && text(l, "transaction_id") == Some(tx))
        .collect();
    assert_eq!(found.len(), 1, "one '{message}' line about {tx}: {found:?}");
    found[0]
}

#[tokio::test(flavor = "current_thread")]
async fn a_payment_request_logs_transaction_merchant_and_outcome_without_payment_data() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .json()
        .finish();
    // Single-threaded runtime: every task of the service logs through this subscriber.
    let _guard = tracing::subscriber::set_default(subscriber);

    let app = TestApp::spawn().await;
    let agr = sepa_agreement(&app).await;
    let debit = |id: &str| {
        let mut b = recurring_body(id, &agr, 12.5);
        b["paymentMeansReference"]["role"] = json!("Debit");
        b
    };
    let (paid, declined) = (tx_id(), tx_id());
    let (s, p) = app.post("/api/Payment", debit(&paid)).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    app.sim.sim.force_next_result("800.100.203");
    let (s, e) = app.post("/api/Payment", debit(&declined)).await;
    assert_error(s, &e, 422, "InsufficientBalance", "");
    let mut invalid = debit(&tx_id());
    invalid["requestedAmount"] = json!("twelve");
    let (s, e) = app.post("/api/Payment", invalid).await;
    assert_error(s, &e, 422, "InvalidData", "requestedAmount");

    let all = lines(&capture);
    // The request line of the payment: route, merchant, Billwerk's id, outcome, PSP result.
    let line = line_about(&all, "request answered", &paid);
    assert_eq!(line["level"], "INFO");
    assert_eq!(text(line, "route"), Some("/api/Payment"));
    assert_eq!(text(line, "merchant_id"), Some(app.merchant_id.as_str()));
    assert_eq!(text(line, "outcome"), Some("ok"));
    assert_eq!(
        text(line, "tx_status"),
        Some(p["status"].as_str().expect("status"))
    );
    let code = text(line, "psp_result_code").expect("the PSP's result code");
    assert!(code.contains('.'), "an OPPWA result code: {code}");
    // The PSP call line, at info, in the same request.
    let call = line_about(&all, "PSP answered", &paid);
    assert_eq!(call["level"], "INFO");
    assert_eq!(text(call, "merchant_id"), Some(app.merchant_id.as_str()));
    assert_eq!(text(call, "result_code"), Some(code));
    assert_eq!(text(call, "request_id"), text(line, "request_id"));
    assert!(field(call, "latency_ms").is_some() && text(call, "operation").is_some());

    // A decline and a refused request are both 422, and read differently.
    let line = line_about(&all, "request answered", &declined);
    assert_eq!(
        (
            field(line, "status"),
            text(line, "outcome"),
            text(line, "error_code"),
            text(line, "psp_error_code"),
            text(line, "tx_status"),
        ),
        (
            Some(&json!(422)),
            Some("declined"),
            Some("InsufficientBalance"),
            Some("800.100.203"),
            Some("Failed")
        )
    );
    let refused: Vec<&Value> = all
        .iter()
        .filter(|l| {
            l["fields"]["message"] == "request answered"
                && text(l, "error_code") == Some("InvalidData")
        })
        .collect();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(text(refused[0], "outcome"), Some("refused"));
    assert_eq!(field(refused[0], "status"), Some(&json!(422)));

    let raw = String::from_utf8(capture.0.lock().expect("lock").clone()).expect("utf-8");
    for (what, secret) in [
        ("API token", app.token.as_str()),
        ("IBAN", "DE89370400440532013000"),
        ("IBAN (grouped)", "DE89 3704 0044 0532 0130 00"),
        ("card number", "4200000000000000"),
    ] {
        assert!(!raw.contains(secret), "{what} appears in the logs");
    }
}
