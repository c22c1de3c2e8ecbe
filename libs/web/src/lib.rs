//! The HTTP boundary shared by every function: extractors that authenticate and parse strictly,
//! list and response shapes, CORS, and problem+json for anything that does not match a route.

mod body;
mod headers;
mod identity;
mod list;
pub mod openapi;

pub use body::{MAX_BODY_BYTES, ValidJson, require_json_content_type};
pub use headers::{IdempotencyKey, QueryParams};
pub use identity::{ActiveOrg, Authenticated, Identity, Verified};
pub use list::{ListParams, ListResponse};

use axum::Router;
use axum::http::{HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use problem::Problem;
use serde::Serialize;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// A single path parameter, e.g. the `{id}` of `/v1/orgs/{id}`, with problem+json rejections.
pub struct PathParam(pub String);

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for PathParam {
    type Rejection = Problem;

    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &S,
    ) -> Result<Self, Problem> {
        axum::extract::Path::<String>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(value)| Self(value))
            .map_err(|_| {
                Problem::bad_request("invalid_path", "a path parameter is not valid UTF-8 text")
            })
    }
}

/// 201 with the created object.
pub struct Created<T>(pub T);

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        (StatusCode::CREATED, Json(self.0)).into_response()
    }
}

/// 200 with a JSON body.
pub struct Json<T>(pub T);

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        match serde_json::to_vec(&self.0) {
            Ok(body) => ([(http::header::CONTENT_TYPE, "application/json")], body).into_response(),
            Err(error) => {
                tracing::error!(%error, "response failed to serialize");
                Problem::internal().into_response()
            }
        }
    }
}

/// Adds what every function's router needs: problem+json for unknown routes and methods, CORS
/// from configuration (preflight answered before any authentication), and a request log line.
pub fn finish<S: Clone + Send + Sync + 'static>(
    router: Router<S>,
    cors_allowed_origins: &[String],
    state: S,
) -> Router {
    router
        .fallback(|| async { Problem::not_found("no route matches this path") })
        .method_not_allowed_fallback(|| async {
            Problem::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this path does not accept that method",
            )
        })
        .with_state(state)
        // Bodies are buffered up to the limit and no further (413 beyond it).
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn(log_request))
        .layer(cors(cors_allowed_origins))
}

fn cors(allowed_origins: &[String]) -> CorsLayer {
    // Exact origins only (configuration refuses wildcards): bearer tokens, no cookies.
    let origins = AllowOrigin::list(
        allowed_origins
            .iter()
            .filter_map(|o| HeaderValue::from_str(o).ok()),
    );
    CorsLayer::new()
        .allow_origin(origins)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allow_headers([
            http::header::AUTHORIZATION,
            http::header::CONTENT_TYPE,
            HeaderName::from_static("x-org-id"),
            HeaderName::from_static("idempotency-key"),
        ])
        .max_age(std::time::Duration::from_secs(600))
}

async fn log_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::error!(%method, %path, status, elapsed_ms, "request failed");
    } else {
        tracing::info!(%method, %path, status, elapsed_ms, "request");
    }
    response
}

/// The public health check: `{"status":"ok"}`.
pub async fn health() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}
