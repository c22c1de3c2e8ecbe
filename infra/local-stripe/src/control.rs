//! The local-only control API under `/_local/` (never part of Stripe's): move the clock, fail a
//! customer's next payment, chaos mode, the webhook endpoint, the events sent with their delivery
//! attempts, and a reset. JSON in, JSON out.
//!
//! | Route | Does |
//! |---|---|
//! | `GET /_local/status` | the clock, object counts, settings |
//! | `POST /_local/clock/advance` `{"seconds": n}` or `{"days": n}` | moves the clock and runs what falls due |
//! | `POST /_local/customers/{id}/fail_next_payment` | the customer's next charge is declined |
//! | `POST /_local/payment_intents/{id}/authenticate` | the customer passes 3D Secure: the charge succeeds |
//! | `PUT /_local/chaos` `{"enabled", "duplicate_every", "reorder_every", "latency_ms"}` | chaos mode |
//! | `PUT /_local/webhook` `{"url", "secret", "retry": {"first_ms", "max_attempts"}}` | the endpoint |
//! | `GET /_local/events` | every event, newest last, with `delivered` and `attempts` |
//! | `POST /_local/reset` | forgets every object, event and setting except the webhook's |

use axum::http::Method;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::error::StripeError;
use crate::state::Chaos;
use crate::{RetryPolicy, Shared, api, json_response, payment_intents, prices};

pub fn handle(
    shared: &Shared,
    method: &Method,
    path: &str,
    _query: Option<&str>,
    body: &[u8],
) -> Response {
    match route(shared, method, path, body) {
        Ok(value) => json_response(200, value),
        Err(error) => error.into_response(),
    }
}

fn body<T: for<'de> Deserialize<'de> + Default>(body: &[u8]) -> Result<T, StripeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| StripeError::invalid_request(format!("Invalid JSON body: {e}"), None))
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Advance {
    seconds: Option<i64>,
    days: Option<i64>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Webhook {
    url: Option<String>,
    secret: Option<String>,
    retry: Option<RetryPolicy>,
}

fn route(shared: &Shared, method: &Method, path: &str, raw: &[u8]) -> Result<Value, StripeError> {
    let segments: Vec<&str> = path.split('/').collect();
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["status"]) => {
            let state = shared.state();
            let settings = shared.settings();
            let mut counts = serde_json::Map::new();
            for (kind, ids) in &state.order {
                counts.insert((*kind).to_owned(), json!(ids.len()));
            }
            Ok(json!({
                "now": state.now(),
                "clock_offset_seconds": state.clock_offset,
                "objects": counts,
                "events": state.events.len(),
                "chaos": state.chaos,
                "webhook": { "url": settings.webhook_url, "retry": settings.retry },
            }))
        }
        ("POST", ["clock", "advance"]) => {
            let advance: Advance = body(raw)?;
            // At most ten years at a time: every renewal in between is run.
            const MAX_SECONDS: i64 = 10 * 366 * 86_400;
            let seconds = advance
                .days
                .unwrap_or(0)
                .checked_mul(86_400)
                .and_then(|d| d.checked_add(advance.seconds.unwrap_or(0)))
                .filter(|s| (1..=MAX_SECONDS).contains(s))
                .ok_or_else(|| {
                    StripeError::invalid_request(
                        "Advance by a positive number of `seconds` or `days`, at most ten years.",
                        None,
                    )
                })?;
            let mut state = shared.state();
            let from = state.now();
            state.clock_offset += seconds;
            let to = state.now();
            api::advance_clock(&mut state, from, to);
            shared.dispatch_new_events(&mut state);
            Ok(json!({ "now": to, "advanced_seconds": seconds }))
        }
        ("POST", ["customers", id, "fail_next_payment"]) => {
            let mut state = shared.state();
            state.find("customer", id, "customer")?;
            state.fail_next_payment.insert((*id).to_owned());
            Ok(json!({ "customer": id, "fail_next_payment": true }))
        }
        ("POST", ["payment_intents", id, "authenticate"]) => {
            let mut state = shared.state();
            let intent = payment_intents::authenticate(&mut state, id)?;
            shared.dispatch_new_events(&mut state);
            Ok(intent)
        }
        ("PUT", ["chaos"]) => {
            let chaos: Chaos = body(raw)?;
            let mut state = shared.state();
            state.chaos = chaos.clone();
            Ok(json!(chaos))
        }
        ("PUT", ["webhook"]) => {
            let webhook: Webhook = body(raw)?;
            let mut settings = shared.settings.lock().unwrap_or_else(|p| p.into_inner());
            if webhook.url.is_some() {
                settings.webhook_url = webhook.url.filter(|u| !u.is_empty());
            }
            if let Some(secret) = webhook.secret {
                settings.webhook_secret = secret;
            }
            if let Some(retry) = webhook.retry {
                settings.retry = retry;
            }
            Ok(json!({ "url": settings.webhook_url, "retry": settings.retry }))
        }
        ("GET", ["events"]) => {
            let state = shared.state();
            let events: Vec<Value> = state
                .events
                .iter()
                .map(|record| {
                    json!({
                        "id": record.event["id"],
                        "type": record.event["type"],
                        "created": record.event["created"],
                        "object_id": record.event["data"]["object"]["id"],
                        "delivered": record.delivered,
                        "duplicated": record.duplicated,
                        "attempts": record.attempts,
                        "event": record.event,
                    })
                })
                .collect();
            Ok(json!({ "events": events }))
        }
        ("POST", ["reset"]) => {
            let mut state = shared.state();
            state.reset();
            prices::seed(&mut state);
            Ok(json!({ "reset": true }))
        }
        _ => Err(StripeError::unknown_route(
            method.as_str(),
            &format!("/_local/{path}"),
        )),
    }
}
