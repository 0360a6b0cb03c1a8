//! Status transitions (§3.9) with their side effects (timestamps, mandates from first payments,
//! webhooks) and the timers that move things on the sim clock: expiry, settlement of recurring
//! payments, captures, refunds, pending mandates (§3.8, §3.10, §3.13, §3.15).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;

use super::details;
use super::methods;
use super::model::{Mandate, Mode, Status};
use super::respond::ApiError;
use super::state::State;

/// Authorizations are guaranteed this long (the shortest scheme window, Visa/Amex: 7 days).
pub(crate) const AUTHORIZATION_SECS: i64 = 7 * 24 * 3600;

pub(crate) const EXPIRE: &str = "expire";
pub(crate) const SETTLE: &str = "settle";
pub(crate) const CAPTURE: &str = "capture";
pub(crate) const AUTO_CAPTURE: &str = "autocapture";
pub(crate) const REFUND: &str = "refund";
pub(crate) const MANDATE: &str = "mandate";

impl State {
    pub(crate) fn schedule(&mut self, at: DateTime<Utc>, kind: &str, id: &str) {
        let ms = at.timestamp_millis();
        self.timers.insert((ms, kind.to_string(), id.to_string()));
    }

    /// Runs every timer due on the sim clock, earliest first.
    pub(crate) fn tick(&mut self) {
        let now = self.now().timestamp_millis();
        while let Some(first) = self.timers.first().cloned() {
            if first.0 > now {
                break;
            }
            self.timers.remove(&first);
            let (_, kind, id) = first;
            match kind.as_str() {
                EXPIRE => self.expire(&id),
                SETTLE => self.settle_recurring(&id),
                CAPTURE => self.finish_capture(&id),
                AUTO_CAPTURE => self.auto_capture(&id),
                REFUND => self.step_refund(&id),
                MANDATE => self.validate_mandate(&id),
                _ => {}
            }
        }
    }

    /// Moves payment `pid` to `to` with its side effects; 422 for a transition §3.9 forbids.
    pub(crate) fn transition(&mut self, pid: &str, to: Status) -> Result<(), ApiError> {
        let now = self.now();
        let mode_test = self
            .payments
            .get(pid)
            .is_some_and(|p| p.owner.mode == Mode::Test);
        let p = self
            .payments
            .get_mut(pid)
            .ok_or_else(|| ApiError::not_found("payment", pid))?;
        if !p.status.may_become(to) {
            return Err(ApiError::new(
                422,
                format!(
                    "The payment cannot change from {} to {}",
                    p.status.as_str(),
                    to.as_str()
                ),
            ));
        }
        p.status = to;
        match to {
            Status::Paid => p.paid_at = Some(now),
            Status::Authorized => {
                p.authorized_at = Some(now);
                p.capture_before = Some(now + Duration::seconds(AUTHORIZATION_SECS));
            }
            Status::Canceled => p.canceled_at = Some(now),
            Status::Expired => p.expired_at = Some(now),
            Status::Failed => p.failed_at = Some(now),
            Status::Open | Status::Pending => {}
        }
        let method = p.method.clone().unwrap_or_default();
        if matches!(to, Status::Paid | Status::Authorized) && p.details.is_null() {
            p.details = match method.as_str() {
                "creditcard" | "applepay" => details::card(),
                "paypal" => details::mandate("paypal"),
                _ => details::bank(),
            };
        }
        let first = (p.sequence_type == "first")
            .then(|| p.customer_id.clone())
            .flatten();
        let delay = p.capture_delay_secs;
        if let Some(cst) = first {
            self.first_payment_mandate(pid, &cst, to, &method, mode_test);
        }
        if let (Status::Authorized, Some(d)) = (to, delay) {
            self.schedule(now + Duration::seconds(d), AUTO_CAPTURE, pid);
        }
        if to != Status::Pending {
            self.notify(pid);
        }
        Ok(())
    }

    /// A first payment that is paid or authorized leaves a mandate (pending by knob); a
    /// cancelled test first payment leaves a pending one (api-documentation#455).
    fn first_payment_mandate(
        &mut self,
        pid: &str,
        cst: &str,
        to: Status,
        method: &str,
        test: bool,
    ) {
        if matches!(to, Status::Paid | Status::Authorized) {
            let kind = methods::find(method)
                .and_then(|m| m.mandate)
                .unwrap_or("directdebit");
            let pending = self.knobs.mandate_pending_secs;
            let mid = self.add_mandate(cst, kind, pending, None, None);
            if let Some(p) = self.payments.get_mut(pid) {
                p.mandate_id = Some(mid);
            }
        } else if to == Status::Canceled && test {
            // A cancelled test first payment leaves a pending mandate (api-documentation#455).
            let kind = methods::find(method)
                .and_then(|m| m.mandate)
                .unwrap_or("creditcard");
            let mid = self.add_mandate(cst, kind, 0, None, None);
            if let Some(m) = self.mandates.get_mut(&mid) {
                m.status = "pending".into();
            }
        }
    }

    /// Adds a mandate to customer `cst`: `valid`, or `pending` for `pending_secs` when > 0.
    pub(crate) fn add_mandate(
        &mut self,
        cst: &str,
        method: &str,
        pending_secs: i64,
        details: Option<Value>,
        reference: Option<String>,
    ) -> String {
        let id = self.new_id("mdt_");
        let now = self.now();
        let Some(c) = self.customers.get_mut(cst) else {
            return id;
        };
        c.mandates.push(id.clone());
        let owner = c.owner.clone();
        let valid_at = (pending_secs > 0).then(|| now + Duration::seconds(pending_secs));
        let m = Mandate {
            id: id.clone(),
            owner,
            customer_id: cst.to_string(),
            created_at: now,
            method: method.to_string(),
            status: if valid_at.is_some() {
                "pending"
            } else {
                "valid"
            }
            .into(),
            valid_at,
            revoked: false,
            details: details.unwrap_or_else(|| details::mandate(method)),
            mandate_reference: reference,
            signature_date: Some(now.format("%Y-%m-%d").to_string()),
        };
        self.mandates.insert(id.clone(), m);
        if let Some(at) = valid_at {
            self.schedule(at, MANDATE, &id);
        }
        id
    }

    fn expire(&mut self, pid: &str) {
        let now = self.now();
        let due = self
            .payments
            .get(pid)
            .is_some_and(|p| p.status == Status::Open && p.expires_at.is_some_and(|e| e <= now));
        if due {
            let _ = self.transition(pid, Status::Expired);
        }
    }

    /// A pending recurring payment ends: direct debit paid (or failed with a bank reason), card
    /// paid (or failed by knob or magic amount).
    fn settle_recurring(&mut self, pid: &str) {
        let Some(p) = self
            .payments
            .get(pid)
            .filter(|p| p.status == Status::Pending)
        else {
            return;
        };
        let debit = p.method.as_deref() == Some("directdebit");
        let card = p.method.as_deref() == Some("creditcard");
        let magic = details::magic_failure(&p.amount).filter(|_| card);
        let failure = if debit {
            self.knobs.sepa_failure.clone()
        } else if card && self.knobs.card_recurring_fails {
            Some("card_declined".to_string())
        } else {
            magic.map(str::to_string)
        };
        let Some(code) = failure else {
            let _ = self.transition(pid, Status::Paid);
            if let (true, Some(reason)) = (debit, self.knobs.sepa_chargeback.clone()) {
                let amount = self.payments.get(pid).map(|p| p.amount.clone());
                if let Some(a) = amount {
                    self.add_chargeback(pid, a, Some(&reason), false);
                }
            }
            return;
        };
        if let Some(p) = self.payments.get_mut(pid) {
            if debit {
                if let Value::Object(m) = &mut p.details {
                    m.insert("bankReasonCode".into(), code.clone().into());
                    m.insert("bankReason".into(), details::bank_reason(&code).into());
                }
            } else {
                p.details = details::card_failure(&code);
            }
        }
        let _ = self.transition(pid, Status::Failed);
    }

    fn validate_mandate(&mut self, mid: &str) {
        if let Some(m) = self
            .mandates
            .get_mut(mid)
            .filter(|m| m.status == "pending" && !m.revoked)
        {
            m.status = "valid".into();
            m.valid_at = None;
        }
    }
}
