//! Case-insensitive property names: Billwerk's reference serializer reads names in any case, so
//! before typed deserialization every object key that matches a known contract name (ignoring
//! case) is rewritten to its canonical camelCase spelling. Free-form maps (`initialBearer`,
//! `finalizationData`, `bearer`) keep their keys as sent.

use std::collections::HashMap;
use std::sync::LazyLock;

use serde_json::{Map, Value};

/// Every property name used in request bodies, in canonical spelling.
const KNOWN: &[&str] = &[
    "pspSettingsId",
    "transactionId",
    "requestedAmount",
    "currency",
    "webhookTarget",
    "paymentMeansReference",
    "transactionInvoiceReferenceText",
    "transactionReferenceText",
    "payerData",
    "orderData",
    "agreementId",
    "migrationToken",
    "isInitial",
    "role",
    "initialBearer",
    "successReturnUrl",
    "errorReturnUrl",
    "abortReturnUrl",
    "hostUrl",
    "termsOfServiceUrl",
    "externalCustomerId",
    "companyName",
    "firstName",
    "lastName",
    "vatId",
    "address",
    "emailAddress",
    "language",
    "phoneNumber",
    "addressLine1",
    "addressLine2",
    "street",
    "houseNumber",
    "postalCode",
    "city",
    "state",
    "country",
    "planName",
    "nextPaymentDate",
    "feePeriod",
    "unit",
    "quantity",
    "recurringFee",
    "externalContractId",
    "preauthTransactionId",
    "plannedExecutionDate",
    "invoiceData",
    "invoiceDate",
    "dueDate",
    "description",
    "lineItems",
    "taxCategory",
    "totalGross",
    "totalNet",
    "vatPercentage",
    "periodStart",
    "periodEnd",
    "pricePerUnit",
    "paymentTransactionId",
    "finalizationData",
    "merchantSettings",
    "merchantPspSettings",
    "keyName",
    "keyValue",
];

/// Objects whose keys are data, not property names.
const FREE_FORM: &[&str] = &["initialBearer", "finalizationData", "bearer"];

static LOOKUP: LazyLock<HashMap<String, &'static str>> =
    LazyLock::new(|| KNOWN.iter().map(|k| (k.to_ascii_lowercase(), *k)).collect());

/// Rewrites known keys to canonical case, recursively (but not inside free-form maps).
pub fn canonicalize(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(canon_object(map)),
        Value::Array(items) => Value::Array(items.into_iter().map(canonicalize).collect()),
        other => other,
    }
}

fn canon_object(map: Map<String, Value>) -> Map<String, Value> {
    let mut out = Map::with_capacity(map.len());
    for (key, value) in map {
        let canonical = LOOKUP
            .get(&key.to_ascii_lowercase())
            .map(|k| (*k).to_string())
            .unwrap_or(key);
        let value = if FREE_FORM.contains(&canonical.as_str()) {
            value
        } else {
            canonicalize(value)
        };
        // On a case-only duplicate the first non-null value wins, so `{"Currency":null,
        // "currency":"EUR"}` stays usable.
        match out.get(&canonical) {
            Some(existing) if !existing.is_null() => {}
            _ => {
                out.insert(canonical, value);
            }
        }
    }
    out
}

/// Finds a key in a free-form map ignoring case (e.g. `IBAN` in `initialBearer`).
pub fn get_ci<'a>(
    map: &'a std::collections::BTreeMap<String, String>,
    key: &str,
) -> Option<&'a str> {
    map.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rewrites_known_keys_but_not_free_form_ones() {
        let v = canonicalize(json!({
            "TRANSACTIONID": "x",
            "PaymentMeansReference": {"ROLE": "Debit", "InitialBearer": {"Holder": "A", "IBAN": "B"}},
            "unknownThing": {"TransactionId": 1}
        }));
        assert_eq!(v["transactionId"], "x");
        assert_eq!(v["paymentMeansReference"]["role"], "Debit");
        assert_eq!(v["paymentMeansReference"]["initialBearer"]["IBAN"], "B");
        assert_eq!(v["unknownThing"]["transactionId"], 1);
    }
}
