//! Domain language: money, statuses, ids, time. No I/O, no HTTP types.

pub mod enums;
pub mod ids;
pub mod locale;
pub mod money;
pub mod payer;
pub mod state;
pub mod time;

use std::collections::BTreeMap;

pub use enums::{
    AgreementStatus, CancellationStatus, ChargebackReason, PaymentErrorCode, Role, TxStatus,
    WebhookType,
};
pub use ids::{BillwerkTxId, new_id};
pub use locale::{Lang, format_amount};
pub use money::{AmountError, Currency, CurrencyError, Money};
pub use payer::{Payer, TextLimits};
pub use time::{Clock, ManualClock, SystemClock, Ticks};

/// The customer's payment data as Billwerk sees it: a free-form string map (contract §10.4).
pub type Bearer = BTreeMap<String, String>;

/// The three kinds of Billwerk transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxKind {
    Preauth,
    Payment,
    Refund,
}

impl TxKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Preauth => "preauth",
            Self::Payment => "payment",
            Self::Refund => "refund",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "preauth" => Some(Self::Preauth),
            "payment" => Some(Self::Payment),
            "refund" => Some(Self::Refund),
            _ => None,
        }
    }

    pub fn webhook_type(self) -> WebhookType {
        match self {
            Self::Preauth => WebhookType::Preauth,
            Self::Payment => WebhookType::Payment,
            Self::Refund => WebhookType::Refund,
        }
    }
}

/// An error recorded on a transaction: what GET returns as the error object.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct TxError {
    pub code: PaymentErrorCode,
    pub message: String,
    pub psp_code: Option<String>,
    pub received_at: Ticks,
}

impl serde::Serialize for Ticks {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Ticks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        i64::deserialize(d).map(Ticks)
    }
}
