//! The notification centre through the local cloud: the real `notifications`, `dispatcher`,
//! `email` and `relay` binaries behind template.yaml's HTTP API, the notifications and email
//! queues' event-source mappings and the table's stream, over DynamoDB Local and moto (SQS, SES).

use std::time::{Duration, Instant};

use reqwest::Method as M;

use super::*;

/// Polls `probe` until it answers `Some`, for up to `within`.
async fn eventually<T, F, Fut>(what: &str, within: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(done) = probe().await {
            return done;
        }
        assert!(started.elapsed() < within, "{what}: not within {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_notification_reaches_the_member_is_stamped_read_and_poison_goes_to_the_dead_letter_queue()
 {
    let local = test_support::cloud::start("n").await;
    let (api, cloud) = (&local.api, &local.cloud);
    let sqs = test_support::sqs_client();
    let queue = &cloud.queues["NotificationsQueue"];
    let dead = &cloud.queues["NotificationsDeadLetterQueue"];
    // The template's 60 s visibility timeout, shortened so five receives take seconds.
    sqs.set_queue_attributes()
        .queue_url(&queue.url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::VisibilityTimeout,
            "1",
        )
        .send()
        .await
        .unwrap();
    // A message the dispatcher cannot read: it fails alone and ends in the dead-letter queue.
    sqs.send_message()
        .queue_url(&queue.url)
        .message_body("{not a notification")
        .send()
        .await
        .unwrap();
    let emails_before = test_support::sent_emails("e2e-notify-member@example.com")
        .await
        .len();
    let owner = test_support::token("e2e-notify-owner", json!({}));
    let member = test_support::token("e2e-notify-member", json!({}));
    let (status, org) = api
        .call(
            M::POST,
            "/v1/orgs",
            &owner,
            None,
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_owned();
    let store = store::Store::new(test_support::dynamodb_client(), local.table.as_str());
    Fixtures::new(store.clone(), Clock::system())
        .add_member(&org, "e2e-notify-member", Role::Member)
        .await;

    let (status, accepted) = api
        .call(
            M::POST,
            "/v1/notifications",
            &owner,
            Some(&org),
            Some(json!({
                "user_ids": ["e2e-notify-member"],
                "type": "workflow",
                "severity": "success",
                "title": "Nightly import done",
                "body": "1,204 documents.",
            })),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    let started = Instant::now();
    let page = eventually("the notification", Duration::from_secs(30), || async {
        let (status, page) = api
            .call(M::GET, "/v1/notifications", &member, Some(&org), None)
            .await;
        assert_eq!(status, 200, "{page}");
        (page["items"].as_array().unwrap().len() == 1).then_some(page)
    })
    .await;
    println!("sent to stored and listed: {:?}", started.elapsed());
    let id = page["items"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(page["items"][0]["title"], "Nightly import done");
    let (_, count) = api
        .call(
            M::GET,
            "/v1/notifications/unread-count",
            &member,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(count["count"], 1, "{count}");

    // The email consumer sent it (moto keeps the HTML part), with its one-click link.
    let email = eventually("the email", Duration::from_secs(30), || async {
        test_support::sent_emails("e2e-notify-member@example.com")
            .await
            .into_iter()
            .nth(emails_before)
    })
    .await;
    assert_eq!(email.subject, "[Acme] Nightly import done");
    let token: String = email
        .body
        .split("unsubscribe?token=")
        .nth(1)
        .unwrap()
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || "-_.".contains(*c))
        .collect();
    let (status, detail) = api
        .call(
            M::GET,
            &format!("/v1/notifications/{id}"),
            &member,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(status, 200, "{detail}");
    assert_eq!(detail["deliveries"][1]["status"], "sent", "{detail}");
    // The link a mail client posts to, without a login: workflow email off, nothing else.
    let unsubscribe = format!("{}/v1/notifications/unsubscribe?token={token}", api.base);
    let page = api.http.get(&unsubscribe).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let done = api
        .http
        .post(&unsubscribe)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 200);
    let (_, preferences) = api
        .call(
            M::GET,
            "/v1/notifications/preferences",
            &member,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(
        preferences["types"]["workflow"],
        json!({"in_app": true, "email": false})
    );
    assert_eq!(
        preferences["types"]["team"],
        json!({"in_app": true, "email": true})
    );

    // Mark-all-read answers at once; the relay and the dispatcher stamp the item afterwards.
    let (status, marked) = api
        .call(
            M::POST,
            "/v1/notifications/mark-all-read",
            &member,
            Some(&org),
            None,
        )
        .await;
    assert_eq!((status, marked), (200, json!({"updated": 1})));
    let key = store::keys::notification(
        store::keys::OrgId(&org),
        store::keys::UserId("e2e-notify-member"),
        &id,
    );
    eventually("the read stamp", Duration::from_secs(30), || async {
        let item: Option<Value> = store.get(&key).await.unwrap();
        item.filter(|n| n["read_at"].is_string())
    })
    .await;

    // The poison message fails alone, five times (while the rest runs), then waits in the
    // dead-letter queue.
    let dead_letters =
        test_support::receive_until(&dead.url, |m| !m.is_empty(), Duration::from_secs(120)).await;
    assert_eq!(
        dead_letters[0].body(),
        Some("{not a notification"),
        "{dead_letters:?}"
    );
    cloud.shutdown();
}
