//! Small helpers shared by the simulator: id generation, OPPWA formats, HTML escaping.

use chrono::{DateTime, Utc};
use rand::Rng;
use rust_decimal::Decimal;

/// A fixed build number in OPPWA's `<sha>@<YYYY-MM-DD HH:MM:SS +0000>` shape.
pub(crate) const BUILD_NUMBER: &str =
    "5a0e3c2b9f8d7e6a1b4c3d2e1f0a9b8c7d6e5f4a@2025-01-15 08:30:00 +0000";

/// The cluster suffix OPPWA's test system appends to checkout ids.
pub(crate) const CHECKOUT_SUFFIX: &str = "uat01-vm-tx03";

/// 32 lowercase hex characters, like OPPWA's transaction and registration ids.
pub(crate) fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// `<32 UPPERCASE HEX>.uat01-vm-tx03`, like OPPWA's checkout ids.
pub(crate) fn new_checkout_id() -> String {
    format!("{:032X}.{CHECKOUT_SUFFIX}", rand::random::<u128>())
}

pub(crate) fn new_short_id() -> String {
    let mut r = rand::thread_rng();
    format!(
        "{:04}.{:04}.{:04}",
        r.gen_range(0..10_000),
        r.gen_range(0..10_000),
        r.gen_range(0..10_000)
    )
}

/// A 15-digit card-scheme transaction id (what Visa/Mastercard return for an initial CIT).
pub(crate) fn new_scheme_id() -> String {
    let mut r = rand::thread_rng();
    let head: u64 = r.gen_range(100_000_000_000_000..1_000_000_000_000_000);
    head.to_string()
}

pub(crate) fn s2s_ndc(entity_id: &str) -> String {
    format!("{entity_id}_{}", new_id())
}

/// `YYYY-MM-DD HH:MM:SS+0000`.
pub(crate) fn fmt_timestamp(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%z").to_string()
}

/// Amounts always carry exactly two decimals in responses.
pub(crate) fn fmt_amount(d: Decimal) -> String {
    let mut d = d;
    d.rescale(2);
    d.to_string()
}

pub(crate) use crate::sim::html::escape as html_escape;

/// Only http(s) links are shown or followed (never `javascript:` and the like).
pub(crate) fn is_web_url(u: &str) -> bool {
    url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "https" | "http"))
}

/// Appends `id` and `resourcePath` to a shopper result url, respecting an existing query.
pub(crate) fn result_redirect(shopper_result_url: &str, id: &str, resource_path: &str) -> String {
    let sep = if shopper_result_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let q = serde_urlencoded::to_string([("id", id), ("resourcePath", resource_path)])
        .unwrap_or_default();
    format!("{shopper_result_url}{sep}{q}")
}
