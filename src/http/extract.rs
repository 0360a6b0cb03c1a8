//! Extractors: the merchant behind the bearer token, and Billwerk JSON bodies checked into
//! commands (content type checked, parsed strictly, errors as the contract's error object).

use super::errors::HttpError;
use crate::contract::ApiError;
use crate::contract::commands::{FromBody, PspRules, Rules};
use crate::contract::wire::{self, Obj};
use crate::crypto::{hash_token, hashes_equal};
use crate::domain::{Money, PaymentErrorCode, Role, TextLimits};
use crate::flows::{App, Merchant};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use std::sync::Arc;

use crate::psp::PaymentProvider;

impl FromRequestParts<App> for Merchant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        // Two Authorization headers are ambiguous credentials: refused, never "the first one".
        let mut all = parts.headers.get_all(header::AUTHORIZATION).iter();
        let (first, second) = (all.next(), all.next());
        if second.is_some() {
            return Err(ApiError::unauthorized());
        }
        let token = first
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let hash = hash_token(token);
        let (record, stored) = app
            .store
            .merchant_by_token_hash(&hash, app.now())
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !hashes_equal(&hash, &stored) {
            return Err(ApiError::unauthorized());
        }
        // The request's line (see `http::observe`) names the merchant.
        crate::telemetry::note_merchant(&record.id);
        if record.disabled_at.is_some() {
            return Err(disabled(&record.name));
        }
        let m = app.bind(record)?;
        // The body extractors (which run after this one) check the request against this
        // merchant's PSP family.
        parts.extensions.insert(Family(m.provider.clone()));
        Ok(m)
    }
}

/// The merchant's PSP family, left in the request by the `Merchant` extractor for the body
/// extractors.
#[derive(Clone)]
struct Family(Arc<dyn PaymentProvider>);

/// The request check's view of a PSP family: its adapter's capabilities and amount check.
impl PspRules for Family {
    fn roles(&self) -> &[Role] {
        self.0.capabilities().roles
    }

    fn texts(&self) -> TextLimits {
        self.0.capabilities().limits
    }

    fn check_amount(&self, money: &Money) -> Result<(), String> {
        self.0.check_amount(money)
    }
}

/// The family the `Merchant` extractor found. A handler that reads a body without naming
/// its merchant first is a programming error: 500, logged.
fn family(req: &Request) -> Result<Family, ApiError> {
    req.extensions().get::<Family>().cloned().ok_or_else(|| {
        tracing::error!("a request body was read before its merchant was known");
        ApiError::internal()
    })
}

/// 401 for a merchant the operator disabled (`merchants disable`): the token is right, so the
/// message says why it is refused and how access comes back.
fn disabled(name: &str) -> ApiError {
    let mut e = ApiError::unauthorized();
    e.body.error_message = format!(
        "Authorization: the merchant '{name}' is disabled on this Integrator; its API calls are \
         refused until the operator enables it again (PSP notifications are still processed)"
    );
    e
}

/// A JSON body read the way Billwerk's reference implementation reads it.
pub struct BillwerkJson<T>(pub T);

/// Like `BillwerkJson`, but an empty body or `null` means "all defaults" (Cancel carries nothing
/// we need).
pub struct OptionalJson<T>(pub T);

fn json_content_type(value: &str) -> bool {
    let mime = value
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    mime == "application/json"
        || mime == "text/json"
        || (mime.starts_with("application/") && mime.ends_with("+json"))
}

async fn read(req: Request, app: &App) -> Result<(Option<String>, Bytes), HttpError> {
    // A slow client must not hold a database connection while it sends its body.
    crate::store::session::release();
    // Two Content-Type headers are ambiguous: refused, never "the first one".
    let mut types = req.headers().get_all(header::CONTENT_TYPE).iter();
    let (first, second) = (types.next(), types.next());
    if second.is_some() {
        return Err(
            ApiError::invalid("Content-Type", "is sent more than once; send it once").into(),
        );
    }
    let ct = first.and_then(|v| v.to_str().ok()).map(str::to_owned);
    let bytes = Bytes::from_request(req, app).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            HttpError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                PaymentErrorCode::InvalidData,
                "body: is too large (see server.body_limit_bytes)",
            )
        } else {
            HttpError::new(
                StatusCode::BAD_REQUEST,
                PaymentErrorCode::InvalidData,
                "body: could not be read",
            )
        }
    })?;
    Ok((ct, bytes))
}

fn check_type(ct: Option<&str>) -> Result<(), HttpError> {
    match ct {
        Some(c) if json_content_type(c) => Ok(()),
        _ => Err(HttpError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PaymentErrorCode::InvalidData,
            "Content-Type: must be application/json, text/json or application/*+json",
        )),
    }
}

impl<T: FromBody> FromRequest<App> for BillwerkJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let family = family(&req)?;
        let (ct, bytes) = read(req, app).await?;
        check_type(ct.as_deref())?;
        Ok(Self(parse(&bytes, app, &family)?))
    }
}

impl<T: FromBody> FromRequest<App> for OptionalJson<T> {
    type Rejection = HttpError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let family = family(&req)?;
        let (ct, bytes) = read(req, app).await?;
        // No body, or JSON `null` (an optional body that is not there), means no fields.
        if bytes.iter().all(u8::is_ascii_whitespace) || bytes.trim_ascii() == b"null" {
            let empty = serde_json::Map::new();
            return Ok(Self(T::from_body(
                &Obj::root(&empty),
                &rules(app, &family),
            )?));
        }
        check_type(ct.as_deref())?;
        Ok(Self(parse(&bytes, app, &family)?))
    }
}

fn rules<'a>(app: &'a App, family: &'a Family) -> Rules<'a> {
    Rules {
        targets: app.targets.as_ref(),
        psp: family,
    }
}

/// Parses a body strictly and checks it into the command `T`, for the merchant's family.
fn parse<T: FromBody>(bytes: &[u8], app: &App, family: &Family) -> Result<T, ApiError> {
    let map = wire::parse_object(bytes)?;
    T::from_body(&Obj::root(&map), &rules(app, family))
}
