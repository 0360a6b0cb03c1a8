//! Billwerk response bodies exactly as on the wire: camelCase names, enum names, amounts as exact
//! JSON numbers, `lastUpdated` with 7 fractional digits, mandatory fields always present.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use rust_decimal::Decimal;
use serde::Serialize;

use crate::domain::{Bearer, CancellationStatus, ChargebackReason, TxStatus};

/// Amounts go out as exact JSON numbers in their shortest form (`300`, `15.5`).
mod amount {
    use rust_decimal::Decimal;

    pub fn serialize<S: serde::Serializer>(d: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision::serialize(&d.normalize(), s)
    }
}

mod opt_amount {
    use rust_decimal::Decimal;

    pub fn serialize<S: serde::Serializer>(d: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision_option::serialize(&d.map(|d| d.normalize()), s)
    }
}

/// `PreauthResponseDto` (§8.1).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PreauthResponse {
    pub transaction_id: String,
    pub external_transaction_id: String,
    /// `null` until the PSP has assigned an id (a redirect not yet completed, a lost answer).
    pub psp_transaction_id: Option<String>,
    pub currency: String,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub requested_amount: Decimal,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub authorized_amount: Decimal,
    pub expires_at: String,
    pub bearer: Bearer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect_data: Option<BTreeMap<String, String>>,
    pub last_updated: String,
    pub status: TxStatus,
}

/// `PaymentItemDto` (§8.3).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentItemDto {
    pub external_item_id: Option<String>,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub amount: Decimal,
    pub booking_date: NaiveDate,
    pub description: Option<String>,
}

/// `PaymentChargebackItemDto` (§8.3).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChargebackDto {
    pub external_item_id: Option<String>,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub amount: Decimal,
    pub booking_date: NaiveDate,
    pub description: Option<String>,
    #[serde(with = "opt_amount")]
    #[schema(schema_with = super::schema::amount_out_or_null)]
    pub fee_amount: Option<Decimal>,
    pub reason: ChargebackReason,
    pub psp_reason_code: Option<String>,
    pub psp_reason_message: Option<String>,
}

/// `PaymentResponseDto` (§8.2).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PaymentResponse {
    pub transaction_id: String,
    pub external_transaction_id: String,
    /// `null` until the PSP has assigned an id (a redirect not yet completed, a lost answer).
    pub psp_transaction_id: Option<String>,
    pub currency: String,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub requested_amount: Decimal,
    pub payments: Vec<PaymentItemDto>,
    pub chargebacks: Vec<ChargebackDto>,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub refunded_amount: Decimal,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub refundable_amount: Decimal,
    pub bearer: Bearer,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    pub last_updated: String,
    pub status: TxStatus,
}

/// `RefundResponseDto` (§8.4).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    pub transaction_id: String,
    pub external_transaction_id: String,
    pub psp_transaction_id: Option<String>,
    pub currency: String,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub requested_amount: Decimal,
    #[serde(with = "amount")]
    #[schema(schema_with = super::schema::amount_out)]
    pub refunded_amount: Decimal,
    pub booking_date: NaiveDate,
    pub description: Option<String>,
    pub last_updated: String,
    pub status: TxStatus,
}

/// `PaymentCancellationResponseDto` (§8.5).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CancellationResponse {
    pub cancellation_status: CancellationStatus,
    pub transaction_id: String,
}

/// `PaymentMethodInfoDto` plus the direct-debit extras (§6.9); extras are skipped for cards.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MethodInfo {
    pub use_capture_preauth: bool,
    pub use_cancel_preauth: bool,
    #[serde(with = "opt_amount")]
    #[schema(schema_with = super::schema::amount_out_or_null)]
    pub default_preauth_amount: Option<Decimal>,
    pub has_support_initial_bearer: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub debit: Option<DebitExtras>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DebitExtras {
    // Flattened into `MethodInfo` for the debit method only: optional in the schema.
    #[schema(required = false)]
    pub support_backend_payments: bool,
    #[schema(required = false)]
    pub unconfirmed_ledger_for_refund: bool,
    #[schema(required = false)]
    pub unconfirmed_ledger: bool,
    #[schema(required = false)]
    pub support_external_mandate_reference: bool,
    #[schema(required = false)]
    pub supported_external_mandate_reference_size: i64,
    #[schema(required = false)]
    pub support_lower_case_mandate_reference: bool,
}

/// `MerchantSettingDescription` (§6.9); note `placeHolder` with a capital H.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingDescription {
    pub display_name: String,
    pub key_name: String,
    pub required: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predefined_values: Option<BTreeMap<String, String>>,
    #[serde(rename = "placeHolder", skip_serializing_if = "Option::is_none")]
    pub place_holder: Option<String>,
}

/// `IntegrationInfoResponseDto` (§6.9).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationInfo {
    pub credit_card_method_info: Option<MethodInfo>,
    pub debit_method_info: Option<MethodInfo>,
    pub black_label_method_info: Option<MethodInfo>,
    pub on_account_method_info: Option<MethodInfo>,
    pub betalingsservice_method_info: Option<MethodInfo>,
    pub autogiro_method_info: Option<MethodInfo>,
    pub avtalegiro_method_info: Option<MethodInfo>,
    pub use_payment_data_confirmation_flow: bool,
    pub use_payment_data_confirmation_flow_for_preauth: bool,
    pub support_refunds: bool,
    pub support_escalations: Option<bool>,
    pub prevent_recurring_before_capture: bool,
    pub uses_scheduled_payment: bool,
    pub support_multiple_transaction_overpayments: bool,
    pub requires_return_url: bool,
    pub merchant_settings: Vec<SettingDescription>,
    pub has_support_initial_bearer: bool,
    pub has_support_order_data_in_preauth: bool,
    pub has_support_invoice_data: bool,
}

/// `MerchantSettingValue`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingValueDto {
    pub key_name: String,
    pub key_value: String,
}

/// `ThirdPartyMerchantPspSettings` (GET /api/Settings).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsResponse {
    pub merchant_settings: Vec<SettingValueDto>,
}

/// `IntegrationSettingsResponseDto` (§6.11); every flag written, false included.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct IntegrationSettingsResponse {
    pub is_credit_card_valid: bool,
    pub is_debit_valid: bool,
    pub is_on_account_valid: bool,
    pub is_black_label_valid: bool,
    pub is_autogiro_valid: bool,
    pub is_avtalegiro_valid: bool,
    pub is_betalingsservice_valid: bool,
}

/// `IntegrationWebhookDto` (§12): PascalCase names, `Type` as a number.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Webhook {
    #[serde(rename = "TransactionId")]
    pub transaction_id: String,
    #[serde(rename = "AgreementId")]
    pub agreement_id: Option<String>,
    #[serde(rename = "Type")]
    pub webhook_type: i64,
}
