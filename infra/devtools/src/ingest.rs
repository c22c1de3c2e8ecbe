//! `devtools ingest`: first the write cost of the benchmark's events, aggregated in batches of 10
//! in process, from DynamoDB's consumed capacity and from DynamoDB's published pricing rules
//! applied to the stored items' sizes; then N tracked events through the local cloud (HTTP API →
//! analytics function → SQS → aggregator → DynamoDB), timed from the first request to the
//! overview showing all of them, with each request's lag and the final count.

use std::time::{Duration, Instant};

use analytics::{Aggregator, Message, Source, TrackedEvent};
use serde_json::{Value, json};
use store::aws_sdk_dynamodb::types::AttributeValue;

pub struct IngestOptions {
    pub binaries: std::path::PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    /// SES (moto's), when SQS is an emulator that has no SES.
    pub ses: Option<String>,
    pub counts: Vec<usize>,
    /// Track requests in flight at once.
    pub concurrency: usize,
    /// Events tracked before waiting for them to be aggregated; 0: all of them (open loop).
    pub window: usize,
    /// The local cloud's instances per function.
    pub instances: usize,
    /// A mixed load of reads and tracking after the runs, this long (0: none) ...
    pub mixed_seconds: u64,
    /// ... with this many clients.
    pub mixed_clients: usize,
    /// Whether the runs' table has the template's stream (and its mappings read it). Off, the
    /// figures leave out DynamoDB Local's stream, whose cost AWS does not have: it looks up the
    /// stream's earliest record for every item written, and that grows with the stream (10,000
    /// events aggregated at 44 events/s with it, 1,626 without).
    pub table_stream: bool,
    /// The aggregator's DynamoDB requests in flight per organization (`WRITES_IN_FLIGHT`; its
    /// default is 8, as on AWS).
    pub writes_in_flight: usize,
}

/// The local cloud for a benchmark: every function of the template over `dynamodb` and `sqs`
/// (SES at `ses` when given, else at `sqs`: moto serves both), `instances` per function.
pub(crate) fn cloud_config(
    binaries: &std::path::Path,
    dynamodb: &str,
    sqs: &str,
    ses: Option<&str>,
    table: &str,
    instances: usize,
) -> local_cloud::Config {
    let mut config = local_cloud::Config {
        max_instances: instances,
        ..test_support::cloud::config(binaries.to_owned(), dynamodb, sqs, table)
    };
    if let Some(ses) = ses {
        config
            .environment
            .insert("AWS_ENDPOINT_URL_SESV2".to_owned(), ses.to_owned());
    }
    config
}

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

/// The benchmark's events come from this many agents.
const AGENTS: usize = 20;

/// Write units of one plain write of an item of `bytes` (1 per KiB started, at least 1).
fn write_units(bytes: f64) -> f64 {
    (bytes / 1024.0).ceil().max(1.0)
}

/// The n-th benchmark event: 20 agents, 8 names, response times and tokens.
fn event(i: usize) -> Value {
    json!({
        "name": NAMES[i % NAMES.len()],
        "agent_id": format!("agent-{:02}", i % AGENTS),
        "properties": {"response_time_ms": 20 + (i * 37) % 2000, "input_tokens": 100 + i % 50, "output_tokens": 40 + i % 30, "error": i.is_multiple_of(50)}
    })
}

/// What the overview showed while a run's events were aggregated.
#[derive(Default)]
struct Watched {
    /// (time since the run started, events visible), every [`WATCH_EVERY`].
    seen: Vec<(Duration, u64)>,
    /// Reads of the overview that failed (status, answer): reported, not fatal, so one slow
    /// read of an overloaded emulator does not void the run's figures.
    errors: Vec<(u16, String)>,
}

/// How often the overview is read while a run is aggregated: the lags' resolution. Each read is
/// four DynamoDB requests, and DynamoDB Local serves one request at a time (each costing more as
/// the table's stream grows): read ten times a second, the watcher took most of its time and the
/// aggregator waited behind it.
const WATCH_EVERY: Duration = Duration::from_secs(1);

/// Events visible in the overview, sampled every [`WATCH_EVERY`] until `until` are (or the
/// deadline passes: 15 minutes, or a minute per 4,000 events if longer).
async fn watch_overview(
    api: test_support::Gateway,
    token: String,
    org: String,
    until: u64,
    started: Instant,
) -> Result<Watched, String> {
    let allowed = Duration::from_secs(900.max(until * 60 / 4000));
    let deadline = Instant::now() + allowed;
    let mut watched = Watched::default();
    loop {
        let (status, overview) = api
            .call(
                reqwest::Method::GET,
                "/v1/analytics/overview",
                &token,
                Some(&org),
                None,
            )
            .await;
        if status == 200 {
            let visible = overview["metrics"]["events"]["current"]
                .as_u64()
                .unwrap_or(0);
            watched.seen.push((started.elapsed(), visible));
            if visible >= until {
                return Ok(watched);
            }
        } else {
            watched.errors.push((status, overview.to_string()));
        }
        if Instant::now() > deadline {
            let visible = watched.seen.last().map_or(0, |s| s.1);
            return Err(format!(
                "{until} events tracked, {visible} visible after {} s",
                allowed.as_secs()
            ));
        }
        tokio::time::sleep(WATCH_EVERY).await;
    }
}

/// The q-quantile of sorted values.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

pub async fn run(options: IngestOptions, token: String) -> Result<String, String> {
    local_cloud::logs::set_quiet(std::env::var_os("LOCAL_CLOUD_LOGS").is_none());
    // The write cost first, on a DynamoDB Local not yet holding the runs' events and stream
    // records (it slows as they pile up); printed as it comes.
    for mix in [Mix::AgentPerBatch, Mix::RoundRobin] {
        println!("{}", write_cost(&options, mix).await?);
    }
    let table = format!(
        "ingest-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let mut config = cloud_config(
        &options.binaries,
        &options.dynamodb,
        &options.sqs,
        options.ses.as_deref(),
        &table,
        options.instances,
    );
    config.environment.insert(
        "WRITES_IN_FLIGHT".to_owned(),
        options.writes_in_flight.to_string(),
    );
    if !options.table_stream {
        // The template's table without its stream, created before the local cloud would create
        // it with one; the stream's mappings then have nothing to read.
        let template = sam_template::Template::load(&config.template).map_err(|e| e.to_string())?;
        let mut definition = template.table().map_err(|e| e.to_string())?;
        definition.stream_view_type = None;
        definition
            .create(&test_support::dynamodb_client_at(&options.dynamodb), &table)
            .await?;
        for mapping in template.stream_mappings().map_err(|e| e.to_string())? {
            config.paused_consumers.insert(mapping.logical_id);
        }
    }
    let cloud = local_cloud::start(config).await?;
    let api = test_support::Gateway::new(cloud.http);
    let mut last_org = None;
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
        // With a window (closed loop), a window of events is tracked, then awaited in the
        // overview, so the queue never holds more than a window (moto's SQS slows down linearly
        // with queue depth). Without one, clients track back to back while the overview is
        // watched.
        let window = if options.window == 0 {
            n
        } else {
            options.window
        };
        let aggregator_before = aggregator_stats(&cloud);
        let started = Instant::now();
        // When each request was answered, and how many events had been accepted by then.
        let mut accepted: Vec<(Duration, u64)> = Vec::new();
        let (mut sent, mut tracking, mut visible) = (0, Duration::ZERO, Vec::new());
        let mut overview_errors: Vec<(u16, String)> = Vec::new();
        while sent < n {
            let window_end = (sent + window).min(n);
            let window_started = Instant::now();
            let watcher = tokio::spawn(watch_overview(
                test_support::Gateway::new(cloud.http),
                token.clone(),
                org.clone(),
                window_end as u64,
                started,
            ));
            let mut requests = tokio::task::JoinSet::new();
            let mut last_accepted = window_started;
            let mut total = accepted.last().map_or(0, |a| a.1);
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
                        let count = events.len() as u64;
                        let (status, body) = api
                            .call(
                                reqwest::Method::POST,
                                "/v1/analytics/track",
                                &token,
                                Some(&org),
                                Some(json!({"events": events})),
                            )
                            .await;
                        (status, body, count)
                    });
                }
                if let Some(done) = requests.join_next().await {
                    let (status, body, count) = done.map_err(|e| e.to_string())?;
                    if status != 202 {
                        return Err(format!("track answered {status}: {body}"));
                    }
                    last_accepted = Instant::now();
                    total += count;
                    accepted.push((started.elapsed(), total));
                }
            }
            tracking += last_accepted - window_started;
            let watched = watcher.await.map_err(|e| e.to_string())??;
            visible.extend(watched.seen);
            overview_errors.extend(watched.errors);
        }
        let total = started.elapsed();
        // A request's lag: from its 202 to the overview first showing at least as many events
        // as had been accepted by then (events are not aggregated in order, so this counts
        // events, not the request's own).
        let mut lags: Vec<f64> = accepted
            .iter()
            .filter_map(|(at, count)| {
                visible
                    .iter()
                    .find(|(_, shown)| shown >= count)
                    .map(|(seen, _)| seen.saturating_sub(*at).as_secs_f64())
            })
            .collect();
        lags.sort_by(f64::total_cmp);
        let counted = visible.last().map_or(0, |v| v.1);
        if counted != n as u64 {
            return Err(format!("{n} events tracked, {counted} counted"));
        }
        let mode = match options.window {
            0 => "open loop".to_owned(),
            w => format!("windows of {w}"),
        };
        // Printed as it comes, so a later run that fails does not take this one's figures.
        let errors = match overview_errors.first() {
            None => "none".to_owned(),
            Some((status, answer)) => {
                format!("{} (the first: {status} {answer})", overview_errors.len())
            }
        };
        println!(
            "N = {n} ({mode}, {} clients, {} instances per function, table stream {}, {} aggregator writes in flight): tracking (all 202) {:.0} events/s; aggregated and visible {:.0} events/s end to end ({:.1} s); counted {counted}; lag from a request's 202 to as many events visible in the overview (read every {} s): p50 {:.2} s, p99 {:.2} s, max {:.2} s; failed overview reads: {errors}",
            options.concurrency,
            options.instances,
            if options.table_stream { "on" } else { "off" },
            options.writes_in_flight,
            n as f64 / tracking.as_secs_f64(),
            n as f64 / total.as_secs_f64(),
            total.as_secs_f64(),
            WATCH_EVERY.as_secs_f64(),
            quantile(&lags, 0.5),
            quantile(&lags, 0.99),
            quantile(&lags, 1.0),
        );
        println!(
            "{}",
            run_write_cost(
                &options.dynamodb,
                &table,
                &org,
                n,
                &aggregator_before,
                &cloud
            )
            .await?
        );
        println!(
            "{}",
            partition_spread(&options.dynamodb, &table, &org).await?
        );
        last_org = Some(org);
    }
    if let (Some(org), true) = (last_org, options.mixed_seconds > 0) {
        println!(
            "{}",
            mixed_load(
                cloud.http,
                &token,
                &org,
                options.mixed_seconds,
                options.mixed_clients
            )
            .await?
        );
    }
    cloud.shutdown();
    Ok(format!("{} run(s) done", options.counts.len()))
}

/// The routes of the mixed load, in the order each client goes round them: every other request
/// tracks (10 events), the rest read every analytics report of the organization.
const MIXED_ROUTES: [(&str, &str); 14] = [
    ("POST /v1/analytics/track", "/v1/analytics/track"),
    ("GET /v1/analytics/overview", "/v1/analytics/overview"),
    ("POST /v1/analytics/track", "/v1/analytics/track"),
    (
        "GET /v1/analytics/agents/{id}",
        "/v1/analytics/agents/agent-03",
    ),
    ("POST /v1/analytics/track", "/v1/analytics/track"),
    (
        "GET /v1/analytics/top-agents",
        "/v1/analytics/top-agents?limit=10",
    ),
    ("POST /v1/analytics/track", "/v1/analytics/track"),
    ("GET /v1/analytics/events", "/v1/analytics/events?limit=50"),
    ("POST /v1/analytics/track", "/v1/analytics/track"),
    (
        "GET /v1/analytics/events?agent_id",
        "/v1/analytics/events?agent_id=agent-07&limit=20",
    ),
    ("POST /v1/analytics/track", "/v1/analytics/track"),
    (
        "GET /v1/analytics/event-counts",
        "/v1/analytics/event-counts",
    ),
    ("POST /v1/analytics/track", "/v1/analytics/track"),
    ("GET /v1/analytics/usage", "/v1/analytics/usage"),
];

/// `clients` clients for `seconds`, each going round [`MIXED_ROUTES`] back to back against the
/// organization of the last run (its events are there to read): requests, p50 and p99 per route,
/// and every answer that was not a success.
async fn mixed_load(
    http: std::net::SocketAddr,
    token: &str,
    org: &str,
    seconds: u64,
    clients: usize,
) -> Result<String, String> {
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..clients {
        let (api, token, org) = (
            test_support::Gateway::new(http),
            token.to_owned(),
            org.to_owned(),
        );
        tasks.spawn(async move {
            // (route, status, seconds) of each request.
            let mut answers: Vec<(&'static str, u16, f64)> = Vec::new();
            let mut i = client;
            while Instant::now() < until {
                let (route, path) = MIXED_ROUTES[i % MIXED_ROUTES.len()];
                i += 1;
                let (method, body) = match route.starts_with("POST") {
                    true => (
                        reqwest::Method::POST,
                        Some(
                            json!({"events": (i * 10..i * 10 + 10).map(event).collect::<Vec<_>>()}),
                        ),
                    ),
                    false => (reqwest::Method::GET, None),
                };
                let started = Instant::now();
                let (status, _) = api.call(method, path, &token, Some(&org), body).await;
                answers.push((route, status, started.elapsed().as_secs_f64()));
            }
            answers
        });
    }
    let mut by_route: std::collections::BTreeMap<&str, (Vec<f64>, usize)> = Default::default();
    let mut failures: Vec<String> = Vec::new();
    while let Some(done) = tasks.join_next().await {
        for (route, status, secs) in done.map_err(|e| e.to_string())? {
            let entry = by_route.entry(route).or_default();
            entry.0.push(secs);
            if !(200..300).contains(&status) {
                entry.1 += 1;
                failures.push(format!("{route}: {status}"));
            }
        }
    }
    let total: usize = by_route.values().map(|(l, _)| l.len()).sum();
    let mut lines = vec![format!(
        "mixed load, {seconds} s, {clients} clients: {total} requests ({:.0}/s), {} not 2xx",
        total as f64 / seconds as f64,
        failures.len()
    )];
    for (route, (mut latencies, errors)) in by_route {
        latencies.sort_by(f64::total_cmp);
        lines.push(format!(
            "  {route:<36} {:>6} requests  p50 {:>7.1} ms  p99 {:>7.1} ms  errors {errors}",
            latencies.len(),
            quantile(&latencies, 0.5) * 1e3,
            quantile(&latencies, 0.99) * 1e3,
        ));
    }
    if let Some(first) = failures.first() {
        lines.push(format!("  the first failure: {first}"));
    }
    Ok(lines.join("\n"))
}

/// The aggregator's figures in the local cloud so far.
fn aggregator_stats(cloud: &local_cloud::Cloud) -> local_cloud::runtime::FunctionStats {
    cloud
        .functions
        .iter()
        .find(|(name, _)| name.contains("Aggregator"))
        .map(|(_, function)| function.stats())
        .unwrap_or_default()
}

/// A run's write units per event by DynamoDB's rules: each raw event once (plain put, by its
/// stored size), and at most one update of the organization's day and of each of the 20 agents'
/// days per aggregator invocation (by the counter items' stored size); with the invocations'
/// durations.
async fn run_write_cost(
    dynamodb: &str,
    table: &str,
    org: &str,
    events: usize,
    before: &local_cloud::runtime::FunctionStats,
    cloud: &local_cloud::Cloud,
) -> Result<String, String> {
    let after = aggregator_stats(cloud);
    let invocations = after.invocations - before.invocations;
    let failed = after.errors - before.errors;
    let durations = &after.durations_ms[after
        .durations_ms
        .len()
        .saturating_sub(invocations as usize)..];
    let client = test_support::dynamodb_client_at(dynamodb);
    let raw = mean(&sample(&client, table, org, "EVENT#").await?, item_size);
    let counters = [
        sample(&client, table, org, "ORG_DAY#").await?,
        sample(&client, table, org, "AGENT_DAY#").await?,
    ]
    .concat();
    let counter = counters.iter().map(item_size).max().unwrap_or(0) as f64;
    // At most one update of the organization's day and of each agent's day per invocation.
    let updates_per_invocation = 1 + AGENTS;
    let updates = (invocations as usize * updates_per_invocation) as f64;
    let total = events as f64 * write_units(raw) + updates * write_units(counter);
    let ms = |p| local_cloud::runtime::percentile(durations, p).unwrap_or(0.0);
    Ok(format!(
        "aggregator: {invocations} invocations ({failed} failed), {:.0} events each, duration p50 {:.0} ms, p99 {:.0} ms; write units by DynamoDB's rules: raw events {raw:.0} B ({} unit each), at most {updates_per_invocation} counter updates per invocation (largest counter item {counter:.0} B, {} unit each): at most {:.3} WCU/event",
        events as f64 / invocations.max(1) as f64,
        ms(50.0),
        ms(99.0),
        write_units(raw),
        write_units(counter),
        total / events as f64,
    ))
}

/// Where one organization's analytics items are, by partition key: its raw events' shards and
/// its counters (the heavy-tenant view: one organization sent everything).
async fn partition_spread(dynamodb: &str, table: &str, org: &str) -> Result<String, String> {
    let client = test_support::dynamodb_client_at(dynamodb);
    let count = |pk: String, prefix: &'static str| {
        let client = client.clone();
        async move {
            let (mut n, mut start) = (0usize, None);
            loop {
                let output = client
                    .query()
                    .table_name(table)
                    .key_condition_expression("PK = :pk AND begins_with(SK, :p)")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
                    .select(store::aws_sdk_dynamodb::types::Select::Count)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .map_err(|e| e.to_string())?;
                n += output.count as usize;
                match output.last_evaluated_key {
                    Some(key) if !key.is_empty() => start = Some(key),
                    _ => return Ok::<usize, String>(n),
                }
            }
        }
    };
    let mut raw = Vec::new();
    for shard in store::keys::raw_events(store::keys::OrgId(org)) {
        raw.push(format!(
            "{} {}",
            shard.pk,
            count(shard.pk.clone(), "EVENT#").await?
        ));
    }
    let home = format!("ORG#{org}");
    let days = count(home.clone(), "ORG_DAY#").await?;
    let agent_days = count(home, "AGENT_DAY#").await?;
    Ok(format!(
        "partition keys of the organization's items: raw events {}; counters in ORG#<org>: {days} organization-days, {agent_days} agent-days",
        raw.join(", ")
    ))
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
    let (mut local_units, mut events, mut updates, mut raw_writes, mut refused) =
        (0.0, 0usize, 0usize, 0usize, 0usize);
    const BATCHES: usize = 500;
    for batch in 0..BATCHES {
        let messages: Vec<Message> = (0..10)
            .map(|j| {
                let i = batch * 10 + j;
                let mut input = event(i);
                if let Mix::AgentPerBatch = mix {
                    input["agent_id"] = format!("agent-{:02}", batch % AGENTS).into();
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
        raw_writes += outcome.raw_writes + outcome.marker_writes;
        refused += outcome.refused_writes;
    }
    // Item sizes as DynamoDB bills them, and the raw events' index entries, from stored items.
    let raw_items = sample(&client, table, &org, "EVENT#").await?;
    let raw = mean(&raw_items, item_size);
    // Index entries per raw event: how many of GSI1's and GSI2's keys its item carries.
    let indexed = mean(&raw_items, |item| {
        usize::from(item.contains_key(store::keys::GSI1_PK))
            + usize::from(item.contains_key(store::keys::GSI2_PK))
    });
    let counter_items = [
        sample(&client, table, &org, "ORG_DAY#").await?,
        sample(&client, table, &org, "AGENT_DAY#").await?,
    ];
    let counters = (mean(&counter_items[0], item_size) + mean(&counter_items[1], item_size)) / 2.0;
    // Plain writes (no transactions): 1 unit per KiB; a refused conditional write costs 1 too.
    let table_units = raw_writes as f64 * write_units(raw)
        + updates as f64 * write_units(counters)
        + refused as f64;
    let index_units = indexed * write_units(raw) * raw_writes as f64;
    // DynamoDB Local's requests cost more as a table's stream grows; dropped, this table's
    // stream records cannot weigh on the end-to-end runs that follow in the same database.
    client
        .delete_table()
        .table_name(table)
        .send()
        .await
        .map_err(|e| format!("deleting the write-cost table: {e}"))?;
    Ok(format!(
        "write cost, {events} events in batches of 10 ({mix:?}; 20 agents, 8 names):\n  \
         DynamoDB Local's consumed capacity: {:.2} WCU/event (what it reports for the plain writes)\n  \
         by DynamoDB's rules from item sizes (raw event {raw:.0} B, counter item {counters:.0} B, {:.1} counter updates and {:.2} refused writes per batch): \
         table {:.2} WCU/event (plain writes, 1 per KiB), index entries {:.2} WCU/event, total {:.2}",
        local_units / events as f64,
        updates as f64 / BATCHES as f64,
        refused as f64 / BATCHES as f64,
        table_units / events as f64,
        index_units / events as f64,
        (table_units + index_units) / events as f64,
    ))
}

type StoredItem = std::collections::HashMap<String, AttributeValue>;

/// The mean of `count` over `items` (0 for none).
fn mean(items: &[StoredItem], count: impl Fn(&StoredItem) -> usize) -> f64 {
    items.iter().map(count).sum::<usize>() as f64 / items.len().max(1) as f64
}

/// Up to 200 of `org`'s items whose sort key starts with `prefix`, as stored.
async fn sample(
    client: &store::aws_sdk_dynamodb::Client,
    table: &str,
    org: &str,
    prefix: &str,
) -> Result<Vec<StoredItem>, String> {
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
    Ok(output.items.unwrap_or_default())
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
pub(crate) fn item_size(item: &StoredItem) -> usize {
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
