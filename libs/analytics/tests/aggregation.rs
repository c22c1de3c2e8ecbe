//! The aggregator and the reports against DynamoDB Local: exactly-once counting under
//! redelivery and racing aggregators, write cost from consumed capacity, the name cap, p95 from
//! the histogram, periods, raw-event queries, billing usage, and tenancy.

use analytics::reports::EventFilter;
use analytics::{Aggregator, Message, Period, RankBy, Reports, Source, TrackedEvent};
use clock::{Clock, DateTime, Duration};
use serde_json::{Value, json};
use store::Store;
use store::aws_sdk_dynamodb::types::AttributeValue;

fn now() -> DateTime {
    clock::parse_rfc3339("2026-11-24T12:00:00Z").unwrap()
}

struct Setup {
    store: Store,
    aggregator: Aggregator,
    reports: Reports,
}

async fn setup() -> Setup {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let store = Store::new(client, table);
    Setup {
        aggregator: Aggregator::new(store.clone(), Duration::days(90)),
        reports: Reports::new(store.clone(), Clock::manual(now()), Duration::days(90)),
        store,
    }
}

fn event(org: &str, name: &str, agent: Option<&str>, at: DateTime, props: Value) -> TrackedEvent {
    TrackedEvent {
        org_id: org.into(),
        id: ulid::Ulid::from_datetime(at.into()).to_string(),
        client_id: false,
        name: name.into(),
        agent_id: agent.map(Into::into),
        timestamp: at,
        properties: props.as_object().cloned().unwrap_or_default(),
        source: Source::Member {
            user_id: "u1".into(),
        },
    }
}

fn messages(events: &[TrackedEvent]) -> Vec<Message> {
    events
        .iter()
        .map(|e| Message {
            message_id: format!("m-{}", e.id),
            body: serde_json::to_string(e).unwrap(),
        })
        .collect()
}

/// Aggregates `events` in batches of 10, none failing.
async fn aggregate_in_tens(setup: &Setup, events: &[TrackedEvent]) {
    for batch in events.chunks(10) {
        let outcome = setup.aggregator.process(messages(batch)).await;
        assert!(outcome.failed.is_empty(), "{outcome:?}");
    }
}

/// The ids of every page of a raw-event list, following cursors, and how many pages it took.
async fn every_page(
    setup: &Setup,
    org: &str,
    filter: &EventFilter,
    limit: u16,
) -> (Vec<String>, usize) {
    let (mut ids, mut pages, mut cursor) = (Vec::new(), 0, None::<String>);
    loop {
        let page = setup
            .reports
            .events(org, filter, limit, cursor.as_deref())
            .await
            .unwrap();
        pages += 1;
        ids.extend(page.items.into_iter().map(|e| e.id));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (ids, pages),
        }
    }
}

fn today() -> Period {
    analytics::period::resolve(None, None, None, now()).unwrap()
}

async fn total_events(setup: &Setup, org: &str) -> u64 {
    let usage = setup.reports.usage(org, today()).await.unwrap();
    usage.iter().map(|d| d.events).sum()
}

/// Ten events of one organization, three agents, as a client would send them.
fn ten_events(org: &str, start: DateTime) -> Vec<TrackedEvent> {
    (0..10)
        .map(|i| {
            event(
                org,
                ["message.sent", "tool.call"][i % 2],
                Some(["a1", "a2", "a3"][i % 3]),
                start + Duration::milliseconds(i as i64),
                json!({"response_time_ms": 100 + i * 10, "input_tokens": 10, "output_tokens": 5, "error": i == 0}),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_batch_delivered_twice_is_counted_once_within_the_write_budget() {
    let setup = setup().await;
    let events = ten_events("org1", now() - Duration::hours(1));
    let first = setup.aggregator.process(messages(&events)).await;
    assert!(first.failed.is_empty(), "{first:?}");
    assert_eq!((first.counted, first.duplicates), (10, 0));
    // Budget: ≤ 2.5 write units per event of ≤ 1 KiB, from DynamoDB's consumed capacity: ten
    // plain puts of raw events and four counter updates (the day, three agents' days).
    let per_event = first.write_units / 10.0;
    println!("write units per event (batch of 10, 3 agents): {per_event}");
    assert_eq!(
        (
            first.raw_writes,
            first.counter_updates,
            first.refused_writes
        ),
        (10, 4, 0)
    );
    assert!(first.write_units > 0.0, "consumed capacity is reported");
    assert!(per_event <= 2.5 + 1e-9, "{per_event} write units per event");

    let again = setup.aggregator.process(messages(&events)).await;
    assert_eq!((again.counted, again.duplicates), (0, 10), "{again:?}");
    assert_eq!(total_events(&setup, "org1").await, 10);
    let overview = setup.reports.overview("org1", today()).await.unwrap();
    assert_eq!(overview.metrics.events.current, 10.into());
    assert_eq!(overview.metrics.messages.current, 5.into());
    assert_eq!(overview.metrics.active_agents.current, 3.into());
    assert_eq!(overview.metrics.tokens.current, 150.into());
    assert_eq!(overview.metrics.error_rate.current.as_f64(), Some(0.1));
    // An empty previous period: no change to report.
    assert_eq!(overview.metrics.events.previous, 0.into());
    assert_eq!(overview.metrics.events.change_pct, None);

    // A batch in which some messages were already counted and some are new.
    let mut mixed = events[..4].to_vec();
    mixed.extend(ten_events("org1", now() - Duration::minutes(30)));
    let outcome = setup.aggregator.process(messages(&mixed)).await;
    assert_eq!(
        (outcome.counted, outcome.duplicates),
        (10, 4),
        "{outcome:?}"
    );
    assert_eq!(total_events(&setup, "org1").await, 20);
}

#[tokio::test]
async fn a_batch_written_in_part_is_completed_when_it_comes_back() {
    let setup = setup().await;
    let events = ten_events("org9", now() - Duration::hours(1));
    let first = setup.aggregator.process(messages(&events)).await;
    assert_eq!((first.counted, first.counter_updates), (10, 4), "{first:?}");
    // As if the invocation had stopped before one agent's day was written: that item is gone.
    let date = analytics::metrics::day_of(&events[0]);
    setup
        .store
        .delete(
            &store::keys::agent_day(store::keys::OrgId("org9"), &date, "a2"),
            store::Condition::Always,
        )
        .await
        .unwrap();
    let again = setup.aggregator.process(messages(&events)).await;
    // Counted already (the organization's day lists the messages); only a2's day is written.
    assert_eq!(
        (again.counted, again.duplicates, again.counter_updates),
        (0, 10, 1),
        "{again:?}"
    );
    let agent = |id: &'static str| {
        let reports = setup.reports.clone();
        async move {
            reports
                .agent("org9", id, today())
                .await
                .unwrap()
                .totals
                .events
        }
    };
    // a1 has events 0, 3, 6, 9; a2 has 1, 4, 7; a3 has 2, 5, 8.
    assert_eq!(
        (agent("a1").await, agent("a2").await, agent("a3").await),
        (4, 3, 3)
    );
    assert_eq!(total_events(&setup, "org9").await, 10);
    // A third time changes nothing at all.
    let third = setup.aggregator.process(messages(&events)).await;
    assert_eq!((third.counted, third.counter_updates), (0, 0), "{third:?}");
}

#[tokio::test]
async fn raw_events_spread_over_the_organizations_shards_and_list_as_one() {
    let setup = setup().await;
    let start = now() - Duration::hours(1);
    let events: Vec<TrackedEvent> = (0..200)
        .map(|i| {
            event(
                "org10",
                "tool.call",
                Some("a1"),
                start + Duration::milliseconds(i),
                json!({}),
            )
        })
        .collect();
    aggregate_in_tens(&setup, &events).await;
    // Each shard holds a share (by a hash of the id), none all of them.
    let client = test_support::dynamodb_client();
    let mut spread = Vec::new();
    for shard in store::keys::raw_events(store::keys::OrgId("org10")) {
        let output = client
            .query()
            .table_name(setup.store.table())
            .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
            .expression_attribute_values(":pk", AttributeValue::S(shard.pk))
            .expression_attribute_values(":p", AttributeValue::S(shard.sk_prefix))
            .select(store::aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        spread.push(output.count);
    }
    assert_eq!(spread.len(), 4);
    assert_eq!(spread.iter().sum::<i32>(), 200);
    assert!(spread.iter().all(|&n| (20..=80).contains(&n)), "{spread:?}");
    // Listed as one time-ordered list, page by page, each event once, newest first.
    let (ids, pages) = every_page(&setup, "org10", &EventFilter::default(), 30).await;
    assert_eq!(pages, 7);
    let mut expected: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    expected.reverse();
    assert_eq!(ids, expected);
}

#[tokio::test]
async fn two_aggregators_on_overlapping_batches_count_exactly() {
    let setup = setup().await;
    let events: Vec<TrackedEvent> = (0..60)
        .flat_map(|i| {
            ten_events("org2", now() - Duration::hours(2) + Duration::seconds(i))
                .into_iter()
                .take(1)
        })
        .chain(ten_events("org2", now() - Duration::hours(3)))
        .collect();
    assert_eq!(events.len(), 70);
    // What an organization's message group allows: its batches in order, and each one possibly
    // in two invocations at the same moment (a receive that raced, a duplicate delivery).
    let batches: Vec<&[TrackedEvent]> = events.chunks(10).collect();
    let (mut a, mut b) = (0, 0);
    let other = setup.aggregator.clone();
    for batch in &batches {
        let (x, y) = tokio::join!(
            setup.aggregator.process(messages(batch)),
            other.process(messages(batch))
        );
        assert!(x.failed.is_empty() && y.failed.is_empty(), "{x:?} {y:?}");
        assert_eq!(x.counted + y.counted, 10, "{x:?} {y:?}");
        (a, b) = (a + x.counted, b + y.counted);
    }
    assert_eq!(a + b, 70);
    // A batch that comes back after the next one was added (its deletion was lost): the item
    // still lists it, so nothing is added twice.
    for batch in [batches[5], batches[6], batches[5]] {
        let again = setup.aggregator.process(messages(batch)).await;
        assert_eq!((again.counted, again.duplicates), (0, 10), "{again:?}");
    }
    assert_eq!(total_events(&setup, "org2").await, 70);
    let counts = setup.reports.event_counts("org2", today()).await.unwrap();
    assert_eq!(counts.iter().map(|c| c.count).sum::<u64>(), 70);
}

#[tokio::test]
async fn client_ids_are_idempotent_even_with_another_timestamp() {
    let setup = setup().await;
    let mut first = event(
        "org3",
        "message.sent",
        None,
        now() - Duration::hours(1),
        json!({}),
    );
    first.id = "client-1".into();
    first.client_id = true;
    let mut retry = first.clone();
    retry.timestamp = now() - Duration::minutes(5);
    let outcome = setup.aggregator.process(messages(&[first])).await;
    assert_eq!(outcome.counted, 1);
    let outcome = setup
        .aggregator
        .process(vec![Message {
            message_id: "retry".into(),
            body: serde_json::to_string(&retry).unwrap(),
        }])
        .await;
    assert_eq!((outcome.counted, outcome.duplicates), (0, 1));
    assert_eq!(total_events(&setup, "org3").await, 1);
}

#[tokio::test]
async fn a_malformed_message_fails_alone() {
    let setup = setup().await;
    let good = ten_events("org4", now() - Duration::hours(1));
    let mut batch = messages(&good[..3]);
    batch.push(Message {
        message_id: "poison-1".into(),
        body: "{not json".into(),
    });
    let mut bad_name = good[3].clone();
    bad_name.name = "Not A Name".into();
    batch.push(Message {
        message_id: "poison-2".into(),
        body: serde_json::to_string(&bad_name).unwrap(),
    });
    // A request's events in one message (what the track route sends), and one whose second
    // event is bad: that whole message fails, alone.
    batch.push(Message {
        message_id: "request".into(),
        body: serde_json::to_string(&analytics::EventBatch {
            events: good[4..8].to_vec(),
        })
        .unwrap(),
    });
    batch.push(Message {
        message_id: "poison-3".into(),
        body: serde_json::to_string(&analytics::EventBatch {
            events: vec![good[8].clone(), bad_name.clone()],
        })
        .unwrap(),
    });
    batch.push(Message {
        message_id: "poison-4".into(),
        body: r#"{"events":[]}"#.into(),
    });
    let outcome = setup.aggregator.process(batch).await;
    assert_eq!(
        outcome.failed,
        ["poison-1", "poison-2", "poison-3", "poison-4"]
    );
    assert_eq!(outcome.counted, 7);
    assert_eq!(total_events(&setup, "org4").await, 7);
    // The request's message again (redelivered): nothing more counted.
    let again = vec![Message {
        message_id: "request".into(),
        body: serde_json::to_string(&analytics::EventBatch {
            events: good[4..8].to_vec(),
        })
        .unwrap(),
    }];
    let outcome = setup.aggregator.process(again).await;
    assert_eq!((outcome.counted, outcome.duplicates), (0, 4));
    assert_eq!(total_events(&setup, "org4").await, 7);
}

#[tokio::test]
async fn p95_comes_from_the_histogram_within_its_bucket_error() {
    let setup = setup().await;
    // 1..=400 ms, spread over two days: the true p95 (nearest rank) is 380 ms.
    let events: Vec<TrackedEvent> = (1..=400)
        .map(|ms| {
            let at = now() - Duration::hours(if ms % 2 == 0 { 1 } else { 25 })
                + Duration::milliseconds(ms);
            event(
                "org5",
                "llm.call",
                Some("agent-p"),
                at,
                json!({"response_time_ms": ms as f64 - 0.25}),
            )
        })
        .collect();
    for batch in events.chunks(40) {
        assert!(
            setup
                .aggregator
                .process(messages(batch))
                .await
                .failed
                .is_empty()
        );
    }
    let report = setup
        .reports
        .agent("org5", "agent-p", today())
        .await
        .unwrap();
    assert_eq!(report.totals.events, 400);
    let p95 = report.totals.p95_response_time_ms;
    let truth = 379.75;
    assert!((p95 - truth).abs() / truth <= 0.10, "p95 {p95} vs {truth}");
    assert_eq!(report.daily.len(), 7);
    assert_eq!(
        report.daily.iter().map(|d| d.metrics.events).sum::<u64>(),
        400
    );
    // The days without events are there, as zeros.
    assert_eq!(report.daily[0].metrics.events, 0);
    assert_eq!(report.daily[0].date, "2026-11-18");
    assert!((report.totals.avg_response_time_ms - 200.25).abs() < 0.5);
}

#[tokio::test]
async fn names_beyond_the_daily_cap_fold_into_other() {
    let setup = setup().await;
    let cap = analytics::metrics::NAME_CAP as usize;
    let events: Vec<TrackedEvent> = (0..cap + 5)
        .map(|i| {
            event(
                "org6",
                &format!("event.{i:03}"),
                None,
                now() - Duration::minutes(i as i64 + 1),
                json!({}),
            )
        })
        .collect();
    aggregate_in_tens(&setup, &events).await;
    let counts = setup.reports.event_counts("org6", today()).await.unwrap();
    assert_eq!(counts.len(), cap + 1);
    assert_eq!(counts[0].name, "other");
    assert_eq!(counts[0].count, 5);
    assert_eq!(
        counts.iter().map(|c| c.count).sum::<u64>(),
        (cap + 5) as u64
    );
}

#[tokio::test]
async fn raw_events_by_name_by_agent_and_all_newest_first() {
    let setup = setup().await;
    let events = ten_events("org7", now() - Duration::hours(1));
    setup.aggregator.process(messages(&events)).await;
    setup
        .aggregator
        .process(messages(&ten_events(
            "other-org",
            now() - Duration::hours(1),
        )))
        .await;
    let all = setup
        .reports
        .events("org7", &EventFilter::default(), 4, None)
        .await
        .unwrap();
    assert_eq!(all.items.len(), 4);
    assert_eq!(all.items[0].id, events[9].id, "newest first");
    let mut seen = all.items.len();
    let mut cursor = all.next_cursor;
    while let Some(c) = cursor {
        let page = setup
            .reports
            .events("org7", &EventFilter::default(), 4, Some(&c))
            .await
            .unwrap();
        seen += page.items.len();
        cursor = page.next_cursor;
    }
    assert_eq!(seen, 10);
    let by_agent = EventFilter {
        agent_id: Some("a1".into()),
        ..Default::default()
    };
    let page = setup
        .reports
        .events("org7", &by_agent, 100, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 4);
    assert!(
        page.items
            .iter()
            .all(|e| e.agent_id.as_deref() == Some("a1"))
    );
    let by_name = EventFilter {
        name: Some("tool.call".into()),
        ..Default::default()
    };
    let page = setup
        .reports
        .events("org7", &by_name, 100, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 5);
    let both = EventFilter {
        name: Some("tool.call".into()),
        agent_id: Some("a2".into()),
        ..Default::default()
    };
    let page = setup
        .reports
        .events("org7", &both, 100, None)
        .await
        .unwrap();
    assert!(
        page.items
            .iter()
            .all(|e| e.name == "tool.call" && e.agent_id.as_deref() == Some("a2"))
    );
    assert_eq!(page.items.len(), 2);
    let window = EventFilter {
        from: Some(events[5].timestamp),
        to: Some(events[7].timestamp),
        ..Default::default()
    };
    let page = setup
        .reports
        .events("org7", &window, 100, None)
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(|e| e.id.clone()).collect::<Vec<_>>(),
        [
            events[7].id.clone(),
            events[6].id.clone(),
            events[5].id.clone()
        ]
    );
    assert_eq!(page.items[0].properties["input_tokens"], 10);

    // Another organization's agents and events are not visible.
    assert!(matches!(
        setup.reports.agent("org7", "no-such-agent", today()).await,
        Err(analytics::AnalyticsError::UnknownAgent)
    ));
    let page = setup
        .reports
        .events("org8", &by_agent, 100, None)
        .await
        .unwrap();
    assert!(page.items.is_empty());
    assert!(matches!(
        setup.reports.agent("org8", "a1", today()).await,
        Err(analytics::AnalyticsError::UnknownAgent)
    ));
    let top = setup
        .reports
        .top_agents("org7", today(), RankBy::Events, 10)
        .await
        .unwrap();
    assert_eq!(
        top.iter().map(|t| t.agent_id.as_str()).collect::<Vec<_>>(),
        ["a1", "a2", "a3"]
    );
    assert_eq!(top[0].rank, 1);
    let top = setup
        .reports
        .top_agents("org7", today(), RankBy::ErrorRate, 1)
        .await
        .unwrap();
    assert_eq!(top[0].agent_id, "a1");
}

#[tokio::test]
async fn billing_usage_counts_only_events_tracked_with_a_key() {
    let setup = setup().await;
    let key = Source::ApiKey {
        key_id: "k1".into(),
    };
    let at = now() - Duration::hours(1);
    let mut events = vec![
        event("org9", "message.sent", None, at, json!({})),
        event(
            "org9",
            "message.sent",
            None,
            at + Duration::milliseconds(1),
            json!({}),
        ),
        event(
            "org9",
            "api.call",
            None,
            at + Duration::milliseconds(2),
            json!({}),
        ),
        event(
            "org9",
            "storage.snapshot",
            None,
            at + Duration::milliseconds(3),
            json!({"bytes": 500}),
        ),
        event(
            "org9",
            "storage.snapshot",
            None,
            at + Duration::milliseconds(4),
            json!({"bytes": 700}),
        ),
    ];
    for e in &mut events[1..] {
        e.source = key.clone();
    }
    setup.aggregator.process(messages(&events)).await;
    // An older snapshot arriving later does not replace the newer one.
    let mut late = event(
        "org9",
        "storage.snapshot",
        None,
        at - Duration::minutes(1),
        json!({"bytes": 1}),
    );
    late.source = key.clone();
    setup.aggregator.process(messages(&[late])).await;
    let usage = analytics::usage::monthly_usage(&setup.store, "org9", 2026, 11)
        .await
        .unwrap();
    assert_eq!(
        usage,
        analytics::usage::MonthlyUsage {
            messages: 1,
            api_calls: 1,
            storage_bytes: 700
        }
    );
    let other_month = analytics::usage::monthly_usage(&setup.store, "org9", 2026, 10)
        .await
        .unwrap();
    assert_eq!(other_month, Default::default());
}

#[tokio::test]
async fn a_rare_agent_is_found_by_following_cursors_and_an_agent_known_earlier_reads_as_zeros() {
    let setup = setup().await;
    // 700 events of a busy agent, newer than the one event of a rare one: a filtered page reads
    // a bounded number of items, so the rare event comes after pages that may be empty.
    let rare = event(
        "org9",
        "tool.call",
        Some("rare"),
        now() - Duration::hours(2),
        json!({}),
    );
    setup
        .aggregator
        .process(messages(std::slice::from_ref(&rare)))
        .await;
    // 1,000 events: more than a page's filtered reads (2 of 100 per shard) hold.
    let busy: Vec<TrackedEvent> = (0..1000)
        .map(|i| {
            event(
                "org9",
                "llm.call",
                Some("busy"),
                now() - Duration::hours(1) + Duration::milliseconds(i),
                json!({}),
            )
        })
        .collect();
    aggregate_in_tens(&setup, &busy).await;
    let filter = EventFilter {
        agent_id: Some("rare".into()),
        ..Default::default()
    };
    let (found, pages) = every_page(&setup, "org9", &filter, 50).await;
    assert_eq!(
        found,
        vec![rare.id.clone()],
        "found once, after {pages} pages"
    );
    assert!(pages > 1, "the filter's reads are bounded per page");
    // Every event, unfiltered, once each across the pages.
    let (all, _) = every_page(&setup, "org9", &EventFilter::default(), 100).await;
    let unique: std::collections::BTreeSet<&String> = all.iter().collect();
    assert_eq!((all.len(), unique.len()), (1001, 1001), "each listed once");

    // An agent whose only events are 30 days old: zeros for the last 7 days, not 404; one
    // older than the raw-event retention (90 days) is unknown.
    let reports =
        |at: DateTime| Reports::new(setup.store.clone(), Clock::manual(at), Duration::days(90));
    let week = |at: DateTime| analytics::period::resolve(Some("7d"), None, None, at).unwrap();
    let later = now() + Duration::days(30);
    let report = reports(later)
        .agent("org9", "rare", week(later))
        .await
        .unwrap();
    assert_eq!(report.totals.events, 0);
    assert_eq!(report.daily.len(), 7);
    let much_later = now() + Duration::days(95);
    assert!(matches!(
        reports(much_later)
            .agent("org9", "rare", week(much_later))
            .await,
        Err(analytics::AnalyticsError::UnknownAgent)
    ));
}
