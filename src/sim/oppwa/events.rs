//! Turning state changes into webhook events (§6.1, §11.16, §11.18).
//!
//! Rather than hooking every code path that touches a transaction, the simulator compares the
//! state with a snapshot after each locked operation: whatever is new or changed becomes an event.
//! That way 3DS completions, timeouts, checkout payments and admin actions are all covered.

use chrono::Duration;
use serde_json::{Map, Value};

use super::codes;
use super::state::{Registration, State, Tx, result_json};
use super::util::{BUILD_NUMBER, fmt_timestamp};
use super::webhooks::Event;

impl State {
    /// The entity a transaction was made on: from its checkout, else from the S2S `ndc`.
    pub(crate) fn tx_entity(&self, tx: &Tx) -> Option<String> {
        if let Some(c) = tx
            .checkout_id
            .as_ref()
            .and_then(|id| self.checkouts.get(id))
        {
            return Some(c.entity_id.clone());
        }
        tx.ndc.split_once('_').map(|(e, _)| e.to_string())
    }

    /// Queues a webhook delivery for every transaction/registration change since the last scan.
    pub(crate) fn collect_events(&mut self) {
        let mut events = Vec::new();
        let changed = self.take_changed();
        for tx in changed.iter().filter_map(|&i| self.txs.get(i)) {
            if self.outbox.seen_txs.get(&tx.id) != Some(&tx.code) {
                self.outbox.seen_txs.insert(tx.id.clone(), tx.code.clone());
                events.push(Event {
                    type_: "PAYMENT",
                    action: None,
                    entity: self.tx_entity(tx),
                    payload: tx.json(),
                });
            }
        }
        let mut regs: Vec<&Registration> = self
            .regs
            .values()
            .filter(|r| self.outbox.seen_regs.get(&r.id) != Some(&r.deregistered))
            .collect();
        regs.sort_by(|a, b| a.id.cmp(&b.id));
        for reg in regs {
            let before = self
                .outbox
                .seen_regs
                .insert(reg.id.clone(), reg.deregistered);
            let action = match (before, reg.deregistered) {
                (None, false) => "CREATED",
                (None, true) | (Some(false), true) => "DELETED",
                _ => continue,
            };
            events.push(Event {
                type_: "REGISTRATION",
                action: Some(action),
                entity: reg.entity_id.clone(),
                payload: registration_json(reg, self.now()),
            });
        }
        let now = self.now();
        for ev in &events {
            self.hooks.enqueue(ev, now);
        }
    }

    /// `settle_after_secs`: pending (non-3DS) transactions older than `after` succeed.
    pub(crate) fn settle_due(&mut self, after: i64) {
        let now = self.now();
        for i in 0..self.txs.len() {
            let tx = &self.txs[i];
            let due = codes::is_pending(&tx.code)
                && !tx.awaiting_3ds()
                && now - tx.updated_at >= Duration::seconds(after);
            if due {
                let ok = if tx.external {
                    codes::OK_EXTERNAL
                } else {
                    codes::OK_INTERNAL
                };
                self.finalize(i, ok);
            }
        }
    }
}

/// A registration as the webhook payload carries it.
pub(crate) fn registration_json(reg: &Registration, now: chrono::DateTime<chrono::Utc>) -> Value {
    let mut m = Map::new();
    m.insert("id".into(), reg.id.clone().into());
    m.insert("paymentBrand".into(), reg.brand.clone().into());
    reg.instrument.insert_into(&mut m);
    m.insert("result".into(), result_json(codes::OK_INTERNAL));
    m.insert("buildNumber".into(), BUILD_NUMBER.into());
    m.insert("timestamp".into(), fmt_timestamp(now).into());
    if let Some(e) = &reg.entity_id {
        m.insert("authentication".into(), serde_json::json!({"entityId": e}));
    }
    Value::Object(m)
}
