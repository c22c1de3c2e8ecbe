//! What analytics refuses, and how that reads as problem+json (at this one boundary).

use problem::{FieldError, Problem};
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AnalyticsError {
    /// The body is not the shape the route takes (not JSON, not an object, unknown fields).
    #[error("{0}")]
    InvalidBody(String),
    /// Fields that do not hold: every one is named.
    #[error("the request is invalid")]
    Invalid(Vec<FieldError>),
    #[error("the agent has no events in this organization")]
    UnknownAgent,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AnalyticsError {
    pub(crate) fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(vec![FieldError::new(field, message)])
    }
}

impl From<AnalyticsError> for Problem {
    fn from(e: AnalyticsError) -> Self {
        match e {
            AnalyticsError::InvalidBody(detail) => Problem::bad_request("invalid_body", detail),
            AnalyticsError::Invalid(errors) => Problem::validation(errors),
            AnalyticsError::UnknownAgent => {
                Problem::not_found("no agent with this id has events in the organization")
            }
            AnalyticsError::Store(e) => e.into(),
        }
    }
}
