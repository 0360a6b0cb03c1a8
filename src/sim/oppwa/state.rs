//! Simulator state: transactions, registrations, checkouts, the sim clock and test controls.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::Fault;
use super::codes;
use super::util::{BUILD_NUMBER, fmt_amount, fmt_timestamp, new_id, new_scheme_id};

/// A 3DS challenge left open longer than this (sim clock) times out (§11.12).
pub(crate) const ACS_TIMEOUT_SECS: i64 = 30 * 60;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct CardData {
    pub number: String,
    pub holder: Option<String>,
    pub expiry_month: String,
    pub expiry_year: String,
}

impl CardData {
    /// Never the full PAN: bin + last four only.
    pub(crate) fn json(&self) -> Value {
        let n = &self.number;
        let mut card = json!({
            "bin": n.get(..6).unwrap_or(n),
            "last4Digits": n.get(n.len().saturating_sub(4)..).unwrap_or(n),
            "expiryMonth": self.expiry_month,
            "expiryYear": self.expiry_year,
        });
        if let (Some(h), Value::Object(m)) = (&self.holder, &mut card) {
            m.insert("holder".into(), Value::String(h.clone()));
        }
        card
    }
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) enum Instrument {
    Card(CardData),
    /// The `bankAccount` object as echoed in responses.
    Sepa(Value),
}

impl Instrument {
    pub(crate) fn insert_into(&self, m: &mut Map<String, Value>) {
        match self {
            Self::Card(c) => m.insert("card".into(), c.json()),
            Self::Sepa(b) => m.insert("bankAccount".into(), b.clone()),
        };
    }
}

/// An open 3DS challenge for a pending transaction.
#[derive(Clone, Debug)]
pub(crate) struct ThreeDs {
    pub return_url: String,
    pub version: &'static str,
    pub started_at: DateTime<Utc>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Tx {
    pub id: String,
    pub payment_type: String,
    pub ndc: String,
    pub referenced_id: Option<String>,
    pub amount: Decimal,
    pub currency: String,
    pub brand: Option<String>,
    pub merchant_tx_id: Option<String>,
    pub code: String,
    pub descriptor: String,
    pub external: bool,
    pub registration_id: Option<String>,
    pub create_registration: bool,
    /// Initial CIT: a scheme-style id is issued on success.
    pub initial_cit: bool,
    pub instrument: Option<Instrument>,
    /// Echoed request groups: customer, billing, shipping, customParameters, standingInstruction, …
    pub echo: Map<String, Value>,
    pub scheme_id: Option<String>,
    /// An open challenge is not kept across a restart (the shopper's browser session is gone).
    #[serde(skip)]
    pub threeds: Option<ThreeDs>,
    pub threeds_result: Option<Value>,
    pub redirect: Option<Value>,
    pub checkout_id: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Chargebacks: `resultDetails.ReasonCode`.
    pub reason_code: Option<String>,
}

impl Tx {
    pub(crate) fn is_success(&self) -> bool {
        codes::is_success(&self.code)
    }

    pub(crate) fn awaiting_3ds(&self) -> bool {
        self.threeds.is_some() && self.code == codes::PENDING
    }

    /// The transaction as OPPWA's API returns it.
    pub(crate) fn json(&self) -> Value {
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        put("id", self.id.clone().into());
        if let Some(r) = &self.referenced_id {
            put("referencedId", r.clone().into());
        }
        if let Some(r) = &self.registration_id {
            put("registrationId", r.clone().into());
        }
        put("paymentType", self.payment_type.clone().into());
        if let Some(b) = &self.brand {
            put("paymentBrand", b.clone().into());
        }
        put("amount", fmt_amount(self.amount).into());
        put("currency", self.currency.clone().into());
        put("descriptor", self.descriptor.clone().into());
        if let Some(mt) = &self.merchant_tx_id {
            put("merchantTransactionId", mt.clone().into());
        }
        put("result", result_json(&self.code));
        put("resultDetails", self.result_details());
        for (k, v) in &self.echo {
            put(k, v.clone());
        }
        if let Some(i) = &self.instrument {
            i.insert_into(&mut m);
        }
        self.put_tail(&mut m);
        Value::Object(m)
    }

    fn put_tail(&self, m: &mut Map<String, Value>) {
        if let Some(t) = &self.threeds_result {
            m.insert("threeDSecure".into(), t.clone());
        }
        if let (Some(r), true) = (&self.redirect, self.awaiting_3ds()) {
            m.insert("redirect".into(), r.clone());
        }
        if let (Some(s), Some(Value::Object(si))) =
            (&self.scheme_id, m.get_mut("standingInstruction"))
        {
            si.insert("initialTransactionId".into(), s.clone().into());
        }
        m.insert("risk".into(), json!({"score": "0"}));
        m.insert("buildNumber".into(), BUILD_NUMBER.into());
        m.insert("timestamp".into(), fmt_timestamp(self.updated_at).into());
        m.insert("ndc".into(), self.ndc.clone().into());
    }

    fn result_details(&self) -> Value {
        let mut d = json!({
            "ExtendedDescription": codes::description(&self.code),
            "AcquirerResponse": if self.is_success() { "00" } else { "05" },
            "ConnectorTxID1": self.id.get(..16).unwrap_or(&self.id),
            "clearingInstituteName": "Simulated Acquirer",
        });
        if let (Some(s), Value::Object(m)) = (&self.scheme_id, &mut d) {
            m.insert("CardholderInitiatedTransactionID".into(), s.clone().into());
        }
        if let (Some(r), Value::Object(m)) = (&self.reason_code, &mut d) {
            m.insert("ReasonCode".into(), r.clone().into());
        }
        d
    }
}

pub(crate) fn result_json(code: &str) -> Value {
    json!({"code": code, "description": codes::description(code)})
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Registration {
    pub id: String,
    pub brand: String,
    pub instrument: Instrument,
    pub deregistered: bool,
    /// Where it was created; picks the channel-level webhooks.
    pub entity_id: Option<String>,
}

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub(crate) struct Checkout {
    pub id: String,
    pub entity_id: String,
    pub params: super::forms::Params,
    pub created_at: DateTime<Utc>,
    pub payment_ids: Vec<String>,
    pub result_read: bool,
    pub status_reads: Vec<DateTime<Utc>>,
}

/// Lookups into `State::txs` by key, so no request scans every transaction (the list only
/// grows). Kept by `State::push_tx`, `finalize` and `mark_3ds`; rebuilt by `reindex`.
#[derive(Default)]
pub(crate) struct TxIndex {
    by_id: HashMap<String, usize>,
    children: HashMap<String, Vec<usize>>,
    by_merchant_tx_id: HashMap<String, Vec<usize>>,
    scheme_ids: HashSet<String>,
    /// Transactions whose code may have changed since the last event scan.
    changed: BTreeSet<usize>,
    /// Transactions that had a 3DS challenge opened (pruned as they finish).
    open_3ds: BTreeSet<usize>,
}

#[derive(Default)]
pub(crate) struct State {
    /// Append only: push with `push_tx` so the index follows.
    pub txs: Vec<Tx>,
    pub index: TxIndex,
    pub regs: HashMap<String, Registration>,
    pub checkouts: HashMap<String, Checkout>,
    pub fault: Fault,
    pub forced: Option<String>,
    pub kind_swap: super::KindSwap,
    pub clock_offset: i64,
    pub outbox: super::events::Outbox,
    pub hooks: super::webhooks::Hooks,
}

impl State {
    pub(crate) fn now(&self) -> DateTime<Utc> {
        Utc::now() + Duration::seconds(self.clock_offset)
    }

    pub(crate) fn tx(&self, id: &str) -> Option<&Tx> {
        self.tx_index(id).and_then(|i| self.txs.get(i))
    }

    pub(crate) fn tx_index(&self, id: &str) -> Option<usize> {
        self.index.by_id.get(id).copied()
    }

    /// Appends a transaction and indexes it; returns its index.
    pub(crate) fn push_tx(&mut self, tx: Tx) -> usize {
        let i = self.txs.len();
        self.index_one(i, &tx);
        self.txs.push(tx);
        i
    }

    fn index_one(&mut self, i: usize, tx: &Tx) {
        let ix = &mut self.index;
        ix.by_id.insert(tx.id.clone(), i);
        if let Some(p) = &tx.referenced_id {
            ix.children.entry(p.clone()).or_default().push(i);
        }
        if let Some(m) = &tx.merchant_tx_id {
            ix.by_merchant_tx_id.entry(m.clone()).or_default().push(i);
        }
        if let Some(s) = &tx.scheme_id {
            ix.scheme_ids.insert(s.clone());
        }
        if tx.threeds.is_some() {
            ix.open_3ds.insert(i);
        }
        ix.changed.insert(i);
    }

    /// Rebuilds the index (after `txs` was replaced wholesale, e.g. loaded from a file).
    pub(crate) fn reindex(&mut self) {
        self.index = TxIndex::default();
        let txs = std::mem::take(&mut self.txs);
        for (i, tx) in txs.iter().enumerate() {
            self.index_one(i, tx);
        }
        self.txs = txs;
    }

    /// Records that transaction `idx` has an open 3DS challenge (it may time out).
    pub(crate) fn mark_3ds(&mut self, idx: usize) {
        self.index.open_3ds.insert(idx);
        self.index.changed.insert(idx);
    }

    /// Transactions referring to `parent`, in creation order.
    pub(crate) fn children<'a>(&'a self, parent: &str) -> impl Iterator<Item = &'a Tx> + 'a {
        self.index
            .children
            .get(parent)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.txs.get(i))
    }

    /// Transactions with `merchantTransactionId` = `mtid`, in creation order.
    pub(crate) fn by_merchant_tx_id<'a>(&'a self, mtid: &str) -> impl Iterator<Item = &'a Tx> + 'a {
        self.index
            .by_merchant_tx_id
            .get(mtid)
            .into_iter()
            .flatten()
            .filter_map(|&i| self.txs.get(i))
    }

    /// Transactions whose code may have changed since the last call (creation order).
    pub(crate) fn take_changed(&mut self) -> BTreeSet<usize> {
        std::mem::take(&mut self.index.changed)
    }

    /// Successful children of `parent` of one payment type.
    pub(crate) fn ok_children<'a>(
        &'a self,
        parent: &'a str,
        payment_type: &'a str,
    ) -> impl Iterator<Item = &'a Tx> + 'a {
        self.children(parent)
            .filter(move |t| t.payment_type == payment_type && t.is_success())
    }

    pub(crate) fn sum_children(&self, parent: &str, payment_type: &str) -> Decimal {
        self.ok_children(parent, payment_type)
            .map(|t| t.amount)
            .sum()
    }

    /// Abandoned 3DS challenges time out; run before every read of state.
    pub(crate) fn expire(&mut self) {
        let now = self.now();
        let limit = Duration::seconds(ACS_TIMEOUT_SECS);
        let open: Vec<usize> = self.index.open_3ds.iter().copied().collect();
        for i in open {
            let Some(tx) = self.txs.get(i) else {
                self.index.open_3ds.remove(&i);
                continue;
            };
            if !tx.awaiting_3ds() {
                self.index.open_3ds.remove(&i);
                continue;
            }
            let stale = tx
                .threeds
                .as_ref()
                .is_some_and(|t| now - t.started_at > limit);
            if stale {
                self.finalize(i, codes::TIMED_OUT);
                self.index.open_3ds.remove(&i);
            }
        }
    }

    /// One-shot forced code: the admin's `force_next_result` first, then `forceResultCode`.
    pub(crate) fn take_forced(&mut self, custom: Option<&str>) -> Option<String> {
        self.forced.take().or_else(|| custom.map(str::to_string))
    }

    /// Sets the final code; on success issues the scheme id and stores the registration.
    pub(crate) fn finalize(&mut self, idx: usize, code: &str) {
        let now = self.now();
        let entity_id = self.txs.get(idx).and_then(|t| self.tx_entity(t));
        let Some(tx) = self.txs.get_mut(idx) else {
            return;
        };
        tx.code = code.to_string();
        tx.updated_at = now;
        self.index.changed.insert(idx);
        if !tx.is_success() {
            return;
        }
        if tx.initial_cit {
            let scheme_id = new_scheme_id();
            self.index.scheme_ids.insert(scheme_id.clone());
            tx.scheme_id = Some(scheme_id);
        }
        let register = tx.create_registration && tx.registration_id.is_none();
        if let (true, Some(inst)) = (register, tx.instrument.clone()) {
            let id = new_id();
            tx.registration_id = Some(id.clone());
            let brand = tx.brand.clone().unwrap_or_default();
            self.regs.insert(
                id.clone(),
                Registration {
                    id,
                    brand,
                    instrument: inst,
                    deregistered: false,
                    entity_id,
                },
            );
        }
    }

    /// Known initial-CIT references: scheme ids and OPPWA ids of successful payments.
    pub(crate) fn known_initial_reference(&self, value: &str) -> bool {
        self.index.scheme_ids.contains(value) || self.tx(value).is_some_and(Tx::is_success)
    }
}
