//! The outbox relay end to end: the real `relay` binary on the table's stream through the local
//! cloud's DynamoDB Streams source (DynamoDB Local), putting messages on the notifications queue
//! in moto. Changes made through the HTTP API, and outbox items written straight to the table
//! for the failure cases.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use auth::Role;
use notify::{Message, Notice, NotificationType, Recipients, Severity, Work};
use outbox::{OutboxRecord, SideEffect};
use serde_json::{Value, json};
use test_support::cloud::{self, LocalCloud};

const RELAY: &str = "RelayFunction";

/// These tests read what the relay puts on the notifications queue, so its consumer waits.
fn dispatcher_paused(config: &mut local_cloud::Config) {
    config
        .paused_consumers
        .insert("NotificationsDispatcherFunction".into());
}

/// A message read from a queue: its body and its `message_id` attribute.
struct Received {
    body: Value,
    id_attribute: Option<String>,
}

/// Reads (and deletes) messages of `queue` until `done` holds for all read so far.
async fn read_until(
    queue: &str,
    done: impl Fn(&[Received]) -> bool,
    within: Duration,
) -> Vec<Received> {
    let received = |messages: &[aws_sdk_sqs::types::Message]| -> Vec<Received> {
        messages
            .iter()
            .map(|m| Received {
                body: serde_json::from_str(m.body().unwrap()).unwrap(),
                id_attribute: m
                    .message_attributes()
                    .and_then(|a| a.get(notify::ID_ATTRIBUTE))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned),
            })
            .collect()
    };
    let messages = test_support::receive_until(queue, |m| done(&received(m)), within).await;
    received(&messages)
}

/// Everything that arrives on `queue` within `wait`.
async fn read_for(queue: &str, wait: Duration) -> Vec<Received> {
    let until = Instant::now() + wait;
    read_until(
        queue,
        |_| Instant::now() >= until,
        wait + Duration::from_secs(5),
    )
    .await
}

fn queue_url(local: &LocalCloud, logical_id: &str) -> String {
    local.cloud.queues[logical_id].url.clone()
}

fn relay_stats(local: &LocalCloud) -> local_cloud::runtime::FunctionStats {
    local.cloud.functions[RELAY].stats()
}

fn notice_record(org: &str, title: &str) -> OutboxRecord {
    OutboxRecord {
        org_id: org.to_owned(),
        change_id: ulid::Ulid::generate().to_string(),
        index: 0,
        record: SideEffect::Notify {
            recipients: Recipients::Users(vec!["u1".into()]),
            notice: Notice {
                kind: NotificationType::Team,
                severity: Severity::Info,
                title: title.to_owned(),
                body: "b".into(),
                data: json!({"n": 1}),
                email_only: false,
            },
        },
        recorded_at: clock::DateTime::now_utc(),
    }
}

async fn put(table: &str, item: store::Item) {
    test_support::dynamodb_client()
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

fn title(message: &Received) -> &str {
    message.body["notice"]["title"].as_str().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_committed_change_is_delivered_once_and_a_refused_one_never() {
    let local = cloud::start_with("r", &cloud::table_name(), dispatcher_paused).await;
    let api = &local.api;
    let notifications = queue_url(&local, "NotificationsQueue");
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let owner = test_support::token(&format!("own-{id}"), json!({}));
    let (status, org) = api
        .call(
            reqwest::Method::POST,
            "/v1/orgs",
            &owner,
            None,
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_owned();
    let store = store::Store::new(test_support::dynamodb_client(), local.table.as_str());
    let fixtures = test_support::fixtures::Fixtures::new(store.clone(), clock::Clock::system());
    let member = format!("mem-{id}");
    fixtures.add_member(&org, &member, Role::Member).await;

    // The organization, its owner, the member and their counters entered the stream: none is
    // an outbox item. The filters keep all but the profile's change of seats from the relay,
    // which checks the seats (2 of 5: no level) and sends nothing.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(relay_stats(&local).invocations, 1);
    assert!(
        read_for(&notifications, Duration::ZERO).await.is_empty(),
        "nothing to deliver"
    );

    let path = format!("/v1/team/members/{member}/role");
    let (status, body) = api
        .call(
            reqwest::Method::PATCH,
            &path,
            &owner,
            Some(&org),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let as_member = test_support::token(&member, json!({}));
    let path = format!("/v1/team/members/own-{id}/role");
    let (status, _) = api
        .call(
            reqwest::Method::PATCH,
            &path,
            &as_member,
            Some(&org),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!(status, 403, "a viewer changes no role");

    let received = read_until(&notifications, |r| !r.is_empty(), Duration::from_secs(20)).await;
    let message: Message = serde_json::from_value(received[0].body.clone()).unwrap();
    let stored: Vec<OutboxRecord> = store
        .query(store::Query::new(
            "t",
            store::keys::outbox(store::keys::OrgId(&org)),
            10,
            None,
        ))
        .await
        .unwrap()
        .items;
    assert_eq!(stored.len(), 1, "one change, one side effect");
    assert_eq!(message.id, stored[0].delivery_id());
    assert_eq!(
        received[0].id_attribute.as_deref(),
        Some(message.id.as_str())
    );
    assert_eq!(message.org_id, org);
    let Work::Notify { recipients, notice } = message.work else {
        panic!("{:?}", received[0].body)
    };
    assert_eq!(recipients, Recipients::Users(vec![member.clone()]));
    assert_eq!(notice.title, "Your role changed");
    assert_eq!(notice.data["to"], "viewer");
    // Nothing else arrives: the refused change recorded nothing to deliver.
    let later = read_for(&notifications, Duration::from_millis(1500)).await;
    assert!(
        later.is_empty(),
        "{:?}",
        later.iter().map(|r| &r.body).collect::<Vec<_>>()
    );
    assert!(
        read_for(&queue_url(&local, "RelayFailureQueue"), Duration::ZERO)
            .await
            .is_empty()
    );
}

/// The sequence number the table's stream gave the item with this sort key.
async fn sequence_number_of(table: &str, sort_key: &str) -> String {
    let db = test_support::dynamodb_client();
    let arn = db
        .describe_table()
        .table_name(table)
        .send()
        .await
        .unwrap()
        .table
        .and_then(|t| t.latest_stream_arn)
        .unwrap();
    let streams = local_cloud::clients::dynamodb_streams(&test_support::dynamodb_endpoint());
    let shards = streams
        .describe_stream()
        .stream_arn(&arn)
        .send()
        .await
        .unwrap();
    for shard in shards.stream_description.unwrap().shards() {
        let mut iterator = streams
            .get_shard_iterator()
            .stream_arn(&arn)
            .shard_id(shard.shard_id().unwrap())
            .shard_iterator_type(aws_sdk_dynamodbstreams::types::ShardIteratorType::TrimHorizon)
            .send()
            .await
            .unwrap()
            .shard_iterator;
        while let Some(current) = iterator {
            let output = streams
                .get_records()
                .shard_iterator(current)
                .send()
                .await
                .unwrap();
            for record in output.records() {
                let change = record.dynamodb().unwrap();
                let sk = change
                    .keys()
                    .and_then(|k| k.get("SK"))
                    .and_then(|v| v.as_s().ok());
                if sk.map(String::as_str) == Some(sort_key) {
                    return change.sequence_number().unwrap().to_owned();
                }
            }
            if output.records().is_empty() {
                break;
            }
            iterator = output.next_shard_iterator;
        }
    }
    panic!("{sort_key} is not in the stream")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_record_that_keeps_failing_is_discarded_to_the_failure_queue_and_the_rest_delivered() {
    let table = cloud::table_name();
    cloud::create_table(&table).await;
    // One batch (TRIM_HORIZON reads them together): a record written by a newer version of the
    // code than this relay knows, between records it delivers.
    let org = format!("o-{}", ulid::Ulid::generate());
    let before = notice_record(&org, "before");
    let newer = notice_record(&org, "newer");
    let (after1, after2) = (
        notice_record(&org, "after 1"),
        notice_record(&org, "after 2"),
    );
    put(&table, before.item().unwrap()).await;
    let mut item = newer.item().unwrap();
    item.insert(
        outbox::MARKER.into(),
        aws_sdk_dynamodb::types::AttributeValue::S("v2".into()),
    );
    put(&table, item).await;
    put(&table, after1.item().unwrap()).await;
    put(&table, after2.item().unwrap()).await;

    let local = cloud::start_with("r", &table, dispatcher_paused).await;
    let failures = queue_url(&local, "RelayFailureQueue");
    let pointers = read_until(&failures, |r| !r.is_empty(), Duration::from_secs(30)).await;
    let received = read_for(
        &queue_url(&local, "NotificationsQueue"),
        Duration::from_secs(1),
    )
    .await;

    // The failed record is retried from (with what follows it in its batch) until the mapping's
    // retries are spent, then Lambda's pointer (not the record) goes to the failure queue.
    let info = &pointers[0].body["DDBStreamBatchInfo"];
    assert_eq!(
        pointers[0].body["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(
        info["startSequenceNumber"],
        sequence_number_of(&table, &newer.key().sk).await.as_str()
    );
    assert_eq!(info["batchSize"], 3, "{info}");
    // Every record around it was delivered; a record delivered again (each retry) carries
    // the same id, so the dispatcher keeps one.
    let ids = |title_wanted: &str| -> Vec<String> {
        received
            .iter()
            .filter(|m| title(m) == title_wanted)
            .map(|m| m.body["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert!(ids("newer").is_empty());
    assert_eq!(ids("before"), [before.delivery_id()]);
    for record in [&after1, &after2] {
        let delivered = ids(&record_title(record));
        assert!(
            delivered.len() >= 2,
            "delivered again with each retry: {delivered:?}"
        );
        assert!(delivered.iter().all(|id| *id == record.delivery_id()));
    }
    let retries = 10;
    assert_eq!(relay_stats(&local).invocations, 1 + retries);
}

/// The notice title an outbox record carries (none for other side effects).
fn record_title(record: &OutboxRecord) -> String {
    match &record.record {
        SideEffect::Notify { notice, .. } => notice.title.clone(),
        _ => String::new(),
    }
}

/// A TCP proxy to moto that holds every connection (reads, never answers) until it is told to
/// forward: a relay caught between reading its batch and sending it.
struct Proxy {
    url: String,
    forwarding: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
}

async fn proxy_to_moto() -> Proxy {
    let target = test_support::sqs_endpoint()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_owned();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let forwarding = Arc::new(AtomicBool::new(false));
    let connections = Arc::new(AtomicUsize::new(0));
    let (forward, count) = (forwarding.clone(), connections.clone());
    tokio::spawn(async move {
        loop {
            let (mut inbound, _) = listener.accept().await.unwrap();
            count.fetch_add(1, Ordering::SeqCst);
            let (target, forward) = (target.clone(), forward.load(Ordering::SeqCst));
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                if forward {
                    let mut outbound = tokio::net::TcpStream::connect(target).await.unwrap();
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                } else {
                    let mut buffer = [0u8; 4096];
                    while matches!(inbound.read(&mut buffer).await, Ok(n) if n > 0) {}
                }
            });
        }
    });
    Proxy {
        url,
        forwarding,
        connections,
    }
}

async fn wait_for(what: &str, within: Duration, done: impl Fn() -> bool) {
    let deadline = Instant::now() + within;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relay_killed_after_reading_and_before_sending_delivers_on_the_retry() {
    let table = cloud::table_name();
    cloud::create_table(&table).await;
    let record = notice_record(&format!("o-{}", ulid::Ulid::generate()), "survivor");
    put(&table, record.item().unwrap()).await;
    let proxy = proxy_to_moto().await;
    let local = cloud::start_with("r", &table, |config| {
        dispatcher_paused(config);
        config
            .environment
            .insert("AWS_ENDPOINT_URL_SQS".into(), proxy.url.clone());
    })
    .await;
    // The relay has read its batch and is sending it: hold it there until Lambda's timeout
    // kills the instance.
    wait_for("the relay's send", Duration::from_secs(20), || {
        proxy.connections.load(Ordering::SeqCst) > 0
    })
    .await;
    wait_for("the instance to be killed", Duration::from_secs(30), || {
        relay_stats(&local).errors > 0
    })
    .await;
    assert_eq!(relay_stats(&local).invocations, 1);
    proxy.forwarding.store(true, Ordering::SeqCst);

    let received = read_until(
        &queue_url(&local, "NotificationsQueue"),
        |r| !r.is_empty(),
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(received[0].body["id"], record.delivery_id().as_str());
    assert_eq!(title(&received[0]), "survivor");
    let stats = relay_stats(&local);
    assert!(stats.instances_started >= 2, "{stats:?}");
}

#[tokio::test]
async fn the_sample_batch_is_relayed_the_unknown_record_reported_and_usage_checked() {
    let sqs = test_support::sqs_client();
    let queue = test_support::fresh_queue(&sqs).await;
    let dynamodb = test_support::dynamodb_client();
    let table = test_support::fresh_table(&dynamodb).await;
    let store = store::Store::new(dynamodb, table);
    // The sample's organization, on the free plan, with 800 of its 1,000 messages this month.
    let org = "01JD3YQ9V4Z8K2M6N0P3R5T7W9";
    let clock = clock::Clock::system();
    let fixtures = test_support::fixtures::Fixtures::new(store.clone(), clock.clone());
    fixtures.user("owner").await;
    let now = clock.now();
    let profile = json!({
        "id": org, "name": "Acme", "plan": "free", "created_by": "owner",
        "created_at": clock::rfc3339(now), "updated_at": clock::rfc3339(now),
        "member_count": 1, "owner_count": 1, "seats_used": 1,
    });
    store
        .put(
            store::item(
                &store::keys::org_profile(store::keys::OrgId(org)),
                "organization",
                &profile,
            )
            .unwrap(),
            store::Condition::NotExists,
        )
        .await
        .unwrap();
    let today = format!(
        "{}-{:02}-{:02}",
        now.year(),
        u8::from(now.month()),
        now.day()
    );
    let _: Value = store
        .update(
            store::Update::new(store::keys::org_day(store::keys::OrgId(org), &today))
                .add("billable_messages", 800),
        )
        .await
        .unwrap();
    let consumers = relay_function::Consumers {
        outbox: outbox::Relay::new(notify::Queue::new(sqs, queue.clone())),
        metering: metering::Metering::new(store.clone(), clock, clock::Duration::days(365)),
    };
    let sample =
        std::fs::read_to_string(test_support::samples::dir().join("relay-stream-batch.json"))
            .unwrap();
    let event: aws_lambda_events::dynamodb::Event = serde_json::from_str(&sample).unwrap();
    let response = relay_function::handle(&consumers, event).await;
    let failed: Vec<_> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone().unwrap())
        .collect();
    assert_eq!(failed, ["100000000000000000002"]);
    let received = read_until(&queue, |r| !r.is_empty(), Duration::from_secs(10)).await;
    assert_eq!(title(&received[0]), "Your role changed");
    assert_eq!(received[0].body["org_id"], "01JD3YQ9V4Z8K2M6N0P3R5T7W9");
    assert_eq!(
        received[0].body["recipients"]["value"],
        json!(["local-user"])
    );
    // The day's usage change: the 80 % level recorded, with its notice in the outbox.
    let recorded: Vec<OutboxRecord> = store
        .query(store::Query::new(
            "t",
            store::keys::outbox(store::keys::OrgId(org)),
            10,
            None,
        ))
        .await
        .unwrap()
        .items;
    assert_eq!(recorded.len(), 1);
    let SideEffect::Notify { notice, .. } = &recorded[0].record else {
        panic!("{recorded:?}")
    };
    assert_eq!(
        notice.data,
        json!({
            "metric": "messages", "level": 80, "used": 800, "limit": 1000, "plan": "free",
            "period_start": notice.data["period_start"], "period_end": notice.data["period_end"],
        })
    );
}

/// The template's stream filters, as the local cloud (and Lambda) apply them.
fn relay_filters() -> local_cloud::filter::Filters {
    let template = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    let template = sam_template::Template::load(&template).unwrap();
    let mapping = template
        .stream_mappings()
        .unwrap()
        .into_iter()
        .find(|m| m.logical_id == "RelayStream")
        .unwrap();
    local_cloud::filter::Filters::parse(&mapping.filter_patterns).unwrap()
}

#[test]
fn the_template_filters_pass_outbox_items_metered_days_and_profile_changes_only() {
    let filters = relay_filters();
    let sample: Value = serde_json::from_str(
        &std::fs::read_to_string(test_support::samples::dir().join("relay-stream-batch.json"))
            .unwrap(),
    )
    .unwrap();
    for record in sample["Records"].as_array().unwrap() {
        assert!(filters.pass(record), "{record}");
    }
    let record = |event: &str, pk: &str, sk: &str, image: Value| {
        let mut image = image;
        image["PK"] = json!({"S": pk});
        image["SK"] = json!({"S": sk});
        json!({"eventName": event, "dynamodb": {
            "Keys": {"PK": {"S": pk}, "SK": {"S": sk}}, "NewImage": image,
        }})
    };
    let day = json!({"entity": {"S": "org_day"}, "events": {"N": "3"}});
    let metered = json!({"entity": {"S": "org_day"}, "metered": {"S": "v1"}});
    let profile = json!({"entity": {"S": "organization"}, "seats_used": {"N": "2"}});
    let passes = [
        record("MODIFY", "ORG#o", "ORG_DAY#2026-12-02", metered.clone()),
        record("INSERT", "ORG#o", "ORG_DAY#2026-12-02", metered),
        record("MODIFY", "ORG#o", "PROFILE", profile.clone()),
    ];
    for r in &passes {
        assert!(filters.pass(r), "{r}");
    }
    let refused = [
        // A day without billing usage, a new organization, a user's profile, an agent's day.
        record("MODIFY", "ORG#o", "ORG_DAY#2026-12-02", day.clone()),
        record("INSERT", "ORG#o", "PROFILE", profile),
        record(
            "MODIFY",
            "USER#u",
            "PROFILE",
            json!({"entity": {"S": "user"}}),
        ),
        record("MODIFY", "ORG#o", "AGENT_DAY#2026-12-02#a", day),
        record("REMOVE", "ORG#o", "ORG_DAY#2026-12-01", json!({})),
    ];
    for r in &refused {
        assert!(!filters.pass(r), "{r}");
    }
}
