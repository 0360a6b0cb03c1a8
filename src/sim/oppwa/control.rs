//! Programmatic controls for asynchronous results and webhooks: completing pending transactions,
//! chargebacks, admin-side deregistration and webhook configuration (§11.14–11.19).

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::Value;

use super::Sim;
use super::codes;
use super::payments::descriptor;
use super::state::Tx;
use super::util::{new_id, s2s_ndc};
use super::webhooks::{Attempt, WebhookConfig, WebhookFaults};

impl Sim {
    /// Registers a webhook (inactive until [`Sim::activate_webhook`] gets a 200); returns its id.
    pub fn add_webhook(&self, cfg: WebhookConfig) -> u64 {
        self.with_state(|st, _| st.hooks.add(cfg))
    }

    /// Every configured webhook (without its secret) with its `active` flag.
    pub fn webhooks(&self) -> Vec<Value> {
        self.with_state(|st, _| st.hooks.webhooks.iter().map(|w| w.json()).collect())
    }

    pub fn set_webhook_faults(&self, f: WebhookFaults) {
        self.with_state(|st, _| st.hooks.faults = f);
    }

    /// Every delivery attempt so far (activation tests included), oldest first.
    pub fn webhook_attempts(&self) -> Vec<Attempt> {
        self.with_state(|st, _| st.hooks.attempts.clone())
    }

    /// Moves a pending transaction to `code` (exact description); queues its PAYMENT webhook.
    pub fn complete(&self, payment_id: &str, code: &str) -> Result<Value, String> {
        if !codes::is_well_formed(code) {
            return Err("code must look like NNN.NNN.NNN".into());
        }
        self.with_state(|st, _| {
            let idx = st
                .tx_index(payment_id)
                .ok_or_else(|| format!("unknown payment {payment_id}"))?;
            let current = &st.txs[idx].code;
            if !codes::is_pending(current) {
                return Err(format!("payment {payment_id} is not pending ({current})"));
            }
            st.finalize(idx, code);
            Ok(st.txs[idx].json())
        })
    }

    /// A chargeback (`CB`, code `000.100.200`) on a successful DB/CP; queues its PAYMENT webhook.
    pub fn chargeback(
        &self,
        payment_id: &str,
        amount: &str,
        reason_code: Option<&str>,
    ) -> Result<Value, String> {
        let amount = Decimal::from_str(amount)
            .ok()
            .filter(|a| *a > Decimal::ZERO)
            .ok_or_else(|| format!("amount '{amount}' is not a positive decimal"))?;
        self.with_state(|st, _| {
            let parent = st
                .tx(payment_id)
                .cloned()
                .ok_or_else(|| format!("unknown payment {payment_id}"))?;
            if !matches!(parent.payment_type.as_str(), "DB" | "CP") || !parent.is_success() {
                return Err("a chargeback needs a successful DB or CP".into());
            }
            let prior: Decimal = st
                .children(payment_id)
                .filter(|t| t.payment_type == "CB")
                .map(|t| t.amount)
                .sum();
            if prior + amount > parent.amount {
                return Err(format!(
                    "chargebacks would exceed the original amount {}",
                    parent.amount
                ));
            }
            let entity = st.tx_entity(&parent).unwrap_or_default();
            let cb = chargeback_tx(&parent, amount, reason_code, s2s_ndc(&entity), st.now());
            let json = cb.json();
            st.push_tx(cb);
            Ok(json)
        })
    }

    /// A chargeback reversal (`CR`, code `000.100.200`): the bank withdraws chargeback
    /// `chargeback_id` (or part of it). Refers to the original payment, like the chargeback;
    /// queues its PAYMENT webhook.
    pub fn chargeback_reversal(&self, chargeback_id: &str, amount: &str) -> Result<Value, String> {
        let amount = Decimal::from_str(amount)
            .ok()
            .filter(|a| *a > Decimal::ZERO)
            .ok_or_else(|| format!("amount '{amount}' is not a positive decimal"))?;
        self.with_state(|st, _| {
            let cb = st
                .tx(chargeback_id)
                .cloned()
                .filter(|t| t.payment_type == "CB")
                .ok_or_else(|| format!("unknown chargeback {chargeback_id}"))?;
            if amount > cb.amount {
                return Err(format!("more than the chargeback's {}", cb.amount));
            }
            let parent = cb
                .referenced_id
                .as_deref()
                .and_then(|p| st.tx(p))
                .cloned()
                .ok_or_else(|| "the chargeback's payment is gone".to_string())?;
            let entity = st.tx_entity(&parent).unwrap_or_default();
            let mut cr = chargeback_tx(&parent, amount, None, s2s_ndc(&entity), st.now());
            cr.payment_type = "CR".into();
            let json = cr.json();
            st.push_tx(cr);
            Ok(json)
        })
    }

    /// Deregisters like `DELETE /v1/registrations/{id}`; queues the REGISTRATION DELETED webhook.
    pub fn delete_registration(&self, id: &str) -> Result<(), String> {
        self.with_state(|st, _| {
            let reg = st
                .regs
                .get_mut(id)
                .ok_or_else(|| format!("registration {id} does not exist"))?;
            if reg.deregistered {
                return Err(format!("registration {id} is already deregistered"));
            }
            reg.deregistered = true;
            Ok(())
        })
    }
}

fn chargeback_tx(
    parent: &Tx,
    amount: Decimal,
    reason_code: Option<&str>,
    ndc: String,
    now: chrono::DateTime<chrono::Utc>,
) -> Tx {
    let mut echo = serde_json::Map::new();
    if let Some(c) = parent.echo.get("customParameters") {
        echo.insert("customParameters".into(), c.clone());
    }
    Tx {
        id: new_id(),
        payment_type: "CB".into(),
        ndc,
        referenced_id: Some(parent.id.clone()),
        amount,
        currency: parent.currency.clone(),
        brand: parent.brand.clone(),
        merchant_tx_id: parent.merchant_tx_id.clone(),
        code: codes::CHARGEBACK.into(),
        descriptor: descriptor(),
        external: parent.external,
        registration_id: None,
        create_registration: false,
        initial_cit: false,
        instrument: None,
        echo,
        scheme_id: None,
        threeds: None,
        threeds_result: None,
        redirect: None,
        checkout_id: None,
        updated_at: now,
        reason_code: reason_code.map(str::to_string),
    }
}
