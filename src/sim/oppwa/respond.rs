//! Response envelope (result, buildNumber, timestamp, ndc), error bodies and Bearer/entity auth.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::SimConfig;
use super::codes;
use super::forms::ParamError;
use super::util::{BUILD_NUMBER, fmt_timestamp, new_id, s2s_ndc};

pub(crate) fn json_response(status: StatusCode, body: Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        body.to_string(),
    )
        .into_response()
}

/// The common envelope; callers add their own fields.
pub(crate) fn envelope(
    code: &str,
    description: &str,
    ndc: &str,
    now: DateTime<Utc>,
) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert(
        "result".into(),
        json!({"code": code, "description": description}),
    );
    m.insert("buildNumber".into(), BUILD_NUMBER.into());
    m.insert("timestamp".into(), fmt_timestamp(now).into());
    m.insert("ndc".into(), ndc.into());
    m
}

/// A bodyful error with an explicit HTTP status.
pub(crate) fn error_with(
    status: StatusCode,
    code: &str,
    description: &str,
    ndc: &str,
    now: DateTime<Utc>,
) -> Response {
    json_response(status, Value::Object(envelope(code, description, ndc, now)))
}

/// An error whose HTTP status follows its result-code class.
pub(crate) fn error(code: &str, ndc: &str, now: DateTime<Utc>) -> Response {
    error_with(
        codes::http_status(code),
        code,
        codes::description(code),
        ndc,
        now,
    )
}

/// HTTP 400 `200.300.404` with `parameterErrors`.
pub(crate) fn param_errors(errors: &[ParamError], ndc: &str, now: DateTime<Utc>) -> Response {
    param_errors_with(codes::INVALID_PARAM, errors, ndc, now)
}

pub(crate) fn param_errors_with(
    code: &str,
    errors: &[ParamError],
    ndc: &str,
    now: DateTime<Utc>,
) -> Response {
    let mut m = envelope(code, codes::description(code), ndc, now);
    let list: Vec<Value> = errors.iter().map(ParamError::json).collect();
    if let Some(Value::Object(r)) = m.get_mut("result") {
        r.insert("parameterErrors".into(), Value::Array(list));
    }
    json_response(StatusCode::BAD_REQUEST, Value::Object(m))
}

/// Checks the Bearer token and the entity (§11.2); returns the entity id.
pub(crate) fn authorize(
    headers: &HeaderMap,
    cfg: &SimConfig,
    entity: Option<&str>,
    now: DateTime<Utc>,
) -> Result<String, Response> {
    let bad = |status| {
        error_with(
            status,
            codes::BAD_AUTH,
            codes::description(codes::BAD_AUTH),
            &new_id(),
            now,
        )
    };
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && !t.contains(' '));
    let Some(token) = token else {
        return Err(bad(StatusCode::UNAUTHORIZED));
    };
    if token != cfg.access_token {
        return Err(bad(StatusCode::FORBIDDEN));
    }
    let Some(entity) = entity.map(str::trim).filter(|e| !e.is_empty()) else {
        let e = ParamError {
            name: "entityId".into(),
            value: String::new(),
            message: "may not be empty".into(),
        };
        return Err(param_errors(&[e], &new_id(), now));
    };
    if entity != cfg.entity_id && entity != cfg.mit_entity_id {
        return Err(error_with(
            StatusCode::FORBIDDEN,
            codes::UNKNOWN_CHANNEL,
            codes::description(codes::UNKNOWN_CHANNEL),
            &s2s_ndc(entity),
            now,
        ));
    }
    Ok(entity.to_string())
}

pub(crate) fn html(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}

pub(crate) fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}
