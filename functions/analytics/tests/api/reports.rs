//! Who may track, manage keys and read reports, and what another organization sees of them.

use super::*;

#[tokio::test]
async fn tracking_and_api_keys_follow_the_role_table() {
    let api = api().await;
    let org = api.fixtures.org("owner").await;
    // A stranger: the owner of another organization.
    api.fixtures.org("stranger").await;
    for (user, role) in [
        ("ada", Role::Admin),
        ("mia", Role::Member),
        ("vic", Role::Viewer),
    ] {
        api.fixtures.add_member(&org, user, role).await;
    }
    let event = r#"{"name":"x","agent_id":"secret-agent"}"#;
    for (user, status) in [
        ("owner", StatusCode::ACCEPTED),
        ("ada", StatusCode::ACCEPTED),
        ("mia", StatusCode::ACCEPTED),
        ("vic", StatusCode::FORBIDDEN),
        ("stranger", StatusCode::FORBIDDEN),
    ] {
        let (got, body) = api
            .client
            .as_member(Method::POST, "/v1/analytics/track", user, &org, Some(event))
            .await;
        assert_eq!(got, status, "{user}: {body}");
    }
    for (user, status) in [
        ("owner", StatusCode::CREATED),
        ("ada", StatusCode::CREATED),
        ("mia", StatusCode::FORBIDDEN),
        ("vic", StatusCode::FORBIDDEN),
    ] {
        let (got, body) = api
            .client
            .as_member(
                Method::POST,
                "/v1/api-keys",
                user,
                &org,
                Some(r#"{"name":"k"}"#),
            )
            .await;
        assert_eq!(got, status, "{user}: {body}");
        let (got, _) = api
            .client
            .as_member(Method::GET, "/v1/api-keys", user, &org, None)
            .await;
        let expected = if status == StatusCode::CREATED {
            StatusCode::OK
        } else {
            StatusCode::FORBIDDEN
        };
        assert_eq!(got, expected, "{user} lists keys");
    }
}

#[tokio::test]
async fn every_member_reads_the_reports_and_another_organization_sees_none_of_them() {
    let api = api().await;
    let org = api.fixtures.org("owner").await;
    let other = api.fixtures.org("stranger").await;
    api.fixtures.add_member(&org, "vic", Role::Viewer).await;
    let event = r#"{"name":"x","agent_id":"secret-agent"}"#;
    let (status, _) = api
        .client
        .as_member(
            Method::POST,
            "/v1/analytics/track",
            "owner",
            &org,
            Some(event),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.api_key(&org, "owner").await;
    api.aggregate().await;
    // Everyone in the organization reads analytics; the other organization sees none of it.
    let (status, _) = api
        .client
        .as_member(
            Method::GET,
            "/v1/analytics/agents/secret-agent",
            "vic",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api
        .client
        .as_member(
            Method::GET,
            "/v1/analytics/agents/secret-agent",
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, events) = api
        .client
        .as_member(
            Method::GET,
            "/v1/analytics/events?agent_id=secret-agent",
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(events["items"], json!([]));
    let (_, overview) = api
        .client
        .as_member(
            Method::GET,
            "/v1/analytics/overview",
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(overview["metrics"]["events"]["current"], 0);
    let (status, _) = api
        .client
        .as_member(
            Method::GET,
            "/v1/analytics/overview",
            "stranger",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Keys of one organization cannot be listed or revoked from another.
    let (_, keys) = api
        .client
        .as_member(Method::GET, "/v1/api-keys", "owner", &org, None)
        .await;
    let key_id = keys["items"][0]["id"].as_str().unwrap().to_owned();
    let (status, _) = api
        .client
        .as_member(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            "stranger",
            &other,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_report_needs_an_organization() {
    let api = api().await;
    let (status, _) = api
        .client
        .as_member(Method::GET, "/v1/analytics/overview", "owner", "", None)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
