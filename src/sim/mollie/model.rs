//! The simulator's resources (payments, customers, mandates, refunds, captures, chargebacks) as
//! they are stored; `render.rs` turns them into Mollie's JSON.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::money::Amount;

/// The mode a key pins: test and live resources are isolated (§2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    Test,
    Live,
}

impl Mode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Test => "test",
            Self::Live => "live",
        }
    }
}

/// Who owns a resource: one website profile in one mode.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub(crate) struct Owner {
    pub profile: String,
    pub mode: Mode,
}

/// Payment statuses (§2.9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Status {
    Open,
    Pending,
    Authorized,
    Paid,
    Canceled,
    Expired,
    Failed,
}

impl Status {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Pending => "pending",
            Self::Authorized => "authorized",
            Self::Paid => "paid",
            Self::Canceled => "canceled",
            Self::Expired => "expired",
            Self::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "open" => Self::Open,
            "pending" => Self::Pending,
            "authorized" => Self::Authorized,
            "paid" => Self::Paid,
            "canceled" => Self::Canceled,
            "expired" => Self::Expired,
            "failed" => Self::Failed,
            _ => return None,
        })
    }

    pub(crate) fn is_final(self) -> bool {
        matches!(
            self,
            Self::Paid | Self::Canceled | Self::Expired | Self::Failed
        )
    }

    /// The enforced transitions of §3.9; anything else is refused.
    pub(crate) fn may_become(self, to: Self) -> bool {
        use Status::*;
        match self {
            Open => matches!(
                to,
                Pending | Authorized | Paid | Canceled | Expired | Failed
            ),
            Pending => matches!(to, Paid | Failed | Canceled),
            Authorized => matches!(to, Paid | Canceled | Failed),
            Paid | Canceled | Expired | Failed => false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Payment {
    pub id: String,
    pub owner: Owner,
    pub created_at: DateTime<Utc>,
    pub status: Status,
    pub amount: Amount,
    pub description: String,
    pub redirect_url: Option<String>,
    pub cancel_url: Option<String>,
    pub webhook_url: Option<String>,
    pub locale: Option<String>,
    /// The single method fixed at creation (or chosen on the checkout page), if any.
    pub method: Option<String>,
    /// More than one method offered, or none fixed: failures return to method selection.
    pub method_fixed: bool,
    pub metadata: Value,
    /// `oneoff`, `first` or `recurring`.
    pub sequence_type: String,
    pub customer_id: Option<String>,
    pub mandate_id: Option<String>,
    /// `automatic` or `manual`; `None` when not given.
    pub capture_mode: Option<String>,
    pub capture_delay_secs: Option<i64>,
    pub capture_delay_text: Option<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub authorized_at: Option<DateTime<Utc>>,
    pub capture_before: Option<DateTime<Utc>>,
    pub paid_at: Option<DateTime<Utc>>,
    pub canceled_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// A pending recurring payment settles at this time (`tick`).
    pub settle_at: Option<DateTime<Utc>>,
    /// Card and bank `details` as shown once the shopper has paid or failed.
    pub details: Value,
    pub refunds: Vec<String>,
    pub captures: Vec<String>,
    pub chargebacks: Vec<String>,
}

impl Payment {
    /// Open, a pending debit before settlement, or an authorization (cancel releases it).
    pub(crate) fn is_cancelable(&self) -> bool {
        match self.status {
            Status::Open | Status::Authorized => true,
            Status::Pending => self.method.as_deref() == Some("directdebit"),
            _ => false,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Customer {
    pub id: String,
    pub owner: Owner,
    pub created_at: DateTime<Utc>,
    pub name: Option<String>,
    pub email: Option<String>,
    pub locale: Option<String>,
    pub metadata: Value,
    /// Oldest first; lists show them newest first.
    pub payments: Vec<String>,
    pub mandates: Vec<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Mandate {
    pub id: String,
    pub owner: Owner,
    pub customer_id: String,
    pub created_at: DateTime<Utc>,
    /// `creditcard`, `directdebit` or `paypal`.
    pub method: String,
    /// `valid`, `pending` or `invalid`.
    pub status: String,
    /// A pending mandate becomes valid at this time (the PayPal/Belfius knob); `None`: stays.
    pub valid_at: Option<DateTime<Utc>>,
    pub revoked: bool,
    pub details: Value,
    pub mandate_reference: Option<String>,
    pub signature_date: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Refund {
    pub id: String,
    pub payment_id: String,
    pub created_at: DateTime<Utc>,
    pub amount: Amount,
    pub description: String,
    pub metadata: Value,
    /// `queued`, `pending`, `processing`, `refunded`, `failed` or `canceled`.
    pub status: String,
    /// When the refund moves on to its next status (`tick`).
    pub next_at: Option<DateTime<Utc>>,
}

impl Refund {
    /// Counts against the payment's remaining amount.
    pub(crate) fn is_live(&self) -> bool {
        !matches!(self.status.as_str(), "failed" | "canceled")
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Capture {
    pub id: String,
    pub payment_id: String,
    pub created_at: DateTime<Utc>,
    pub amount: Amount,
    pub description: Option<String>,
    /// `pending`, `succeeded` or `failed`.
    pub status: String,
    pub next_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Chargeback {
    pub id: String,
    pub payment_id: String,
    pub created_at: DateTime<Utc>,
    pub amount: Amount,
    /// Direct debit only: `{code, description}`.
    pub reason: Option<Value>,
    pub reversed_at: Option<DateTime<Utc>>,
    /// The fixture hazard: `amount.value` written negative.
    pub negative: bool,
}
