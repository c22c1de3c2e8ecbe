//! Usage limits: the free plan's gate at the track route and the levels metering records, on
//! DynamoDB Local and moto with the real aggregator. (The relay's part, stream records to
//! `Metering::check`, runs through the local cloud in the relay's tests.)

use super::*;
use metering::{Crossing, Metering};
use plans::usage::Metric;

struct Limits {
    api: Api,
    org: String,
    key: String,
    metering: Metering,
}

async fn limits() -> Limits {
    let api = api().await;
    let org = api.fixtures.org("owner").await;
    let key = api.api_key(&org, "owner").await;
    let metering = Metering::new(api.store.clone(), api.clock.clone(), Duration::days(365));
    Limits {
        api,
        org,
        key,
        metering,
    }
}

impl Limits {
    /// Tracks with the key: its status and body.
    async fn track_with_key(&self, body: &str) -> (StatusCode, Value) {
        self.api
            .client
            .with_token(
                Method::POST,
                "/v1/analytics/track",
                &self.key,
                None,
                Some(body),
            )
            .await
    }

    /// `n` `message.sent` events with the key, 100 per request, aggregated.
    async fn send_messages(&self, n: usize) {
        let mut left = n;
        while left > 0 {
            let batch = left.min(100);
            let events: Vec<Value> = (0..batch)
                .map(|_| json!({"name": "message.sent"}))
                .collect();
            let (status, body) = self
                .track_with_key(&json!({ "events": events }).to_string())
                .await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
            left -= batch;
        }
        assert_eq!(self.api.aggregate().await, n);
    }

    /// `n` billable messages added to today's counters as the aggregator adds them, for the
    /// bulk of a test that is not about counting (tracking thousands through moto is slow).
    async fn count_directly(&self, n: i64) {
        let today = analytics::period::format_date(self.api.clock.now().date());
        let _: Value = self
            .api
            .store
            .update(
                store::Update::new(keys::org_day(keys::OrgId(&self.org), &today))
                    .add(analytics::metrics::attr::BILLABLE_MESSAGES, n),
            )
            .await
            .unwrap();
    }

    /// The notices recorded for owners and admins: (metric, level), sorted (the manual clock
    /// stands still, so their change ids do not order them); duplicates kept.
    async fn notices(&self) -> Vec<(String, u64)> {
        let query = store::Query::new("t", keys::outbox(keys::OrgId(&self.org)), 100, None);
        let records: Vec<outbox::OutboxRecord> = self.api.store.query(query).await.unwrap().items;
        let mut notices = records
            .into_iter()
            .filter_map(|r| match r.record {
                outbox::SideEffect::Notify { notice, recipients } => {
                    assert_eq!(
                        recipients,
                        notify::Recipients::Roles(vec![Role::Owner, Role::Admin])
                    );
                    Some((
                        notice.data["metric"].as_str()?.to_owned(),
                        notice.data["level"].as_u64()?,
                    ))
                }
                _ => None,
            })
            .collect::<Vec<_>>();
        notices.sort();
        notices
    }
}

fn crossing(metric: Metric, level: u8, used: u64, limit: u64) -> Crossing {
    Crossing {
        metric,
        level,
        used,
        limit,
    }
}

#[tokio::test]
async fn a_free_organization_is_told_at_80_and_100_percent_once_and_then_refused_metered_events() {
    let l = limits().await;
    let one_message = r#"{"events":[{"name":"message.sent"},{"name":"agent.run"}]}"#;

    l.send_messages(799).await;
    assert_eq!(l.metering.check(&l.org).await.unwrap(), vec![]);
    l.send_messages(1).await;
    assert_eq!(
        l.metering.check(&l.org).await.unwrap(),
        vec![crossing(Metric::Messages, 80, 800, 1000)]
    );
    // Checked again (a redelivered stream record): nothing new.
    assert_eq!(l.metering.check(&l.org).await.unwrap(), vec![]);
    // Below the limit, still accepted.
    assert_eq!(l.track_with_key(one_message).await.0, StatusCode::ACCEPTED);
    l.api.aggregate().await;

    l.send_messages(199).await;
    // Two checks racing (two relay invocations): the level is recorded and told once.
    let other = Metering::new(
        l.api.store.clone(),
        l.api.clock.clone(),
        Duration::days(365),
    );
    let (a, b) = tokio::join!(l.metering.check(&l.org), other.check(&l.org));
    let mut both = a.unwrap();
    both.extend(b.unwrap());
    assert_eq!(both, vec![crossing(Metric::Messages, 100, 1000, 1000)]);
    assert_eq!(
        l.notices().await,
        vec![("messages".into(), 80), ("messages".into(), 100)]
    );

    // Exhausted: a request with a message event is refused whole, nothing queued.
    let (status, problem) = l.track_with_key(one_message).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
    assert_eq!(problem["code"], "plan_limit_reached");
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("1000 messages"), "{detail}");
    let next_month = {
        let today = l.api.clock.now().date();
        let (_, end) = plans::usage::period(1, today);
        format!("{}-{:02}-01T00:00:00", end.year(), u8::from(end.month()))
    };
    assert!(detail.contains(&next_month), "{detail}");
    assert!(l.api.queued().await.is_empty());
    // Events of other metrics, or of none, are still taken; storage snapshots always.
    for body in [
        r#"{"name":"agent.run"}"#,
        r#"{"events":[{"name":"api.call"},{"name":"storage.snapshot","properties":{"bytes":5}}]}"#,
    ] {
        let (status, answer) = l.track_with_key(body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{answer}");
    }
    // A member's token is analytics only: never refused.
    let (status, _) = l
        .api
        .client
        .as_member(
            Method::POST,
            "/v1/analytics/track",
            "owner",
            &l.org,
            Some(one_message),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    l.api.aggregate().await;
    assert_eq!(l.metering.check(&l.org).await.unwrap(), vec![]);

    // The next month starts clean: accepted again, and told again at 80 %.
    let now = l.api.clock.now();
    let (_, end) = plans::usage::period(1, now.date());
    l.api
        .clock
        .advance(end.midnight().assume_utc() - now + Duration::hours(1));
    assert_eq!(l.track_with_key(one_message).await.0, StatusCode::ACCEPTED);
    l.api.aggregate().await;
    l.count_directly(799).await;
    assert_eq!(
        l.metering.check(&l.org).await.unwrap(),
        vec![crossing(Metric::Messages, 80, 800, 1000)]
    );
}

#[tokio::test]
async fn a_jump_past_both_levels_tells_both_and_seats_and_storage_cross_too() {
    let l = limits().await;
    // 4 of 5 seats, and a snapshot of the whole 100 MB.
    let _: Value = l
        .api
        .store
        .update(store::Update::new(keys::org_profile(keys::OrgId(&l.org))).set("seats_used", &4))
        .await
        .unwrap();
    let (status, _) = l
        .track_with_key(r#"{"name":"storage.snapshot","properties":{"bytes":100000000}}"#)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    l.api.aggregate().await;
    assert_eq!(
        l.metering.check(&l.org).await.unwrap(),
        vec![
            crossing(Metric::StorageBytes, 80, 100_000_000, 100_000_000),
            crossing(Metric::StorageBytes, 100, 100_000_000, 100_000_000),
            crossing(Metric::Seats, 80, 4, 5),
        ]
    );
    // A full storage never refuses a snapshot or a message.
    let (status, _) = l
        .track_with_key(r#"{"events":[{"name":"storage.snapshot","properties":{"bytes":1}},{"name":"message.sent"}]}"#)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let usage = metering::current_usage(
        &l.api.store,
        &l.api
            .store
            .get(&keys::org_profile(keys::OrgId(&l.org)))
            .await
            .unwrap()
            .unwrap(),
        l.api.clock.now(),
    )
    .await
    .unwrap();
    assert_eq!(usage.reached.of(Metric::StorageBytes), 100);
    assert_eq!(usage.reached.of(Metric::Seats), 80);
    assert_eq!(usage.reached.of(Metric::Messages), 0);
}

#[tokio::test]
async fn a_paid_plan_over_its_limit_is_never_refused() {
    let l = limits().await;
    l.count_directly(995).await;
    l.send_messages(5).await;
    assert_eq!(
        l.metering.check(&l.org).await.unwrap(),
        vec![
            crossing(Metric::Messages, 80, 1000, 1000),
            crossing(Metric::Messages, 100, 1000, 1000)
        ]
    );
    assert_eq!(
        l.track_with_key(r#"{"name":"message.sent"}"#).await.0,
        StatusCode::PAYMENT_REQUIRED
    );
    // Subscribed to starter from today: its own period and limits, refused no more.
    let now = l.api.clock.now();
    let facts = plans::SubscriptionFacts {
        status: plans::SubscriptionStatus::Active,
        plan: "starter".into(),
        interval: plans::Interval::Month,
        current_period_start: now,
        current_period_end: now + Duration::days(30),
        cancel_at_period_end: false,
        pending_plan: None,
        pending_interval: None,
        past_due_since: None,
    };
    let _: Value = l
        .api
        .store
        .update(
            store::Update::new(keys::org_profile(keys::OrgId(&l.org))).set("subscription", &facts),
        )
        .await
        .unwrap();
    assert_eq!(
        l.track_with_key(r#"{"name":"message.sent"}"#).await.0,
        StatusCode::ACCEPTED
    );
    l.api.aggregate().await;
    // Starter's limits apply from a clean slate: 1,001 of 10,000 is no level.
    assert_eq!(l.metering.check(&l.org).await.unwrap(), vec![]);
    // Over the paid limit too.
    l.count_directly(9000).await;
    assert_eq!(
        l.metering.check(&l.org).await.unwrap(),
        vec![
            crossing(Metric::Messages, 80, 10_001, 10_000),
            crossing(Metric::Messages, 100, 10_001, 10_000)
        ]
    );
    let (status, body) = l.track_with_key(r#"{"name":"message.sent"}"#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}
