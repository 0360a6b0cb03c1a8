//! Webhook delivery semantics: retry ladder, failing destinations, faults, field filters, entities.
#![allow(clippy::unwrap_used)]

use serde_json::Value;

use super::webhook_tests::{Env, env_with};
use super::*;

async fn env() -> Env {
    env_with(SimConfig::default()).await
}

fn ids(msgs: &[Value]) -> Vec<String> {
    msgs.iter()
        .map(|m| m["payload"]["id"].as_str().unwrap_or("?").to_string())
        .collect()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn retries_follow_the_ladder_and_stop_after_success() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    e.rx.answer(500);
    e.card_payment("DB", "1.00", "r-1").await;
    let first = e.sim.deliver_due().await;
    assert_eq!(
        (first.len(), first[0].status, first[0].attempt),
        (1, Some(500), 1)
    );
    for (n, wait) in [60i64, 120, 240, 480, 900, 1800, 3600, 86_400, 86_400]
        .iter()
        .enumerate()
    {
        e.sim.advance_clock(wait - 2);
        assert!(e.sim.deliver_due().await.is_empty(), "retry {n} too early");
        e.sim.advance_clock(2);
        let r = e.sim.deliver_due().await;
        assert_eq!(r.len(), 1, "retry {n} due after {wait}s");
        assert_eq!(r[0].attempt as usize, n + 2);
    }
    e.rx.answer(200);
    e.sim.advance_clock(86_400);
    let r = e.sim.deliver_due().await;
    assert_eq!((r[0].status, r[0].error.clone()), (Some(200), None));
    assert_eq!(e.sim.pending_deliveries(), 0);
    e.sim.advance_clock(10 * 86_400);
    assert!(e.sim.deliver_due().await.is_empty());
    assert_eq!(e.rx.msgs().len(), 11);
}

#[tokio::test]
async fn gives_up_after_thirty_days() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    e.rx.answer(503);
    e.card_payment("DB", "1.00", "g-1").await;
    let mut last = e.sim.deliver_due().await;
    for _ in 0..60 {
        if e.sim.pending_deliveries() == 0 {
            break;
        }
        e.sim.advance_clock(86_400);
        last = e.sim.deliver_due().await;
    }
    assert_eq!(e.sim.pending_deliveries(), 0);
    assert!(last[0].error.as_deref().unwrap().contains("gave up"));
}

#[tokio::test]
async fn failing_destination_holds_its_queue() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    e.rx.answer(500);
    let a = id_of(&e.card_payment("DB", "1.00", "h-1").await);
    assert_eq!(e.sim.deliver_due().await.len(), 1);
    let b = id_of(&e.card_payment("DB", "2.00", "h-2").await);
    assert!(
        e.sim.deliver_due().await.is_empty(),
        "held back while failing"
    );
    e.sim.advance_clock(60);
    assert_eq!(
        e.sim.deliver_due().await.len(),
        1,
        "only the failing message is retried"
    );
    e.rx.answer(200);
    e.sim.advance_clock(120);
    let r = e.sim.deliver_due().await;
    assert_eq!(r.len(), 2);
    assert_eq!(ids(&e.rx.msgs()), vec![a.clone(), a.clone(), a.clone(), b]);
    assert_eq!(e.sim.pending_deliveries(), 0);
}

#[tokio::test]
async fn duplicate_reverse_and_hold_faults() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    let faults = |duplicate, reverse_order, hold| WebhookFaults {
        duplicate,
        reverse_order,
        hold,
    };
    e.sim.set_webhook_faults(faults(false, false, true));
    let a = id_of(&e.card_payment("DB", "1.00", "f-1").await);
    let b = id_of(&e.card_payment("DB", "2.00", "f-2").await);
    assert!(e.sim.deliver_due().await.is_empty());
    assert_eq!(e.sim.pending_deliveries(), 2);
    let body = serde_json::json!({"reverseOrder": true});
    let (s, _) = e.admin("/__admin/webhooks/faults", body).await;
    assert_eq!(s, 200);
    assert_eq!(e.sim.deliver_due().await.len(), 2);
    assert_eq!(ids(&e.rx.msgs()), vec![b, a]);
    e.rx.clear();
    e.sim.set_webhook_faults(faults(true, false, false));
    let c = id_of(&e.card_payment("DB", "3.00", "f-3").await);
    assert_eq!(e.sim.deliver_due().await.len(), 2);
    let msgs = e.rx.msgs();
    assert_eq!(ids(&msgs), vec![c.clone(), c]);
    assert_eq!(msgs[0], msgs[1]);
}

#[tokio::test]
async fn non_customer_data_and_entity_levels() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    e.hook(e.hook_config("NON_CUSTOMER_DATA")).await;
    let mut channel = e.hook_config("ALL");
    channel.entity_id = Some(SANDBOX_ENTITY_ID.into());
    e.hook(channel).await;
    let mut other = e.hook_config("ALL");
    other.entity_id = Some(SANDBOX_MIT_ENTITY_ID.into());
    e.hook(other).await;
    let mut regs_only = e.hook_config("ALL");
    regs_only.types = vec!["REGISTRATIONS".into()];
    e.hook(regs_only).await;
    e.card_payment("DB", "4.00", "n-1").await;
    assert_eq!(e.sim.deliver_due().await.len(), 3);
    let msgs = e.rx.msgs();
    let full: Vec<&Value> = msgs
        .iter()
        .filter(|m| m["payload"].get("customer").is_some())
        .collect();
    assert_eq!(
        full.len(),
        2,
        "merchant- and channel-level ALL webhooks both fire"
    );
    assert_eq!(full[0]["payload"]["card"]["holder"], "Jane Jones");
    let stripped = msgs
        .iter()
        .find(|m| m["payload"].get("customer").is_none())
        .unwrap();
    let p = &stripped["payload"];
    assert!(p.get("billing").is_none());
    assert!(p["card"].get("holder").is_none());
    assert_eq!(p["card"]["last4Digits"], "0000");
    assert_eq!(p["id"], full[0]["payload"]["id"]);
}

#[tokio::test]
async fn auto_deliver_sends_without_admin_calls() {
    let e = env_with(SimConfig {
        auto_deliver: true,
        ..Default::default()
    })
    .await;
    e.hook(e.hook_config("ALL")).await;
    let id = id_of(&e.card_payment("DB", "1.00", "a-1").await);
    for _ in 0..40 {
        if !e.rx.msgs().is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(ids(&e.rx.msgs()), vec![id]);
}
