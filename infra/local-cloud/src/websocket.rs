//! API Gateway WebSocket API: `$connect` (a non-2xx answer refuses the upgrade), routes chosen
//! by the route selection expression (`$request.body.action`) else `$default`, `$disconnect` on
//! close; API Gateway's frame and message limits and idle timeout. Live connections are kept in
//! [`Connections`] for the `@connections` management API.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use tokio::sync::mpsc;

use crate::events::{gateway_id, now_ms, query_parameters, request_time};
use crate::logs;
use crate::runtime::Function;

/// API Gateway's limits for WebSocket APIs.
pub const MAX_FRAME_BYTES: usize = 32 * 1024;
pub const MAX_MESSAGE_BYTES: usize = 128 * 1024;
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// API Gateway's limit on a connection's life.
pub const DEFAULT_MAX_CONNECTION: Duration = Duration::from_secs(2 * 60 * 60);

pub enum Outgoing {
    Data(Bytes),
    Close,
}

pub struct Connection {
    sender: mpsc::UnboundedSender<Outgoing>,
    pub connected_at: OffsetDateTime,
    pub last_active_at: Mutex<OffsetDateTime>,
    pub source_ip: String,
    pub user_agent: String,
}

/// The live connections, by connection id.
#[derive(Default)]
pub struct Connections {
    live: Mutex<HashMap<String, Arc<Connection>>>,
}

impl Connections {
    pub fn get(&self, id: &str) -> Option<Arc<Connection>> {
        self.live.lock().unwrap().get(id).cloned()
    }

    /// Sends data to a live connection; `false` when it is gone.
    pub fn send(&self, id: &str, data: Bytes) -> bool {
        self.get(id)
            .is_some_and(|c| c.sender.send(Outgoing::Data(data)).is_ok())
    }

    /// Closes a live connection from the server side; `false` when it is gone.
    pub fn close(&self, id: &str) -> bool {
        self.get(id)
            .is_some_and(|c| c.sender.send(Outgoing::Close).is_ok())
    }

    pub fn count(&self) -> usize {
        self.live.lock().unwrap().len()
    }
}

pub struct WebSocketApi {
    pub routes: BTreeMap<String, Arc<Function>>,
    /// The body field that selects the route (`action` for `$request.body.action`).
    pub selection_field: Option<String>,
    pub connections: Arc<Connections>,
    pub idle_timeout: Duration,
    pub max_connection: Duration,
}

impl WebSocketApi {
    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(upgrade).with_state(self)
    }

    fn route_for(&self, text: Option<&str>) -> Option<(String, Arc<Function>)> {
        let selected = text
            .and_then(|t| serde_json::from_str::<Value>(t).ok())
            .and_then(|body| {
                self.selection_field
                    .as_ref()
                    .and_then(|f| body.get(f).and_then(Value::as_str).map(str::to_owned))
            });
        // `$connect`, `$disconnect` and `$default` are never chosen by a frame's body.
        if let Some((key, function)) = selected
            .filter(|key| !key.starts_with('$'))
            .and_then(|key| self.routes.get(&key).cloned().map(|f| (key, f)))
        {
            return Some((key, function));
        }
        self.routes
            .get("$default")
            .map(|f| ("$default".to_owned(), f.clone()))
    }
}

fn context(
    route_key: &str,
    event_type: &str,
    connection_id: &str,
    connected_at: i64,
    peer: &str,
    user_agent: &str,
) -> Value {
    json!({
        "routeKey": route_key,
        "eventType": event_type,
        "extendedRequestId": gateway_id(),
        "requestTime": request_time(),
        "messageDirection": "IN",
        "stage": "local",
        "connectedAt": connected_at,
        "requestTimeEpoch": now_ms(),
        "identity": { "sourceIp": peer, "userAgent": user_agent },
        "requestId": gateway_id(),
        "domainName": "127.0.0.1",
        "connectionId": connection_id,
        "apiId": "local",
    })
}

fn header_maps(headers: &HeaderMap) -> (Map<String, Value>, Map<String, Value>) {
    let mut single = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        // The WebSocket payload keeps header names as the client sent them; HTTP/1 lowercases here.
        single.insert(name.to_string(), Value::String(value.clone()));
        multi
            .entry(name.to_string())
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .unwrap()
            .push(Value::String(value));
    }
    (single, multi)
}

fn is_success(answer: &[u8]) -> (bool, StatusCode) {
    let status = serde_json::from_slice::<Value>(answer)
        .ok()
        .and_then(|v| v.get("statusCode").and_then(Value::as_u64))
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    (status.is_success(), status)
}

async fn upgrade(
    State(api): State<Arc<WebSocketApi>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    uri: Uri,
    ws: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> Response {
    let Ok(ws) = ws else {
        return (StatusCode::BAD_REQUEST, "WebSocket upgrade expected").into_response();
    };
    let connection_id = gateway_id();
    let connected_at = now_ms();
    let user_agent = headers
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let peer_ip = peer.ip().to_string();
    let (single, multi) = header_maps(&headers);
    let query = query_parameters(uri.query().unwrap_or(""));
    let mut event = json!({
        "headers": single,
        "multiValueHeaders": multi,
        "requestContext": context("$connect", "CONNECT", &connection_id, connected_at, &peer_ip, &user_agent),
        "isBase64Encoded": false,
    });
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(
            query
                .iter()
                .map(|(k, v)| (k.clone(), json!(v.last().cloned().unwrap_or_default())))
                .collect(),
        );
        event["multiValueQueryStringParameters"] =
            Value::Object(query.iter().map(|(k, v)| (k.clone(), json!(v))).collect());
    }
    if let Some(function) = api.routes.get("$connect") {
        match function.invoke(Bytes::from(event.to_string())).await {
            Ok(answer) => {
                let (ok, status) = is_success(&answer);
                if !ok {
                    logs::system(
                        "websocket",
                        &format!("$connect refused {connection_id} with {status}"),
                    );
                    return status.into_response();
                }
            }
            Err(error) => {
                logs::system(
                    "websocket",
                    &format!("$connect failed for {connection_id}: {error:?}"),
                );
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
        }
    }
    // $connect succeeded: if the upgrade itself then fails, $disconnect still follows.
    let failed = (
        api.clone(),
        connection_id.clone(),
        peer_ip.clone(),
        user_agent.clone(),
    );
    let api = api.clone();
    ws.max_frame_size(MAX_FRAME_BYTES)
        .max_message_size(MAX_MESSAGE_BYTES)
        .on_failed_upgrade(move |error: axum::Error| {
            let (api, id, peer, user_agent) = failed;
            tokio::spawn(async move {
                disconnect(
                    &api,
                    &id,
                    connected_at,
                    &peer,
                    &user_agent,
                    1006,
                    &error.to_string(),
                )
                .await;
            });
        })
        .on_upgrade(move |socket| {
            run(
                api,
                socket,
                connection_id,
                connected_at,
                peer_ip,
                user_agent,
            )
        })
}

async fn run(
    api: Arc<WebSocketApi>,
    socket: WebSocket,
    id: String,
    connected_at: i64,
    peer: String,
    user_agent: String,
) {
    let (sender, mut outgoing) = mpsc::unbounded_channel();
    let now = OffsetDateTime::now_utc();
    api.connections.live.lock().unwrap().insert(
        id.clone(),
        Arc::new(Connection {
            sender,
            connected_at: now,
            last_active_at: Mutex::new(now),
            source_ip: peer.clone(),
            user_agent: user_agent.clone(),
        }),
    );
    logs::system("websocket", &format!("connected {id}"));
    let (mut sink, mut stream) = socket.split();
    let (mut close_code, mut close_reason) = (1005u16, "Client closed".to_owned());
    let lifetime_over = tokio::time::sleep(api.max_connection);
    tokio::pin!(lifetime_over);
    loop {
        tokio::select! {
            () = &mut lifetime_over => {
                // API Gateway ends every connection at its maximum duration.
                let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "Going away".into() }))).await;
                (close_code, close_reason) = (1001, "Connection duration exceeded".into());
                break;
            }
            incoming = tokio::time::timeout(api.idle_timeout, stream.next()) => {
                let message = match incoming {
                    Err(_) => {
                        let _ = sink.send(Message::Close(Some(CloseFrame { code: 1001, reason: "Going away".into() }))).await;
                        (close_code, close_reason) = (1001, "Idle timeout".into());
                        break;
                    }
                    Ok(None) => break,
                    Ok(Some(Err(error))) => {
                        let text = error.to_string();
                        if text.contains("Space limit exceeded") || text.contains("too long") || text.contains("too big") {
                            // Frames or messages over the limits end here, as API Gateway ends them.
                            let _ = sink.send(Message::Close(Some(CloseFrame { code: 1009, reason: "Message too big".into() }))).await;
                            (close_code, close_reason) = (1009, text);
                        } else {
                            // The connection broke without a close handshake.
                            (close_code, close_reason) = (1006, text);
                        }
                        break;
                    }
                    Ok(Some(Ok(message))) => message,
                };
                if let Some(connection) = api.connections.get(&id) {
                    *connection.last_active_at.lock().unwrap() = OffsetDateTime::now_utc();
                }
                let (body, base64) = match message {
                    Message::Text(text) => (text.to_string(), false),
                    Message::Binary(data) => (STANDARD.encode(&data), true),
                    Message::Close(frame) => {
                        if let Some(frame) = frame {
                            (close_code, close_reason) = (frame.code, frame.reason.to_string());
                        }
                        break;
                    }
                    Message::Ping(_) | Message::Pong(_) => continue,
                };
                let Some((route_key, function)) = api.route_for((!base64).then_some(body.as_str())) else {
                    let reply = json!({"message": "Forbidden", "connectionId": id, "requestId": gateway_id()}).to_string();
                    let _ = sink.send(Message::Text(reply.into())).await;
                    continue;
                };
                let mut context = context(&route_key, "MESSAGE", &id, connected_at, &peer, &user_agent);
                context["messageId"] = Value::String(gateway_id());
                let event = json!({ "requestContext": context, "body": body, "isBase64Encoded": base64 });
                // Messages are handled concurrently, as API Gateway invokes them: pushes and
                // further messages keep flowing while a handler runs.
                let (connections, id) = (api.connections.clone(), id.clone());
                tokio::spawn(async move {
                    if let Err(error) = function.invoke(Bytes::from(event.to_string())).await {
                        logs::system("websocket", &format!("{route_key} failed for {id}: {error:?}"));
                        let reply = json!({"message": "Internal server error", "connectionId": id, "requestId": gateway_id()});
                        connections.send(&id, Bytes::from(reply.to_string()));
                    }
                });
            }
            Some(out) = outgoing.recv() => match out {
                Outgoing::Data(data) => {
                    let message = match String::from_utf8(data.to_vec()) {
                        Ok(text) => Message::Text(text.into()),
                        Err(_) => Message::Binary(data),
                    };
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close => {
                    let _ = sink.send(Message::Close(Some(CloseFrame { code: 1000, reason: "".into() }))).await;
                    (close_code, close_reason) = (1000, "Closed by the server".into());
                    break;
                }
            }
        }
    }
    api.connections.live.lock().unwrap().remove(&id);
    logs::system("websocket", &format!("disconnected {id} ({close_code})"));
    disconnect(
        &api,
        &id,
        connected_at,
        &peer,
        &user_agent,
        close_code,
        &close_reason,
    )
    .await;
}

/// Sends `$disconnect`, best effort, as API Gateway does.
async fn disconnect(
    api: &WebSocketApi,
    id: &str,
    connected_at: i64,
    peer: &str,
    user_agent: &str,
    code: u16,
    reason: &str,
) {
    let Some(function) = api.routes.get("$disconnect") else {
        return;
    };
    let mut context = context(
        "$disconnect",
        "DISCONNECT",
        id,
        connected_at,
        peer,
        user_agent,
    );
    context["disconnectStatusCode"] = json!(code);
    context["disconnectReason"] = json!(reason);
    let event = json!({ "headers": { "Host": "127.0.0.1" }, "multiValueHeaders": { "Host": ["127.0.0.1"] }, "requestContext": context, "isBase64Encoded": false });
    if let Err(error) = function.invoke(Bytes::from(event.to_string())).await {
        logs::system(
            "websocket",
            &format!("$disconnect failed for {id}: {error:?}"),
        );
    }
}
