//! Query strings and headers, read with problem+json rejections.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use problem::Problem;
use serde::de::DeserializeOwned;

/// A route's query parameters as `T` (unknown parameters refused where `T` says so); a query
/// that does not parse is a 400 `invalid_query` problem. Values are checked by the domain.
pub struct QueryParams<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for QueryParams<T> {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(params)| Self(params))
            .map_err(|e| Problem::bad_request("invalid_query", e.body_text()))
    }
}

/// The optional `Idempotency-Key` header of a POST that creates or causes effects: 1–255
/// visible ASCII characters. What it scopes is `store::IdempotentRequest`'s rule.
pub struct IdempotencyKey(pub Option<String>);

impl IdempotencyKey {
    pub fn as_deref(&self) -> Option<&str> {
        self.0.as_deref()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Problem> {
        let Some(value) = parts.headers.get("idempotency-key") else {
            return Ok(Self(None));
        };
        match value.to_str() {
            Ok(key)
                if (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic()) =>
            {
                Ok(Self(Some(key.to_owned())))
            }
            _ => Err(Problem::bad_request(
                "invalid_header",
                "Idempotency-Key must be 1-255 visible ASCII characters",
            )),
        }
    }
}
