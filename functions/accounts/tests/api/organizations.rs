//! Organizations: create, list, rename, idempotent creation.

use super::*;

#[tokio::test]
async fn create_list_and_rename_an_organization() {
    let api = api().await;
    let org = api.create_org("alice", "  Acme  ").await;
    assert_eq!(org["name"], "Acme");
    assert_eq!(org["plan"], "free");
    assert_eq!(org["role"], "owner");
    assert!(ulid::Ulid::from_string(org["id"].as_str().unwrap()).is_ok());
    assert!(clock::parse_rfc3339(org["created_at"].as_str().unwrap()).is_some());

    let list = api
        .call(Method::GET, "/v1/orgs", Some("alice"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"], json!([org]));
    assert_eq!(list["next_cursor"], Value::Null);

    let id = org["id"].as_str().unwrap();
    // Entries of the same millisecond have no defined order; the manual clock stands still.
    api.clock.advance(Duration::seconds(1));
    let renamed = api
        .call(
            Method::PATCH,
            &format!("/v1/orgs/{id}"),
            Some("alice"),
            Some(r#"{"name":"Acme Inc"}"#),
        )
        .await
        .expect(StatusCode::OK);
    assert_eq!(renamed["name"], "Acme Inc");
    assert_eq!(renamed["created_at"], org["created_at"]);

    // Both changes are in the activity log, written with the change.
    let actions: Vec<_> = api
        .activity(id)
        .await
        .into_iter()
        .map(|e| (e.action, e.actor_id, e.metadata))
        .collect();
    assert_eq!(actions[0].0, "org.created");
    assert_eq!(
        actions[1],
        (
            "org.renamed".into(),
            "alice".into(),
            json!({"from": "Acme", "to": "Acme Inc"})
                .as_object()
                .unwrap()
                .clone()
        )
    );
}

#[tokio::test]
async fn organizations_are_paginated_with_cursors_bound_to_the_caller() {
    let api = api().await;
    for name in ["One", "Two", "Three"] {
        api.create_org("alice", name).await;
    }
    let mut names = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/orgs?limit=2&cursor={c}"),
            None => "/v1/orgs?limit=2".to_owned(),
        };
        let page = api
            .call(Method::GET, &path, Some("alice"), None)
            .await
            .expect(StatusCode::OK);
        assert!(page["items"].as_array().unwrap().len() <= 2);
        names.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["name"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    names.sort();
    assert_eq!(names, ["One", "Three", "Two"]);

    // A cursor of Alice's list is refused in Bob's, and a garbled one is refused too.
    let page = api
        .call(Method::GET, "/v1/orgs?limit=1", Some("alice"), None)
        .await
        .expect(StatusCode::OK);
    let alices = page["next_cursor"].as_str().unwrap();
    api.call(
        Method::GET,
        &format!("/v1/orgs?cursor={alices}"),
        Some("bob"),
        None,
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
    api.call(
        Method::GET,
        &format!("/v1/orgs?cursor={}x", &alices[..alices.len() - 4]),
        Some("alice"),
        None,
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_cursor");
}

#[tokio::test]
async fn only_owners_and_admins_rename_and_strangers_see_nothing() {
    let api = api().await;
    let org = api.create_org("owner", "Acme").await;
    let id = org["id"].as_str().unwrap();
    let path = format!("/v1/orgs/{id}");
    for (user, role) in [
        ("admin", "admin"),
        ("member", "member"),
        ("viewer", "viewer"),
    ] {
        api.add_member(id, user, role).await;
    }
    api.call(
        Method::PATCH,
        &path,
        Some("admin"),
        Some(r#"{"name":"By admin"}"#),
    )
    .await
    .expect(StatusCode::OK);
    for user in ["member", "viewer"] {
        api.call(Method::PATCH, &path, Some(user), Some(r#"{"name":"Nope"}"#))
            .await
            .expect_problem(StatusCode::FORBIDDEN, "forbidden");
    }
    // Someone outside the organization learns nothing about it, not even that it exists.
    let stranger = api
        .call(
            Method::PATCH,
            &path,
            Some("stranger"),
            Some(r#"{"name":"Mine"}"#),
        )
        .await;
    let body = stranger.expect_problem(StatusCode::NOT_FOUND, "not_found");
    assert!(!body.to_string().contains("By admin"));
    api.call(
        Method::PATCH,
        "/v1/orgs/not-an-id",
        Some("owner"),
        Some(r#"{"name":"x"}"#),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");
    // Another spelling of the same ULID (lower case) is not the organization's id.
    api.call(
        Method::PATCH,
        &path.to_lowercase(),
        Some("owner"),
        Some(r#"{"name":"x"}"#),
    )
    .await
    .expect_problem(StatusCode::NOT_FOUND, "not_found");

    let list = api
        .call(Method::GET, "/v1/orgs", Some("viewer"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"][0]["role"], "viewer");
    assert_eq!(list["items"][0]["name"], "By admin");
    let list = api
        .call(Method::GET, "/v1/orgs", Some("stranger"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"], json!([]));
    // Only the successful renames are in the log.
    assert_eq!(api.activity(id).await.len(), 2);
}

#[tokio::test]
async fn idempotency_key_replays_the_first_creation() {
    let api = api().await;
    let headers = [("idempotency-key", "create-acme-1")];
    let first = api
        .call_with(
            Method::POST,
            "/v1/orgs",
            Some("alice"),
            &headers,
            Some(r#"{"name":"Acme"}"#),
        )
        .await
        .expect(StatusCode::CREATED);
    let again = api
        .call_with(
            Method::POST,
            "/v1/orgs",
            Some("alice"),
            &headers,
            Some(r#"{"name":"Acme"}"#),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_eq!(first, again);
    let list = api
        .call(Method::GET, "/v1/orgs", Some("alice"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(list["items"].as_array().unwrap().len(), 1);

    api.call_with(
        Method::POST,
        "/v1/orgs",
        Some("alice"),
        &headers,
        Some(r#"{"name":"Other"}"#),
    )
    .await
    .expect_problem(StatusCode::CONFLICT, "idempotency_key_reused");
    // Keys are per user: Bob's identical key creates Bob's own organization.
    let bobs = api
        .call_with(
            Method::POST,
            "/v1/orgs",
            Some("bob"),
            &headers,
            Some(r#"{"name":"Acme"}"#),
        )
        .await
        .expect(StatusCode::CREATED);
    assert_ne!(bobs["id"], first["id"]);
    api.call_with(
        Method::POST,
        "/v1/orgs",
        Some("alice"),
        &[("idempotency-key", "")],
        Some(r#"{"name":"Acme"}"#),
    )
    .await
    .expect_problem(StatusCode::BAD_REQUEST, "invalid_header");
}

#[tokio::test]
async fn a_rename_by_an_admin_demoted_after_the_read_is_refused_and_changes_nothing() {
    let api = api().await;
    let org = api.create_org("own", "Acme").await;
    let id = org["id"].as_str().unwrap();
    api.add_member(id, "adm", "admin").await;
    // The request read `adm` as an admin; another request demotes them before the write.
    let stale = api.fixtures.member(id, "adm").await;
    api.fixtures
        .set_role_meanwhile(id, "adm", auth::Role::Member)
        .await;
    let organizations =
        accounts::Organizations::new(api.store.clone(), api.clock.clone(), Duration::days(365));
    let rename: accounts::RenameOrganization =
        serde_json::from_value(json!({"name": "Taken over"})).unwrap();
    let refused = organizations.rename(&stale, rename).await.unwrap_err();
    assert!(
        matches!(refused, accounts::AccountsError::Denied(_)),
        "{refused:?}"
    );
    let orgs = api
        .call(Method::GET, "/v1/orgs", Some("own"), None)
        .await
        .expect(StatusCode::OK);
    assert_eq!(orgs["items"][0]["name"], "Acme");
    assert_eq!(
        api.activity(id).await.len(),
        1,
        "only the creation is logged"
    );
}
