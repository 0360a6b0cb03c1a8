//! Request bodies as JSON, read strictly: one parse that refuses ambiguity (a property sent twice,
//! also in another letter case, at any depth) and typed accessors whose errors name the field and
//! the rule in plain words. Property names are matched ignoring ASCII case (Billwerk's reference
//! serializer does the same), so after the duplicate check a name has exactly one value.

use std::collections::HashMap;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use super::error::ApiError;

/// Marks a duplicate-key error inside serde's error text, so it can be told from a syntax error.
const DUPLICATE: &str = "\u{1}duplicate:";
/// Marks a request that uses serde_json's private number key as a property name.
const RESERVED: &str = "\u{1}reserved:";

/// The key serde_json uses for numbers under `arbitrary_precision`; it is not a property name.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Parses a request body: valid JSON (else 400), no property twice in one object ignoring case
/// (else 422 naming it), and an object at the top (else 422).
pub fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    DupCheck {
        path: String::new(),
    }
    .deserialize(&mut de)
    .and_then(|_| de.end())
    .map_err(json_error)?;
    match serde_json::from_slice::<Value>(bytes).map_err(json_error)? {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::invalid("body", "must be a JSON object")),
    }
}

fn json_error(e: serde_json::Error) -> ApiError {
    let text = e.to_string();
    // serde_json appends " at line L column C"; the field names are what matters.
    let without_position = |rest: &'_ str| -> String {
        rest.rsplit_once(" at line ")
            .map_or(rest, |(before, _)| before)
            .to_string()
    };
    if let Some(rest) = text.strip_prefix(DUPLICATE) {
        let rest = without_position(rest);
        // `{byte length of the first path}:{first path}{second path}`: any character may occur
        // in a name, so the first path is cut by its length, not by a separator.
        let (first, second) = rest
            .split_once(':')
            .and_then(|(n, paths)| paths.split_at_checked(n.parse().ok()?))
            .unwrap_or((&rest, &rest));
        let (first, second) = (display_path(first), display_path(second));
        if first == second {
            return ApiError::invalid(&second, "is sent more than once; send it once");
        }
        // Two spellings of one property: naming both says which one to drop.
        return ApiError::invalid(
            &format!("{first} and {second}"),
            "are the same property (names are matched ignoring case); send it once",
        );
    }
    if let Some(rest) = text.strip_prefix(RESERVED) {
        let field = display_path(&without_position(rest));
        return ApiError::invalid(&field, "contains a reserved property name");
    }
    ApiError::malformed(format!("body: is not valid JSON ({text})"))
}

/// A field path as sent, made safe to show: control characters replaced, long paths shortened.
fn display_path(path: &str) -> String {
    let clean: String = path
        .replace(NUMBER_TOKEN, "(reserved name)")
        .chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect();
    if clean.chars().count() > 200 {
        format!("{}…", clean.chars().take(200).collect::<String>())
    } else if clean.is_empty() {
        "(empty name)".to_string()
    } else {
        clean
    }
}

/// Walks a JSON document without building it, failing on the first duplicate property. Its
/// value says whether the node was an owned string, which tells serde_json's internal encoding
/// of a number (`{TOKEN: String}`) from a JSON object that a client sent with that key (whose
/// strings arrive borrowed or as `&str`).
struct DupCheck {
    path: String,
}

impl DupCheck {
    fn name(&self) -> &str {
        if self.path.is_empty() {
            "body"
        } else {
            &self.path
        }
    }

    fn child(&self, segment: &str) -> DupCheck {
        let path = if self.path.is_empty() {
            segment.to_string()
        } else if segment.starts_with('[') {
            format!("{}{segment}", self.path)
        } else {
            format!("{}.{segment}", self.path)
        };
        DupCheck { path }
    }
}

impl<'de> DeserializeSeed<'de> for DupCheck {
    type Value = bool;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DupCheck {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_i64<E>(self, _: i64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_u64<E>(self, _: u64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_f64<E>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_str<E>(self, _: &str) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_string<E>(self, _: String) -> Result<bool, E> {
        Ok(true)
    }
    fn visit_unit<E>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_none<E>(self) -> Result<bool, E> {
        Ok(false)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        let mut i = 0usize;
        while seq
            .next_element_seed(self.child(&format!("[{i}]")))?
            .is_some()
        {
            i += 1;
        }
        Ok(false)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        // Lower-cased name -> the path as first sent.
        let mut seen: HashMap<String, String> = HashMap::new();
        while let Some(key) = map.next_key::<String>()? {
            let child = self.child(&key);
            if key == NUMBER_TOKEN {
                // A number is exactly `{TOKEN: owned digits}`; anything else was sent as a key.
                if !map.next_value_seed(DupCheck {
                    path: child.path.clone(),
                })? || !seen.is_empty()
                {
                    return Err(de::Error::custom(format!("{RESERVED}{}", self.name())));
                }
                seen.insert(key, child.path);
                continue;
            }
            if seen.contains_key(NUMBER_TOKEN) {
                return Err(de::Error::custom(format!("{RESERVED}{}", self.name())));
            }
            if let Some(first) = seen.get(&key.to_ascii_lowercase()) {
                return Err(de::Error::custom(format!(
                    "{DUPLICATE}{}:{first}{}",
                    first.len(),
                    child.path
                )));
            }
            seen.insert(key.to_ascii_lowercase(), child.path.clone());
            map.next_value_seed(child)?;
        }
        Ok(false)
    }
}

/// A JSON object of a request with its path (`payerData.address`), for field names in errors.
#[derive(Clone)]
pub struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
}

/// What kind of JSON value a field holds, in words.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "true/false",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Obj<'a> {
    /// The top-level object of a body.
    pub fn root(map: &'a Map<String, Value>) -> Self {
        Self {
            map,
            path: String::new(),
        }
    }

    /// The full name of a property of this object, e.g. `payerData.address.city`.
    pub fn field(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    /// A property by name ignoring case; `null` counts as absent.
    pub fn get(&self, name: &str) -> Option<&'a Value> {
        self.map
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
            .filter(|v| !v.is_null())
    }

    /// The full name of a property as the client spelled it (`MerchantSettings`), or as
    /// written here when it was not sent or is `null`; for errors that name what was sent.
    pub fn field_as_sent(&self, name: &str) -> String {
        let spelled = self
            .map
            .iter()
            .find(|(k, v)| k.eq_ignore_ascii_case(name) && !v.is_null())
            .map_or(name, |(k, _)| k.as_str());
        self.field(spelled)
    }

    /// The object's entries as sent (for free-form maps such as `initialBearer`).
    pub fn entries(&self) -> impl Iterator<Item = (&'a String, &'a Value)> {
        self.map.iter()
    }

    /// Number of properties, `null` ones included.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether the object has no properties at all.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    fn wrong_type(&self, name: &str, v: &Value, want: &str) -> ApiError {
        ApiError::invalid(
            &self.field(name),
            format!("must be {want}, not {}", kind(v)),
        )
    }

    /// A string property as sent (not trimmed); other types are refused.
    pub fn string(&self, name: &str) -> Result<Option<&'a str>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(v) => Err(self.wrong_type(name, v, "a string")),
        }
    }

    /// A `true`/`false` property.
    pub fn boolean(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(v) => Err(self.wrong_type(name, v, "true or false")),
        }
    }

    /// A JSON number property, as its exact source text (strings are refused).
    pub fn number_text(&self, name: &str) -> Result<Option<String>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(n)) => Ok(Some(n.to_string())),
            Some(v) => Err(self.wrong_type(name, v, "a JSON number such as 10.5")),
        }
    }

    /// A nested object property.
    pub fn object(&self, name: &str) -> Result<Option<Obj<'a>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj {
                map,
                path: self.field(name),
            })),
            Some(v) => Err(self.wrong_type(name, v, "an object")),
        }
    }

    /// An array property.
    pub fn array(&self, name: &str) -> Result<Option<&'a Vec<Value>>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Array(items)) => Ok(Some(items)),
            Some(v) => Err(self.wrong_type(name, v, "an array")),
        }
    }

    /// An object inside an array property, named like `merchantSettings[2]`.
    pub fn element(&self, name: &str, index: usize, v: &'a Value) -> Result<Obj<'a>, ApiError> {
        let path = format!("{}[{index}]", self.field(name));
        match v {
            Value::Object(map) => Ok(Obj { map, path }),
            other => Err(ApiError::invalid(
                &path,
                format!("must be an object, not {}", kind(other)),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(body: &str) -> (u16, String) {
        match parse_object(body.as_bytes()) {
            Ok(_) => (200, String::new()),
            Err(e) => (
                crate::http::errors::status_of(e.failure).as_u16(),
                e.body.error_message,
            ),
        }
    }

    #[test]
    fn duplicates_are_refused_at_any_depth_and_in_any_case() {
        let (s, m) = message(r#"{"requestedAmount": 10, "REQUESTEDAMOUNT": 5000}"#);
        assert_eq!(s, 422);
        assert_eq!(
            m,
            "requestedAmount and REQUESTEDAMOUNT: are the same property (names are matched \
             ignoring case); send it once"
        );
        let (s, m) = message(r#"{"a": 1, "a": 1}"#);
        assert_eq!(
            (s, m.as_str()),
            (422, "a: is sent more than once; send it once")
        );
        let (s, m) = message(r#"{"a": {"b": [{"IBAN": "x", "iban": "y"}]}}"#);
        assert_eq!(s, 422);
        assert!(m.starts_with("a.b[0].IBAN and a.b[0].iban:"), "{m}");
        let (s, m) = message(r#"{"x at line 1": 1, "X AT LINE 1": 2}"#);
        assert_eq!(s, 422);
        assert!(m.starts_with("x at line 1 and X AT LINE 1:"), "{m}");
        assert_eq!(message(r#"{"a": 1, "b": {"a": 2}}"#).0, 200);
        assert_eq!(
            message(r#"{"n": 1.000000000000000000000000000000000001}"#).0,
            200
        );
    }

    #[test]
    fn syntax_errors_are_400_and_non_objects_422() {
        assert_eq!(message("{").0, 400);
        assert_eq!(message("{} x").0, 400);
        assert_eq!(message("").0, 400);
        assert_eq!(message("[1]").0, 422);
        let deep = "[".repeat(200) + &"]".repeat(200);
        assert_eq!(message(&deep).0, 400);
    }

    #[test]
    fn the_private_number_key_is_refused_as_a_property_name() {
        for body in [
            r#"{"requestedAmount": {"$serde_json::private::Number": "10"}}"#,
            r#"{"requestedAmount": {"\u0024serde_json::private::Number": "10"}}"#,
            r#"{"requestedAmount": {"$serde_json::private::Number": "abc"}}"#,
            r#"{"requestedAmount": {"$serde_json::private::Number": 5}}"#,
            r#"{"a": {"$serde_json::private::Number": "1", "b": 2}}"#,
            r#"{"a": {"b": 2, "$serde_json::private::Number": "1"}}"#,
            r#"{"$serde_json::private::Number": "1"}"#,
        ] {
            let (s, m) = message(body);
            assert_eq!(s, 422, "{body}: {m}");
            assert!(
                m.contains("contains a reserved property name"),
                "{body}: {m}"
            );
            assert!(!m.contains("serde"), "{m}");
        }
        assert_eq!(message(r#"{"a": [1, -2.5e-3, 0]}"#).0, 200);
    }

    #[test]
    fn shown_paths_are_safe() {
        let (s, m) = message(r#"{"a\u0000b": 1, "A\u0000B": 2}"#);
        assert_eq!(s, 422);
        assert!(m.starts_with("a?b and A?B: are the same property"), "{m}");
        let long = "k".repeat(500);
        let (_, m) = message(&format!("{{\"{long}\": 1, \"{long}\": 2}}"));
        assert!(m.chars().count() < 320, "{m}");
        let upper = long.to_uppercase();
        let (_, m) = message(&format!("{{\"{long}\": 1, \"{upper}\": 2}}"));
        assert!(m.chars().count() < 520, "{m}");
        let (_, m) = message("{\"a:1\": 1, \"A:1\": 2}");
        assert!(m.starts_with("a:1 and A:1: are the same property"), "{m}");
    }

    #[test]
    fn numbers_keep_their_exact_text() {
        let map = parse_object(br#"{"Amount": 10.10}"#).expect("object");
        let obj = Obj::root(&map);
        assert_eq!(
            obj.number_text("amount").ok().flatten().as_deref(),
            Some("10.10")
        );
        let map = parse_object(br#"{"amount": "10"}"#).expect("object");
        let e = Obj::root(&map)
            .number_text("amount")
            .err()
            .map(|e| e.body.error_message);
        assert_eq!(
            e.as_deref(),
            Some("amount: must be a JSON number such as 10.5, not a string")
        );
    }
}
