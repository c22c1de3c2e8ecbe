//! `devtools limits`: the free plan's overshoot. Clients track `message.sent` events with an API
//! key as fast as they can, 100 per request, until the track route answers 402; then every
//! accepted event is waited for in the counters. The gate reads levels that the aggregator's
//! counters and the relay update asynchronously, so events in flight get through: printed is
//! how many beyond the 1,000-message limit were accepted, and how long the gate took to close.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

pub struct LimitsOptions {
    pub binaries: std::path::PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    /// SES (moto's), when SQS is an emulator that has no SES.
    pub ses: Option<String>,
    /// Clients tracking at once, one run each.
    pub concurrency: Vec<usize>,
}

const PER_REQUEST: usize = 100;

pub async fn run(options: LimitsOptions, token: String) -> Result<String, String> {
    local_cloud::logs::set_quiet(std::env::var_os("LOCAL_CLOUD_LOGS").is_none());
    let table = format!(
        "limits-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let config = crate::ingest::cloud_config(
        &options.binaries,
        &options.dynamodb,
        &options.sqs,
        options.ses.as_deref(),
        &table,
        4,
    );
    let cloud = local_cloud::start(config).await?;
    let store = store::Store::new(
        test_support::dynamodb_client_at(&options.dynamodb),
        table.clone(),
    );
    let limit = plans::find(plans::FREE)
        .and_then(|p| p.limits.messages)
        .ok_or("the free plan has no message limit")?;
    let mut report = vec![format!(
        "free plan: {limit} messages a month; {PER_REQUEST} message.sent events per request"
    )];
    for &clients in &options.concurrency {
        let api = test_support::Gateway::new(cloud.http);
        let (status, org) = api
            .call(
                reqwest::Method::POST,
                "/v1/orgs",
                &token,
                None,
                Some(json!({"name": "Limits"})),
            )
            .await;
        if status != 201 {
            return Err(format!("creating the organization failed: {org}"));
        }
        let org = org["id"].as_str().unwrap_or_default().to_owned();
        let (status, key) = api
            .call(
                reqwest::Method::POST,
                "/v1/api-keys",
                &token,
                Some(&org),
                Some(json!({"name": "bench"})),
            )
            .await;
        if status != 201 {
            return Err(format!("creating the key failed: {key}"));
        }
        let key = key["key"].as_str().unwrap_or_default().to_owned();
        let events: Vec<Value> = (0..PER_REQUEST)
            .map(|_| json!({"name": "message.sent"}))
            .collect();
        let body = json!({ "events": events });
        let accepted = Arc::new(AtomicU64::new(0));
        // When the accepted count reached the limit, and when the first 402 came (ms since start).
        let reached_at = Arc::new(AtomicU64::new(u64::MAX));
        let timeouts = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..clients {
            let (api, key, body, accepted, reached_at, timeouts) = (
                test_support::Gateway::new(cloud.http),
                key.clone(),
                body.clone(),
                accepted.clone(),
                reached_at.clone(),
                timeouts.clone(),
            );
            tasks.spawn(async move {
                let mut requests = 0u64;
                loop {
                    let (status, answer) = api
                        .call(
                            reqwest::Method::POST,
                            "/v1/analytics/track",
                            &key,
                            None,
                            Some(body.clone()),
                        )
                        .await;
                    requests += 1;
                    match status {
                        202 => {
                            let total = accepted.fetch_add(PER_REQUEST as u64, Ordering::SeqCst)
                                + PER_REQUEST as u64;
                            if total >= limit {
                                let now = started.elapsed().as_millis() as u64;
                                reached_at.fetch_min(now, Ordering::SeqCst);
                            }
                        }
                        402 => return Ok((requests, started.elapsed())),
                        // moto's SQS slows with queue depth, and an open loop deepens it: a send
                        // can outlast the function's timeout. Some of such a request's events
                        // may be queued; the counters below say what got in.
                        500 | 502 | 503 | 504 => {
                            timeouts.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                        other => return Err(format!("track answered {other}: {answer}")),
                    }
                }
            });
        }
        let mut first_refusal = Duration::MAX;
        let mut requests = 0;
        while let Some(done) = tasks.join_next().await {
            let (sent, refused_at) = done.map_err(|e| e.to_string())??;
            requests += sent;
            first_refusal = first_refusal.min(refused_at);
        }
        let accepted = accepted.load(Ordering::SeqCst);
        // What got in: every 202's events, and any a timed-out request queued. Waited for until
        // the counters hold at least the accepted events and stop moving for 10 s.
        let deadline = Instant::now() + Duration::from_secs(900);
        let now = clock::DateTime::now_utc();
        let (mut counted, mut still_since) = (0, Instant::now());
        loop {
            let usage =
                analytics::usage::monthly_usage(&store, &org, now.year(), u8::from(now.month()))
                    .await
                    .map_err(|e| e.to_string())?;
            if usage.messages != counted {
                (counted, still_since) = (usage.messages, Instant::now());
            } else if counted >= accepted && still_since.elapsed() > Duration::from_secs(10) {
                break;
            }
            if Instant::now() > deadline {
                return Err(format!("{accepted} accepted, {counted} counted"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let reached = Duration::from_millis(reached_at.load(Ordering::SeqCst));
        let closing = first_refusal.saturating_sub(reached);
        let overshoot = counted.saturating_sub(limit);
        report.push(format!(
            "{clients} client(s): {accepted} events answered 202 and {counted} counted (limit {limit}): {overshoot} beyond the limit ({:.0} %); {requests} requests, {} timed out at the gateway; the gate closed {:.1} s after the 202 that reached the limit",
            overshoot as f64 * 100.0 / limit as f64,
            timeouts.load(Ordering::SeqCst),
            closing.as_secs_f64(),
        ));
    }
    cloud.shutdown();
    Ok(report.join("\n"))
}
