//! `[psp.mollie]`: the Mollie adapter's hosts and timeouts, and its registration.

use std::sync::Arc;

use serde::Deserialize;

use crate::config::PspSection;
use crate::psp::{Family, PaymentProvider};

/// The Mollie family's entry in `startup::psp_families`.
pub static FAMILY: Family = Family {
    name: "mollie",
    section: crate::config::psp_section::<MolliePspSection>,
    aliases: &[],
    adapter: |section| {
        let s = section.as_any().downcast_ref::<MolliePspSection>()?;
        Some(Arc::new(super::Mollie::new(s.adapter_config())) as Arc<dyn PaymentProvider>)
    },
};

/// `[psp.mollie]`: the Mollie adapter (one host for both modes: the API key pins the mode).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MolliePspSection {
    /// Host for merchants whose API key starts with `test_` (a built-in simulator replaces it).
    pub test_base_url: String,
    /// Host for merchants whose API key starts with `live_`.
    pub live_base_url: String,
    /// Seconds to wait for an answer; a money call that times out stays Pending.
    pub timeout_secs: u64,
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: u64,
}

impl MolliePspSection {
    /// The adapter's configuration (no trailing slash on the hosts).
    pub fn adapter_config(&self) -> super::MollieConfig {
        super::MollieConfig {
            test_base_url: self.test_base_url.trim_end_matches('/').to_string(),
            live_base_url: self.live_base_url.trim_end_matches('/').to_string(),
            timeout: std::time::Duration::from_secs(self.timeout_secs),
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout_secs),
        }
    }
}

impl PspSection for MolliePspSection {
    fn base_urls(&self) -> Vec<(&'static str, &str)> {
        vec![
            ("test_base_url", &self.test_base_url),
            ("live_base_url", &self.live_base_url),
        ]
    }

    fn base_url_mut(&mut self, key: &str) -> Option<&mut String> {
        match key {
            "test_base_url" => Some(&mut self.test_base_url),
            "live_base_url" => Some(&mut self.live_base_url),
            _ => None,
        }
    }

    fn timeout_secs(&self) -> u64 {
        self.timeout_secs
    }

    fn connect_timeout_secs(&self) -> u64 {
        self.connect_timeout_secs
    }
}
