//! Webhook configuration (§6.2, §11.15), the delivery queue and the attempt log.
//!
//! Everything here lives inside the simulator's state lock; sending happens in `delivery.rs`
//! after the lock is released.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub(crate) const TYPES: &[&str] = &["PAYMENTS", "REGISTRATIONS", "SCHEDULES", "RISKS"];
pub(crate) const FIELDS: &[&str] = &["ALL", "NON_CUSTOMER_DATA"];

/// One webhook as configured in the BIP. JSON is camelCase (`secretHex`, `entityId`);
/// snake_case names are accepted as aliases.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookConfig {
    pub url: String,
    /// 64 hex characters; empty means `SimConfig::webhook_secret`.
    #[serde(alias = "secret_hex")]
    pub secret_hex: String,
    /// `None`: merchant level, receives every entity's events.
    #[serde(alias = "entity_id")]
    pub entity_id: Option<String>,
    /// `PAYMENTS`, `REGISTRATIONS`, `SCHEDULES`, `RISKS`; empty means all.
    pub types: Vec<String>,
    /// `ALL` or `NON_CUSTOMER_DATA`; empty means `ALL`.
    pub fields: String,
}

impl WebhookConfig {
    pub(crate) fn validate(&self) -> Result<(), String> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            return Err("url must be an http(s) URL".into());
        }
        let key_ok =
            self.secret_hex.len() == 64 && self.secret_hex.bytes().all(|b| b.is_ascii_hexdigit());
        if !self.secret_hex.is_empty() && !key_ok {
            return Err("secretHex must be 64 hex characters".into());
        }
        if let Some(t) = self.types.iter().find(|t| !TYPES.contains(&t.as_str())) {
            return Err(format!(
                "unknown type '{t}' (allowed: {})",
                TYPES.join(", ")
            ));
        }
        if !self.fields.is_empty() && !FIELDS.contains(&self.fields.as_str()) {
            return Err("fields must be ALL or NON_CUSTOMER_DATA".into());
        }
        Ok(())
    }

    fn wants(&self, event_type: &str, entity: Option<&str>) -> bool {
        let plural = format!("{event_type}S");
        let type_ok = self.types.is_empty() || self.types.contains(&plural);
        let entity_ok = match &self.entity_id {
            None => true,
            Some(e) => entity == Some(e.as_str()),
        };
        type_ok && entity_ok
    }
}

/// Delivery faults (§11.17).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct WebhookFaults {
    /// Send each message twice.
    pub duplicate: bool,
    /// Deliver the currently due batch newest-first.
    pub reverse_order: bool,
    /// Deliver nothing until released.
    pub hold: bool,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Webhook {
    pub id: u64,
    pub config: WebhookConfig,
    pub active: bool,
}

impl Webhook {
    pub(crate) fn json(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "url": self.config.url,
            "entityId": self.config.entity_id,
            "types": self.config.types,
            "fields": self.config.fields,
            "active": self.active,
        })
    }
}

/// A state change to notify: `type_` is `PAYMENT` or `REGISTRATION`.
#[derive(Clone, Debug)]
pub(crate) struct Event {
    pub type_: &'static str,
    pub action: Option<&'static str>,
    pub entity: Option<String>,
    pub payload: Value,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Delivery {
    pub id: u64,
    pub webhook_id: u64,
    pub type_: String,
    /// The plaintext JSON; encrypted afresh (new IV) on every attempt.
    pub body: String,
    /// Attempts made so far.
    pub attempts: u32,
    pub created_at: DateTime<Utc>,
    pub next_at: DateTime<Utc>,
}

/// One HTTP attempt, for `GET /__admin/webhooks/attempts`.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub time: String,
    pub webhook_id: u64,
    pub url: String,
    #[serde(rename = "type")]
    pub type_: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub attempt: u32,
}

#[derive(Default)]
pub(crate) struct Hooks {
    pub webhooks: Vec<Webhook>,
    pub queue: Vec<Delivery>,
    pub attempts: Vec<Attempt>,
    pub faults: WebhookFaults,
    /// Failing destinations: nothing is sent to them before this time (failing retrial pattern).
    pub blocked_until: HashMap<u64, DateTime<Utc>>,
    pub next_id: u64,
}

impl Hooks {
    pub(crate) fn add(&mut self, config: WebhookConfig) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.webhooks.push(Webhook {
            id,
            config,
            active: false,
        });
        id
    }

    pub(crate) fn get(&self, id: u64) -> Option<&Webhook> {
        self.webhooks.iter().find(|w| w.id == id)
    }

    /// Queues `ev` for every active webhook that wants it, each with its own field filter.
    pub(crate) fn enqueue(&mut self, ev: &Event, now: DateTime<Utc>) {
        let targets: Vec<(u64, bool)> = self
            .webhooks
            .iter()
            .filter(|w| w.active && w.config.wants(ev.type_, ev.entity.as_deref()))
            .map(|w| (w.id, w.config.fields == "NON_CUSTOMER_DATA"))
            .collect();
        for (webhook_id, strip) in targets {
            self.next_id += 1;
            let payload = if strip {
                strip_customer_data(&ev.payload)
            } else {
                ev.payload.clone()
            };
            self.queue.push(Delivery {
                id: self.next_id,
                webhook_id,
                type_: ev.type_.to_string(),
                body: envelope(ev.type_, ev.action, &payload),
                attempts: 0,
                created_at: now,
                next_at: now,
            });
        }
    }
}

/// `{"type":…,"action":…,"payload":…}` with `type` first, as OPPWA writes it.
pub(crate) fn envelope(type_: &str, action: Option<&str>, payload: &Value) -> String {
    let t = Value::String(type_.to_string());
    match action {
        Some(a) => format!(
            r#"{{"type":{t},"action":{},"payload":{payload}}}"#,
            Value::String(a.to_string())
        ),
        None => format!(r#"{{"type":{t},"payload":{payload}}}"#),
    }
}

/// `NON_CUSTOMER_DATA`: drops personal data (shipping too, as it is a personal address).
pub(crate) fn strip_customer_data(payload: &Value) -> Value {
    let mut p = payload.clone();
    if let Value::Object(m) = &mut p {
        for k in ["customer", "billing", "shipping"] {
            m.remove(k);
        }
        for group in ["card", "bankAccount"] {
            if let Some(Value::Object(g)) = m.get_mut(group) {
                g.remove("holder");
            }
        }
    }
    p
}
