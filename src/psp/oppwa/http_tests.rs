//! HTTP behaviour against a tiny in-test axum server with canned answers: what the adapter
//! sends (auth header, form body, entity) and how it reads timeouts, 5xx, 401 and declines.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::transformers::tests::{follow_up, preauth, stored};
use super::*;
use crate::domain::TxStatus;
use crate::psp::{Decline, Outcome};

const ENTITY: &str = "8ac7a4c9732a5c4601732b8f8c0d1a2b";
const MIT: &str = "8ac7a4c9732a5c4601732b8f8c0dffff";

#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: String,
    auth: String,
    content_type: String,
    body: String,
}

#[derive(Clone)]
struct Canned(u16, &'static str, Duration);

#[derive(Default)]
struct Shared {
    answers: Mutex<VecDeque<Canned>>,
    seen: Mutex<Vec<Seen>>,
}

fn header(req: &Request, name: &str) -> String {
    let value = req.headers().get(name).and_then(|v| v.to_str().ok());
    value.unwrap_or_default().to_string()
}

async fn handle(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let seen = Seen {
        method: req.method().to_string(),
        path: req.uri().path().to_string(),
        query: req.uri().query().unwrap_or_default().to_string(),
        auth: header(&req, "authorization"),
        content_type: header(&req, "content-type"),
        body: String::new(),
    };
    let bytes = axum::body::to_bytes(req.into_body(), 1 << 20)
        .await
        .unwrap_or_default();
    let body = String::from_utf8_lossy(&bytes).to_string();
    shared
        .seen
        .lock()
        .expect("lock")
        .push(Seen { body, ..seen });
    let Canned(status, body, delay) = {
        let mut answers = shared.answers.lock().expect("lock");
        if answers.len() > 1 {
            answers.pop_front()
        } else {
            answers.front().cloned()
        }
        .expect("a canned answer")
    };
    tokio::time::sleep(delay).await;
    let status = StatusCode::from_u16(status).expect("status");
    (status, [("content-type", "application/json")], body).into_response()
}

async fn serve(answers: Vec<Canned>) -> (Oppwa, Arc<Shared>) {
    let shared = Arc::new(Shared {
        answers: Mutex::new(answers.into()),
        ..Shared::default()
    });
    let app = Router::new().fallback(handle).with_state(shared.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (adapter(&format!("http://{addr}")), shared)
}

fn adapter(base: &str) -> Oppwa {
    Oppwa::new(OppwaConfig {
        test_base_url: base.to_string(),
        live_base_url: "http://127.0.0.1:9".into(),
        timeout: Duration::from_millis(400),
        connect_timeout: Duration::from_millis(400),
        brands: "VISA".into(),
    })
}

fn ok(status: u16, body: &'static str) -> Canned {
    Canned(status, body, Duration::ZERO)
}

fn settings(mit: bool) -> PspSettings {
    let mut s = PspSettings::default();
    s.0.insert("AccessToken".into(), "test-token".into());
    s.0.insert("EntityId".into(), ENTITY.into());
    s.0.insert("WebhookSecret".into(), "ab".repeat(32));
    s.0.insert("Environment".into(), "Test".into());
    if mit {
        s.0.insert("MitEntityId".into(), MIT.into());
    }
    s
}

fn seen(shared: &Shared) -> Vec<Seen> {
    shared.seen.lock().expect("lock").clone()
}

fn decline_of(outcome: &Outcome) -> Option<(crate::domain::PaymentErrorCode, TxStatus)> {
    match outcome {
        Outcome::Declined(Decline { code, status, .. }) => Some((*code, *status)),
        _ => None,
    }
}

const CP_OK: &str = r#"{"id":"8ac7a4a09136ba2801913734d9e253d8",
  "referencedId":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"CP","amount":"40.00",
  "currency":"EUR","result":{"code":"000.100.112","description":"ok"},
  "timestamp":"2024-05-06 07:08:09+0000"}"#;

#[tokio::test]
async fn capture_sends_bearer_and_form() {
    let (oppwa, shared) = serve(vec![ok(200, CP_OK)]).await;
    let r = oppwa
        .capture(&settings(true), &follow_up(Some("40"), false))
        .await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(
        r.psp_transaction_id.as_deref(),
        Some("8ac7a4a09136ba2801913734d9e253d8")
    );
    assert_eq!(r.amount.map(|a| a.to_string()).as_deref(), Some("40.00"));
    let s = &seen(&shared)[0];
    assert_eq!(s.method, "POST");
    assert_eq!(s.path, "/v1/payments/8ac7a4a09136ba2801913706f2a221bf");
    assert_eq!(s.auth, "Bearer test-token");
    assert_eq!(
        s.content_type,
        "application/x-www-form-urlencoded; charset=UTF-8"
    );
    let expected = format!(
        "entityId={ENTITY}&paymentType=CP&amount=40.00&currency=EUR\
         &merchantTransactionId=20221108-636bd596c10cfc318b1bfabd"
    );
    assert_eq!(s.body, expected);
}

#[tokio::test]
async fn entity_selection() {
    let (oppwa, shared) = serve(vec![ok(200, CP_OK)]).await;
    oppwa
        .refund(&settings(true), &follow_up(Some("1"), true))
        .await;
    oppwa.cancel(&settings(false), &follow_up(None, true)).await;
    oppwa
        .charge_stored(&settings(true), &stored(false, Some("S1")))
        .await;
    oppwa
        .authorize_stored(&settings(false), &stored(false, None))
        .await;
    let seen = seen(&shared);
    assert!(
        seen[0]
            .body
            .starts_with(&format!("entityId={MIT}&paymentType=RF"))
    );
    assert_eq!(
        seen[1].body,
        format!(
            "entityId={ENTITY}&paymentType=RV&merchantTransactionId=20221108-636bd596c10cfc318b1bfabd"
        )
    );
    assert_eq!(
        seen[2].path,
        "/v1/registrations/8ac7a4a09136ba2801913706f2a2aaaa/payments"
    );
    assert!(
        seen[2]
            .body
            .starts_with(&format!("entityId={MIT}&amount=15.50"))
    );
    assert!(
        seen[2]
            .body
            .contains("standingInstruction.initialTransactionId=S1")
    );
    assert!(
        seen[3]
            .body
            .starts_with(&format!("entityId={ENTITY}&amount=15.50"))
    );
}

#[tokio::test]
async fn unclear_answers_are_unknown() {
    let slow = Canned(200, CP_OK, Duration::from_secs(3));
    for answer in [
        slow,
        ok(503, "{}"),
        ok(200, "<html>oops</html>"),
        ok(502, CP_OK),
    ] {
        let (oppwa, _) = serve(vec![answer]).await;
        let r = oppwa
            .capture(&settings(false), &follow_up(Some("40"), false))
            .await;
        assert!(matches!(r.outcome, Outcome::Unknown(_)), "{:?}", r.outcome);
    }
    let down = adapter("http://127.0.0.1:9");
    let r = down
        .charge_stored(&settings(false), &stored(true, None))
        .await;
    assert!(matches!(r.outcome, Outcome::Unknown(_)));
}

#[tokio::test]
async fn unauthorized_and_declined() {
    use crate::domain::PaymentErrorCode as E;
    let bad_auth =
        r#"{"result":{"code":"800.900.300","description":"invalid authentication information"}}"#;
    let insufficient = r#"{"id":"8ac7a4a09136ba2801913706f2a22222","paymentType":"DB",
        "result":{"code":"800.100.203","description":"Insufficient Funds"}}"#;
    let pending = r#"{"id":"8ac7a4a09136ba2801913706f2a23333","paymentType":"DB",
        "result":{"code":"800.400.500","description":"Waiting for confirmation"}}"#;
    let (oppwa, _) = serve(vec![
        ok(401, bad_auth),
        ok(400, insufficient),
        ok(400, pending),
    ])
    .await;
    let r = oppwa
        .charge_stored(&settings(false), &stored(false, None))
        .await;
    assert_eq!(
        decline_of(&r.outcome),
        Some((E::LoginError, TxStatus::Failed))
    );
    assert_eq!(r.result_code.as_deref(), Some("800.900.300"));
    let r = oppwa
        .charge_stored(&settings(false), &stored(false, None))
        .await;
    assert_eq!(
        decline_of(&r.outcome),
        Some((E::InsufficientBalance, TxStatus::Failed))
    );
    let r = oppwa
        .charge_stored(&settings(false), &stored(true, None))
        .await;
    assert_eq!(r.outcome, Outcome::Pending);
}

#[tokio::test]
async fn card_preauth_redirects_to_checkout() {
    let created = r#"{"result":{"code":"000.200.100","description":"successfully created checkout"},
      "id":"FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03","integrity":"sha384-abc"}"#;
    let (oppwa, shared) = serve(vec![ok(200, created)]).await;
    let start = oppwa.start_preauth(&settings(false), &preauth("0")).await;
    let PreauthStart::Redirect(c) = start else {
        panic!("expected a redirect, got {start:?}");
    };
    assert_eq!(
        c.checkout_id,
        "FB76D9A1B7D1CAC70A03923F903F74FB.uat01-vm-tx03"
    );
    assert_eq!(c.integrity.as_deref(), Some("sha384-abc"));
    let s = &seen(&shared)[0];
    assert_eq!(s.path, "/v1/checkouts");
    assert!(
        s.body
            .starts_with(&format!("entityId={ENTITY}&amount=0.00&currency=EUR"))
    );
    assert!(s.body.contains("&merchantInvoiceId=Invoice+4711&"));
    assert!(s.body.ends_with("&integrity=true"));
}

#[tokio::test]
async fn sepa_preauth_registers_account() {
    let body = r#"{"id":"8ac7a4a09136ba2801913706f2a2bbbb","paymentBrand":"DIRECTDEBIT_SEPA",
      "result":{"code":"000.100.110","description":"ok"},"timestamp":"2024-01-02 03:04:05+0000"}"#;
    let (oppwa, shared) = serve(vec![ok(200, body)]).await;
    let mut req = preauth("0");
    req.method = InitialMethod::SepaDebit {
        holder: "Jane Jones".into(),
        iban: "DE89370400440532013000".into(),
        bic: None,
        mandate_id: "M-1".into(),
        signed_on: chrono::NaiveDate::from_ymd_opt(2024, 1, 2).expect("date"),
    };
    let PreauthStart::Done(r) = oppwa.start_preauth(&settings(false), &req).await else {
        panic!("expected a result");
    };
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(r.amount, Some(rust_decimal::Decimal::ZERO));
    let reg = r.registration.expect("registration");
    assert!(reg.is_debit);
    assert_eq!(
        reg.bearer.get("IBAN").map(String::as_str),
        Some("DE89**************3000")
    );
    assert_eq!(reg.bearer.get("RegistrationId"), Some(&reg.registration_id));
    assert_eq!(seen(&shared)[0].path, "/v1/registrations");
}

const NO_SESSION_BODY: &str = r#"{"result":{"code":"200.300.404","description":"invalid or missing parameter - (opp) No payment session found for the requested id"}}"#;
const NOT_FOUND_BODY: &str =
    r#"{"result":{"code":"700.400.580","description":"cannot find transaction"}}"#;

#[tokio::test]
async fn lapsed_checkout_without_payment_expires() {
    let answers = vec![ok(400, NO_SESSION_BODY), ok(400, NOT_FOUND_BODY)];
    let (oppwa, shared) = serve(answers).await;
    let r = oppwa
        .complete_checkout(&settings(true), "FB76.x", "20221108-tx")
        .await;
    let expected = (crate::domain::PaymentErrorCode::Canceled, TxStatus::Expired);
    assert_eq!(decline_of(&r.outcome), Some(expected));
    let seen = seen(&shared);
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/v1/checkouts/FB76.x/payment");
    assert_eq!(seen[0].query, format!("entityId={ENTITY}"));
    assert_eq!(
        seen[1].query,
        format!("entityId={ENTITY}&merchantTransactionId=20221108-tx")
    );
    assert_eq!(
        seen[2].query,
        format!("entityId={MIT}&merchantTransactionId=20221108-tx")
    );
}

#[tokio::test]
async fn lapsed_checkout_found_by_query() {
    let query = r#"{"result":{"code":"000.000.100","description":"successful request"},
      "payments":[{"id":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"PA","amount":"92.00",
        "currency":"EUR","result":{"code":"000.100.110","description":"ok"}}]}"#;
    let (oppwa, _) = serve(vec![ok(400, NO_SESSION_BODY), ok(200, query)]).await;
    let r = oppwa
        .complete_checkout(&settings(false), "FB76.x", "tx")
        .await;
    assert_eq!(r.outcome, Outcome::Succeeded);
    assert_eq!(
        r.psp_transaction_id.as_deref(),
        Some("8ac7a4a09136ba2801913706f2a221bf")
    );
}

#[tokio::test]
async fn check_settings_probes_credentials() {
    use crate::domain::PaymentErrorCode as E;
    let unknown_channel = r#"{"result":{"code":"800.900.201","description":"unknown channel"}}"#;
    let (oppwa, shared) = serve(vec![ok(400, NOT_FOUND_BODY)]).await;
    let valid = oppwa.check_settings(&settings(true)).await.expect("valid");
    assert!(valid.credit_card && valid.debit);
    assert_eq!(seen(&shared).len(), 2);
    assert!(
        seen(&shared)[1]
            .query
            .starts_with(&format!("entityId={MIT}&merchantTransactionId="))
    );
    for (status, body, code) in [
        (401, "{}", E::LoginError),
        (400, unknown_channel, E::LoginError),
    ] {
        let (oppwa, _) = serve(vec![ok(status, body)]).await;
        let e = oppwa
            .check_settings(&settings(false))
            .await
            .expect_err("rejected");
        assert_eq!(e.code, code);
    }
    let e = adapter("http://127.0.0.1:9")
        .check_settings(&settings(false))
        .await;
    assert_eq!(e.map_err(|e| e.code), Err(E::PSPConnectionProblem));
    let (oppwa, _) = serve(vec![Canned(400, NOT_FOUND_BODY, Duration::from_secs(3))]).await;
    let e = oppwa
        .check_settings(&settings(false))
        .await
        .map_err(|e| e.code);
    assert_eq!(e, Err(E::PSPConnectionTimeout));
}

#[tokio::test]
async fn fetch_status_falls_back_to_mit_entity() {
    let (oppwa, shared) = serve(vec![ok(400, NOT_FOUND_BODY), ok(200, CP_OK)]).await;
    let r = oppwa
        .fetch_status(&settings(true), "8ac7a4a09136ba2801913734d9e253d8")
        .await;
    assert_eq!(r.map(|r| r.outcome), Ok(Outcome::Succeeded));
    assert_eq!(seen(&shared)[1].query, format!("entityId={MIT}"));
    let e = adapter("http://127.0.0.1:9")
        .fetch_status(&settings(false), "abc")
        .await;
    assert!(e.is_err());
}
