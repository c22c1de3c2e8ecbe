//! `devtools dispatcher`: the notifications dispatcher's release binary run by the local cloud
//! on the notifications queue (moto) over DynamoDB Local. Measures its cold start (invoked
//! directly with `events/dispatcher-sqs-batch.json` on fresh instances); a closed loop of
//! single-recipient messages (a bounded number in flight, since moto's SQS slows with depth):
//! notifications stored per second and the lag from send to stored; a fan-out to every member
//! of a large organization (chunks re-queued by the dispatcher); and the write units per
//! notification by DynamoDB's rules, from the stored items' sizes.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use notify::{Message, Notice, NotificationType, Queue, Recipients, Severity, Work};
use store::keys::{self, OrgId, UserId};

pub struct DispatchOptions {
    pub binaries: PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    pub runs: usize,
    /// Single-recipient messages of the closed loop.
    pub messages: usize,
    /// Of them, in flight at once.
    pub in_flight: usize,
    /// Members of the fan-out organization.
    pub members: usize,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    local_cloud::runtime::percentile(values, p).unwrap_or(f64::NAN)
}

fn notice(title: &str) -> Notice {
    Notice {
        kind: NotificationType::Agent,
        severity: Severity::Warning,
        title: title.into(),
        body: "p95 response time is above 2 s since 09:40.".into(),
        data: serde_json::json!({ "agent_id": "support-bot", "p95_ms": 2140 }),
        email_only: false,
    }
}

/// The key of the notification `message` stores for `user`.
fn stored_key(message: &Message, user: &str) -> store::Key {
    let id = notifications::notification_id(&message.id, user, message.requested_at);
    keys::notification(OrgId(&message.org_id), UserId(user), &id)
}

/// Which of `keys` exist now (batches of 100).
async fn existing(store: &store::Store, keys: &[store::Key]) -> Result<Vec<bool>, String> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        let items = store.batch_get(chunk).await.map_err(|e| e.to_string())?;
        found.extend(items.iter().map(Option::is_some));
    }
    Ok(found)
}

/// `members` members of a new organization, written straight to the table.
async fn organization(store: &store::Store, members: usize) -> Result<String, String> {
    let org = ulid::Ulid::generate().to_string();
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..members {
        let (store, org) = (store.clone(), org.clone());
        writes.spawn(async move {
            let membership = auth::records::MembershipRecord {
                org_id: org,
                user_id: format!("member-{i:05}"),
                role: auth::Role::Member,
                joined_at: clock::DateTime::now_utc(),
            };
            let (item, _) = membership.items().map_err(|e| e.to_string())?;
            store
                .put(item, store::Condition::Always)
                .await
                .map_err(|e| e.to_string())
        });
        if writes.len() >= 32 {
            writes
                .join_next()
                .await
                .ok_or("no write")?
                .map_err(|e| e.to_string())??;
        }
    }
    for done in writes.join_all().await {
        done?;
    }
    Ok(org)
}

pub async fn run(options: DispatchOptions) -> Result<String, String> {
    local_cloud::logs::set_quiet(true);
    let table = format!(
        "dispatch-bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let cloud = local_cloud::start(local_cloud::Config {
        queue_prefix: format!("{table}-"),
        ..test_support::cloud::config(
            options.binaries.clone(),
            &options.dynamodb,
            &options.sqs,
            &table,
        )
    })
    .await?;
    let dispatcher = cloud
        .functions
        .get("NotificationsDispatcherFunction")
        .ok_or("no NotificationsDispatcherFunction in the template")?
        .clone();
    let size = std::fs::metadata(options.binaries.join("dispatcher"))
        .map_err(|e| e.to_string())?
        .len();
    let queue = Queue::new(
        local_cloud::clients::sqs(&options.sqs),
        cloud.queues["NotificationsQueue"].url.clone(),
    );
    let store = store::Store::new(
        local_cloud::clients::dynamodb(&options.dynamodb),
        table.as_str(),
    );

    // Cold starts: the sample batch on a fresh instance each time (its organization has no
    // members in this table: resolving them is the one read).
    let sample =
        std::fs::read_to_string(test_support::samples::dir().join("dispatcher-sqs-batch.json"))
            .map_err(|e| e.to_string())?;
    let before = dispatcher.stats();
    for _ in 0..options.runs {
        dispatcher.recycle();
        dispatcher
            .invoke(Bytes::from(sample.clone()))
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    let stats = dispatcher.stats();
    let init = stats.init_ms[before.init_ms.len()..].to_vec();
    let first = stats.first_response_ms[before.first_response_ms.len()..].to_vec();

    // Closed loop: single-recipient messages, `in_flight` at a time, each done when its
    // notification is stored.
    let users = 50;
    let org = organization(&store, users).await?;
    let mut pending: HashMap<usize, (store::Key, Instant)> = HashMap::new();
    let mut lags = Vec::with_capacity(options.messages);
    let (mut sent, started) = (0, Instant::now());
    let deadline = started + Duration::from_secs(300);
    while lags.len() < options.messages && Instant::now() < deadline {
        let mut batch = Vec::new();
        while pending.len() + batch.len() < options.in_flight && sent < options.messages {
            let message = Message {
                id: format!("bench-{sent}"),
                org_id: org.clone(),
                requested_at: clock::DateTime::now_utc(),
                work: Work::Notify {
                    recipients: Recipients::Users(vec![format!("member-{:05}", sent % users)]),
                    notice: notice(&format!("Notice {sent}")),
                },
            };
            let user = format!("member-{:05}", sent % users);
            pending.insert(sent, (stored_key(&message, &user), Instant::now()));
            batch.push(message);
            sent += 1;
        }
        if let Some((id, reason)) = queue.send_all(&batch).await.pop() {
            return Err(format!("{id} not sent: {reason}"));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        let ids: Vec<usize> = pending.keys().copied().collect();
        let keys: Vec<store::Key> = ids.iter().map(|i| pending[i].0.clone()).collect();
        let now = Instant::now();
        for (i, found) in ids.into_iter().zip(existing(&store, &keys).await?) {
            if found {
                let (_, at) = pending.remove(&i).expect("pending");
                lags.push(now.saturating_duration_since(at).as_secs_f64() * 1000.0);
            }
        }
    }
    let loop_secs = started.elapsed().as_secs_f64();

    // Fan-out: one message to every member of a large organization.
    let big = organization(&store, options.members).await?;
    let fan_out = Message {
        id: "bench-fan-out".into(),
        org_id: big.clone(),
        requested_at: clock::DateTime::now_utc(),
        work: Work::Notify {
            recipients: Recipients::AllMembers,
            notice: notice("Maintenance tonight"),
        },
    };
    let mut waiting: Vec<store::Key> = (0..options.members)
        .map(|i| stored_key(&fan_out, &format!("member-{i:05}")))
        .collect();
    let fan_started = Instant::now();
    if let Some((id, reason)) = queue.send_all(std::slice::from_ref(&fan_out)).await.pop() {
        return Err(format!("{id} not sent: {reason}"));
    }
    let fan_deadline = fan_started + Duration::from_secs(600);
    while !waiting.is_empty() && Instant::now() < fan_deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let found = existing(&store, &waiting).await?;
        waiting = waiting
            .into_iter()
            .zip(found)
            .filter_map(|(k, f)| (!f).then_some(k))
            .collect();
    }
    let fan_secs = fan_started.elapsed().as_secs_f64();
    let fan_missing = waiting.len();

    // Write units per notification by DynamoDB's rules, from what one delivery stored.
    let client = local_cloud::clients::dynamodb(&options.dynamodb);
    let item = |key: store::Key| crate::ingest::stored_item_size(&client, &table, key);
    let partition = store::keys::Partition {
        pk: format!("ORG#{org}"),
        sk_prefix: "NOTIF#".into(),
    };
    let page: store::Page<serde_json::Value> = store
        .query(store::Query::new("one", partition, 1, None))
        .await
        .map_err(|e| e.to_string())?;
    let stored = page.items.first().ok_or("no notification stored")?;
    let notification_user = stored["user_id"].as_str().unwrap_or_default().to_owned();
    let notification_bytes = item(keys::notification(
        OrgId(&org),
        UserId(&notification_user),
        stored["id"].as_str().unwrap_or_default(),
    ))
    .await?;
    let counter_bytes = item(keys::notification_counter(
        OrgId(&org),
        UserId(&notification_user),
    ))
    .await?;
    let delivery_bytes = item(keys::notification_delivery(
        OrgId(&org),
        stored["request_id"].as_str().unwrap_or_default(),
        UserId(&notification_user),
        "email",
    ))
    .await?;
    let units = |bytes: usize| (bytes as f64 / 1024.0).ceil().max(1.0);
    // Transactional items count twice; the tombstone check of an absent item counts as a
    // 1 KB transactional write; the index entry (GSI1, unread) and the email record are plain
    // writes.
    let transaction = 2.0 * (units(notification_bytes) + 1.0 + units(counter_bytes));
    let index = units(notification_bytes);
    let email = units(delivery_bytes);

    let durations = &dispatcher.stats().durations_ms;
    let peak_rss = dispatcher.stats().peak_rss_kib;
    cloud.shutdown();
    Ok(format!(
        "dispatcher (NotificationsDispatcherFunction):\n  \
         binary {:.2} MiB; cold start (sample batch, {} fresh instances): init p50 {:.1} ms, first response p50 {:.1} ms; peak RSS {:.1} MiB\n  \
         closed loop, {} single-recipient messages ({} in flight, {users} recipients): {:.0} notifications/s; send to stored p50 {:.0} ms, p99 {:.0} ms (moto's SQS and the 5 s long poll of the local cloud's poller included)\n  \
         fan-out to {} members (chunks of {}): {} stored in {:.1} s ({:.0}/s){}\n  \
         invocation p50 {:.1} ms, p99 {:.1} ms over {} invocations\n  \
         write units per notification by DynamoDB's rules (notification {notification_bytes} B, counter {counter_bytes} B, email record {delivery_bytes} B): \
         transaction {:.0} (notification, tombstone check, counter; 2 per KiB), GSI1 entry {:.0}, email wanted {:.0}: total {:.0} WCU, plus 1 RCU (the counter read)",
        size as f64 / 1_048_576.0,
        init.len(),
        percentile(&init, 50.0),
        percentile(&first, 50.0),
        peak_rss as f64 / 1024.0,
        lags.len(),
        options.in_flight,
        lags.len() as f64 / loop_secs,
        percentile(&lags, 50.0),
        percentile(&lags, 99.0),
        options.members,
        notifications::CHUNK,
        options.members - fan_missing,
        fan_secs,
        (options.members - fan_missing) as f64 / fan_secs,
        if fan_missing > 0 {
            format!(" ({fan_missing} missing at the deadline)")
        } else {
            String::new()
        },
        percentile(durations, 50.0),
        percentile(durations, 99.0),
        durations.len(),
        transaction,
        index,
        email,
        transaction + index + email,
    ))
}
