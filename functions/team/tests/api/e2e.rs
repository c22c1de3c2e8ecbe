//! The team routes through the local cloud: the real binaries behind the HTTP API of
//! template.yaml, DynamoDB Local, and moto for the notifications queue and SES; notices reach the
//! notification centre through the relay and the dispatcher.

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invitations_work_end_to_end_through_the_http_api() {
    let local = test_support::cloud::start("e").await;
    let api = &local.api;
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    use reqwest::Method as M;
    let owner = test_support::token("e2e-owner", json!({}));
    let ada_id = format!("ada-{id}");
    let ada_email = format!("{ada_id}@example.com");
    let ada = test_support::token(&ada_id, json!({ "email": ada_email }));

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
    let invite = json!({"email": ada_email, "role": "member", "message": "Hi <Ada>"});
    let (status, invitation) = api
        .call(M::POST, "/v1/team/invite", &owner, Some(&org), Some(invite))
        .await;
    assert_eq!(status, 201, "{invitation}");
    assert_eq!(invitation["email_sent"], true);

    // The link of the email moto received, followed by the invitee.
    let emails = test_support::sent_emails(&ada_email).await;
    assert_eq!(emails.len(), 1);
    assert!(emails[0].body.contains("Hi &lt;Ada&gt;"));
    assert!(
        emails[0]
            .body
            .contains("http:&#x2F;&#x2F;localhost:5173&#x2F;accept-invitation?token=")
    );
    let token = super::invitations::token_in(&emails[0].body);
    let (status, accepted) = api
        .call(
            M::POST,
            "/v1/team/accept-invitation",
            &ada,
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted, json!({"org_id": org, "role": "member"}));
    let (status, _) = api
        .call(
            M::POST,
            "/v1/team/accept-invitation",
            &ada,
            None,
            Some(json!({"token": token})),
        )
        .await;
    assert_eq!(status, 410);

    // Every other team route, by the people allowed to use it.
    let (status, members) = api
        .call(M::GET, "/v1/team/members", &ada, Some(&org), None)
        .await;
    assert_eq!(status, 200);
    assert_eq!(members["items"].as_array().unwrap().len(), 2);
    let (status, listed) = api
        .call(
            M::GET,
            "/v1/team/invitations?status=accepted",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(
        (status, listed["items"].as_array().unwrap().len()),
        (200, 1)
    );
    let (status, changed) = api
        .call(
            M::PATCH,
            &format!("/v1/team/members/{ada_id}/role"),
            &owner,
            Some(&org),
            Some(json!({"role": "viewer"})),
        )
        .await;
    assert_eq!((status, changed["role"].as_str()), (200, Some("viewer")));
    let bob = format!("bob-{id}@example.com");
    let (_, second) = api
        .call(
            M::POST,
            "/v1/team/invite",
            &owner,
            Some(&org),
            Some(json!({"email": bob, "role": "viewer"})),
        )
        .await;
    let path = format!("/v1/team/invitations/{}", second["id"].as_str().unwrap());
    let (status, _) = api
        .call(M::POST, &format!("{path}/resend"), &owner, Some(&org), None)
        .await;
    assert_eq!(status, 200);
    let (status, _) = api.call(M::DELETE, &path, &owner, Some(&org), None).await;
    assert_eq!(status, 204);
    let (status, _) = api
        .call(
            M::DELETE,
            &format!("/v1/team/members/{ada_id}"),
            &ada,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(status, 204, "ada leaves");
    let (status, activity) = api
        .call(M::GET, "/v1/team/activity", &owner, Some(&org), None)
        .await;
    assert_eq!(status, 200);
    let mut actions: Vec<&str> = activity["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    actions.sort_unstable();
    assert_eq!(
        actions,
        [
            "invitation.accepted",
            "invitation.created",
            "invitation.created",
            "invitation.resent",
            "invitation.revoked",
            "member.left",
            "member.role_changed",
            "org.created",
        ]
    );

    // The notices, recorded with each change, reach the owner's notification centre through
    // the outbox relay (the table's stream), the notifications queue and the dispatcher. (Ada's
    // "role changed" is hers, and she has left: she can no longer read it.)
    let started = std::time::Instant::now();
    let titles = loop {
        let (status, page) = api
            .call(M::GET, "/v1/notifications", &owner, Some(&org), None)
            .await;
        assert_eq!(status, 200, "{page}");
        let mut titles: Vec<String> = page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["title"].as_str().unwrap().to_owned())
            .collect();
        titles.sort();
        if titles.len() >= 2 || started.elapsed() > std::time::Duration::from_secs(30) {
            break titles;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    };
    assert_eq!(titles, ["Invitation accepted", "Member left"]);
    let (status, count) = api
        .call(
            M::GET,
            "/v1/notifications/unread-count",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(count["count"], 2, "{count}");
    local.cloud.shutdown();
}
