//! `POST /v1/notifications` and the dispatcher's delivery of what it queues (in process, against
//! DynamoDB Local and moto): roles, recipients checked per id, Idempotency-Key, preferences,
//! redeliveries, poison messages, a 2,000-member fan-out in chunks, and the read stamp after
//! mark-all-read.

use std::collections::BTreeMap;

use notifications::{Dispatched, Dispatcher, QueuedMessage};
use notify::{Message, Notice, Recipients, Work};

use super::*;

fn body(extra: Value) -> Value {
    let mut body = json!({
        "type": "agent",
        "severity": "warning",
        "title": "Support bot is slow",
        "body": "p95 is above 2 s.",
        "data": {"agent_id": "support-bot"},
    });
    body.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    body
}

/// A queued message with its named recipients in reverse order.
fn reversed_recipients(body: &str) -> String {
    let mut message: Value = serde_json::from_str(body).unwrap();
    message["recipients"]["value"]
        .as_array_mut()
        .expect("named users")
        .reverse();
    message.to_string()
}

impl Harness {
    pub(super) fn dispatcher(&self) -> Dispatcher {
        Dispatcher::new(
            self.store.clone(),
            notify::Queue::new(test_support::sqs_client(), self.queue.clone()),
            notify::Queue::new(test_support::sqs_client(), self.email_queue.clone()),
            test_support::pusher(&self.store, &Clock::system()),
            Clock::system(),
        )
    }

    /// What waits on the notifications queue, taken off it, as a batch for the dispatcher.
    pub(super) async fn queued(&self) -> Vec<QueuedMessage> {
        test_support::drain_queue(&test_support::sqs_client(), &self.queue)
            .await
            .into_iter()
            .enumerate()
            .map(|(i, body)| QueuedMessage {
                message_id: format!("m{i}"),
                body: body.to_string(),
            })
            .collect()
    }

    pub(super) async fn dispatch(&self, messages: Vec<QueuedMessage>) -> Dispatched {
        self.dispatcher().process(messages).await
    }

    async fn send_as(&self, user: &str, body: Value, key: Option<&str>) -> (StatusCode, Value) {
        let mut call = self
            .api
            .request(Method::POST, "/v1/notifications")
            .user(user)
            .org(&self.org)
            .json(&body.to_string());
        if let Some(key) = key {
            call = call.header("idempotency-key", key);
        }
        call.send().await.into_parts()
    }

    async fn titles(&self, user: &str) -> Vec<String> {
        let (status, page) = self
            .call(user, Method::GET, "/v1/notifications?limit=100", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect()
    }

    /// Whether `user` has an email delivery of `request_id` recorded as wanted.
    /// Whether the dispatcher recorded the email as wanted (`pending`, its job queued).
    async fn email_wanted(&self, request_id: &str, user: &str) -> bool {
        let key = store::keys::notification_delivery(
            store::keys::OrgId(&self.org),
            request_id,
            store::keys::UserId(user),
            "email",
        );
        let item: Option<Value> = self.store.get(&key).await.unwrap();
        item.is_some_and(|i| i["status"] == "pending")
    }
}

fn message(org: &str, id: &str, recipients: Recipients, notice: Notice) -> QueuedMessage {
    let message = Message {
        id: id.into(),
        org_id: org.into(),
        requested_at: time::OffsetDateTime::now_utc(),
        work: Work::Notify { recipients, notice },
    };
    QueuedMessage {
        message_id: format!("sqs-{id}"),
        body: serde_json::to_string(&message).unwrap(),
    }
}

fn notice(kind: NotificationType, title: &str) -> Notice {
    Notice {
        kind,
        severity: Severity::Info,
        title: title.into(),
        body: "Details.".into(),
        data: json!({}),
        email_only: false,
    }
}

#[tokio::test]
async fn owners_and_admins_send_and_each_recipient_gets_one_notification() {
    let h = harness().await;
    h.fixtures.add_member(&h.org, "adm", Role::Admin).await;
    h.fixtures.add_member(&h.org, "mem", Role::Member).await;
    for user in ["mem", "vie"] {
        let (status, problem) = h.send_as(user, body(json!({})), None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}: {problem}");
    }
    // A member's bad body is still a 403: the role is checked first.
    let (status, _) = h.send_as("mem", json!({"title": 1}), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(h.queued().await.is_empty(), "refused requests send nothing");

    let (status, accepted) = h
        .send_as("adm", body(json!({"user_ids": ["mem", "vie"]})), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let request_id = accepted["request_id"].as_str().unwrap().to_owned();
    assert!(ulid::Ulid::from_string(&request_id).is_ok());
    let batch = h.queued().await;
    assert_eq!(batch.len(), 1);
    let sent: Value = serde_json::from_str(&batch[0].body).unwrap();
    assert_eq!(sent["id"], request_id.as_str());
    assert_eq!(
        sent["recipients"],
        json!({"kind": "users", "value": ["mem", "vie"]})
    );
    assert_eq!(sent["notice"]["data"], json!({"agent_id": "support-bot"}));

    // Delivered, then delivered again (SQS is at least once): one notification each.
    let again = batch.clone();
    // The same request's notifications in another message (its recipients in another order):
    // what a delivery that ended before its marker was written leaves to the next.
    let mut copy = batch.clone();
    copy[0].body = reversed_recipients(&copy[0].body);
    let first = h.dispatch(batch).await;
    assert_eq!((first.stored, first.duplicates), (2, 0), "{first:?}");
    assert_eq!(first.emails_queued, 2, "email is on by default");
    let second = h.dispatch(again).await;
    assert_eq!(
        (second.stored, second.duplicates, second.redelivered),
        (0, 0, 1),
        "a redelivery of a message delivered in full does nothing: {second:?}"
    );
    let third = h.dispatch(copy).await;
    assert_eq!((third.stored, third.duplicates), (0, 2), "{third:?}");
    for user in ["mem", "vie"] {
        assert_eq!(h.titles(user).await, ["Support bot is slow"], "{user}");
        assert_eq!(h.count(user).await, 1, "{user}");
        assert!(h.email_wanted(&request_id, user).await);
    }
    assert!(h.titles("own").await.is_empty());
    let (_, listed) = h.call("vie", Method::GET, "/v1/notifications", None).await;
    let shown = &listed["items"][0];
    assert_eq!(shown["type"], "agent");
    assert_eq!(shown["severity"], "warning");
    assert_eq!(shown["body"], "p95 is above 2 s.");
    assert_eq!(shown["data"], json!({"agent_id": "support-bot"}));

    // No user_ids: every member, as they are when it is delivered.
    let (status, _) = h
        .send_as("own", body(json!({"title": "All hands"})), None)
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    let batch = h.queued().await;
    let sent: Value = serde_json::from_str(&batch[0].body).unwrap();
    assert_eq!(sent["recipients"], json!({"kind": "all_members"}));
    let outcome = h.dispatch(batch).await;
    assert_eq!(outcome.stored, 4, "{outcome:?}");
    for user in ["own", "adm", "mem", "vie"] {
        assert!(h.titles(user).await.contains(&"All hands".to_owned()));
    }
}

#[tokio::test]
async fn bad_recipients_and_bodies_are_400_with_a_field_error_each_and_send_nothing() {
    let h = harness().await;
    h.fixtures.add_member(&h.org, "adm", Role::Admin).await;
    h.fixtures.org("stranger").await;
    let long = "x".repeat(300);
    let (status, problem) = h
        .send_as(
            "own",
            body(json!({"user_ids": ["adm", "ghost", "adm", long, "stranger", "vie"]})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{problem}");
    let errors: BTreeMap<String, String> = problem["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap().to_owned(),
                e["message"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        errors,
        BTreeMap::from([
            (
                "user_ids[1]".into(),
                "is not a member of this organization".into()
            ),
            ("user_ids[2]".into(), "repeats user_ids[0]".into()),
            (
                "user_ids[3]".into(),
                "is not a member of this organization".into()
            ),
            (
                "user_ids[4]".into(),
                "is not a member of this organization".into()
            ),
        ]),
        "a member of another organization is no member here"
    );
    let too_many: Vec<String> = (0..501).map(|i| format!("u{i}")).collect();
    for (case, extra) in [
        ("empty user_ids", json!({"user_ids": []})),
        ("501 user_ids", json!({"user_ids": too_many})),
        ("user_ids not strings", json!({"user_ids": [1]})),
        ("no title", json!({"title": ""})),
        ("long title", json!({"title": "t".repeat(201)})),
        ("invisible title", json!({"title": "\u{200B}"})),
        ("bidi title", json!({"title": "a\u{202E}b"})),
        ("long body", json!({"body": "b".repeat(4001)})),
        ("control in body", json!({"body": "a\u{0}b"})),
        ("unknown type", json!({"type": "news"})),
        ("unknown severity", json!({"severity": "fatal"})),
        ("data not an object", json!({"data": [1, 2]})),
        ("data over 8 KiB", json!({"data": {"x": "d".repeat(8200)}})),
        ("unknown field", json!({"channels": ["email"]})),
    ] {
        let (status, problem) = h.send_as("own", body(extra), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{case}: {problem}");
        assert_eq!(
            problem["status"], 400,
            "{case}: problem+json, not a bare error"
        );
    }
    let (status, _) = h
        .api
        .request(Method::POST, "/v1/notifications")
        .user("own")
        .org(&h.org)
        .body("text/plain", "hi")
        .send()
        .await
        .into_parts();
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = h
        .send_as("own", body(json!({})), Some("bad key with spaces"))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(h.queued().await.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn an_idempotency_key_sends_once_and_a_failed_send_is_sent_on_retry() {
    let h = harness().await;
    let (status, first) = h.send_as("own", body(json!({})), Some("k-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{first}");
    let (status, replay) = h.send_as("own", body(json!({})), Some("k-1")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(replay, first, "the first answer, replayed");
    assert_eq!(h.queued().await.len(), 1, "sent once");
    let (status, problem) = h
        .send_as("own", body(json!({"title": "Other"})), Some("k-1"))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(problem["code"], "idempotency_key_reused");

    // The queue is unreachable: 503, and the key does not replay a 202 for nothing.
    let broken = App::new(
        &test_support::local_settings(h.store.table()),
        test_support::dynamodb_client(),
        notify::Queue::new(test_support::sqs_client(), format!("{}-missing", h.queue)),
        test_support::unsubscribe_links(),
        Clock::system(),
    );
    let broken = ApiClient::new(router(broken, &[]));
    let (status, problem) = broken
        .request(Method::POST, "/v1/notifications")
        .user("own")
        .org(&h.org)
        .header("idempotency-key", "k-2")
        .json(&body(json!({})).to_string())
        .send()
        .await
        .into_parts();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{problem}");
    // Recorded before the send, not marked sent: what the retry finds.
    let record_key = store::keys::idempotency::request(
        store::ReplayScope {
            org: Some(store::keys::OrgId(&h.org)),
            caller: store::keys::UserId("own"),
        },
        "k-2",
    );
    let record: Value = h.store.get(&record_key).await.unwrap().unwrap();
    assert_eq!(record["response"]["sent"], false, "{record}");
    let first_id = record["response"]["request_id"].clone();
    // The retry sends that request (its id and time), once, and later retries replay it.
    let (status, sent) = h.send_as("own", body(json!({})), Some("k-2")).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sent}");
    assert_eq!(sent["request_id"], first_id);
    let record: Value = h.store.get(&record_key).await.unwrap().unwrap();
    assert_eq!(record["response"]["sent"], true);
    let (_, replay) = h.send_as("own", body(json!({})), Some("k-2")).await;
    assert_eq!(replay, sent);
    let queued = h.queued().await;
    assert_eq!(queued.len(), 1);
    let message: Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(message["id"], sent["request_id"]);
    // Another caller's same key is their own request.
    h.fixtures.add_member(&h.org, "adm", Role::Admin).await;
    let (status, theirs) = h.send_as("adm", body(json!({})), Some("k-2")).await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_ne!(theirs["request_id"], sent["request_id"]);
    h.queued().await;

    // Racing retries of one key: one request id, and whatever copies were queued store one
    // notification per recipient.
    let racing = (0..5).map(|_| h.send_as("own", body(json!({"title": "Race"})), Some("k-3")));
    let answers = futures_util::future::join_all(racing).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::ACCEPTED),
        "{answers:?}"
    );
    assert!(
        answers
            .iter()
            .all(|(_, a)| a["request_id"] == answers[0].1["request_id"])
    );
    let copies = h.queued().await;
    assert!(!copies.is_empty());
    let outcome = h.dispatch(copies).await;
    assert_eq!(
        outcome.stored, 3,
        "own, adm and vie, once each: {outcome:?}"
    );
    assert_eq!(
        h.count("vie").await,
        1,
        "the race's (the others were only inspected)"
    );
}

#[tokio::test]
async fn preferences_roles_and_departed_members_decide_who_gets_what() {
    let h = harness().await;
    h.fixtures.add_member(&h.org, "adm", Role::Admin).await;
    h.fixtures.add_member(&h.org, "mem", Role::Member).await;
    // vie mutes agent notices in the app; mem wants no agent email.
    h.call(
        "vie",
        Method::POST,
        "/v1/notifications/preferences",
        Some(json!({"types": {"agent": {"in_app": false}}})),
    )
    .await;
    h.call(
        "mem",
        Method::POST,
        "/v1/notifications/preferences",
        Some(json!({"types": {"agent": {"email": false}}})),
    )
    .await;
    let removed = Notice {
        email_only: true,
        ..notice(NotificationType::Team, "You were removed")
    };
    let outcome = h
        .dispatch(vec![
            message(
                &h.org,
                "all",
                Recipients::AllMembers,
                notice(NotificationType::Agent, "Agent"),
            ),
            message(
                &h.org,
                "managers",
                Recipients::Roles(vec![Role::Owner, Role::Admin]),
                notice(NotificationType::Team, "Managers"),
            ),
            message(
                &h.org,
                "named",
                Recipients::Users(vec!["mem".into(), "ghost".into(), "mem".into()]),
                notice(NotificationType::Kb, "Named"),
            ),
            message(
                &h.org,
                "removed",
                Recipients::Users(vec!["gone".into()]),
                removed,
            ),
        ])
        .await;
    assert!(outcome.failed.is_empty(), "{outcome:?}");
    assert_eq!(outcome.muted, 1, "vie's agent notice: {outcome:?}");
    assert_eq!(outcome.not_members, 1, "ghost: {outcome:?}");
    assert_eq!(h.titles("own").await, ["Managers", "Agent"]);
    assert_eq!(h.titles("adm").await, ["Managers", "Agent"]);
    assert_eq!(h.titles("mem").await, ["Named", "Agent"]);
    assert!(h.titles("vie").await.is_empty(), "muted in the app");
    assert_eq!(h.count("vie").await, 0);
    // Email follows its own preference, in-app muting or not.
    assert!(h.email_wanted("all", "vie").await);
    assert!(!h.email_wanted("all", "mem").await);
    assert!(h.email_wanted("all", "own").await);
    // The removed member is told by email only: nothing in the app.
    assert!(h.email_wanted("removed", "gone").await);
    let gone: Option<Value> = h
        .store
        .get(&store::keys::notification_counter(
            store::keys::OrgId(&h.org),
            store::keys::UserId("gone"),
        ))
        .await
        .unwrap();
    assert!(gone.is_none(), "no counter, no notification: {gone:?}");
}

#[tokio::test]
async fn a_poison_message_fails_alone() {
    let h = harness().await;
    let good = message(
        &h.org,
        "good",
        Recipients::Users(vec!["vie".into()]),
        notice(NotificationType::System, "Fine"),
    );
    let garbage = QueuedMessage {
        message_id: "sqs-garbage".into(),
        body: "{not json".into(),
    };
    let unknown = QueuedMessage {
        message_id: "sqs-unknown".into(),
        body: json!({"id": "x", "org_id": h.org, "requested_at": "2026-12-02T08:00:00Z", "kind": "teleport"})
            .to_string(),
    };
    let outcome = h.dispatch(vec![garbage, good, unknown]).await;
    let mut failed = outcome.failed.clone();
    failed.sort();
    assert_eq!(failed, ["sqs-garbage", "sqs-unknown"]);
    assert_eq!(outcome.stored, 1);
    assert_eq!(h.titles("vie").await, ["Fine"]);
}

#[tokio::test]
async fn a_fan_out_to_2000_members_goes_in_chunks_with_one_notification_each() {
    let h = harness().await;
    let org = h.fixtures.org("big-owner").await;
    // 2,000 more members, written straight to the table (the dispatcher reads member items).
    let mut writes = tokio::task::JoinSet::new();
    for i in 0..2000 {
        let store = h.store.clone();
        let org = org.clone();
        writes.spawn(async move {
            let membership = auth::records::MembershipRecord {
                org_id: org,
                user_id: format!("u{i:04}"),
                role: Role::Member,
                joined_at: time::OffsetDateTime::now_utc(),
            };
            let (item, _) = membership.items().unwrap();
            store.put(item, store::Condition::Always).await.unwrap();
        });
        if writes.len() >= 32 {
            writes.join_next().await.unwrap().unwrap();
        }
    }
    writes.join_all().await;
    let members: usize = 2001;

    let started = std::time::Instant::now();
    let first = h
        .dispatch(vec![message(
            &org,
            "fan-out",
            Recipients::AllMembers,
            notice(NotificationType::System, "Maintenance tonight"),
        )])
        .await;
    assert_eq!(first.stored, 0, "split, not delivered: {first:?}");
    assert_eq!(first.requeued, members.div_ceil(notifications::CHUNK));
    let chunks = h.queued().await;
    assert_eq!(chunks.len(), first.requeued);
    let mut stored = 0;
    // Two chunks at a time, not Lambda's ten: DynamoDB Local serializes transactions on a
    // table lock and times out ("waiting for a lock", a 500 real DynamoDB never answers) under
    // ten chunks' 160 concurrent deliveries on a busy emulator.
    for batch in chunks.chunks(2) {
        let outcome = h.dispatch(batch.to_vec()).await;
        assert!(outcome.failed.is_empty(), "{outcome:?}");
        stored += outcome.stored;
    }
    let elapsed = started.elapsed();
    assert_eq!(stored, members);
    println!(
        "fan-out: {members} notifications in {:.1} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        members as f64 / elapsed.as_secs_f64()
    );
    // A chunk delivered again stores nothing.
    let again = h.dispatch(vec![chunks[0].clone()]).await;
    assert_eq!((again.stored, again.redelivered), (0, 1));
    let mut copy = chunks[0].clone();
    copy.body = reversed_recipients(&copy.body);
    let again = h.dispatch(vec![copy]).await;
    assert_eq!((again.stored, again.duplicates), (0, notifications::CHUNK));
    // One notification per member, each counted once.
    let partition = store::keys::Partition {
        pk: format!("ORG#{org}"),
        sk_prefix: "NOTIF#".into(),
    };
    let (all, complete) = h
        .store
        .query_all::<Value>(store::Query::new("all", partition, 1000, None), 10)
        .await
        .unwrap();
    assert!(complete);
    assert_eq!(all.len(), members);
    let users: std::collections::HashSet<&str> =
        all.iter().map(|n| n["user_id"].as_str().unwrap()).collect();
    assert_eq!(users.len(), members);
    let counters: Vec<store::Key> = users
        .iter()
        .take(100)
        .map(|u| {
            store::keys::notification_counter(store::keys::OrgId(&org), store::keys::UserId(u))
        })
        .collect();
    for counter in h.store.batch_get(&counters).await.unwrap() {
        let counter: Value = store::from_item(counter.unwrap()).unwrap();
        assert_eq!(counter["unread"], 1, "{counter}");
    }
}

/// The stamp messages the user's mark-all-reads recorded (oldest first), as the relay routes them.
async fn stamps(h: &Harness, user: &str) -> Vec<Message> {
    let (records, _) = h
        .store
        .query_all::<outbox::OutboxRecord>(
            store::Query::new(
                "outbox",
                store::keys::outbox(store::keys::OrgId(&h.org)),
                100,
                None,
            ),
            10,
        )
        .await
        .unwrap();
    records
        .iter()
        .filter(|r| matches!(&r.record, outbox::SideEffect::StampRead { user_id, .. } if user_id == user))
        .map(|r| {
            let outbox::Route::Notifications(message) = r.route();
            message
        })
        .collect()
}

/// The user's notifications as stored (not as shown), oldest first.
async fn stored_notifications(h: &Harness, user: &str) -> Vec<Value> {
    let partition =
        store::keys::notifications(store::keys::OrgId(&h.org), store::keys::UserId(user));
    let (items, complete) = h
        .store
        .query_all::<Value>(store::Query::new("all", partition, 1000, None), 10)
        .await
        .unwrap();
    assert!(complete);
    items
}

#[tokio::test]
async fn mark_all_read_is_stamped_afterwards_through_the_outbox() {
    let h = harness().await;
    // More than a page of stamps, and a second mark-all-read before the first is stamped.
    for i in 0..150 {
        h.deliver(&h.org, "vie", &format!("r{i}"), NotificationType::Team)
            .await;
    }
    let (status, marked) = h
        .call("vie", Method::POST, "/v1/notifications/mark-all-read", None)
        .await;
    assert_eq!((status, marked), (StatusCode::OK, json!({"updated": 150})));
    h.deliver(&h.org, "vie", "late", NotificationType::Team)
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    let (_, marked) = h
        .call("vie", Method::POST, "/v1/notifications/mark-all-read", None)
        .await;
    assert_eq!(marked, json!({"updated": 1}));
    let (_, before) = h
        .call("vie", Method::GET, "/v1/notifications/unread-count", None)
        .await;
    let messages = stamps(&h, "vie").await;
    assert_eq!(messages.len(), 2, "each mark-all-read recorded its stamp");
    // The later one is stamped first: each keeps its own range and time.
    let batch = |m: &Message| {
        vec![QueuedMessage {
            message_id: format!("sqs-{}", m.id),
            body: serde_json::to_string(m).unwrap(),
        }]
    };
    let second = h.dispatch(batch(&messages[1])).await;
    assert_eq!(second.stamped, 1, "{second:?}");
    let first = h.dispatch(batch(&messages[0])).await;
    assert_eq!(first.stamped, 150, "two pages: {first:?}");
    assert_eq!(first.requeued, 0);
    assert_eq!(
        h.dispatch(batch(&messages[0])).await.stamped,
        0,
        "a redelivery stamps nothing"
    );
    let (_, after) = h
        .call("vie", Method::GET, "/v1/notifications/unread-count", None)
        .await;
    assert_eq!(after, before, "no count moved");

    let stored = stored_notifications(&h, "vie").await;
    assert_eq!(stored.len(), 151);
    let Work::StampRead {
        read_at: first_at, ..
    } = &messages[0].work
    else {
        unreachable!()
    };
    let Work::StampRead {
        read_at: second_at, ..
    } = &messages[1].work
    else {
        unreachable!()
    };
    assert_ne!(first_at, second_at);
    for n in &stored {
        let expected = if n["request_id"] == "late" {
            second_at
        } else {
            first_at
        };
        assert_eq!(
            n["read_at"].as_str(),
            Some(clock::rfc3339(*expected).as_str()),
            "stored on the item: {n}"
        );
        assert!(n.get("GSI1PK").is_none(), "out of the unread index: {n}");
        assert!(n["ttl"].is_number(), "read: expires: {n}");
    }
}

#[tokio::test]
async fn data_the_table_could_not_hold_as_a_map_is_delivered_as_sent() {
    let h = harness().await;
    let mut deep = json!({"big": 1e300, "tiny": 1e-300, "int": 18446744073709551615u64});
    for _ in 0..40 {
        deep = json!({ "nested": deep });
    }
    let (status, accepted) = h
        .send_as(
            "own",
            body(json!({"user_ids": ["vie"], "data": deep})),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
    let outcome = h.dispatch(h.queued().await).await;
    assert_eq!(outcome.stored, 1, "{outcome:?}");
    let (_, list) = h.call("vie", Method::GET, "/v1/notifications", None).await;
    assert_eq!(list["items"][0]["data"], deep);
}
