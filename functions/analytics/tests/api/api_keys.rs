//! Org API keys: created once, tracking for their organization only, billing usage.

use super::*;

/// An organization with a key of its owner's, and a second organization.
async fn with_key() -> (Api, String, String, String) {
    let api = api().await;
    let org = api.fixtures.org("owner").await;
    let other = api.fixtures.org("stranger").await;
    let key = api.api_key(&org, "owner").await;
    assert!(key.starts_with("oak_"));
    (api, org, other, key)
}

/// The organization's keys as its owner lists them.
async fn listed_keys(api: &Api, org: &str) -> Value {
    let (_, keys) = api
        .client
        .as_member(Method::GET, "/v1/api-keys", "owner", org, None)
        .await;
    keys
}

#[tokio::test]
async fn a_key_is_shown_once_and_only_its_hash_is_stored() {
    let (api, org, _, key) = with_key().await;
    // Listed without the secret; only its hash is stored.
    let keys = listed_keys(&api, &org).await;
    assert_eq!(keys["items"].as_array().unwrap().len(), 1);
    assert!(keys["items"][0].get("key").is_none());
    assert!(key.starts_with(keys["items"][0]["prefix"].as_str().unwrap()));
    let stored = format!(
        "{:?}",
        api.store
            .get::<Value>(&keys::api_key(
                keys::OrgId(&org),
                keys["items"][0]["id"].as_str().unwrap()
            ))
            .await
            .unwrap()
    );
    assert!(!stored.contains(&key[4..]), "the secret is not stored");
}

#[tokio::test]
async fn only_events_tracked_with_a_key_count_toward_billing_and_each_once() {
    let (api, org, _, key) = with_key().await;
    // A member's JWT: analytics only, never billing usage.
    let usage_events = r#"{"events":[{"name":"message.sent"},{"name":"api.call"},{"name":"storage.snapshot","properties":{"bytes":1000}}]}"#;
    let (status, _) = api
        .client
        .as_member(
            Method::POST,
            "/v1/analytics/track",
            "owner",
            &org,
            Some(usage_events),
        )
        .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    api.aggregate().await;
    let month = api.clock.now();
    let usage =
        || analytics::usage::monthly_usage(&api.store, &org, month.year(), u8::from(month.month()));
    assert_eq!(usage().await.unwrap(), Default::default());

    // With the key: counted once, even when the same ids are sent again.
    let with_ids = r#"{"events":[{"id":"m-1","name":"message.sent"},{"id":"c-1","name":"api.call"},{"id":"s-1","name":"storage.snapshot","properties":{"bytes":2000}}]}"#;
    for _ in 0..2 {
        let (status, body) = api
            .client
            .with_token(
                Method::POST,
                "/v1/analytics/track",
                &key,
                None,
                Some(with_ids),
            )
            .await;
        assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        assert_eq!(body["ids"], json!(["m-1", "c-1", "s-1"]));
    }
    api.aggregate().await;
    assert_eq!(
        usage().await.unwrap(),
        analytics::usage::MonthlyUsage {
            messages: 1,
            api_calls: 1,
            storage_bytes: 2000
        }
    );
    let (_, overview) = api
        .client
        .as_member(Method::GET, "/v1/analytics/overview", "owner", &org, None)
        .await;
    assert_eq!(overview["metrics"]["events"]["current"], 6);
}

#[tokio::test]
async fn a_key_tracks_for_its_own_organization_only_and_for_nothing_else() {
    let (api, org, other, key) = with_key().await;
    let (status, _) = api
        .client
        .with_token(
            Method::POST,
            "/v1/analytics/track",
            &key,
            Some(&other),
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = api
        .client
        .with_token(
            Method::GET,
            "/v1/analytics/overview",
            &key,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .client
        .with_token(Method::GET, "/v1/api-keys", &key, Some(&org), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let forged = format!("oak_{}", "A".repeat(43));
    let (status, _) = api
        .client
        .with_token(
            Method::POST,
            "/v1/analytics/track",
            &forged,
            None,
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_revoked_key_is_refused_at_once_and_both_changes_are_logged() {
    let (api, org, _, key) = with_key().await;
    let keys = listed_keys(&api, &org).await;
    let key_id = keys["items"][0]["id"].as_str().unwrap();
    let (status, _) = api
        .client
        .as_member(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            "owner",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api
        .client
        .with_token(
            Method::POST,
            "/v1/analytics/track",
            &key,
            None,
            Some(r#"{"name":"x"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = api
        .client
        .as_member(
            Method::DELETE,
            &format!("/v1/api-keys/{key_id}"),
            "owner",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let entries = api
        .store
        .query::<audit::ActivityEntry>(store::Query::new(
            "t",
            keys::activities(keys::OrgId(&org)),
            100,
            None,
        ))
        .await
        .unwrap();
    let actions: Vec<String> = entries.items.into_iter().map(|e| e.action).collect();
    assert!(
        actions.contains(&"api_key.created".to_owned())
            && actions.contains(&"api_key.revoked".to_owned()),
        "{actions:?}"
    );
}

#[tokio::test]
async fn bad_key_requests_are_problems() {
    let (api, org, _, _) = with_key().await;
    for bad in [
        r#"{}"#,
        r#"{"name":""}"#,
        r#"{"name":"k","extra":1}"#,
        r#"{"name":"a\u0000b"}"#,
    ] {
        let (status, _) = api
            .client
            .as_member(Method::POST, "/v1/api-keys", "owner", &org, Some(bad))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let (status, _) = api
        .client
        .as_member(
            Method::DELETE,
            "/v1/api-keys/not-an-id",
            "owner",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_key_made_by_an_admin_demoted_after_the_read_is_refused_and_nothing_is_stored() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "adm", Role::Admin).await;
    let stale = api.fixtures.member(&org, "adm").await;
    api.fixtures
        .set_role_meanwhile(&org, "adm", Role::Viewer)
        .await;
    let keys = apikeys::ApiKeys::new(api.store.clone(), api.clock.clone(), Duration::days(365));
    let request: apikeys::CreateApiKey = serde_json::from_value(json!({"name": "x"})).unwrap();
    let refused = keys.create(&stale, request).await.unwrap_err();
    assert!(
        matches!(refused, apikeys::ApiKeyError::Denied(_)),
        "{refused:?}"
    );
    let (status, listed) = api
        .client
        .as_member(Method::GET, "/v1/api-keys", "own", &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(listed["items"], json!([]));
}
