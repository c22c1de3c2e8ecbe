//! Tracking: validation with every field named, nothing queued on bad input, a request's events
//! in one message.

use super::*;

#[tokio::test]
async fn bad_input_is_refused_with_field_errors_and_nothing_is_queued() {
    let api = api().await;
    let org = api.fixtures.org("owner").await;
    let track = |body: String| {
        let api = &api;
        let org = org.clone();
        async move {
            api.client
                .as_member(
                    Method::POST,
                    "/v1/analytics/track",
                    "owner",
                    &org,
                    Some(&body),
                )
                .await
        }
    };
    let many = format!(
        r#"{{"events":[{}]}}"#,
        vec![r#"{"name":"a"}"#; 101].join(",")
    );
    let big = format!(
        r#"{{"name":"a","properties":{{"blob":"{}"}}}}"#,
        "x".repeat(9 * 1024)
    );
    let last_year = clock::rfc3339(api.clock.now() - Duration::days(365));
    let cases = [
        (many, "events"),
        (big, "properties"),
        (r#"{"name":"Bad Name!"}"#.to_owned(), "name"),
        (
            r#"{"events":[{"name":"ok"},{"name":"llm","properties":{"response_time_ms":"slow"}}]}"#
                .to_owned(),
            "events[1].properties.response_time_ms",
        ),
        (
            format!(r#"{{"name":"a","timestamp":"{last_year}"}}"#),
            "timestamp",
        ),
        (
            r#"{"name":"a","agent_id":"has space"}"#.to_owned(),
            "agent_id",
        ),
        (
            r#"{"name":"a","properties":{"input_tokens":1.5}}"#.to_owned(),
            "properties.input_tokens",
        ),
        (
            r#"{"name":"a","properties":{"error":"yes"}}"#.to_owned(),
            "properties.error",
        ),
        (r#"{"name":"a","properties":[1]}"#.to_owned(), "properties"),
        (r#"{"events":[]}"#.to_owned(), "events"),
    ];
    for (body, field) in cases {
        let (status, problem) = track(body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
        assert_eq!(problem["code"], "validation_failed", "{problem}");
        assert!(
            problem["errors"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["field"] == field),
            "{field}: {problem}"
        );
    }
    for body in [
        "{",
        "",
        "[]",
        "42",
        r#"{"name":"a","surprise":1}"#,
        r#"{"events":[],"x":1}"#,
    ] {
        let (status, problem) = track(body.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
    }
    for body in [
        // Duplicate keys (every other route refuses them too) and anything after the value.
        r#"{"name":"a","name":"b"}"#,
        r#"{"events":[{"name":"a","agent_id":"x","agent_id":"y"}]}"#,
        r#"{"name":"a"} {"name":"b"}"#,
        r#"{"name":"a"}]"#,
    ] {
        let (status, problem) = track(body.to_owned()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
        assert_eq!(problem["code"], "invalid_body", "{body}: {problem}");
    }
    // A body that is not JSON by its media type is 415, as on every other body route.
    for media_type in [
        "text/plain",
        "application/xml",
        "application/x-www-form-urlencoded",
    ] {
        let reply = api
            .client
            .request(Method::POST, "/v1/analytics/track")
            .user("owner")
            .org(&org)
            .body(media_type, r#"{"name":"page.view"}"#)
            .send()
            .await;
        reply.expect_problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type");
    }
    let (status, _) = track(format!(
        r#"{{"name":"a","properties":{{"x":"{}"}}}}"#,
        "y".repeat(300 * 1024)
    ))
    .await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        api.queued().await.is_empty(),
        "nothing is queued for bad input"
    );
    // And nothing is written synchronously for good input either: only the queue sees it.
    let (status, accepted) = track(r#"{"name":"page.view"}"#.to_owned()).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let (status, events) = api
        .client
        .as_member(Method::GET, "/v1/analytics/events", "owner", &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events["items"], json!([]));
    assert_eq!(api.queued().await.len(), 1);
    // A request's events travel together: one message, the events in order.
    let (status, accepted) =
        track(r#"{"events":[{"name":"a.one"},{"name":"a.two"},{"name":"a.three"}]}"#.to_owned())
            .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let queued = api.queued().await;
    assert_eq!(queued.len(), 1, "{queued:?}");
    let names: Vec<&str> = queued[0]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a.one", "a.two", "a.three"]);
    assert_eq!(queued[0]["events"][1]["id"], accepted["ids"][1]);
}

#[tokio::test]
async fn tracked_events_are_reported_after_aggregation() {
    let api = api().await;
    let org = api.fixtures.org("owner").await;
    api.fixtures.add_member(&org, "mia", Role::Member).await;
    let now = api.clock.now();
    let events: Vec<Value> = (0..25)
        .map(|i| {
            json!({
                "name": if i % 5 == 0 { "message.sent" } else { "llm.call" },
                "agent_id": format!("agent-{}", i % 3),
                "timestamp": clock::rfc3339(now - Duration::minutes(i)),
                "properties": {"response_time_ms": 100 + i, "input_tokens": 2, "output_tokens": 3, "error": i % 10 == 0}
            })
        })
        .collect();
    let body = json!({"events": events}).to_string();
    let (status, accepted) = api
        .client
        .as_member(
            Method::POST,
            "/v1/analytics/track",
            "mia",
            &org,
            Some(&body),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    assert_eq!(accepted["accepted"], 25);
    assert_eq!(accepted["ids"].as_array().unwrap().len(), 25);
    assert_eq!(api.aggregate().await, 25);

    let get = |path: &'static str| api.client.as_member(Method::GET, path, "mia", &org, None);
    let (status, overview) = get("/v1/analytics/overview").await;
    assert_eq!(status, StatusCode::OK, "{overview}");
    assert_eq!(overview["metrics"]["events"]["current"], 25);
    assert_eq!(overview["metrics"]["messages"]["current"], 5);
    assert_eq!(overview["metrics"]["active_agents"]["current"], 3);
    assert_eq!(overview["metrics"]["tokens"]["current"], 125);
    assert_eq!(overview["metrics"]["events"]["change_pct"], Value::Null);
    let (_, agent) = get("/v1/analytics/agents/agent-0").await;
    assert_eq!(agent["totals"]["events"], 9, "{agent}");
    assert_eq!(agent["daily"].as_array().unwrap().len(), 7);
    let (status, _) = get("/v1/analytics/agents/agent-9").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, top) = get("/v1/analytics/top-agents?metric=events&limit=2").await;
    assert_eq!(top["items"][0]["agent_id"], "agent-0");
    assert_eq!(top["items"].as_array().unwrap().len(), 2);
    assert_eq!(top["next_cursor"], Value::Null);
    let (_, usage) = get("/v1/analytics/usage?period=30d").await;
    let days = usage["items"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    assert_eq!(
        days.iter()
            .map(|d| d["events"].as_u64().unwrap())
            .sum::<u64>(),
        25
    );
    let (_, counts) = get("/v1/analytics/event-counts").await;
    assert_eq!(
        counts["items"],
        json!([{"name": "llm.call", "count": 20}, {"name": "message.sent", "count": 5}])
    );
    let (_, page) = get("/v1/analytics/events?name=message.sent&limit=2").await;
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert!(page["next_cursor"].is_string());
    let (status, problem) = get("/v1/analytics/events?agent_id=bad%20id").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    for bad in [
        "/v1/analytics/overview?period=1y",
        "/v1/analytics/overview?from=nope",
        "/v1/analytics/overview?surprise=1",
        "/v1/analytics/top-agents?metric=vibes",
        "/v1/analytics/top-agents?limit=0",
        "/v1/analytics/usage?from=2026-01-01&to=2025-01-01",
        "/v1/analytics/events?cursor=garbage",
        "/v1/analytics/events?from=yesterday",
    ] {
        let (status, problem) = get(bad).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
}
