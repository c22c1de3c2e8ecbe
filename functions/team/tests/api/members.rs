//! The member list, tenancy, and what members are told.

use super::*;
use outbox::{Notice, Recipients, SideEffect};

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
async fn role_changes_removals_and_leaving_record_their_notices_with_the_change() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "mem", Role::Member).await;
    api.fixtures.add_member(&org, "gone", Role::Viewer).await;
    api.fixtures.add_member(&org, "leaver", Role::Viewer).await;
    let notices = |effects: &[outbox::OutboxRecord]| -> Vec<(Recipients, Notice)> {
        effects
            .iter()
            .filter_map(|e| match &e.record {
                SideEffect::Notify { recipients, notice } => {
                    Some((recipients.clone(), notice.clone()))
                }
                _ => None,
            })
            .collect()
    };
    let managers = Recipients::Roles(vec![Role::Owner, Role::Admin]);

    api.client
        .as_member(
            Method::PATCH,
            "/v1/team/members/mem/role",
            "own",
            &org,
            Some(r#"{"role":"admin"}"#),
        )
        .await;
    let effects = api.side_effects(&org).await;
    let changed = notices(&effects);
    assert_eq!(changed.len(), 1, "{effects:#?}");
    assert_eq!(changed[0].0, Recipients::Users(vec!["mem".into()]));
    assert_eq!(changed[0].1.title, "Your role changed");
    assert_eq!(changed[0].1.kind, notify::NotificationType::Team);
    assert_eq!(changed[0].1.data["to"], "admin");
    assert!(!changed[0].1.email_only);
    assert_eq!(
        effects[0].change_id,
        api.activity_id(&org, "member.role_changed").await
    );
    // Outbox records sort by their change's time: let the next change come later.
    api.clock.advance(Duration::seconds(1));

    api.client
        .as_member(Method::DELETE, "/v1/team/members/gone", "own", &org, None)
        .await;
    let effects = api.side_effects(&org).await;
    let removal: Vec<_> = effects.iter().skip(1).map(|e| e.record.clone()).collect();
    assert_eq!(removal.len(), 3, "{removal:#?}");
    let removed = notices(&effects[1..]);
    // Owners and admins see it in the app; the removed member hears by email only.
    assert_eq!(removed[0].0, managers);
    assert_eq!(removed[0].1.title, "Member removed");
    assert_eq!(removed[0].1.data["user_id"], "gone");
    assert_eq!(removed[1].0, Recipients::Users(vec!["gone".into()]));
    assert_eq!(removed[1].1.title, "You were removed");
    assert!(removed[1].1.email_only);
    assert!(removal.contains(&SideEffect::CloseConnections {
        user_id: "gone".into()
    }));
    api.clock.advance(Duration::seconds(1));

    api.client
        .as_member(
            Method::DELETE,
            "/v1/team/members/leaver",
            "leaver",
            &org,
            None,
        )
        .await;
    let effects = api.side_effects(&org).await;
    let left = notices(&effects[4..]);
    assert_eq!(left.len(), 1, "a member who leaves gets no notice of it");
    assert_eq!(
        (&left[0].0, left[0].1.title.as_str()),
        (&managers, "Member left")
    );
    assert_eq!(effects.len(), 6);

    // Refused changes record nothing.
    api.client
        .as_member(
            Method::PATCH,
            "/v1/team/members/own/role",
            "mem",
            &org,
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    assert_eq!(api.side_effects(&org).await.len(), 6);
}
