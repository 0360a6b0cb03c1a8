//! Webhook tests: a loopback receiver decrypts every delivery with its own AES-GCM code.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use aes_gcm::aead::{Aead, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::extract::State as AxState;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::*;

/// Vectors A and B of `fixtures/oppwa/webhook-decryption-vectors.json` (contract §6.5).
const VECTORS: &[(&str, &str, &str, &str, &str)] = &[
    (
        "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f",
        "000000000000000000000000",
        "CE573FB7A41AB78E743180DC83FF09BD",
        "0A3471C72D9BE49A8520F79C66BBD9A12FF9",
        "{\"type\":\"PAYMENT\"}",
    ),
    (
        "000102030405060708090A0B0C0D0E0F000102030405060708090A0B0C0D0E0F",
        "3D575574536D450F71AC76D8",
        "19FDD068C6F383C173D3A906F7BD1D83",
        "F8E2F759E528CB69375E51DB2AF9B53734E393",
        "{\"type\": \"PAYMENT\"}",
    ),
];

fn decrypt(key_hex: &str, iv_hex: &str, tag_hex: &str, body_hex: &str) -> Result<Vec<u8>, String> {
    let key = hex::decode(key_hex).map_err(|e| e.to_string())?;
    let iv: [u8; 12] = hex::decode(iv_hex)
        .map_err(|e| e.to_string())?
        .try_into()
        .map_err(|_| "IV must be 12 bytes".to_string())?;
    let mut ct = hex::decode(body_hex).map_err(|e| e.to_string())?;
    ct.extend(hex::decode(tag_hex).map_err(|e| e.to_string())?);
    let cipher = Aes256Gcm::new_from_slice(&key).map_err(|e| e.to_string())?;
    cipher
        .decrypt(&Nonce::from(iv), ct.as_ref())
        .map_err(|e| e.to_string())
}

#[test]
fn encryption_matches_vectors_a_and_b() {
    for (key, iv, tag, body, plain) in VECTORS {
        let iv_bytes: [u8; 12] = hex::decode(iv).unwrap().try_into().unwrap();
        let e = encrypt_notification(key, plain.as_bytes(), Some(iv_bytes)).unwrap();
        assert!(e.body_hex.eq_ignore_ascii_case(body), "body for {plain}");
        assert!(e.tag_hex.eq_ignore_ascii_case(tag), "tag for {plain}");
        assert!(e.iv_hex.eq_ignore_ascii_case(iv));
        assert_eq!(decrypt(key, iv, tag, body).unwrap(), plain.as_bytes());
    }
}

#[test]
fn encryption_round_trips_with_random_iv() {
    let msg = br#"{"type":"PAYMENT","payload":{"id":"x"}}"#;
    let a = encrypt_notification(SANDBOX_WEBHOOK_SECRET, msg, None).unwrap();
    let b = encrypt_notification(SANDBOX_WEBHOOK_SECRET, msg, None).unwrap();
    assert_ne!(a.iv_hex, b.iv_hex);
    assert_eq!(a.body_hex, a.body_hex.to_uppercase());
    let back = decrypt(SANDBOX_WEBHOOK_SECRET, &a.iv_hex, &a.tag_hex, &a.body_hex).unwrap();
    assert_eq!(back, msg);
    assert!(encrypt_notification("abcd", msg, None).is_err());
}

/// What the receiver saw; `status` is what it answers.
struct Inbox {
    msgs: Vec<Value>,
    status: u16,
}

#[derive(Clone)]
pub(super) struct Receiver {
    pub url: String,
    inbox: Arc<Mutex<Inbox>>,
}

impl Receiver {
    pub fn msgs(&self) -> Vec<Value> {
        self.inbox.lock().unwrap().msgs.clone()
    }
    pub fn answer(&self, status: u16) {
        self.inbox.lock().unwrap().status = status;
    }
    pub fn clear(&self) {
        self.inbox.lock().unwrap().msgs.clear();
    }
}

async fn receive(
    AxState(inbox): AxState<Arc<Mutex<Inbox>>>,
    headers: HeaderMap,
    body: String,
) -> StatusCode {
    let h = |n: &str| {
        headers
            .get(n)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let upper = body == body.to_uppercase();
    let text_plain = h("content-type") == "text/plain";
    let got = decrypt(
        SECRET,
        &h("x-initialization-vector"),
        &h("x-authentication-tag"),
        &body,
    );
    let msg = match (got, upper && text_plain) {
        (Ok(p), true) => serde_json::from_slice(&p).unwrap_or(Value::Null),
        (r, _) => Value::String(format!("bad delivery: {r:?} upper={upper} ct={text_plain}")),
    };
    let mut i = inbox.lock().unwrap();
    i.msgs.push(msg);
    StatusCode::from_u16(i.status).unwrap()
}

const SECRET: &str = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

pub(super) async fn receiver() -> Receiver {
    let inbox = Arc::new(Mutex::new(Inbox {
        msgs: Vec::new(),
        status: 200,
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(inbox.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    Receiver { url, inbox }
}

pub(super) struct Env {
    pub sim: Sim,
    pub base: String,
    pub c: reqwest::Client,
    pub rx: Receiver,
    _stop: tokio_util::sync::DropGuard,
}

pub(super) async fn env_with(cfg: SimConfig) -> Env {
    let stop = CancellationToken::new();
    let h = Sim::spawn(cfg, "127.0.0.1:0".parse().unwrap(), stop.clone())
        .await
        .unwrap();
    Env {
        sim: h.sim,
        base: h.base_url,
        c: reqwest::Client::new(),
        rx: receiver().await,
        _stop: stop.drop_guard(),
    }
}

impl Env {
    pub fn hook_config(&self, fields: &str) -> WebhookConfig {
        WebhookConfig {
            url: self.rx.url.clone(),
            secret_hex: SECRET.into(),
            entity_id: None,
            types: vec![],
            fields: fields.into(),
        }
    }

    /// Adds and activates a webhook; returns its id.
    pub async fn hook(&self, cfg: WebhookConfig) -> u64 {
        let id = self.sim.add_webhook(cfg);
        assert_eq!(self.sim.activate_webhook(id).await, Ok(200));
        self.rx.clear();
        id
    }

    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Value {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .bearer_auth(SANDBOX_ACCESS_TOKEN)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(pairs).unwrap())
            .send()
            .await
            .unwrap();
        r.json().await.unwrap()
    }

    pub async fn admin(&self, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .c
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap())
    }

    pub async fn card_payment(&self, ptype: &str, amount: &str, mtid: &str) -> Value {
        let p = [
            ("entityId", SANDBOX_ENTITY_ID),
            ("amount", amount),
            ("currency", "EUR"),
            ("paymentType", ptype),
            ("paymentBrand", "VISA"),
            ("card.number", "4200000000000000"),
            ("card.holder", "Jane Jones"),
            ("card.expiryMonth", "05"),
            ("card.expiryYear", "2034"),
            ("card.cvv", "123"),
            ("merchantTransactionId", mtid),
            ("customer.email", "jane@example.com"),
            ("billing.city", "Berlin"),
        ];
        self.post("/v1/payments", &p).await
    }

    pub async fn sepa_debit(&self) -> Value {
        let p = [
            ("entityId", SANDBOX_ENTITY_ID),
            ("amount", "12.00"),
            ("currency", "EUR"),
            ("paymentType", "DB"),
            ("paymentBrand", "DIRECTDEBIT_SEPA"),
            ("bankAccount.holder", "Max Muster"),
            ("bankAccount.iban", "DE89370400440532013000"),
            ("bankAccount.mandate.id", "M-1"),
            ("bankAccount.mandate.dateOfSignature", "2025-01-02"),
        ];
        self.post("/v1/payments", &p).await
    }
}

pub(super) fn code(v: &Value) -> &str {
    v["result"]["code"].as_str().unwrap_or("")
}
