//! OpenAPI pieces every function's routes share: the active-organization header and the
//! problem responses that mean the same on every route. Route-specific answers (which 403, which
//! 409) stay with their route.

use problem::ProblemDocument;
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

/// 413: the body is over the 256 KiB limit.
#[derive(IntoResponses)]
#[response(
    status = 413,
    description = "Body over 256 KiB",
    content_type = "application/problem+json"
)]
pub struct BodyTooLarge(pub ProblemDocument);
