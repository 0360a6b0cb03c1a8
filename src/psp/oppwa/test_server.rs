//! A tiny in-test axum server with canned answers that records what the adapter sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{Oppwa, OppwaConfig};
use crate::domain::TxStatus;
use crate::psp::{Decline, Outcome, PspSettings};

pub const ENTITY: &str = "8ac7a4c9732a5c4601732b8f8c0d1a2b";
pub const MIT: &str = "8ac7a4c9732a5c4601732b8f8c0dffff";

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub auth: String,
    pub content_type: String,
    /// `X-Request-Id` (empty when absent).
    pub request_id: String,
    pub body: String,
}

#[derive(Clone)]
pub struct Canned(pub u16, pub &'static str, pub Duration);

#[derive(Default)]
pub struct Shared {
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
        request_id: header(&req, "x-request-id"),
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

pub async fn serve(answers: Vec<Canned>) -> (Oppwa, Arc<Shared>) {
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

pub fn adapter(base: &str) -> Oppwa {
    Oppwa::new(OppwaConfig {
        test_base_url: base.to_string(),
        live_base_url: "http://127.0.0.1:9".into(),
        timeout: Duration::from_millis(400),
        connect_timeout: Duration::from_millis(400),
        brands: "VISA".into(),
    })
}

pub fn ok(status: u16, body: &'static str) -> Canned {
    Canned(status, body, Duration::ZERO)
}

pub fn settings(mit: bool) -> PspSettings {
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

pub fn seen(shared: &Shared) -> Vec<Seen> {
    shared.seen.lock().expect("lock").clone()
}

pub fn decline_of(outcome: &Outcome) -> Option<(crate::domain::PaymentErrorCode, TxStatus)> {
    match outcome {
        Outcome::Declined(Decline { code, status, .. }) => Some((*code, *status)),
        _ => None,
    }
}

pub const CP_OK: &str = r#"{"id":"8ac7a4a09136ba2801913734d9e253d8",
  "referencedId":"8ac7a4a09136ba2801913706f2a221bf","paymentType":"CP","amount":"40.00",
  "currency":"EUR","result":{"code":"000.100.112","description":"ok"},
  "timestamp":"2024-05-06 07:08:09+0000"}"#;

impl Oppwa {
    /// The bound client for `s` (test settings are always usable).
    pub fn at(&self, s: &PspSettings) -> std::sync::Arc<dyn crate::psp::MerchantPsp> {
        let ctx = crate::psp::MerchantCtx {
            merchant_id: "m-test".into(),
            notification_url: "http://127.0.0.1:9/psp/oppwa/m-test/notifications".into(),
        };
        crate::psp::PaymentProvider::bind(self, s, &ctx).expect("usable test settings")
    }
}

/// A stored checkout without integrity data.
pub fn checkout<'a>(id: &'a str, merchant_tx_id: &'a str) -> crate::psp::CheckoutRef<'a> {
    crate::psp::CheckoutRef {
        checkout_id: id,
        data: None,
        merchant_tx_id,
    }
}
