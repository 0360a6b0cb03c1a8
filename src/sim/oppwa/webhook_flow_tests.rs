//! Webhook flows end to end: activation, events, retries, faults, async completion, chargebacks.
#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use super::webhook_tests::{Env, code, env_with};
use super::*;

async fn env() -> Env {
    env_with(SimConfig::default()).await
}

fn payment_ids(msgs: &[Value]) -> Vec<(String, String)> {
    msgs.iter()
        .filter(|m| m["type"] == "PAYMENT")
        .map(|m| {
            (
                m["payload"]["id"].as_str().unwrap().to_string(),
                code(&m["payload"]).to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn activation_is_required_before_delivery() {
    let e = env().await;
    let id = e.sim.add_webhook(e.hook_config("ALL"));
    e.card_payment("DB", "5.00", "m-0").await;
    assert!(e.sim.deliver_due().await.is_empty());
    assert_eq!(e.sim.pending_deliveries(), 0);
    e.rx.answer(500);
    assert_eq!(e.sim.activate_webhook(id).await, Ok(500));
    assert_eq!(e.sim.webhooks()[0]["active"], false);
    e.rx.answer(200);
    let (s, v) = e
        .admin(&format!("/__admin/webhooks/{id}/activate"), json!({}))
        .await;
    assert_eq!(
        (s, &v["status"], &v["active"]),
        (200, &json!(200), &json!(true))
    );
    let msgs = e.rx.msgs();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[1]["type"], "test");
    assert_eq!(msgs[1]["action"], "webhook activation");
    assert_eq!(code(&msgs[1]["payload"]), "000.100.110");
    e.rx.clear();
    let db = e.card_payment("DB", "5.00", "m-1").await;
    let (s, v) = e.admin("/__admin/webhooks/deliver", json!({})).await;
    assert_eq!((s, v["pending"].clone()), (200, json!(0)));
    assert_eq!(v["reports"][0]["status"], 200);
    let msgs = e.rx.msgs();
    assert_eq!(msgs.len(), 1);
    assert_eq!(msgs[0]["payload"], db);
    let attempts = e.sim.webhook_attempts();
    assert_eq!(attempts.len(), 3);
    assert_eq!(attempts[0].status, Some(500));
}

#[tokio::test]
async fn admin_api_configures_webhooks() {
    let e = env().await;
    let cfg = json!({"url": e.rx.url, "secretHex": "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff", "types": ["PAYMENTS"]});
    let (s, v) = e.admin("/__admin/webhooks", cfg).await;
    assert_eq!(s, 200);
    let id = v["id"].as_u64().unwrap();
    let (s, _) = e
        .admin(
            "/__admin/webhooks",
            json!({"url": e.rx.url, "secret_hex": "zz"}),
        )
        .await;
    assert_eq!(s, 400);
    e.admin(&format!("/__admin/webhooks/{id}/activate"), json!({}))
        .await;
    let list: Value =
        e.c.get(format!("{}/__admin/webhooks", e.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(list[0]["active"], true);
    assert_eq!(list[0]["types"], json!(["PAYMENTS"]));
    let (_, r) = e.card_payment_registration().await;
    e.sim.deliver_due().await;
    let types: Vec<Value> = e.rx.msgs().iter().map(|m| m["type"].clone()).collect();
    assert_eq!(types, vec![json!("test"), json!("PAYMENT")], "{r}");
    let att: Value =
        e.c.get(format!("{}/__admin/webhooks/attempts", e.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(att.as_array().unwrap().len(), 2);
    assert_eq!(att[1]["type"], "PAYMENT");
}

impl Env {
    /// A DB with `createRegistration=true`: a PAYMENT and a REGISTRATION CREATED event.
    async fn card_payment_registration(&self) -> (Value, Value) {
        let p = [
            ("entityId", SANDBOX_ENTITY_ID),
            ("amount", "3.00"),
            ("currency", "EUR"),
            ("paymentType", "DB"),
            ("paymentBrand", "VISA"),
            ("card.number", "4200000000000000"),
            ("card.holder", "Jane Jones"),
            ("card.expiryMonth", "05"),
            ("card.expiryYear", "2034"),
            ("card.cvv", "123"),
            ("createRegistration", "true"),
        ];
        let v = self.post("/v1/payments", &p).await;
        (v.clone(), v)
    }
}

#[tokio::test]
async fn sepa_debit_stays_pending_until_completed() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    let db = e.sepa_debit().await;
    let id = db["id"].as_str().unwrap();
    assert_eq!(code(&db), "800.400.500");
    e.sim.deliver_due().await;
    let (s, v) = e
        .admin(
            &format!("/__admin/payments/{id}/complete"),
            json!({"code": "000.100.110"}),
        )
        .await;
    assert_eq!((s, code(&v)), (200, "000.100.110"));
    let got: Value =
        e.c.get(format!(
            "{}/v1/payments/{id}?entityId={SANDBOX_ENTITY_ID}",
            e.base
        ))
        .bearer_auth(SANDBOX_ACCESS_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        got["result"]["description"],
        "Request successfully processed in 'Merchant in Integrator Test Mode'"
    );
    e.sim.deliver_due().await;
    let seen = payment_ids(&e.rx.msgs());
    assert_eq!(
        seen,
        vec![
            (id.to_string(), "800.400.500".into()),
            (id.to_string(), "000.100.110".into())
        ]
    );
    assert!(e.sim.complete(id, "000.100.110").is_err());
}

#[tokio::test]
async fn settle_after_secs_completes_pending_debits() {
    let e = env_with(SimConfig {
        settle_after_secs: Some(3600),
        ..Default::default()
    })
    .await;
    e.hook(e.hook_config("ALL")).await;
    let id = e.sepa_debit().await["id"].as_str().unwrap().to_string();
    e.sim.advance_clock(1800);
    e.sim.deliver_due().await;
    e.sim.advance_clock(1800);
    e.sim.deliver_due().await;
    let seen = payment_ids(&e.rx.msgs());
    assert_eq!(
        seen,
        vec![
            (id.clone(), "800.400.500".into()),
            (id, "000.100.110".into())
        ]
    );
}

#[tokio::test]
async fn registration_created_and_deleted() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    let (p, _) = e.card_payment_registration().await;
    let reg = p["registrationId"].as_str().unwrap().to_string();
    let url = format!(
        "{}/v1/registrations/{reg}?entityId={SANDBOX_ENTITY_ID}",
        e.base
    );
    let r =
        e.c.delete(url)
            .bearer_auth(SANDBOX_ACCESS_TOKEN)
            .send()
            .await
            .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let (p2, _) = e.card_payment_registration().await;
    let reg2 = p2["registrationId"].as_str().unwrap().to_string();
    let (s, _) = e
        .admin(&format!("/__admin/registrations/{reg2}/delete"), json!({}))
        .await;
    assert_eq!(s, 200);
    assert!(e.sim.delete_registration(&reg2).is_err());
    e.sim.deliver_due().await;
    let regs: Vec<(String, String)> =
        e.rx.msgs()
            .iter()
            .filter(|m| m["type"] == "REGISTRATION")
            .map(|m| {
                (
                    m["action"].as_str().unwrap().into(),
                    m["payload"]["id"].as_str().unwrap().into(),
                )
            })
            .collect();
    assert_eq!(regs.len(), 4);
    assert!(regs.contains(&("CREATED".into(), reg.clone())));
    assert!(regs.contains(&("DELETED".into(), reg)));
    assert!(regs.contains(&("DELETED".into(), reg2)));
}

#[tokio::test]
async fn chargeback_creates_cb_and_event() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    let db = e.card_payment("DB", "20.00", "order-9").await;
    let id = db["id"].as_str().unwrap();
    let body = json!({"amount": "10.00", "reasonCode": "MD06"});
    let (s, cb) = e
        .admin(&format!("/__admin/payments/{id}/chargeback"), body)
        .await;
    assert_eq!(s, 200, "{cb}");
    assert_eq!(cb["paymentType"], "CB");
    assert_eq!(cb["referencedId"], id);
    assert_eq!(cb["merchantTransactionId"], "order-9");
    assert_eq!(code(&cb), "000.100.200");
    assert_eq!(cb["resultDetails"]["ReasonCode"], "MD06");
    assert!(e.sim.chargeback(id, "10.01", None).is_err());
    let pa = e.card_payment("PA", "20.00", "order-10").await;
    assert!(
        e.sim
            .chargeback(pa["id"].as_str().unwrap(), "1.00", None)
            .is_err()
    );
    e.sim.deliver_due().await;
    let msgs = e.rx.msgs();
    assert!(msgs.iter().any(|m| m["payload"] == cb));
}

#[tokio::test]
async fn abandoned_3ds_challenge_emits_pending_then_final() {
    let e = env().await;
    e.hook(e.hook_config("ALL")).await;
    let p = [
        ("entityId", SANDBOX_ENTITY_ID),
        ("amount", "7.00"),
        ("currency", "EUR"),
        ("paymentType", "DB"),
        ("paymentBrand", "VISA"),
        ("card.number", "4711100000000000"),
        ("card.expiryMonth", "05"),
        ("card.expiryYear", "2034"),
        ("card.cvv", "123"),
        ("shopperResultUrl", "https://shop.example/return"),
    ];
    let v = e.post("/v1/payments", &p).await;
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(code(&v), "000.200.000");
    e.sim.advance_clock(31 * 60);
    e.sim.deliver_due().await;
    let seen = payment_ids(&e.rx.msgs());
    assert_eq!(
        seen,
        vec![
            (id.clone(), "000.200.000".into()),
            (id, "100.396.103".into())
        ]
    );
}
