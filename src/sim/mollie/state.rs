//! Simulator state: keys, resources in hash maps (O(1) lookups by id), the sim clock, knobs, the
//! webhook queue and the idempotency cache. Everything is serialisable for the state file.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand::distributions::Alphanumeric;
use serde::{Deserialize, Serialize};

use super::knobs::Knobs;
use super::model::{Capture, Chargeback, Customer, Mandate, Mode, Owner, Payment, Refund};
use super::respond::ApiError;
use super::webhooks::Hooks;

/// The sim clock: real time (optionally accelerated) or frozen, plus a manual offset (§3.8).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Clock {
    /// Real time at which the accelerated clock started.
    pub anchor: DateTime<Utc>,
    /// Sim seconds per real second (1: real time).
    pub speed: u32,
    /// A frozen clock only moves by `advance` (deterministic tests).
    pub frozen: bool,
    pub offset_ms: i64,
}

impl Clock {
    pub(crate) fn new(frozen: bool, speed: u32) -> Self {
        Self {
            anchor: Utc::now(),
            speed: speed.max(1),
            frozen,
            offset_ms: 0,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        let elapsed = if self.frozen {
            Duration::zero()
        } else {
            (Utc::now() - self.anchor) * self.speed as i32
        };
        self.anchor + elapsed + Duration::milliseconds(self.offset_ms)
    }
}

/// A cached answer for one `Idempotency-Key` (§2.12); `answer` is `None` while in flight.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct IdemEntry {
    pub fingerprint: String,
    pub at: DateTime<Utc>,
    pub answer: Option<(u16, String)>,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct State {
    pub clock: Clock,
    pub knobs: Knobs,
    /// API key → the profile and mode it pins.
    pub keys: HashMap<String, Owner>,
    pub payments: HashMap<String, Payment>,
    pub customers: HashMap<String, Customer>,
    pub mandates: HashMap<String, Mandate>,
    pub refunds: HashMap<String, Refund>,
    pub captures: HashMap<String, Capture>,
    pub chargebacks: HashMap<String, Chargeback>,
    /// Creation order (oldest first) for the account-wide lists.
    pub payment_order: Vec<String>,
    pub customer_order: Vec<String>,
    pub chargeback_order: Vec<String>,
    pub hooks: Hooks,
    /// Due work on the sim clock: `(millis, kind, id)`, earliest first (`lifecycle.rs`).
    pub timers: BTreeSet<(i64, String, String)>,
    /// `<api key> <Idempotency-Key>` → the first answer.
    pub idem: HashMap<String, IdemEntry>,
    /// Payment id → how many more `GET`s answer 404 (transient 404 knob).
    pub transient_404: HashMap<String, u32>,
    /// Requests in the current sim-clock second (429 knob).
    #[serde(skip)]
    pub rate: (i64, u32),
    seq: u64,
}

impl State {
    pub(crate) fn new(clock: Clock) -> Self {
        Self {
            clock,
            knobs: Knobs::default(),
            keys: HashMap::new(),
            payments: HashMap::new(),
            customers: HashMap::new(),
            mandates: HashMap::new(),
            refunds: HashMap::new(),
            captures: HashMap::new(),
            chargebacks: HashMap::new(),
            payment_order: Vec::new(),
            customer_order: Vec::new(),
            chargeback_order: Vec::new(),
            hooks: Hooks::default(),
            timers: BTreeSet::new(),
            idem: HashMap::new(),
            transient_404: HashMap::new(),
            rate: (0, 0),
            seq: 0,
        }
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// A new id with `prefix`: alternately 10 and 22 characters long, as Mollie's ids are.
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        let len = if self.seq % 2 == 1 { 10 } else { 22 };
        let body: String = rand::thread_rng()
            .sample_iter(&Alphanumeric)
            .take(len - prefix.len())
            .map(char::from)
            .collect();
        format!("{prefix}{body}")
    }

    /// Registers a profile's test and live key.
    pub(crate) fn add_profile(&mut self, profile: &str, test_key: &str, live_key: &str) {
        for (k, mode) in [(test_key, Mode::Test), (live_key, Mode::Live)] {
            let owner = Owner {
                profile: profile.to_string(),
                mode,
            };
            self.keys.insert(k.to_string(), owner);
        }
    }

    pub(crate) fn payment(&self, id: &str, who: &Owner) -> Result<&Payment, ApiError> {
        let p = self.payments.get(id);
        check_owner(p.map(|p| &p.owner), who, "payment", id)?;
        p.ok_or_else(|| ApiError::not_found("payment", id))
    }

    pub(crate) fn customer(&self, id: &str, who: &Owner) -> Result<&Customer, ApiError> {
        let c = self.customers.get(id);
        check_owner(c.map(|c| &c.owner), who, "customer", id)?;
        c.ok_or_else(|| ApiError::not_found("customer", id))
    }

    /// A mandate of `customer_id` (a mandate of another customer is unknown here).
    pub(crate) fn mandate(
        &self,
        customer_id: &str,
        id: &str,
        who: &Owner,
    ) -> Result<&Mandate, ApiError> {
        let m = self
            .mandates
            .get(id)
            .filter(|m| m.customer_id == customer_id);
        check_owner(m.map(|m| &m.owner), who, "mandate", id)?;
        m.ok_or_else(|| ApiError::not_found("mandate", id))
    }

    /// The newest `valid` mandate of a customer.
    pub(crate) fn newest_valid_mandate(&self, customer_id: &str) -> Option<&Mandate> {
        let c = self.customers.get(customer_id)?;
        c.mandates
            .iter()
            .rev()
            .filter_map(|id| self.mandates.get(id))
            .find(|m| m.status == "valid" && !m.revoked)
    }
}

/// Unknown, another profile's (404 "No … exists"), or the other mode's (404 "wrong mode").
fn check_owner(found: Option<&Owner>, who: &Owner, noun: &str, id: &str) -> Result<(), ApiError> {
    match found {
        Some(o) if o == who => Ok(()),
        Some(o) if o.profile == who.profile => Err(ApiError::wrong_mode(noun, id)),
        _ => Err(ApiError::not_found(noun, id)),
    }
}
