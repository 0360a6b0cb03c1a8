//! Extractors: the merchant behind the bearer token, and Billwerk JSON bodies (content type
//! checked, property names case-insensitive, errors as the contract's error object).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use serde::de::DeserializeOwned;

use crate::contract::{ApiError, canon};
use crate::crypto::{hash_token, hashes_equal};
use crate::domain::PaymentErrorCode;
use crate::flows::{App, Merchant};

impl FromRequestParts<App> for Merchant {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, t)| t.trim())
            .filter(|t| !t.is_empty())
            .ok_or_else(ApiError::unauthorized)?;
        let hash = hash_token(token);
        let (record, stored) = app
            .store
            .merchant_by_token_hash(&hash)
            .await?
            .ok_or_else(ApiError::unauthorized)?;
        if !hashes_equal(&hash, &stored) {
            return Err(ApiError::unauthorized());
        }
        // The request's span (see `http::observe`) names the merchant on every later line.
        tracing::Span::current().record("merchant_id", record.id.as_str());
        app.bind(record)
    }
}

/// A JSON body read the way Billwerk's reference implementation reads it.
pub struct BillwerkJson<T>(pub T);

/// Like `BillwerkJson`, but an empty body means "all defaults" (Cancel carries nothing we need).
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

async fn read(req: Request, app: &App) -> Result<(Option<String>, Bytes), ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let bytes = Bytes::from_request(req, app).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::with_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                PaymentErrorCode::InvalidData,
                "request body is too large",
            )
        } else {
            ApiError::with_status(
                StatusCode::BAD_REQUEST,
                PaymentErrorCode::InvalidData,
                "request body could not be read",
            )
        }
    })?;
    Ok((ct, bytes))
}

fn check_type(ct: Option<&str>) -> Result<(), ApiError> {
    match ct {
        Some(c) if json_content_type(c) => Ok(()),
        _ => Err(ApiError::with_status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            PaymentErrorCode::InvalidData,
            "Content-Type must be application/json",
        )),
    }
}

impl<T: DeserializeOwned> FromRequest<App> for BillwerkJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (ct, bytes) = read(req, app).await?;
        check_type(ct.as_deref())?;
        parse(&bytes).map(Self)
    }
}

impl<T: DeserializeOwned + Default> FromRequest<App> for OptionalJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (ct, bytes) = read(req, app).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Self(T::default()));
        }
        check_type(ct.as_deref())?;
        parse(&bytes).map(Self)
    }
}

/// Parses JSON bytes into `T`, naming the field on a type error.
pub fn parse<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let value: serde_json::Value = serde_json::from_slice(bytes).map_err(|e| {
        ApiError::with_status(
            StatusCode::BAD_REQUEST,
            PaymentErrorCode::InvalidData,
            format!("malformed JSON: {e}"),
        )
    })?;
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    let value = canon::canonicalize(value);
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "body".to_string()
        } else {
            path
        };
        ApiError::invalid(&field, e.into_inner())
    })
}
