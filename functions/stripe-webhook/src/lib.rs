//! The route of the Stripe webhook function. The body is read as the raw bytes Stripe signed
//! (never parsed and re-serialized before the check); libs/billing does the rest.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use billing::Billing;
use billing::webhook::WebhookError;
use problem::{Problem, ProblemDocument};
use serde_json::json;
use utoipa::OpenApi;
use web::Json;

pub fn router(billing: Billing) -> Router {
    let routes = Router::new().route("/v1/webhooks/stripe", post(receive));
    // Stripe calls from its servers: no browser origin is allowed.
    web::finish(routes, &[], billing)
}

/// Stripe's events (signed with the endpoint's secret; no bearer token).
#[utoipa::path(post, path = "/v1/webhooks/stripe", tag = "billing", security(()),
    params(("Stripe-Signature" = String, Header, description = "t=<unix time>,v1=<HMAC-SHA256 of \"t.body\"> (300 s tolerance)")),
    request_body(content = serde_json::Value, description = "A Stripe event, exactly as Stripe sent it", content_type = "application/json"),
    responses(
        (status = 200, description = "Processed, a duplicate dropped, or a type not handled (`outcome` says which)", body = serde_json::Value),
        (status = 400, description = "Missing, malformed, stale or wrong signature (`invalid_signature`), or not an event (`not_an_event`)", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::BodyRejected,
        (status = 503, description = "Stripe or the table unavailable: Stripe delivers the event again", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn receive(
    State(billing): State<Billing>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<serde_json::Value>, Problem> {
    let signature = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    match billing.handle_webhook(&body, signature).await {
        Ok(handled) => Ok(Json(json!({ "received": true, "outcome": handled.name() }))),
        Err(WebhookError::Signature(e)) => {
            Err(Problem::bad_request("invalid_signature", e.to_string()))
        }
        Err(WebhookError::NotAnEvent(reason)) => {
            tracing::error!(%reason, "a signed delivery that is not an event");
            Err(Problem::bad_request("not_an_event", reason))
        }
        // Whatever kept it from being processed (Stripe or the table unavailable, a write that
        // kept losing): Stripe delivers it again.
        Err(WebhookError::Billing(e)) => {
            tracing::error!(error = %e, "a Stripe event could not be processed");
            Err(Problem::unavailable(
                "the event could not be processed now; deliver it again",
            ))
        }
    }
}

#[derive(OpenApi)]
#[openapi(paths(receive))]
struct WebhookApi;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    WebhookApi::openapi()
}
