//! OPPWA (ACI / PAY.ON Open Payment Platform) adapter: a stateless translator between the
//! `PaymentProvider` trait and OPPWA's REST API (COPYandPAY, registrations, back office, query).

mod client;
mod lookup;
pub mod notifications;
mod ops;
mod page;
mod reply;
mod response;
pub mod result_codes;
pub mod section;
pub mod settings;
mod transformers;

#[cfg(test)]
mod http_tests;
#[cfg(test)]
mod lookup_tests;
#[cfg(test)]
mod notifications_fuzz;
#[cfg(test)]
mod test_server;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

pub use self::section::{FAMILY, OppwaPspSection};

use self::client::{HttpClient, Target};
use self::settings::{Environment, OppwaSettings};
use self::transformers::SepaAccount;
use crate::domain::Role;
use crate::psp::{
    Capabilities, CheckoutKind, CheckoutPage, CheckoutRef, FollowUp, Inbound, InitialMethod,
    InitialPreauth, Lookup, LookupKind, MerchantCtx, MerchantPsp, MethodValidity,
    NotificationError, PaymentProvider, PreauthStart, PspError, PspNotification, PspResult,
    PspSettings, Reference, ReturnLeg, SettingField, SettingsError, ShopperView, StoredCharge,
    TextLimits,
};

/// The suffix of a reversal's `merchantTransactionId`: its preauth's reference plus this, so
/// the reversal can be found by the query API and told apart from its preauth.
pub const CANCEL_SUFFIX: &str = "-cancel";

/// The headers carrying a notification's AES-GCM parts (OPPWA "Webhooks").
const IV_HEADER: &str = "x-initialization-vector";
const TAG_HEADER: &str = "x-authentication-tag";

/// Deployment-level configuration (`[psp.oppwa]`); never taken from merchant settings.
#[derive(Debug, Clone)]
pub struct OppwaConfig {
    pub test_base_url: String,
    pub live_base_url: String,
    pub timeout: Duration,
    pub connect_timeout: Duration,
    /// `data-brands` of the COPYandPAY form.
    pub brands: String,
}

impl Default for OppwaConfig {
    fn default() -> Self {
        Self {
            test_base_url: "https://eu-test.oppwa.com".into(),
            live_base_url: "https://eu-prod.oppwa.com".into(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            brands: "VISA MASTER AMEX".into(),
        }
    }
}

/// The OPPWA family (factory of per-merchant clients).
#[derive(Debug, Clone)]
pub struct Oppwa {
    config: OppwaConfig,
    http: HttpClient,
}

impl Oppwa {
    pub fn new(config: OppwaConfig) -> Self {
        let http = HttpClient::new(config.timeout, config.connect_timeout);
        Self { config, http }
    }

    fn base_url(&self, environment: Environment) -> &str {
        match environment {
            Environment::Test => &self.config.test_base_url,
            Environment::Live => &self.config.live_base_url,
        }
    }

    fn target<'a>(&'a self, s: &'a OppwaSettings, entity_id: &'a str) -> Target<'a> {
        Target {
            base_url: self.base_url(s.environment),
            token: &s.access_token,
            entity_id,
        }
    }
}

/// OPPWA's field lengths (OPPWA "API Parameters"): descriptor 127, holder 128, names 48,
/// street 100, city 80, postcode 16 (of 30: safe for every acquirer), e-mail 128, company 60.
const LIMITS: TextLimits = TextLimits {
    descriptor: 127,
    holder: 128,
    name: 48,
    street: 100,
    city: 80,
    postcode: 16,
    email: 128,
    company: 60,
};

impl PaymentProvider for Oppwa {
    fn name(&self) -> &'static str {
        "oppwa"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            roles: &[Role::CreditCard, Role::Debit],
            refunds: true,
            cancel_preauth: true,
            capture_preauth: true,
            requires_return_url: true,
            checkout: CheckoutKind::Widget,
            lookup: LookupKind::ByReference,
            limits: LIMITS,
            notification_headers: &[IV_HEADER, TAG_HEADER],
            // AES-256-GCM under the merchant's webhook secret.
            self_authenticating_notifications: true,
        }
    }

    fn settings_schema(&self) -> &'static [SettingField] {
        settings::SCHEMA
    }

    fn check_amount(&self, money: &crate::domain::Money) -> Result<(), String> {
        transformers::amount(money).map(|_| ())
    }

    fn bind(
        &self,
        settings: &PspSettings,
        _ctx: &MerchantCtx,
    ) -> Result<Arc<dyn MerchantPsp>, SettingsError> {
        let s = OppwaSettings::parse(settings)?;
        Ok(Arc::new(Bound {
            oppwa: self.clone(),
            s,
        }))
    }

    fn operation_timeout(&self) -> Duration {
        // A checkout read can make three calls (status, then the query on both channels).
        (self.config.timeout + self.config.connect_timeout) * 3 + Duration::from_secs(5)
    }
}

/// One merchant's OPPWA client: its settings parsed once.
#[derive(Debug)]
struct Bound {
    oppwa: Oppwa,
    s: OppwaSettings,
}

#[async_trait]
impl MerchantPsp for Bound {
    async fn check_settings(&self) -> Result<MethodValidity, PspError> {
        self.oppwa.check(&self.s).await
    }

    async fn start_preauth(&self, req: &InitialPreauth) -> PreauthStart {
        match &req.method {
            InitialMethod::Card => self.oppwa.start_card(&self.s, req).await,
            InitialMethod::SepaDebit {
                holder,
                iban,
                bic,
                mandate_id,
                signed_on,
            } => {
                let account = SepaAccount {
                    holder,
                    iban,
                    bic: bic.as_deref(),
                    mandate_id,
                    signed_on: *signed_on,
                };
                self.oppwa.start_sepa(&self.s, req, &account).await
            }
        }
    }

    fn shopper_view(&self, checkout: &CheckoutRef<'_>, page: &CheckoutPage) -> Option<ShopperView> {
        page::render(
            self.oppwa.base_url(self.s.environment),
            &self.oppwa.config.brands,
            checkout,
            page,
        )
        .map(ShopperView::Embed)
    }

    /// COPYandPAY sends the shopper back with `?id=<checkoutId>` (and `resourcePath`).
    fn return_leg(&self, checkout: &CheckoutRef<'_>, query: &[(String, String)]) -> ReturnLeg {
        let ids: Vec<&str> = query
            .iter()
            .filter(|(k, _)| k == "id")
            .map(|(_, v)| v.trim())
            .filter(|v| !v.is_empty())
            .collect();
        match ids.as_slice() {
            [] => ReturnLeg::NotYet,
            [id] if *id == checkout.checkout_id => ReturnLeg::Finished,
            _ => ReturnLeg::Foreign { parameter: "id" },
        }
    }

    async fn complete_checkout(&self, checkout: &CheckoutRef<'_>) -> PspResult {
        self.oppwa
            .complete(&self.s, checkout.checkout_id, checkout.merchant_tx_id)
            .await
    }

    async fn authorize_stored(&self, req: &StoredCharge) -> PspResult {
        self.oppwa.stored(&self.s, req, transformers::PREAUTH).await
    }

    async fn charge_stored(&self, req: &StoredCharge) -> PspResult {
        self.oppwa.stored(&self.s, req, transformers::DEBIT).await
    }

    async fn capture(&self, req: &FollowUp) -> PspResult {
        self.oppwa
            .follow_up(&self.s, req, transformers::CAPTURE)
            .await
    }

    async fn cancel(&self, req: &FollowUp) -> PspResult {
        let req = FollowUp {
            merchant_tx_id: cancel_reference(&req.merchant_tx_id),
            ..req.clone()
        };
        self.oppwa
            .follow_up(&self.s, &req, transformers::REVERSAL)
            .await
    }

    async fn refund(&self, req: &FollowUp) -> PspResult {
        let req = FollowUp {
            merchant_tx_id: follow_up_reference(req),
            ..req.clone()
        };
        self.oppwa
            .follow_up(&self.s, &req, transformers::REFUND)
            .await
    }

    async fn fetch_status(&self, psp_transaction_id: &str) -> Result<PspResult, PspError> {
        self.oppwa.status(&self.s, psp_transaction_id).await
    }

    /// OPPWA searches by our reference: what the store knows is not needed.
    async fn lookup(&self, reference: Reference<'_>, _known: &crate::psp::Known) -> Lookup {
        let merchant_tx_id = match reference {
            Reference::Own(id) => id.to_string(),
            Reference::CancelOf(id) => cancel_reference(id),
        };
        match self.oppwa.find(&self.s, &merchant_tx_id).await {
            Ok(Some(r)) => Lookup::Found(r),
            Ok(None) => Lookup::NotFound,
            Err(e) => Lookup::Failed(e),
        }
    }

    async fn receive(
        &self,
        inbound: &Inbound<'_>,
    ) -> Result<Vec<PspNotification>, NotificationError> {
        use secrecy::ExposeSecret;
        let (Some(iv), Some(tag)) = (inbound.header(IV_HEADER), inbound.header(TAG_HEADER)) else {
            return Err(NotificationError::Unauthentic(
                "missing X-Initialization-Vector or X-Authentication-Tag".into(),
            ));
        };
        let plain =
            notifications::decrypt(self.s.webhook_secret.expose_secret(), iv, tag, inbound.body)?;
        notifications::decode(&plain).map(|n| vec![n])
    }
}

/// A reversal's `merchantTransactionId`: its preauth's with [`CANCEL_SUFFIX`].
pub fn cancel_reference(merchant_tx_id: &str) -> String {
    format!("{merchant_tx_id}{CANCEL_SUFFIX}")
}

/// The `merchantTransactionId` a follow-up is sent with.
fn follow_up_reference(req: &FollowUp) -> String {
    if req.cancel_of {
        cancel_reference(&req.merchant_tx_id)
    } else {
        req.merchant_tx_id.clone()
    }
}
