//! The notification centre's routes against DynamoDB Local and moto: the caller's own
//! notifications, the exact count after every change, preferences, tenancy and bad input
//! (here), sending to members and the dispatcher's delivery (`send`), notification email
//! (`email`), and the real binaries through the local cloud (`e2e`).

mod e2e;
mod email;
mod live;
mod send;

use auth::Role;
use clock::Clock;
use http::{Method, StatusCode};
use notifications::{NewNotification, notification_id};
use notifications_function::{App, router};
use notify::{NotificationType, Severity};
use serde_json::{Value, json};
use test_support::api::ApiClient;
use test_support::fixtures::Fixtures;

struct Harness {
    api: ApiClient,
    app: App,
    fixtures: Fixtures,
    org: String,
    store: store::Store,
    /// The notifications queue the send route puts on (a fresh one in moto).
    queue: String,
    /// The email queue the dispatcher puts email jobs on (a fresh one in moto).
    email_queue: String,
}

async fn harness() -> Harness {
    let (dynamodb, settings) = test_support::fresh_function().await;
    let sqs = test_support::sqs_client();
    let queue = test_support::fresh_queue(&sqs).await;
    let email_queue = test_support::fresh_queue(&sqs).await;
    let app = App::new(
        &settings,
        dynamodb.clone(),
        notify::Queue::new(sqs, queue.clone()),
        test_support::unsubscribe_links(),
        Clock::system(),
    );
    let store = store::Store::new(dynamodb, settings.table_name.as_str());
    let fixtures = Fixtures::new(store.clone(), Clock::system());
    let org = fixtures.org("own").await;
    fixtures.add_member(&org, "vie", Role::Viewer).await;
    Harness {
        api: ApiClient::new(router(app.clone(), &settings.cors_allowed_origins)),
        app,
        fixtures,
        org,
        store,
        queue,
        email_queue,
    }
}

impl Harness {
    async fn deliver(
        &self,
        org: &str,
        user: &str,
        request: &str,
        kind: NotificationType,
    ) -> String {
        let id = notification_id(request, user, time::OffsetDateTime::now_utc());
        let new = NewNotification {
            id: id.clone(),
            kind,
            severity: Severity::Info,
            title: format!("About {request}"),
            body: "Details.".into(),
            data: json!({"request": request}),
            request_id: request.into(),
        };
        self.app.inbox().deliver(org, user, new).await.unwrap();
        id
    }

    async fn call(
        &self,
        user: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut call = self.api.request(method, path).user(user).org(&self.org);
        if let Some(body) = body {
            call = call.json(&body.to_string());
        }
        call.send().await.into_parts()
    }

    async fn count(&self, user: &str) -> i64 {
        let (status, body) = self
            .call(user, Method::GET, "/v1/notifications/unread-count", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["count"].as_i64().unwrap()
    }
}

#[tokio::test]
async fn a_member_reads_marks_and_deletes_their_own_notifications() {
    let h = harness().await;
    let a = h.deliver(&h.org, "vie", "r1", NotificationType::Team).await;
    let b = h
        .deliver(&h.org, "vie", "r2", NotificationType::Billing)
        .await;
    h.deliver(&h.org, "own", "r3", NotificationType::Team).await;
    assert_eq!(h.count("vie").await, 2);
    let (_, count) = h
        .call("vie", Method::GET, "/v1/notifications/unread-count", None)
        .await;
    assert_eq!(count, json!({"count": 2, "version": 2}));

    let (status, list) = h
        .call(
            "vie",
            Method::GET,
            "/v1/notifications?status=unread&type=team",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], a.as_str());
    assert_eq!(items[0]["read_at"], Value::Null);
    assert_eq!(list["next_cursor"], Value::Null);

    let (status, read) = h
        .call(
            "vie",
            Method::PATCH,
            &format!("/v1/notifications/{a}/read"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{read}");
    assert!(read["read_at"].is_string());
    let (status, again) = h
        .call(
            "vie",
            Method::PATCH,
            &format!("/v1/notifications/{a}/read"),
            None,
        )
        .await;
    assert_eq!(
        (status, &again["read_at"]),
        (StatusCode::OK, &read["read_at"])
    );
    assert_eq!(h.count("vie").await, 1);

    // Another member's notification is not found; so is one of another organization.
    let (status, _) = h
        .call(
            "own",
            Method::PATCH,
            &format!("/v1/notifications/{b}/read"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .call(
            "own",
            Method::DELETE,
            &format!("/v1/notifications/{b}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let other = h.fixtures.org("vie").await;
    let reply = h
        .api
        .request(Method::GET, "/v1/notifications")
        .user("vie")
        .org(&other)
        .send()
        .await
        .expect(StatusCode::OK);
    assert_eq!(reply["items"].as_array().unwrap().len(), 0);
    // Not a member: 403.
    let (status, _) = h
        .call("stranger", Method::GET, "/v1/notifications", None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let (status, marked) = h
        .call("vie", Method::POST, "/v1/notifications/mark-all-read", None)
        .await;
    assert_eq!((status, marked), (StatusCode::OK, json!({"updated": 1})));
    assert_eq!(h.count("vie").await, 0);
    let (_, read) = h
        .call("vie", Method::GET, "/v1/notifications?status=read", None)
        .await;
    assert_eq!(read["items"].as_array().unwrap().len(), 2);
    let (status, _) = h
        .call(
            "vie",
            Method::DELETE,
            &format!("/v1/notifications/{b}"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = h.call("vie", Method::GET, "/v1/notifications", None).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 1);
    assert_eq!(h.count("own").await, 1, "the owner's own stays");
}

#[tokio::test]
async fn preferences_answer_the_whole_shape_and_keep_what_a_change_leaves_out() {
    let h = harness().await;
    let (status, prefs) = h
        .call("vie", Method::GET, "/v1/notifications/preferences", None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(prefs["types"].as_object().unwrap().len(), 6);
    assert!(
        prefs["types"]
            .as_object()
            .unwrap()
            .values()
            .all(|c| *c == json!({"in_app": true, "email": true}))
    );
    let (status, changed) = h
        .call(
            "vie",
            Method::POST,
            "/v1/notifications/preferences",
            Some(json!({"types": {"billing": {"email": false}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        changed["types"]["billing"],
        json!({"in_app": true, "email": false})
    );
    let (_, changed) = h
        .call(
            "vie",
            Method::POST,
            "/v1/notifications/preferences",
            Some(json!({"types": {"team": {"in_app": false}}})),
        )
        .await;
    assert_eq!(changed["types"]["billing"]["email"], false, "kept");
    assert_eq!(changed["types"]["team"]["in_app"], false);
    // Another member's are their own.
    let (_, theirs) = h
        .call("own", Method::GET, "/v1/notifications/preferences", None)
        .await;
    assert_eq!(theirs["types"]["billing"]["email"], true);
}

#[tokio::test]
async fn bad_input_is_a_4xx_problem_and_changes_nothing() {
    let h = harness().await;
    h.deliver(&h.org, "vie", "r1", NotificationType::Team).await;
    for query in [
        "status=unseen",
        "type=news",
        "limit=0",
        "limit=101",
        "cursor=nope",
        "colour=red",
    ] {
        let (status, body) = h
            .call(
                "vie",
                Method::GET,
                &format!("/v1/notifications?{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {body}");
    }
    for id in ["nope", "01JD3YQ9V4Z8K2M6N0P3R5T7W9", "%F0%9F%98%80"] {
        let (status, _) = h
            .call(
                "vie",
                Method::PATCH,
                &format!("/v1/notifications/{id}/read"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        let (status, _) = h
            .call(
                "vie",
                Method::DELETE,
                &format!("/v1/notifications/{id}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
    }
    for body in [
        json!({"types": {"news": {"email": false}}}),
        json!({"types": {"billing": {"sms": true}}}),
        json!({"types": {"billing": {"email": "no"}}}),
        json!({"kinds": {}}),
        json!([]),
    ] {
        let (status, problem) = h
            .call(
                "vie",
                Method::POST,
                "/v1/notifications/preferences",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {problem}");
    }
    let (_, prefs) = h
        .call("vie", Method::GET, "/v1/notifications/preferences", None)
        .await;
    assert!(
        prefs["types"]
            .as_object()
            .unwrap()
            .values()
            .all(|c| *c == json!({"in_app": true, "email": true}))
    );
    assert_eq!(h.count("vie").await, 1);
}

#[tokio::test]
async fn the_sample_events_reach_their_routes() {
    let h = harness().await;
    let org = h.fixtures.org("local-user").await;
    let samples = [
        ("notifications-list.json", StatusCode::OK),
        ("notifications-unread-count.json", StatusCode::OK),
        ("notifications-mark-read.json", StatusCode::NOT_FOUND),
        ("notifications-mark-all-read.json", StatusCode::OK),
        ("notifications-delete.json", StatusCode::NOT_FOUND),
        ("notifications-get.json", StatusCode::NOT_FOUND),
        ("notifications-deliveries.json", StatusCode::NOT_FOUND),
        (
            "notifications-unsubscribe-page.json",
            StatusCode::BAD_REQUEST,
        ),
        ("notifications-unsubscribe.json", StatusCode::BAD_REQUEST),
        ("notifications-get-preferences.json", StatusCode::OK),
        ("notifications-change-preferences.json", StatusCode::OK),
        ("notifications-send.json", StatusCode::ACCEPTED),
    ];
    test_support::samples::assert_samples_reach_their_routes(&h.api, &org, &samples).await;

    // The SQS sample through the dispatcher's handler: the malformed record fails alone.
    let raw =
        std::fs::read_to_string(test_support::samples::dir().join("dispatcher-sqs-batch.json"))
            .unwrap();
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(&raw).unwrap();
    let dispatcher = notifications::Dispatcher::new(
        h.store.clone(),
        notify::Queue::new(test_support::sqs_client(), h.queue.clone()),
        notify::Queue::new(test_support::sqs_client(), h.email_queue.clone()),
        test_support::pusher(&h.store, &Clock::system()),
        Clock::system(),
    );
    let response = dispatcher_function::handle(&dispatcher, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["7a1c2d3e-0000-4000-8000-000000000003"]);

    // The email queue's sample through the email consumer's handler: likewise.
    let raw =
        std::fs::read_to_string(test_support::samples::dir().join("email-sqs-batch.json")).unwrap();
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(&raw).unwrap();
    let consumer = email_function::Consumer {
        sender: notifications::EmailSender::new(
            h.store.clone(),
            mail::Mailer::new(test_support::ses_client().await, test_support::SENDER),
            test_support::unsubscribe_links(),
            Clock::system(),
        ),
        sqs: test_support::sqs_client(),
        queue_url: h.email_queue.clone(),
        max_receives: 5,
    };
    let (response, tally) = email_function::handle(&consumer, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["9e2b4c6d-0000-4000-8000-000000000002"]);
    assert_eq!((tally.unknown, tally.errors), (1, 1));
}
