//! OpenAPI pieces every function's routes share: the active-organization header and the
//! problem responses that mean the same on every route. Route-specific answers (which 403, which
//! 409) stay with their route.

use problem::ProblemDocument;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type,
};
use utoipa::{IntoParams, IntoResponses};

/// The `X-Org-Id` header: the active organization (else the token's `org_id` claim).
#[derive(IntoParams)]
#[into_params(parameter_in = Header)]
pub struct OrgHeader {
    /// Active organization
    #[param(rename = "X-Org-Id")]
    #[allow(dead_code)]
    x_org_id: Option<String>,
}

/// 401: the bearer token is missing, malformed, expired or not ours.
#[derive(IntoResponses)]
#[response(
    status = 401,
    description = "Missing or bad token",
    content_type = "application/problem+json"
)]
pub struct Unauthorized(pub ProblemDocument);

/// 403: the caller is not a member of the active organization.
#[derive(IntoResponses)]
#[response(
    status = 403,
    description = "Not a member",
    content_type = "application/problem+json"
)]
pub struct NotAMember(pub ProblemDocument);

/// 400: the JSON body does not parse, has unknown fields or fails validation.
#[derive(IntoResponses)]
#[response(
    status = 400,
    description = "Invalid body",
    content_type = "application/problem+json"
)]
pub struct InvalidBody(pub ProblemDocument);

/// What every body route refuses before reading the body: 413 over the 256 KiB limit, 415 a
/// `Content-Type` that is not JSON (a request without one is read as JSON).
#[derive(IntoResponses)]
pub enum BodyRejected {
    #[response(
        status = 413,
        description = "Body over 256 KiB",
        content_type = "application/problem+json"
    )]
    TooLarge(ProblemDocument),
    #[response(
        status = 415,
        description = "A `Content-Type` other than `application/json` or `*/*+json`",
        content_type = "application/problem+json"
    )]
    NotJson(ProblemDocument),
}

fn string(format: Option<KnownFormat>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(format.map(SchemaFormat::KnownFormat))
}

/// A query time bound: an RFC 3339 time, or empty (read as absent). `schema_with` drops a
/// parameter's doc comment, so the description is the schema's.
fn time_or_empty(description: &str) -> Schema {
    OneOfBuilder::new()
        .description(Some(description))
        .item(string(Some(KnownFormat::DateTime)))
        .item(string(None).max_length(Some(0)))
        .build()
        .into()
}

/// A query day bound: an RFC 3339 time or a date (its UTC day), or empty (read as absent).
fn day_or_empty(description: &str) -> Schema {
    OneOfBuilder::new()
        .description(Some(description))
        .item(string(Some(KnownFormat::DateTime)))
        .item(string(Some(KnownFormat::Date)))
        .item(string(None).max_length(Some(0)))
        .build()
        .into()
}

/// `from` of a list filtered by time.
pub fn time_from() -> Schema {
    time_or_empty("RFC 3339 lower bound (inclusive); empty reads as absent.")
}

/// `to` of a list filtered by time.
pub fn time_to() -> Schema {
    time_or_empty("RFC 3339 upper bound (inclusive); empty reads as absent.")
}

/// `from` of a report's days.
pub fn day_from() -> Schema {
    day_or_empty(
        "First day (RFC 3339 time or date; its UTC day is included); empty reads as absent. \
         Without `to`, the report ends today (or on `from`, if later). Not after `to`, and at \
         most 90 days before it.",
    )
}

/// `to` of a report's days.
pub fn day_to() -> Schema {
    day_or_empty(
        "Last day (RFC 3339 time or date; its UTC day is included); empty reads as absent. \
         Without `from`, the report covers `period` days ending on `to`.",
    )
}
