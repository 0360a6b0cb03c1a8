//! Black-box tests over real loopback HTTP against a spawned simulator.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use reqwest::redirect::Policy;
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::*;

const ENT: &str = SANDBOX_ENTITY_ID;
const MIT: &str = SANDBOX_MIT_ENTITY_ID;

struct T {
    base: String,
    sim: Sim,
    c: reqwest::Client,
    _stop: tokio_util::sync::DropGuard,
}

async fn start_with(cfg: SimConfig) -> T {
    let stop = CancellationToken::new();
    let h = Sim::spawn(cfg, "127.0.0.1:0".parse().unwrap(), stop.clone())
        .await
        .unwrap();
    let c = reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap();
    T {
        base: h.base_url,
        sim: h.sim,
        c,
        _stop: stop.drop_guard(),
    }
}

async fn start() -> T {
    start_with(SimConfig::default()).await
}

fn card(number: &str) -> Vec<(&'static str, String)> {
    vec![
        ("paymentBrand", "VISA".into()),
        ("card.number", number.into()),
        ("card.holder", "Jane Jones".into()),
        ("card.expiryMonth", "05".into()),
        ("card.expiryYear", "2034".into()),
        ("card.cvv", "123".into()),
    ]
}

fn pay(entity: &str, ptype: &str, amount: &str, number: &str) -> Vec<(&'static str, String)> {
    let mut v = vec![
        ("entityId", entity.to_string()),
        ("amount", amount.to_string()),
        ("currency", "EUR".to_string()),
        ("paymentType", ptype.to_string()),
    ];
    v.extend(card(number));
    v
}

fn with(
    mut v: Vec<(&'static str, String)>,
    extra: &[(&'static str, &str)],
) -> Vec<(&'static str, String)> {
    v.extend(extra.iter().map(|(k, x)| (*k, x.to_string())));
    v
}

fn code(v: &Value) -> &str {
    v["result"]["code"].as_str().unwrap_or("")
}

impl T {
    async fn send(&self, rb: reqwest::RequestBuilder) -> (u16, Value) {
        let r = rb.send().await.unwrap();
        let s = r.status().as_u16();
        let text = r.text().await.unwrap();
        (
            s,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    fn form(
        &self,
        path: &str,
        pairs: &[(&str, String)],
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let mut rb = self
            .c
            .post(format!("{}{path}", self.base))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(serde_urlencoded::to_string(pairs).unwrap());
        if let Some(t) = token {
            rb = rb.header("authorization", format!("Bearer {t}"));
        }
        rb
    }

    async fn post(&self, path: &str, pairs: &[(&str, String)]) -> (u16, Value) {
        self.send(self.form(path, pairs, Some(SANDBOX_ACCESS_TOKEN)))
            .await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let rb = self
            .c
            .get(format!("{}{path}", self.base))
            .bearer_auth(SANDBOX_ACCESS_TOKEN);
        self.send(rb).await
    }

    async fn delete(&self, path: &str) -> (u16, Value) {
        let rb = self
            .c
            .delete(format!("{}{path}", self.base))
            .bearer_auth(SANDBOX_ACCESS_TOKEN);
        self.send(rb).await
    }

    async fn capture(&self, id: &str, amount: &str) -> (u16, Value) {
        let p = [
            ("entityId", ENT.to_string()),
            ("paymentType", "CP".into()),
            ("amount", amount.into()),
            ("currency", "EUR".into()),
        ];
        self.post(&format!("/v1/payments/{id}"), &p).await
    }
}

fn is_hex32(s: &str) -> bool {
    s.len() == 32
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[tokio::test]
async fn auth_rules() {
    let t = start().await;
    let body = pay(ENT, "DB", "10.00", "4200000000000000");
    let (s, v) = t.send(t.form("/v1/payments", &body, None)).await;
    assert_eq!((s, code(&v)), (401, "800.900.300"));
    assert_eq!(
        v["result"]["description"],
        "invalid authentication information"
    );
    let (s, v) = t.send(t.form("/v1/payments", &body, Some("nope"))).await;
    assert_eq!((s, code(&v)), (403, "800.900.300"));
    let (s, v) = t
        .post(
            "/v1/payments",
            &pay(
                "0123456789abcdef0123456789abcdef",
                "DB",
                "10.00",
                "4200000000000000",
            ),
        )
        .await;
    assert_eq!((s, code(&v)), (403, "800.900.201"));
    let (s, v) = t.post("/v1/payments", &body[1..]).await;
    assert_eq!((s, code(&v)), (400, "200.300.404"));
    assert_eq!(v["result"]["parameterErrors"][0]["name"], "entityId");
    assert!(t.sim.transactions().is_empty());
}

#[tokio::test]
async fn validation_errors() {
    let t = start().await;
    let mut body = pay(ENT, "XX", "-20.20", "4200000000000000");
    body.push(("currency", "eur".into()));
    let (s, v) = t.post("/v1/payments", &body).await;
    assert_eq!((s, code(&v)), (400, "200.300.404"));
    assert_eq!(v["result"]["description"], "invalid or missing parameter");
    let names: Vec<&str> = v["result"]["parameterErrors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["amount", "currency", "paymentType"]);
    assert_eq!(v["result"]["parameterErrors"][0]["value"], "-20.20");
    let (s, v) = t
        .post("/v1/payments", &pay(ENT, "DB", "10.00", "4200000000000001"))
        .await;
    assert_eq!((s, code(&v)), (400, "100.100.101"));
    assert_eq!(
        v["result"]["description"],
        "invalid creditcard, bank account number or bank name"
    );
    let mut old = pay(ENT, "DB", "10.00", "4200000000000000");
    old.push(("card.expiryYear", "2020".into()));
    let (s, v) = t.post("/v1/payments", &old).await;
    assert_eq!((s, code(&v)), (400, "100.100.303"));
    let (s, v) = t
        .post(
            "/v1/payments",
            &with(
                pay(ENT, "DB", "10.00", "4200000000000000"),
                &[("paymentBrand", "FOO")],
            ),
        )
        .await;
    assert_eq!(
        (s, v["result"]["parameterErrors"][0]["name"].as_str()),
        (400, Some("paymentBrand"))
    );
    assert!(t.sim.transactions().is_empty());
}

#[tokio::test]
async fn preauth_partial_captures_and_envelope() {
    let t = start().await;
    let body = with(
        pay(ENT, "PA", "100", "4200000000000000"),
        &[
            ("merchantTransactionId", "order-1"),
            ("customParameters[SHOPPER_x]", "y"),
        ],
    );
    let (s, pa) = t.post("/v1/payments", &body).await;
    assert_eq!((s, code(&pa)), (200, "000.100.110"));
    let id = pa["id"].as_str().unwrap();
    assert!(is_hex32(id));
    assert_eq!(pa["amount"], "100.00");
    assert_eq!(pa["customParameters"]["SHOPPER_x"], "y");
    assert_eq!(pa["card"]["last4Digits"], "0000");
    assert!(pa["card"].get("number").is_none());
    assert!(pa["buildNumber"].as_str().unwrap().contains("@"));
    let ndc = pa["ndc"].as_str().unwrap();
    assert!(ndc.starts_with(&format!("{ENT}_")) && is_hex32(&ndc[33..]));
    let ts = pa["timestamp"].as_str().unwrap();
    assert!(ts.len() == 24 && ts.ends_with("+0000"), "{ts}");
    let d = pa["descriptor"].as_str().unwrap().as_bytes();
    assert!(d[4] == b'.' && d[9] == b'.' && d[14] == b' ');
    let (s, cp) = t.capture(id, "40.00").await;
    assert_eq!((s, code(&cp)), (200, "000.100.110"));
    assert_eq!(cp["referencedId"], id);
    assert_ne!(cp["id"], id);
    assert_eq!(code(&t.capture(id, "60.00").await.1), "000.100.110");
    let (s, over) = t.capture(id, "1.00").await;
    assert_eq!((s, code(&over)), (400, "700.400.100"));
    let (_, again) = t.get(&format!("/v1/payments/{id}?entityId={ENT}")).await;
    assert_eq!(
        (code(&again), again["amount"].as_str()),
        ("000.100.110", Some("100.00"))
    );
    assert_eq!(t.sim.count_by_merchant_tx_id("order-1"), 1);
    assert_eq!(t.sim.transactions().len(), 4);
}

#[tokio::test]
async fn single_capture_switch() {
    let t = start_with(SimConfig {
        single_capture: true,
        ..Default::default()
    })
    .await;
    let (_, pa) = t
        .post(
            "/v1/payments",
            &pay(ENT, "PA", "100.00", "4200000000000000"),
        )
        .await;
    let id = pa["id"].as_str().unwrap();
    assert_eq!(code(&t.capture(id, "10.00").await.1), "000.100.110");
    assert_eq!(code(&t.capture(id, "10.00").await.1), "700.400.100");
}

#[tokio::test]
async fn reversal_and_reference_rules() {
    let t = start().await;
    let (_, pa) = t
        .post("/v1/payments", &pay(ENT, "PA", "50.00", "4200000000000000"))
        .await;
    let id = pa["id"].as_str().unwrap();
    let rv = [("entityId", ENT.to_string()), ("paymentType", "RV".into())];
    let (s, r) = t.post(&format!("/v1/payments/{id}"), &rv).await;
    assert_eq!(
        (s, code(&r), r["amount"].as_str()),
        (200, "000.100.110", Some("50.00"))
    );
    assert_eq!(
        code(&t.post(&format!("/v1/payments/{id}"), &rv).await.1),
        "700.300.300"
    );
    assert_eq!(code(&t.capture(id, "1.00").await.1), "700.400.100");
    let (_, db) = t
        .post("/v1/payments", &pay(ENT, "DB", "50.00", "4200000000000000"))
        .await;
    assert_eq!(
        code(&t.capture(db["id"].as_str().unwrap(), "1.00").await.1),
        "700.400.510"
    );
    assert_eq!(
        code(&t.capture(&"a".repeat(32), "1.00").await.1),
        "700.100.100"
    );
    let (_, pa2) = t
        .post("/v1/payments", &pay(ENT, "PA", "50.00", "4200000000000000"))
        .await;
    let usd = [
        ("entityId", ENT.to_string()),
        ("paymentType", "CP".into()),
        ("amount", "1.00".into()),
        ("currency", "USD".into()),
    ];
    let (s, v) = t
        .post(
            &format!("/v1/payments/{}", pa2["id"].as_str().unwrap()),
            &usd,
        )
        .await;
    assert_eq!((s, code(&v)), (400, "700.100.200"));
}

#[tokio::test]
async fn debit_refunds_and_test_mode() {
    let t = start().await;
    let (s, db) = t
        .post(
            "/v1/payments",
            &with(
                pay(ENT, "DB", "30.00", "5454545454545454"),
                &[("testMode", "EXTERNAL")],
            ),
        )
        .await;
    assert_eq!((s, code(&db)), (200, "000.100.112"));
    let id = db["id"].as_str().unwrap();
    let rf = |a: &str| {
        vec![
            ("entityId", ENT.to_string()),
            ("paymentType", "RF".into()),
            ("amount", a.into()),
            ("currency", "EUR".into()),
            ("testMode", "EXTERNAL".into()),
        ]
    };
    assert_eq!(
        code(&t.post(&format!("/v1/payments/{id}"), &rf("20.00")).await.1),
        "000.100.112"
    );
    assert_eq!(
        code(&t.post(&format!("/v1/payments/{id}"), &rf("10.01")).await.1),
        "700.400.200"
    );
    let (s, v) = t
        .post(&format!("/v1/payments/{id}"), &rf("1.00")[..4])
        .await;
    assert_eq!(
        (s, v["result"]["parameterErrors"][0]["name"].as_str()),
        (400, Some("testMode"))
    );
    let (_, pa) = t
        .post("/v1/payments", &pay(ENT, "PA", "30.00", "4200000000000000"))
        .await;
    let rf_pa = [
        ("entityId", ENT.to_string()),
        ("paymentType", "RF".into()),
        ("amount", "1.00".into()),
        ("currency", "EUR".into()),
    ];
    assert_eq!(
        code(
            &t.post(
                &format!("/v1/payments/{}", pa["id"].as_str().unwrap()),
                &rf_pa
            )
            .await
            .1
        ),
        "700.400.520"
    );
}

#[tokio::test]
async fn registration_and_mit_repeated() {
    let t = start().await;
    let init = with(
        pay(ENT, "DB", "9.99", "4200000000000000"),
        &[
            ("createRegistration", "true"),
            ("standingInstruction.mode", "INITIAL"),
            ("standingInstruction.source", "CIT"),
            ("standingInstruction.type", "UNSCHEDULED"),
        ],
    );
    let (s, v) = t.post("/v1/payments", &init).await;
    assert_eq!((s, code(&v)), (200, "000.100.110"));
    let reg = v["registrationId"].as_str().unwrap().to_string();
    let scheme = v["standingInstruction"]["initialTransactionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        v["resultDetails"]["CardholderInitiatedTransactionID"],
        scheme.as_str()
    );
    let oppwa_id = v["id"].as_str().unwrap().to_string();
    for initial in [scheme.as_str(), oppwa_id.as_str()] {
        let mit = [
            ("entityId", MIT.to_string()),
            ("amount", "9.99".into()),
            ("currency", "EUR".into()),
            ("paymentType", "DB".into()),
            ("standingInstruction.mode", "REPEATED".into()),
            ("standingInstruction.source", "MIT".into()),
            ("standingInstruction.type", "UNSCHEDULED".into()),
            ("standingInstruction.initialTransactionId", initial.into()),
        ];
        let (s, v) = t
            .post(&format!("/v1/registrations/{reg}/payments"), &mit)
            .await;
        assert_eq!((s, code(&v)), (200, "000.100.110"), "{v}");
        assert_eq!(v["registrationId"], reg.as_str());
    }
    let bad = [
        ("entityId", MIT.to_string()),
        ("amount", "1.00".into()),
        ("currency", "EUR".into()),
        ("paymentType", "DB".into()),
        ("standingInstruction.mode", "INITIAL".into()),
        ("standingInstruction.source", "MIT".into()),
    ];
    let (s, v) = t
        .post(&format!("/v1/registrations/{reg}/payments"), &bad)
        .await;
    assert_eq!(
        (s, v["result"]["parameterErrors"][0]["name"].as_str()),
        (400, Some("standingInstruction.mode"))
    );
    assert_eq!(
        code(
            &t.delete(&format!("/v1/registrations/{reg}?entityId={ENT}"))
                .await
                .1
        ),
        "000.100.110"
    );
    assert_eq!(
        code(
            &t.delete(&format!("/v1/registrations/{reg}?entityId={ENT}"))
                .await
                .1
        ),
        "100.150.202"
    );
    assert_eq!(
        code(
            &t.delete(&format!(
                "/v1/registrations/{}?entityId={ENT}",
                "b".repeat(32)
            ))
            .await
            .1
        ),
        "100.150.200"
    );
    let (s, v) = t
        .post(&format!("/v1/registrations/{reg}/payments"), &bad[..4])
        .await;
    assert_eq!((s, code(&v)), (400, "100.150.202"));
}

#[tokio::test]
async fn store_only_and_zero_amount_verification() {
    let t = start().await;
    let mut store = vec![("entityId", ENT.to_string())];
    store.extend(card("4711100000000000"));
    let (s, r) = t.post("/v1/registrations", &store).await;
    assert_eq!(
        (s, code(&r), r["card"]["bin"].as_str()),
        (200, "000.100.110", Some("471110"))
    );
    let reg = r["id"].as_str().unwrap();
    let mit = [
        ("entityId", MIT.to_string()),
        ("amount", "5.00".into()),
        ("currency", "EUR".into()),
        ("paymentType", "PA".into()),
        ("shopperResultUrl", "http://shop/return".into()),
        ("standingInstruction.mode", "REPEATED".into()),
        ("standingInstruction.source", "MIT".into()),
    ];
    let (s, v) = t
        .post(&format!("/v1/registrations/{reg}/payments"), &mit)
        .await;
    assert_eq!((s, code(&v)), (200, "000.100.110"));
    assert!(v.get("redirect").is_none());
    let zero = with(
        pay(ENT, "PA", "0.00", "4200000000000000"),
        &[("createRegistration", "true")],
    );
    let (s, v) = t.post("/v1/payments", &zero).await;
    assert_eq!((s, code(&v)), (200, "000.100.110"));
    assert!(v["registrationId"].is_string());
    assert_eq!(
        code(&t.capture(v["id"].as_str().unwrap(), "1.00").await.1),
        "700.400.100"
    );
    let (s, _) = t
        .post("/v1/payments", &pay(ENT, "DB", "0.00", "4200000000000000"))
        .await;
    assert_eq!(s, 400);
}

#[tokio::test]
async fn sepa_registration_and_pending_debit() {
    let t = start().await;
    let sepa = |iban: &str| {
        vec![
            ("entityId", ENT.to_string()),
            ("paymentBrand", "DIRECTDEBIT_SEPA".into()),
            ("bankAccount.holder", "Max Muster".into()),
            ("bankAccount.iban", iban.into()),
            ("bankAccount.mandate.id", "M-1".into()),
            ("bankAccount.mandate.dateOfSignature", "2025-01-02".into()),
        ]
    };
    let (s, v) = t
        .post("/v1/registrations", &sepa("XX89370400440532013000"))
        .await;
    assert_eq!((s, code(&v)), (400, "100.100.101"));
    let (s, r) = t
        .post("/v1/registrations", &sepa("DE89370400440532013000"))
        .await;
    assert_eq!((s, code(&r)), (200, "000.100.110"));
    assert_eq!(r["bankAccount"]["country"], "DE");
    assert_eq!(r["bankAccount"]["mandate"]["id"], "M-1");
    assert_eq!(r["paymentBrand"], "DIRECTDEBIT_SEPA");
    let db = [
        ("entityId", ENT.to_string()),
        ("amount", "12.00".into()),
        ("currency", "EUR".into()),
        ("paymentType", "DB".into()),
    ];
    let (s, v) = t
        .post(
            &format!("/v1/registrations/{}/payments", r["id"].as_str().unwrap()),
            &db,
        )
        .await;
    assert_eq!((s, code(&v)), (200, "800.400.500"));
    assert_eq!(
        v["result"]["description"],
        "Waiting for confirmation of non-instant payment. Denied for now."
    );
    let (_, again) = t
        .get(&format!(
            "/v1/payments/{}?entityId={ENT}",
            v["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(code(&again), "800.400.500");
}

#[tokio::test]
async fn query_endpoints() {
    let t = start().await;
    let (_, pa) = t
        .post(
            "/v1/payments",
            &with(
                pay(ENT, "PA", "10.00", "4200000000000000"),
                &[("merchantTransactionId", "m-7")],
            ),
        )
        .await;
    let id = pa["id"].as_str().unwrap();
    t.capture(id, "10.00").await;
    let (s, v) = t
        .get(&format!(
            "/v1/query?entityId={ENT}&merchantTransactionId=m-7"
        ))
        .await;
    assert_eq!((s, code(&v)), (200, "000.000.100"));
    assert_eq!(v["payments"].as_array().unwrap().len(), 1);
    let (s, v) = t
        .get(&format!(
            "/v1/query?entityId={ENT}&merchantTransactionId=nothing"
        ))
        .await;
    assert_eq!(
        (s, code(&v), v["result"]["description"].as_str()),
        (400, "700.400.580", Some("cannot find transaction"))
    );
    let (_, v) = t
        .get(&format!(
            "/v1/query/{id}?entityId={ENT}&includeLinkedTransactions=true"
        ))
        .await;
    assert_eq!(v["payments"].as_array().unwrap().len(), 2);
    let (s, v) = t.get(&format!("/v1/query/{id}?entityId={ENT}")).await;
    assert_eq!((s, v["id"].as_str()), (200, Some(id)));
}

#[tokio::test]
async fn forced_results() {
    let t = start().await;
    let force = |c: &str| {
        with(
            pay(ENT, "DB", "10.00", "4200000000000000"),
            &[("customParameters[forceResultCode]", c)],
        )
    };
    let (s, v) = t.post("/v1/payments", &force("800.100.203")).await;
    assert_eq!(
        (s, code(&v), v["result"]["description"].as_str()),
        (400, "800.100.203", Some("Insufficient Funds"))
    );
    let (s, v) = t.post("/v1/payments", &force("000.400.000")).await;
    assert_eq!((s, code(&v)), (200, "000.400.000"));
    let (s, v) = t.post("/v1/payments", &force("123.456.789")).await;
    assert_eq!((s, code(&v)), (400, "123.456.789"));
    assert!(!v["result"]["description"].as_str().unwrap().is_empty());
    t.sim.force_next_result("800.100.152");
    let plain = pay(ENT, "DB", "10.00", "4200000000000000");
    assert_eq!(code(&t.post("/v1/payments", &plain).await.1), "800.100.152");
    assert_eq!(code(&t.post("/v1/payments", &plain).await.1), "000.100.110");
    let r =
        t.c.post(format!("{}/__admin/force-next", t.base))
            .json(&json!({"code": "900.100.300"}))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(code(&t.post("/v1/payments", &plain).await.1), "900.100.300");
}

#[tokio::test]
async fn faults() {
    let t = start().await;
    let body = with(
        pay(ENT, "DB", "10.00", "4200000000000000"),
        &[("merchantTransactionId", "f-1")],
    );
    t.sim.set_fault(Fault::Delay { millis: 400 });
    let quick = t
        .form("/v1/payments", &body, Some(SANDBOX_ACCESS_TOKEN))
        .timeout(Duration::from_millis(100));
    assert!(quick.send().await.is_err());
    assert_eq!(t.sim.count_by_merchant_tx_id("f-1"), 1);
    t.sim.set_fault(Fault::DropAfterProcessing);
    let res = t
        .form("/v1/payments", &body, Some(SANDBOX_ACCESS_TOKEN))
        .send()
        .await;
    let failed = match res {
        Err(_) => true,
        Ok(r) => r.text().await.is_err(),
    };
    assert!(failed);
    assert_eq!(t.sim.count_by_merchant_tx_id("f-1"), 2);
    let r =
        t.c.post(format!("{}/__admin/fault", t.base))
            .json(&json!("Unavailable"))
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 200);
    let r = t
        .form("/v1/payments", &body, Some(SANDBOX_ACCESS_TOKEN))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(t.sim.count_by_merchant_tx_id("f-1"), 2);
    let list: Value =
        t.c.get(format!(
            "{}/__admin/transactions?merchantTransactionId=f-1",
            t.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 2);
    t.c.post(format!("{}/__admin/reset", t.base))
        .send()
        .await
        .unwrap();
    assert!(t.sim.transactions().is_empty());
    assert_eq!(t.post("/v1/payments", &body).await.0, 200);
}

async fn acs_complete(t: &T, redirect_url: &str, outcome: &str) -> String {
    let page =
        t.c.get(redirect_url)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(page.contains("value=\"authenticate\"") && page.contains("value=\"cancel\""));
    let done = redirect_url.replace("/acs", "/complete");
    let r =
        t.c.post(done)
            .form(&[("outcome", outcome)])
            .send()
            .await
            .unwrap();
    assert_eq!(r.status(), 303);
    r.headers()["location"].to_str().unwrap().to_string()
}

#[tokio::test]
async fn three_ds_s2s_flow() {
    let t = start().await;
    let body = with(
        pay(ENT, "DB", "20.00", "4711100000000000"),
        &[("shopperResultUrl", "http://shop.test/return?o=1")],
    );
    let (s, v) = t.post("/v1/payments", &body).await;
    assert_eq!(
        (s, code(&v), v["result"]["description"].as_str()),
        (200, "000.200.000", Some("transaction pending"))
    );
    assert_eq!(v["redirect"]["method"], "POST");
    let id = v["id"].as_str().unwrap();
    let loc = acs_complete(&t, v["redirect"]["url"].as_str().unwrap(), "authenticate").await;
    assert_eq!(
        loc,
        format!("http://shop.test/return?o=1&id={id}&resourcePath=%2Fv1%2Fpayments%2F{id}")
    );
    let (s, v) = t.get(&format!("/v1/payments/{id}?entityId={ENT}")).await;
    assert_eq!((s, code(&v)), (200, "000.100.110"));
    assert_eq!(v["threeDSecure"]["eci"], "05");
    for (outcome, expected) in [
        ("fail", "100.380.401"),
        ("cancel", "100.396.101"),
        ("error", "100.390.112"),
    ] {
        let (_, v) = t.post("/v1/payments", &body).await;
        acs_complete(&t, v["redirect"]["url"].as_str().unwrap(), outcome).await;
        let (s, v) = t
            .get(&format!(
                "/v1/payments/{}?entityId={ENT}",
                v["id"].as_str().unwrap()
            ))
            .await;
        assert_eq!((s, code(&v)), (400, expected));
    }
    let (_, v) = t
        .post(
            "/v1/payments",
            &with(
                pay(ENT, "DB", "20.00", "4200000000000042"),
                &[("shopperResultUrl", "http://s/r")],
            ),
        )
        .await;
    assert!(v["redirect"]["preconditions"].is_array());
    t.sim.advance_clock(31 * 60);
    let (_, v) = t
        .get(&format!(
            "/v1/payments/{}?entityId={ENT}",
            v["id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(code(&v), "100.396.103");
    let (s, v) = t
        .post("/v1/payments", &pay(ENT, "DB", "20.00", "4200000000000091"))
        .await;
    assert_eq!((s, code(&v)), (200, "000.400.110"));
    let (_, v) = t
        .post(
            "/v1/payments",
            &with(
                pay(MIT, "DB", "20.00", "4711100000000000"),
                &[("shopperResultUrl", "http://s/r")],
            ),
        )
        .await;
    assert_eq!(code(&v), "000.100.110");
}

async fn new_checkout(t: &T, extra: &[(&'static str, &str)]) -> (String, Value) {
    let mut p = vec![
        ("entityId", ENT.to_string()),
        ("amount", "15.50".into()),
        ("currency", "EUR".into()),
        ("paymentType", "DB".into()),
    ];
    p.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    let (s, v) = t.post("/v1/checkouts", &p).await;
    assert_eq!((s, code(&v)), (200, "000.200.100"), "{v}");
    (v["id"].as_str().unwrap().to_string(), v)
}

fn submit_fields(number: &str) -> Vec<(&'static str, String)> {
    with(
        card(number),
        &[("shopperResultUrl", "http://shop.test/back")],
    )
}

#[tokio::test]
async fn checkout_hosted_form_flow() {
    let t = start().await;
    let (id, v) = new_checkout(
        &t,
        &[
            ("merchantTransactionId", "co-1"),
            ("integrity", "true"),
            ("createRegistration", "true"),
        ],
    )
    .await;
    let (hex, suffix) = id.split_once('.').unwrap();
    assert!(
        hex.len() == 32
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
            && suffix == "uat01-vm-tx03"
    );
    assert_eq!(v["ndc"], id.as_str());
    let js =
        t.c.get(format!("{}/v1/paymentWidgets.js?checkoutId={id}", t.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
    assert!(
        js.contains("form.paymentWidgets") && js.contains(&format!("/v1/checkouts/{id}/submit"))
    );
    use base64::Engine;
    use sha2::Digest;
    let sri = format!(
        "sha384-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha384::digest(js.as_bytes()))
    );
    assert_eq!(v["integrity"], sri.as_str());
    let status = format!("/v1/checkouts/{id}/payment?entityId={ENT}");
    let (s, p) = t.get(&status).await;
    assert_eq!((s, code(&p)), (200, "000.200.000"));
    let form =
        t.c.get(format!(
            "{}/v1/checkouts/{id}/form?shopperResultUrl=http%3A%2F%2Fshop.test%2Fback",
            t.base
        ))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        form.contains("name=\"card.number\"") && form.contains("value=\"http://shop.test/back\"")
    );
    let r = t
        .form(
            &format!("/v1/checkouts/{id}/submit"),
            &submit_fields("4200000000000001"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("The card number is not valid") && !page.contains("card.number:"),
        "a shopper's message: {page}"
    );
    assert!(page.contains("€15.50"), "the amount stays: {page}");
    assert!(page.contains("value=\"Jane Jones\"") && page.contains("value=\"2034\""));
    assert!(
        !page.contains("4200000000000001"),
        "the card number is not echoed"
    );
    assert!(page.contains("name=\"viewport\""));
    // German, and a brand that does not match the number.
    let mut f = submit_fields("5454545454545454");
    f.push(("locale", "de".into()));
    let r = t
        .form(&format!("/v1/checkouts/{id}/submit"), &f, None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    let page = r.text().await.unwrap();
    assert!(
        page.contains("gehört nicht zur gewählten Kartenmarke"),
        "{page}"
    );
    assert!(
        page.contains("15,50\u{a0}€") && page.contains("<html lang=\"de\">"),
        "{page}"
    );
    let r = t
        .form(
            &format!("/v1/checkouts/{id}/submit"),
            &submit_fields("4200000000000000"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let enc = id.replace('.', "%2E");
    let loc = r.headers()["location"]
        .to_str()
        .unwrap()
        .replace("%2E", ".");
    assert_eq!(
        loc,
        format!(
            "http://shop.test/back?id={id}&resourcePath=%2Fv1%2Fcheckouts%2F{}%2Fpayment",
            id
        )
        .replace(&enc, &id)
    );
    t.sim.advance_clock(61);
    let (s, p) = t.get(&status).await;
    assert_eq!(
        (s, code(&p), p["ndc"].as_str()),
        (200, "000.100.110", Some(id.as_str()))
    );
    let pid = p["id"].as_str().unwrap();
    assert!(is_hex32(pid) && p["registrationId"].is_string());
    assert_eq!(
        p["standingInstruction"]["initialTransactionId"],
        p["resultDetails"]["CardholderInitiatedTransactionID"]
    );
    let (s, gone) = t.get(&status).await;
    assert_eq!((s, code(&gone)), (400, "200.300.404"));
    assert!(
        gone["result"]["description"]
            .as_str()
            .unwrap()
            .contains("No payment session found")
    );
    assert_eq!(
        code(&t.get(&format!("/v1/payments/{pid}?entityId={ENT}")).await.1),
        "000.100.110"
    );
    assert_eq!(
        t.get(&format!(
            "/v1/query?entityId={ENT}&merchantTransactionId=co-1"
        ))
        .await
        .0,
        200
    );
}

#[tokio::test]
async fn checkout_rate_limit_and_expiry() {
    let t = start().await;
    let (id, _) = new_checkout(&t, &[]).await;
    let status = format!("/v1/checkouts/{id}/payment?entityId={ENT}");
    assert_eq!(t.get(&status).await.0, 200);
    assert_eq!(t.get(&status).await.0, 200);
    let (_, v) = t.get(&status).await;
    assert_eq!(
        (code(&v), v["result"]["description"].as_str()),
        (
            "800.120.100",
            Some("Too many requests. Please try again later.")
        )
    );
    t.sim.advance_clock(61);
    assert_eq!(code(&t.get(&status).await.1), "000.200.000");
    t.sim.advance_clock(1800);
    assert_eq!(code(&t.get(&status).await.1), "200.300.404");
    let r = t
        .form(
            &format!("/v1/checkouts/{id}/submit"),
            &submit_fields("4200000000000000"),
            None,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn checkout_with_3ds_and_reuse() {
    let t = start().await;
    let (id, _) = new_checkout(&t, &[("customParameters[forceResultCode]", "800.100.151")]).await;
    let submit = format!("/v1/checkouts/{id}/submit");
    let r = t
        .form(&submit, &submit_fields("4200000000000000"), None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    assert_eq!(t.sim.transactions().len(), 1);
    let (id, _) = new_checkout(&t, &[]).await;
    let submit = format!("/v1/checkouts/{id}/submit");
    let r = t
        .form(&submit, &submit_fields("4711100000000000"), None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303);
    let acs = r.headers()["location"].to_str().unwrap().to_string();
    assert!(acs.contains("/v1/threeds/"));
    let loc = acs_complete(&t, &acs, "authenticate").await;
    assert!(loc.starts_with(&format!("http://shop.test/back?id={id}")));
    let (s, v) = t
        .get(&format!("/v1/checkouts/{id}/payment?entityId={ENT}"))
        .await;
    assert_eq!(
        (s, code(&v), v["ndc"].as_str()),
        (200, "000.100.110", Some(id.as_str()))
    );
}
