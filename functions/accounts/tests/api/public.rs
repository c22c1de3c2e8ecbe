//! Public routes, authentication and CORS, and the sample events.

use super::*;

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

#[tokio::test]
async fn the_sample_events_reach_their_routes() {
    // The samples of events/ go through lambda_http's own event parsing, as in Lambda.
    let api = api().await;
    let org = api.create_org("local-user", "Sample").await;
    let samples = [
        ("accounts-health.json", StatusCode::OK),
        ("accounts-get-me.json", StatusCode::OK),
        ("accounts-patch-me.json", StatusCode::OK),
        ("accounts-create-org.json", StatusCode::CREATED),
        ("accounts-list-orgs.json", StatusCode::OK),
        ("accounts-rename-org.json", StatusCode::OK),
    ];
    // The rename sample names a placeholder organization; it is pointed at a real one.
    let org = org["id"].as_str().unwrap();
    test_support::samples::assert_samples_reach_their_routes(&api.client, org, &samples).await;
}
