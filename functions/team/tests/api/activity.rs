//! The activity log: order, filters, and billing entries hidden from members.

use super::*;

/// An organization whose log holds, oldest first: its creation, a role change (10 s later) and
/// a billing entry (10 s after that); and when it started.
async fn three_entries() -> (Api, String, clock::DateTime) {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    let started = api.clock.now();
    api.fixtures.add_member(&org, "mem", Role::Member).await;
    api.clock.advance(Duration::seconds(10));
    api.client
        .as_member(
            Method::PATCH,
            "/v1/team/members/mem/role",
            "own",
            &org,
            Some(r#"{"role":"viewer"}"#),
        )
        .await;
    api.clock.advance(Duration::seconds(10));
    // A billing entry, as the billing function will write one.
    let entry = audit::Activity {
        action: "subscription.updated",
        category: audit::Category::Billing,
        target_type: "subscription",
        target_id: "sub_1",
        metadata: json!({"plan": "pro"}),
    };
    api.fixtures.system_activity(&org, entry).await;

    (api, org, started)
}

#[tokio::test]
async fn the_log_is_newest_first_and_says_who_did_what() {
    let (api, org, _) = three_entries().await;
    let (status, log) = api
        .client
        .as_member(Method::GET, "/v1/team/activity", "own", &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let actions: Vec<_> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["subscription.updated", "member.role_changed", "org.created"]
    );
    let change = &log["items"][1];
    assert_eq!(
        (change["actor_id"].as_str(), change["target_id"].as_str()),
        (Some("own"), Some("mem"))
    );
    assert_eq!(
        change["metadata"],
        json!({"from": "member", "to": "viewer"})
    );
}

#[tokio::test]
async fn billing_entries_are_hidden_from_members() {
    let (api, org, _) = three_entries().await;
    let (_, log) = api
        .client
        .as_member(Method::GET, "/v1/team/activity", "mem", &org, None)
        .await;
    let actions: Vec<_> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        actions,
        ["member.role_changed", "org.created"],
        "no billing entries for a viewer"
    );
}

#[tokio::test]
async fn the_log_filters_by_action_and_time_window_and_pages() {
    let (api, org, started) = three_entries().await;
    let (_, log) = api
        .client
        .as_member(
            Method::GET,
            "/v1/team/activity?action=org.created",
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(log["items"].as_array().unwrap().len(), 1);
    let from = clock::rfc3339(started + Duration::seconds(5));
    let to = clock::rfc3339(started + Duration::seconds(15));
    let (_, log) = api
        .client
        .as_member(
            Method::GET,
            &format!("/v1/team/activity?from={from}&to={to}"),
            "own",
            &org,
            None,
        )
        .await;
    let actions: Vec<_> = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].clone())
        .collect();
    assert_eq!(actions, [json!("member.role_changed")]);
    let (_, page) = api
        .client
        .as_member(Method::GET, "/v1/team/activity?limit=1", "own", &org, None)
        .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = api
        .client
        .as_member(
            Method::GET,
            &format!("/v1/team/activity?limit=1&cursor={cursor}"),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(next["items"][0]["action"], "member.role_changed");
}

#[tokio::test]
async fn expired_entries_are_not_shown() {
    let (api, org, _) = three_entries().await;
    // Expired entries are not shown, though DynamoDB Local never deletes them.
    api.clock.advance(Duration::days(366));
    let (_, log) = api
        .client
        .as_member(Method::GET, "/v1/team/activity", "own", &org, None)
        .await;
    assert_eq!(log["items"], json!([]));
}

#[tokio::test]
async fn a_viewer_pages_through_a_log_full_of_hidden_billing_entries() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "vie", Role::Viewer).await;
    for i in 0..30 {
        api.clock.advance(Duration::seconds(1));
        let invoice = format!("in_{i}");
        let entry = audit::Activity {
            action: "invoice.paid",
            category: audit::Category::Billing,
            target_type: "invoice",
            target_id: &invoice,
            metadata: json!({}),
        };
        api.fixtures.system_activity(&org, entry).await;
    }
    let (status, page) = api
        .client
        .as_member(Method::GET, "/v1/team/activity?limit=1", "vie", &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["items"][0]["action"], "org.created",
        "found past 30 hidden entries in one request"
    );
    // A cursor is bound to its window: reusing it with other bounds is refused.
    let (_, first) = api
        .client
        .as_member(Method::GET, "/v1/team/activity?limit=1", "own", &org, None)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, _) = api
        .client
        .as_member(
            Method::GET,
            &format!("/v1/team/activity?limit=1&cursor={cursor}&to=2020-01-01T00:00:00Z"),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
