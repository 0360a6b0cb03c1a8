//! Billwerk request bodies as the OpenAPI document describes them (contract §6, §7). They only
//! document the wire shapes: requests are read by `wire.rs` and checked by `commands.rs`, which
//! is where the rules live; the field schemas (`schema.rs`, and the lengths and patterns here)
//! state those rules, and `schema_tests.rs` checks them against `commands.rs`. A field is
//! required here exactly when the service refuses a request without it; property names are
//! matched ignoring case and a property sent twice (in any case) is refused.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use super::schema;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMeansReference {
    #[schema(schema_with = schema::role_input)]
    pub role: Option<Value>,
    /// For role `Debit`: `Holder` (≤ 255; the PSP family may take fewer) and `IBAN` required, `BIC` (8 or 11) optional; keys in
    /// any case. At most 16 entries; keys ≤ 64, values ≤ 256 characters, no control characters.
    #[serde(default)]
    pub initial_bearer: Option<BTreeMap<String, Option<String>>>,
    #[schema(schema_with = schema::return_url)]
    pub success_return_url: Option<String>,
    #[schema(schema_with = schema::return_url)]
    pub error_return_url: Option<String>,
    #[schema(schema_with = schema::return_url)]
    pub abort_return_url: Option<String>,
}

/// `paymentMeansReference` of a preauth: the role is required and must be one the merchant's
/// PSP family supports.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PreauthMeansReference {
    #[schema(schema_with = schema::preauth_role)]
    pub role: Value,
    /// For role `Debit` (with `isInitial`): `Holder` (≤ 255; the PSP family may take fewer) and `IBAN` required, `BIC` (8 or
    /// 11) optional; keys in any case. At most 16 entries; keys ≤ 64, values ≤ 256 characters.
    #[serde(default)]
    pub initial_bearer: Option<BTreeMap<String, Option<String>>>,
    #[schema(schema_with = schema::return_url)]
    pub success_return_url: Option<String>,
    #[schema(schema_with = schema::return_url)]
    pub error_return_url: Option<String>,
    #[schema(schema_with = schema::return_url)]
    pub abort_return_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    /// At most 64 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub address_line1: Option<String>,
    #[schema(
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub address_line2: Option<String>,
    /// At most 64 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub street: Option<String>,
    #[schema(
        max_length = 12,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub house_number: Option<String>,
    /// At most 12 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 12,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub postal_code: Option<String>,
    /// At most 128 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 128,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub city: Option<String>,
    #[schema(
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub state: Option<String>,
    /// ISO 3166 alpha-2, any case.
    #[schema(pattern = "^ *(?:[A-Za-z]{2})? *$")]
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PayerData {
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub external_customer_id: Option<String>,
    /// At most 255 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub company_name: Option<String>,
    /// At most 255 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub first_name: Option<String>,
    /// At most 255 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub last_name: Option<String>,
    #[schema(
        max_length = 32,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub vat_id: Option<String>,
    pub address: Option<Address>,
    /// An e-mail address such as `jane@example.com` (no spaces inside), at most 254 characters;
    /// the merchant's PSP family may take fewer.
    #[schema(max_length = 254, pattern = "^ *(?:[^@\\s]+@[^\\s]{3,})? *$")]
    pub email_address: Option<String>,
    /// ISO 639-1 (`EN`, any case), optionally with a region (`en-US`, `de_DE`).
    #[schema(pattern = "^ *(?:[A-Za-z]{2}(?:[-_][A-Za-z]{2})?)? *$")]
    pub language: Option<String>,
    #[schema(
        max_length = 32,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub phone_number: Option<String>,
}

/// `POST /api/Preauth`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PreauthRequest {
    #[schema(schema_with = schema::psp_settings_id)]
    pub psp_settings_id: Option<String>,
    #[schema(schema_with = schema::tx_id)]
    pub transaction_id: String,
    /// 0 registers a card or a SEPA mandate without reserving money.
    #[schema(schema_with = schema::amount_zero_or_more)]
    pub requested_amount: Value,
    #[schema(schema_with = schema::currency)]
    pub currency: String,
    #[schema(schema_with = schema::webhook_target)]
    pub webhook_target: String,
    pub payment_means_reference: PreauthMeansReference,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub transaction_invoice_reference_text: Option<String>,
    /// At most 255 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub transaction_reference_text: Option<String>,
    pub payer_data: Option<PayerData>,
    /// Accepted and ignored: we do not declare `hasSupportOrderDataInPreauth`.
    pub order_data: Option<Value>,
    #[schema(schema_with = schema::agreement_id)]
    pub agreement_id: String,
    #[schema(schema_with = schema::migration_token)]
    pub migration_token: Option<String>,
    /// Default `true`.
    pub is_initial: Option<bool>,
}

/// `POST /api/Payment` (capture when `preauthTransactionId` is present, recurring otherwise).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    #[schema(schema_with = schema::psp_settings_id)]
    pub psp_settings_id: Option<String>,
    #[schema(schema_with = schema::tx_id)]
    pub transaction_id: String,
    #[schema(schema_with = schema::tx_id_or_null)]
    pub preauth_transaction_id: Option<String>,
    #[schema(schema_with = schema::amount_positive)]
    pub requested_amount: Value,
    #[schema(schema_with = schema::currency)]
    pub currency: String,
    #[schema(schema_with = schema::webhook_target)]
    pub webhook_target: String,
    pub payment_means_reference: Option<PaymentMeansReference>,
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub transaction_invoice_reference_text: Option<String>,
    /// At most 255 characters; the merchant's PSP family may take fewer (refused with 422
    /// naming the field and its limit).
    #[schema(
        max_length = 255,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub transaction_reference_text: Option<String>,
    pub payer_data: Option<PayerData>,
    /// `yyyy-MM-dd`; an empty string means none.
    #[schema(pattern = "^(?:[0-9]{4}-[0-9]{2}-[0-9]{2})?$")]
    pub planned_execution_date: Option<String>,
    /// Accepted and ignored: we do not declare `hasSupportInvoiceData`.
    pub invoice_data: Option<Value>,
    #[schema(schema_with = schema::agreement_id)]
    pub agreement_id: String,
}

/// `POST /api/Refund`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    #[schema(schema_with = schema::psp_settings_id)]
    pub psp_settings_id: Option<String>,
    #[schema(schema_with = schema::tx_id)]
    pub transaction_id: String,
    #[schema(schema_with = schema::amount_positive)]
    pub requested_amount: Value,
    #[schema(schema_with = schema::currency)]
    pub currency: String,
    #[schema(schema_with = schema::webhook_target)]
    pub webhook_target: String,
    #[schema(schema_with = schema::tx_id)]
    pub payment_transaction_id: String,
    pub payer_data: Option<PayerData>,
    pub invoice_data: Option<Value>,
}

/// `POST /api/Preauth/{id}/Cancel`; the body is optional (empty means no fields).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    #[schema(schema_with = schema::psp_settings_id)]
    pub psp_settings_id: Option<String>,
}

/// `POST /api/Preauth/Finalize`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeRequest {
    #[schema(schema_with = schema::tx_id)]
    pub transaction_id: String,
    /// Accepted and not used.
    #[serde(default)]
    pub finalization_data: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct SettingValue {
    /// A key of `IntegrationInfo.merchantSettings` (any case), each at most once.
    #[schema(
        min_length = 1,
        max_length = 64,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub key_name: String,
    /// Empty (or absent) means "not set"; a masked value sent back unchanged keeps the secret.
    #[schema(
        max_length = 1024,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F\u2028\u2029]*$"
    )]
    pub key_value: Option<String>,
}

/// `ThirdPartyMerchantPspSettings`: the settings list.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct MerchantSettings {
    #[schema(max_items = 32)]
    pub merchant_settings: Vec<SettingValue>,
}

/// `PUT /api/Settings`: unwrapped `{merchantSettings}` or wrapped `{merchantPspSettings:
/// {merchantSettings}}` (contract §6.11 leaves the shape open) — exactly one of the two; a body
/// with both is refused with 422 naming both.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(untagged)]
pub enum SettingsRequest {
    Unwrapped(MerchantSettings),
    Wrapped(WrappedSettings),
}

/// `PaymentSettingsRequestDto`: the settings inside `merchantPspSettings`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct WrappedSettings {
    pub merchant_psp_settings: MerchantSettings,
}
