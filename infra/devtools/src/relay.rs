//! `devtools relay`: the outbox relay's release binary run by the local cloud on the table's
//! stream (DynamoDB Local), putting messages on the notifications queue (moto). Measures its
//! cold start (invoked directly with `events/relay-stream-batch.json` on fresh instances) and
//! the lag from a change's commit to its message being received from the queue, over N
//! changes made at a steady rate, each with one side effect.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub struct RelayOptions {
    pub binaries: PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    pub runs: usize,
    pub changes: usize,
    /// Changes per second.
    pub rate: usize,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    local_cloud::runtime::percentile(values, p).unwrap_or(f64::NAN)
}

/// A change with one side effect, as a team change records it.
fn change(org: &str, now: clock::DateTime) -> audit::AuditedChange {
    let notice = outbox::SideEffect::Notify {
        recipients: outbox::Recipients::Roles(vec![auth::Role::Owner, auth::Role::Admin]),
        notice: outbox::Notice {
            kind: notify::NotificationType::Team,
            severity: notify::Severity::Info,
            title: "Member left".into(),
            body: "A member left the organization.".into(),
            data: serde_json::json!({ "org_id": org }),
            email_only: false,
        },
    };
    let activity = audit::Activity {
        action: "member.left",
        category: audit::Category::Team,
        target_type: "member",
        target_id: "bench",
        metadata: serde_json::json!({}),
    };
    audit::AuditedChange::new(audit::Actor::system(org), activity, now).side_effect(notice)
}

/// Up to 10 messages (hidden for the rest of the run; the lag loop deletes what it read).
async fn receive(sqs: &aws_sdk_sqs::Client, queue: &str) -> Vec<aws_sdk_sqs::types::Message> {
    sqs.receive_message()
        .queue_url(queue)
        .max_number_of_messages(10)
        .wait_time_seconds(1)
        .visibility_timeout(3600)
        .send()
        .await
        .map(|o| o.messages.unwrap_or_default())
        .unwrap_or_default()
}

pub async fn run(options: RelayOptions) -> Result<String, String> {
    local_cloud::logs::set_quiet(true);
    let table = format!(
        "relay-bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let cloud = local_cloud::start(local_cloud::Config {
        queue_prefix: format!("{table}-"),
        max_instances: 1,
        // The bench reads what the relay puts on the queue itself.
        paused_consumers: ["NotificationsDispatcherFunction".to_owned()].into(),
        ..test_support::cloud::config(
            options.binaries.clone(),
            &options.dynamodb,
            &options.sqs,
            &table,
        )
    })
    .await?;
    let relay = cloud
        .functions
        .get("RelayFunction")
        .ok_or("no RelayFunction in the template")?
        .clone();
    let size = std::fs::metadata(options.binaries.join("relay"))
        .map_err(|e| e.to_string())?
        .len();
    let queue = cloud.queues["NotificationsQueue"].url.clone();
    let sqs = local_cloud::clients::sqs(&options.sqs);

    // Cold starts: the sample batch on a fresh instance each time (nothing else invokes the
    // relay yet: the fresh table holds no outbox item).
    let sample =
        std::fs::read_to_string(test_support::samples::dir().join("relay-stream-batch.json"))
            .map_err(|e| e.to_string())?;
    let before = relay.stats();
    for _ in 0..options.runs {
        relay.recycle();
        relay
            .invoke(Bytes::from(sample.clone()))
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    let stats = relay.stats();
    let init = stats.init_ms[before.init_ms.len()..].to_vec();
    let first = stats.first_response_ms[before.first_response_ms.len()..].to_vec();
    // What the cold starts sent stays on the queue, hidden: received once, never deleted.
    receive(&sqs, &queue).await;

    // Commit → message on the queue.
    let received: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
    let receiver = {
        let (sqs, queue, received) = (sqs.clone(), queue.clone(), received.clone());
        let wanted = options.changes;
        tokio::spawn(async move {
            while received.lock().unwrap().len() < wanted {
                let messages = receive(&sqs, &queue).await;
                let at = Instant::now();
                // Deleted in the background, in one call: moto's queue slows as it fills.
                let entries: Vec<_> = messages
                    .iter()
                    .enumerate()
                    .filter_map(|(i, m)| {
                        aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                            .id(i.to_string())
                            .receipt_handle(m.receipt_handle().unwrap_or_default())
                            .build()
                            .ok()
                    })
                    .collect();
                if !entries.is_empty() {
                    let (sqs, queue) = (sqs.clone(), queue.clone());
                    tokio::spawn(async move {
                        let _ = sqs
                            .delete_message_batch()
                            .queue_url(queue)
                            .set_entries(Some(entries))
                            .send()
                            .await;
                    });
                }
                for m in messages {
                    let id = serde_json::from_str::<serde_json::Value>(m.body().unwrap_or("{}"))
                        .ok()
                        .and_then(|v| v["id"].as_str().map(str::to_owned));
                    if let Some(id) = id {
                        received.lock().unwrap().entry(id).or_insert(at);
                    }
                }
            }
        })
    };
    let store = store::Store::new(
        local_cloud::clients::dynamodb(&options.dynamodb),
        table.as_str(),
    );
    let log = audit::AuditLog::new(store, clock::Duration::days(1));
    let org = ulid::Ulid::generate().to_string();
    let mut committed = HashMap::new();
    let started = Instant::now();
    let pace = Duration::from_secs_f64(1.0 / options.rate.max(1) as f64);
    for i in 0..options.changes {
        // At a steady rate: a burst would measure how deep moto's queue gets, not the relay.
        tokio::time::sleep_until((started + pace * i as u32).into()).await;
        let now = clock::DateTime::now_utc();
        let change = change(&org, now);
        let record = outbox::OutboxRecord {
            org_id: org.clone(),
            change_id: change.activity_entry().id.clone(),
            index: 0,
            record: outbox::SideEffect::CloseConnections {
                user_id: String::new(),
            },
            recorded_at: now,
        };
        log.commit(change).await.map_err(|e| format!("{e:?}"))?;
        committed.insert(record.delivery_id(), Instant::now());
    }
    let commit_secs = started.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs(120);
    while received.lock().unwrap().len() < options.changes && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    receiver.abort();
    let received = received.lock().unwrap().clone();
    let lags: Vec<f64> = committed
        .iter()
        .filter_map(|(id, at)| {
            received
                .get(id)
                .map(|r| r.saturating_duration_since(*at).as_secs_f64() * 1000.0)
        })
        .collect();
    let relay_stats = relay.stats();
    let durations = &relay_stats.durations_ms;
    cloud.shutdown();
    Ok(format!(
        "RelayFunction (relay): binary {:.2} MiB\n  cold start, spawn to first poll: median {:.1} ms\n  \
         cold start, spawn to first response (a batch of 2 records, one SendMessageBatch): \
         median {:.1} ms (min {:.1}, max {:.1}; {} runs)\n  \
         {} changes committed in {:.1} s ({:.0}/s), {} received on the queue\n  \
         commit to message received: p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms\n  \
         relay invocations for them: {}, duration p50 {:.1} ms, p99 {:.1} ms; peak RSS {:.1} MiB",
        size as f64 / 1_048_576.0,
        percentile(&init, 50.0),
        percentile(&first, 50.0),
        percentile(&first, 0.0),
        percentile(&first, 100.0),
        first.len(),
        options.changes,
        commit_secs,
        options.changes as f64 / commit_secs,
        lags.len(),
        percentile(&lags, 50.0),
        percentile(&lags, 99.0),
        percentile(&lags, 100.0),
        relay_stats.invocations - stats.invocations,
        percentile(durations, 50.0),
        percentile(durations, 99.0),
        relay_stats.peak_rss_kib as f64 / 1024.0,
    ))
}
