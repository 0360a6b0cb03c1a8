//! Black-box tests over loopback HTTP: the harness (a spawned simulator on port 0, a webhook
//! receiver) and the tests of payments, customers, the checkout page and mandates.
#![allow(clippy::unwrap_used)]

use std::sync::{Arc, Mutex};

use axum::extract::State as AxState;
use axum::http::StatusCode;
use reqwest::redirect::Policy;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;

pub(super) const KEY: &str = SANDBOX_TEST_KEY;

/// What the webhook receiver saw (form bodies) and the status it answers.
#[derive(Default)]
pub(super) struct Inbox {
    pub bodies: Vec<String>,
    pub status: u16,
}

pub(super) struct T {
    pub base: String,
    pub sim: Sim,
    pub c: reqwest::Client,
    pub hook_url: String,
    pub inbox: Arc<Mutex<Inbox>>,
    _stop: tokio_util::sync::DropGuard,
}

async fn receive(AxState(inbox): AxState<Arc<Mutex<Inbox>>>, body: String) -> StatusCode {
    let mut i = inbox.lock().unwrap();
    i.bodies.push(body);
    StatusCode::from_u16(i.status).unwrap()
}

pub(super) async fn start_with(mut cfg: SimConfig) -> T {
    cfg.frozen_clock = true;
    let stop = CancellationToken::new();
    let h = Sim::spawn(cfg, "127.0.0.1:0".parse().unwrap(), stop.clone())
        .await
        .unwrap();
    let inbox = Arc::new(Mutex::new(Inbox {
        bodies: Vec::new(),
        status: 200,
    }));
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(inbox.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_url = format!("http://{}/hook", listener.local_addr().unwrap());
    let s = stop.clone();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { s.cancelled().await })
            .await;
    });
    let c = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    T {
        base: h.base_url,
        sim: h.sim,
        c,
        hook_url,
        inbox,
        _stop: stop.drop_guard(),
    }
}

pub(super) async fn start() -> T {
    start_with(SimConfig::default()).await
}

pub(super) fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

impl T {
    pub async fn send(&self, rb: reqwest::RequestBuilder) -> (u16, Value) {
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post_as(&self, key: &str, path: &str, body: &Value) -> (u16, Value) {
        self.send(
            self.c
                .post(format!("{}/v2{path}", self.base))
                .bearer_auth(key)
                .json(body),
        )
        .await
    }

    pub async fn post(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_as(KEY, path, body).await
    }

    pub async fn get_as(&self, key: &str, path: &str) -> (u16, Value) {
        self.send(
            self.c
                .get(format!("{}/v2{path}", self.base))
                .bearer_auth(key),
        )
        .await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.get_as(KEY, path).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(
            self.c
                .delete(format!("{}/v2{path}", self.base))
                .bearer_auth(KEY),
        )
        .await
    }

    pub async fn customer(&self) -> String {
        let (st, c) = self
            .post(
                "/customers",
                &json!({"name": "Jane", "email": "jane@example.com"}),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        s(&c["id"]).to_string()
    }

    /// A one-off (or `extra`-modified) payment with a webhook to the receiver.
    pub async fn payment(&self, extra: Value) -> Value {
        let mut body = json!({
            "amount": {"currency": "EUR", "value": "10.00"},
            "description": "Order 1",
            "redirectUrl": "https://shop.example/return",
            "webhookUrl": self.hook_url,
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        let (st, p) = self.post("/payments", &body).await;
        assert_eq!(st, 201, "{p}");
        p
    }

    /// Submits `outcome` on the hosted test checkout page; returns the redirect target.
    pub async fn checkout(&self, p: &Value, outcome: &str, method: Option<&str>) -> String {
        let href = s(&p["_links"]["checkout"]["href"]).to_string();
        let mut form = vec![("outcome", outcome.to_string())];
        if let Some(m) = method {
            form.push(("method", m.to_string()));
        }
        let r = self.c.post(&href).form(&form).send().await.unwrap();
        assert_eq!(
            r.status().as_u16(),
            303,
            "{outcome}: {}",
            r.text().await.unwrap()
        );
        r.headers()["location"].to_str().unwrap().to_string()
    }

    pub async fn status_of(&self, id: &str) -> String {
        let (st, p) = self.get(&format!("/payments/{id}")).await;
        assert_eq!(st, 200, "{p}");
        s(&p["status"]).to_string()
    }

    /// A customer with a paid card first payment; returns (customer, payment, mandate).
    pub async fn card_mandate(&self) -> (String, String, String) {
        let cst = self.customer().await;
        let p = self
            .payment(json!({"customerId": cst, "sequenceType": "first", "method": "creditcard"}))
            .await;
        self.checkout(&p, "paid", None).await;
        let (_, paid) = self.get(&format!("/payments/{}", s(&p["id"]))).await;
        (cst, s(&p["id"]).into(), s(&paid["mandateId"]).into())
    }

    pub fn hooks(&self) -> Vec<String> {
        self.inbox.lock().unwrap().bodies.clone()
    }

    pub fn answer_hooks_with(&self, status: u16) {
        self.inbox.lock().unwrap().status = status;
    }
}
