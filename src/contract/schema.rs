//! OpenAPI schemas of request fields that state what `commands` enforces: id formats, lengths,
//! character sets, amounts as exact decimals. The patterns are ECMA-262 (as OpenAPI asks) and
//! the tests below check each one against the server's own check, so the document cannot
//! promise more or less than the service does.

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, SchemaFormat, Type};

use super::commands::limits;

/// `{yyyyMMdd}-{24 hex digits}` with a real calendar date (leap years included), exactly what
/// `BillwerkTxId::parse` accepts.
pub const TX_ID_PATTERN: &str = concat!(
    "^(?:[0-9]{4}(?:(?:0[1-9]|1[0-2])(?:0[1-9]|1[0-9]|2[0-8])|(?:0[13-9]|1[0-2])(?:29|30)",
    "|(?:0[13578]|1[02])31)",
    "|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)0229)",
    "-[0-9A-Fa-f]{24}$"
);

/// `agreementId`, `pspSettingsId`: letters, digits and `- _ . :`.
pub const ID_PATTERN: &str = "^[A-Za-z0-9._:-]+$";

/// `migrationToken`: visible ASCII characters.
pub const TOKEN_PATTERN: &str = "^[!-~]+$";

/// `currency`: three letters, any case; the code must also be an active tender ISO-4217 currency.
pub const CURRENCY_PATTERN: &str = "^[A-Za-z]{3}$";

/// Free text: no control characters (C0, DEL, C1) and no line or paragraph separators.
pub const TEXT_PATTERN: &str = "^[^\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029]*$";

/// An absolute http(s) URL without spaces (the scheme in any case).
pub const URL_PATTERN: &str = "^[Hh][Tt][Tt][Pp][Ss]?://[^\\s\\u0000-\\u001F\\u007F-\\u009F]+$";

/// The finest step of an accepted amount: 3-decimal currencies (KWD, BHD, …).
const AMOUNT_STEP: f64 = 0.001;
/// The domain's PSP-neutral bound (`domain::money::MAX_INTEGER_DIGITS` digits before the point);
/// the merchant's PSP family may allow less.
const AMOUNT_MAX: f64 = 999_999_999_999_999_999.999;

fn string(pattern: &str, min: usize, max: usize, nullable: bool) -> ObjectBuilder {
    let ty = if nullable {
        utoipa::openapi::schema::SchemaType::from_iter([Type::String, Type::Null])
    } else {
        utoipa::openapi::schema::SchemaType::new(Type::String)
    };
    ObjectBuilder::new()
        .schema_type(ty)
        .pattern(Some(pattern))
        .min_length(Some(min))
        .max_length(Some(max))
}

fn done(b: ObjectBuilder) -> RefOr<Schema> {
    RefOr::T(Schema::Object(b.build()))
}

/// A required Billwerk transaction id.
pub fn tx_id() -> RefOr<Schema> {
    done(
        string(TX_ID_PATTERN, 33, 33, false)
            .description(Some(
                "Billwerk's transaction id, `{yyyyMMdd}-{24 hex digits}`",
            ))
            .examples([serde_json::json!("20261122-6391a2f61c48d9fa18616600")]),
    )
}

/// An optional Billwerk transaction id: absent or `null`, never empty.
pub fn tx_id_or_null() -> RefOr<Schema> {
    done(string(TX_ID_PATTERN, 33, 33, true).description(Some(
        "`{yyyyMMdd}-{24 hex digits}`; leave it out (or null) when none",
    )))
}

/// `agreementId` (required).
pub fn agreement_id() -> RefOr<Schema> {
    done(string(ID_PATTERN, 1, limits::AGREEMENT_ID, false))
}

/// `pspSettingsId` (not used; checked when sent).
pub fn psp_settings_id() -> RefOr<Schema> {
    done(string(ID_PATTERN, 1, limits::PSP_SETTINGS_ID, true))
}

/// `migrationToken` (accepted and not used).
pub fn migration_token() -> RefOr<Schema> {
    done(string(TOKEN_PATTERN, 1, limits::MIGRATION_TOKEN, true))
}

/// `currency` (required).
pub fn currency() -> RefOr<Schema> {
    done(string(CURRENCY_PATTERN, 3, 3, false).description(Some(
        "An active tender ISO-4217 code, any letter case (funds, test, metal and superseded \
             codes are refused with InvalidCurrency). Role Debit (SEPA) is euro-only.",
    )))
}

/// `webhookTarget` (required); its host must be in `webhooks.allowed_hosts`.
pub fn webhook_target() -> RefOr<Schema> {
    done(
        string(URL_PATTERN, 1, limits::URL, false)
            .format(Some(SchemaFormat::Custom("uri".into())))
            .description(Some(
                "Where webhooks go: an absolute http(s) URL whose host is in the service's \
                 allow-list (`webhooks.allowed_hosts`; others are refused with 422)",
            )),
    )
}

/// A return URL of `paymentMeansReference` (optional; an empty string means none). No `uri`
/// format: the empty string, which the service takes as "not given", is not a URI.
pub fn return_url() -> RefOr<Schema> {
    let pattern = format!("^$|{URL_PATTERN}");
    done(
        string(&pattern, 0, limits::URL, true)
            .description(Some("An absolute http(s) URL, or an empty string for none")),
    )
}

fn amount(min_exclusive: bool) -> RefOr<Schema> {
    let b = ObjectBuilder::new()
        .schema_type(Type::Number)
        .format(Some(SchemaFormat::Custom("decimal".into())))
        .maximum(Some(AMOUNT_MAX))
        .multiple_of(Some(AMOUNT_STEP))
        .description(Some(
            "An exact decimal amount in the currency's major unit, sent as a JSON number \
             (a string is refused) and read from its exact text, never through binary floating \
             point: no more decimals than the currency has (EUR 2, JPY 0, KWD 3; trailing zeros \
             do not count) and at most 18 digits before the point. The maximum and the \
             decimals the PSP can carry depend on the merchant's PSP family and may be less \
             (refused with InvalidAmount). Answers carry amounts the same way, in their \
             shortest form (`300`, `15.5`).",
        ))
        .examples([serde_json::json!(15.5)]);
    done(if min_exclusive {
        b.exclusive_minimum(Some(0.0))
    } else {
        b.minimum(Some(0.0))
    })
}

/// A preauth's amount: 0 (card registration, SEPA mandate) or more.
pub fn amount_zero_or_more() -> RefOr<Schema> {
    amount(false)
}

/// A payment's or refund's amount: more than 0.
pub fn amount_positive() -> RefOr<Schema> {
    amount(true)
}

/// An amount in an answer (same exact-decimal rule, any size the service stored).
pub fn amount_out() -> RefOr<Schema> {
    done(
        ObjectBuilder::new()
            .schema_type(Type::Number)
            .format(Some(SchemaFormat::Custom("decimal".into())))
            .description(Some(
                "An exact decimal amount in the currency's major unit, as a JSON number in its \
                 shortest form (`300`, `15.5`); never rounded through binary floating point.",
            )),
    )
}

/// An optional amount in an answer.
pub fn amount_out_or_null() -> RefOr<Schema> {
    let RefOr::T(Schema::Object(mut o)) = amount_out() else {
        return amount_out();
    };
    o.schema_type = utoipa::openapi::schema::SchemaType::from_iter([Type::Number, Type::Null]);
    RefOr::T(Schema::Object(o))
}

/// `paymentMeansReference.role` as read: a name in any letter case, or its number (also as a
/// string of digits).
pub fn role_input() -> RefOr<Schema> {
    roles(crate::domain::Role::ALL)
}

/// The role of a preauth (required), written as `role_input` allows; which roles are taken
/// depends on the merchant's PSP family.
pub fn preauth_role() -> RefOr<Schema> {
    role_input()
}

fn roles(roles: &[crate::domain::Role]) -> RefOr<Schema> {
    let names: Vec<String> = roles.iter().map(|r| any_case(r.name())).collect();
    let numbers: Vec<String> = roles.iter().map(|r| r.number().to_string()).collect();
    let pattern = format!("^(?:{})$", names.join("|"));
    let digits = format!("^0*(?:{})$", numbers.join("|"));
    let one_of = utoipa::openapi::schema::OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(pattern)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(digits)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .enum_values(Some(roles.iter().map(|r| r.number()))),
        )
        .description(Some(
            "`PublicPaymentProviderRole`: the name (any letter case) or its number. It must be \
             a role the merchant's PSP family supports (`GET /api/IntegrationInfo` lists them); \
             another is refused with 422 naming the role.",
        ));
    RefOr::T(Schema::OneOf(one_of.build()))
}

/// `CreditCard` as `[Cc][Rr]…`: ECMA-262 patterns have no case-insensitive flag.
fn any_case(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphabetic() {
                format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
