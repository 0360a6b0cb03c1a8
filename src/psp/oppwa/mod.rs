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

use std::time::Duration;

use async_trait::async_trait;

use self::client::{HttpClient, Target};
use self::reply::{decline, psp_error};
use self::settings::{Environment, OppwaSettings};
use self::transformers::SepaAccount;
use crate::domain::PaymentErrorCode;
use crate::psp::{
    Capabilities, CheckoutPage, FollowUp, InboundNotification, InitialMethod, InitialPreauth,
    MethodValidity, NotificationError, PaymentProvider, PreauthStart, PspError, PspNotification,
    PspResult, PspSettings, SettingField, SettingsError, StoredCharge, WidgetEmbed,
};

/// Deployment-level configuration; never taken from merchant settings.
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

#[derive(Debug, Clone)]
pub struct Oppwa {
    config: OppwaConfig,
    http: HttpClient,
}

impl Oppwa {
    pub fn new(config: OppwaConfig) -> Self {
        crate::telemetry::psp_families("oppwa", client::OPERATIONS);
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

/// Unusable settings: nothing was sent, so a money call can safely be declined.
fn settings_decline(e: SettingsError) -> PspResult {
    let message = format!("invalid OPPWA settings: {e}");
    PspResult::bare(decline(
        PaymentErrorCode::InvalidConfiguration,
        None,
        &message,
    ))
}

fn settings_error(e: SettingsError) -> PspError {
    let message = format!("invalid OPPWA settings: {e}");
    psp_error(PaymentErrorCode::InvalidConfiguration, None, &message)
}

macro_rules! settings_or {
    ($settings:expr, $on_error:expr) => {
        match OppwaSettings::parse($settings) {
            Ok(s) => s,
            Err(e) => return $on_error(e),
        }
    };
}

#[async_trait]
impl PaymentProvider for Oppwa {
    fn name(&self) -> &'static str {
        "oppwa"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities {
            credit_card: true,
            debit: true,
            refunds: true,
            cancel_preauth: true,
            capture_preauth: true,
            requires_return_url: true,
        }
    }

    fn settings_schema(&self) -> &'static [SettingField] {
        settings::SCHEMA
    }

    fn check_amount(&self, money: &crate::domain::Money) -> Result<(), String> {
        transformers::amount(money).map(|_| ())
    }

    fn validate_settings(&self, settings: &PspSettings) -> Result<(), SettingsError> {
        OppwaSettings::parse(settings).map(|_| ())
    }

    async fn check_settings(&self, settings: &PspSettings) -> Result<MethodValidity, PspError> {
        let s = settings_or!(settings, |e| Err(settings_error(e)));
        self.check(&s).await
    }

    async fn start_preauth(&self, settings: &PspSettings, req: &InitialPreauth) -> PreauthStart {
        let s = settings_or!(settings, |e| PreauthStart::Done(settings_decline(e)));
        match &req.method {
            InitialMethod::Card => self.start_card(&s, req).await,
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
                self.start_sepa(&s, req, &account).await
            }
        }
    }

    fn checkout_widget(&self, settings: &PspSettings, page: &CheckoutPage) -> Option<WidgetEmbed> {
        let s = OppwaSettings::parse(settings).ok()?;
        page::render(self.base_url(s.environment), &self.config.brands, page)
    }

    async fn complete_checkout(
        &self,
        settings: &PspSettings,
        checkout_id: &str,
        merchant_tx_id: &str,
    ) -> PspResult {
        // Unusable settings prove nothing about the shopper's payment.
        let s = settings_or!(settings, |e: SettingsError| PspResult::unknown(
            e.to_string()
        ));
        self.complete(&s, checkout_id, merchant_tx_id).await
    }

    async fn authorize_stored(&self, settings: &PspSettings, req: &StoredCharge) -> PspResult {
        let s = settings_or!(settings, settings_decline);
        self.stored(&s, req, transformers::PREAUTH).await
    }

    async fn charge_stored(&self, settings: &PspSettings, req: &StoredCharge) -> PspResult {
        let s = settings_or!(settings, settings_decline);
        self.stored(&s, req, transformers::DEBIT).await
    }

    async fn capture(&self, settings: &PspSettings, req: &FollowUp) -> PspResult {
        let s = settings_or!(settings, settings_decline);
        self.follow_up(&s, req, transformers::CAPTURE).await
    }

    async fn cancel(&self, settings: &PspSettings, req: &FollowUp) -> PspResult {
        let s = settings_or!(settings, settings_decline);
        self.follow_up(&s, req, transformers::REVERSAL).await
    }

    async fn refund(&self, settings: &PspSettings, req: &FollowUp) -> PspResult {
        let s = settings_or!(settings, settings_decline);
        self.follow_up(&s, req, transformers::REFUND).await
    }

    async fn fetch_status(
        &self,
        settings: &PspSettings,
        psp_transaction_id: &str,
    ) -> Result<PspResult, PspError> {
        let s = settings_or!(settings, |e| Err(settings_error(e)));
        self.status(&s, psp_transaction_id).await
    }

    async fn find_by_merchant_tx_id(
        &self,
        settings: &PspSettings,
        merchant_tx_id: &str,
    ) -> Result<Option<PspResult>, PspError> {
        let s = settings_or!(settings, |e| Err(settings_error(e)));
        self.find(&s, merchant_tx_id).await
    }

    fn decode_notification(
        &self,
        settings: &PspSettings,
        inbound: &InboundNotification<'_>,
    ) -> Result<PspNotification, NotificationError> {
        use secrecy::ExposeSecret;
        let s = settings::OppwaSettings::parse(settings)
            .map_err(|e| NotificationError::Unauthentic(format!("settings unusable: {e}")))?;
        let (Some(iv), Some(tag)) = (inbound.iv, inbound.tag) else {
            return Err(NotificationError::Unauthentic(
                "missing X-Initialization-Vector or X-Authentication-Tag".into(),
            ));
        };
        let plain =
            notifications::decrypt(s.webhook_secret.expose_secret(), iv, tag, inbound.body)?;
        notifications::decode(&plain)
    }
}
