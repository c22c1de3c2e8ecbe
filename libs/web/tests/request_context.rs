//! The request context through the extractors, against DynamoDB Local: the active organization,
//! membership read from the table on every request, one round trip.

use auth::{Authenticator, ContextLoader, Role};
use axum::Router;
use axum::routing::get;
use clock::Clock;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use store::{Condition, Store, Transaction, keys};
use test_support::api::ApiClient;
use test_support::fixtures::Fixtures;
use web::{ActiveOrg, Identity, Json};

async fn whoami(ActiveOrg(member): ActiveOrg) -> Json<Value> {
    Json(json!({ "user": member.user_id(), "org": member.org_id, "role": member.role }))
}

/// A router with one route behind the extractors, on a fresh table, and its fixtures.
async fn setup() -> (ApiClient, Fixtures) {
    let (client, settings) = test_support::fresh_function().await;
    let store = Store::new(client, settings.table_name.as_str());
    let clock = Clock::system();
    let identity = Identity::new(
        Authenticator::from_settings(&settings.auth, clock.clone()),
        ContextLoader::new(store.clone(), clock.clone()),
    );
    let router = web::finish(Router::new().route("/whoami", get(whoami)), &[], identity);
    (ApiClient::new(router), Fixtures::new(store, clock))
}

async fn call(api: &ApiClient, token: &str, org_header: Option<&str>) -> (StatusCode, Value) {
    api.with_token(Method::GET, "/whoami", token, org_header, None)
        .await
}

#[tokio::test]
async fn the_active_organization_comes_from_the_header_then_the_token() {
    let (router, fixtures) = setup().await;
    let (org, other_org) = (fixtures.org("own").await, fixtures.org("own").await);
    fixtures.add_member(&org, "ann", Role::Admin).await;
    fixtures.add_member(&other_org, "ann", Role::Viewer).await;

    let plain = test_support::token("ann", json!({}));
    let (status, body) = call(&router, &plain, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("org_required"))
    );

    let (status, body) = call(&router, &plain, Some(&org)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"user": "ann", "org": org, "role": "admin"}));

    let with_claim = test_support::token("ann", json!({"org_id": other_org}));
    assert_eq!(call(&router, &with_claim, None).await.1["role"], "viewer");
    // The header wins over the claim.
    assert_eq!(
        call(&router, &with_claim, Some(&org)).await.1["role"],
        "admin"
    );

    for bad in [
        "not-an-org",
        "ORG#01JD3YQ9V4Z8K2M6N0P3R5T7W9",
        &"9".repeat(3000),
    ] {
        let (status, body) = call(&router, &plain, Some(bad)).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_org_id")),
            "{bad}"
        );
    }
}

#[tokio::test]
async fn the_role_is_read_from_the_table_on_every_request() {
    let (router, fixtures) = setup().await;
    let store = fixtures.store.clone();
    let org = fixtures.org("own").await;
    let token = test_support::token("bo", json!({"org_id": org}));
    let (status, body) = call(&router, &token, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_a_member"))
    );

    fixtures.add_member(&org, "bo", Role::Member).await;
    let before = store.round_trips();
    assert_eq!(call(&router, &token, None).await.1["role"], "member");
    assert_eq!(
        store.round_trips() - before,
        1,
        "user and membership in one BatchGetItem"
    );

    // Removed: locked out on the very next request, whatever the token says.
    store
        .transact(
            Transaction::new()
                .delete(
                    keys::org_member(keys::OrgId(&org), keys::UserId("bo")),
                    Condition::Exists,
                )
                .delete(
                    keys::user_membership(keys::OrgId(&org), keys::UserId("bo")),
                    Condition::Exists,
                ),
        )
        .await
        .unwrap();
    assert_eq!(call(&router, &token, None).await.0, StatusCode::FORBIDDEN);
}
