//! The OpenAPI 3.1 description (`/openapi.json`), built from the handlers' and DTOs' annotations,
//! and the docs UI at `/docs` (Swagger UI, whose files are compiled into the binary).

use axum::Router;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Tag};

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
                    "Billwerk+ Transform external PSP Integrator API (OPPWA). Every error is \
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
