//! Classic webhooks: body, retry schedule, give-up, only 200 counts, redirects, and the
//! delivery knobs (duplicate, hold, fold, late, before the create answer) (§3.18, §3.20).
#![allow(clippy::unwrap_used)]

use serde_json::json;

use super::tests::{T, s, start};
use super::webhooks::RETRY_WAITS_SECS;

async fn paid(t: &T) -> String {
    let p = t.payment(json!({"method": "creditcard"})).await;
    t.checkout(&p, "paid", None).await;
    s(&p["id"]).to_string()
}

#[tokio::test]
async fn retries_follow_mollies_schedule_then_give_up() {
    let t = start().await;
    t.answer_hooks_with(500);
    let id = paid(&t).await;
    let first = t.sim.deliver_due().await;
    assert_eq!(
        (first.len(), first[0].attempt, first[0].status),
        (1, 1, Some(500))
    );
    for (n, wait) in RETRY_WAITS_SECS.iter().enumerate() {
        t.sim.advance_clock(wait - 1);
        assert!(
            t.sim.deliver_due().await.is_empty(),
            "attempt {} too early",
            n + 2
        );
        t.sim.advance_clock(1);
        let r = t.sim.deliver_due().await;
        assert_eq!((r.len(), r[0].attempt as usize), (1, n + 2));
        assert_eq!(r[0].gave_up, n == 8, "gives up after the tenth");
    }
    assert_eq!(
        RETRY_WAITS_SECS.iter().sum::<i64>(),
        26 * 3600,
        "the last attempt 26 h after the first"
    );
    assert_eq!(t.sim.pending_deliveries(), 0);
    t.sim.advance_clock(86_400);
    assert!(t.sim.deliver_due().await.is_empty());
    assert_eq!(t.hooks(), vec![format!("id={id}"); 10]);
    assert_eq!(t.sim.webhook_attempts().len(), 10);
}

#[tokio::test]
async fn only_200_counts_and_the_body_is_the_form_id() {
    let t = start().await;
    t.answer_hooks_with(204);
    let id = paid(&t).await;
    assert_eq!(
        t.sim.deliver_due().await[0].error.as_deref(),
        Some("HTTP 204")
    );
    t.answer_hooks_with(200);
    t.sim.advance_clock(60);
    let r = t.sim.deliver_due().await;
    assert_eq!(
        (r[0].status, r[0].error.clone(), r[0].attempt),
        (Some(200), None, 2)
    );
    assert_eq!(t.sim.pending_deliveries(), 0);
    assert_eq!(t.hooks(), vec![format!("id={id}"); 2]);
}

#[tokio::test]
async fn a_302_is_followed_as_a_get_without_body() {
    let t = start().await;
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let s2 = seen.clone();
    let app = axum::Router::new()
        .route(
            "/moved",
            axum::routing::post(|| async { axum::response::Redirect::to("/landing") }),
        )
        .route(
            "/landing",
            axum::routing::any(move |m: axum::http::Method, body: String| async move {
                s2.lock().unwrap().push(format!("{m} {body}"));
                "ok"
            }),
        );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/moved", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await });
    let p = t
        .payment(json!({"method": "creditcard", "webhookUrl": url}))
        .await;
    t.checkout(&p, "paid", None).await;
    let r = t.sim.deliver_due().await;
    assert_eq!(r[0].status, Some(200));
    assert_eq!(*seen.lock().unwrap(), vec!["GET ".to_string()]);
}

#[tokio::test]
async fn duplicate_hold_and_fold_knobs() {
    let t = start().await;
    t.sim.update_knobs(|k| k.duplicate_webhooks = true);
    let id = paid(&t).await;
    assert_eq!(t.sim.deliver_due().await.len(), 2);
    assert_eq!(t.hooks().len(), 2);
    t.sim.update_knobs(|k| {
        k.hold_webhooks = true;
        k.fold_webhooks = true;
    });
    t.post(
        &format!("/payments/{id}/refunds"),
        &json!({"amount": {"currency": "EUR", "value": "1.00"}}),
    )
    .await;
    t.sim.advance_clock(2 * 3600);
    t.sim.chargeback(&id, Some("2.00"), None, false).unwrap();
    assert!(t.sim.deliver_due().await.is_empty(), "held");
    assert_eq!(
        t.sim.pending_deliveries(),
        1,
        "refund processing and chargeback folded into one"
    );
    t.sim.update_knobs(|k| k.hold_webhooks = false);
    assert_eq!(t.sim.deliver_due().await.len(), 2, "still duplicated");
    assert_eq!(t.sim.pending_deliveries(), 0);
}

#[tokio::test]
async fn late_webhook_after_a_final_state() {
    let t = start().await;
    t.sim.update_knobs(|k| k.late_webhook_secs = 600);
    paid(&t).await;
    assert_eq!(t.sim.deliver_due().await.len(), 1);
    t.sim.advance_clock(599);
    assert!(t.sim.deliver_due().await.is_empty());
    t.sim.advance_clock(1);
    assert_eq!(t.sim.deliver_due().await.len(), 1);
}

#[tokio::test]
async fn webhook_before_the_create_answer() {
    let t = start().await;
    t.sim.update_knobs(|k| k.webhook_before_answer = true);
    let cst = t.customer().await;
    let m = json!({"method": "directdebit", "consumerName": "Jane", "consumerAccount": "NL91ABNA0417164300"});
    t.post(&format!("/customers/{cst}/mandates"), &m).await;
    let rec = json!({"amount": {"currency": "EUR", "value": "4.00"}, "description": "r", "sequenceType": "recurring", "customerId": cst, "webhookUrl": t.hook_url});
    let (st, p) = t.post("/payments", &rec).await;
    assert_eq!(st, 201);
    assert_eq!(
        t.hooks(),
        vec![format!("id={}", s(&p["id"]))],
        "arrived before the answer was read"
    );
    assert_eq!(t.sim.pending_deliveries(), 0);
}
