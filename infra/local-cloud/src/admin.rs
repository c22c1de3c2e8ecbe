//! The management side: API Gateway's `@connections` API (POST, GET, DELETE; 410 GoneException
//! for a closed or unknown connection) and the local cloud's status endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use serde_json::json;

use crate::runtime::{Function, percentile};
use crate::websocket::{Connections, MAX_MESSAGE_BYTES};

pub struct Admin {
    pub connections: Arc<Connections>,
    pub functions: BTreeMap<String, Arc<Function>>,
}

impl Admin {
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route(
                "/@connections/{id}",
                post(post_to_connection)
                    .get(get_connection)
                    .delete(delete_connection),
            )
            // An SDK configured with the deployed endpoint's stage prefix works too.
            .route(
                "/{stage}/@connections/{id}",
                post(staged_post).get(staged_get).delete(staged_delete),
            )
            .route("/__local/status", get(status))
            .route("/__local/functions/{name}/recycle", post(recycle))
            .with_state(self)
    }
}

fn error(status: StatusCode, kind: &'static str, message: Option<&str>) -> Response {
    let mut response = (status, json!({ "message": message }).to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers.insert("x-amzn-errortype", HeaderValue::from_static(kind));
    response
}

fn gone() -> Response {
    error(StatusCode::GONE, "GoneException", None)
}

fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

async fn post_to_connection(
    State(admin): State<Arc<Admin>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    if body.len() > MAX_MESSAGE_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PayloadTooLargeException",
            Some("Message too long"),
        );
    }
    if admin.connections.send(&id, body) {
        StatusCode::OK.into_response()
    } else {
        gone()
    }
}

async fn get_connection(State(admin): State<Arc<Admin>>, Path(id): Path<String>) -> Response {
    let Some(connection) = admin.connections.get(&id) else {
        return gone();
    };
    let last_active = *connection.last_active_at.lock().unwrap();
    let body = json!({
        "ConnectedAt": rfc3339(connection.connected_at),
        "Identity": { "SourceIp": connection.source_ip, "UserAgent": connection.user_agent },
        "LastActiveAt": rfc3339(last_active),
    });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn delete_connection(State(admin): State<Arc<Admin>>, Path(id): Path<String>) -> Response {
    if admin.connections.close(&id) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        gone()
    }
}

async fn staged_post(
    state: State<Arc<Admin>>,
    Path((_, id)): Path<(String, String)>,
    body: Bytes,
) -> Response {
    post_to_connection(state, Path(id), body).await
}

async fn staged_get(state: State<Arc<Admin>>, Path((_, id)): Path<(String, String)>) -> Response {
    get_connection(state, Path(id)).await
}

async fn staged_delete(
    state: State<Arc<Admin>>,
    Path((_, id)): Path<(String, String)>,
) -> Response {
    delete_connection(state, Path(id)).await
}

/// Per function: instances, init and first-response times, invocation latency, peak RSS.
async fn status(State(admin): State<Arc<Admin>>) -> Response {
    let functions: serde_json::Map<String, serde_json::Value> = admin
        .functions
        .iter()
        .map(|(name, function)| {
            let stats = function.stats();
            let summary = json!({
                "instances_started": stats.instances_started,
                "instances_alive": stats.instances_alive,
                "init_ms": stats.init_ms,
                "first_response_ms": stats.first_response_ms,
                "invocations": stats.invocations,
                "errors": stats.errors,
                "duration_p50_ms": percentile(&stats.durations_ms, 50.0),
                "duration_p99_ms": percentile(&stats.durations_ms, 99.0),
                "peak_rss_kib": stats.peak_rss_kib,
            });
            (name.clone(), summary)
        })
        .collect();
    let body =
        json!({ "functions": functions, "websocket_connections": admin.connections.count() });
    ([("content-type", "application/json")], body.to_string()).into_response()
}

async fn recycle(State(admin): State<Arc<Admin>>, Path(name): Path<String>) -> Response {
    match admin.functions.get(&name) {
        Some(function) => {
            function.recycle();
            StatusCode::NO_CONTENT.into_response()
        }
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
