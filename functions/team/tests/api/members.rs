//! The member list, tenancy, and what members are told.

use super::*;

#[tokio::test]
async fn another_organizations_members_are_invisible() {
    let api = api().await;
    let ours = api.fixtures.org("alice").await;
    let theirs = api.fixtures.org("bob").await;
    api.fixtures
        .add_member(&theirs, "carol", Role::Member)
        .await;
    // Alice acting in her organization cannot reach Bob's members: they do not exist there.
    for (method, path, body) in [
        (
            Method::PATCH,
            "/v1/team/members/carol/role",
            Some(r#"{"role":"viewer"}"#),
        ),
        (Method::DELETE, "/v1/team/members/carol", None),
        (
            Method::PATCH,
            "/v1/team/members/bob/role",
            Some(r#"{"role":"viewer"}"#),
        ),
    ] {
        let (status, reply) = api
            .client
            .as_member(method, path, "alice", &ours, body)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {reply}");
    }
    // And she cannot act in Bob's organization at all.
    for path in ["/v1/team/members", "/v1/team/activity"] {
        let (status, reply) = api
            .client
            .as_member(Method::GET, path, "alice", &theirs, None)
            .await;
        assert_eq!(
            (status, reply["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_a_member"))
        );
        assert!(!reply.to_string().contains("carol"));
    }
    assert_eq!(api.role_of(&theirs, "carol").await, Some(Role::Member));
    let (status, list) = api
        .client
        .as_member(Method::GET, "/v1/team/members", "alice", &ours, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["user_id"].clone())
        .collect();
    assert_eq!(ids, [json!("alice")]);
}

#[tokio::test]
async fn members_are_listed_with_their_profiles_and_paged() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    for user in ["u1", "u2", "u3"] {
        api.fixtures.add_member(&org, user, Role::Viewer).await;
    }
    let (status, page) = api
        .client
        .as_member(Method::GET, "/v1/team/members?limit=3", "u1", &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let first = &page["items"][0];
    for field in [
        "user_id",
        "email",
        "name",
        "role",
        "joined_at",
        "last_active_at",
        "avatar_url",
        "job_title",
    ] {
        assert!(first.get(field).is_some(), "{field} missing in {first}");
    }
    assert_eq!(
        first["email"],
        format!("{}@example.com", first["user_id"].as_str().unwrap())
    );
    let cursor = page["next_cursor"].as_str().unwrap();
    let (status, rest) = api
        .client
        .as_member(
            Method::GET,
            &format!("/v1/team/members?limit=3&cursor={cursor}"),
            "u1",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(rest["items"].as_array().unwrap().len(), 1);
    assert_eq!(rest["next_cursor"], Value::Null);
}

#[tokio::test]
async fn role_changes_and_removals_notify_the_member_through_the_queue() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "mem", Role::Member).await;
    api.fixtures.add_member(&org, "gone", Role::Viewer).await;
    api.fixtures.add_member(&org, "leaver", Role::Viewer).await;
    api.client
        .as_member(
            Method::PATCH,
            "/v1/team/members/mem/role",
            "own",
            &org,
            Some(r#"{"role":"admin"}"#),
        )
        .await;
    api.client
        .as_member(Method::DELETE, "/v1/team/members/gone", "own", &org, None)
        .await;
    api.client
        .as_member(
            Method::DELETE,
            "/v1/team/members/leaver",
            "leaver",
            &org,
            None,
        )
        .await;
    // Refused changes notify nobody.
    api.client
        .as_member(
            Method::PATCH,
            "/v1/team/members/own/role",
            "mem",
            &org,
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    let mut messages = test_support::drain_queue(&api.sqs, &api.notifications).await;
    messages.sort_by_key(|m| m["user_ids"][0].as_str().unwrap_or_default().to_owned());
    assert_eq!(messages.len(), 2, "{messages:#?}");
    let (removed, changed) = (&messages[0], &messages[1]);
    assert_eq!(changed["user_ids"], json!(["mem"]));
    assert_eq!(
        (changed["type"].as_str(), changed["org_id"].as_str()),
        (Some("team"), Some(org.as_str()))
    );
    assert_eq!(changed["data"]["to"], "admin");
    assert_eq!(changed["title"], "Your role changed");
    assert_eq!(removed["user_ids"], json!(["gone"]));
    assert_eq!(removed["title"], "You were removed");
}
