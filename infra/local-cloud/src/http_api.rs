//! API Gateway HTTP API (payload format 2.0): routes from the template, CORS, an optional JWT
//! authorizer, and responses mapped back as API Gateway maps them.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Map, Value, json};

use crate::events::{gateway_id, now_ms, percent_decode, query_parameters, request_time};
use crate::jwt::JwtAuthorizer;
use crate::logs;
use crate::runtime::{Function, InvokeError};

/// API Gateway's payload limit for HTTP APIs.
const MAX_PAYLOAD: usize = 10 * 1024 * 1024;
/// API Gateway's HTTP API quota "total combined size of request line and header values".
/// (AWS does not document the answer beyond the request failing; this is 431.)
pub const MAX_REQUEST_LINE_AND_HEADERS: usize = 10_240;
/// API Gateway's maximum integration timeout for HTTP APIs.
const INTEGRATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

pub struct HttpRoute {
    /// `GET`, `POST`, ... or `ANY`.
    pub method: String,
    /// The template's path, e.g. `/v1/orgs/{id}`, or `$default`.
    pub path: String,
    pub function: Arc<Function>,
    /// Whether the JWT authorizer guards this route.
    pub authorized: bool,
}

#[derive(Clone, Debug, Default)]
pub struct Cors {
    pub allow_origins: Vec<String>,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: Option<u64>,
    pub allow_credentials: bool,
}

impl Cors {
    fn allows(&self, origin: &str) -> bool {
        self.allow_origins
            .iter()
            .any(|o| o == "*" || o.eq_ignore_ascii_case(origin))
    }
}

pub struct HttpApi {
    routes: Vec<HttpRoute>,
    matcher: matchit::Router<Vec<usize>>,
    default_route: Option<usize>,
    cors: Option<Cors>,
    authorizer: Option<JwtAuthorizer>,
}

/// `{proxy+}` (API Gateway's greedy parameter) is `{*proxy}` to the matcher.
fn matcher_path(path: &str) -> String {
    path.split('/')
        .map(
            |segment| match segment.strip_prefix('{').and_then(|s| s.strip_suffix("+}")) {
                Some(name) => format!("{{*{name}}}"),
                None => segment.to_owned(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

impl HttpApi {
    pub fn new(
        routes: Vec<HttpRoute>,
        cors: Option<Cors>,
        authorizer: Option<JwtAuthorizer>,
    ) -> Result<Self, String> {
        let mut by_path: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        let mut default_route = None;
        for (i, route) in routes.iter().enumerate() {
            if route.path == "$default" {
                default_route = Some(i);
            } else {
                by_path
                    .entry(matcher_path(&route.path))
                    .or_default()
                    .push(i);
            }
        }
        let mut matcher = matchit::Router::new();
        for (path, indexes) in by_path {
            matcher
                .insert(path.clone(), indexes)
                .map_err(|e| format!("route {path}: {e}"))?;
        }
        Ok(Self {
            routes,
            matcher,
            default_route,
            cors,
            authorizer,
        })
    }

    pub fn router(self: Arc<Self>) -> axum::Router {
        axum::Router::new().fallback(handle).with_state(self)
    }

    fn find(&self, method: &str, path: &str) -> Option<(usize, Vec<(String, String)>)> {
        if let Ok(found) = self.matcher.at(path) {
            let params: Vec<(String, String)> = found
                .params
                .iter()
                .map(|(k, v)| (k.to_owned(), percent_decode(v, false)))
                .collect();
            let exact = found
                .value
                .iter()
                .find(|i| self.routes[**i].method == method);
            let any = found
                .value
                .iter()
                .find(|i| self.routes[**i].method == "ANY");
            if let Some(i) = exact.or(any) {
                return Some((*i, params));
            }
        }
        self.default_route.map(|i| (i, Vec::new()))
    }
}

fn message(status: StatusCode, text: &str) -> Response {
    let mut response = (status, json!({ "message": text }).to_string()).into_response();
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("application/json"));
    response
}

fn header_map_to_json(headers: &HeaderMap) -> (Map<String, Value>, Vec<String>) {
    let mut joined: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(str::trim)
                    .filter(|c| !c.is_empty())
                    .map(str::to_owned),
            );
            continue;
        }
        joined
            .entry(name.as_str().to_ascii_lowercase())
            .or_default()
            .push(value);
    }
    (
        joined
            .into_iter()
            .map(|(k, v)| (k, Value::String(v.join(","))))
            .collect(),
        cookies,
    )
}

/// The API Gateway payload 2.0 event for a request.
#[allow(clippy::too_many_arguments)]
pub fn build_event(
    method: &str,
    raw_path: &str,
    raw_query: &str,
    headers: &HeaderMap,
    body: &[u8],
    route_key: &str,
    path_parameters: &[(String, String)],
    source_ip: &str,
    claims: Option<Map<String, Value>>,
) -> Value {
    let (mut header_json, cookies) = header_map_to_json(headers);
    // API Gateway adds where the request came from.
    for (name, value) in [
        ("x-forwarded-for", source_ip),
        ("x-forwarded-proto", "http"),
        ("x-forwarded-port", "80"),
    ] {
        header_json
            .entry(name)
            .or_insert_with(|| Value::String(value.to_owned()));
    }
    header_json.insert(
        "x-amzn-trace-id".into(),
        Value::String(format!(
            "Root=1-{:08x}-{}",
            now_ms() / 1000,
            gateway_id().replace(['+', '/', '='], "0")
        )),
    );
    let user_agent = header_json
        .get("user-agent")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_owned();
    let host = header_json
        .get("host")
        .and_then(Value::as_str)
        .unwrap_or("127.0.0.1")
        .to_owned();
    let request_id = gateway_id();
    let mut context = json!({
        "accountId": "123456789012",
        "apiId": "local",
        "domainName": host,
        "domainPrefix": host.split('.').next().unwrap_or(&host),
        "http": {
            "method": method,
            "path": raw_path,
            "protocol": "HTTP/1.1",
            "sourceIp": source_ip,
            "userAgent": user_agent,
        },
        "requestId": request_id,
        "routeKey": route_key,
        "stage": "$default",
        "time": request_time(),
        "timeEpoch": now_ms(),
    });
    if let Some(claims) = claims {
        let scopes = claims
            .get("scope")
            .and_then(Value::as_str)
            .map(|s| json!(s.split(' ').collect::<Vec<_>>()));
        context["authorizer"] =
            json!({ "jwt": { "claims": claims, "scopes": scopes.unwrap_or(Value::Null) } });
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": raw_path,
        "rawQueryString": raw_query,
        "headers": header_json,
        "requestContext": context,
        "isBase64Encoded": false,
    });
    if !cookies.is_empty() {
        event["cookies"] = json!(cookies);
    }
    let query = query_parameters(raw_query);
    if !query.is_empty() {
        event["queryStringParameters"] = Value::Object(
            query
                .into_iter()
                .map(|(k, v)| (k, Value::String(v.join(","))))
                .collect(),
        );
    }
    if !path_parameters.is_empty() {
        event["pathParameters"] = Value::Object(
            path_parameters
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect(),
        );
    }
    if !body.is_empty() {
        // Text travels as is; anything that is not UTF-8 is base64, so every byte survives.
        match std::str::from_utf8(body) {
            Ok(text) => event["body"] = Value::String(text.to_owned()),
            Err(_) => {
                event["body"] = Value::String(STANDARD.encode(body));
                event["isBase64Encoded"] = Value::Bool(true);
            }
        }
    }
    event
}

/// Turns a function's answer into the HTTP response API Gateway would send.
pub fn map_response(answer: &[u8]) -> Response {
    let Ok(value) = serde_json::from_slice::<Value>(answer) else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let Some(status) = value.get("statusCode") else {
        // Without a statusCode, API Gateway takes the whole answer as a JSON body.
        let mut response = (StatusCode::OK, answer.to_vec()).into_response();
        response
            .headers_mut()
            .insert("content-type", HeaderValue::from_static("application/json"));
        return response;
    };
    let Some(status) = status
        .as_u64()
        .and_then(|s| u16::try_from(s).ok())
        .and_then(|s| StatusCode::from_u16(s).ok())
    else {
        return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
    };
    let body = match value.get("body") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(text))
            if value.get("isBase64Encoded").and_then(Value::as_bool) == Some(true) =>
        {
            match STANDARD.decode(text) {
                Ok(bytes) => bytes,
                Err(_) => {
                    return message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error");
                }
            }
        }
        Some(Value::String(text)) => text.clone().into_bytes(),
        Some(other) => other.to_string().into_bytes(),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.remove("content-type");
    for (name, value) in value
        .get("headers")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        let text = value
            .as_str()
            .map(str::to_owned)
            .unwrap_or_else(|| value.to_string());
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::from_str(&text),
        ) {
            headers.insert(name, value);
        }
    }
    for (name, values) in value
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
    {
        for value in values
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
        {
            if let (Ok(name), Ok(value)) = (
                HeaderName::try_from(name.as_str()),
                HeaderValue::from_str(value),
            ) {
                headers.append(name, value);
            }
        }
    }
    for cookie in value
        .get("cookies")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if let Ok(cookie) = HeaderValue::from_str(cookie) {
            headers.append("set-cookie", cookie);
        }
    }
    response
}

fn add_cors(cors: &Option<Cors>, origin: Option<&str>, response: &mut Response) {
    let (Some(cors), Some(origin)) = (cors, origin) else {
        return;
    };
    if !cors.allows(origin) {
        return;
    }
    let headers = response.headers_mut();
    let allowed = if cors.allow_origins.iter().any(|o| o == "*") {
        "*".to_owned()
    } else {
        origin.to_owned()
    };
    if let Ok(value) = HeaderValue::from_str(&allowed) {
        headers.insert("access-control-allow-origin", value);
    }
    if cors.allow_credentials {
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
    if let (false, Ok(value)) = (
        cors.expose_headers.is_empty(),
        HeaderValue::from_str(&cors.expose_headers.join(",")),
    ) {
        headers.insert("access-control-expose-headers", value);
    }
    headers.append("vary", HeaderValue::from_static("origin"));
}

fn preflight(cors: &Cors, origin: &str, requested_method: &str) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let method_allowed = cors
        .allow_methods
        .iter()
        .any(|m| m == "*" || m.eq_ignore_ascii_case(requested_method));
    if !cors.allows(origin) || !method_allowed {
        return response;
    }
    let headers = response.headers_mut();
    let allowed = if cors.allow_origins.iter().any(|o| o == "*") {
        "*"
    } else {
        origin
    };
    if let Ok(value) = HeaderValue::from_str(allowed) {
        headers.insert("access-control-allow-origin", value);
    }
    if let Ok(value) = HeaderValue::from_str(&cors.allow_methods.join(",")) {
        headers.insert("access-control-allow-methods", value);
    }
    if let Ok(value) = HeaderValue::from_str(&cors.allow_headers.join(",")) {
        headers.insert("access-control-allow-headers", value);
    }
    if let Some(age) = cors.max_age_secs {
        headers.insert("access-control-max-age", HeaderValue::from(age));
    }
    if cors.allow_credentials {
        headers.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
    response
}

async fn handle(
    State(api): State<Arc<HttpApi>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    request: Request,
) -> Response {
    let started = std::time::Instant::now();
    let method = request.method().clone();
    let raw_path = request.uri().path().to_owned();
    let raw_query = request.uri().query().unwrap_or("").to_owned();
    let origin = request
        .headers()
        .get("origin")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let response = respond(&api, peer, request).await;
    let mut response = response;
    add_cors(&api.cors, origin.as_deref(), &mut response);
    logs::system(
        "http",
        &format!(
            "{method} {raw_path}{} -> {} ({:.1} ms)",
            if raw_query.is_empty() {
                String::new()
            } else {
                format!("?{raw_query}")
            },
            response.status().as_u16(),
            started.elapsed().as_secs_f64() * 1000.0
        ),
    );
    response
}

/// The size API Gateway's quota counts: the request line and the header values.
fn request_line_and_header_values(parts: &http::request::Parts) -> usize {
    let target = parts.uri.path_and_query().map_or(1, |p| p.as_str().len());
    let request_line = parts.method.as_str().len() + 1 + target + " HTTP/1.1".len();
    request_line + parts.headers.values().map(|v| v.len()).sum::<usize>()
}

async fn respond(api: &HttpApi, peer: SocketAddr, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    if request_line_and_header_values(&parts) > MAX_REQUEST_LINE_AND_HEADERS {
        return message(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request Header Fields Too Large",
        );
    }
    let method = parts.method.as_str().to_owned();
    if let (Some(cors), true) = (&api.cors, parts.method == Method::OPTIONS) {
        let origin = parts.headers.get("origin").and_then(|v| v.to_str().ok());
        let requested = parts
            .headers
            .get("access-control-request-method")
            .and_then(|v| v.to_str().ok());
        if let (Some(origin), Some(requested)) = (origin, requested) {
            return preflight(cors, origin, requested);
        }
    }
    let body = match axum::body::to_bytes(Body::new(body), MAX_PAYLOAD).await {
        Ok(body) => body,
        Err(_) => return message(StatusCode::PAYLOAD_TOO_LARGE, "Request Entity Too Large"),
    };
    let raw_path = parts.uri.path().to_owned();
    let Some((index, path_parameters)) = api.find(&method, &raw_path) else {
        return message(StatusCode::NOT_FOUND, "Not Found");
    };
    let route = &api.routes[index];
    let route_key = if route.path == "$default" {
        "$default".to_owned()
    } else {
        format!("{} {}", route.method, route.path)
    };
    let claims = if route.authorized {
        match api.authorizer.as_ref().map(|a| a.authorize(&parts.headers)) {
            Some(Ok(claims)) => Some(claims),
            Some(Err(_)) => return message(StatusCode::UNAUTHORIZED, "Unauthorized"),
            None => None,
        }
    } else {
        None
    };
    let event = build_event(
        &method,
        &raw_path,
        parts.uri.query().unwrap_or(""),
        &parts.headers,
        &body,
        &route_key,
        &path_parameters,
        &peer.ip().to_string(),
        claims,
    );
    // API Gateway gives up on an integration after 30 seconds, whatever the function's timeout.
    let invocation = route.function.invoke(Bytes::from(event.to_string()));
    match tokio::time::timeout(INTEGRATION_TIMEOUT, invocation).await {
        Ok(Ok(answer)) => map_response(&answer),
        // A handler error, a crash, an init failure or the function's own timeout are all
        // function errors to API Gateway.
        Ok(Err(
            InvokeError::Function(_)
            | InvokeError::Init(_)
            | InvokeError::Crashed(_)
            | InvokeError::Timeout,
        )) => message(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error"),
        Ok(Err(InvokeError::Spawn(_))) => message(StatusCode::BAD_GATEWAY, "Internal Server Error"),
        Err(_) => message(StatusCode::SERVICE_UNAVAILABLE, "Service Unavailable"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greedy_parameters_become_catch_alls() {
        assert_eq!(matcher_path("/files/{proxy+}"), "/files/{*proxy}");
        assert_eq!(matcher_path("/v1/orgs/{id}"), "/v1/orgs/{id}");
    }

    #[test]
    fn events_carry_the_body_byte_exact() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "Content-Type",
            HeaderValue::from_static("application/octet-stream"),
        );
        headers.append("X-Multi", HeaderValue::from_static("a"));
        headers.append("X-Multi", HeaderValue::from_static("b"));
        headers.insert("cookie", HeaderValue::from_static("a=1; b=2"));
        let body = [0u8, 159, 146, 150, b'{'];
        let event = build_event(
            "POST",
            "/v1/x%20y",
            "q=1&q=2",
            &headers,
            &body,
            "POST /v1/{p}",
            &[("p".into(), "x y".into())],
            "127.0.0.1",
            None,
        );
        assert_eq!(event["isBase64Encoded"], true);
        assert_eq!(
            STANDARD.decode(event["body"].as_str().unwrap()).unwrap(),
            body
        );
        assert_eq!(event["headers"]["x-multi"], "a,b");
        assert_eq!(event["cookies"], json!(["a=1", "b=2"]));
        assert!(event["headers"].get("cookie").is_none());
        assert_eq!(event["queryStringParameters"]["q"], "1,2");
        assert_eq!(event["rawQueryString"], "q=1&q=2");
        assert_eq!(event["pathParameters"]["p"], "x y");
        assert_eq!(event["requestContext"]["routeKey"], "POST /v1/{p}");

        let text = build_event(
            "POST",
            "/",
            "",
            &HeaderMap::new(),
            "{\"a\":\"é\"}".as_bytes(),
            "$default",
            &[],
            "127.0.0.1",
            None,
        );
        assert_eq!(text["isBase64Encoded"], false);
        assert_eq!(text["body"], "{\"a\":\"é\"}");
    }

    #[tokio::test]
    async fn responses_map_back_with_headers_cookies_and_base64() {
        let answer = json!({
            "statusCode": 201,
            "headers": {"content-type": "image/png", "x-one": "1"},
            "cookies": ["a=1; Path=/", "b=2"],
            "body": STANDARD.encode([1u8, 2, 3]),
            "isBase64Encoded": true
        });
        let response = map_response(answer.to_string().as_bytes());
        assert_eq!(response.status(), 201);
        assert_eq!(response.headers()["content-type"], "image/png");
        assert_eq!(response.headers().get_all("set-cookie").iter().count(), 2);
        let body = axum::body::to_bytes(response.into_body(), 100)
            .await
            .unwrap();
        assert_eq!(&body[..], &[1, 2, 3]);

        let bare = map_response(br#"{"hello":"world"}"#);
        assert_eq!(bare.status(), 200);
        assert_eq!(bare.headers()["content-type"], "application/json");
        assert_eq!(map_response(b"not json").status(), 500);
        assert_eq!(map_response(br#"{"statusCode": 99999}"#).status(), 500);
    }
}
