//! `devtools ingest`: N tracked events through the local cloud (HTTP API → analytics function →
//! SQS → aggregator → DynamoDB), timed from the first request to the overview showing all of
//! them; then the write cost of the same events, aggregated in batches of 10 in process, from
//! DynamoDB's consumed capacity and from DynamoDB's published pricing rules applied to the stored
//! items' sizes.

use std::time::{Duration, Instant};

use analytics::{Aggregator, Message, Source, TrackedEvent};
use serde_json::{Value, json};
use store::aws_sdk_dynamodb::types::AttributeValue;

pub struct IngestOptions {
    pub binaries: std::path::PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    pub counts: Vec<usize>,
    /// Track requests in flight at once.
    pub concurrency: usize,
}

/// Events tracked before waiting for them to be aggregated.
const WINDOW: usize = 500;

const NAMES: [&str; 8] = [
    "llm.call",
    "tool.call",
    "message.sent",
    "retrieval",
    "plan",
    "reply",
    "api.call",
    "feedback",
];

/// The n-th benchmark event: 20 agents, 8 names, response times and tokens.
fn event(i: usize) -> Value {
    json!({
        "name": NAMES[i % NAMES.len()],
        "agent_id": format!("agent-{:02}", i % 20),
        "properties": {"response_time_ms": 20 + (i * 37) % 2000, "input_tokens": 100 + i % 50, "output_tokens": 40 + i % 30, "error": i.is_multiple_of(50)}
    })
}

pub async fn run(options: IngestOptions, token: String) -> Result<String, String> {
    local_cloud::logs::set_quiet(std::env::var_os("LOCAL_CLOUD_LOGS").is_none());
    let table = format!(
        "ingest-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let cloud = local_cloud::start(local_cloud::Config {
        max_instances: 4,
        ..test_support::cloud::config(
            options.binaries.clone(),
            &options.dynamodb,
            &options.sqs,
            &table,
        )
    })
    .await?;
    let api = test_support::Gateway::new(cloud.http);
    let mut report = Vec::new();
    for &n in &options.counts {
        let (status, org) = api
            .call(
                reqwest::Method::POST,
                "/v1/orgs",
                &token,
                None,
                Some(json!({"name": "Ingest"})),
            )
            .await;
        if status != 201 {
            return Err(format!("creating the organization failed: {org}"));
        }
        let org = org["id"].as_str().unwrap_or_default().to_owned();
        // Closed loop: a window of events is tracked, then awaited in the overview, so the queue
        // never holds more than a window (moto's SQS slows down linearly with queue depth).
        let started = Instant::now();
        let (mut sent, mut tracking, mut lags) = (0, Duration::ZERO, Vec::new());
        while sent < n {
            let window_end = (sent + WINDOW).min(n);
            let window_started = Instant::now();
            let mut requests = tokio::task::JoinSet::new();
            let mut last_accepted = window_started;
            while sent < window_end || !requests.is_empty() {
                while sent < window_end && requests.len() < options.concurrency {
                    let events: Vec<Value> =
                        (sent..(sent + 100).min(window_end)).map(event).collect();
                    sent += events.len();
                    let (api, token, org) = (
                        test_support::Gateway::new(cloud.http),
                        token.clone(),
                        org.clone(),
                    );
                    requests.spawn(async move {
                        api.call(
                            reqwest::Method::POST,
                            "/v1/analytics/track",
                            &token,
                            Some(&org),
                            Some(json!({"events": events})),
                        )
                        .await
                    });
                }
                if let Some(done) = requests.join_next().await {
                    let (status, body) = done.map_err(|e| e.to_string())?;
                    if status != 202 {
                        return Err(format!("track answered {status}: {body}"));
                    }
                    last_accepted = Instant::now();
                }
            }
            tracking += last_accepted - window_started;
            let deadline = Instant::now() + Duration::from_secs(900);
            loop {
                let (_, overview) = api
                    .call(
                        reqwest::Method::GET,
                        "/v1/analytics/overview",
                        &token,
                        Some(&org),
                        None,
                    )
                    .await;
                if overview["metrics"]["events"]["current"].as_u64() == Some(sent as u64) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("{sent} events not aggregated in time: {overview}"));
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            lags.push(last_accepted.elapsed().as_secs_f64());
        }
        let total = started.elapsed();
        lags.sort_by(f64::total_cmp);
        report.push(format!(
            "N = {n} (windows of {WINDOW}): tracking (all 202) {:.0} events/s; aggregated and visible {:.0} events/s end to end ({:.1} s); lag from a window's last 202 to all of it visible in the overview: median {:.2} s, max {:.2} s",
            n as f64 / tracking.as_secs_f64(),
            n as f64 / total.as_secs_f64(),
            total.as_secs_f64(),
            lags[lags.len() / 2],
            lags[lags.len() - 1],
        ));
    }
    cloud.shutdown();
    for mix in [Mix::AgentPerBatch, Mix::RoundRobin] {
        report.push(write_cost(&options, mix).await?);
    }
    Ok(report.join("\n"))
}

/// How the events of a batch spread over agents.
#[derive(Clone, Copy, Debug)]
enum Mix {
    /// All ten events of a batch from one agent (of 20): a conversation's events arriving together.
    AgentPerBatch,
    /// Each event from the next of 20 agents: ten agent-days per batch, the worst case.
    RoundRobin,
}

/// The same kind of events, 5,000 of them in batches of 10, aggregated in process.
async fn write_cost(options: &IngestOptions, mix: Mix) -> Result<String, String> {
    let client = test_support::dynamodb_client_at(&options.dynamodb);
    let table = test_support::fresh_table(&client).await;
    let table = table.as_str();
    let store = store::Store::new(client.clone(), table.to_owned());
    let aggregator = Aggregator::new(store, clock::Duration::days(90));
    let org = format!("WCU{}", ulid::Ulid::generate());
    let now = clock::DateTime::now_utc();
    let (mut local_units, mut events, mut updates, mut index_entries) =
        (0.0, 0usize, 0usize, 0usize);
    const BATCHES: usize = 500;
    for batch in 0..BATCHES {
        let messages: Vec<Message> = (0..10)
            .map(|j| {
                let i = batch * 10 + j;
                let mut input = event(i);
                if let Mix::AgentPerBatch = mix {
                    input["agent_id"] = format!("agent-{:02}", batch % 20).into();
                }
                let tracked = TrackedEvent {
                    org_id: org.clone(),
                    id: ulid::Ulid::generate().to_string(),
                    client_id: false,
                    name: input["name"].as_str().unwrap_or("x").to_owned(),
                    agent_id: input["agent_id"].as_str().map(str::to_owned),
                    timestamp: now - clock::Duration::milliseconds(i as i64),
                    properties: input["properties"].as_object().cloned().unwrap_or_default(),
                    source: Source::Member {
                        user_id: "bench".into(),
                    },
                };
                index_entries += 1 + usize::from(tracked.agent_id.is_some());
                Message {
                    message_id: i.to_string(),
                    body: serde_json::to_string(&tracked).unwrap_or_default(),
                }
            })
            .collect();
        let outcome = aggregator.process(messages).await;
        if !outcome.failed.is_empty() {
            return Err(format!("aggregation failed: {outcome:?}"));
        }
        local_units += outcome.write_units;
        events += outcome.counted;
        updates += outcome.counter_updates;
    }
    // Item sizes as DynamoDB bills them, from the stored items.
    let sizes = |prefix: &'static str| {
        let client = client.clone();
        let (table, org) = (table.to_owned(), org.clone());
        async move {
            let output = client
                .query()
                .table_name(table)
                .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                .expression_attribute_values(":pk", AttributeValue::S(format!("ORG#{org}")))
                .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
                .limit(200)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let sizes: Vec<usize> = output.items().iter().map(item_size).collect();
            Ok::<f64, String>(sizes.iter().sum::<usize>() as f64 / sizes.len().max(1) as f64)
        }
    };
    let raw = sizes("EVENT#").await?;
    let counters = (sizes("ORG_DAY#").await? + sizes("AGENT_DAY#").await?) / 2.0;
    let units = |bytes: f64| (bytes / 1024.0).ceil().max(1.0);
    let table_units = events as f64 * 2.0 * units(raw) + updates as f64 * 2.0 * units(counters);
    let index_units = index_entries as f64 * units(raw);
    Ok(format!(
        "write cost, {events} events in batches of 10 ({mix:?}; 20 agents, 8 names):\n  \
         DynamoDB Local's consumed capacity: {:.2} WCU/event (it charges a transaction per table and index touched, not per item)\n  \
         by DynamoDB's rules from item sizes (raw event {raw:.0} B, counter item {counters:.0} B, {:.1} counter updates per batch): \
         table {:.2} WCU/event (transactional, 2 per KiB), indexes {:.2} WCU/event (GSI1 by name, GSI2 by agent), total {:.2}",
        local_units / events as f64,
        updates as f64 / BATCHES as f64,
        table_units / events as f64,
        index_units / events as f64,
        (table_units + index_units) / events as f64,
    ))
}

/// The size (as [`item_size`] counts it) of the item stored under `key`; 0 when there is none.
pub(crate) async fn stored_item_size(
    client: &store::aws_sdk_dynamodb::Client,
    table: &str,
    key: store::Key,
) -> Result<usize, String> {
    let output = client
        .get_item()
        .table_name(table)
        .key(store::keys::PK, AttributeValue::S(key.pk))
        .key(store::keys::SK, AttributeValue::S(key.sk))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok(output.item().map(item_size).unwrap_or(0))
}

/// An item's size as DynamoDB counts it: attribute names plus values.
pub(crate) fn item_size(item: &std::collections::HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => n.trim_start_matches('-').replace('.', "").len().div_ceil(2) + 1,
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, v)| k.len() + value_size(v) + 1)
                .sum::<usize>()
        }
        AttributeValue::L(l) => 3 + l.iter().map(|v| value_size(v) + 1).sum::<usize>(),
        _ => 0,
    }
}
