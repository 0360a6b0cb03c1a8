//! Placeholder allow-list policy (replaced by the outbox work).
use crate::config::WebhooksSection;

#[derive(Debug, Clone)]
pub struct TargetPolicy {
    allowed: Vec<String>,
    allow_private: bool,
}

impl TargetPolicy {
    pub fn new(cfg: &WebhooksSection) -> Self {
        Self {
            allowed: cfg.allowed_hosts.clone(),
            allow_private: cfg.allow_private_targets,
        }
    }

    pub fn check(&self, url: &url::Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
        let ok = self.allowed.iter().any(|a| match a.strip_prefix("*.") {
            Some(suffix) => host.ends_with(&format!(".{suffix}")),
            None => a.eq_ignore_ascii_case(&host),
        });
        if ok && (self.allow_private || !(host == "localhost" || host.starts_with("127."))) {
            Ok(())
        } else {
            Err(format!("host {host} is not in the webhook allow-list"))
        }
    }
}
