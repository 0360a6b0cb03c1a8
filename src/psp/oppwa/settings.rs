//! The merchant's OPPWA settings: the form schema Billwerk renders, and parsing into a typed
//! `OppwaSettings` with local format checks. Secret values never reach `Debug` or logs.

use secrecy::SecretString;

use crate::psp::{
    PspSettings, SHOP_NAME_MAX_CHARS, SHOP_NAME_SETTING, SettingField, SettingsError,
};

pub const ACCESS_TOKEN: &str = "AccessToken";
pub const ENTITY_ID: &str = "EntityId";
pub const MIT_ENTITY_ID: &str = "MitEntityId";
pub const WEBHOOK_SECRET: &str = "WebhookSecret";
pub const ENVIRONMENT: &str = "Environment";

pub static SCHEMA: &[SettingField] = &[
    SettingField {
        key: ACCESS_TOKEN,
        display_name: "Access token",
        required: true,
        secret: true,
        predefined_values: &[],
        placeholder: None,
    },
    SettingField {
        key: ENTITY_ID,
        display_name: "Entity ID",
        required: true,
        secret: false,
        predefined_values: &[],
        placeholder: Some("32 hex characters"),
    },
    SettingField {
        key: MIT_ENTITY_ID,
        display_name: "Entity ID for merchant-initiated payments (optional)",
        required: false,
        secret: false,
        predefined_values: &[],
        placeholder: Some("32 hex characters"),
    },
    SettingField {
        key: WEBHOOK_SECRET,
        display_name: "Webhook secret",
        required: true,
        secret: true,
        predefined_values: &[],
        placeholder: Some("64 hex characters"),
    },
    SettingField {
        key: ENVIRONMENT,
        display_name: "Environment",
        required: true,
        secret: false,
        predefined_values: &[("Test", "Test"), ("Live", "Live")],
        placeholder: None,
    },
    SettingField {
        key: SHOP_NAME_SETTING,
        display_name: "Shop name shown on the payment page (optional)",
        required: false,
        secret: false,
        predefined_values: &[],
        placeholder: Some("up to 80 characters"),
    },
];

/// Which OPPWA host the merchant's credentials belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Test,
    Live,
}

/// Parsed, validated settings of one merchant.
#[derive(Debug, Clone)]
pub struct OppwaSettings {
    pub access_token: SecretString,
    pub entity_id: String,
    pub mit_entity_id: Option<String>,
    pub webhook_secret: SecretString,
    pub environment: Environment,
}

impl OppwaSettings {
    /// Parses and checks every key; the error names the first offending key.
    pub fn parse(settings: &PspSettings) -> Result<Self, SettingsError> {
        let access_token = required(settings, ACCESS_TOKEN)?;
        if access_token
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(err(ACCESS_TOKEN, "must not contain whitespace"));
        }
        let entity_id =
            hex_value(settings, ENTITY_ID, 32)?.ok_or_else(|| err(ENTITY_ID, "is required"))?;
        let mit_entity_id = hex_value(settings, MIT_ENTITY_ID, 32)?;
        let webhook_secret = hex_value(settings, WEBHOOK_SECRET, 64)?
            .ok_or_else(|| err(WEBHOOK_SECRET, "is required"))?;
        let environment = match required(settings, ENVIRONMENT)?
            .to_ascii_lowercase()
            .as_str()
        {
            "test" => Environment::Test,
            "live" => Environment::Live,
            _ => return Err(err(ENVIRONMENT, "must be Test or Live")),
        };
        if let Some(name) = settings.get(SHOP_NAME_SETTING)
            && (name.chars().count() > SHOP_NAME_MAX_CHARS || name.chars().any(char::is_control))
        {
            return Err(err(
                SHOP_NAME_SETTING,
                "must be at most 80 characters without control characters",
            ));
        }
        Ok(Self {
            access_token: SecretString::from(access_token),
            entity_id,
            mit_entity_id,
            webhook_secret: SecretString::from(webhook_secret),
            environment,
        })
    }

    /// The entity for merchant-initiated operations: the separate channel when configured.
    pub fn mit_entity(&self) -> &str {
        self.mit_entity_id.as_deref().unwrap_or(&self.entity_id)
    }
}

fn err(key: &str, message: &str) -> SettingsError {
    SettingsError {
        key: key.to_string(),
        message: message.to_string(),
    }
}

fn required(settings: &PspSettings, key: &str) -> Result<String, SettingsError> {
    settings
        .get(key)
        .map(|v| v.trim().to_string())
        .ok_or_else(|| err(key, "is required"))
}

/// An optional hex value of exactly `len` characters; the message never echoes the value.
fn hex_value(
    settings: &PspSettings,
    key: &str,
    len: usize,
) -> Result<Option<String>, SettingsError> {
    let Some(value) = settings.get(key).map(str::trim) else {
        return Ok(None);
    };
    if value.len() != len || !value.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err(
            key,
            &format!("must be exactly {len} hexadecimal characters"),
        ));
    }
    Ok(Some(value.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    pub fn valid() -> PspSettings {
        let mut s = PspSettings::default();
        s.0.insert(ACCESS_TOKEN.into(), "OGFjN2E0Yz".into());
        s.0.insert(ENTITY_ID.into(), "8ac7a4c9732a5c4601732b8f8c0d1a2b".into());
        s.0.insert(WEBHOOK_SECRET.into(), "ab".repeat(32));
        s.0.insert(ENVIRONMENT.into(), "test".into());
        s
    }

    fn with(key: &str, value: &str) -> PspSettings {
        let mut s = valid();
        s.0.insert(key.into(), value.into());
        s
    }

    fn bad_key(s: &PspSettings) -> Option<String> {
        OppwaSettings::parse(s).err().map(|e| e.key)
    }

    #[test]
    fn parses_valid_settings() {
        let s = OppwaSettings::parse(&valid()).expect("valid");
        assert_eq!(s.environment, Environment::Test);
        assert_eq!(s.access_token.expose_secret(), "OGFjN2E0Yz");
        assert_eq!(s.mit_entity(), "8ac7a4c9732a5c4601732b8f8c0d1a2b");
        let s = OppwaSettings::parse(&with(MIT_ENTITY_ID, &"c".repeat(32))).expect("valid");
        assert_eq!(s.mit_entity(), "c".repeat(32));
        assert!(!format!("{s:?}").contains("OGFjN2E0Yz"));
    }

    #[test]
    fn names_the_bad_key() {
        let mut missing = valid();
        missing.0.remove(ACCESS_TOKEN);
        assert_eq!(bad_key(&missing).as_deref(), Some(ACCESS_TOKEN));
        assert_eq!(bad_key(&with(ENTITY_ID, "abc")).as_deref(), Some(ENTITY_ID));
        assert_eq!(
            bad_key(&with(SHOP_NAME_SETTING, &"x".repeat(81))).as_deref(),
            Some(SHOP_NAME_SETTING)
        );
        assert_eq!(bad_key(&with(SHOP_NAME_SETTING, "Käse & Co.")), None);
        assert_eq!(
            bad_key(&with(ENTITY_ID, &"g".repeat(32))).as_deref(),
            Some(ENTITY_ID)
        );
        assert_eq!(
            bad_key(&with(MIT_ENTITY_ID, "x")).as_deref(),
            Some(MIT_ENTITY_ID)
        );
        assert_eq!(
            bad_key(&with(WEBHOOK_SECRET, "ab")).as_deref(),
            Some(WEBHOOK_SECRET)
        );
        assert_eq!(
            bad_key(&with(ENVIRONMENT, "prod")).as_deref(),
            Some(ENVIRONMENT)
        );
        assert_eq!(bad_key(&with(ENVIRONMENT, "LIVE")), None);
        assert_eq!(bad_key(&with(MIT_ENTITY_ID, " ")), None);
    }
}
