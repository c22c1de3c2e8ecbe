//! `devtools realtime`: real-time push through the local cloud with release binaries. K
//! WebSocket clients across ORGS organizations; N notifications sent through the API, a few in
//! flight (one per organization), each to one member: latency from the 202 to the frame
//! (p50 / p99 / max), split by stage by the clocks of this machine (API → 202; 202 → stored, the
//! notification's `created_at`, which covers SQS and the dispatcher; stored → frame, which
//! covers the connection lookup and `@connections`), the dispatcher's throughput, and the
//! `websocket` function's size and cold start (a `$connect` with a ticket on a fresh instance).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use futures_util::StreamExt;
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

pub struct RealtimeOptions {
    pub binaries: PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    pub runs: usize,
    pub clients: usize,
    pub orgs: usize,
    pub notifications: usize,
    /// Notifications in flight at once (each sender waits for its frame before the next).
    pub in_flight: usize,
    /// Every member's email preference on (the default: the email consumer sends beside the
    /// pushes) or off (no email job at all): the two runs compare the push with and without.
    pub email: bool,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    local_cloud::runtime::percentile(values, p).unwrap_or(f64::NAN)
}

fn wall_ms(t: SystemTime) -> f64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

/// What each frame's arrival recorded, by the notification's title.
type Arrivals = Arc<Mutex<HashMap<String, (SystemTime, f64)>>>;

async fn ticket(api: &test_support::Gateway, token: &str, org: &str) -> Result<String, String> {
    let (status, body) = api
        .call(
            reqwest::Method::POST,
            "/v1/ws/ticket",
            token,
            Some(org),
            None,
        )
        .await;
    if status != 201 {
        return Err(format!("ticket: {status} {body}"));
    }
    Ok(body["ticket"].as_str().unwrap_or_default().to_owned())
}

pub async fn run(options: RealtimeOptions) -> Result<String, String> {
    local_cloud::logs::set_quiet(true);
    let table = format!(
        "realtime-bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    // Email is on (every member's default): the sender is verified, so the email consumer
    // sends beside the pushes, as in production.
    test_support::ses_client_at(&options.sqs).await;
    let cloud = local_cloud::start(local_cloud::Config {
        queue_prefix: format!("{table}-"),
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
    let store = store::Store::new(
        local_cloud::clients::dynamodb(&options.dynamodb),
        table.as_str(),
    );
    let fixtures = test_support::fixtures::Fixtures::new(store.clone(), clock::Clock::system());
    let size = std::fs::metadata(options.binaries.join("websocket"))
        .map_err(|e| e.to_string())?
        .len();

    // Organizations, each with an owner who sends and members who listen.
    let per_org = options.clients.div_ceil(options.orgs.max(1));
    let mut orgs = Vec::new();
    for o in 0..options.orgs {
        let owner = format!("rt-bench-owner-{o}");
        let org = fixtures.org(&owner).await;
        for m in 0..per_org {
            let member = format!("rt-bench-{o}-{m}");
            fixtures.add_member(&org, &member, auth::Role::Member).await;
            if !options.email {
                let off: notifications::PreferencesChange = serde_json::from_value(json!({
                    "types": { "agent": { "email": false } }
                }))
                .map_err(|e| e.to_string())?;
                notifications::preferences::update_preferences(&store, &org, &member, &off)
                    .await
                    .map_err(|e| e.to_string())?;
            }
        }
        orgs.push((org, test_support::token(&owner, json!({}))));
    }

    // Cold starts of the websocket function: a `$connect` with a ticket on a fresh instance.
    let websocket = cloud
        .functions
        .get("WebSocketFunction")
        .ok_or("no WebSocketFunction in the template")?
        .clone();
    let member_token = test_support::token("rt-bench-0-0", json!({}));
    let before = websocket.stats();
    for _ in 0..options.runs {
        websocket.recycle();
        let ticket = ticket(&api, &member_token, &orgs[0].0).await?;
        let (mut socket, _) =
            tokio_tungstenite::connect_async(format!("ws://{}/?ticket={ticket}", cloud.websocket))
                .await
                .map_err(|e| e.to_string())?;
        let _ = socket.close(None).await;
    }
    let stats = websocket.stats();
    let init = stats.init_ms[before.init_ms.len()..].to_vec();
    let first = stats.first_response_ms[before.first_response_ms.len()..].to_vec();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // K clients, each reading its frames and recording when each notification arrived.
    let arrivals: Arrivals = Arc::default();
    let mut readers = tokio::task::JoinSet::new();
    for (o, (org, _)) in orgs.iter().enumerate() {
        for m in 0..per_org {
            let token = test_support::token(&format!("rt-bench-{o}-{m}"), json!({}));
            let ticket = ticket(&api, &token, org).await?;
            let (socket, _) = tokio_tungstenite::connect_async(format!(
                "ws://{}/?ticket={ticket}",
                cloud.websocket
            ))
            .await
            .map_err(|e| e.to_string())?;
            let arrivals = arrivals.clone();
            readers.spawn(async move {
                let (_, mut incoming) = socket.split();
                while let Some(Ok(message)) = incoming.next().await {
                    let Message::Text(text) = message else {
                        continue;
                    };
                    let at = SystemTime::now();
                    let frame: serde_json::Value = match serde_json::from_str(&text) {
                        Ok(frame) => frame,
                        Err(_) => continue,
                    };
                    if frame["type"] != "notification" {
                        continue;
                    }
                    let created = frame["data"]["created_at"]
                        .as_str()
                        .and_then(clock::parse_rfc3339)
                        .map_or(0.0, |t| t.unix_timestamp_nanos() as f64 / 1e6);
                    let title = frame["data"]["title"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned();
                    arrivals.lock().unwrap().insert(title, (at, created));
                }
            });
        }
    }
    let clients = readers.len();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Closed loop: `in_flight` senders, each sending its next notification when the frame of
    // the last arrived, round the organizations.
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    let in_flight = options.in_flight.clamp(1, options.notifications.max(1));
    let per_sender = options.notifications.div_ceil(in_flight);
    for j in 0..in_flight {
        let (api, arrivals, orgs) = (
            test_support::Gateway::new(cloud.http),
            arrivals.clone(),
            orgs.clone(),
        );
        senders.spawn(async move {
            let mut samples = Vec::new();
            for i in 0..per_sender {
                let o = (j + i * in_flight) % orgs.len();
                let (org, owner) = &orgs[o];
                let title = format!("bench {j}-{i}");
                let user = format!("rt-bench-{o}-{}", (i / orgs.len()) % per_org);
                let sent = SystemTime::now();
                let (status, body) = api
                    .call(
                        reqwest::Method::POST,
                        "/v1/notifications",
                        owner,
                        Some(org),
                        Some(json!({"user_ids": [user], "type": "agent", "severity": "info", "title": title, "body": "A push benchmark."})),
                    )
                    .await;
                let accepted = SystemTime::now();
                if status != 202 {
                    return Err(format!("send: {status} {body}"));
                }
                let deadline = Instant::now() + Duration::from_secs(30);
                let arrived = loop {
                    if let Some(found) = arrivals.lock().unwrap().get(&title).copied() {
                        break Some(found);
                    }
                    if Instant::now() > deadline {
                        break None;
                    }
                    tokio::time::sleep(Duration::from_millis(1)).await;
                };
                match arrived {
                    Some((at, created)) => samples.push((sent, accepted, created, at)),
                    None => return Err(format!("{title}: no frame within 30 s")),
                }
            }
            Ok(samples)
        });
    }
    let mut samples = Vec::new();
    while let Some(done) = senders.join_next().await {
        samples.extend(done.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed().as_secs_f64();
    readers.abort_all();

    let (mut total, mut api_ms, mut to_stored, mut to_frame) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (sent, accepted, created, at) in &samples {
        let (sent, accepted, at) = (wall_ms(*sent), wall_ms(*accepted), wall_ms(*at));
        total.push(at - accepted);
        api_ms.push(accepted - sent);
        to_stored.push(created - accepted);
        to_frame.push(at - created);
    }
    let max = total.iter().copied().fold(0.0, f64::max);
    let dispatcher = cloud.functions["NotificationsDispatcherFunction"].stats();
    let ws_stats = websocket.stats();
    cloud.shutdown();
    Ok(format!(
        "realtime (WebSocketFunction, NotificationsDispatcherFunction):\n  \
         websocket binary {:.2} MiB; cold start ($connect with a ticket, {} fresh instances): init p50 {:.1} ms, first response p50 {:.1} ms; peak RSS {:.1} MiB\n  \
         {clients} clients in {} organizations, {} notifications closed loop ({} in flight): {:.0} notifications/s through the dispatcher\n  \
         202 -> frame: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms\n  \
         stages p50 / p99: API (send -> 202) {:.1} / {:.1} ms; 202 -> created (SQS, the dispatcher until its write starts) {:.1} / {:.1} ms; created -> frame (the write, the connections read beside it, @connections) {:.1} / {:.1} ms\n  \
         dispatcher peak RSS {:.1} MiB over {} invocations",
        size as f64 / 1_048_576.0,
        init.len(),
        percentile(&init, 50.0),
        percentile(&first, 50.0),
        ws_stats.peak_rss_kib as f64 / 1024.0,
        orgs.len(),
        samples.len(),
        in_flight,
        samples.len() as f64 / elapsed,
        percentile(&total, 50.0),
        percentile(&total, 99.0),
        max,
        percentile(&api_ms, 50.0),
        percentile(&api_ms, 99.0),
        percentile(&to_stored, 50.0),
        percentile(&to_stored, 99.0),
        percentile(&to_frame, 50.0),
        percentile(&to_frame, 99.0),
        dispatcher.peak_rss_kib as f64 / 1024.0,
        dispatcher.durations_ms.len(),
    ))
}
