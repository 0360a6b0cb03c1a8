//! Mollie's JSON for captures, chargebacks, mandates and customers.

use serde_json::{Value, json};

use super::model::{Capture, Chargeback, Customer, Mandate};
use super::render::{docs, ts};
use super::respond::{HAL, link};

pub(crate) fn capture_json(c: &Capture, base: &str) -> Value {
    let pay = format!("{base}/v2/payments/{}", c.payment_id);
    json!({
        "resource": "capture",
        "id": c.id,
        "amount": c.amount.json(),
        "settlementAmount": c.amount.json(),
        "status": c.status,
        "description": c.description,
        "createdAt": ts(c.created_at),
        "paymentId": c.payment_id,
        "_links": {
            "self": link(&format!("{pay}/captures/{}", c.id), HAL),
            "payment": link(&pay, HAL),
            "documentation": docs("get-capture"),
        }
    })
}

pub(crate) fn chargeback_json(c: &Chargeback, base: &str) -> Value {
    let pay = format!("{base}/v2/payments/{}", c.payment_id);
    let amount = if c.negative {
        c.amount.negated_json()
    } else {
        c.amount.json()
    };
    let mut v = json!({
        "resource": "chargeback",
        "id": c.id,
        "amount": amount,
        "settlementAmount": c.amount.negated_json(),
        "createdAt": ts(c.created_at),
        "reversedAt": c.reversed_at.map(ts),
        "paymentId": c.payment_id,
        "_links": {
            "self": link(&format!("{pay}/chargebacks/{}", c.id), HAL),
            "payment": link(&pay, HAL),
            "documentation": docs("get-chargeback"),
        }
    });
    if let (Some(r), Value::Object(m)) = (&c.reason, &mut v) {
        m.insert("reason".into(), r.clone());
    }
    v
}

/// `status` is what `GET` shows: a revoked mandate is `invalid`.
pub(crate) fn mandate_json(m: &Mandate, base: &str) -> Value {
    let me = format!("{base}/v2/customers/{}/mandates/{}", m.customer_id, m.id);
    let status = if m.revoked {
        "invalid"
    } else {
        m.status.as_str()
    };
    json!({
        "resource": "mandate",
        "id": m.id,
        "mode": m.owner.mode.as_str(),
        "status": status,
        "method": m.method,
        "details": m.details,
        "mandateReference": m.mandate_reference,
        "signatureDate": m.signature_date,
        "createdAt": ts(m.created_at),
        "_links": {
            "self": link(&me, HAL),
            "customer": link(&format!("{base}/v2/customers/{}", m.customer_id), HAL),
            "documentation": docs("get-mandate"),
        }
    })
}

pub(crate) fn customer_json(c: &Customer, base: &str) -> Value {
    let me = format!("{base}/v2/customers/{}", c.id);
    json!({
        "resource": "customer",
        "id": c.id,
        "mode": c.owner.mode.as_str(),
        "name": c.name,
        "email": c.email,
        "locale": c.locale,
        "metadata": c.metadata,
        "createdAt": ts(c.created_at),
        "_links": {
            "self": link(&me, HAL),
            "payments": link(&format!("{me}/payments"), HAL),
            "mandates": link(&format!("{me}/mandates"), HAL),
            "documentation": docs("get-customer"),
        }
    })
}
