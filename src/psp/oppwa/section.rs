//! `[psp.oppwa]`: the OPPWA adapter's hosts, timeouts and card brands, and its registration.

use std::sync::Arc;

use serde::Deserialize;

use crate::config::PspSection;
use crate::psp::{Family, PaymentProvider};

/// The OPPWA family's entry in `startup::psp_families`. `[oppwa]` (and `PSPI__OPPWA__*`) is the
/// section's old name, still read.
pub static FAMILY: Family = Family {
    name: "oppwa",
    section: crate::config::psp_section::<OppwaPspSection>,
    aliases: &[("oppwa", "psp.oppwa")],
    adapter: |section| {
        let s = section.as_any().downcast_ref::<OppwaPspSection>()?;
        Some(Arc::new(super::Oppwa::new(s.adapter_config())) as Arc<dyn PaymentProvider>)
    },
};

/// `[psp.oppwa]`: the OPPWA adapter.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OppwaPspSection {
    /// Host for merchants whose `Environment` setting is `Test` (a built-in simulator replaces it).
    pub test_base_url: String,
    /// Host for merchants whose `Environment` setting is `Live`.
    pub live_base_url: String,
    /// Seconds to wait for an answer; a money call that times out stays Pending.
    pub timeout_secs: u64,
    /// Seconds to wait for a connection.
    pub connect_timeout_secs: u64,
    /// Card brands offered on the hosted payment form, space-separated.
    pub brands: String,
}

impl OppwaPspSection {
    /// The adapter's configuration (no trailing slash on the hosts).
    pub fn adapter_config(&self) -> super::OppwaConfig {
        super::OppwaConfig {
            test_base_url: self.test_base_url.trim_end_matches('/').to_string(),
            live_base_url: self.live_base_url.trim_end_matches('/').to_string(),
            timeout: std::time::Duration::from_secs(self.timeout_secs),
            connect_timeout: std::time::Duration::from_secs(self.connect_timeout_secs),
            brands: self.brands.clone(),
        }
    }
}

impl PspSection for OppwaPspSection {
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
