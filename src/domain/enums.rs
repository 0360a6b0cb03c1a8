//! The contract's enumerations. On the wire they are written as names and read from a name (any
//! case) or the number; `wire_enum!` gives every enum exactly that behaviour.

use std::fmt;

macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $num:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn name(self) -> &'static str {
                match self { $($name::$variant => stringify!($variant)),+ }
            }

            pub fn number(self) -> i64 {
                match self { $($name::$variant => $num),+ }
            }

            pub fn from_name(s: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name().eq_ignore_ascii_case(s.trim()))
            }

            pub fn from_number(n: i64) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.number() == n)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.name())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let v = serde_json::Value::deserialize(d)?;
                let found = match &v {
                    serde_json::Value::String(s) => match s.trim().parse::<i64>() {
                        Ok(n) => Self::from_number(n),
                        Err(_) => Self::from_name(s),
                    },
                    serde_json::Value::Number(n) => n.as_i64().and_then(Self::from_number),
                    _ => None,
                };
                found.ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.name()).collect();
                    serde::de::Error::custom(format!(
                        "unknown {} value {}; expected one of {}",
                        stringify!($name), v, names.join(", ")
                    ))
                })
            }
        }
    };
}

wire_enum!(
    /// `PaymentTransactionStatus` (§9.2).
    TxStatus { Initiated = 1, Pending = 2, Succeeded = 3, Failed = 4, Cancelled = 5, Expired = 6 }
);

wire_enum!(
    /// `PublicPaymentProviderRole` (§9.1). `iDEAL` keeps the contract's spelling.
    #[allow(non_camel_case_types)]
    Role {
        Default = 1, CreditCard = 2, Debit = 3, OnAccount = 4, Betalingsservice = 5, iDEAL = 6,
        Autogiro = 7, Avtalegiro = 8, MobilePay = 9, AmazonPay = 10,
    }
);

wire_enum!(
    /// `PaymentErrorCode` (§9.9).
    PaymentErrorCode {
        UnmappedError = 0, LimitExceeded = 1, BearerInvalid = 2, BearerExpired = 3,
        InvalidCountry = 4, InvalidAmount = 5, InvalidCurrency = 6, LoginError = 7,
        InvalidData = 8, InsufficientBalance = 9, AlreadyExecuted = 10, InvalidPreconditions = 11,
        InternalError = 12, InternalProviderError = 13, RateLimit = 14, InvalidConfiguration = 15,
        PermissionDenied = 16, Canceled = 17, Rejected = 18, PSPConnectionProblem = 19,
        InvalidBic = 20, InvalidIBAN = 21, PSPConnectionTimeout = 22, InvalidNationalIdNumber = 23,
        FailedCustomerUpdate = 24,
    }
);

wire_enum!(
    /// `PaymentCancellationStatus` (§9.3).
    CancellationStatus { NotCancelled = -1, Initiated = 1, Pending = 2, Succeeded = 3, Failed = 4 }
);

wire_enum!(
    /// `WebhookType` (§9.10); the webhook writes it as a number.
    WebhookType { Preauth = 1, Payment = 2, Refund = 3, Agreement = 4, Mandate = 5 }
);

wire_enum!(
    /// `PaymentChargebackReason` (§9.6).
    ChargebackReason {
        Unknown = 1, UserInitiated = 2, InsufficientBalance = 3, BearerInvalid = 4, Canceled = 5,
        Rejected = 6,
    }
);

wire_enum!(
    /// `AgreementStatus` (§9.7).
    AgreementStatus { Initiated = 1, Pending = 2, Active = 3, Inactive = 4 }
);

wire_enum!(
    /// `TimePeriod` (§9.5).
    TimePeriod { Day = 1, Week = 2, Month = 3, Year = 4, Hour = 5, Minute = 6, Second = 7 }
);

wire_enum!(
    /// `InvoiceDataLineTaxCategory` (§9.4).
    TaxCategory {
        VatStandard = 1, TaxFreeExport = 2, ReverseCharge = 3, ExemptFromTax = 4, IntraEuSupply = 5,
    }
);

impl TxStatus {
    /// Final states accept no further change (a Succeeded payment still gains refunds and
    /// chargebacks, which are separate records).
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Failed | Self::Cancelled | Self::Expired)
    }

    /// The status an error implies, per contract §11.1 (`Failed` unless cancelled/expired).
    pub fn as_error_status(self) -> TxStatus {
        match self {
            Self::Cancelled | Self::Expired => self,
            _ => Self::Failed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enums_by_name_or_number() {
        let r: Role = serde_json::from_str("\"creditcard\"").expect("name");
        assert_eq!(r, Role::CreditCard);
        let r: Role = serde_json::from_str("3").expect("number");
        assert_eq!(r, Role::Debit);
        let r: Role = serde_json::from_str("\"ideal\"").expect("mixed case name");
        assert_eq!(r, Role::iDEAL);
        assert!(serde_json::from_str::<Role>("42").is_err());
        assert_eq!(
            serde_json::to_string(&TxStatus::Cancelled).ok().as_deref(),
            Some("\"Cancelled\"")
        );
        assert_eq!(CancellationStatus::NotCancelled.number(), -1);
    }
}
