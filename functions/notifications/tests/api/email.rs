//! Notification email against DynamoDB Local and moto (SES with a verified identity): who gets
//! email, the delivery records and their lease under injected faults (a consumer that dies after
//! its claim, or after SES accepted), redeliveries, permanent and transient SES errors, the
//! delivery log and the one-click unsubscribe route.

use std::time::Duration;

use notifications::email::{Claim, Composed};
use notifications::{DeliveryStatus, EmailOutcome, EmailSender};
use notify::EmailJob;

use super::*;

/// A user id no other test (or run against the same moto) uses: moto keeps every email.
fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{prefix}-{nanos}")
}

fn address(user: &str) -> String {
    format!("{user}@example.com")
}

impl Harness {
    async fn email_sender(&self, clock: &Clock) -> EmailSender {
        EmailSender::new(
            self.store.clone(),
            mail::Mailer::new(test_support::ses_client().await, test_support::SENDER),
            test_support::unsubscribe_links(),
            clock.clone(),
        )
        .with_lease(Duration::from_secs(60))
    }

    /// The email jobs waiting on the email queue, taken off it.
    async fn email_jobs(&self) -> Vec<EmailJob> {
        test_support::drain_queue(&test_support::sqs_client(), &self.email_queue)
            .await
            .into_iter()
            .map(|body| serde_json::from_value(body).unwrap())
            .collect()
    }

    /// Sends `title` (billing) to `users` as the owner and dispatches it; the request id.
    async fn send_billing(&self, users: &[&str], title: &str) -> String {
        let (status, accepted) = self
            .call(
                "own",
                Method::POST,
                "/v1/notifications",
                Some(json!({
                    "user_ids": users,
                    "type": "billing",
                    "severity": "error",
                    "title": title,
                    "body": "The card <ending 4242> was declined & retried.",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{accepted}");
        let dispatched = self.dispatch(self.queued().await).await;
        assert!(dispatched.failed.is_empty(), "{dispatched:?}");
        accepted["request_id"].as_str().unwrap().to_owned()
    }

    /// A member with a verified address (as their token says).
    async fn member_with_email(&self, user: &str) {
        self.fixtures
            .add_member(&self.org, user, Role::Member)
            .await;
    }

    async fn email_record(&self, request: &str, user: &str) -> Value {
        let key = store::keys::notification_delivery(
            store::keys::OrgId(&self.org),
            request,
            store::keys::UserId(user),
            "email",
        );
        self.store
            .get(&key)
            .await
            .unwrap()
            .expect("a delivery record")
    }
}

#[tokio::test]
async fn email_goes_out_where_the_preference_allows_to_verified_addresses_and_the_log_shows_it() {
    let h = harness().await;
    let (ada, bo, cy) = (unique("ada"), unique("bo"), unique("cy"));
    h.member_with_email(&ada).await;
    h.member_with_email(&bo).await;
    // Cy's identity provider has not verified their address.
    auth::ContextLoader::new(h.store.clone(), Clock::system())
        .caller(auth::Claims {
            email_verified: Some(false),
            ..test_support::fixtures::claims(&cy)
        })
        .await
        .unwrap();
    h.fixtures.add_member(&h.org, &cy, Role::Member).await;
    let (status, _) = h
        .call(
            &bo,
            Method::POST,
            "/v1/notifications/preferences",
            Some(json!({"types": {"billing": {"email": false}}})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let request = h
        .send_billing(&[&ada, &bo, &cy], "Payment <b>failed</b>")
        .await;
    let jobs = h.email_jobs().await;
    let mut job_users: Vec<&str> = jobs.iter().map(|j| j.user_id.as_str()).collect();
    job_users.sort();
    let mut wanted = vec![ada.as_str(), cy.as_str()];
    wanted.sort();
    assert_eq!(
        job_users, wanted,
        "no job for the one who turned billing email off"
    );

    let sender = h.email_sender(&Clock::system()).await;
    for job in &jobs {
        let outcome = sender.deliver(job, false).await.unwrap();
        if job.user_id == ada {
            assert!(matches!(outcome, EmailOutcome::Sent { .. }), "{outcome:?}");
        } else {
            assert_eq!(
                outcome,
                EmailOutcome::Skipped(DeliveryStatus::SkippedNoVerifiedAddress)
            );
        }
    }
    let sent = test_support::sent_emails(&address(&ada)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "[Acme] Payment <b>failed</b>");
    assert!(sent[0].from.contains("invitations@objecta.test"));
    // moto keeps the HTML part: escaped values, the unsubscribe link.
    assert!(
        sent[0]
            .body
            .contains("Payment &lt;b&gt;failed&lt;&#x2F;b&gt;")
    );
    assert!(
        sent[0]
            .body
            .contains("The card &lt;ending 4242&gt; was declined &amp; retried.")
    );
    let link = format!(
        "{}/v1/notifications/unsubscribe?token=",
        test_support::API_PUBLIC_URL
    );
    assert!(
        sent[0].body.contains(&*mail::escape_html(&link)),
        "{}",
        sent[0].body
    );
    assert!(test_support::sent_emails(&address(&bo)).await.is_empty());
    assert!(test_support::sent_emails(&address(&cy)).await.is_empty());

    // A redelivered job finds the record final and sends nothing.
    for job in &jobs {
        let again = sender.deliver(job, false).await.unwrap();
        assert!(matches!(again, EmailOutcome::AlreadyDone(_)), "{again:?}");
    }
    assert_eq!(test_support::sent_emails(&address(&ada)).await.len(), 1);

    // The delivery log, for the sender: every recipient on both channels.
    let (status, log) = h
        .call(
            "own",
            Method::GET,
            &format!("/v1/notifications/requests/{request}/deliveries?limit=100"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{log}");
    let mut rows: Vec<(String, String, String)> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["user_id"].as_str().unwrap().to_owned(),
                d["channel"].as_str().unwrap().to_owned(),
                d["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    rows.sort();
    let row = |u: &str, c: &str, s: &str| (u.to_owned(), c.to_owned(), s.to_owned());
    let mut expected = vec![
        row(&ada, "email", "sent"),
        row(&ada, "in_app", "delivered"),
        row(&bo, "email", "skipped_preference"),
        row(&bo, "in_app", "delivered"),
        row(&cy, "email", "skipped_no_verified_address"),
        row(&cy, "in_app", "delivered"),
    ];
    expected.sort();
    assert_eq!(rows, expected);
    let ada_email = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["user_id"] == ada.as_str() && d["channel"] == "email")
        .unwrap();
    assert!(
        ada_email["ses_message_id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );
    assert_eq!(ada_email["attempts"], 1);
    let cy_email = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["user_id"] == cy.as_str() && d["channel"] == "email")
        .unwrap();
    assert!(cy_email["reason"].as_str().unwrap().contains("verified"));

    // Pages by cursor.
    let (_, first) = h
        .call(
            "own",
            Method::GET,
            &format!("/v1/notifications/requests/{request}/deliveries?limit=4"),
            None,
        )
        .await;
    assert_eq!(first["items"].as_array().unwrap().len(), 4);
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, second) = h
        .call(
            "own",
            Method::GET,
            &format!("/v1/notifications/requests/{request}/deliveries?limit=4&cursor={cursor}"),
            None,
        )
        .await;
    assert_eq!(second["items"].as_array().unwrap().len(), 2);

    // The recipient sees their own deliveries on the notification.
    let (_, list) = h.call(&ada, Method::GET, "/v1/notifications", None).await;
    let id = list["items"][0]["id"].as_str().unwrap();
    let (status, detail) = h
        .call(&ada, Method::GET, &format!("/v1/notifications/{id}"), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    assert_eq!(detail["title"], "Payment <b>failed</b>");
    let channels: Vec<(&str, &str)> = detail["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["channel"].as_str().unwrap(),
                d["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(channels, [("in_app", "delivered"), ("email", "sent")]);
    // Nobody else's, and no guessing.
    h.api
        .request(Method::GET, &format!("/v1/notifications/{id}"))
        .user(&bo)
        .org(&h.org)
        .send()
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");

    // The log is the sending organization's owners' and admins'.
    h.api
        .request(
            Method::GET,
            &format!("/v1/notifications/requests/{request}/deliveries"),
        )
        .user(&ada)
        .org(&h.org)
        .send()
        .await
        .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    let other = h.fixtures.org("other-owner").await;
    h.api
        .request(
            Method::GET,
            &format!("/v1/notifications/requests/{request}/deliveries"),
        )
        .user("other-owner")
        .org(&other)
        .send()
        .await
        .expect_problem(StatusCode::NOT_FOUND, "not_found");
    for bad in ["not-a-request", "%C3%A9t%C3%A9", &"A".repeat(65)] {
        let (status, problem) = h
            .call(
                "own",
                Method::GET,
                &format!("/v1/notifications/requests/{bad}/deliveries"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {problem}");
    }
    for query in ["limit=0", "limit=x", "cursor=%21", "other=1"] {
        let (status, problem) = h
            .call(
                "own",
                Method::GET,
                &format!("/v1/notifications/requests/{request}/deliveries?{query}"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {problem}");
    }
}

#[tokio::test]
async fn a_consumer_killed_after_its_claim_or_after_ses_leaves_one_or_two_emails_and_a_sent_record()
{
    let h = harness().await;
    let clock = Clock::manual(time::OffsetDateTime::now_utc());
    let sender = h.email_sender(&clock).await;

    // Killed after the claim, before the SES call.
    let ada = unique("ada");
    h.member_with_email(&ada).await;
    let request = h.send_billing(&[&ada], "Invoice ready").await;
    let [job] = <[EmailJob; 1]>::try_from(h.email_jobs().await).unwrap();
    assert!(matches!(
        sender.claim(&job).await.unwrap(),
        Claim::Claimed { .. }
    ));
    // ... the process dies here. Its job comes back while the lease holds: nothing is sent.
    assert_eq!(
        sender.deliver(&job, false).await.unwrap(),
        EmailOutcome::LeaseHeld
    );
    assert_eq!(h.email_record(&request, &ada).await["status"], "sending");
    clock.advance(clock::Duration::seconds(61));
    assert!(matches!(
        sender.deliver(&job, false).await.unwrap(),
        EmailOutcome::Sent { .. }
    ));
    assert_eq!(
        test_support::sent_emails(&address(&ada)).await.len(),
        1,
        "exactly one"
    );
    let record = h.email_record(&request, &ada).await;
    assert_eq!(record["status"], "sent");
    assert_eq!(record["attempts"], 2);
    assert!(record.get("claim").is_none() && record.get("lease_until_ms").is_none());

    // Killed after SES accepted, before `sent` was written: the documented duplicate.
    let bo = unique("bo");
    h.member_with_email(&bo).await;
    let request = h.send_billing(&[&bo], "Invoice ready").await;
    let [job] = <[EmailJob; 1]>::try_from(h.email_jobs().await).unwrap();
    assert!(matches!(
        sender.claim(&job).await.unwrap(),
        Claim::Claimed { .. }
    ));
    let Composed::Email(email) = sender.compose(&job).await.unwrap() else {
        panic!("bo has a verified address");
    };
    sender.mailer().send(&email).await.unwrap();
    // ... the process dies here.
    clock.advance(clock::Duration::seconds(61));
    assert!(matches!(
        sender.deliver(&job, false).await.unwrap(),
        EmailOutcome::Sent { .. }
    ));
    assert_eq!(
        test_support::sent_emails(&address(&bo)).await.len(),
        2,
        "exactly two"
    );
    assert_eq!(h.email_record(&request, &bo).await["status"], "sent");

    // A redelivered job that was sent: still one (and two).
    clock.advance(clock::Duration::seconds(61));
    assert_eq!(
        sender.deliver(&job, false).await.unwrap(),
        EmailOutcome::AlreadyDone(DeliveryStatus::Sent)
    );
    assert_eq!(test_support::sent_emails(&address(&bo)).await.len(), 2);
    assert_eq!(test_support::sent_emails(&address(&ada)).await.len(), 1);
}

#[tokio::test]
async fn a_permanent_ses_error_is_recorded_failed_once_and_a_transient_one_tried_again() {
    let h = harness().await;
    let ada = unique("ada");
    h.member_with_email(&ada).await;
    let request = h.send_billing(&[&ada], "Refused").await;
    let [job] = <[EmailJob; 1]>::try_from(h.email_jobs().await).unwrap();

    // SES cannot be reached: transient, the record is pending again with the reason.
    let unreachable = EmailSender::new(
        h.store.clone(),
        mail::Mailer::new(
            aws_sdk_sesv2::Client::new(&test_support::local_sdk_config("http://127.0.0.1:9")),
            test_support::SENDER,
        ),
        test_support::unsubscribe_links(),
        Clock::system(),
    );
    let outcome = unreachable.deliver(&job, false).await.unwrap();
    assert!(matches!(outcome, EmailOutcome::Retry { .. }), "{outcome:?}");
    let record = h.email_record(&request, &ada).await;
    assert_eq!(record["status"], "pending");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .starts_with("will try again")
    );

    // From an identity SES never verified: refused for good, recorded, and through the
    // consumer's handler not delivered again (a job that does not parse is).
    let unverified = EmailSender::new(
        h.store.clone(),
        mail::Mailer::new(
            test_support::ses_client().await,
            "nobody@unverified.invalid",
        ),
        test_support::unsubscribe_links(),
        Clock::system(),
    );
    let consumer = email_function::Consumer {
        sender: unverified,
        sqs: test_support::sqs_client(),
        queue_url: h.email_queue.clone(),
        max_receives: 5,
    };
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_value(json!({
        "Records": [
            {"messageId": "job", "receiptHandle": "r1", "body": serde_json::to_string(&job).unwrap(),
             "attributes": {"ApproximateReceiveCount": "2"}},
            {"messageId": "poison", "receiptHandle": "r2", "body": "{not a job",
             "attributes": {"ApproximateReceiveCount": "1"}},
        ]
    }))
    .unwrap();
    let (response, tally) = email_function::handle(&consumer, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["poison"]);
    assert_eq!((tally.failed, tally.errors), (1, 1));
    let record = h.email_record(&request, &ada).await;
    assert_eq!(record["status"], "failed");
    assert!(
        record["reason"]
            .as_str()
            .unwrap()
            .starts_with("SES refused it"),
        "{record}"
    );
    assert_eq!(record["attempts"], 2);
    // Redelivered anyway: not tried again.
    assert_eq!(
        consumer.sender.deliver(&job, false).await.unwrap(),
        EmailOutcome::AlreadyDone(DeliveryStatus::Failed)
    );
    assert!(test_support::sent_emails(&address(&ada)).await.is_empty());

    // On the last receive a transient failure is final.
    let bo = unique("bo");
    h.member_with_email(&bo).await;
    let request = h.send_billing(&[&bo], "Last try").await;
    let [job] = <[EmailJob; 1]>::try_from(h.email_jobs().await).unwrap();
    let outcome = unreachable.deliver(&job, true).await.unwrap();
    assert!(
        matches!(outcome, EmailOutcome::Failed { .. }),
        "{outcome:?}"
    );
    let record = h.email_record(&request, &bo).await;
    assert_eq!(record["status"], "failed");
    assert!(record["reason"].as_str().unwrap().starts_with("gave up"));
}

#[tokio::test]
async fn a_removed_member_is_told_by_email_per_their_team_preference() {
    let h = harness().await;
    let ada = unique("ada");
    h.member_with_email(&ada).await;
    let sender = h.email_sender(&Clock::system()).await;
    // The notice the removal's outbox record becomes.
    let removal = |id: &str| notify::Message {
        id: id.into(),
        org_id: h.org.clone(),
        requested_at: time::OffsetDateTime::now_utc(),
        work: notify::Work::Notify {
            recipients: notify::Recipients::Users(vec![ada.clone()]),
            notice: notify::Notice {
                kind: NotificationType::Team,
                severity: Severity::Warning,
                title: "You were removed from Acme".into(),
                body: "An owner removed you.".into(),
                data: json!({}),
                email_only: true,
            },
        },
    };
    let dispatcher = h.dispatcher();
    let message = |id: &str| notifications::QueuedMessage {
        message_id: id.into(),
        body: serde_json::to_string(&removal(id)).unwrap(),
    };
    let dispatched = dispatcher.process(vec![message("removal1")]).await;
    assert_eq!((dispatched.stored, dispatched.emails_queued), (0, 1));
    for job in h.email_jobs().await {
        assert!(matches!(
            sender.deliver(&job, false).await.unwrap(),
            EmailOutcome::Sent { .. }
        ));
    }
    let sent = test_support::sent_emails(&address(&ada)).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].subject, "[Acme] You were removed from Acme");

    // With team email off, the next one is recorded skipped and sends nothing.
    notifications::preferences::update_preferences(
        &h.store,
        &h.org,
        &ada,
        &serde_json::from_value(json!({"types": {"team": {"email": false}}})).unwrap(),
    )
    .await
    .unwrap();
    let dispatched = dispatcher.process(vec![message("removal2")]).await;
    assert_eq!(dispatched.emails_queued, 0);
    assert_eq!(
        h.email_record("removal2", &ada).await["status"],
        "skipped_preference"
    );
    assert_eq!(test_support::sent_emails(&address(&ada)).await.len(), 1);

    // A member removed after the dispatch and before the send gets no ordinary notice.
    let bo = unique("bo");
    h.member_with_email(&bo).await;
    let request = h.send_billing(&[&bo], "Invoice ready").await;
    let [job] = <[EmailJob; 1]>::try_from(h.email_jobs().await).unwrap();
    h.store
        .delete(
            &store::keys::org_member(store::keys::OrgId(&h.org), store::keys::UserId(&bo)),
            store::Condition::Always,
        )
        .await
        .unwrap();
    assert_eq!(
        sender.deliver(&job, false).await.unwrap(),
        EmailOutcome::Skipped(DeliveryStatus::SkippedNotMember)
    );
    assert_eq!(
        h.email_record(&request, &bo).await["status"],
        "skipped_not_member"
    );
    assert!(test_support::sent_emails(&address(&bo)).await.is_empty());
}

#[tokio::test]
async fn one_click_unsubscribe_turns_off_that_type_only_and_bad_requests_change_nothing() {
    let h = harness().await;
    let links = test_support::unsubscribe_links();
    let now = time::OffsetDateTime::now_utc();
    let token = links.token(&h.org, "vie", NotificationType::Billing, now);
    let path = format!("/v1/notifications/unsubscribe?token={token}");
    let preferences = || async {
        let (_, prefs) = h
            .call("vie", Method::GET, "/v1/notifications/preferences", None)
            .await;
        prefs
    };
    let untouched = preferences().await;
    let form = "application/x-www-form-urlencoded";

    // A GET (link scanners fetch links) answers a page and changes nothing.
    let page = h.api.request(Method::GET, &path).send().await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert!(page.headers.contains_key("content-security-policy"));
    let html = page.body.as_str().unwrap();
    assert!(html.contains("Turn off billing email") && html.contains("method=\"post\""));

    // Wrong bodies, media types, tokens: 4xx problem+json, nothing changed.
    let (payload, mac) = token.split_once('.').unwrap();
    // The MAC's first character changed: all six of its bits count (the last one's do not all).
    let first = if mac.starts_with('A') { 'B' } else { 'A' };
    let tampered = format!("{payload}.{first}{}", &mac[1..]);
    let foreign =
        notifications::UnsubscribeLinks::new(b"a key the deployment does not have!", "https://x")
            .unwrap()
            .token(&h.org, "vie", NotificationType::Billing, now);
    let expired = links.token(
        &h.org,
        "vie",
        NotificationType::Billing,
        now - clock::Duration::days(61),
    );
    /// A path, its body (media type, text), the answer's status and problem code.
    type Case<'a> = (String, Option<(&'a str, &'a str)>, StatusCode, &'a str);
    let cases: Vec<Case> = vec![
        (
            path.clone(),
            Some(("application/json", r#"{"List-Unsubscribe":"One-Click"}"#)),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            path.clone(),
            Some(("application/json", r#"{"unsubscribe":true}"#)),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            path.clone(),
            None,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
        ),
        (
            path.clone(),
            Some((form, "")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            path.clone(),
            Some((form, "List-Unsubscribe=Yes")),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            path.clone(),
            Some((
                form,
                "List-Unsubscribe=One-Click&List-Unsubscribe=One-Click",
            )),
            StatusCode::BAD_REQUEST,
            "invalid_body",
        ),
        (
            format!("/v1/notifications/unsubscribe?token={tampered}"),
            Some((form, "List-Unsubscribe=One-Click")),
            StatusCode::BAD_REQUEST,
            "invalid_token",
        ),
        (
            format!("/v1/notifications/unsubscribe?token={foreign}"),
            Some((form, "List-Unsubscribe=One-Click")),
            StatusCode::BAD_REQUEST,
            "invalid_token",
        ),
        (
            format!("/v1/notifications/unsubscribe?token={expired}"),
            Some((form, "List-Unsubscribe=One-Click")),
            StatusCode::BAD_REQUEST,
            "invalid_token",
        ),
        (
            "/v1/notifications/unsubscribe?token=x.y".into(),
            Some((form, "List-Unsubscribe=One-Click")),
            StatusCode::BAD_REQUEST,
            "invalid_token",
        ),
    ];
    for (path, body, status, code) in cases {
        let mut call = h.api.request(Method::POST, &path);
        if let Some((content_type, body)) = body {
            call = call.body(content_type, body);
        }
        call.send().await.expect_problem(status, code);
    }
    // Parameters a link rewriter adds are ignored.
    let rewritten = h
        .api
        .request(Method::GET, &format!("{path}&utm_source=mail"))
        .send()
        .await;
    assert_eq!(rewritten.status, StatusCode::OK);
    for path in [
        "/v1/notifications/unsubscribe".to_owned(),
        format!("/v1/notifications/unsubscribe?token={tampered}"),
    ] {
        let (status, problem) = h.api.request(Method::GET, &path).send().await.into_parts();
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {problem}");
    }
    assert_eq!(preferences().await, untouched);

    // The one-click POST a mail client sends: billing email off, nothing else; again: the same.
    for _ in 0..2 {
        let done = h
            .api
            .request(Method::POST, &path)
            .body(form, "List-Unsubscribe=One-Click")
            .send()
            .await
            .expect(StatusCode::OK);
        assert_eq!(
            done,
            json!({"type": "billing", "channel": "email", "enabled": false})
        );
    }
    let mut expected = untouched.clone();
    expected["types"]["billing"]["email"] = json!(false);
    assert_eq!(preferences().await, expected);
    // As multipart/form-data, from the page's button (HTML answer) or a client: the same.
    let multipart = "--b0\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b0--\r\n";
    let page = h
        .api
        .request(Method::POST, &path)
        .header("accept", "text/html")
        .body("multipart/form-data; boundary=b0", multipart)
        .send()
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.as_str().unwrap().contains("billing email is off"));
    assert_eq!(preferences().await, expected);
}
