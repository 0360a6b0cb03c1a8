//! Mollie's JSON for each resource, with `_links` (§3.1) and the payment's money fields:
//! `amountRefunded`, `amountRemaining`, `amountCaptured`, `amountChargedBack` (§2.7, §2.8).

use chrono::{DateTime, SecondsFormat, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::model::{Payment, Refund, Status};
use super::money::Amount;
use super::respond::{HAL, link};
use super::state::State;
use super::views::{capture_json, chargeback_json};

pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, false)
}

pub(crate) fn docs(page: &str) -> Value {
    link(
        &format!("https://docs.mollie.com/reference/{page}"),
        "text/html",
    )
}

fn put_opt_ts(m: &mut Map<String, Value>, k: &str, t: Option<DateTime<Utc>>) {
    if let Some(t) = t {
        m.insert(k.into(), ts(t).into());
    }
}

/// The money a payment has moved, from its children.
pub(crate) struct Sums {
    pub captured: Decimal,
    pub refunded: Decimal,
    pub charged_back: Decimal,
}

impl State {
    pub(crate) fn sums(&self, p: &Payment) -> Sums {
        let captured = p
            .captures
            .iter()
            .filter_map(|id| self.captures.get(id))
            .filter(|c| c.status == "succeeded")
            .map(|c| c.amount.value)
            .sum();
        let refunded = p
            .refunds
            .iter()
            .filter_map(|id| self.refunds.get(id))
            .filter(|r| r.is_live())
            .map(|r| r.amount.value)
            .sum();
        let charged_back = p
            .chargebacks
            .iter()
            .filter_map(|id| self.chargebacks.get(id))
            .filter(|c| c.reversed_at.is_none())
            .map(|c| c.amount.value)
            .sum();
        Sums {
            captured,
            refunded,
            charged_back,
        }
    }

    /// What can still be refunded: the collected amount (captured, for manual capture) minus
    /// refunds that are not failed or cancelled.
    pub(crate) fn remaining(&self, p: &Payment) -> Decimal {
        let s = self.sums(p);
        let collected = if p.capture_mode.as_deref() == Some("manual") || !p.captures.is_empty() {
            s.captured
        } else if p.status == Status::Paid {
            p.amount.value
        } else {
            Decimal::ZERO
        };
        (collected - s.refunded).max(Decimal::ZERO)
    }

    /// The payment as `GET /v2/payments/{id}` returns it; `embed` names children to include.
    pub(crate) fn payment_json(&self, p: &Payment, base: &str, embed: &[&str]) -> Value {
        let mut m = Map::new();
        m.insert("resource".into(), "payment".into());
        m.insert("id".into(), p.id.clone().into());
        m.insert("mode".into(), p.owner.mode.as_str().into());
        m.insert("createdAt".into(), ts(p.created_at).into());
        m.insert("status".into(), p.status.as_str().into());
        m.insert("isCancelable".into(), p.is_cancelable().into());
        put_opt_ts(&mut m, "authorizedAt", p.authorized_at);
        put_opt_ts(&mut m, "paidAt", p.paid_at);
        put_opt_ts(&mut m, "canceledAt", p.canceled_at);
        put_opt_ts(&mut m, "expiredAt", p.expired_at);
        put_opt_ts(&mut m, "failedAt", p.failed_at);
        if p.status == Status::Open {
            put_opt_ts(&mut m, "expiresAt", p.expires_at);
        }
        put_opt_ts(
            &mut m,
            "captureBefore",
            p.capture_before.filter(|_| p.status == Status::Authorized),
        );
        self.put_money(&mut m, p);
        m.insert("description".into(), p.description.clone().into());
        m.insert("method".into(), p.method.clone().into());
        m.insert("metadata".into(), p.metadata.clone());
        m.insert("locale".into(), p.locale.clone().into());
        m.insert("profileId".into(), p.owner.profile.clone().into());
        m.insert("sequenceType".into(), p.sequence_type.clone().into());
        m.insert("redirectUrl".into(), p.redirect_url.clone().into());
        if let Some(u) = &p.cancel_url {
            m.insert("cancelUrl".into(), u.clone().into());
        }
        m.insert("webhookUrl".into(), p.webhook_url.clone().into());
        for (k, v) in [("customerId", &p.customer_id), ("mandateId", &p.mandate_id)] {
            if let Some(v) = v {
                m.insert(k.into(), v.clone().into());
            }
        }
        if let Some(c) = &p.capture_mode {
            m.insert("captureMode".into(), c.clone().into());
        }
        if let Some(d) = &p.capture_delay_text {
            m.insert("captureDelay".into(), d.clone().into());
        }
        if !p.details.is_null() {
            m.insert("details".into(), p.details.clone());
        }
        m.insert("_links".into(), self.payment_links(p, base));
        let embedded = self.embedded(p, base, embed);
        if !embedded.is_empty() {
            m.insert("_embedded".into(), Value::Object(embedded));
        }
        Value::Object(m)
    }

    /// `amount` and the money fields, each present only when Mollie shows it.
    fn put_money(&self, m: &mut Map<String, Value>, p: &Payment) {
        let cur = p.amount.currency.as_str();
        let amt = |v: Decimal| Amount::new(cur, v).json();
        let sums = self.sums(p);
        m.insert("amount".into(), p.amount.json());
        if p.status == Status::Paid || !p.refunds.is_empty() {
            m.insert("amountRefunded".into(), amt(sums.refunded));
            m.insert("amountRemaining".into(), amt(self.remaining(p)));
        }
        if !p.captures.is_empty() || p.capture_mode.as_deref() == Some("manual") {
            m.insert("amountCaptured".into(), amt(sums.captured));
        }
        if !sums.charged_back.is_zero() {
            m.insert("amountChargedBack".into(), amt(sums.charged_back));
        }
    }

    fn payment_links(&self, p: &Payment, base: &str) -> Value {
        let me = format!("{base}/v2/payments/{}", p.id);
        let mut l = Map::new();
        l.insert("self".into(), link(&me, HAL));
        if p.status == Status::Open && p.sequence_type != "recurring" {
            l.insert(
                "checkout".into(),
                link(&format!("{base}/checkout/{}", p.id), "text/html"),
            );
        }
        let test = p.owner.mode.as_str() == "test";
        let state_page =
            (p.sequence_type == "recurring" && !p.status.is_final()) || p.status == Status::Paid;
        if test && state_page {
            let href = format!("{base}/checkout/{}", p.id);
            l.insert("changePaymentState".into(), link(&href, "text/html"));
        }
        l.insert(
            "dashboard".into(),
            link(&format!("{base}/dashboard/payments/{}", p.id), "text/html"),
        );
        for (name, ids) in [
            ("refunds", &p.refunds),
            ("captures", &p.captures),
            ("chargebacks", &p.chargebacks),
        ] {
            if !ids.is_empty() {
                l.insert(name.into(), link(&format!("{me}/{name}"), HAL));
            }
        }
        if let Some(c) = &p.customer_id {
            l.insert(
                "customer".into(),
                link(&format!("{base}/v2/customers/{c}"), HAL),
            );
        }
        if let (Some(c), Some(md)) = (&p.customer_id, &p.mandate_id) {
            l.insert(
                "mandate".into(),
                link(&format!("{base}/v2/customers/{c}/mandates/{md}"), HAL),
            );
        }
        l.insert("documentation".into(), docs("get-payment"));
        Value::Object(l)
    }

    fn embedded(&self, p: &Payment, base: &str, embed: &[&str]) -> Map<String, Value> {
        let mut e = Map::new();
        if embed.contains(&"refunds") {
            let v: Vec<Value> = p
                .refunds
                .iter()
                .rev()
                .filter_map(|id| self.refunds.get(id))
                .map(|r| self.refund_json(r, base))
                .collect();
            e.insert("refunds".into(), v.into());
        }
        if embed.contains(&"captures") {
            let v: Vec<Value> = p
                .captures
                .iter()
                .rev()
                .filter_map(|id| self.captures.get(id))
                .map(|c| capture_json(c, base))
                .collect();
            e.insert("captures".into(), v.into());
        }
        if embed.contains(&"chargebacks") {
            let v: Vec<Value> = p
                .chargebacks
                .iter()
                .rev()
                .filter_map(|id| self.chargebacks.get(id))
                .map(|c| chargeback_json(c, base))
                .collect();
            e.insert("chargebacks".into(), v.into());
        }
        e
    }

    pub(crate) fn refund_json(&self, r: &Refund, base: &str) -> Value {
        let mode = self
            .payments
            .get(&r.payment_id)
            .map_or("test", |p| p.owner.mode.as_str());
        let pay = format!("{base}/v2/payments/{}", r.payment_id);
        json!({
            "resource": "refund",
            "id": r.id,
            "mode": mode,
            "amount": r.amount.json(),
            "settlementAmount": r.amount.negated_json(),
            "status": r.status,
            "createdAt": ts(r.created_at),
            "description": r.description,
            "metadata": r.metadata,
            "paymentId": r.payment_id,
            "_links": {
                "self": link(&format!("{pay}/refunds/{}", r.id), HAL),
                "payment": link(&pay, HAL),
                "documentation": docs("get-refund"),
            }
        })
    }
}
