//! An in-process client of a function's router: real requests, no network, problem+json
//! checked on every error answer.

use axum::Router;
use axum::body::Body;
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// Calls one function's router in process.
#[derive(Clone)]
pub struct ApiClient {
    router: Router,
}

/// What a route answered.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    /// The JSON body; `null` when empty, a string when it is not JSON.
    pub body: Value,
    /// Whether the body was JSON (or empty).
    pub is_json: bool,
}

impl Reply {
    /// The body, after checking the status.
    #[track_caller]
    pub fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.body
    }

    /// The problem document, after checking the status, the content type and every member of
    /// RFC 9457's shape that the API promises.
    #[track_caller]
    pub fn expect_problem(self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.headers["content-type"], "application/problem+json");
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status.as_u16());
        assert!(self.body["type"].as_str().unwrap().ends_with(code));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        self.body
    }

    /// Status and body, for tests that branch on the status. The body must be JSON (or empty),
    /// and an error answer a problem document of that status.
    #[track_caller]
    pub fn into_parts(self) -> (StatusCode, Value) {
        assert!(self.is_json, "a JSON body expected: {}", self.body);
        if self.status.is_client_error() || self.status.is_server_error() {
            assert_eq!(
                self.body["status"],
                self.status.as_u16(),
                "problem+json expected: {}",
                self.body
            );
        }
        (self.status, self.body)
    }
}

impl ApiClient {
    pub fn new(router: Router) -> Self {
        Self { router }
    }

    /// A request to build: `client.request(Method::GET, "/v1/me").user("ann").send().await`.
    pub fn request(&self, method: Method, path: &str) -> Call<'_> {
        Call {
            client: self,
            request: Request::builder().method(method).uri(path),
            body: None,
        }
    }

    /// Sends a request as it is.
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let (body, is_json) = if bytes.is_empty() {
            (Value::Null, true)
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(json) => (json, true),
                Err(_) => (Value::String(String::from_utf8_lossy(&bytes).into()), false),
            }
        };
        Reply {
            status,
            headers,
            body,
            is_json,
        }
    }

    /// The common call of the suites: a bearer token (a JWT or an API key), an optional active
    /// organization, an optional JSON body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: &str,
        org: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        let mut call = self.request(method, path).bearer(token);
        if let Some(org) = org {
            call = call.org(org);
        }
        if let Some(body) = body {
            call = call.json(body);
        }
        call.send().await
    }
}

impl ApiClient {
    /// A call as `user` (a local token of theirs) in the active organization `org`: status and
    /// body, an error checked to be a problem document.
    pub async fn as_member(
        &self,
        method: Method,
        path: &str,
        user: &str,
        org: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let token = crate::token(user, serde_json::json!({}));
        self.with_token(method, path, &token, Some(org), body).await
    }

    /// A call with any bearer token (a JWT or an API key), with or without an active
    /// organization: status and body, an error checked to be a problem document.
    pub async fn with_token(
        &self,
        method: Method,
        path: &str,
        token: &str,
        org: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        self.call(method, path, token, org, body).await.into_parts()
    }
}

/// A request being built.
pub struct Call<'a> {
    client: &'a ApiClient,
    request: http::request::Builder,
    body: Option<String>,
}

impl Call<'_> {
    /// As `user`, with a local token of theirs.
    pub fn user(self, user: &str) -> Self {
        self.bearer(&crate::token(user, serde_json::json!({})))
    }

    /// With this bearer token (a JWT or an API key).
    pub fn bearer(self, token: &str) -> Self {
        self.header("authorization", &format!("Bearer {token}"))
    }

    /// In this active organization (`X-Org-Id`).
    pub fn org(self, org: &str) -> Self {
        self.header("x-org-id", org)
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.request = self.request.header(name, value);
        self
    }

    /// A JSON body, sent as it is written (so tests can send bytes no serializer would).
    pub fn json(self, body: &str) -> Self {
        self.body("application/json", body)
    }

    /// A body of any media type, as it is written.
    pub fn body(mut self, content_type: &str, body: &str) -> Self {
        self.request = self.request.header("content-type", content_type);
        self.body = Some(body.to_owned());
        self
    }

    pub async fn send(self) -> Reply {
        let request = self
            .request
            .body(Body::from(self.body.unwrap_or_default()))
            .unwrap();
        self.client.send(request).await
    }
}
