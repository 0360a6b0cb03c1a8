//! The PSP seam: what a PSP family must offer the flows, in domain terms only.
//!
//! A family is one adapter folder (`psp/<family>/`) implementing [`PaymentProvider`], registered
//! with one line in `startup.rs`. Per merchant, [`PaymentProvider::bind`] parses the merchant's
//! settings once into a [`MerchantPsp`]; the flows only ever see that bound client, wrapped by
//! `flows::psp_call` (connection release, request id, timeout, metrics). Adapters are stateless
//! translators; every persistent decision is taken by the flows.

pub mod mollie;
pub mod oppwa;
pub mod sepa;
pub mod transport;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::NaiveDate;
use rust_decimal::Decimal;

use crate::domain::{Bearer, Money, PaymentErrorCode, Role, Ticks, TxStatus};
pub use crate::domain::{Payer, TextLimits};

/// The decrypted PSP settings of one merchant, keyed by `keyName`. Debug never prints values.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct PspSettings(pub BTreeMap<String, String>);

impl PspSettings {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.trim().is_empty())
    }
}

impl fmt::Debug for PspSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// One field of the settings form Billwerk renders (IntegrationInfo `merchantSettings`).
#[derive(Debug, Clone)]
pub struct SettingField {
    pub key: &'static str,
    pub display_name: &'static str,
    pub required: bool,
    /// Stored encrypted like all settings, and additionally masked on `GET /api/Settings`.
    pub secret: bool,
    /// (stored value, label) pairs for a select list.
    pub predefined_values: &'static [(&'static str, &'static str)],
    pub placeholder: Option<&'static str>,
}

/// The optional merchant setting with the shop name shown to shoppers on the payment page (at
/// most [`SHOP_NAME_MAX_CHARS`] characters; the merchant's name when unset).
pub const SHOP_NAME_SETTING: &str = "ShopName";
/// Longest accepted [`SHOP_NAME_SETTING`], in characters.
pub const SHOP_NAME_MAX_CHARS: usize = 80;

/// What an adapter supports and the limits of its API; feeds `GET /api/IntegrationInfo` and the
/// checks made on Billwerk's requests before anything is stored or sent.
#[derive(Debug, Clone, Copy)]
pub struct Capabilities {
    /// The payment roles (`CreditCard`, `Debit`, …) this family can take (contract §7.2).
    pub roles: &'static [Role],
    pub refunds: bool,
    pub cancel_preauth: bool,
    pub capture_preauth: bool,
    pub requires_return_url: bool,
    /// How the shopper pays an initial card preauth: on our page or on the PSP's.
    pub checkout: CheckoutKind,
    /// Whether the PSP can find a transaction by the reference we sent.
    pub lookup: LookupKind,
    /// Longest texts the PSP accepts, in characters.
    pub limits: TextLimits,
    /// The headers of an inbound notification kept with its body, so the stored call can be
    /// authenticated and decoded again (lower case).
    pub notification_headers: &'static [&'static str],
    /// Whether the PSP's notifications prove by themselves that they come from the PSP (signed
    /// or encrypted with a merchant secret). Only such a family may still be sent notifications
    /// on the URL without the merchant's token (`/psp/{family}/{merchant}/notifications`); the
    /// others (an unsigned id to fetch) are accepted only on the tokened URL.
    pub self_authenticating_notifications: bool,
}

impl Capabilities {
    pub fn supports(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }
}

/// Where the shopper completes a hosted checkout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckoutKind {
    /// The PSP's form is embedded in our page (a widget).
    Widget,
    /// Our page sends the shopper on to the PSP's own page, which sends them back to us.
    Redirect,
}

/// What the PSP can do to find a transaction whose answer never reached us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LookupKind {
    /// Search by the reference we sent (a merchant transaction id).
    ByReference,
    /// No search by our reference; the adapter recovers by other means where it can
    /// (replaying an idempotency key, listing a customer's payments) and says `Unsupported`
    /// where it cannot.
    Limited,
}

/// Result of a credential check: which methods are usable (IntegrationSettingsResponse).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MethodValidity {
    pub credit_card: bool,
    pub debit: bool,
}

/// A settings problem found without calling the PSP, naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct SettingsError {
    pub key: String,
    pub message: String,
}

/// How the customer pays in an initial preauth.
#[derive(Clone)]
pub enum InitialMethod {
    /// Card entered on the PSP's hosted form (COPYandPAY).
    Card,
    /// SEPA direct debit from `initialBearer {Holder, IBAN}`; `mandate_id` is generated by us.
    SepaDebit {
        holder: String,
        iban: String,
        bic: Option<String>,
        mandate_id: String,
        signed_on: NaiveDate,
    },
}

impl fmt::Debug for InitialMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Card => f.write_str("Card"),
            Self::SepaDebit { mandate_id, .. } => write!(f, "SepaDebit({mandate_id})"),
        }
    }
}

/// A stored payment agreement at the PSP: an adapter-owned credential (a card or bank-account
/// token, a customer and mandate, …) that later merchant-initiated charges use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredMethod {
    /// Opaque to the flows: whatever the adapter put into [`StoredCredential::credential`].
    pub credential: String,
    pub is_debit: bool,
    /// The initial cardholder-initiated transaction, referenced by merchant-initiated ones.
    pub initial_transaction_id: Option<String>,
}

/// An initial preauth (`isInitial: true`).
#[derive(Debug, Clone)]
pub struct InitialPreauth {
    /// Billwerk's transactionId, sent as the PSP's `merchantTransactionId` (never reused).
    pub merchant_tx_id: String,
    pub amount: Money,
    pub method: InitialMethod,
    pub payer: Payer,
    pub reference_text: Option<String>,
    /// Where the shopper's browser comes back to us (a page of ours, not Billwerk's).
    pub shopper_result_url: String,
}

/// A money operation on a stored agreement (non-initial preauth, recurring payment).
#[derive(Debug, Clone)]
pub struct StoredCharge {
    pub merchant_tx_id: String,
    pub amount: Money,
    pub stored: StoredMethod,
    pub reference_text: Option<String>,
}

/// A follow-up operation on an earlier PSP transaction (capture, refund, reversal).
#[derive(Debug, Clone)]
pub struct FollowUp {
    /// Billwerk's id of the operation; for one that stands for Billwerk's cancel of a preauth
    /// (`cancel_of`), the preauth's: the adapter derives its own reference from it, so that
    /// `Reference::CancelOf` finds it again.
    pub merchant_tx_id: String,
    /// A reversal, or a refund of money collected at authorization, done for Billwerk's cancel.
    pub cancel_of: bool,
    /// The PSP id of the transaction this one refers to.
    pub psp_transaction_id: String,
    /// `None` for a full reversal.
    pub amount: Option<Money>,
    /// The referenced transaction was merchant-initiated (on a stored agreement), so the
    /// follow-up belongs to the same channel where the PSP separates them.
    pub merchant_initiated: bool,
}

/// A checkout the shopper still has to complete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    pub checkout_id: String,
    pub expires_at: Ticks,
    /// Adapter-owned data kept with the checkout (a widget's integrity value, the PSP page's
    /// URL), given back in [`CheckoutRef`].
    pub data: Option<String>,
}

/// A stored checkout, as the adapter created it.
#[derive(Debug, Clone, Copy)]
pub struct CheckoutRef<'a> {
    pub checkout_id: &'a str,
    pub data: Option<&'a str>,
    /// Billwerk's transactionId of the preauth (the reference we sent).
    pub merchant_tx_id: &'a str,
}

/// What our hosted page needs to render the PSP's payment form.
#[derive(Debug, Clone)]
pub struct CheckoutPage {
    /// Our return URL (the form's action, or where the PSP sends the shopper back).
    pub return_url: String,
    /// The shopper's language (`en`, `de`).
    pub language: String,
    /// This response's script nonce; every script the widget puts on the page carries it.
    pub nonce: String,
}

/// The PSP's payment form, embedded in our page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WidgetEmbed {
    /// Inside `<head>`: scripts loading and configuring the widget.
    pub head: String,
    /// Where the card form goes.
    pub body: String,
    /// `scheme://host[:port]` of the widget.
    pub origin: String,
}

/// How the shopper gets to the payment form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShopperView {
    Embed(WidgetEmbed),
    /// To the PSP's own page (absolute URL).
    Redirect(String),
}

/// What a hit on our return URL means, read by the adapter from its own query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReturnLeg {
    /// The shopper comes back from the PSP: ask it for the checkout's result now.
    Finished,
    /// Not a return from the PSP (no or empty parameters): back to the payment page.
    NotYet,
    /// Parameters that name another checkout: refused, naming the parameter.
    Foreign { parameter: &'static str },
}

/// The outcome of an initial preauth request.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // built once per request; boxing buys nothing
pub enum PreauthStart {
    /// The shopper must complete a hosted checkout; completion comes later.
    Checkout(Checkout),
    /// Settled without the shopper (e.g. SEPA registration), or failed.
    Done(PspResult),
}

/// A PSP decline, already mapped to the contract's error vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Decline {
    pub code: PaymentErrorCode,
    /// `Failed`, `Cancelled` or `Expired` (contract §11.1).
    pub status: TxStatus,
    pub psp_code: Option<String>,
    pub message: String,
}

/// What the PSP says happened.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    Succeeded,
    /// Accepted; the final result comes later (async methods, open checkouts).
    Pending,
    Declined(Decline),
    /// Timeout, dropped connection, 5xx or an unclassifiable answer: the money may or may not
    /// have moved. Never reported as failed; the transaction stays Pending for reconciliation.
    Unknown(String),
}

/// A stored credential the PSP created or used (a token, a customer and mandate, …), with the
/// bearer Billwerk should see.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredCredential {
    /// Adapter-owned and opaque to the flows; handed back in [`StoredMethod::credential`].
    pub credential: String,
    pub bearer: Bearer,
    pub initial_transaction_id: Option<String>,
    pub is_debit: bool,
}

/// The PSP's answer to a money operation or status query.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PspResult {
    pub outcome: Outcome,
    pub psp_transaction_id: Option<String>,
    /// The amount the PSP reports for this transaction, when it reports one.
    pub amount: Option<Decimal>,
    pub currency: Option<String>,
    pub result_code: Option<String>,
    pub description: Option<String>,
    pub credential: Option<StoredCredential>,
    /// What kind of money movement the PSP reports, when it says.
    pub kind: Option<EventKind>,
    pub booking_date: Option<NaiveDate>,
    /// The stored credential the call used (a charge on a stored agreement) was found no
    /// longer valid at the PSP (revoked, invalid, gone): the flows make its agreement inactive
    /// and tell Billwerk once (a type-4 webhook). For PSPs that report no revocation of their
    /// own (Mollie has no mandate webhooks, contract/mollie.md §2.10).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub credential_invalid: bool,
}

impl PspResult {
    /// An unknown outcome with no PSP data (timeout, connection failure).
    pub fn unknown(reason: impl Into<String>) -> Self {
        Self::bare(Outcome::Unknown(reason.into()))
    }

    pub fn bare(outcome: Outcome) -> Self {
        Self {
            outcome,
            psp_transaction_id: None,
            amount: None,
            currency: None,
            result_code: None,
            description: None,
            credential: None,
            kind: None,
            booking_date: None,
            credential_invalid: false,
        }
    }
}

/// A failure of a call that moves no money (settings check, status query).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PspError {
    pub code: PaymentErrorCode,
    pub psp_code: Option<String>,
    pub message: String,
}

/// An inbound PSP call to our notification URL, as received.
#[derive(Debug, Clone, Copy)]
pub struct Inbound<'a> {
    /// Header names in lower case; a header sent twice appears twice.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
    /// The raw query string (without `?`).
    pub query: &'a str,
}

impl Inbound<'_> {
    /// The value of a header sent exactly once (a repeated header is ambiguous: `None`).
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut all = self
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name));
        match (all.next(), all.next()) {
            (Some((_, v)), None) => Some(v.as_str()),
            _ => None,
        }
    }

    /// The named headers as a JSON object (the stored call's authentication parts), or `None`
    /// when none of them was sent.
    pub fn kept(&self, names: &[&str]) -> Option<String> {
        let map: serde_json::Map<String, serde_json::Value> = names
            .iter()
            .filter_map(|n| self.header(n).map(|v| ((*n).to_string(), v.into())))
            .collect();
        (!map.is_empty()).then(|| serde_json::Value::Object(map).to_string())
    }
}

/// Why a notification was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotificationError {
    /// Not provably from the PSP (missing headers, bad encoding, failed authentication tag).
    #[error("not authentic: {0}")]
    Unauthentic(String),
    /// Authentic, but not in a shape we understand.
    #[error("not understood: {0}")]
    Malformed(String),
    /// Could not be read now (the PSP was unreachable while fetching what it names, or does
    /// not know it yet): the PSP must deliver it again.
    #[error("not readable now: {0}")]
    Unavailable(String),
    /// The merchant's settings cannot read what the call names (a test key for a live
    /// resource or the reverse, a revoked key): a configuration error for an operator, never a
    /// payment outcome. The call is kept and the PSP must deliver it again.
    #[error("misconfigured: {0}")]
    Misconfigured(String),
}

/// Why a chargeback happened, as far as the PSP says.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ChargebackInfo {
    pub reason: crate::domain::ChargebackReason,
    pub reason_code: Option<String>,
    pub reason_message: Option<String>,
}

/// The kind of money movement a PSP event reports, in PSP-neutral terms. An adapter maps its
/// own codes onto these; what it cannot place is `Other` and gets verified with a status query.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum EventKind {
    /// Funds reserved (a preauthorization).
    Authorization,
    /// Funds collected in one step (a sale, a direct debit).
    Debit,
    /// Reserved funds collected.
    Capture,
    /// A reservation or an unsettled debit voided.
    Reversal,
    /// Money returned to the customer.
    Refund,
    /// Money pulled back by the customer's bank or card scheme.
    Chargeback,
    /// A chargeback withdrawn: the money is the merchant's again.
    ChargebackReversal,
    /// Anything else, with the PSP's own code.
    Other(String),
}

/// A payment-like event (authorization, debit, capture, reversal, refund, chargeback, …).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PaymentEvent {
    pub kind: EventKind,
    /// The PSP's own name for the event, for logs and the stored record.
    pub psp_type: String,
    pub merchant_tx_id: Option<String>,
    /// The transaction this one refers to (a capture's authorization, a chargeback's debit).
    pub referenced_id: Option<String>,
    /// The checkout the payment was made through, if any.
    pub checkout_id: Option<String>,
    /// The event's own state; `psp_transaction_id` is the event's transaction id.
    pub result: PspResult,
    pub chargeback: Option<ChargebackInfo>,
}

/// What a notification says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PspEvent {
    /// The PSP's activation test.
    Test,
    Payment(Box<PaymentEvent>),
    /// A stored credential was deleted or revoked at the PSP (its agreement becomes inactive).
    CredentialRevoked {
        credential: String,
    },
    /// Authentic but of no consequence here (risk, schedule, registration created, …).
    Ignored(String),
}

/// A decoded notification with the key that identifies its event across redeliveries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PspNotification {
    pub dedupe_key: String,
    pub event: PspEvent,
}

/// The answer to "do you know this transaction by the reference we sent?".
#[derive(Debug, Clone, PartialEq, Eq)]
#[allow(clippy::large_enum_variant)] // one per reconciler step; boxing buys nothing
pub enum Lookup {
    /// The newest transaction carrying the reference.
    Found(PspResult),
    /// The PSP searched and holds nothing under the reference.
    NotFound,
    /// The PSP cannot search by our reference (and the adapter had no other way): nothing can
    /// be concluded, least of all that the transaction never happened.
    Unsupported,
    /// The search itself failed (unreachable, refused).
    Failed(PspError),
}

/// What a transaction reference is for, so an adapter can derive its own references (a
/// reversal's reference from its preauth's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference<'a> {
    /// The operation Billwerk's id names (preauth, payment, refund).
    Own(&'a str),
    /// The reversal of the preauth with this Billwerk id.
    CancelOf(&'a str),
}

/// What the store knows about a transaction whose PSP id never reached us, for a PSP that
/// cannot search by our reference (it looks where the transaction must be instead).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Known {
    /// The PSP id of the transaction it refers to: a capture's or refund's payment; for
    /// [`Reference::CancelOf`], the preauth's own PSP id.
    pub parent_psp_id: Option<String>,
    /// The stored agreement's credential ([`StoredCredential::credential`]) a charge used.
    pub credential: Option<String>,
}

/// What a bound client needs to know about its merchant.
#[derive(Debug, Clone)]
pub struct MerchantCtx {
    pub merchant_id: String,
    /// Where this merchant's PSP notifications must be sent (absolute URL).
    pub notification_url: String,
}

/// A PSP family: a factory of per-merchant clients, built once at start from `[psp.<name>]`.
pub trait PaymentProvider: Send + Sync + fmt::Debug {
    /// Short name used in config, URLs and the CLI.
    fn name(&self) -> &'static str;
    fn capabilities(&self) -> Capabilities;
    fn settings_schema(&self) -> &'static [SettingField];
    /// Whether the PSP can carry this amount in its currency (its amount format and maximum);
    /// the error says why not. Checked before anything is stored or sent.
    fn check_amount(&self, money: &Money) -> Result<(), String>;
    /// Parses a merchant's settings once into a client for that merchant. Errors name the
    /// offending key; nothing is sent to the PSP.
    fn bind(
        &self,
        settings: &PspSettings,
        ctx: &MerchantCtx,
    ) -> Result<Arc<dyn MerchantPsp>, SettingsError>;
    /// Longest time one bound-client operation may take (all its PSP calls together); the
    /// flows' wrapper gives up after it and treats the outcome as unknown.
    fn operation_timeout(&self) -> std::time::Duration;
}

/// One merchant's PSP client, with the merchant's settings already parsed. Every money call
/// answers with a [`PspResult`]; a call whose outcome is unknown says `Outcome::Unknown`.
#[async_trait]
pub trait MerchantPsp: Send + Sync + fmt::Debug {
    /// Checks the credentials against the PSP without moving money.
    async fn check_settings(&self) -> Result<MethodValidity, PspError>;
    /// Starts an initial preauth: a hosted checkout for cards, a mandate for SEPA.
    async fn start_preauth(&self, req: &InitialPreauth) -> PreauthStart;
    /// How the shopper reaches the payment form of a checkout; `None` when it cannot be shown.
    fn shopper_view(&self, checkout: &CheckoutRef<'_>, page: &CheckoutPage) -> Option<ShopperView>;
    /// Reads a hit on our return URL (the adapter's own query parameters).
    fn return_leg(&self, checkout: &CheckoutRef<'_>, query: &[(String, String)]) -> ReturnLeg;
    /// Reads the result of a completed (or abandoned) checkout. Declined with status
    /// `Expired` when the checkout lapsed without a payment.
    async fn complete_checkout(&self, checkout: &CheckoutRef<'_>) -> PspResult;
    /// Authorizes on a stored agreement (non-initial preauth, merchant-initiated).
    async fn authorize_stored(&self, req: &StoredCharge) -> PspResult;
    /// Charges a stored agreement (recurring payment, merchant-initiated).
    async fn charge_stored(&self, req: &StoredCharge) -> PspResult;
    async fn capture(&self, req: &FollowUp) -> PspResult;
    async fn cancel(&self, req: &FollowUp) -> PspResult;
    async fn refund(&self, req: &FollowUp) -> PspResult;
    /// The current state of a PSP transaction by its PSP id.
    async fn fetch_status(&self, psp_transaction_id: &str) -> Result<PspResult, PspError>;
    /// Finds a transaction whose PSP id never reached us, by our reference and what the store
    /// knows of it.
    async fn lookup(&self, reference: Reference<'_>, known: &Known) -> Lookup;
    /// Authenticates and reads an inbound notification; may call the PSP (to fetch what an
    /// id-only notification names). One call can report several events.
    async fn receive(
        &self,
        inbound: &Inbound<'_>,
    ) -> Result<Vec<PspNotification>, NotificationError>;
}

/// A PSP family as the build registers it (`startup::psp_families`, one line per family): its
/// `[psp.<name>]` section and the adapter made from it.
pub struct Family {
    /// Short name used in config, URLs and the CLI (the adapter's [`PaymentProvider::name`]).
    pub name: &'static str,
    /// Reads `[psp.<name>]` (`config::psp_section::<TheFamilysSection>`).
    pub section: crate::config::SectionParser<dyn crate::config::PspSection>,
    /// Old top-level key prefixes read as the new ones, `(old, new)` (e.g. `("x", "psp.x")`),
    /// with a warning at start.
    pub aliases: &'static [(&'static str, &'static str)],
    /// The adapter, configured from the section `section` read (`None`: another family's type).
    pub adapter: fn(&dyn crate::config::PspSection) -> Option<Arc<dyn PaymentProvider>>,
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Family")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Adapters by name.
#[derive(Debug, Clone, Default)]
pub struct Registry(BTreeMap<&'static str, Arc<dyn PaymentProvider>>);

impl Registry {
    pub fn with(mut self, p: Arc<dyn PaymentProvider>) -> Self {
        self.0.insert(p.name(), p);
        self
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn PaymentProvider>> {
        self.0.get(name).cloned()
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.0.keys().copied().collect()
    }
}
