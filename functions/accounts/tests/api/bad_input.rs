//! Bad input of every kind: a problem document, and nothing changed.

use super::*;

/// Erin and her organization, before any bad request.
struct Before {
    api: Api,
    org: Value,
    org_path: String,
    profile: Value,
}

async fn before() -> Before {
    let api = api().await;
    let org = api.create_org("erin", "Acme").await;
    let org_path = format!("/v1/orgs/{}", org["id"].as_str().unwrap());
    let profile = api
        .call(Method::GET, "/v1/me", Some("erin"), None)
        .await
        .expect(StatusCode::OK);
    Before {
        api,
        org,
        org_path,
        profile,
    }
}

impl Before {
    /// Nothing changed: the same organizations, the same profile, one activity entry.
    async fn assert_nothing_changed(&self) {
        let (api, org, profile_before) = (&self.api, &self.org, &self.profile);
        let list = api
            .call(Method::GET, "/v1/orgs", Some("erin"), None)
            .await
            .expect(StatusCode::OK);
        assert_eq!(list["items"], json!([org]));
        let profile_after = api
            .call(Method::GET, "/v1/me", Some("erin"), None)
            .await
            .expect(StatusCode::OK);
        assert_eq!(&profile_after, profile_before);
        assert_eq!(api.activity(org["id"].as_str().unwrap()).await.len(), 1);
    }
}

#[tokio::test]
async fn bodies_that_do_not_parse_or_validate_are_problems_and_change_nothing() {
    let before = before().await;
    let (api, org_path) = (&before.api, before.org_path.clone());
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
        // Names that show nothing, or that reorder the text around them.
        (
            Method::POST,
            "/v1/orgs",
            r#"{"name":"\u200b\ufeff"}"#.into(),
            "validation_failed",
        ),
        (
            Method::POST,
            "/v1/orgs",
            r#"{"name":"\u0301"}"#.into(),
            "validation_failed",
        ),
        (
            Method::PATCH,
            &org_path,
            r#"{"name":"\ufe0f"}"#.into(),
            "validation_failed",
        ),
        (
            Method::PATCH,
            &org_path,
            r#"{"name":"abc\u202edcb"}"#.into(),
            "validation_failed",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"name":"\u200f"}"#.into(),
            "validation_failed",
        ),
        // Exactly one JSON value: whatever follows it refuses the body (the change is not made).
        (
            Method::POST,
            "/v1/orgs",
            r#"{"name":"x"} garbage"#.into(),
            "invalid_body",
        ),
        (
            Method::POST,
            "/v1/orgs",
            r#"{"name":"x"}{"name":"y"}"#.into(),
            "invalid_body",
        ),
        (
            Method::PATCH,
            &org_path,
            "{\"name\":\"Renamed\"}\u{0}".into(),
            "invalid_body",
        ),
        (
            Method::PATCH,
            "/v1/me",
            r#"{"name":"Renamed"}]"#.into(),
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

    before.assert_nothing_changed().await;
}

#[tokio::test]
async fn oversized_bodies_other_media_types_and_bad_queries_are_problems() {
    let before = before().await;
    let api = &before.api;
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
    before.assert_nothing_changed().await;
}

#[tokio::test]
async fn values_dynamodb_cannot_store_and_paths_that_are_not_text_are_problems() {
    let before = before().await;
    let api = &before.api;
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
    before.assert_nothing_changed().await;
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let before = before().await;
    let api = &before.api;
    // Unknown routes and methods are problems too.
    api.call(Method::GET, "/v1/nothing-here", Some("erin"), None)
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    api.call(Method::DELETE, "/v1/me", Some("erin"), None)
        .await
        .expect_problem(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed");

    before.assert_nothing_changed().await;
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
