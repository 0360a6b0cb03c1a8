//! The webhookTarget allow-list (SSRF guard): which URLs the service may POST webhooks to. Checked
//! when a transaction is created and again at delivery; the DNS resolver below keeps a permitted
//! name from resolving to a private address (DNS rebinding).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use url::{Host, Url};

use crate::config::WebhooksSection;

/// Allowed hosts (exact names or `*.suffix`) and whether private networks may be targeted.
#[derive(Debug, Clone)]
pub struct TargetPolicy {
    allowed_hosts: Vec<String>,
    allow_private: bool,
}

impl TargetPolicy {
    pub fn new(cfg: &WebhooksSection) -> Self {
        Self::from_parts(&cfg.allowed_hosts, cfg.allow_private_targets)
    }

    pub fn from_parts(allowed_hosts: &[String], allow_private: bool) -> Self {
        let allowed_hosts = allowed_hosts
            .iter()
            .map(|h| normalise(h.trim()))
            .filter(|h| !h.is_empty())
            .collect();
        Self {
            allowed_hosts,
            allow_private,
        }
    }

    pub fn allow_private(&self) -> bool {
        self.allow_private
    }

    /// `Ok` if webhooks may be sent to `url`; otherwise the reason.
    pub fn check(&self, url: &Url) -> Result<(), String> {
        if !matches!(url.scheme(), "https" | "http") {
            return Err(format!("scheme {:?} is not allowed", url.scheme()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("credentials in the URL are not allowed".into());
        }
        let host = url.host().ok_or("the URL has no host")?;
        let (name, ip) = match host {
            Host::Domain(d) => (normalise(d), None),
            Host::Ipv4(a) => (a.to_string(), Some(IpAddr::V4(a))),
            Host::Ipv6(a) => (a.to_string(), Some(IpAddr::V6(a))),
        };
        if !self.allowed_hosts.iter().any(|p| host_matches(p, &name)) {
            return Err(format!("host {name:?} is not in the allow-list"));
        }
        let private = match ip {
            Some(ip) => is_private_ip(ip),
            None => name == "localhost" || name.ends_with(".localhost"),
        };
        if private && !self.allow_private {
            return Err(format!("host {name:?} is a private address"));
        }
        Ok(())
    }

    /// Parses and checks a webhookTarget string.
    pub fn check_str(&self, target: &str) -> Result<Url, String> {
        let url = Url::parse(target).map_err(|e| format!("invalid URL: {e}"))?;
        self.check(&url)?;
        Ok(url)
    }
}

/// The request check's view of the policy (a `webhookTarget` is checked when a transaction is
/// created, before anything is stored).
impl crate::contract::commands::WebhookTargets for TargetPolicy {
    fn check(&self, url: &Url) -> Result<(), String> {
        TargetPolicy::check(self, url)
    }
}

/// Lower case, without a trailing dot or IPv6 brackets.
fn normalise(h: &str) -> String {
    h.trim_end_matches('.')
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase()
}

fn host_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(suffix) => host
            .strip_suffix(suffix)
            .is_some_and(|rest| rest.len() > 1 && rest.ends_with('.')),
        None => pattern == host,
    }
}

/// Loopback, private, link-local, unspecified, shared (CGNAT), unique-local, and IPv4 inside
/// IPv6 forms of those.
pub fn is_private_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_private_v4(a),
        IpAddr::V6(a) => is_private_v6(a),
    }
}

fn is_private_v4(a: Ipv4Addr) -> bool {
    let [o1, o2, ..] = a.octets();
    a.is_loopback()
        || a.is_private()
        || a.is_link_local()
        || a.is_unspecified()
        || a.is_broadcast()
        || o1 == 0
        || (o1 == 100 && (64..128).contains(&o2))
}

fn is_private_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_private_v4(v4);
    }
    let first = a.segments()[0];
    a.is_loopback()
        || a.is_unspecified()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
}

/// Resolves with the system resolver and drops private addresses unless allowed.
#[derive(Debug, Clone, Copy)]
pub struct GuardedResolver {
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| allow_private || !is_private_ip(a.ip()))
                .collect();
            if addrs.is_empty() {
                return Err(format!("{host} resolves to no permitted address").into());
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(hosts: &[&str], private: bool) -> TargetPolicy {
        let hosts: Vec<String> = hosts.iter().map(|h| h.to_string()).collect();
        TargetPolicy::from_parts(&hosts, private)
    }

    fn ok(p: &TargetPolicy, url: &str) -> bool {
        p.check_str(url).is_ok()
    }

    #[test]
    fn wildcards_exact_names_and_case() {
        let p = policy(&["*.Billwerk.com", "billwerk.example"], false);
        assert!(ok(
            &p,
            "https://sample.billwerk.com/PSPWebhooks/ExternalIntegration"
        ));
        assert!(ok(&p, "https://a.b.BILLWERK.com/x"));
        assert!(ok(&p, "https://sample.billwerk.com./x"));
        assert!(!ok(&p, "https://billwerk.com/x"), "wildcard needs a label");
        assert!(!ok(&p, "https://evilbillwerk.com/x"));
        assert!(!ok(&p, "https://billwerk.com.evil.net/x"));
        assert!(ok(&p, "https://Billwerk.Example/hook"));
        assert!(
            !ok(&p, "https://sub.billwerk.example/hook"),
            "exact means exact"
        );
        assert!(!ok(&p, "https://other.example/hook"));
    }

    #[test]
    fn schemes_ports_and_credentials() {
        let p = policy(&["billwerk.example"], false);
        assert!(ok(&p, "http://billwerk.example:8080/hook"));
        assert!(ok(&p, "https://billwerk.example:443/hook"));
        assert!(!ok(&p, "ftp://billwerk.example/hook"));
        assert!(!ok(&p, "file:///etc/passwd"));
        assert!(!ok(&p, "https://user:pw@billwerk.example/hook"));
        assert!(!ok(&p, "not a url"));
    }

    #[test]
    fn private_literals_refused_unless_allowed() {
        let hosts = [
            "127.0.0.1",
            "10.1.2.3",
            "169.254.169.254",
            "192.168.1.1",
            "172.16.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "localhost",
        ];
        let strict = policy(&hosts, false);
        let open = policy(&hosts, true);
        for url in [
            "http://127.0.0.1:8080/h",
            "http://10.1.2.3/h",
            "http://169.254.169.254/latest/meta-data",
            "http://192.168.1.1/h",
            "http://172.16.0.1/h",
            "http://0.0.0.0/h",
            "http://[::1]:9000/h",
            "http://[fe80::1]/h",
            "http://[fd00::1]/h",
            "http://[::ffff:127.0.0.1]/h",
            "http://localhost:3000/h",
            "http://LOCALHOST/h",
        ] {
            assert!(!ok(&strict, url), "{url} must be refused");
            assert!(
                ok(&open, url),
                "{url} must be allowed when private targets are"
            );
        }
    }

    #[test]
    fn ip_literals_must_be_listed_too() {
        let p = policy(&["*.billwerk.com"], true);
        assert!(!ok(&p, "http://127.0.0.1/h"));
        assert!(!ok(&p, "http://[::1]/h"));
        let p = policy(&["[2001:db8::1]", "93.184.216.34"], false);
        assert!(ok(&p, "https://[2001:db8::1]/h"));
        assert!(ok(&p, "https://93.184.216.34/h"));
        assert!(!ok(&p, "https://93.184.216.35/h"));
    }

    #[test]
    fn private_ranges() {
        for ip in [
            "127.8.9.1",
            "10.0.0.1",
            "100.64.0.1",
            "169.254.0.1",
            "::",
            "fc00::",
        ] {
            assert!(is_private_ip(ip.parse().expect("ip")), "{ip}");
        }
        for ip in ["8.8.8.8", "100.128.0.1", "2001:4860::8888", "172.32.0.1"] {
            assert!(!is_private_ip(ip.parse().expect("ip")), "{ip}");
        }
    }

    #[tokio::test]
    async fn resolver_drops_private_addresses() {
        let strict = GuardedResolver {
            allow_private: false,
        };
        let name: Name = "localhost".parse().expect("name");
        assert!(strict.resolve(name).await.is_err());
        let open = GuardedResolver {
            allow_private: true,
        };
        let name: Name = "localhost".parse().expect("name");
        let addrs: Vec<SocketAddr> = open.resolve(name).await.expect("resolves").collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
