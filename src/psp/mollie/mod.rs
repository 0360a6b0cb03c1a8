//! Mollie (Payments API v2) adapter: a stateless translator between the seam and Mollie's REST
//! API (customers, payments with the hosted checkout, mandates, refunds, captures, classic
//! id-only webhooks). Facts and the mapping: `contract/mollie.md` §2 and §2.17; the choices
//! where Mollie's documentation is silent are in the README's table of choices.

mod amount;
mod api;
mod lookup;
mod ops;
mod read;
pub mod section;
mod sepa;
pub mod settings;

#[cfg(test)]
mod sepa_tests;
#[cfg(test)]
mod tests;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use self::section::{FAMILY, MolliePspSection};

use self::api::Api;
use self::settings::{Mode, MollieSettings};
use crate::domain::Role;
use crate::psp::{
    Capabilities, CheckoutKind, CheckoutPage, CheckoutRef, FollowUp, Inbound, InitialMethod,
    InitialPreauth, Known, Lookup, LookupKind, MerchantCtx, MerchantPsp, MethodValidity,
    NotificationError, PaymentProvider, PreauthStart, PspError, PspNotification, PspResult,
    PspSettings, Reference, ReturnLeg, SettingField, SettingsError, ShopperView, StoredCharge,
    TextLimits,
};

pub use self::amount::value as amount_value;

/// Deployment-level configuration (`[psp.mollie]`); never taken from merchant settings.
#[derive(Debug, Clone)]
pub struct MollieConfig {
    /// Host for merchants whose key starts with `test_` (a built-in simulator replaces it).
    pub test_base_url: String,
    /// Host for merchants whose key starts with `live_`.
    pub live_base_url: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
}

impl Default for MollieConfig {
    fn default() -> Self {
        Self {
            test_base_url: "https://api.mollie.com".into(),
            live_base_url: "https://api.mollie.com".into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// The Mollie family (factory of per-merchant clients).
#[derive(Debug, Clone)]
pub struct Mollie {
    config: MollieConfig,
    api: Api,
}

impl Mollie {
    pub fn new(config: MollieConfig) -> Self {
        let api = Api::new(config.timeout, config.connect_timeout);
        Self { config, api }
    }
}

/// Mollie's text limits: `description` 255 characters (Mollie "Create payment"); the others
/// are not documented and kept at common, safe lengths.
const LIMITS: TextLimits = TextLimits {
    descriptor: 255,
    holder: 70,
    name: 100,
    street: 100,
    city: 100,
    postcode: 20,
    email: 254,
    company: 100,
};

impl PaymentProvider for Mollie {
    fn name(&self) -> &'static str {
        "mollie"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            roles: &[Role::CreditCard, Role::Debit],
            refunds: true,
            cancel_preauth: true,
            capture_preauth: true,
            requires_return_url: true,
            checkout: CheckoutKind::Redirect,
            lookup: LookupKind::Limited,
            limits: LIMITS,
            // Classic webhooks are unsigned: nothing to keep for a later re-check.
            notification_headers: &[],
            // `id=tr_…` only: the URL's token is the only proof of origin.
            self_authenticating_notifications: false,
        }
    }

    fn settings_schema(&self) -> &'static [SettingField] {
        settings::SCHEMA
    }

    fn check_amount(&self, money: &crate::domain::Money) -> Result<(), String> {
        amount::value(money).map(|_| ())
    }

    fn bind(
        &self,
        settings: &PspSettings,
        ctx: &MerchantCtx,
    ) -> Result<Arc<dyn MerchantPsp>, SettingsError> {
        let s = MollieSettings::parse(settings)?;
        Ok(Arc::new(Bound {
            mollie: self.clone(),
            s,
            ctx: ctx.clone(),
        }))
    }

    fn operation_timeout(&self) -> Duration {
        // A checkout start makes two calls (customer, payment), each replayed at most
        // `api::REPLAYS` times when its answer is lost; a webhook or a read makes two.
        let calls = 2 * (1 + api::REPLAYS as u32);
        (self.config.timeout + self.config.connect_timeout) * calls + Duration::from_secs(5)
    }
}

/// One merchant's Mollie client: its key parsed once, its notification URL known.
#[derive(Debug)]
pub(crate) struct Bound {
    mollie: Mollie,
    s: MollieSettings,
    ctx: MerchantCtx,
}

impl Bound {
    fn base(&self) -> &str {
        match self.s.mode {
            Mode::Test => &self.mollie.config.test_base_url,
            Mode::Live => &self.mollie.config.live_base_url,
        }
    }
}

#[async_trait]
impl MerchantPsp for Bound {
    async fn check_settings(&self) -> Result<MethodValidity, PspError> {
        self.check().await
    }

    async fn start_preauth(&self, req: &InitialPreauth) -> PreauthStart {
        match &req.method {
            InitialMethod::Card => self.start_card(req).await,
            InitialMethod::SepaDebit {
                holder,
                iban,
                bic,
                mandate_id,
                signed_on,
            } => {
                let account = sepa::Account {
                    holder,
                    iban,
                    bic: bic.as_deref(),
                    mandate_id,
                    signed_on: *signed_on,
                };
                self.start_sepa(req, account).await
            }
        }
    }

    fn shopper_view(
        &self,
        checkout: &CheckoutRef<'_>,
        _page: &CheckoutPage,
    ) -> Option<ShopperView> {
        checkout
            .data
            .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
            .map(|u| ShopperView::Redirect(u.to_string()))
    }

    /// Mollie sends the shopper back to `redirectUrl` without parameters of its own: every
    /// return means "ask Mollie now".
    fn return_leg(&self, _checkout: &CheckoutRef<'_>, _query: &[(String, String)]) -> ReturnLeg {
        ReturnLeg::Finished
    }

    /// An `open` payment is a checkout the shopper has not paid yet: the seam's "no result"
    /// (pending without a PSP transaction), so the preauth stays `Initiated` and a shopper who
    /// gives up on our page cancels it.
    async fn complete_checkout(&self, checkout: &CheckoutRef<'_>) -> PspResult {
        let mut r = self.payment_status(checkout.checkout_id).await;
        if r.outcome == crate::psp::Outcome::Pending && r.result_code.as_deref() == Some("open") {
            r.psp_transaction_id = None;
        }
        r
    }

    /// Mollie has no documented authorize-only on a mandate (contract/mollie.md §6 Q2): a
    /// recurring payment collects the money, reported as a debit (collected at authorization).
    async fn authorize_stored(&self, req: &StoredCharge) -> PspResult {
        self.recurring(req).await
    }

    async fn charge_stored(&self, req: &StoredCharge) -> PspResult {
        self.recurring(req).await
    }

    async fn capture(&self, req: &FollowUp) -> PspResult {
        self.capture_payment(req).await
    }

    async fn cancel(&self, req: &FollowUp) -> PspResult {
        self.cancel_payment(req).await
    }

    async fn refund(&self, req: &FollowUp) -> PspResult {
        self.refund_payment(req).await
    }

    async fn fetch_status(&self, psp_transaction_id: &str) -> Result<PspResult, PspError> {
        self.status(psp_transaction_id).await
    }

    /// Mollie cannot search by our reference: the transaction is looked for where it must be
    /// (its payment's children, the customer's payments), matching the metadata we sent, in a
    /// bounded scan (`lookup`).
    async fn lookup(&self, reference: Reference<'_>, known: &Known) -> Lookup {
        self.find(reference, known).await
    }

    async fn receive(
        &self,
        inbound: &Inbound<'_>,
    ) -> Result<Vec<PspNotification>, NotificationError> {
        self.notification(inbound).await
    }
}

/// A refund's or reversal's idempotency key and metadata reference: Billwerk's id, with
/// `-cancel` for one done for Billwerk's cancel of a preauth.
pub fn follow_up_reference(req: &FollowUp) -> String {
    if req.cancel_of {
        format!("{}-cancel", req.merchant_tx_id)
    } else {
        req.merchant_tx_id.clone()
    }
}
