//! The WebSocket API's handler: an API Gateway WebSocket event in (`$connect`, `$disconnect`,
//! or a client frame on its route), a status out; everything else in libs/notifications.
//!
//! The event is read as JSON rather than a typed request, so no shape a client can cause
//! (odd headers, repeated query parameters) fails the invocation.

use notifications::Live;
use serde_json::{Value, json};

/// Handles one event; the answer's `statusCode` decides `$connect` (non-2xx refuses the
/// upgrade). Frames to the client go through `@connections`, not the answer.
pub async fn handle(live: &Live, event: Value) -> Value {
    let context = &event["requestContext"];
    let route_key = context["routeKey"].as_str().unwrap_or("$default");
    let Some(connection_id) = context["connectionId"].as_str() else {
        tracing::error!("a WebSocket event without a connection id");
        return status(400);
    };
    // The event type, not the route key, says what happened: a frame can never be a connect
    // or a disconnect, whatever its action names.
    match context["eventType"].as_str().unwrap_or("MESSAGE") {
        "CONNECT" => {
            let ticket = match event["multiValueQueryStringParameters"]["ticket"].as_array() {
                // `?ticket=a&ticket=b` names no one ticket.
                Some(values) if values.len() > 1 => None,
                _ => event["queryStringParameters"]["ticket"].as_str(),
            };
            let origin = header(&event, "origin");
            match live.connect(connection_id, ticket, origin).await {
                Ok(record) => {
                    tracing::info!(connection_id, org_id = %record.org_id, "connected");
                    status(200)
                }
                Err(refused) => {
                    tracing::info!(connection_id, reason = refused.reason, "connect refused");
                    status(refused.status)
                }
            }
        }
        "DISCONNECT" => {
            if let Err(error) = live.disconnect(connection_id).await {
                // Its TTL removes the record; a push to it meets a 410 and removes it too.
                tracing::warn!(connection_id, %error, "record not removed on disconnect");
            }
            status(200)
        }
        _ => {
            // `$connect` and `$disconnect` are no routes a frame can take.
            let route = match route_key {
                "$connect" | "$disconnect" => "$default",
                other => other,
            };
            let body = match (event["body"].as_str(), event["isBase64Encoded"].as_bool()) {
                (Some(body), Some(false) | None) => body,
                // A binary frame is no JSON frame: `$default` answers it an error frame.
                _ => "\u{0}",
            };
            match live.message(connection_id, route, body).await {
                Ok(_) => status(200),
                Err(error) => {
                    tracing::error!(connection_id, route, %error, "frame not handled");
                    status(500)
                }
            }
        }
    }
}

/// A header, whatever the case of its name (API Gateway keeps the client's).
fn header<'a>(event: &'a Value, name: &str) -> Option<&'a str> {
    event["headers"]
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}

fn status(code: u16) -> Value {
    json!({ "statusCode": code })
}
