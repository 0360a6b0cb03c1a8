//! The error statuses the `/api` endpoints really answer, for the OpenAPI document: every one is
//! the error object (`ErrorObject`), with the status its `errorCode` maps to (contract §11.2).
//! `default` stands for the refusals of the HTTP layer itself (405, 408, 414, 431, …).

use std::collections::BTreeMap;

use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::schema::{ObjectBuilder, Type};
use utoipa::openapi::{Ref, RefOr, Response, ResponseBuilder};

const BAD_JSON: (&str, &str) = (
    "400",
    "The body is not valid JSON, or could not be read (InvalidData)",
);
const TOKEN: (&str, &str) = (
    "401",
    "Missing, repeated or unknown Integrator token (`WWW-Authenticate: Bearer`)",
);
const UNKNOWN_ID: (&str, &str) = (
    "404",
    "No such transaction of this merchant (also for an id that is not `{yyyyMMdd}-{24 hex}`)",
);
const TOO_LARGE: (&str, &str) = ("413", "The body is larger than `server.body_limit_bytes`");
const MEDIA_TYPE: (&str, &str) = (
    "415",
    "Content-Type is not application/json, text/json or application/*+json",
);
const INVALID: (&str, &str) = (
    "422",
    "Invalid or ambiguous data (InvalidData, InvalidAmount, InvalidCurrency, InvalidIBAN, \
     InvalidBic; the message starts with the field's name — both names when one input is sent \
     twice or in two shapes), a transactionId reused for a different request (422, not 409), \
     or a refusal of the request or of the PSP (Rejected, InsufficientBalance, …). Nothing was \
     sent to the PSP for a field error.",
);
const RATE: (&str, &str) = (
    "429",
    "The merchant's rate limit is exceeded (LimitExceeded); `Retry-After` says when to retry",
);
const INTERNAL: (&str, &str) = (
    "500",
    "Our or the PSP's failure (InternalError, InvalidConfiguration when the PSP settings are \
     missing, PSPConnectionProblem, …); retry with the same transactionId",
);
const UNAVAILABLE: (&str, &str) = (
    "503",
    "A dependency (the database) is unreachable, or no answer within the request timeout; \
     retry with the same transactionId",
);
const OTHER: (&str, &str) = (
    "default",
    "Any other refusal of the HTTP layer (405 method, 408 slow request, 414 URI too long, \
     431 headers too large), as the error object",
);

fn error(description: &str) -> RefOr<Response> {
    let content = ContentBuilder::new()
        .schema(Some(Ref::from_schema_name("ErrorObject")))
        .build();
    ResponseBuilder::new()
        .description(description)
        .content("application/json", content)
        .build()
        .into()
}

fn rate_limited(description: &str) -> RefOr<Response> {
    let RefOr::T(mut r) = error(description) else {
        return error(description);
    };
    let seconds = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1)),
        ))
        .description(Some("Whole seconds to wait"))
        .build();
    r.headers.insert("Retry-After".into(), RefOr::T(seconds));
    r.into()
}

fn responses(list: &[(&str, &str)]) -> BTreeMap<String, RefOr<Response>> {
    list.iter()
        .map(|&(status, description)| {
            let r = if status == RATE.0 {
                rate_limited(description)
            } else {
                error(description)
            };
            (status.to_string(), r)
        })
        .collect()
}

/// A request with a JSON body that creates something (`POST` Preauth, Payment, Refund, `PUT`
/// Settings).
pub struct BodyErrors;

impl utoipa::IntoResponses for BodyErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            BAD_JSON,
            TOKEN,
            TOO_LARGE,
            MEDIA_TYPE,
            INVALID,
            RATE,
            INTERNAL,
            UNAVAILABLE,
            OTHER,
        ])
    }
}

/// A request with a JSON body about an existing preauth (Finalize, Cancel).
pub struct BodyOnIdErrors;

impl utoipa::IntoResponses for BodyOnIdErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[
            BAD_JSON,
            TOKEN,
            UNKNOWN_ID,
            TOO_LARGE,
            MEDIA_TYPE,
            INVALID,
            RATE,
            INTERNAL,
            UNAVAILABLE,
            OTHER,
        ])
    }
}

/// A read of one transaction by id.
pub struct ReadErrors;

impl utoipa::IntoResponses for ReadErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[TOKEN, UNKNOWN_ID, RATE, INTERNAL, UNAVAILABLE, OTHER])
    }
}

/// A read of the merchant's own data (IntegrationInfo, Settings).
pub struct MerchantReadErrors;

impl utoipa::IntoResponses for MerchantReadErrors {
    fn responses() -> BTreeMap<String, RefOr<Response>> {
        responses(&[TOKEN, RATE, INTERNAL, UNAVAILABLE, OTHER])
    }
}

/// What the annotations cannot say by themselves: the format of the `{id}` in a path (an id of
/// another form is answered 404), the notification body's shape, and the notification
/// endpoint's other statuses.
pub fn state_rules(doc: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::schema::Schema;
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
            &mut item.patch,
        ];
        for op in ops.into_iter().flatten() {
            for p in op.parameters.iter_mut().flatten() {
                if let RefOr::T(p) = p
                    && p.name == "id"
                {
                    p.schema = Some(crate::contract::schema::tx_id());
                }
            }
            if !path.starts_with("/psp/") {
                continue;
            }
            if let Some(RefOr::T(body)) = op.request_body.as_mut() {
                for content in body.content.values_mut() {
                    let RefOr::T(content) = content else {
                        continue;
                    };
                    let hex = ObjectBuilder::new()
                        .schema_type(Type::String)
                        .min_length(Some(2))
                        .description(Some(
                            "The encrypted notification as hex text (or the JSON wrapper \
                             `{\"encryptedBody\": \"…\"}`); anything else is answered 400",
                        ));
                    content.schema = Some(RefOr::T(Schema::Object(hex.build())));
                }
            }
            for (status, description) in [
                ("413", "The body is larger than `server.body_limit_bytes`"),
                (
                    "503",
                    "No answer within the request timeout; the PSP retries",
                ),
                OTHER,
            ] {
                op.responses
                    .responses
                    .entry(status.to_string())
                    .or_insert_with(|| error(description));
            }
        }
    }
}
