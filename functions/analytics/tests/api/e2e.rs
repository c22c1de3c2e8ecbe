//! Analytics through the local cloud: the real `accounts`, `analytics` and `aggregator` binaries
//! behind template.yaml's HTTP API and SQS event-source mapping, DynamoDB Local and moto. Tracked
//! events go through the template's queue to the aggregator and come back in every report; a
//! poison message ends in the dead-letter queue.

use std::time::{Duration as StdDuration, Instant};

use reqwest::Method as M;

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tracked_events_reach_every_report_through_sqs_and_the_aggregator() {
    let local = test_support::cloud::start("a").await;
    let (api, cloud, table) = (&local.api, &local.cloud, local.table.clone());
    let sqs = test_support::sqs_client();
    let queue = &cloud.queues["AnalyticsQueue"];
    let dead = &cloud.queues["AnalyticsDeadLetterQueue"];
    // The template's 180 s visibility timeout, shortened so five receives take seconds.
    sqs.set_queue_attributes()
        .queue_url(&queue.url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .unwrap();

    let owner = test_support::token("e2e-analytics-owner", json!({}));
    let (status, org) = api
        .call(
            M::POST,
            "/v1/orgs",
            &owner,
            None,
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_owned();
    let (status, key) = api
        .call(
            M::POST,
            "/v1/api-keys",
            &owner,
            Some(&org),
            Some(json!({"name": "ingest"})),
        )
        .await;
    assert_eq!(status, 201, "{key}");
    let key = key["key"].as_str().unwrap().to_owned();

    // 30 events with the owner's token, 4 usage events with the key, and a poison message.
    let events: Vec<Value> = (0..30)
        .map(|i| {
            json!({
                "name": (["llm.call", "tool.call", "message.sent"][i % 3]),
                "agent_id": (["alpha", "beta"][i % 2]),
                "properties": {"response_time_ms": 50 + i * 10, "input_tokens": 1, "output_tokens": 2, "error": i == 4}
            })
        })
        .collect();
    let (status, accepted) = api
        .call(
            M::POST,
            "/v1/analytics/track",
            &owner,
            Some(&org),
            Some(json!({"events": events})),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let usage_events = json!({"events": [
        {"id": "u-1", "name": "message.sent", "agent_id": "alpha"},
        {"id": "u-2", "name": "message.sent", "agent_id": "alpha"},
        {"id": "u-3", "name": "api.call"},
        {"id": "u-4", "name": "storage.snapshot", "properties": {"bytes": 4096}}
    ]});
    let tracked = Instant::now();
    let (status, _) = api
        .call(
            M::POST,
            "/v1/analytics/track",
            &key,
            None,
            Some(usage_events.clone()),
        )
        .await;
    assert_eq!(status, 202);
    // The same ids again (a client retry): counted once.
    let (status, _) = api
        .call(
            M::POST,
            "/v1/analytics/track",
            &key,
            None,
            Some(usage_events),
        )
        .await;
    assert_eq!(status, 202);
    // The queue is FIFO: the poison message has a group (and a deduplication id) of its own.
    assert!(queue.url.ends_with(".fifo"), "{}", queue.url);
    sqs.send_message()
        .queue_url(&queue.url)
        .message_body("{\"this is\": \"not an event\"}")
        .message_group_id("poison")
        .message_deduplication_id("poison-1")
        .send()
        .await
        .unwrap();

    // Visible in the overview once the aggregator has run.
    let deadline = Instant::now() + StdDuration::from_secs(60);
    let overview = loop {
        let (status, overview) = api
            .call(M::GET, "/v1/analytics/overview", &owner, Some(&org), None)
            .await;
        assert_eq!(status, 200, "{overview}");
        if overview["metrics"]["events"]["current"] == 34 {
            break overview;
        }
        assert!(
            Instant::now() < deadline,
            "not aggregated in time: {overview}"
        );
        tokio::time::sleep(StdDuration::from_millis(100)).await;
    };
    println!("202 -> visible in the overview: {:?}", tracked.elapsed());
    assert_eq!(overview["metrics"]["messages"]["current"], 12);
    assert_eq!(overview["metrics"]["active_agents"]["current"], 2);
    assert_eq!(overview["metrics"]["tokens"]["current"], 90);
    assert_eq!(
        overview["metrics"]["error_rate"]["current"].as_f64(),
        Some(0.0333)
    );
    assert_eq!(overview["metrics"]["events"]["change_pct"], Value::Null);

    let (_, alpha) = api
        .call(
            M::GET,
            "/v1/analytics/agents/alpha",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(alpha["totals"]["events"], 17, "{alpha}");
    assert_eq!(alpha["totals"]["messages"], 7);
    assert!(alpha["totals"]["p95_response_time_ms"].as_f64().unwrap() > 300.0);
    let (_, top) = api
        .call(
            M::GET,
            "/v1/analytics/top-agents?metric=avg_response_time_ms",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(top["items"][0]["agent_id"], "beta", "{top}");
    assert_eq!(top["items"][0]["rank"], 1);
    let (_, usage) = api
        .call(M::GET, "/v1/analytics/usage", &owner, Some(&org), None)
        .await;
    let today = usage["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(today["events"], 34, "{usage}");
    assert_eq!(today["messages"], 12);
    assert_eq!(today["api_calls"], 1);
    assert_eq!(today["tokens"], 90);
    let (_, counts) = api
        .call(
            M::GET,
            "/v1/analytics/event-counts",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(
        counts["items"],
        json!([
            {"name": "message.sent", "count": 12},
            {"name": "llm.call", "count": 10},
            {"name": "tool.call", "count": 10},
            {"name": "api.call", "count": 1},
            {"name": "storage.snapshot", "count": 1}
        ])
    );
    let (_, page) = api
        .call(
            M::GET,
            "/v1/analytics/events?agent_id=beta&limit=100",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(page["items"].as_array().unwrap().len(), 15);
    let times: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["timestamp"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "newest first");

    // Billing usage: only the key's events, once.
    let store = Store::new(test_support::dynamodb_client(), table);
    let now = clock::DateTime::now_utc();
    let usage = analytics::usage::monthly_usage(&store, &org, now.year(), u8::from(now.month()))
        .await
        .unwrap();
    assert_eq!(
        usage,
        analytics::usage::MonthlyUsage {
            messages: 2,
            api_calls: 1,
            storage_bytes: 4096
        }
    );

    // The poison message fails alone, again and again, until the redrive policy moves it.
    let deadline = Instant::now() + StdDuration::from_secs(60);
    loop {
        let output = sqs
            .receive_message()
            .queue_url(&dead.url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let bodies: Vec<String> = output
            .messages
            .unwrap_or_default()
            .iter()
            .filter_map(|m| m.body().map(str::to_owned))
            .collect();
        if !bodies.is_empty() {
            assert_eq!(bodies, ["{\"this is\": \"not an event\"}"]);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the poison message never reached the dead-letter queue"
        );
    }
    // Nothing else failed: the counts did not move while the poison message was retried.
    let (_, overview) = api
        .call(M::GET, "/v1/analytics/overview", &owner, Some(&org), None)
        .await;
    assert_eq!(overview["metrics"]["events"]["current"], 34);
}

/// Polls `probe` every 200 ms until it answers, for at most `within`.
async fn eventually<T, F, Fut>(what: &str, within: StdDuration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(done) = probe().await {
            return done;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(StdDuration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_free_organization_that_uses_up_its_messages_is_told_at_80_and_100_percent_and_refused() {
    let local = test_support::cloud::start("l").await;
    let api = &local.api;
    let owner = test_support::token("e2e-limits-owner", json!({}));
    let (status, org) = api
        .call(
            M::POST,
            "/v1/orgs",
            &owner,
            None,
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_owned();
    let (_, key) = api
        .call(
            M::POST,
            "/v1/api-keys",
            &owner,
            Some(&org),
            Some(json!({"name": "ingest"})),
        )
        .await;
    let key = key["key"].as_str().unwrap().to_owned();

    // The whole free month of messages, 100 per request, with the key.
    let hundred: Vec<Value> = (0..100).map(|_| json!({"name": "message.sent"})).collect();
    for _ in 0..10 {
        let (status, body) = api
            .call(
                M::POST,
                "/v1/analytics/track",
                &key,
                None,
                Some(json!({ "events": hundred })),
            )
            .await;
        assert_eq!(status, 202, "{body}");
    }
    // Aggregated, seen by the relay on the stream, told through the outbox and the dispatcher.
    let billing_notices = |page: &Value| -> Vec<(u64, String)> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|n| n["type"] == "billing")
            .map(|n| {
                assert_eq!(n["data"]["metric"], "messages", "{n}");
                assert_eq!(n["data"]["limit"], 1000, "{n}");
                (
                    n["data"]["level"].as_u64().unwrap(),
                    n["title"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    let list = || async {
        let (status, page) = api
            .call(M::GET, "/v1/notifications", &owner, Some(&org), None)
            .await;
        assert_eq!(status, 200, "{page}");
        page
    };
    let mut told = eventually(
        "the 80 % and 100 % notices",
        StdDuration::from_secs(90),
        || async {
            let told = billing_notices(&list().await);
            (told.len() >= 2).then_some(told)
        },
    )
    .await;
    told.sort();
    assert_eq!(
        told,
        vec![
            (80, "80% of messages used".to_owned()),
            (100, "Messages limit reached".to_owned())
        ]
    );

    // Refused whole from now on; other events still taken.
    let (status, problem) = api
        .call(
            M::POST,
            "/v1/analytics/track",
            &key,
            None,
            Some(json!({"name": "message.sent"})),
        )
        .await;
    assert_eq!(status, 402, "{problem}");
    assert_eq!(problem["code"], "plan_limit_reached");
    let (status, _) = api
        .call(
            M::POST,
            "/v1/analytics/track",
            &key,
            None,
            Some(json!({"name": "agent.run"})),
        )
        .await;
    assert_eq!(status, 202);
    // Still once each, after the stream has seen that event and the levels' own write.
    tokio::time::sleep(StdDuration::from_secs(3)).await;
    assert_eq!(billing_notices(&list().await).len(), 2);
}
