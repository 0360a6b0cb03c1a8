//! Request parameters: flat dotted form/query keys, their nesting for echo, and format validation.

use std::collections::BTreeMap;

use chrono::{DateTime, Datelike, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Brands accepted in `paymentBrand` (§11.3).
pub(crate) const BRANDS: &[&str] = &[
    "VISA",
    "MASTER",
    "AMEX",
    "JCB",
    "DINERS",
    "DISCOVER",
    "UNIONPAY",
    "MAESTRO",
    "DIRECTDEBIT_SEPA",
];
pub(crate) const SEPA: &str = "DIRECTDEBIT_SEPA";

/// Parsed flat parameters; a repeated key keeps its last value.
#[derive(Clone, Debug, Default, serde::Serialize, serde::Deserialize)]
pub(crate) struct Params(BTreeMap<String, String>);

impl Params {
    pub(crate) fn parse(raw: &[u8]) -> Option<Self> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(raw).ok()?;
        Some(Self(pairs.into_iter().collect()))
    }

    pub(crate) fn from_query(q: Option<&str>) -> Self {
        q.and_then(|q| Self::parse(q.as_bytes()))
            .unwrap_or_default()
    }

    /// A non-empty (after trimming) value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.trim()).filter(|v| !v.is_empty())
    }

    pub(crate) fn raw(&self, key: &str) -> &str {
        self.0.get(key).map_or("", String::as_str)
    }

    pub(crate) fn flag(&self, key: &str) -> bool {
        self.get(key)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    pub(crate) fn custom(&self, name: &str) -> Option<&str> {
        self.get(&format!("customParameters[{name}]"))
    }

    /// `customParameters[NAME]=v` pairs as the `customParameters` JSON object.
    pub(crate) fn custom_map(&self) -> Map<String, Value> {
        self.0
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("customParameters[")?.strip_suffix(']')?;
                Some((name.to_string(), Value::String(v.clone())))
            })
            .collect()
    }

    /// All `prefix.a.b=v` keys as a nested object `{a:{b:v}}`; `None` when there are none.
    pub(crate) fn nested(&self, prefix: &str) -> Option<Value> {
        let mut root = Map::new();
        let lead = format!("{prefix}.");
        for (k, v) in &self.0 {
            if let Some(path) = k.strip_prefix(&lead) {
                insert_path(&mut root, path, v);
            }
        }
        (!root.is_empty()).then_some(Value::Object(root))
    }

    /// `registrations[n].id` values ordered by `n`.
    pub(crate) fn registrations(&self) -> Vec<String> {
        let mut found: Vec<(u32, String)> = self
            .0
            .iter()
            .filter_map(|(k, v)| {
                let n = k.strip_prefix("registrations[")?.strip_suffix("].id")?;
                Some((n.parse().ok()?, v.clone()))
            })
            .collect();
        found.sort();
        found.into_iter().map(|(_, v)| v).collect()
    }
}

fn insert_path(root: &mut Map<String, Value>, path: &str, value: &str) {
    match path.split_once('.') {
        None => {
            root.insert(path.to_string(), Value::String(value.to_string()));
        }
        Some((head, rest)) => {
            let slot = root
                .entry(head.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if !slot.is_object() {
                *slot = Value::Object(Map::new());
            }
            if let Value::Object(child) = slot {
                insert_path(child, rest, value);
            }
        }
    }
}

#[derive(Clone, Debug)]
pub(crate) struct ParamError {
    pub name: String,
    pub value: String,
    pub message: String,
}

impl ParamError {
    pub(crate) fn json(&self) -> Value {
        serde_json::json!({"name": self.name, "value": self.value, "message": self.message})
    }
}

/// Collects every parameter error of one request before answering.
pub(crate) struct Checks<'a> {
    pub p: &'a Params,
    pub errors: Vec<ParamError>,
}

impl<'a> Checks<'a> {
    pub(crate) fn new(p: &'a Params) -> Self {
        Self {
            p,
            errors: Vec::new(),
        }
    }

    pub(crate) fn fail(&mut self, name: &str, message: &str) {
        self.errors.push(ParamError {
            name: name.to_string(),
            value: self.p.raw(name).to_string(),
            message: message.to_string(),
        });
    }

    pub(crate) fn required(&mut self, name: &str) -> Option<&'a str> {
        let v = self.p.get(name);
        if v.is_none() {
            self.fail(name, "may not be empty");
        }
        v
    }

    pub(crate) fn amount(&mut self, required: bool) -> Option<Decimal> {
        let raw = match self.p.get("amount") {
            Some(v) => v,
            None if required => return self.required("amount").and(None),
            None => return None,
        };
        let ok = valid_amount(raw);
        let parsed = ok.then(|| raw.parse::<Decimal>().ok()).flatten();
        if parsed.is_none() {
            self.fail("amount", r"must match ^[0-9]{1,12}(\.[0-9]{2})?$");
        }
        parsed
    }

    pub(crate) fn currency(&mut self, required: bool) -> Option<String> {
        let raw = match self.p.get("currency") {
            Some(v) => v,
            None if required => return self.required("currency").and(None),
            None => return None,
        };
        if raw.len() == 3 && raw.bytes().all(|b| b.is_ascii_uppercase()) {
            Some(raw.to_string())
        } else {
            self.fail("currency", "must match ^[A-Z]{3}$");
            None
        }
    }

    pub(crate) fn one_of(
        &mut self,
        name: &str,
        allowed: &[&str],
        required: bool,
    ) -> Option<String> {
        match self.p.get(name) {
            Some(v) if allowed.contains(&v) => Some(v.to_string()),
            Some(_) => {
                self.fail(name, &format!("must be one of {}", allowed.join(", ")));
                None
            }
            None if required => self.required(name).and(None),
            None => None,
        }
    }

    /// `true` for `testMode=EXTERNAL`; INTERNAL is the default.
    pub(crate) fn test_mode(&mut self) -> bool {
        self.one_of("testMode", &["INTERNAL", "EXTERNAL"], false)
            .is_some_and(|m| m == "EXTERNAL")
    }

    /// `standingInstruction.*` values, plus the rule that MIT needs mode REPEATED.
    pub(crate) fn standing_instruction(&mut self) {
        let mode = self.one_of("standingInstruction.mode", &["INITIAL", "REPEATED"], false);
        let source = self.one_of("standingInstruction.source", &["CIT", "MIT"], false);
        self.one_of(
            "standingInstruction.type",
            &["UNSCHEDULED", "RECURRING", "INSTALLMENT"],
            false,
        );
        if source.as_deref() == Some("MIT") && mode.as_deref() != Some("REPEATED") {
            self.fail(
                "standingInstruction.mode",
                "must be REPEATED when standingInstruction.source is MIT",
            );
        }
    }
}

pub(crate) fn valid_amount(raw: &str) -> bool {
    let (int, frac) = match raw.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (raw, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    (1..=12).contains(&int.len()) && digits(int) && frac.is_none_or(|f| f.len() == 2 && digits(f))
}

/// The card number's check digit (ISO/IEC 7812) is right.
pub(crate) fn luhn_ok(number: &str) -> bool {
    luhn::valid(number)
}

/// ISO 13616: length, country letters, check digits, mod-97 == 1.
pub(crate) fn iban_ok(iban: &str) -> bool {
    let iban = iban
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    let b = iban.as_bytes();
    if !(15..=34).contains(&b.len())
        || !b[..2].iter().all(u8::is_ascii_uppercase)
        || !b[2..4].iter().all(u8::is_ascii_digit)
        || !b.iter().all(u8::is_ascii_alphanumeric)
    {
        return false;
    }
    let rotated = iban[4..].chars().chain(iban[..4].chars());
    let mut rem: u32 = 0;
    for c in rotated {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// An expiry is valid through the end of its month.
pub(crate) fn expired(month: u32, year: i32, now: DateTime<Utc>) -> bool {
    (year, month) < (now.year(), now.month())
}
