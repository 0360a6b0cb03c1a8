//! Request input: the API key (`Authorization: Bearer test_…|live_…`, §3.2) and the body, JSON
//! or form-encoded (`amount[value]=10.00` nests), checked against the call's parameters.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde_json::{Map, Value};

use super::Sim;
use super::model::Owner;
use super::respond::ApiError;

/// The authenticated caller: the profile and mode its key pins.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub owner: Owner,
}

/// `test_` or `live_` followed by letters and digits.
pub(crate) fn well_formed_key(key: &str) -> bool {
    let rest = key
        .strip_prefix("test_")
        .or_else(|| key.strip_prefix("live_"));
    rest.is_some_and(|r| !r.is_empty() && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(crate) fn bearer(parts: &Parts) -> Option<String> {
    let h = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let key = h.strip_prefix("Bearer ")?.trim();
    Some(key.to_string())
}

impl FromRequestParts<Sim> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, sim: &Sim) -> Result<Self, Self::Rejection> {
        let key = bearer(parts).ok_or_else(ApiError::unauthorized)?;
        let owner = sim.owner_of_key(&key).ok_or_else(ApiError::unauthorized)?;
        Ok(Caller { owner })
    }
}

/// A request body as a JSON object (an empty body is `{}`).
pub(crate) struct Input(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for Input {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_ascii_lowercase();
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|_| ApiError::new(400, "The request body could not be read"))?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Input(Map::new()));
        }
        if ct.starts_with("application/x-www-form-urlencoded") {
            return Ok(Input(form_to_json(&bytes)?));
        }
        if !ct.is_empty() && !ct.starts_with("application/json") {
            return Err(ApiError::new(
                415,
                format!("The content type '{ct}' is not supported"),
            ));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(Input(m)),
            _ => Err(ApiError::new(
                400,
                "The request body is not a valid JSON object",
            )),
        }
    }
}

/// `a=1&b[c]=2&d[]=x` → `{"a":"1","b":{"c":"2"},"d":["x"]}` (one level of nesting).
fn form_to_json(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(bytes)
        .map_err(|_| ApiError::new(400, "The form body could not be parsed"))?;
    let mut m = Map::new();
    for (k, v) in pairs {
        let (head, sub) = match k.split_once('[') {
            Some((h, rest)) => (h.to_string(), Some(rest.trim_end_matches(']').to_string())),
            None => (k, None),
        };
        match sub {
            None => {
                m.insert(head, Value::String(v));
            }
            Some(s) if s.is_empty() => {
                let e = m.entry(head).or_insert_with(|| Value::Array(Vec::new()));
                if let Value::Array(a) = e {
                    a.push(Value::String(v));
                }
            }
            Some(s) => {
                let e = m.entry(head).or_insert_with(|| Value::Object(Map::new()));
                if let Value::Object(o) = e {
                    o.insert(s, Value::String(v));
                }
            }
        }
    }
    Ok(m)
}

impl Input {
    /// 422 "Non-existent parameter" (no `field`) for any key outside `allowed`.
    pub(crate) fn only(&self, allowed: &[&str]) -> Result<(), ApiError> {
        match self.0.keys().find(|k| {
            !allowed.contains(&k.as_str()) && !matches!(k.as_str(), "testmode" | "profileId")
        }) {
            Some(k) => Err(ApiError::new(
                422,
                format!("Non-existent parameter \"{k}\" for this API call."),
            )),
            None => Ok(()),
        }
    }

    /// An optional string parameter; anything but a string is a 422 naming it.
    pub(crate) fn str(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(ApiError::field(
                name,
                format!("The {name} must be a string"),
            )),
        }
    }

    /// A required, non-empty string parameter.
    pub(crate) fn required(&self, name: &str) -> Result<String, ApiError> {
        self.str(name)?
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ApiError::field(name, format!("The {name} is required")))
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Value> {
        self.0.get(name)
    }

    /// `metadata`: any JSON of at most 1024 bytes, echoed back.
    pub(crate) fn metadata(&self) -> Result<Value, ApiError> {
        let m = self.0.get("metadata").cloned().unwrap_or(Value::Null);
        if m.to_string().len() > 1024 {
            return Err(ApiError::field(
                "metadata",
                "The metadata is too large (at most 1024 bytes)",
            ));
        }
        Ok(m)
    }
}

/// An http(s) URL, else 422 naming `field`.
pub(crate) fn url(v: Option<String>, field: &str) -> Result<Option<String>, ApiError> {
    match v {
        Some(u) if url::Url::parse(&u).is_ok_and(|p| matches!(p.scheme(), "http" | "https")) => {
            Ok(Some(u))
        }
        Some(_) => Err(ApiError::field(field, format!("The {field} is invalid"))),
        None => Ok(None),
    }
}
