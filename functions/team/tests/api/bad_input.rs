//! Bad input: a problem document, and nothing changed.

use super::*;

#[tokio::test]
async fn bad_input_is_a_problem_and_changes_nothing() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "mem", Role::Member).await;
    let role_path = "/v1/team/members/mem/role";
    for body in [
        "{",
        "",
        r#"{"role":"superuser"}"#,
        r#"{"role":"admin","extra":1}"#,
        r#"{}"#,
        r#"{"role":7}"#,
    ] {
        let (status, reply) = api
            .client
            .as_member(Method::PATCH, role_path, "own", &org, Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
    }
    assert_eq!(api.role_of(&org, "mem").await, Some(Role::Member));
    let long = "x".repeat(300);
    let (status, _) = api
        .client
        .as_member(
            Method::DELETE,
            &format!("/v1/team/members/{long}"),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    for query in [
        "from=yesterday",
        "to=2026-13-01T00:00:00Z",
        "from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
        "action=DROP%20TABLE",
        "limit=0",
        "sort=asc",
        "cursor=abc",
    ] {
        let (status, reply) = api
            .client
            .as_member(
                Method::GET,
                &format!("/v1/team/activity?{query}"),
                "own",
                &org,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {reply}");
    }
    // Organization ids are accepted in their canonical form only (as the API created them):
    // lower case, padding or another spelling of the same ULID is not the organization.
    for spelling in [
        "not-an-org".to_owned(),
        org.to_lowercase(),
        format!(" {org}"),
        format!("{org} "),
        org.replace('0', "o"),
    ] {
        let (status, reply) = api
            .client
            .as_member(Method::GET, "/v1/team/members", "own", &spelling, None)
            .await;
        assert_eq!(
            (status, reply["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_org_id")),
            "{spelling:?}"
        );
    }
    assert_eq!(api.actions(&org).await, ["org.created"]);
}
