//! Identifiers: Billwerk's transaction ids and our own.

use std::fmt;

/// Billwerk's `transactionId`: `{yyyyMMdd}-{ObjectId}` (8 digits forming a date, `-`, 24 hex).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BillwerkTxId(String);

impl BillwerkTxId {
    pub fn parse(s: &str) -> Option<Self> {
        let (date, oid) = s.split_once('-')?;
        let date_ok = date.len() == 8
            && date.bytes().all(|b| b.is_ascii_digit())
            && chrono::NaiveDate::parse_from_str(date, "%Y%m%d").is_ok();
        let oid_ok = oid.len() == 24 && oid.bytes().all(|b| b.is_ascii_hexdigit());
        (date_ok && oid_ok).then(|| Self(s.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BillwerkTxId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A fresh opaque id of ours (32 lowercase hex).
pub fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn billwerk_ids() {
        assert!(BillwerkTxId::parse("20221108-636bd596c10cfc318b1bfabb").is_some());
        assert!(BillwerkTxId::parse("20221308-636bd596c10cfc318b1bfabb").is_none());
        assert!(BillwerkTxId::parse("20221108-636bd596c10cfc318b1bfab").is_none());
        assert!(BillwerkTxId::parse("20221108636bd596c10cfc318b1bfabb").is_none());
        assert!(BillwerkTxId::parse("20221108-636bd596c10cfc318b1bfabz").is_none());
    }
}
