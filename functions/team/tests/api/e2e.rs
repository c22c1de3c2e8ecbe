//! The team routes through the local cloud: the real `accounts` and `team` binaries behind the
//! HTTP API of template.yaml, DynamoDB Local, and moto for the notifications queue and SES.

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

    // The notices, recorded with each change, reach the template's notifications queue through
    // the outbox relay (the table's stream).
    let queue = &local.cloud.queues["NotificationsQueue"];
    let messages = test_support::receive_until(
        &queue.url,
        |m| m.len() >= 4,
        std::time::Duration::from_secs(30),
    )
    .await;
    let mut messages: Vec<Value> = messages
        .iter()
        .map(|m| serde_json::from_str(m.body().unwrap()).unwrap())
        .collect();
    messages.sort_by_key(|m| m["notice"]["title"].as_str().unwrap_or_default().to_owned());
    let titles: Vec<&str> = messages
        .iter()
        .map(|m| {
            m["notice"]["title"]
                .as_str()
                .unwrap_or(m["kind"].as_str().unwrap())
        })
        .collect();
    assert_eq!(
        titles,
        [
            "close_connections",
            "Invitation accepted",
            "Member left",
            "Your role changed"
        ]
    );
    assert_eq!(messages[0]["user_id"], ada_id.as_str());
    let users = |m: &Value| m["recipients"].clone();
    assert_eq!(
        users(&messages[1]),
        json!({"kind": "users", "value": ["e2e-owner"]})
    );
    assert_eq!(
        users(&messages[2]),
        json!({"kind": "roles", "value": ["owner", "admin"]})
    );
    assert_eq!(
        users(&messages[3]),
        json!({"kind": "users", "value": [ada_id]})
    );
    assert!(messages.iter().all(|m| m["org_id"] == org.as_str()));
    local.cloud.shutdown();
}
