//! The analytics routes against DynamoDB Local and moto: tracking (validation, nothing queued on
//! bad input, members and API keys), API keys, reports through the aggregator, roles, tenancy,
//! billing usage; and (in `api/e2e.rs`) the whole path through the local cloud.

use accounts::{CreateOrganization, Organizations};
use analytics::{Aggregator, Message};
use analytics_function::{App, router};
use auth::records::MembershipRecord;
use auth::{Claims, ContextLoader, Role};
use axum::Router;
use axum::body::Body;
use clock::{Clock, Duration};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use store::{Store, keys};
use tower::ServiceExt;

#[path = "api/e2e.rs"]
mod e2e;

struct Api {
    router: Router,
    store: Store,
    clock: Clock,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    aggregator: Aggregator,
}

fn claims(user: &str) -> Claims {
    Claims {
        sub: user.into(),
        email: Some(format!("{user}@example.com")),
        email_verified: Some(true),
        name: Some(format!("User {user}")),
        org_id: None,
    }
}

async fn api() -> Api {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let settings = test_support::local_settings(&table);
    let clock = Clock::manual(clock::DateTime::now_utc());
    let sqs = test_support::sqs_client();
    let queue = test_support::fresh_queue(&sqs).await;
    let app = App::new(
        &settings,
        client,
        analytics::EventQueue::new(sqs.clone(), queue.clone()),
        clock.clone(),
        90,
        365,
    );
    let store = app.store().clone();
    Api {
        router: router(app, &settings.cors_allowed_origins),
        aggregator: Aggregator::new(store.clone(), Duration::days(90)),
        store,
        clock,
        sqs,
        queue,
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        user: &str,
        org: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let token = test_support::token(user, json!({}));
        self.call_with(method, path, &token, Some(org), body).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: &str,
        org: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        if let Some(org) = org {
            request = request.header("x-org-id", org);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let response = self
            .router
            .clone()
            .oneshot(
                request
                    .body(Body::from(body.unwrap_or_default().to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                body["status"],
                status.as_u16(),
                "problem+json expected: {body}"
            );
        }
        (status, body)
    }

    async fn org(&self, owner: &str) -> String {
        let caller = ContextLoader::new(self.store.clone(), self.clock.clone())
            .caller(claims(owner))
            .await
            .unwrap();
        Organizations::new(self.store.clone(), self.clock.clone(), Duration::days(365))
            .create(
                &caller,
                serde_json::from_value::<CreateOrganization>(json!({"name": "Acme"})).unwrap(),
                None,
            )
            .await
            .unwrap()
            .id
    }

    async fn add(&self, org: &str, user: &str, role: Role) {
        ContextLoader::new(self.store.clone(), self.clock.clone())
            .caller(claims(user))
            .await
            .unwrap();
        let m = MembershipRecord {
            org_id: org.into(),
            user_id: user.into(),
            role,
            joined_at: self.clock.now(),
        };
        let transaction = accounts::counters::member_joined_directly(&m).unwrap();
        self.store.transact(transaction).await.unwrap();
    }

    /// Everything queued so far, fed through the aggregator as SQS would (batches of 10).
    async fn aggregate(&self) -> usize {
        let mut counted = 0;
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let batch = output.messages.unwrap_or_default();
            if batch.is_empty() {
                return counted;
            }
            let messages = batch
                .iter()
                .map(|m| Message {
                    message_id: m.message_id().unwrap().to_owned(),
                    body: m.body().unwrap().to_owned(),
                })
                .collect();
            let outcome = self.aggregator.process(messages).await;
            assert!(outcome.failed.is_empty(), "{outcome:?}");
            counted += outcome.counted;
            for m in batch {
                self.sqs
                    .delete_message()
                    .queue_url(&self.queue)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    async fn queued(&self) -> Vec<Value> {
        test_support::drain_queue(&self.sqs, &self.queue).await
    }

    async fn api_key(&self, org: &str, owner: &str) -> String {
        let (status, key) = self
            .call(
                Method::POST,
                "/v1/api-keys",
                owner,
                org,
                Some(r#"{"name":"ingest"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        key["key"].as_str().unwrap().to_owned()
    }
}

#[tokio::test]
async fn bad_input_is_refused_with_field_errors_and_nothing_is_queued() {
    let api = api().await;
    let org = api.org("owner").await;
    let track = |body: String| {
        let api = &api;
        let org = org.clone();
        async move {
            api.call(
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
        .call(Method::GET, "/v1/analytics/events", "owner", &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(events["items"], json!([]));
    assert_eq!(api.queued().await.len(), 1);
}

#[tokio::test]
async fn tracked_events_are_queued_one_message_each_and_reported_after_aggregation() {
    let api = api().await;
    let org = api.org("owner").await;
    api.add(&org, "mia", Role::Member).await;
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
        .call(
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

    let get = |path: &'static str| api.call(Method::GET, path, "mia", &org, None);
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

#[tokio::test]
async fn roles_and_tenancy() {
    let api = api().await;
    let org = api.org("owner").await;
    let other = api.org("stranger").await;
    for (user, role) in [
        ("ada", Role::Admin),
        ("mia", Role::Member),
        ("vic", Role::Viewer),
    ] {
        api.add(&org, user, role).await;
    }
    let event = r#"{"name":"x","agent_id":"secret-agent"}"#;
    for (user, status) in [
        ("owner", StatusCode::ACCEPTED),
        ("ada", StatusCode::ACCEPTED),
        ("mia", StatusCode::ACCEPTED),
        ("vic", StatusCode::FORBIDDEN),
        ("stranger", StatusCode::FORBIDDEN),
    ] {
        let (got, body) = api
            .call(Method::POST, "/v1/analytics/track", user, &org, Some(event))
            .await;
        assert_eq!(got, status, "{user}: {body}");
    }
    for (user, status) in [
        ("owner", StatusCode::CREATED),
        ("ada", StatusCode::CREATED),
        ("mia", StatusCode::FORBIDDEN),
        ("vic", StatusCode::FORBIDDEN),
    ] {
        let (got, body) = api
            .call(
                Method::POST,
                "/v1/api-keys",
                user,
                &org,
                Some(r#"{"name":"k"}"#),
            )
            .await;
        assert_eq!(got, status, "{user}: {body}");
        let (got, _) = api
            .call(Method::GET, "/v1/api-keys", user, &org, None)
            .await;
        let expected = if status == StatusCode::CREATED {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(got, expected, "{user} lists keys");
    }
    api.aggregate().await;
    // Everyone in the organization reads analytics; the other organization sees none of it.
    let (status, _) = api
        .call(
            Method::GET,
            "/v1/analytics/agents/secret-agent",
            "vic",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .call(
            Method::GET,
            "/v1/analytics/agents/secret-agent",
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, events) = api
        .call(
            Method::GET,
            "/v1/analytics/events?agent_id=secret-agent",
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(events["items"], json!([]));
    let (_, overview) = api
        .call(
            Method::GET,
            "/v1/analytics/overview",
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(overview["metrics"]["events"]["current"], 0);
    let (status, _) = api
        .call(
            Method::GET,
            "/v1/analytics/overview",
            "stranger",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Keys of one organization cannot be listed or revoked from another.
    let (_, keys) = api
        .call(Method::GET, "/v1/api-keys", "owner", &org, None)
        .await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(Method::GET, "/v1/analytics/overview", "owner", "", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn api_keys_track_for_their_org_only_and_only_they_count_toward_billing() {
    let api = api().await;
    let org = api.org("owner").await;
    let other = api.org("stranger").await;
    let key = api.api_key(&org, "owner").await;
    assert!(key.starts_with("oak_"));
    // Listed without the secret; only its hash is stored.
    let (_, keys) = api
        .call(Method::GET, "/v1/api-keys", "owner", &org, None)
        .await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    assert!(keys["items"][0].get("key").is_none());
    assert!(key.starts_with(keys["items"][0]["prefix"].as_str().unwrap()));
    let stored = format!(
        "{:?}",
        api.store
            .get::<Value>(&keys::api_key(
                keys::OrgId(&org),
                keys["items"][0]["id"].as_str().unwrap()
            ))
            .await
            .unwrap()
    );
    assert!(!stored.contains(&key[4..]), "the secret is not stored");

    // A member's JWT: analytics only, never billing usage.
    let usage_events = r#"{"events":[{"name":"message.sent"},{"name":"api.call"},{"name":"storage.snapshot","properties":{"bytes":1000}}]}"#;
    let (status, _) = api
        .call(
            Method::POST,
            "/v1/analytics/track",
            "owner",
            &org,
            Some(usage_events),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.aggregate().await;
    let month = api.clock.now();
    let usage =
        || analytics::usage::monthly_usage(&api.store, &org, month.year(), u8::from(month.month()));
    assert_eq!(usage().await.unwrap(), Default::default());

    // With the key: counted once, even when the same ids are sent again.
    let with_ids = r#"{"events":[{"id":"m-1","name":"message.sent"},{"id":"c-1","name":"api.call"},{"id":"s-1","name":"storage.snapshot","properties":{"bytes":2000}}]}"#;
    for _ in 0..2 {
        let (status, body) = api
            .call_with(
                Method::POST,
                "/v1/analytics/track",
                &key,
                None,
                Some(with_ids),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["ids"], json!(["m-1", "c-1", "s-1"]));
    }
    api.aggregate().await;
    assert_eq!(
        usage().await.unwrap(),
        analytics::usage::MonthlyUsage {
            messages: 1,
            api_calls: 1,
            storage_bytes: 2000
        }
    );
    let (_, overview) = api
        .call(Method::GET, "/v1/analytics/overview", "owner", &org, None)
        .await;
    assert_eq!(overview["metrics"]["events"]["current"], 6);

    // A key tracks for its own organization only, and for nothing else.
    let (status, _) = api
        .call_with(
            Method::POST,
            "/v1/analytics/track",
            &key,
            Some(&other),
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .call_with(
            Method::GET,
            "/v1/analytics/overview",
            &key,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call_with(Method::GET, "/v1/api-keys", &key, Some(&org), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = format!("oak_{}", "A".repeat(43));
    let (status, _) = api
        .call_with(
            Method::POST,
            "/v1/analytics/track",
            &forged,
            None,
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Revoked: refused at once; the activity log has both entries.
    let key_id = keys["items"][0]["id"].as_str().unwrap();
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            "owner",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .call_with(
            Method::POST,
            "/v1/analytics/track",
            &key,
            None,
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            "owner",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let entries = api
        .store
        .query::<audit::ActivityEntry>(store::Query::new(
            "t",
            keys::activities(keys::OrgId(&org)),
            100,
            None,
        ))
        .await
        .unwrap();
    let actions: Vec<String> = entries.items.into_iter().map(|e| e.action).collect();
    assert!(
        actions.contains(&"api_key.created".to_owned())
            && actions.contains(&"api_key.revoked".to_owned()),
        "{actions:?}"
    );
    for bad in [
        r#"{}"#,
        r#"{"name":""}"#,
        r#"{"name":"k","extra":1}"#,
        r#"{"name":"a\u0000b"}"#,
    ] {
        let (status, _) = api
            .call(Method::POST, "/v1/api-keys", "owner", &org, Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = api
        .call(
            Method::DELETE,
            "/v1/api-keys/not-an-id",
            "owner",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_sample_events_reach_their_routes_and_the_aggregator() {
    let api = api().await;
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events");
    let org = api.org("local-user").await;
    let samples = [
        ("analytics-track.json", StatusCode::ACCEPTED),
        ("analytics-overview.json", StatusCode::OK),
        ("analytics-top-agents.json", StatusCode::OK),
        ("analytics-usage.json", StatusCode::OK),
        ("analytics-events.json", StatusCode::OK),
        ("analytics-event-counts.json", StatusCode::OK),
        ("analytics-create-api-key.json", StatusCode::CREATED),
        ("analytics-list-api-keys.json", StatusCode::OK),
        ("analytics-revoke-api-key.json", StatusCode::NOT_FOUND),
    ];
    for (file, status) in samples {
        let raw = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        let raw = raw.replace("01JD3YQ9V4Z8K2M6N0P3R5T7W9", &org);
        let request = lambda_http::request::from_str(&raw).unwrap();
        let (parts, body) = request.into_parts();
        let response = api
            .router
            .clone()
            .oneshot(Request::from_parts(parts, Body::from(body.to_vec())))
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{file}");
    }
    api.aggregate().await;
    let raw = std::fs::read_to_string(format!("{dir}/analytics-agent.json")).unwrap();
    let request =
        lambda_http::request::from_str(&raw.replace("01JD3YQ9V4Z8K2M6N0P3R5T7W9", &org)).unwrap();
    let (parts, body) = request.into_parts();
    let response = api
        .router
        .clone()
        .oneshot(Request::from_parts(parts, Body::from(body.to_vec())))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);

    // The SQS sample through the aggregator's handler: the malformed record fails alone.
    let raw = std::fs::read_to_string(format!("{dir}/aggregator-sqs-batch.json")).unwrap();
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(&raw).unwrap();
    let response = aggregator_function::handle(&api.aggregator, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["0f1c2d3e-0000-4000-8000-000000000003"]);
}
