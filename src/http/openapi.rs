//! The OpenAPI 3.1 description (`/openapi.json`), built from the handlers' and DTOs' annotations,
//! and the docs UI at `/docs` (Swagger UI, whose files are compiled into the binary).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Tag};

use serde_json::json;

use crate::contract::ErrorObject;

/// The document's fixed parts: info, the bearer scheme, tags, the error object.
pub fn base() -> OpenApi {
    let bearer = SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .description(Some(
                "The merchant's Integrator API token (`psp-integrator merchants create`)",
            ))
            .build(),
    );
    let components = ComponentsBuilder::new()
        .security_scheme("bearer", bearer)
        .schema_from::<ErrorObject>()
        // Referenced by the error object (the error responses are built in `statuses`).
        .schema_from::<crate::domain::PaymentErrorCode>()
        .schema_from::<crate::domain::TxStatus>()
        .build();
    let tag = |name: &str, about: &str| {
        let mut t = Tag::new(name);
        t.description = Some(about.to_string());
        t
    };
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("psp-integrator")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Billwerk+ Transform external PSP Integrator API. Every error is \
                     the error object `ErrorObject` with the HTTP status of its errorCode; amounts \
                     are JSON numbers in the currency's major unit; times are UTC with 7 \
                     fractional digits.",
                ))
                .build(),
        )
        .components(Some(components))
        .tags(Some(vec![
            tag("billwerk", "The endpoints Billwerk calls (bearer token)"),
            tag("psp", "Where the PSP delivers its notifications"),
            tag("operations", "Health probes and metrics"),
        ]))
        .build()
}

/// Request examples (Billwerk's own shapes, with fresh-looking ids) and the error object's
/// example, added to the generated document.
pub fn add_examples(doc: &mut OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::schema::Schema;
    let hook = "https://sample.billwerk.com/PSPWebhooks/ExternalIntegration";
    let examples = [
        (
            "/api/Preauth",
            json!({
                "transactionId": "20261122-6391a2f61c48d9fa18616600",
                "agreementId": "6391a2f61c48d9fa18616601", "requestedAmount": 300, "currency": "EUR",
                "isInitial": true, "webhookTarget": hook,
                "paymentMeansReference": {
                    "role": "CreditCard",
                    "successReturnUrl": "https://merchant.example/success",
                    "errorReturnUrl": "https://merchant.example/error",
                    "abortReturnUrl": "https://merchant.example/abort"
                },
                "payerData": {"firstName": "John", "lastName": "Doe", "language": "EN"}
            }),
        ),
        (
            "/api/Preauth/Finalize",
            json!({
                "transactionId": "20261122-6391a2f61c48d9fa18616600", "finalizationData": {}
            }),
        ),
        (
            "/api/Preauth/{id}/Cancel",
            json!({"pspSettingsId": "636a915b7267328bc225c566"}),
        ),
        (
            "/api/Payment",
            json!({
                "transactionId": "20261122-6391a2f61c48d9fa18616602",
                "preauthTransactionId": "20261122-6391a2f61c48d9fa18616600",
                "agreementId": "6391a2f61c48d9fa18616601", "requestedAmount": 300, "currency": "EUR",
                "webhookTarget": hook, "paymentMeansReference": {"role": "CreditCard"}
            }),
        ),
        (
            "/api/Refund",
            json!({
                "transactionId": "20261122-6391a2f61c48d9fa18616604",
                "paymentTransactionId": "20261122-6391a2f61c48d9fa18616602",
                "requestedAmount": 15.5, "currency": "EUR", "webhookTarget": hook
            }),
        ),
    ];
    for (path, example) in examples {
        let Some(item) = doc.paths.paths.get_mut(path) else {
            continue;
        };
        for op in [&mut item.post, &mut item.put].into_iter().flatten() {
            if let Some(RefOr::T(body)) = op.request_body.as_mut()
                && let Some(RefOr::T(content)) = body.content.get_mut("application/json")
            {
                content.example = Some(example.clone());
            }
        }
    }
    settings_examples(doc);
    let schemas = doc.components.as_mut().map(|c| &mut c.schemas);
    if let Some(RefOr::T(Schema::Object(error))) = schemas.and_then(|s| s.get_mut("ErrorObject")) {
        error.examples = vec![json!({
            "errorCode": "InvalidData",
            "errorMessage": "transactionId: must have the format {yyyyMMdd}-{24 hex digits}",
            "pspErrorCode": null,
            "receivedAt": "2026-11-22T10:15:30.1234567Z",
            "status": "Failed"
        })];
    }
}

/// `PUT /api/Settings` has one example per PSP family (the keys differ: `GET /api/IntegrationInfo`
/// lists the merchant's own), with the built-in simulators' sandbox credentials.
fn settings_examples(doc: &mut OpenApi) {
    use utoipa::openapi::RefOr;
    use utoipa::openapi::example::ExampleBuilder;
    let families = [
        (
            "oppwa",
            "OPPWA: bearer token, entity ids, webhook secret, environment",
            json!({"merchantSettings": [
                {"keyName": "AccessToken", "keyValue": "sim-sandbox-access-token-0000000000000000"},
                {"keyName": "EntityId", "keyValue": "8a8294174b7ecb28014b9699220015ca"},
                {"keyName": "WebhookSecret", "keyValue": "000102030405060708090a0b0c0d0e0f000102030405060708090a0b0c0d0e0f"},
                {"keyName": "Environment", "keyValue": "Test"}
            ]}),
        ),
        (
            "mollie",
            "Mollie: one API key, whose prefix (test_ or live_) is the mode",
            json!({"merchantSettings": [
                {"keyName": "ApiKey", "keyValue": "test_simMollieSandboxKey0000000000001"}
            ]}),
        ),
    ];
    let Some(item) = doc.paths.paths.get_mut("/api/Settings") else {
        return;
    };
    let Some(op) = item.put.as_mut() else {
        return;
    };
    if let Some(RefOr::T(body)) = op.request_body.as_mut()
        && let Some(RefOr::T(content)) = body.content.get_mut("application/json")
    {
        for (family, summary, value) in families {
            let example = ExampleBuilder::new()
                .summary(summary)
                .value(Some(value))
                .build();
            content
                .examples
                .insert(family.to_string(), RefOr::T(example));
        }
    }
}

/// `/docs`: Swagger UI served from the binary, reading `/openapi.json`.
pub fn docs_ui() -> Router {
    swagger_ui_dist::generate_routes(swagger_ui_dist::ApiDefinition {
        uri_prefix: "/docs",
        api_definition: swagger_ui_dist::OpenApiSource::Uri("/openapi.json"),
        title: Some("psp-integrator API"),
    })
}

/// The contract's enumerations are written as names (and read from a name or number); their
/// schema lists the names, in the contract's order.
macro_rules! wire_enum_schema {
    ($($t:ident: $about:literal),+ $(,)?) => {$(
        impl utoipa::PartialSchema for crate::domain::$t {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::schema::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .enum_values(Some(crate::domain::$t::ALL.iter().map(|v| v.name())))
                    .description(Some(concat!(
                        $about,
                        " Written as the name; a name in any case or the number is accepted."
                    )))
                    .into()
            }
        }

        impl utoipa::ToSchema for crate::domain::$t {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($t))
            }
        }
    )+};
}

wire_enum_schema!(
    TxStatus: "`PaymentTransactionStatus`.",
    PaymentErrorCode: "`PaymentErrorCode`; it decides the HTTP status.",
    CancellationStatus: "`PaymentCancellationStatus`.",
    ChargebackReason: "`ChargebackReason`.",
    Role: "`PublicPaymentProviderRole`: the payment method.",
);
