//! The PSP family the API tests run for, chosen by one switch: `PSPI_TEST_FAMILY=oppwa|mollie`
//! (default `oppwa`). The harness creates its merchants on that family, points them at that
//! family's simulator and gives them its sandbox settings; the driver below hides the steps that
//! differ between families (the shopper on the PSP's checkout, simulator faults, PSP-initiated
//! events, the PSP's view of the money), so one test body runs for both. What a family cannot do
//! is a [`Capability`]: a test that needs it calls [`TestApp::lacks`] and returns early, printing
//! why.

// A toolbox: each suite uses the part it needs.
#![allow(dead_code)]

use psp_integrator::sim::mollie as msim;
use psp_integrator::sim::oppwa as osim;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::harness::*;

/// A PSP family the suite can run for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    Oppwa,
    Mollie,
}

/// Something one family does and another does not; a test needing it is skipped (with a printed
/// reason) for the families that lack it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Capability {
    /// The checkout is a widget on our own page, with a checkout id the shopper's browser
    /// submits to (OPPWA); Mollie redirects to its hosted page.
    WidgetCheckout,
    /// Notifications that prove their origin themselves (OPPWA: an encrypted body with its IV
    /// and tag headers); Mollie's webhook is an unsigned `id=tr_…` with no headers of its own,
    /// proven only by our fetch with the merchant's key (contract/mollie.md).
    SignedNotifications,
    /// An authorization that holds the money until a capture (OPPWA `PA`); our Mollie adapter
    /// collects at once (a first payment, or 0.00 that only registers the card), since
    /// authorize-only with a first or a recurring payment is an open question there
    /// (contract/mollie.md §6 Q1, Q2).
    AuthorizeOnly,
}

impl Family {
    /// The family chosen by `PSPI_TEST_FAMILY` (`oppwa` when unset). An unknown name fails the
    /// test run rather than silently testing the default.
    pub fn under_test() -> Family {
        match std::env::var("PSPI_TEST_FAMILY").as_deref() {
            Err(_) | Ok("") | Ok("oppwa") => Family::Oppwa,
            Ok("mollie") => Family::Mollie,
            Ok(other) => panic!("PSPI_TEST_FAMILY={other}: expected oppwa or mollie"),
        }
    }

    /// The family's registry name (`merchants create --psp NAME`, `/psp/NAME/...`).
    pub fn name(self) -> &'static str {
        match self {
            Family::Oppwa => "oppwa",
            Family::Mollie => "mollie",
        }
    }

    /// Whether the family can do `c` (the list of what Mollie lacks, with the reasons, is
    /// [`Capability`]'s documentation).
    pub fn has(self, c: Capability) -> bool {
        use Capability::*;
        match (self, c) {
            (Family::Oppwa, _) => true,
            // Listed one by one: a new capability needs a decision for Mollie.
            (Family::Mollie, WidgetCheckout | SignedNotifications | AuthorizeOnly) => false,
        }
    }

    /// The sandbox merchant settings of the family's simulator (`second`: another account,
    /// for tenancy tests).
    pub fn sandbox_settings(self, second: bool) -> Value {
        match self {
            Family::Oppwa => oppwa_settings(),
            Family::Mollie => {
                let key = if second {
                    msim::OTHER_TEST_KEY
                } else {
                    msim::SANDBOX_TEST_KEY
                };
                json!({ "merchantSettings": [ { "keyName": "ApiKey", "keyValue": key } ] })
            }
        }
    }
}

/// OPPWA's sandbox settings at the simulator.
fn oppwa_settings() -> Value {
    json!({ "merchantSettings": [
        { "keyName": "AccessToken", "keyValue": osim::SANDBOX_ACCESS_TOKEN },
        { "keyName": "EntityId", "keyValue": osim::SANDBOX_ENTITY_ID },
        { "keyName": "MitEntityId", "keyValue": osim::SANDBOX_MIT_ENTITY_ID },
        { "keyName": "WebhookSecret", "keyValue": osim::SANDBOX_WEBHOOK_SECRET },
        { "keyName": "Environment", "keyValue": "Test" }
    ]})
}

/// The Mollie simulator a test app talks to (when Mollie is under test).
#[derive(Clone)]
pub struct MollieSide {
    pub base_url: String,
    pub sim: msim::Sim,
}

/// Starts the Mollie simulator on port 0 with a frozen clock (tests move it), stopped with
/// `shutdown`.
pub async fn start_mollie(shutdown: &tokio_util::sync::CancellationToken) -> MollieSide {
    let cfg = msim::SimConfig {
        frozen_clock: true,
        ..msim::SimConfig::default()
    };
    let h = msim::Sim::spawn(cfg, "127.0.0.1:0".parse().expect("addr"), shutdown.clone())
        .await
        .expect("the Mollie simulator starts");
    MollieSide {
        base_url: h.base_url,
        sim: h.sim,
    }
}

/// What the shopper does on the PSP's checkout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shopper<'a> {
    /// Pays with this card number (OPPWA's widget; Mollie's test page picks "paid").
    Pay(&'a str),
    /// The PSP declines the payment.
    Decline,
}

/// A transport fault of the PSP, armed for the next request(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PspFault {
    /// No fault.
    None,
    /// The request is processed and committed, then the answer is lost.
    DropAfterCommit,
    /// The PSP is unavailable (503) before processing anything.
    Unavailable,
    /// The PSP is this many milliseconds slow: OPPWA's simulator answers late after
    /// processing, Mollie's waits before processing (so a client that gives up first may never
    /// reach it). "Acted, then answered late" for both: `PspStandIn::answer_late`.
    Delay(u64),
}

/// The PSP's own view of one payment's money, in minor units of its currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PspMoney {
    pub charged: i64,
    pub refunded: i64,
    pub charged_back: i64,
}

/// The family driver: the family-specific steps as one API.
impl TestApp {
    /// The Mollie simulator; panics when Mollie is not under test.
    pub fn mollie(&self) -> &MollieSide {
        self.mollie
            .as_ref()
            .expect("the Mollie simulator runs (PSPI_TEST_FAMILY=mollie)")
    }

    /// True (after printing why) when the family under test lacks `c`: the test returns there
    /// (at its start: skipped; later: the part needing `c` is skipped).
    pub fn lacks(&self, c: Capability) -> bool {
        lacks(self.family, c)
    }

    /// Plays the shopper on the PSP's checkout from our redirect URL, follows the redirects
    /// back through our return URL; returns where the browser finally lands.
    pub async fn shopper_on_checkout(&self, redirect_url: &str, shopper: Shopper<'_>) -> String {
        match self.family {
            Family::Oppwa => {
                if shopper == Shopper::Decline {
                    self.sim.sim.force_next_result("800.100.151");
                }
                let card = match shopper {
                    Shopper::Pay(c) => c,
                    Shopper::Decline => "4200000000000000",
                };
                self.oppwa_pay_on_checkout(redirect_url, card).await
            }
            Family::Mollie => {
                let res = self.client.get(redirect_url).send().await.expect("page");
                assert!(
                    res.status().is_redirection(),
                    "our page redirects to Mollie, got {}",
                    res.status()
                );
                let page = location(&res);
                assert!(
                    page.starts_with(&format!("{}/checkout/", self.mollie().base_url)),
                    "Mollie's hosted checkout: {page}"
                );
                let outcome = match shopper {
                    Shopper::Pay(_) => "paid",
                    Shopper::Decline => "failed",
                };
                let res = self
                    .client
                    .post(&page)
                    .form(&[("outcome", outcome)])
                    .send()
                    .await
                    .expect("test page");
                assert!(
                    res.status().is_redirection(),
                    "Mollie returns the shopper, got {}",
                    res.status()
                );
                let back = location(&res);
                let res = self.client.get(&back).send().await.expect("return");
                assert!(
                    res.status().is_redirection(),
                    "return answers a redirect, got {}",
                    res.status()
                );
                location(&res)
            }
        }
    }

    /// The shopper pays on the PSP's checkout and never comes back to us (closed the tab);
    /// returns the `finalizationData` Billwerk then sends with Finalize.
    pub async fn pay_without_returning(&self, redirect_url: &str, card: &str) -> Value {
        match self.family {
            Family::Oppwa => {
                let page = self.client.get(redirect_url).send().await.expect("page");
                let html = page.text().await.expect("html");
                let checkout = between(&html, "checkoutId=", "\"").expect("checkout id");
                let ret = between(&html, "action=\"", "\"").expect("action");
                let res = self.submit_card(&checkout, &ret, card).await;
                assert_eq!(res.status(), StatusCode::SEE_OTHER);
                json!({ "id": checkout })
            }
            Family::Mollie => {
                let res = self.client.get(redirect_url).send().await.expect("page");
                let page = location(&res);
                let res = self
                    .client
                    .post(&page)
                    .form(&[("outcome", "paid")])
                    .send()
                    .await
                    .expect("test page");
                assert!(res.status().is_redirection(), "{}", res.status());
                // Mollie's return carries nothing of its own.
                json!({})
            }
        }
    }

    /// The contract's `errorCode` and the `pspErrorCode` of a [`Shopper::Decline`].
    pub fn decline_codes(&self) -> (&'static str, &'static str) {
        match self.family {
            Family::Oppwa => ("BearerInvalid", "800.100.151"),
            Family::Mollie => ("Rejected", "card_declined"),
        }
    }

    /// The PSP finishes what is under way (settlements, refunds, recurring card payments:
    /// Mollie's take a while) and delivers its notifications; OPPWA's card operations are
    /// synchronous, so only due notifications go out.
    pub async fn psp_settles(&self) {
        if let Some(m) = &self.mollie {
            // Refund steps take 2 h each in the simulator; direct debits 2 days.
            m.sim.advance_clock(3 * 24 * 3600);
        }
        self.psp_delivers().await;
    }

    /// A transaction the PSP may finish later (Mollie's refunds and recurring card payments):
    /// when `now` (its answer) is Pending, the PSP settles and the transaction (`kind`:
    /// `Preauth`, `Payment`, `Refund`) is read again.
    pub async fn settled(&self, kind: &str, id: &str, now: Value) -> Value {
        if now["status"] != "Pending" {
            return now;
        }
        self.psp_settles().await;
        let (s, b) = self.get(&format!("/api/{kind}/{id}")).await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b
    }

    /// The PSP's charges (payments and captures) made for one Billwerk transaction id: the
    /// "exactly one charge" assertions.
    pub fn psp_charges(&self, billwerk_id: &str) -> usize {
        match self.family {
            // A chargeback (and its reversal) carries its payment's merchantTransactionId: the
            // bank's doing, not a charge.
            Family::Oppwa => self
                .sim
                .sim
                .transactions()
                .iter()
                .filter(|t| t["merchantTransactionId"] == billwerk_id)
                .filter(|t| !matches!(t["paymentType"].as_str(), Some("CB" | "CR")))
                .count(),
            Family::Mollie => {
                let refers = |v: &Value| v["metadata"]["transactionId"] == billwerk_id;
                self.mollie()
                    .sim
                    .payments()
                    .iter()
                    .map(|p| {
                        usize::from(refers(p))
                            + embedded(p, "captures").iter().filter(|c| refers(c)).count()
                            + embedded(p, "refunds").iter().filter(|r| refers(r)).count()
                    })
                    .sum()
            }
        }
    }

    /// Arms a transport fault at the PSP.
    pub fn psp_fault(&self, f: PspFault) {
        match self.family {
            Family::Oppwa => self.sim.sim.set_fault(match f {
                PspFault::None => osim::Fault::None,
                PspFault::DropAfterCommit => osim::Fault::DropAfterProcessing,
                PspFault::Unavailable => osim::Fault::Unavailable,
                PspFault::Delay(millis) => osim::Fault::Delay { millis },
            }),
            Family::Mollie => self.mollie().sim.update_knobs(|k| match f {
                PspFault::None => {
                    k.drop_after_commit = 0;
                    k.error_times = 0;
                    k.delay_ms = 0;
                }
                // "The next N": a test arming a fault expects it to last until it is cleared.
                PspFault::DropAfterCommit => k.drop_after_commit = 1_000,
                PspFault::Unavailable => {
                    k.error_status = 503;
                    k.error_times = 1_000;
                }
                PspFault::Delay(ms) => k.delay_ms = ms,
            }),
        }
    }

    /// The PSP's view of a payment's money by its PSP id (ours for it: `tr_…` for Mollie).
    pub fn psp_money(&self, psp_id: &str) -> PspMoney {
        match self.family {
            Family::Oppwa => {
                let minor = |v: &Value| {
                    v["amount"]
                        .as_str()
                        .and_then(|s| s.parse::<f64>().ok())
                        .map(|f| (f * 100.0).round() as i64)
                        .unwrap_or(0)
                };
                let ok = |v: &Value| {
                    v["result"]["code"].as_str().is_some_and(|c| {
                        c.starts_with("000.000.")
                            || c.starts_with("000.100.1")
                            || c == "000.100.200"
                    })
                };
                let txs = self.sim.sim.transactions();
                let mut m = PspMoney::default();
                for t in &txs {
                    if t["id"] == psp_id && ok(t) {
                        m.charged = minor(t);
                    }
                    if t["referencedId"] != psp_id || !ok(t) {
                        continue;
                    }
                    match t["paymentType"].as_str() {
                        Some("RF") => m.refunded += minor(t),
                        Some("CB") => m.charged_back += minor(t),
                        Some("CR") => m.charged_back -= minor(t),
                        _ => {}
                    }
                }
                m
            }
            Family::Mollie => {
                let pid = psp_id.split('/').next().unwrap_or(psp_id);
                let p = self
                    .mollie()
                    .sim
                    .payments()
                    .into_iter()
                    .find(|p| p["id"] == pid)
                    .unwrap_or_else(|| panic!("the Mollie simulator knows {pid}"));
                let minor = |v: &Value| {
                    v["value"]
                        .as_str()
                        .and_then(|s| s.parse::<f64>().ok())
                        .map(|f| (f * 100.0).round() as i64)
                        .unwrap_or(0)
                };
                PspMoney {
                    charged: minor(&p["amount"]),
                    refunded: minor(&p["amountRefunded"]),
                    charged_back: minor(&p["amountChargedBack"]),
                }
            }
        }
    }

    /// A chargeback of `amount` (major units as the PSP writes them, e.g. `"10.00"`) on the
    /// PSP's payment `psp_id`, made at the PSP; its notification is delivered to us.
    pub async fn psp_chargeback(&self, psp_id: &str, amount: &str) {
        match self.family {
            Family::Oppwa => {
                self.sim
                    .sim
                    .chargeback(psp_id, amount, None)
                    .expect("chargeback at the PSP");
                self.psp_delivers().await;
            }
            Family::Mollie => {
                let pid = psp_id.split('/').next().unwrap_or(psp_id);
                self.mollie()
                    .sim
                    .chargeback(pid, Some(amount), None, false)
                    .expect("chargeback at the PSP");
                self.psp_delivers().await;
            }
        }
    }

    /// Moves the PSP's clock forward (expiry, settlement, retries).
    pub fn psp_advance_clock(&self, secs: i64) {
        match self.family {
            Family::Oppwa => self.sim.sim.advance_clock(secs),
            Family::Mollie => self.mollie().sim.advance_clock(secs),
        }
    }
}

/// True (after printing why) when `family` lacks `c`.
pub fn lacks(family: Family, c: Capability) -> bool {
    if family.has(c) {
        return false;
    }
    eprintln!(
        "stops here for {}: the family lacks {c:?} (tests/api/family.rs)",
        family.name()
    );
    true
}

fn embedded<'a>(p: &'a Value, name: &str) -> &'a [Value] {
    p["_embedded"][name]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
}

/// Asserts a successful settings change (used by the harness for the sandbox settings).
pub fn assert_settings_ok(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::OK, "sandbox settings accepted: {body}");
}
