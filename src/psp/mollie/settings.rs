//! The merchant's Mollie settings: one API key whose prefix is the environment (Mollie
//! "Authentication": `test_…` keys reach test mode, `live_…` keys live mode), and the optional
//! shop name. The key never reaches `Debug` or logs.

use secrecy::SecretString;

use crate::psp::{
    PspSettings, SHOP_NAME_MAX_CHARS, SHOP_NAME_SETTING, SettingField, SettingsError,
};

pub const API_KEY: &str = "ApiKey";

pub static SCHEMA: &[SettingField] = &[
    SettingField {
        key: API_KEY,
        display_name: "API key (test_… or live_…)",
        required: true,
        secret: true,
        predefined_values: &[],
        placeholder: Some("test_ or live_ followed by the key"),
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

/// Test or live mode, pinned by the key's prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Test,
    Live,
}

/// Parsed, validated settings of one merchant.
#[derive(Debug, Clone)]
pub struct MollieSettings {
    pub api_key: SecretString,
    pub mode: Mode,
}

/// Shortest key body after the prefix: every published key has 30 characters, no rule is
/// documented, so only obvious typos (a bare prefix) are refused.
const MIN_KEY_BODY: usize = 8;

impl MollieSettings {
    /// Parses and checks every key; the error names the offending key and never echoes it.
    pub fn parse(settings: &PspSettings) -> Result<Self, SettingsError> {
        let key = settings
            .get(API_KEY)
            .map(str::trim)
            .ok_or_else(|| err(API_KEY, "is required"))?;
        let (mode, body) = if let Some(b) = key.strip_prefix("test_") {
            (Mode::Test, b)
        } else if let Some(b) = key.strip_prefix("live_") {
            (Mode::Live, b)
        } else {
            return Err(err(API_KEY, "must start with test_ or live_"));
        };
        if body.len() < MIN_KEY_BODY || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(err(
                API_KEY,
                "must be test_ or live_ followed by letters and digits",
            ));
        }
        if let Some(name) = settings.get(SHOP_NAME_SETTING)
            && (name.chars().count() > SHOP_NAME_MAX_CHARS || name.chars().any(char::is_control))
        {
            return Err(err(
                SHOP_NAME_SETTING,
                "must be at most 80 characters without control characters",
            ));
        }
        Ok(Self {
            api_key: SecretString::from(key.to_string()),
            mode,
        })
    }
}

fn err(key: &str, message: &str) -> SettingsError {
    SettingsError {
        key: key.to_string(),
        message: message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn with(key: &str, value: &str) -> PspSettings {
        let mut s = PspSettings::default();
        s.0.insert(API_KEY.into(), "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM".into());
        s.0.insert(key.into(), value.into());
        s
    }

    fn bad_key(s: &PspSettings) -> Option<String> {
        MollieSettings::parse(s).err().map(|e| e.key)
    }

    #[test]
    fn the_prefix_is_the_mode() {
        let s = MollieSettings::parse(&with(API_KEY, "test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM"))
            .expect("valid");
        assert_eq!(s.mode, Mode::Test);
        assert!(!format!("{s:?}").contains("dHar4"));
        let s = MollieSettings::parse(&with(API_KEY, " live_abcdefghij0123 ")).expect("valid");
        assert_eq!(s.mode, Mode::Live);
        assert_eq!(s.api_key.expose_secret(), "live_abcdefghij0123");
    }

    #[test]
    fn a_key_of_the_wrong_form_is_named() {
        for bad in [
            "",
            "dHar4XY7LxsDOtmnkVtjNVWXLSlXsM",
            "prod_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM",
            "test_",
            "test_abc",
            "Test_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM",
            "test_dHar4XY7 LxsDOtmnkVtjNVWXLSlXsM",
            "access_dHar4XY7LxsDOtmnkVtjNVWXLSlXsM",
        ] {
            assert_eq!(
                bad_key(&with(API_KEY, bad)).as_deref(),
                Some(API_KEY),
                "{bad:?}"
            );
        }
        let mut none = PspSettings::default();
        none.0.insert("Other".into(), "x".into());
        assert_eq!(bad_key(&none).as_deref(), Some(API_KEY));
        assert_eq!(
            bad_key(&with(SHOP_NAME_SETTING, &"x".repeat(81))).as_deref(),
            Some(SHOP_NAME_SETTING)
        );
        assert_eq!(bad_key(&with(SHOP_NAME_SETTING, "Käse & Co.")), None);
    }
}
