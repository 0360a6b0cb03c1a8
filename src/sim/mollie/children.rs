//! Captures, refunds and chargebacks as they move on the sim clock (§3.13, §3.15, §3.16).

use chrono::Duration;

use super::details;
use super::lifecycle::{CAPTURE, REFUND};
use super::model::{Capture, Chargeback, Status};
use super::money::Amount;
use super::state::State;

impl State {
    /// Creates a capture on an authorized payment; the payment turns `paid` when it succeeds.
    pub(crate) fn add_capture(
        &mut self,
        pid: &str,
        amount: Amount,
        description: Option<String>,
        delay: i64,
    ) -> String {
        let id = self.new_id("cpt_");
        let now = self.now();
        let c = Capture {
            id: id.clone(),
            payment_id: pid.to_string(),
            created_at: now,
            amount,
            description,
            status: "pending".into(),
            next_at: Some(now + Duration::seconds(delay)),
        };
        self.captures.insert(id.clone(), c);
        if let Some(p) = self.payments.get_mut(pid) {
            p.captures.push(id.clone());
        }
        self.schedule(now + Duration::seconds(delay), CAPTURE, &id);
        id
    }

    pub(crate) fn finish_capture(&mut self, cid: &str) {
        let fails = self.knobs.capture_fails;
        let Some(c) = self.captures.get_mut(cid).filter(|c| c.status == "pending") else {
            return;
        };
        c.status = if fails { "failed" } else { "succeeded" }.into();
        c.next_at = None;
        let pid = c.payment_id.clone();
        let authorized = self
            .payments
            .get(&pid)
            .is_some_and(|p| p.status == Status::Authorized);
        if !fails && authorized {
            let _ = self.transition(&pid, Status::Paid);
        } else {
            self.notify(&pid);
        }
    }

    pub(crate) fn auto_capture(&mut self, pid: &str) {
        let Some(p) = self
            .payments
            .get(pid)
            .filter(|p| p.status == Status::Authorized)
        else {
            return;
        };
        let amount = p.amount.clone();
        let cid = self.add_capture(pid, amount, None, 0);
        self.finish_capture(&cid);
    }

    /// `pending → processing → refunded | failed`, one step per `refund_delay_secs`.
    pub(crate) fn step_refund(&mut self, rid: &str) {
        let now = self.now();
        let delay = Duration::seconds(self.knobs.refund_delay_secs);
        let fails = self.knobs.refund_fails;
        let Some(r) = self.refunds.get_mut(rid) else {
            return;
        };
        // The next step counts from when this one was due, not from when the clock was read.
        let base = r.next_at.unwrap_or(now);
        let next = match r.status.as_str() {
            "pending" => "processing",
            "processing" if fails => "failed",
            "processing" => "refunded",
            _ => return,
        };
        r.status = next.into();
        r.next_at = (next == "processing").then(|| base + delay);
        let pid = r.payment_id.clone();
        if next == "processing" {
            self.schedule(base + delay, REFUND, rid);
        }
        self.notify(&pid);
    }

    /// Starts the clock of a `pending` refund (after creation, or when a queued one leaves the queue).
    pub(crate) fn start_refund(&mut self, rid: &str) {
        let at = self.now() + Duration::seconds(self.knobs.refund_delay_secs);
        if let Some(r) = self.refunds.get_mut(rid) {
            r.status = "pending".into();
            r.next_at = Some(at);
        }
        self.schedule(at, REFUND, rid);
    }

    /// A chargeback on a paid payment: the status stays `paid`; the webhook fires (§2.8).
    pub(crate) fn add_chargeback(
        &mut self,
        pid: &str,
        amount: Amount,
        reason: Option<&str>,
        negative: bool,
    ) -> String {
        let id = self.new_id("chb_");
        let reason =
            reason.map(|c| serde_json::json!({"code": c, "description": details::bank_reason(c)}));
        let cb = Chargeback {
            id: id.clone(),
            payment_id: pid.to_string(),
            created_at: self.now(),
            amount,
            reason,
            reversed_at: None,
            negative,
        };
        self.chargebacks.insert(id.clone(), cb);
        self.chargeback_order.push(id.clone());
        if let Some(p) = self.payments.get_mut(pid) {
            p.chargebacks.push(id.clone());
        }
        self.notify(pid);
        id
    }
}
