//! IntegrationInfo and the merchant's PSP settings: checked against the PSP before they are
//! stored, sealed at rest, masked when read back.

use std::collections::BTreeMap;

use super::{App, Merchant};
use crate::contract::ApiError;
use crate::contract::commands::SettingsCommand;
use crate::contract::responses::{
    DebitExtras, IntegrationInfo, IntegrationSettingsResponse, MethodInfo, SettingDescription,
    SettingValueDto, SettingsResponse,
};
use crate::domain::{PaymentErrorCode, Role};
use crate::psp::MerchantPsp;
use crate::psp::{PspSettings, SettingField};

/// `GET /api/IntegrationInfo`.
pub fn integration_info(m: &Merchant) -> IntegrationInfo {
    let caps = m.provider.capabilities();
    let card = caps.supports(Role::CreditCard).then_some(MethodInfo {
        use_capture_preauth: caps.capture_preauth,
        use_cancel_preauth: caps.cancel_preauth,
        default_preauth_amount: None,
        has_support_initial_bearer: false,
        debit: None,
    });
    let debit = caps.supports(Role::Debit).then_some(MethodInfo {
        use_capture_preauth: false,
        use_cancel_preauth: false,
        default_preauth_amount: None,
        has_support_initial_bearer: true,
        debit: Some(DebitExtras {
            support_backend_payments: true,
            unconfirmed_ledger_for_refund: false,
            unconfirmed_ledger: true,
            support_external_mandate_reference: false,
            supported_external_mandate_reference_size: 0,
            support_lower_case_mandate_reference: false,
        }),
    });
    IntegrationInfo {
        credit_card_method_info: card,
        debit_method_info: debit,
        black_label_method_info: None,
        on_account_method_info: None,
        betalingsservice_method_info: None,
        autogiro_method_info: None,
        avtalegiro_method_info: None,
        use_payment_data_confirmation_flow: false,
        use_payment_data_confirmation_flow_for_preauth: false,
        support_refunds: caps.refunds,
        support_escalations: None,
        prevent_recurring_before_capture: false,
        uses_scheduled_payment: false,
        support_multiple_transaction_overpayments: false,
        requires_return_url: caps.requires_return_url,
        merchant_settings: m.provider.settings_schema().iter().map(describe).collect(),
        has_support_initial_bearer: caps.supports(Role::Debit),
        has_support_order_data_in_preauth: false,
        has_support_invoice_data: false,
    }
}

fn describe(f: &SettingField) -> SettingDescription {
    SettingDescription {
        display_name: f.display_name.into(),
        key_name: f.key.into(),
        required: f.required,
        predefined_values: (!f.predefined_values.is_empty()).then(|| {
            f.predefined_values
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect()
        }),
        place_holder: f.placeholder.map(Into::into),
    }
}

/// How a secret is shown: enough to recognise it, never enough to use it.
pub fn mask(secret: &str) -> String {
    let n = secret.chars().count();
    if n >= 16 {
        let tail: String = secret.chars().skip(n - 4).collect();
        format!("********{tail}")
    } else {
        "********".into()
    }
}

/// `GET /api/Settings`: every schema key in order, secrets masked, unset keys empty.
pub async fn get(app: &App, m: &Merchant) -> Result<SettingsResponse, ApiError> {
    let stored = app.stored_settings(m.id()).await?.unwrap_or_default();
    let merchant_settings = m
        .provider
        .settings_schema()
        .iter()
        .map(|f| {
            let value = stored.get(f.key).unwrap_or_default();
            let shown = if f.secret && !value.is_empty() {
                mask(value)
            } else {
                value.to_string()
            };
            SettingValueDto {
                key_name: f.key.into(),
                key_value: shown,
            }
        })
        .collect();
    Ok(SettingsResponse { merchant_settings })
}

/// `PUT /api/Settings`.
#[tracing::instrument(level = "error", name = "settings", skip_all,
    fields(merchant_id = %m.id()))]
pub async fn put(
    app: &App,
    m: &Merchant,
    cmd: SettingsCommand,
) -> Result<IntegrationSettingsResponse, ApiError> {
    let schema = m.provider.settings_schema();
    let previous = app.stored_settings(m.id()).await?.unwrap_or_default();
    let mut map = BTreeMap::new();
    for sv in cmd.values {
        let name = sv.name.as_str();
        let field = schema
            .iter()
            .find(|f| f.key.eq_ignore_ascii_case(name))
            .ok_or_else(|| ApiError::invalid(&sv.field, format!("unknown setting '{name}'")))?;
        let mut value = sv.value;
        // A masked value sent back unchanged means "keep the stored secret".
        if let Some(old) = previous.get(field.key)
            && field.secret
            && value == mask(old)
        {
            value = old.to_string();
        }
        if !value.is_empty() {
            map.insert(field.key.to_string(), value);
        }
    }
    let settings = PspSettings(map);
    let psp = app
        .bind_psp(m, &settings)
        .map_err(|e| ApiError::invalid(&e.key, e.message))?;
    let validity = psp.check_settings().await.map_err(|e| {
        let code = match e.code {
            // A rejected credential in the settings form is a data problem of this request;
            // LoginError would make Billwerk disable the PSP.
            PaymentErrorCode::LoginError | PaymentErrorCode::PermissionDenied => {
                PaymentErrorCode::InvalidData
            }
            other => other,
        };
        let message = format!("the PSP did not accept these settings: {}", e.message);
        ApiError::code(code, message).with_psp_code(e.psp_code)
    })?;
    let json = serde_json::to_vec(&settings.0).map_err(|_| ApiError::internal())?;
    let sealed = app.sealer.seal(&json).map_err(|_| ApiError::internal())?;
    app.store.put_settings(m.id(), &sealed, app.now()).await?;
    tracing::info!(merchant = %m.id(), "PSP settings updated");
    Ok(IntegrationSettingsResponse {
        is_credit_card_valid: validity.credit_card,
        is_debit_valid: validity.debit,
        ..IntegrationSettingsResponse::default()
    })
}

/// Checks a merchant's stored PSP settings against the PSP again (the console's "re-verify"):
/// nothing is stored or changed. `Ok(Some(text))`: the PSP accepts them (`text` says for which
/// methods); `Ok(None)`: no settings stored; `Err(reason)`: the PSP refused them or could not
/// be asked.
pub async fn verify_stored(app: &App, m: &Merchant) -> Result<Option<String>, String> {
    let Some(settings) = app
        .stored_settings(m.id())
        .await
        .map_err(|e| e.body.error_message)?
    else {
        return Ok(None);
    };
    let psp = app.bind_psp(m, &settings).map_err(|e| e.message)?;
    match psp.check_settings().await {
        Ok(v) => Ok(Some(format!(
            "verified (cards: {}, direct debit: {})",
            if v.credit_card { "yes" } else { "no" },
            if v.debit { "yes" } else { "no" }
        ))),
        Err(e) => Err(e.message),
    }
}
