//! `Idempotency-Key`, transport faults, the Methods API and the state file (§3.19, §3.20,
//! §3.22, §3.23).
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::tests::{KEY, T, s, start, start_with};
use super::*;

fn order(n: u32) -> Value {
    json!({
        "amount": {"currency": "EUR", "value": "10.00"},
        "description": "Order",
        "redirectUrl": "https://shop.example/r",
        "metadata": {"order": n},
    })
}

impl T {
    fn keyed(&self, key: &str, body: &Value) -> reqwest::RequestBuilder {
        self.c
            .post(format!("{}/v2/payments", self.base))
            .bearer_auth(KEY)
            .header("Idempotency-Key", key)
            .json(body)
    }
}

#[tokio::test]
async fn idempotency_replays_refuses_reuse_and_forgets_after_an_hour() {
    let t = start().await;
    let r1 = t.keyed("key-1", &order(1)).send().await.unwrap();
    assert!(r1.headers().get("idempotent-replayed").is_none());
    let first: Value = r1.json().await.unwrap();
    let r2 = t.keyed("key-1", &order(1)).send().await.unwrap();
    assert_eq!(
        (
            r2.status().as_u16(),
            r2.headers()["idempotent-replayed"].to_str().unwrap()
        ),
        (201, "true")
    );
    let again: Value = r2.json().await.unwrap();
    assert_eq!(first["id"], again["id"]);
    let (st, e) = t.send(t.keyed("key-1", &order(2))).await;
    assert_eq!(
        (st, s(&e["detail"])),
        (400, "This Idempotency-Key has already been used")
    );
    assert_eq!(t.sim.count_payments_with_metadata(&json!({"order": 1})), 1);
    t.sim.advance_clock(3600);
    let (st, later) = t.send(t.keyed("key-1", &order(1))).await;
    assert_eq!(st, 201);
    assert_ne!(
        later["id"], first["id"],
        "the key is forgotten after an hour"
    );
}

#[tokio::test]
async fn a_key_still_running_gets_409() {
    let t = start().await;
    t.sim.update_knobs(|k| k.delay_ms = 300);
    let slow = t.send(t.keyed("busy", &order(1)));
    let second = async {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        t.send(t.keyed("busy", &order(1))).await
    };
    let ((st1, _), (st2, e)) = tokio::join!(slow, second);
    assert_eq!((st1, st2), (201, 409));
    assert!(s(&e["detail"]).contains("already being processed"));
}

#[tokio::test]
async fn a_dropped_create_answer_is_recovered_by_replaying_the_key() {
    let t = start().await;
    t.sim.update_knobs(|k| k.drop_after_commit = 1);
    let lost = t.keyed("lost-1", &order(7)).send().await;
    let lost = match lost {
        Err(e) => e.to_string(),
        Ok(r) => format!("{:?}", r.text().await.map(|_| "body read").unwrap_err()),
    };
    assert!(!lost.is_empty());
    assert_eq!(
        t.sim.count_payments_with_metadata(&json!({"order": 7})),
        1,
        "committed"
    );
    let r = t.keyed("lost-1", &order(7)).send().await.unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    assert_eq!(
        t.sim.count_payments_with_metadata(&json!({"order": 7})),
        1,
        "exactly one charge"
    );
}

#[tokio::test]
async fn error_and_rate_limit_knobs() {
    let t = start().await;
    t.sim.update_knobs(|k| {
        k.error_status = 502;
        k.error_times = 2;
    });
    for _ in 0..2 {
        let (st, e) = t.get("/payments").await;
        assert_eq!((st, e["status"].clone()), (502, json!(502)));
    }
    assert_eq!(t.get("/payments").await.0, 200);
    assert_eq!(t.sim.payments().len(), 0, "refused before processing");
    t.sim.advance_clock(1);
    t.sim.update_knobs(|k| k.rate_limit_per_sec = 2);
    let mut codes = Vec::new();
    for _ in 0..3 {
        codes.push(t.get("/payments").await.0);
    }
    assert_eq!(
        codes,
        vec![200, 200, 429],
        "the frozen clock keeps one second"
    );
    t.sim.advance_clock(1);
    assert_eq!(t.get("/payments").await.0, 200);
}

#[tokio::test]
async fn transient_404_after_a_webhook() {
    let t = start().await;
    t.sim.update_knobs(|k| k.transient_404_gets = 2);
    let p = t.payment(json!({"method": "creditcard"})).await;
    let id = s(&p["id"]).to_string();
    assert_eq!(t.get(&format!("/payments/{id}")).await.0, 200);
    t.checkout(&p, "paid", None).await;
    t.sim.deliver_due().await;
    assert_eq!(t.get(&format!("/payments/{id}")).await.0, 404);
    assert_eq!(t.get(&format!("/payments/{id}")).await.0, 404);
    assert_eq!(t.status_of(&id).await, "paid");
}

/// The receiver's own fetch while it handles the webhook is the one that sees the 404: the
/// counter is armed as the webhook is sent, not after it was answered.
#[tokio::test]
async fn transient_404_reaches_the_receivers_own_fetch() {
    let t = start().await;
    t.sim.update_knobs(|k| k.transient_404_gets = 1);
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<u16>::new()));
    let (base, log) = (t.base.clone(), seen.clone());
    let fetching = axum::Router::new().route(
        "/fetching",
        axum::routing::post(move |body: String| {
            let (base, log) = (base.clone(), log.clone());
            async move {
                let id = body.trim_start_matches("id=").to_string();
                let r = reqwest::Client::new()
                    .get(format!("{base}/v2/payments/{id}"))
                    .bearer_auth(KEY)
                    .send()
                    .await
                    .unwrap();
                log.lock().unwrap().push(r.status().as_u16());
                axum::http::StatusCode::OK
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/fetching", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, fetching).await;
    });
    let p = t
        .payment(json!({"method": "creditcard", "webhookUrl": url}))
        .await;
    let id = s(&p["id"]).to_string();
    t.checkout(&p, "paid", None).await;
    t.sim.deliver_due().await;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![404],
        "the fetch inside the call"
    );
    assert_eq!(t.status_of(&id).await, "paid", "a moment later it is there");
}

#[tokio::test]
async fn methods_api_filters_by_sequence_and_amount() {
    let t = start().await;
    let ids = |v: &Value| -> Vec<String> {
        v["_embedded"]["methods"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| s(&m["id"]).to_string())
            .collect()
    };
    let (st, all) = t.get("/methods").await;
    assert_eq!(st, 200);
    assert!(
        ids(&all).contains(&"ideal".to_string()) && !ids(&all).contains(&"directdebit".to_string())
    );
    let (_, rec) = t.get("/methods?sequenceType=recurring").await;
    assert_eq!(ids(&rec), vec!["creditcard", "directdebit", "paypal"]);
    let (_, first) = t.get("/methods?sequenceType=first").await;
    assert!(
        ids(&first).contains(&"creditcard".to_string())
            && !ids(&first).contains(&"banktransfer".to_string())
    );
    let (_, usd) = t
        .get("/methods?amount[value]=10.00&amount[currency]=USD")
        .await;
    assert_eq!(ids(&usd), vec!["applepay", "creditcard", "paypal"]);
    let (st, e) = t
        .get("/methods?amount[value]=10.0&amount[currency]=EUR")
        .await;
    assert_eq!((st, s(&e["field"])), (400, "amount.value"));
    t.sim
        .update_knobs(|k| k.disabled_methods = vec!["creditcard".into()]);
    let (_, first) = t.get("/methods?sequenceType=first").await;
    assert!(!ids(&first).contains(&"creditcard".to_string()));
    let (st, m) = t.get("/methods/ideal").await;
    assert_eq!((st, s(&m["minimumAmount"]["value"])), (200, "0.01"));
    assert_eq!(
        t.get("/methods").await.1["_embedded"]["methods"][0]["resource"],
        "method"
    );
}

#[tokio::test]
async fn state_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = SimConfig {
        state_file: Some(dir.path().join("nested/mollie.json")),
        ..SimConfig::default()
    };
    let (cst, pid, mdt) = {
        let t = start_with(cfg.clone()).await;
        t.card_mandate().await
    };
    let t = start_with(cfg).await;
    let (st, p) = t.get(&format!("/payments/{pid}")).await;
    assert_eq!(
        (st, s(&p["status"]), s(&p["mandateId"])),
        (200, "paid", mdt.as_str())
    );
    assert_eq!(
        t.sim.pending_deliveries(),
        1,
        "the undelivered webhook was kept"
    );
    let rec = json!({"amount": {"currency": "EUR", "value": "3.00"}, "description": "r", "sequenceType": "recurring", "customerId": cst});
    assert_eq!(
        t.post("/payments", &rec).await.0,
        201,
        "the mandate is still there"
    );
}

#[tokio::test]
async fn open_keys_admit_new_merchants_isolated_from_each_other() {
    let t = start_with(SimConfig {
        open_keys: true,
        ..SimConfig::default()
    })
    .await;
    let a = "test_merchantAAAAAAAAAAAAAAAAAAAAAAAAAA";
    let (st, p) = t.post_as(a, "/payments", &order(1)).await;
    assert_eq!(st, 201);
    let path = format!("/payments/{}", s(&p["id"]));
    assert_eq!(t.get_as(a, &path).await.0, 200);
    let (st, e) = t
        .get_as("live_merchantAAAAAAAAAAAAAAAAAAAAAAAAAA", &path)
        .await;
    assert!(st == 404 && s(&e["detail"]).contains("wrong mode"), "{e}");
    assert_eq!(
        t.get_as("test_merchantBBBBBBBBBBBBBBBBBBBBBBBBBB", &path)
            .await
            .0,
        404
    );
    assert_eq!(t.get_as("not_a_key", &path).await.0, 401);
}

#[tokio::test]
async fn admin_api_over_http() {
    let t = start().await;
    let k: Value =
        t.c.get(format!("{}/__admin/knobs", t.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        (k["holdWebhooks"].clone(), k["refundDelaySecs"].clone()),
        (json!(false), json!(7200))
    );
    let set =
        t.c.post(format!("{}/__admin/knobs", t.base))
            .json(&json!({"failFast": 1}))
            .send()
            .await
            .unwrap();
    assert_eq!(set.status().as_u16(), 422, "unknown knobs are refused");
    let r =
        t.c.post(format!("{}/__admin/knobs", t.base))
            .json(&json!({"sepaFailure": "AC01"}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(t.sim.knobs().sepa_failure.as_deref(), Some("AC01"));
    let p = t.payment(json!({"method": "creditcard"})).await;
    let url = format!("{}/__admin/payments/{}/status", t.base, s(&p["id"]));
    let r: Value =
        t.c.post(&url)
            .json(&json!({"status": "paid"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(s(&r["status"]), "paid");
    let url = format!("{}/__admin/payments/{}/chargebacks", t.base, s(&p["id"]));
    let cb: Value =
        t.c.post(&url)
            .json(&json!({"amount": "1.00"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(s(&cb["amount"]["value"]), "1.00");
    let d: Value =
        t.c.post(format!("{}/__admin/webhooks/deliver", t.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(
        (
            d["attempts"].as_array().unwrap().len(),
            d["pending"].clone()
        ),
        (2, json!(0))
    );
}
