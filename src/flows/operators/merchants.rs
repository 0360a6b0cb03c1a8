//! Operator actions on merchants (`psp-integrator merchants …`): onboarding, rotating their API
//! tokens (with an overlap), disabling and enabling them.

use crate::crypto::{Sealer, hash_token, new_token};
use crate::domain::{Clock, new_id};
use crate::psp::Registry;
use crate::store::{MerchantRecord, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("unknown PSP adapter '{0}' (available: {1})")]
    UnknownPsp(String, String),
    #[error("merchant name must be 1 to 100 characters")]
    BadName,
    #[error("a merchant named '{0}' already exists")]
    Duplicate(String),
    #[error("no merchant with id or name '{0}'")]
    NotFound(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Creates a merchant bound to `psp` and returns it with its API token (shown once).
pub async fn create_merchant(
    store: &dyn Store,
    providers: &Registry,
    clock: &dyn Clock,
    name: &str,
    psp: &str,
) -> Result<(MerchantRecord, String), AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AdminError::BadName);
    }
    let psp = psp.trim().to_ascii_lowercase();
    if providers.get(&psp).is_none() {
        return Err(AdminError::UnknownPsp(psp, providers.names().join(", ")));
    }
    if store.find_merchant(name).await?.is_some() {
        return Err(AdminError::Duplicate(name.into()));
    }
    let record = MerchantRecord {
        id: new_id(),
        name: name.into(),
        psp,
        created_at: clock.now(),
        disabled_at: None,
        previous_token_until: None,
    };
    let token = new_token();
    store.create_merchant(&record, &hash_token(&token)).await?;
    Ok((record, token))
}

/// Replaces a merchant's token. The old one stays valid for `grace_secs` more seconds (0: it
/// stops at once), so Billwerk keeps working until the new token is entered in its settings.
/// Returns the merchant as it now is (with the overlap's end) and the new token.
pub async fn rotate_token(
    store: &dyn Store,
    clock: &dyn Clock,
    id_or_name: &str,
    grace_secs: u64,
) -> Result<(MerchantRecord, String), AdminError> {
    let record = find(store, id_or_name).await?;
    let token = new_token();
    let grace = i64::try_from(grace_secs).unwrap_or(i64::MAX);
    let until = (grace > 0).then(|| clock.now().plus_seconds(grace));
    store
        .rotate_token(&record.id, &hash_token(&token), until)
        .await?;
    let record = MerchantRecord {
        previous_token_until: until,
        ..record
    };
    Ok((record, token))
}

/// Disables (`true`) or enables (`false`) a merchant's API access. A disabled merchant's calls
/// are answered 401; its PSP notifications are still stored and applied, and its webhooks to
/// Billwerk still go out. Returns the merchant as it now is.
pub async fn set_disabled(
    store: &dyn Store,
    clock: &dyn Clock,
    id_or_name: &str,
    disabled: bool,
) -> Result<MerchantRecord, AdminError> {
    let record = find(store, id_or_name).await?;
    let since = disabled.then(|| clock.now());
    store.set_merchant_disabled(&record.id, since).await?;
    find(store, &record.id).await
}

/// A merchant by id or name, with the URL its PSP delivers notifications to under `base`
/// (`merchants notification-url`; the token in it is made under `sealer`'s current key).
pub async fn notification_url(
    store: &dyn Store,
    base: &str,
    sealer: &Sealer,
    id_or_name: &str,
) -> Result<(MerchantRecord, String), AdminError> {
    let m = find(store, id_or_name).await?;
    let url = crate::flows::notification::url(base, sealer, &m);
    Ok((m, url))
}

/// `merchants list`: one row per merchant with its status (`enabled`, or `disabled` since
/// when), its tokens (`current`, plus `previous until <time>` while a rotation's overlap lasts)
/// and its PSP notification URL under `base` (its token made under `sealer`'s current key).
pub fn format_merchants(
    list: &[MerchantRecord],
    base: &str,
    sealer: &Sealer,
    now: crate::domain::Ticks,
) -> String {
    use std::fmt::Write;
    if list.is_empty() {
        return "no merchants yet: psp-integrator merchants create --name NAME --psp FAMILY\n"
            .into();
    }
    let mut out = format!(
        "{:<32}  {:<24}  {:<6}  {:<38}  {:<28}  {:<52}  PSP NOTIFICATION URL\n",
        "ID", "NAME", "PSP", "STATUS", "CREATED", "TOKENS"
    );
    for m in list {
        let status = m.disabled_at.map_or_else(
            || "enabled".to_string(),
            |t| format!("disabled since {}", t.to_wire()),
        );
        let tokens = match m.previous_token_until {
            Some(until) if until > now => format!("current + previous until {}", until.to_wire()),
            _ => "current".to_string(),
        };
        let _ = writeln!(
            out,
            "{:<32}  {:<24}  {:<6}  {status:<38}  {:<28}  {tokens:<52}  {}",
            m.id,
            m.name,
            m.psp,
            m.created_at.to_wire(),
            crate::flows::notification::url(base, sealer, m),
        );
    }
    out
}

async fn find(store: &dyn Store, id_or_name: &str) -> Result<MerchantRecord, AdminError> {
    store
        .find_merchant(id_or_name)
        .await?
        .ok_or_else(|| AdminError::NotFound(id_or_name.into()))
}
