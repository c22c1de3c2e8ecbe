//! `devtools email`: the email consumer's release binary run by the local cloud on the email
//! queue (moto), fed by the dispatcher, over DynamoDB Local and moto's SES. Measures its cold
//! start (invoked directly with `events/email-sqs-batch.json` on fresh instances); the
//! consumer's throughput: one email job per member of an organization (each with a verified
//! address) put on the email queue with its `pending` record, as the dispatcher leaves them,
//! and the time until every record is `sent`, with how many moto received (a duplicate would
//! show); and the write and read units per email by DynamoDB's rules, from the records' sizes.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use notifications::deliveries::{Channel, DeliveryRecord, DeliveryStatus};
use notify::{EmailJob, Notice, NotificationType, Queue, Severity};
use store::keys::{self, OrgId, UserId};

pub struct EmailOptions {
    pub binaries: PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    pub runs: usize,
    /// Recipients of the fan-out (one email each).
    pub emails: usize,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    local_cloud::runtime::percentile(values, p).unwrap_or(f64::NAN)
}

pub async fn run(options: EmailOptions) -> Result<String, String> {
    local_cloud::logs::set_quiet(true);
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let table = format!("email-bench-{id}");
    test_support::ses_client_at(&options.sqs).await;
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
    let consumer = cloud
        .functions
        .get("EmailFunction")
        .ok_or("no EmailFunction in the template")?
        .clone();
    let size = std::fs::metadata(options.binaries.join("email"))
        .map_err(|e| e.to_string())?
        .len();
    let store = store::Store::new(
        local_cloud::clients::dynamodb(&options.dynamodb),
        table.as_str(),
    );

    // Cold starts: the sample batch on a fresh instance each time.
    let sample = std::fs::read_to_string(test_support::samples::dir().join("email-sqs-batch.json"))
        .map_err(|e| e.to_string())?;
    let before = consumer.stats();
    for _ in 0..options.runs {
        consumer.recycle();
        consumer
            .invoke(Bytes::from(sample.clone()))
            .await
            .map_err(|e| format!("{e:?}"))?;
    }
    let stats = consumer.stats();
    let init = stats.init_ms[before.init_ms.len()..].to_vec();
    let first = stats.first_response_ms[before.first_response_ms.len()..].to_vec();

    // Recipients as their first request makes them: a profile with a verified address.
    let fixtures = test_support::fixtures::Fixtures::new(store.clone(), clock::Clock::system());
    let owner = format!("eb-{}-owner", &id[16..]);
    let org = fixtures.org(&owner).await;
    let prefix = format!("eb-{}-m", &id[16..]);
    let mut joins = tokio::task::JoinSet::new();
    for i in 0..options.emails {
        let (fixtures, org, user) = (fixtures.clone(), org.clone(), format!("{prefix}{i:05}"));
        joins.spawn(async move { fixtures.add_member(&org, &user, auth::Role::Member).await });
        if joins.len() >= 16 {
            joins.join_next().await;
        }
    }
    joins.join_all().await;
    let members: Vec<String> = (0..options.emails)
        .map(|i| format!("{prefix}{i:05}"))
        .collect();

    // What the dispatcher leaves for each recipient: the `pending` record and the job.
    let request_id = ulid::Ulid::generate().to_string();
    let now = clock::DateTime::now_utc();
    let notice = Notice {
        kind: NotificationType::Billing,
        severity: Severity::Warning,
        title: "Your invoice is ready".into(),
        body: "Invoice INV-0042 for 49.00 USD is ready; it is paid on the 1st.".into(),
        data: serde_json::json!({ "invoice_id": "in_0042" }),
        email_only: false,
    };
    let mut jobs = Vec::with_capacity(members.len());
    for user in &members {
        for (channel, status) in [
            (Channel::Email, DeliveryStatus::Pending),
            (Channel::InApp, DeliveryStatus::Delivered),
        ] {
            let record = DeliveryRecord {
                request_id: request_id.clone(),
                user_id: user.clone(),
                channel,
                status,
                kind: notice.kind,
                reason: None,
                notification_id: None,
                ses_message_id: None,
                attempts: 0,
                lease_until_ms: None,
                claim: None,
                updated_at: now,
            };
            let key = keys::notification_delivery(
                OrgId(&org),
                &request_id,
                UserId(user),
                channel.as_str(),
            );
            let item =
                store::item(&key, "notification_delivery", &record).map_err(|e| e.to_string())?;
            store
                .put(item, store::Condition::Always)
                .await
                .map_err(|e| e.to_string())?;
        }
        jobs.push(EmailJob {
            org_id: org.clone(),
            request_id: request_id.clone(),
            user_id: user.clone(),
            notification_id: None,
            requested_at: now,
            notice: notice.clone(),
        });
    }
    let queue = Queue::new(
        local_cloud::clients::sqs(&options.sqs),
        cloud.queues["EmailQueue"].url.clone(),
    );
    let started = Instant::now();
    if let Some((id, reason)) = queue.send_all(&jobs).await.pop() {
        return Err(format!("{id} not queued: {reason}"));
    }
    let queued_secs = started.elapsed().as_secs_f64();
    let deadline = started + Duration::from_secs(900);
    let (mut sent, mut first_sent) = (0, None);
    while Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let query = store::Query::new(
            "deliveries",
            keys::notification_deliveries(OrgId(&org), &request_id),
            1000,
            None,
        );
        let (records, _) = store
            .query_all::<serde_json::Value>(query, usize::MAX)
            .await
            .map_err(|e| e.to_string())?;
        sent = records
            .iter()
            .filter(|r| r["channel"] == "email" && r["status"] == "sent")
            .count();
        if sent > 0 && first_sent.is_none() {
            first_sent = Some(started.elapsed());
        }
        if sent >= options.emails {
            break;
        }
    }
    let all_secs = started.elapsed().as_secs_f64();
    let first_secs = first_sent.unwrap_or_default().as_secs_f64();
    let received = test_support::sent_emails_at(&options.sqs, |to| to.starts_with(&prefix))
        .await
        .len();

    // Units by DynamoDB's rules, from the records as they ended.
    let client = local_cloud::clients::dynamodb(&options.dynamodb);
    let item_bytes = |key: store::Key| crate::ingest::stored_item_size(&client, &table, key);
    let user = UserId(&members[0]);
    let email_bytes = item_bytes(keys::notification_delivery(
        OrgId(&org),
        &request_id,
        user,
        "email",
    ))
    .await?;
    let in_app_bytes = item_bytes(keys::notification_delivery(
        OrgId(&org),
        &request_id,
        user,
        "in_app",
    ))
    .await?;
    let profile_bytes = item_bytes(keys::user_profile(user)).await?;
    let org_bytes = item_bytes(keys::org_profile(OrgId(&org))).await?;
    let write = |bytes: usize| (bytes as f64 / 1024.0).ceil().max(1.0);
    let read = |bytes: usize| (bytes as f64 / 4096.0).ceil().max(1.0);
    // The dispatcher's put of the pending record, the claim's update, the final update (an
    // update costs by the larger of the item before and after); reads: the profile and the
    // organization and the membership (one BatchGetItem) and the preferences, strongly
    // consistent (the membership and preferences items are well under 4 KiB).
    let email_writes = 3.0 * write(email_bytes);
    let reads = read(profile_bytes) + read(org_bytes) + 2.0;

    let durations = &consumer.stats().durations_ms;
    let peak_rss = consumer.stats().peak_rss_kib;
    cloud.shutdown();
    Ok(format!(
        "email (EmailFunction):\n  \
         binary {:.2} MiB; cold start (sample batch, {} fresh instances): init p50 {:.1} ms, first response p50 {:.1} ms; peak RSS {:.1} MiB\n  \
         {} email jobs (members with verified addresses; queued in {queued_secs:.1} s): {sent} `sent` in {all_secs:.1} s from the first send ({:.1}/s), the first after {first_secs:.1} s ({:.1}/s from then); moto received {received}{}\n  \
         invocation p50 {:.1} ms, p99 {:.1} ms over {} invocations\n  \
         units per email by DynamoDB's rules (email record {email_bytes} B, in-app record {in_app_bytes} B): \
         email record put + claim + outcome {email_writes:.0} WCU, in-app record {:.0} WCU; reads {reads:.0} RCU (profile, organization, membership, preferences; strongly consistent)",
        size as f64 / 1_048_576.0,
        init.len(),
        percentile(&init, 50.0),
        percentile(&first, 50.0),
        peak_rss as f64 / 1024.0,
        options.emails,
        sent as f64 / all_secs,
        if first_secs < all_secs {
            sent as f64 / (all_secs - first_secs)
        } else {
            f64::NAN
        },
        if received == sent {
            " (no duplicate)".to_owned()
        } else {
            format!(" (records say {sent})")
        },
        percentile(durations, 50.0),
        percentile(durations, 99.0),
        durations.len(),
        write(in_app_bytes),
    ))
}
