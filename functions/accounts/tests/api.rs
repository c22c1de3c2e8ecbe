//! The accounts routes end to end against DynamoDB Local (started by the test command): the
//! router is called with real requests, each test on its own fresh table.

use accounts_function::{App, router};
use axum::Router;
use axum::body::Body;
use clock::{Clock, Duration};
use http::{HeaderMap, Method, Request, StatusCode};
use serde_json::{Value, json};
use store::Store;
use tower::ServiceExt;

struct Api {
    router: Router,
    store: Store,
    clock: Clock,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Reply {
    #[track_caller]
    fn expect(self, status: StatusCode) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        self.body
    }

    #[track_caller]
    fn expect_problem(self, status: StatusCode, code: &str) -> Value {
        assert_eq!(self.status, status, "body: {}", self.body);
        assert_eq!(self.headers["content-type"], "application/problem+json");
        assert_eq!(self.body["code"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status.as_u16());
        assert!(self.body["type"].as_str().unwrap().ends_with(code));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        self.body
    }
}

async fn api() -> Api {
    api_with(Clock::manual(clock::DateTime::now_utc())).await
}

async fn api_with(clock: Clock) -> Api {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let settings = test_support::local_settings(&table);
    let app = App::new(&settings, client, clock.clone(), 365);
    let store = app.store().clone();
    Api {
        router: router(app, &settings.cors_allowed_origins),
        store,
        clock,
    }
}

fn bearer(user: &str) -> String {
    format!("Bearer {}", test_support::token(user, json!({})))
}

impl Api {
    async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or(Value::String(String::from_utf8_lossy(&bytes).into()))
        };
        Reply {
            status,
            headers,
            body,
        }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        self.call_with(method, path, user, &[], body).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(path);
        if let Some(user) = user {
            request = request.header("authorization", bearer(user));
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(
            request
                .body(Body::from(body.unwrap_or_default().to_owned()))
                .unwrap(),
        )
        .await
    }

    async fn create_org(&self, user: &str, name: &str) -> Value {
        self.call(
            Method::POST,
            "/v1/orgs",
            Some(user),
            Some(&json!({ "name": name }).to_string()),
        )
        .await
        .expect(StatusCode::CREATED)
    }

    /// Adds `user` to `org` with `role`, as the team function will on an accepted invitation.
    async fn add_member(&self, org: &str, user: &str, role: &str) {
        let now = self.clock.now();
        let membership = auth::records::MembershipRecord {
            org_id: org.into(),
            user_id: user.into(),
            role: serde_json::from_value(json!(role)).unwrap(),
            joined_at: now,
        };
        let transaction = accounts::counters::member_joined_directly(&membership).unwrap();
        self.store.transact(transaction).await.unwrap();
    }

    async fn activity(&self, org: &str) -> Vec<audit::ActivityEntry> {
        let query = store::Query {
            name: "test",
            partition: store::keys::activities(store::keys::OrgId(org)),
            limit: 100,
            cursor: None,
            newest_first: false,
            sort_range: None,
            filter: None,
            index: None,
        };
        self.store.query(query).await.unwrap().items
    }
}

#[tokio::test]
async fn health_and_openapi_are_public() {
    let api = api().await;
    assert_eq!(
        api.call(Method::GET, "/v1/health", None, None)
            .await
            .expect(StatusCode::OK),
        json!({"status": "ok"})
    );
    let document = api
        .call(Method::GET, "/v1/openapi.json", None, None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["paths"]["/v1/orgs"]["post"].is_object());
}

#[tokio::test]
async fn every_private_route_needs_a_valid_token() {
    let api = api().await;
    let routes = [
        (Method::GET, "/v1/orgs"),
        (Method::POST, "/v1/orgs"),
        (Method::PATCH, "/v1/orgs/01JD3YQ9V4Z8K2M6N0P3R5T7W9"),
        (Method::GET, "/v1/me"),
        (Method::PATCH, "/v1/me"),
    ];
    let expired = test_support::token("u1", json!({"exp": 1_000_000}));
    let wrong_audience = test_support::token("u1", json!({"aud": "someone-else"}));
    for (method, path) in routes {
        let body = Some(r#"{"name":"x"}"#);
        api.call(method.clone(), path, None, body)
            .await
            .expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        for token in [&expired, &wrong_audience, &"garbage".to_owned()] {
            let reply = api
                .call_with(
                    method.clone(),
                    path,
                    None,
                    &[("authorization", &format!("Bearer {token}"))],
                    body,
                )
                .await;
            reply.expect_problem(StatusCode::UNAUTHORIZED, "unauthorized");
        }
    }
}

#[tokio::test]
async fn create_list_and_rename_an_organization() {
    let api = api().await;
    let org = api.create_org("alice", "  Acme  ").await;
    assert_eq!(org["name"], "Acme");
    assert_eq!(org["plan"], "free");
    assert_eq!(org["role"], "owner");
    assert!(ulid::Ulid::from_string(org["id"].as_str().unwrap()).is_ok());
    assert!(clock::parse_rfc3339(org["created_at"].as_str().unwrap()).is_some());

    let list = api
        .call(Method::GET, "/v1/orgs", Some("alice"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"], json!([org]));
    assert_eq!(list["next_cursor"], Value::Null);

    let id = org["id"].as_str().unwrap();
    // Entries of the same millisecond have no defined order; the manual clock stands still.
    api.clock.advance(Duration::seconds(1));
    let renamed = api
        .call(
            Method::PATCH,
            &format!("/v1/orgs/{id}"),
            Some("alice"),
            Some(r#"{"name":"Acme Inc"}"#),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["name"], "Acme Inc");
    assert_eq!(renamed["created_at"], org["created_at"]);

    // Both changes are in the activity log, written with the change.
    let actions: Vec<_> = api
        .activity(id)
        .await
        .into_iter()
        .map(|e| (e.action, e.actor_id, e.metadata))
        .collect();
    assert_eq!(actions[0].0, "org.created");
    assert_eq!(
        actions[1],
        (
            "org.renamed".into(),
            "alice".into(),
            json!({"from": "Acme", "to": "Acme Inc"})
                .as_object()
                .unwrap()
                .clone()
        )
    );
}

#[tokio::test]
async fn organizations_are_paginated_with_cursors_bound_to_the_caller() {
    let api = api().await;
    for name in ["One", "Two", "Three"] {
        api.create_org("alice", name).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs?limit=2&cursor={c}"),
            None => "/v1/orgs?limit=2".to_owned(),
        };
        let page = api
            .call(Method::GET, &path, Some("alice"), None)
            .await
            .expect(StatusCode::OK);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    names.sort();
    assert_eq!(names, ["One", "Three", "Two"]);

    // A cursor of Alice's list is refused in Bob's, and a garbled one is refused too.
    let page = api
        .call(Method::GET, "/v1/orgs?limit=1", Some("alice"), None)
        .await
        .expect(StatusCode::OK);
    let alices = page["next_cursor"].as_str().unwrap();
    api.call(
        Method::GET,
        &format!("/v1/orgs?cursor={alices}"),
        Some("bob"),
        None,
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    api.call(
        Method::GET,
        &format!("/v1/orgs?cursor={}x", &alices[..alices.len() - 4]),
        Some("alice"),
        None,
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
}

#[tokio::test]
async fn only_owners_and_admins_rename_and_strangers_see_nothing() {
    let api = api().await;
    let org = api.create_org("owner", "Acme").await;
    let id = org["id"].as_str().unwrap();
    let path = format!("/v1/orgs/{id}");
    for (user, role) in [
        ("admin", "admin"),
        ("member", "member"),
        ("viewer", "viewer"),
    ] {
        api.add_member(id, user, role).await;
    }
    api.call(
        Method::PATCH,
        &path,
        Some("admin"),
        Some(r#"{"name":"By admin"}"#),
    )
    .await
    .expect(StatusCode::OK);
    for user in ["member", "viewer"] {
        api.call(Method::PATCH, &path, Some(user), Some(r#"{"name":"Nope"}"#))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    // Someone outside the organization learns nothing about it, not even that it exists.
    let stranger = api
        .call(
            Method::PATCH,
            &path,
            Some("stranger"),
            Some(r#"{"name":"Mine"}"#),
        )
        .await;
    let body = stranger.expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(!body.to_string().contains("By admin"));
    api.call(
        Method::PATCH,
        "/v1/orgs/not-an-id",
        Some("owner"),
        Some(r#"{"name":"x"}"#),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let list = api
        .call(Method::GET, "/v1/orgs", Some("viewer"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"][0]["role"], "viewer");
    assert_eq!(list["items"][0]["name"], "By admin");
    let list = api
        .call(Method::GET, "/v1/orgs", Some("stranger"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"], json!([]));
    // Only the successful renames are in the log.
    assert_eq!(api.activity(id).await.len(), 2);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_creation() {
    let api = api().await;
    let headers = [("idempotency-key", "create-acme-1")];
    let first = api
        .call_with(
            Method::POST,
            "/v1/orgs",
            Some("alice"),
            &headers,
            Some(r#"{"name":"Acme"}"#),
        )
        .await
        .expect(StatusCode::CREATED);
    let again = api
        .call_with(
            Method::POST,
            "/v1/orgs",
            Some("alice"),
            &headers,
            Some(r#"{"name":"Acme"}"#),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(first, again);
    let list = api
        .call(Method::GET, "/v1/orgs", Some("alice"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    api.call_with(
        Method::POST,
        "/v1/orgs",
        Some("alice"),
        &headers,
        Some(r#"{"name":"Other"}"#),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "idempotency_key_reused");
    // Keys are per user: Bob's identical key creates Bob's own organization.
    let bobs = api
        .call_with(
            Method::POST,
            "/v1/orgs",
            Some("bob"),
            &headers,
            Some(r#"{"name":"Acme"}"#),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_ne!(bobs["id"], first["id"]);
    api.call_with(
        Method::POST,
        "/v1/orgs",
        Some("alice"),
        &[("idempotency-key", "")],
        Some(r#"{"name":"Acme"}"#),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_header");
}

#[tokio::test]
async fn profile_is_created_on_first_sight_and_patched() {
    let api = api().await;
    let me = api
        .call(Method::GET, "/v1/me", Some("carol"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["id"], "carol");
    assert_eq!(me["email"], "carol@example.com");
    assert_eq!(me["name"], "User carol");
    assert_eq!(me["avatar_url"], Value::Null);
    assert_eq!(me["preferences"], json!({}));
    assert_eq!(me["created_at"], me["last_active_at"]);

    let patch = json!({
        "name": "Carol", "avatar_url": "https://cdn.example.com/c.png", "job_title": "CTO",
        "preferences": {"theme": "dark", "locale": "en"}
    });
    let updated = api
        .call(
            Method::PATCH,
            "/v1/me",
            Some("carol"),
            Some(&patch.to_string()),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated["name"], "Carol");
    assert_eq!(updated["job_title"], "CTO");
    assert_eq!(
        updated["preferences"],
        json!({"theme": "dark", "locale": "en"})
    );

    // null clears; preferences merge key by key.
    let patch = json!({"avatar_url": null, "preferences": {"theme": null, "density": "compact"}});
    let updated = api
        .call(
            Method::PATCH,
            "/v1/me",
            Some("carol"),
            Some(&patch.to_string()),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(updated["avatar_url"], Value::Null);
    assert_eq!(updated["job_title"], "CTO");
    assert_eq!(
        updated["preferences"],
        json!({"locale": "en", "density": "compact"})
    );
    let me = api
        .call(Method::GET, "/v1/me", Some("carol"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me, updated);
}

#[tokio::test]
async fn last_active_at_is_written_at_most_once_a_minute() {
    let api = api().await;
    let first = api
        .call(Method::GET, "/v1/me", Some("dave"), None)
        .await
        .expect(StatusCode::OK);
    let before = api.store.round_trips();
    api.clock.advance(Duration::seconds(30));
    let same = api
        .call(Method::GET, "/v1/me", Some("dave"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(same["last_active_at"], first["last_active_at"]);
    assert_eq!(
        api.store.round_trips() - before,
        1,
        "a fresh user costs one read and no write"
    );

    api.clock.advance(Duration::seconds(31));
    let later = api
        .call(Method::GET, "/v1/me", Some("dave"), None)
        .await
        .expect(StatusCode::OK);
    let expected = clock::rfc3339(api.clock.now());
    assert_eq!(later["last_active_at"], expected.as_str());
    assert_eq!(later["created_at"], first["created_at"]);
}

#[tokio::test]
async fn bad_input_is_a_problem_and_changes_nothing() {
    let api = api().await;
    let org = api.create_org("erin", "Acme").await;
    let org_path = format!("/v1/orgs/{}", org["id"].as_str().unwrap());
    let profile_before = api
        .call(Method::GET, "/v1/me", Some("erin"), None)
        .await
        .expect(StatusCode::OK);

    let long = "x".repeat(101);
    let cases: Vec<(Method, &str, String, &str)> = vec![
        (Method::POST, "/v1/orgs", "{".into(), "invalid_body"),
        (Method::POST, "/v1/orgs", "".into(), "invalid_body"),
        (Method::POST, "/v1/orgs", "[]".into(), "invalid_body"),
        (
            Method::POST,
            "/v1/orgs",
            r#"{"name":"A","plan":"pro"}"#.into(),
            "invalid_body",
        ),
        (
            Method::POST,
            "/v1/orgs",
            r#"{"name":42}"#.into(),
            "invalid_body",
        ),
        (Method::POST, "/v1/orgs", r#"{}"#.into(), "invalid_body"),
        (
            Method::POST,
            "/v1/orgs",
            r#"{"name":"   "}"#.into(),
            "validation_failed",
        ),
        (
            Method::POST,
            "/v1/orgs",
            format!(r#"{{"name":"{long}"}}"#),
            "validation_failed",
        ),
        (
            Method::PATCH,
            &org_path,
            r#"{"name":""}"#.into(),
            "validation_failed",
        ),
        (
            Method::PATCH,
            &org_path,
            r#"{"name":"B","id":"x"}"#.into(),
            "invalid_body",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"avatar_url":"http://insecure.example.com/a.png"}"#.into(),
            "validation_failed",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"avatar_url":"not a url"}"#.into(),
            "validation_failed",
        ),
        (
            Method::PATCH,
            "/v1/me",
            format!(r#"{{"job_title":"{long}"}}"#),
            "validation_failed",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"name":""}"#.into(),
            "validation_failed",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"email":"x@example.com"}"#.into(),
            "invalid_body",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"preferences":[1,2]}"#.into(),
            "invalid_body",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"name":"Ok","job_title":7}"#.into(),
            "invalid_body",
        ),
    ];
    for (method, path, body, code) in cases {
        let reply = api
            .call(method.clone(), path, Some("erin"), Some(&body))
            .await;
        assert!(
            reply.status.is_client_error(),
            "{method} {path} {body}: {}",
            reply.status
        );
        reply.expect_problem(StatusCode::BAD_REQUEST, code);
    }
    let validation = api
        .call(
            Method::PATCH,
            "/v1/me",
            Some("erin"),
            Some(&format!(r#"{{"name":"","job_title":"{long}"}}"#)),
        )
        .await;
    let body = validation.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(body["errors"].as_array().unwrap().len(), 2, "{body}");

    // Oversize, wrong media type, bad query parameters.
    let huge = format!(r#"{{"name":"{}"}}"#, "x".repeat(300 * 1024));
    api.call(Method::POST, "/v1/orgs", Some("erin"), Some(&huge))
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    api.call_with(
        Method::POST,
        "/v1/orgs",
        Some("erin"),
        &[("content-type", "text/plain")],
        None,
    )
    .await
    .expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    for query in ["limit=0", "limit=101", "limit=abc", "limit=-1", "sort=name"] {
        let reply = api
            .call(
                Method::GET,
                &format!("/v1/orgs?{query}"),
                Some("erin"),
                None,
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{query}: {}",
            reply.body
        );
    }
    // A body over the limit without a Content-Length is cut off at the limit, not buffered.
    let chunks = futures_chunks(300 * 1024);
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/orgs")
        .header("authorization", bearer("erin"))
        .header("content-type", "application/json")
        .body(Body::from_stream(chunks))
        .unwrap();
    api.send(request)
        .await
        .expect_problem(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large");
    // Map keys DynamoDB cannot store (found by schemathesis: it was a 500).
    api.call(
        Method::PATCH,
        "/v1/me",
        Some("erin"),
        Some(r#"{"preferences":{"":true}}"#),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    // Numbers DynamoDB cannot store, and paths that are not text.
    api.call(
        Method::PATCH,
        "/v1/me",
        Some("erin"),
        Some(r#"{"preferences":{"x":1e300}}"#),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    api.call(
        Method::PATCH,
        "/v1/orgs/%FF%FE",
        Some("erin"),
        Some(r#"{"name":"x"}"#),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_path");
    // Unknown routes and methods are problems too.
    api.call(Method::GET, "/v1/nothing-here", Some("erin"), None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    api.call(Method::DELETE, "/v1/me", Some("erin"), None)
        .await
        .expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    // Nothing changed.
    let list = api
        .call(Method::GET, "/v1/orgs", Some("erin"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"], json!([org]));
    let profile_after = api
        .call(Method::GET, "/v1/me", Some("erin"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(profile_after, profile_before);
    assert_eq!(api.activity(org["id"].as_str().unwrap()).await.len(), 1);
}

/// A streamed body of `size` bytes with no declared length.
fn futures_chunks(
    size: usize,
) -> impl futures_util::Stream<Item = Result<Vec<u8>, std::io::Error>> + Send + 'static {
    let mut body = br#"{"name":""#.to_vec();
    body.resize(size, b'x');
    let chunks: Vec<_> = body.chunks(16 * 1024).map(|c| Ok(c.to_vec())).collect();
    futures_util::stream::iter(chunks)
}

#[tokio::test]
async fn merged_preferences_stay_bounded() {
    let api = api().await;
    let chunk = "p".repeat(6 * 1024);
    for i in 0..2 {
        let body = json!({ "preferences": { format!("k{i}"): chunk } }).to_string();
        api.call(Method::PATCH, "/v1/me", Some("hank"), Some(&body))
            .await
            .expect(StatusCode::OK);
    }
    let body = json!({ "preferences": { "k2": chunk } }).to_string();
    let problem = api
        .call(Method::PATCH, "/v1/me", Some("hank"), Some(&body))
        .await;
    let problem = problem.expect_problem(StatusCode::BAD_REQUEST, "validation_failed");
    assert_eq!(problem["errors"][0]["field"], "preferences");
    let me = api
        .call(Method::GET, "/v1/me", Some("hank"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(me["preferences"].as_object().unwrap().len(), 2);
}

#[tokio::test]
async fn cors_preflight_is_answered_without_auth() {
    let api = api().await;
    let preflight = Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/orgs")
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,x-org-id",
        )
        .body(Body::empty())
        .unwrap();
    let reply = api.send(preflight).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert!(
        reply.headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("POST")
    );
    assert!(
        reply.headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("x-org-id")
    );

    let foreign = Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/orgs")
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .body(Body::empty())
        .unwrap();
    assert!(
        api.send(foreign)
            .await
            .headers
            .get("access-control-allow-origin")
            .is_none()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_first_requests_create_one_user() {
    // A running clock: were the creation not conditional, the racers would store different times.
    let api = std::sync::Arc::new(api_with(Clock::system()).await);
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..8 {
        let api = api.clone();
        tasks.spawn(async move {
            api.call(Method::GET, "/v1/me", Some("frank"), None)
                .await
                .expect(StatusCode::OK)
        });
    }
    let created: Vec<_> = tasks
        .join_all()
        .await
        .into_iter()
        .map(|me| me["created_at"].clone())
        .collect();
    assert!(created.windows(2).all(|w| w[0] == w[1]), "{created:?}");
}

#[tokio::test]
async fn the_sample_events_reach_their_routes() {
    // The samples of events/ go through lambda_http's own event parsing, as in Lambda.
    let api = api().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let org = api.create_org("local-user", "Sample").await;
    let samples = [
        ("accounts-health.json", StatusCode::OK),
        ("accounts-get-me.json", StatusCode::OK),
        ("accounts-patch-me.json", StatusCode::OK),
        ("accounts-create-org.json", StatusCode::CREATED),
        ("accounts-list-orgs.json", StatusCode::OK),
        ("accounts-rename-org.json", StatusCode::OK),
    ];
    for (file, status) in samples {
        let raw = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        // The rename sample names a placeholder organization; point it at a real one.
        let raw = raw.replace("01JD3YQ9V4Z8K2M6N0P3R5T7W9", org["id"].as_str().unwrap());
        let request = lambda_http::request::from_str(&raw).unwrap();
        let (parts, body) = request.into_parts();
        let reply = api
            .send(Request::from_parts(parts, Body::from(body.to_vec())))
            .await;
        assert_eq!(reply.status, status, "{file}: {}", reply.body);
    }
}
