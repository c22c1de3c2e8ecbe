//! Role changes and removal against the role table, and the last owner.

use super::*;

#[tokio::test]
async fn role_changes_follow_the_role_table() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    for (user, role) in &ACTORS[1..] {
        api.fixtures.add_member(&org, user, *role).await;
    }
    let mut case = 0;
    for (actor, actor_role) in ACTORS {
        for target_role in Role::ALL {
            for new_role in Role::ALL {
                case += 1;
                let target = format!("target-{case}");
                api.fixtures.add_member(&org, &target, target_role).await;
                let body = json!({ "role": new_role }).to_string();
                let (status, reply) = api
                    .client
                    .as_member(
                        Method::PATCH,
                        &format!("/v1/team/members/{target}/role"),
                        actor,
                        &org,
                        Some(&body),
                    )
                    .await;
                let allowed = may_change(actor_role, target_role, new_role);
                if allowed {
                    assert_eq!(
                        status,
                        StatusCode::OK,
                        "{actor_role} {target_role}->{new_role}: {reply}"
                    );
                    assert_eq!(reply["role"], json!(new_role));
                    assert_eq!(api.role_of(&org, &target).await, Some(new_role));
                } else {
                    assert_eq!(
                        status,
                        StatusCode::FORBIDDEN,
                        "{actor_role} {target_role}->{new_role}: {reply}"
                    );
                    assert_eq!(
                        api.role_of(&org, &target).await,
                        Some(target_role),
                        "unchanged"
                    );
                }
            }
        }
    }
}

#[tokio::test]
async fn removal_follows_the_role_table_and_anyone_may_leave() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    for (user, role) in &ACTORS[1..] {
        api.fixtures.add_member(&org, user, *role).await;
    }
    let mut case = 0;
    for (actor, actor_role) in ACTORS {
        for target_role in Role::ALL {
            case += 1;
            let target = format!("target-{case}");
            api.fixtures.add_member(&org, &target, target_role).await;
            let (status, reply) = api
                .client
                .as_member(
                    Method::DELETE,
                    &format!("/v1/team/members/{target}"),
                    actor,
                    &org,
                    None,
                )
                .await;
            if may_remove(actor_role, target_role) {
                assert_eq!(
                    status,
                    StatusCode::NO_CONTENT,
                    "{actor_role} removes {target_role}: {reply}"
                );
                assert_eq!(api.role_of(&org, &target).await, None);
                assert!(
                    api.store
                        .get::<MembershipRecord>(&keys::user_membership(
                            keys::OrgId(&org),
                            keys::UserId(&target)
                        ))
                        .await
                        .unwrap()
                        .is_none()
                );
            } else {
                assert_eq!(
                    status,
                    StatusCode::FORBIDDEN,
                    "{actor_role} removes {target_role}: {reply}"
                );
                assert_eq!(api.role_of(&org, &target).await, Some(target_role));
            }
        }
    }
    // Members and viewers may leave; so may an admin.
    for user in ["mem", "vie", "adm"] {
        let (status, _) = api
            .client
            .as_member(
                Method::DELETE,
                &format!("/v1/team/members/{user}"),
                user,
                &org,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{user} leaves");
        // Gone at once: their next request is refused.
        let (status, body) = api
            .client
            .as_member(Method::GET, "/v1/team/members", user, &org, None)
            .await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_a_member"))
        );
    }
    assert!(api.actions(&org).await.contains(&"member.left".to_owned()));
}

#[tokio::test]
async fn the_last_owner_stays_until_ownership_is_handed_over() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "heir", Role::Member).await;
    let before = api.actions(&org).await.len();
    let (status, body) = api
        .client
        .as_member(
            Method::PATCH,
            "/v1/team/members/own/role",
            "own",
            &org,
            Some(r#"{"role":"admin"}"#),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_owner"))
    );
    let (status, body) = api
        .client
        .as_member(Method::DELETE, "/v1/team/members/own", "own", &org, None)
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("last_owner"))
    );
    assert_eq!(
        api.actions(&org).await.len(),
        before,
        "a refused change writes no activity entry"
    );
    assert_eq!(api.role_of(&org, "own").await, Some(Role::Owner));

    // Transfer: make the heir owner, then step down and leave.
    let (status, _) = api
        .client
        .as_member(
            Method::PATCH,
            "/v1/team/members/heir/role",
            "own",
            &org,
            Some(r#"{"role":"owner"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = api
        .client
        .as_member(
            Method::PATCH,
            "/v1/team/members/own/role",
            "own",
            &org,
            Some(r#"{"role":"member"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, _) = api
        .client
        .as_member(Method::DELETE, "/v1/team/members/own", "own", &org, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Now the heir is the last owner.
    let (status, _) = api
        .client
        .as_member(Method::DELETE, "/v1/team/members/heir", "heir", &org, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_stepping_down_at_once_leave_one_owner() {
    let api = std::sync::Arc::new(api().await);
    let org = api.fixtures.org("first").await;
    api.fixtures.add_member(&org, "second", Role::Owner).await;
    let (a, b) = (api.clone(), api.clone());
    let (o1, o2) = (org.clone(), org.clone());
    let first = tokio::spawn(async move {
        a.client
            .as_member(
                Method::PATCH,
                "/v1/team/members/first/role",
                "first",
                &o1,
                Some(r#"{"role":"member"}"#),
            )
            .await
    });
    let second = tokio::spawn(async move {
        b.client
            .as_member(
                Method::DELETE,
                "/v1/team/members/second",
                "second",
                &o2,
                None,
            )
            .await
    });
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    let succeeded = [first.0, second.0]
        .iter()
        .filter(|s| s.is_success())
        .count();
    assert_eq!(succeeded, 1, "exactly one steps down: {first:?} {second:?}");
    let refused = if first.0.is_success() { second } else { first };
    assert_eq!(refused.0, StatusCode::CONFLICT, "{refused:?}");
    let owners = [
        api.role_of(&org, "first").await,
        api.role_of(&org, "second").await,
    ]
    .into_iter()
    .filter(|r| *r == Some(Role::Owner))
    .count();
    assert_eq!(owners, 1);
    let profile: accounts::OrgRecord = api
        .store
        .get(&keys::org_profile(keys::OrgId(&org)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(profile.owner_count, 1);
}

#[tokio::test]
async fn nobody_below_owner_changes_their_own_role_and_counters_follow_changes() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    for (user, role) in &ACTORS[1..] {
        api.fixtures.add_member(&org, user, *role).await;
    }
    for (user, _) in &ACTORS[1..] {
        for new in ["owner", "admin", "member", "viewer"] {
            let body = json!({ "role": new }).to_string();
            let (status, reply) = api
                .client
                .as_member(
                    Method::PATCH,
                    &format!("/v1/team/members/{user}/role"),
                    user,
                    &org,
                    Some(&body),
                )
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{user} -> {new}: {reply}");
        }
    }
    let profile: accounts::OrgRecord = api
        .store
        .get(&keys::org_profile(keys::OrgId(&org)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            profile.member_count,
            profile.owner_count,
            profile.seats_used
        ),
        (4, 1, 4)
    );
    api.client
        .as_member(
            Method::PATCH,
            "/v1/team/members/adm/role",
            "own",
            &org,
            Some(r#"{"role":"owner"}"#),
        )
        .await;
    api.client
        .as_member(Method::DELETE, "/v1/team/members/vie", "own", &org, None)
        .await;
    let profile: accounts::OrgRecord = api
        .store
        .get(&keys::org_profile(keys::OrgId(&org)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            profile.member_count,
            profile.owner_count,
            profile.seats_used
        ),
        (3, 2, 3)
    );
}
