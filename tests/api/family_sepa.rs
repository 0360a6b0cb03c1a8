//! The family driver's SEPA and PSP-side money steps: what happens at the PSP to a direct debit
//! (settled, charged back, the chargeback reversed) or to a payment (a refund made in the PSP's
//! back office), each answering the notification the PSP sends about it as a [`PspNote`], which
//! a test delivers when it wants (early, late, twice). The mandate and the debit themselves are
//! Billwerk's requests ([`sepa_agreement`], [`pending_sepa_debit`]) and the same for every family.
//!
//! OPPWA's note is its full `PAYMENT` notification of the one transaction, as the simulator
//! reports it; Mollie's is its id-only webhook (`id=tr_…`), after which we fetch the payment and
//! see everything it holds at that moment: so a Mollie note delivered early or twice is a
//! redelivery of the current state, never an out-of-order payload.

// A toolbox: each suite uses the part it needs.
#![allow(dead_code)]

use psp_integrator::sim::mollie as msim;
use psp_integrator::sim::oppwa as osim;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::family_events::{PspStandIn, payment_of};
use crate::harness::*;

/// A notification the PSP sends about one of its transactions, for a test to deliver when it
/// wants: early, late, or again (the PSP's redelivery).
#[derive(Clone, Debug)]
pub enum PspNote {
    /// OPPWA's `PAYMENT` notification payload (encrypted when delivered).
    Oppwa(Value),
    /// Mollie's webhook: the id of the payment that changed.
    Mollie(String),
}

impl PspNote {
    /// Whether the note carries its transaction's state as it was when sent (OPPWA's
    /// payload), so one delivered early shows only that; Mollie's webhook makes us fetch the
    /// payment as it is now.
    pub fn carries_state(&self) -> bool {
        matches!(self, PspNote::Oppwa(_))
    }
}

impl TestApp {
    /// The notification the PSP sends about `psp_id` as it stands now.
    pub fn psp_note(&self, psp_id: &str) -> PspNote {
        match self.family {
            Family::Oppwa => PspNote::Oppwa(self.psp_json(psp_id)),
            Family::Mollie => PspNote::Mollie(payment_of(psp_id).to_string()),
        }
    }

    /// Delivers `note` to our notification endpoint, as the PSP does; our answer's status.
    pub async fn deliver(&self, note: &PspNote) -> StatusCode {
        match note {
            PspNote::Oppwa(payload) => self.notify(payload).await,
            PspNote::Mollie(tr) => self.mollie_webhook(tr).await,
        }
    }

    /// The bank collects the pending direct debit `psp_id` (OPPWA `000.100.110`; Mollie `paid`);
    /// the PSP queues its webhook. Returns the settlement's notification (not delivered).
    pub fn psp_settles_debit(&self, psp_id: &str) -> PspNote {
        match self.family {
            Family::Oppwa => {
                self.sim
                    .sim
                    .complete(psp_id, "000.100.110")
                    .expect("settled at the PSP");
            }
            Family::Mollie => {
                self.mollie()
                    .sim
                    .set_payment_status(payment_of(psp_id), "paid")
                    .expect("settled at the PSP");
            }
        }
        self.psp_note(psp_id)
    }

    /// [`Self::psp_settles_debit`], and its notification delivered and acknowledged.
    pub async fn psp_settles_debit_and_tells(&self, psp_id: &str) {
        let note = self.psp_settles_debit(psp_id);
        assert_eq!(self.deliver(&note).await, StatusCode::OK, "{note:?}");
    }

    /// A chargeback of `amount` (major units as the PSP writes them, `"30.00"`) with the bank's
    /// `reason` (a SEPA code such as `AM04`) on the collected debit `psp_id`, made at the PSP,
    /// which queues its webhook. Returns the chargeback's id at the PSP and its notification.
    pub fn psp_sepa_chargeback(
        &self,
        psp_id: &str,
        amount: &str,
        reason: Option<&str>,
    ) -> (String, PspNote) {
        match self.family {
            Family::Oppwa => {
                let cb = self
                    .sim
                    .sim
                    .chargeback(psp_id, amount, reason)
                    .expect("chargeback at the PSP");
                (id_of(&cb), PspNote::Oppwa(cb))
            }
            Family::Mollie => {
                let tr = payment_of(psp_id);
                let cb = self
                    .mollie()
                    .sim
                    .chargeback(tr, Some(amount), reason, false)
                    .expect("chargeback at the PSP");
                (id_of(&cb), PspNote::Mollie(tr.to_string()))
            }
        }
    }

    /// The bank reverses the whole chargeback `chargeback` (of `amount`) on `psp_id`; the PSP
    /// queues its webhook. Returns the reversal's notification.
    pub fn psp_reverses_chargeback(&self, psp_id: &str, chargeback: &str, amount: &str) -> PspNote {
        match self.family {
            Family::Oppwa => PspNote::Oppwa(
                self.sim
                    .sim
                    .chargeback_reversal(chargeback, amount)
                    .expect("reversal at the PSP"),
            ),
            Family::Mollie => {
                // Mollie reverses a chargeback whole; `amount` is what the test expects back.
                self.mollie()
                    .sim
                    .reverse_chargeback(chargeback)
                    .expect("reversal at the PSP");
                PspNote::Mollie(payment_of(psp_id).to_string())
            }
        }
    }

    /// The merchant refunds `amount` (`"20.00"`, EUR) of the PSP's payment `psp_id` in the
    /// PSP's back office (through the PSP's own API, as its dashboard does), and the refund is
    /// done there. Returns its notification (not delivered).
    pub async fn psp_back_office_refund(&self, psp_id: &str, amount: &str) -> PspNote {
        match self.family {
            Family::Oppwa => {
                let res = self
                    .client
                    .post(format!("{}/v1/payments/{psp_id}", self.sim.base_url))
                    .bearer_auth(osim::SANDBOX_ACCESS_TOKEN)
                    .form(&[
                        ("entityId", osim::SANDBOX_ENTITY_ID),
                        ("paymentType", "RF"),
                        ("amount", amount),
                        ("currency", "EUR"),
                    ])
                    .send()
                    .await
                    .expect("back-office refund");
                let rf: Value = res.json().await.expect("json");
                assert!(
                    rf["result"]["code"]
                        .as_str()
                        .is_some_and(|c| c.starts_with("000.")),
                    "{rf}"
                );
                PspNote::Oppwa(self.psp_json(&id_of(&rf)))
            }
            Family::Mollie => {
                let m = self.mollie();
                let tr = payment_of(psp_id);
                let res = self
                    .client
                    .post(format!("{}/v2/payments/{tr}/refunds", m.base_url))
                    .bearer_auth(msim::SANDBOX_TEST_KEY)
                    .json(&json!({"amount": {"currency": "EUR", "value": amount}}))
                    .send()
                    .await
                    .expect("dashboard refund");
                let status = res.status();
                let rf: Value = res.json().await.expect("json");
                assert_eq!(status, StatusCode::CREATED, "{rf}");
                // Each refund step takes 2 h at the simulator: pending, processing, refunded.
                m.sim.advance_clock(5 * 3600);
                let done = embedded_refund(&m.sim.payments(), tr, &id_of(&rf));
                assert_eq!(done["status"], "refunded", "{done}");
                PspNote::Mollie(tr.to_string())
            }
        }
    }

    /// The PSP answers the next refund Pending: OPPWA by its forced result `000.200.000`;
    /// Mollie's refunds are pending anyway until their steps pass.
    pub fn psp_holds_next_refund(&self) {
        if self.family == Family::Oppwa {
            self.sim.sim.force_next_result("000.200.000");
        }
    }

    /// The PSP completes the pending refund `rf_psp` (ours for it: `tr_…/re_…` for Mollie) and
    /// queues its notification, not delivered: OPPWA `000.100.110`; Mollie's refund steps pass
    /// until it is `refunded`.
    pub fn psp_completes_refund(&self, rf_psp: &str) {
        match self.family {
            Family::Oppwa => {
                self.sim
                    .sim
                    .complete(rf_psp, "000.100.110")
                    .expect("refund confirmed at the PSP");
            }
            Family::Mollie => {
                let m = self.mollie();
                let (tr, re) = rf_psp.split_once('/').expect("tr_…/re_…");
                // Each refund step takes 2 h at the simulator: pending, processing, refunded.
                m.sim.advance_clock(5 * 3600);
                let done = embedded_refund(&m.sim.payments(), tr, re);
                assert_eq!(done["status"], "refunded", "{done}");
            }
        }
    }

    /// The refund the PSP made for our refund `refund` (its answer to us was lost), done at the
    /// PSP, and two notifications of it: one we cannot verify while the PSP is unavailable, and
    /// the authentic one. OPPWA: its notification with the amount changed to 150.00 (we check
    /// that against the PSP), and the notification as made. Mollie: its webhook for the
    /// payment, both times (our fetch is the check), once its refund steps have passed.
    pub fn psp_refund_notes(&self, refund: &str) -> (PspNote, PspNote) {
        match self.family {
            Family::Oppwa => {
                let rf = self
                    .sim
                    .sim
                    .transactions()
                    .into_iter()
                    .find(|t| t["merchantTransactionId"] == refund)
                    .expect("the PSP made the refund");
                let mut wrong = rf.clone();
                wrong["amount"] = json!("150.00");
                (PspNote::Oppwa(wrong), PspNote::Oppwa(rf))
            }
            Family::Mollie => {
                let m = self.mollie();
                let (tr, re) = m
                    .sim
                    .payments()
                    .iter()
                    .find_map(|p| {
                        p["_embedded"]["refunds"]
                            .as_array()?
                            .iter()
                            .find(|r| r["metadata"]["transactionId"] == refund)
                            .map(|r| (id_of(p), id_of(r)))
                    })
                    .expect("the PSP made the refund");
                self.psp_completes_refund(&format!("{tr}/{re}"));
                (PspNote::Mollie(tr.clone()), PspNote::Mollie(tr))
            }
        }
    }

    /// The PSP reports the collected debit `psp_id` failed after all (the bank's `AM04`,
    /// insufficient funds): OPPWA a notification built from the PSP's record with the decline
    /// code; Mollie its webhook, whose fetch `stand_in` makes answer `failed` (Mollie's own
    /// record stays `paid`: a returned debit is a chargeback there). Our answer to the report.
    pub async fn psp_reports_debit_failed(
        &self,
        stand_in: &PspStandIn,
        psp_id: &str,
    ) -> StatusCode {
        match self.family {
            Family::Oppwa => {
                let mut failed = self.psp_json(psp_id);
                failed["result"] =
                    json!({"code": "800.100.203", "description": "insufficient funds"});
                self.notify(&failed).await
            }
            Family::Mollie => {
                let details = json!({"bankReasonCode": "AM04", "bankReason": "Insufficient funds"});
                self.mollie_fetch_says_failed(stand_in, psp_id, details)
                    .await
            }
        }
    }

    /// The PSP reports a second chargeback, a copy of `first` under another id, beyond what
    /// `psp_id` collected (both PSPs refuse to make one): OPPWA a hand-made notification; Mollie
    /// its webhook, whose fetch `stand_in` makes list the copy beside the first. Our answer.
    pub async fn psp_reports_excess_chargeback(
        &self,
        stand_in: &PspStandIn,
        psp_id: &str,
        first: &PspNote,
    ) -> StatusCode {
        match first {
            PspNote::Oppwa(cb) => {
                let mut second = cb.clone();
                second["id"] = json!(uuid::Uuid::new_v4().simple().to_string());
                self.notify(&second).await
            }
            PspNote::Mollie(_) => {
                let tr = payment_of(psp_id).to_string();
                let path = format!("/v2/payments/{tr}");
                stand_in.rewrite(move |p, body| {
                    if p != path {
                        return;
                    }
                    if let Some(cbs) = body["_embedded"]["chargebacks"].as_array_mut()
                        && let Some(first) = cbs.first().cloned()
                    {
                        let mut copy = first;
                        copy["id"] = json!("chb_excess");
                        cbs.push(copy);
                    }
                });
                let status = self.mollie_webhook(&tr).await;
                stand_in.pass_through();
                status
            }
        }
    }

    /// Sets the PSP's deliveries askew: every notification sent twice, and a stale one after
    /// the final one (OPPWA: queued notifications in reverse order; Mollie: a late second
    /// webhook an hour after a payment's final status). Arm before the events.
    pub fn psp_duplicates_and_reorders(&self) {
        match self.family {
            Family::Oppwa => self.sim.sim.set_webhook_faults(osim::WebhookFaults {
                duplicate: true,
                reverse_order: true,
                hold: false,
            }),
            Family::Mollie => self.mollie().sim.update_knobs(|k| {
                k.duplicate_webhooks = true;
                k.late_webhook_secs = 3600;
            }),
        }
    }

    /// The PSP delivers everything it has queued, late webhooks included (moving Mollie's
    /// clock until its queue is empty); returns how many deliveries got a 200.
    pub async fn psp_delivers_all(&self) -> usize {
        let mut ok = self.psp_delivers().await;
        if let Some(m) = &self.mollie {
            for _ in 0..10 {
                if m.sim.pending_deliveries() == 0 {
                    break;
                }
                m.sim.advance_clock(3600);
                ok += self.psp_delivers().await;
            }
        }
        ok
    }
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("an id in {v}"))
        .to_string()
}

/// Refund `re` of payment `tr` as the Mollie simulator holds it now.
fn embedded_refund(payments: &[Value], tr: &str, re: &str) -> Value {
    payments
        .iter()
        .find(|p| p["id"] == tr)
        .and_then(|p| p["_embedded"]["refunds"].as_array())
        .and_then(|rs| rs.iter().find(|r| r["id"] == re))
        .cloned()
        .unwrap_or_else(|| panic!("refund {re} of {tr} at Mollie"))
}
