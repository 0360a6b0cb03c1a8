//! Billwerk request bodies as the OpenAPI document describes them (contract §6, §7). They only
//! document the wire shapes: requests are read by `wire.rs` and checked by `commands.rs`, which
//! is where the rules live. Almost every field is optional because Billwerk's own examples leave
//! "mandatory" fields out (contract §14).

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Deserialize;

use crate::domain::Role;

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PaymentMeansReference {
    pub role: Option<Role>,
    #[serde(default)]
    pub initial_bearer: Option<BTreeMap<String, Option<String>>>,
    pub success_return_url: Option<String>,
    pub error_return_url: Option<String>,
    pub abort_return_url: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct Address {
    pub address_line1: Option<String>,
    pub address_line2: Option<String>,
    pub street: Option<String>,
    pub house_number: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub country: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PayerData {
    pub external_customer_id: Option<String>,
    pub company_name: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub vat_id: Option<String>,
    pub address: Option<Address>,
    pub email_address: Option<String>,
    pub language: Option<String>,
    pub phone_number: Option<String>,
}

/// `POST /api/Preauth`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PreauthRequest {
    pub psp_settings_id: Option<String>,
    pub transaction_id: Option<String>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    pub requested_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub webhook_target: Option<String>,
    pub payment_means_reference: Option<PaymentMeansReference>,
    pub transaction_invoice_reference_text: Option<String>,
    pub transaction_reference_text: Option<String>,
    pub payer_data: Option<PayerData>,
    /// Accepted and ignored: we do not declare `hasSupportOrderDataInPreauth`.
    pub order_data: Option<serde_json::Value>,
    pub agreement_id: Option<String>,
    pub migration_token: Option<String>,
    pub is_initial: Option<bool>,
}

/// `POST /api/Payment` (capture when `preauthTransactionId` is present, recurring otherwise).
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct PaymentRequest {
    pub psp_settings_id: Option<String>,
    pub transaction_id: Option<String>,
    pub preauth_transaction_id: Option<String>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    pub requested_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub webhook_target: Option<String>,
    pub payment_means_reference: Option<PaymentMeansReference>,
    pub transaction_invoice_reference_text: Option<String>,
    pub transaction_reference_text: Option<String>,
    pub payer_data: Option<PayerData>,
    pub planned_execution_date: Option<chrono::NaiveDate>,
    /// Accepted and ignored: we do not declare `hasSupportInvoiceData`.
    pub invoice_data: Option<serde_json::Value>,
    pub agreement_id: Option<String>,
}

/// `POST /api/Refund`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    pub psp_settings_id: Option<String>,
    pub transaction_id: Option<String>,
    #[serde(default, with = "rust_decimal::serde::arbitrary_precision_option")]
    pub requested_amount: Option<Decimal>,
    pub currency: Option<String>,
    pub webhook_target: Option<String>,
    pub payment_transaction_id: Option<String>,
    pub payer_data: Option<PayerData>,
    pub invoice_data: Option<serde_json::Value>,
}

/// `POST /api/Preauth/{id}/Cancel`; the body may be empty.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct CancelRequest {
    pub psp_settings_id: Option<String>,
}

/// `POST /api/Preauth/Finalize`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct FinalizeRequest {
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub finalization_data: Option<BTreeMap<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct SettingValue {
    pub key_name: Option<String>,
    pub key_value: Option<String>,
}

/// `PUT /api/Settings`: unwrapped `{merchantSettings}` or wrapped `{merchantPspSettings: {…}}`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[allow(dead_code)]
#[serde(rename_all = "camelCase")]
pub struct SettingsRequest {
    pub merchant_settings: Option<Vec<SettingValue>>,
    #[schema(no_recursion)]
    pub merchant_psp_settings: Option<Box<SettingsRequest>>,
}

impl SettingsRequest {
    /// The settings list, whichever of the two shapes was sent.
    pub fn into_values(self) -> Option<Vec<SettingValue>> {
        match (self.merchant_settings, self.merchant_psp_settings) {
            (Some(v), _) => Some(v),
            (None, Some(inner)) => inner.into_values(),
            (None, None) => None,
        }
    }
}
