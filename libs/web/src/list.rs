//! Lists: `?limit=&cursor=` in, `{"items": [...], "next_cursor": ...}` out (§3).

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use problem::{FieldError, Problem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

pub const DEFAULT_LIMIT: u16 = 20;
pub const MAX_LIMIT: u16 = 100;

/// Pagination of a list route that takes no other query parameters.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Page size, 1–100 (default 20; empty reads as absent).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    pub limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{0,2048}$")]
    pub cursor: Option<String>,
}

impl ListParams {
    /// The page size, checked against 1..=100.
    pub fn limit(&self) -> Result<u16, Problem> {
        // An empty `limit=` is read as no limit given.
        match self.limit.as_deref().filter(|l| !l.is_empty()) {
            None => Ok(DEFAULT_LIMIT),
            Some(raw) => match raw.parse::<u16>() {
                Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
                _ => Err(Problem::validation(vec![FieldError::new(
                    "limit",
                    "must be an integer from 1 to 100",
                )])),
            },
        }
    }

    pub fn cursor(&self) -> Option<&str> {
        self.cursor.as_deref().filter(|c| !c.is_empty())
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ListParams {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let Query(params) = Query::<ListParams>::from_request_parts(parts, state)
            .await
            .map_err(|e| Problem::bad_request("invalid_query", e.body_text()))?;
        params.limit()?;
        Ok(params)
    }
}

/// One page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct ListResponse<T> {
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

impl<T> From<store::Page<T>> for ListResponse<T> {
    fn from(page: store::Page<T>) -> Self {
        Self {
            items: page.items,
            next_cursor: page.next_cursor,
        }
    }
}
