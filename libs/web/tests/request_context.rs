//! The request context through the extractors, against DynamoDB Local: the active organization,
//! membership read from the table on every request, one round trip.

use auth::records::MembershipRecord;
use auth::{Authenticator, ContextLoader, Role};
use axum::Router;
use axum::body::Body;
use axum::routing::get;
use clock::Clock;
use http::{Request, StatusCode};
use serde_json::{Value, json};
use store::{Condition, Store, Transaction, keys};
use tower::ServiceExt;
use web::{ActiveOrg, Identity, Json};

const ORG: &str = "01JD3YQ9V4Z8K2M6N0P3R5T7W9";
const OTHER_ORG: &str = "01JD3YQ9V4Z8K2M6N0P3R5T7WA";

async fn whoami(ActiveOrg(member): ActiveOrg) -> Json<Value> {
    Json(json!({ "user": member.user_id(), "org": member.org_id, "role": member.role }))
}

async fn setup() -> (Router, Store) {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let settings = test_support::local_settings(&table);
    let store = Store::new(client, table);
    let clock = Clock::system();
    let identity = Identity::new(
        Authenticator::from_settings(&settings.auth, clock.clone()),
        ContextLoader::new(store.clone(), clock),
    );
    let router = web::finish(Router::new().route("/whoami", get(whoami)), &[], identity);
    (router, store)
}

async fn add_member(store: &Store, org: &str, user: &str, role: Role) {
    let m = MembershipRecord {
        org_id: org.into(),
        user_id: user.into(),
        role,
        joined_at: Clock::system().now(),
    };
    store
        .transact(
            Transaction::new()
                .put(
                    store::item(
                        &keys::org_member(keys::OrgId(org), keys::UserId(user)),
                        "membership",
                        &m,
                    )
                    .unwrap(),
                    Condition::NotExists,
                )
                .put(
                    store::item(
                        &keys::user_membership(keys::OrgId(org), keys::UserId(user)),
                        "user_membership",
                        &m,
                    )
                    .unwrap(),
                    Condition::NotExists,
                ),
        )
        .await
        .unwrap();
}

async fn call(router: &Router, token: &str, org_header: Option<&str>) -> (StatusCode, Value) {
    let mut request = Request::get("/whoami").header("authorization", format!("Bearer {token}"));
    if let Some(org) = org_header {
        request = request.header("x-org-id", org);
    }
    let response = router
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, serde_json::from_slice(&bytes).unwrap())
}

#[tokio::test]
async fn the_active_organization_comes_from_the_header_then_the_token() {
    let (router, store) = setup().await;
    add_member(&store, ORG, "ann", Role::Admin).await;
    add_member(&store, OTHER_ORG, "ann", Role::Viewer).await;

    let plain = test_support::token("ann", json!({}));
    let (status, body) = call(&router, &plain, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("org_required"))
    );

    let (status, body) = call(&router, &plain, Some(ORG)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, json!({"user": "ann", "org": ORG, "role": "admin"}));

    let with_claim = test_support::token("ann", json!({"org_id": OTHER_ORG}));
    assert_eq!(call(&router, &with_claim, None).await.1["role"], "viewer");
    // The header wins over the claim.
    assert_eq!(
        call(&router, &with_claim, Some(ORG)).await.1["role"],
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
    let (router, store) = setup().await;
    let token = test_support::token("bo", json!({"org_id": ORG}));
    let (status, body) = call(&router, &token, None).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("not_a_member"))
    );

    add_member(&store, ORG, "bo", Role::Member).await;
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
                    keys::org_member(keys::OrgId(ORG), keys::UserId("bo")),
                    Condition::Exists,
                )
                .delete(
                    keys::user_membership(keys::OrgId(ORG), keys::UserId("bo")),
                    Condition::Exists,
                ),
        )
        .await
        .unwrap();
    assert_eq!(call(&router, &token, None).await.0, StatusCode::FORBIDDEN);
}
