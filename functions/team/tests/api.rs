//! The team routes end to end against DynamoDB Local: the role × route matrix, last-owner
//! protection, tenancy, the activity log, bad input; invitations (in `api/invitations.rs`) with
//! their emails read back from moto.

use accounts::{CreateOrganization, Organizations};
use auth::records::MembershipRecord;
use auth::{Claims, ContextLoader, Role};
use axum::Router;
use axum::body::Body;
use clock::{Clock, Duration};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use store::{Condition, Query, Store, Transaction, Update, keys};
use team_function::{App, Outbound, router};
use tower::ServiceExt;

#[path = "api/e2e.rs"]
mod e2e;
#[path = "api/invitations.rs"]
mod invitations;

const APP_URL: &str = "https://app.example.com";

struct Api {
    router: Router,
    store: Store,
    clock: Clock,
    sqs: aws_sdk_sqs::Client,
    notifications: String,
}

fn claims(user: &str) -> Claims {
    Claims {
        sub: user.into(),
        email: Some(format!("{user}@example.com")),
        email_verified: Some(true),
        name: Some(format!("User {user}")),
        org_id: None,
    }
}

async fn api() -> Api {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let settings = test_support::local_settings(&table);
    let clock = Clock::manual(clock::DateTime::now_utc());
    let sqs = test_support::sqs_client();
    let notifications = test_support::fresh_queue(&sqs).await;
    let outbound = Outbound {
        notifier: notify::Notifier::new(sqs.clone(), notifications.clone()),
        mailer: mail::Mailer::new(test_support::ses_client().await, test_support::SENDER),
        app_url: APP_URL.into(),
    };
    let app = App::new(&settings, client, outbound, clock.clone(), 365);
    let store = app.store().clone();
    Api {
        router: router(app, &settings.cors_allowed_origins),
        store,
        clock,
        sqs,
        notifications,
    }
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        user: &str,
        org: &str,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let token = test_support::token(user, json!({}));
        self.call_with(method, path, &token, Some(org), body).await
    }

    /// A call with any bearer token, with or without an active organization.
    async fn call_with(
        &self,
        method: Method,
        path: &str,
        token: &str,
        org: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {token}"));
        if let Some(org) = org {
            request = request.header("x-org-id", org);
        }
        if body.is_some() {
            request = request.header("content-type", "application/json");
        }
        let response = self
            .router
            .clone()
            .oneshot(
                request
                    .body(Body::from(body.unwrap_or_default().to_owned()))
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap()
        };
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                body["status"],
                status.as_u16(),
                "problem+json expected: {body}"
            );
        }
        (status, body)
    }

    /// An organization owned by `owner`, created as the accounts function creates it.
    async fn org(&self, owner: &str) -> String {
        let caller = ContextLoader::new(self.store.clone(), self.clock.clone())
            .caller(claims(owner))
            .await
            .unwrap();
        let orgs = Organizations::new(self.store.clone(), self.clock.clone(), Duration::days(365));
        let org = orgs
            .create(
                &caller,
                serde_json::from_value::<CreateOrganization>(json!({"name": "Acme"})).unwrap(),
                None,
            )
            .await
            .unwrap();
        org.id
    }

    /// Adds a member as an accepted invitation will: both membership items and the counters.
    async fn add(&self, org: &str, user: &str, role: Role) {
        ContextLoader::new(self.store.clone(), self.clock.clone())
            .caller(claims(user))
            .await
            .unwrap();
        let m = MembershipRecord {
            org_id: org.into(),
            user_id: user.into(),
            role,
            joined_at: self.clock.now(),
        };
        let transaction = accounts::counters::member_joined_directly(&m).unwrap();
        self.store.transact(transaction).await.unwrap();
    }

    async fn role_of(&self, org: &str, user: &str) -> Option<Role> {
        self.store
            .get::<MembershipRecord>(&keys::org_member(keys::OrgId(org), keys::UserId(user)))
            .await
            .unwrap()
            .map(|m| m.role)
    }

    async fn actions(&self, org: &str) -> Vec<String> {
        let page = self
            .store
            .query::<audit::ActivityEntry>(Query::new(
                "t",
                keys::activities(keys::OrgId(org)),
                100,
                None,
            ))
            .await
            .unwrap();
        page.items.into_iter().map(|e| e.action).collect()
    }
}

/// The brief's rules, written out independently of the code under test.
fn may_change(actor: Role, target: Role, new: Role) -> bool {
    use Role::*;
    match actor {
        Owner => true,
        Admin => matches!(target, Member | Viewer) && matches!(new, Member | Viewer),
        Member | Viewer => false,
    }
}

fn may_remove(actor: Role, target: Role) -> bool {
    use Role::*;
    match actor {
        Owner => true,
        Admin => matches!(target, Member | Viewer),
        Member | Viewer => false,
    }
}

const ACTORS: [(&str, Role); 4] = [
    ("own", Role::Owner),
    ("adm", Role::Admin),
    ("mem", Role::Member),
    ("vie", Role::Viewer),
];

#[tokio::test]
async fn role_changes_follow_the_role_table() {
    let api = api().await;
    let org = api.org("own").await;
    for (user, role) in &ACTORS[1..] {
        api.add(&org, user, *role).await;
    }
    let mut case = 0;
    for (actor, actor_role) in ACTORS {
        for target_role in Role::ALL {
            for new_role in Role::ALL {
                case += 1;
                let target = format!("target-{case}");
                api.add(&org, &target, target_role).await;
                let body = json!({ "role": new_role }).to_string();
                let (status, reply) = api
                    .call(
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
    let org = api.org("own").await;
    for (user, role) in &ACTORS[1..] {
        api.add(&org, user, *role).await;
    }
    let mut case = 0;
    for (actor, actor_role) in ACTORS {
        for target_role in Role::ALL {
            case += 1;
            let target = format!("target-{case}");
            api.add(&org, &target, target_role).await;
            let (status, reply) = api
                .call(
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
            .call(
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
            .call(Method::GET, "/v1/team/members", user, &org, None)
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
    let org = api.org("own").await;
    api.add(&org, "heir", Role::Member).await;
    let before = api.actions(&org).await.len();
    let (status, body) = api
        .call(
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
        .call(Method::DELETE, "/v1/team/members/own", "own", &org, None)
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
        .call(
            Method::PATCH,
            "/v1/team/members/heir/role",
            "own",
            &org,
            Some(r#"{"role":"owner"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, reply) = api
        .call(
            Method::PATCH,
            "/v1/team/members/own/role",
            "own",
            &org,
            Some(r#"{"role":"member"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, _) = api
        .call(Method::DELETE, "/v1/team/members/own", "own", &org, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    // Now the heir is the last owner.
    let (status, _) = api
        .call(Method::DELETE, "/v1/team/members/heir", "heir", &org, None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn another_organizations_members_are_invisible() {
    let api = api().await;
    let ours = api.org("alice").await;
    let theirs = api.org("bob").await;
    api.add(&theirs, "carol", Role::Member).await;
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
        let (status, reply) = api.call(method, path, "alice", &ours, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {reply}");
    }
    // And she cannot act in Bob's organization at all.
    for path in ["/v1/team/members", "/v1/team/activity"] {
        let (status, reply) = api.call(Method::GET, path, "alice", &theirs, None).await;
        assert_eq!(
            (status, reply["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("not_a_member"))
        );
        assert!(!reply.to_string().contains("carol"));
    }
    assert_eq!(api.role_of(&theirs, "carol").await, Some(Role::Member));
    let (status, list) = api
        .call(Method::GET, "/v1/team/members", "alice", &ours, None)
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
    let org = api.org("own").await;
    for user in ["u1", "u2", "u3"] {
        api.add(&org, user, Role::Viewer).await;
    }
    let (status, page) = api
        .call(Method::GET, "/v1/team/members?limit=3", "u1", &org, None)
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
        .call(
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
async fn the_activity_log_is_newest_first_filtered_and_hides_billing_from_members() {
    let api = api().await;
    let org = api.org("own").await;
    let started = api.clock.now();
    api.add(&org, "mem", Role::Member).await;
    api.clock.advance(Duration::seconds(10));
    api.call(
        Method::PATCH,
        "/v1/team/members/mem/role",
        "own",
        &org,
        Some(r#"{"role":"viewer"}"#),
    )
    .await;
    api.clock.advance(Duration::seconds(10));
    // A billing entry, as the billing function will write one.
    let entry = audit::NewEntry {
        org_id: &org,
        actor_id: "system",
        action: "subscription.updated",
        category: audit::Category::Billing,
        target_type: "subscription",
        target_id: "sub_1",
        metadata: json!({"plan": "pro"}),
    }
    .at(api.clock.now());
    api.store
        .put(
            audit::entry_item(&entry, Duration::days(365)).unwrap(),
            Condition::NotExists,
        )
        .await
        .unwrap();

    let (status, log) = api
        .call(Method::GET, "/v1/team/activity", "own", &org, None)
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

    let (_, log) = api
        .call(Method::GET, "/v1/team/activity", "mem", &org, None)
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

    let (_, log) = api
        .call(
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
        .call(
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
        .call(Method::GET, "/v1/team/activity?limit=1", "own", &org, None)
        .await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, next) = api
        .call(
            Method::GET,
            &format!("/v1/team/activity?limit=1&cursor={cursor}"),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(next["items"][0]["action"], "member.role_changed");

    // Expired entries are not shown, though DynamoDB Local never deletes them.
    api.clock.advance(Duration::days(366));
    let (_, log) = api
        .call(Method::GET, "/v1/team/activity", "own", &org, None)
        .await;
    assert_eq!(log["items"], json!([]));
}

#[tokio::test]
async fn bad_input_is_a_problem_and_changes_nothing() {
    let api = api().await;
    let org = api.org("own").await;
    api.add(&org, "mem", Role::Member).await;
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
            .call(Method::PATCH, role_path, "own", &org, Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {reply}");
    }
    assert_eq!(api.role_of(&org, "mem").await, Some(Role::Member));
    let long = "x".repeat(300);
    let (status, _) = api
        .call(
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
            .call(
                Method::GET,
                &format!("/v1/team/activity?{query}"),
                "own",
                &org,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {reply}");
    }
    let (status, reply) = api
        .call(Method::GET, "/v1/team/members", "own", "not-an-org", None)
        .await;
    assert_eq!(
        (status, reply["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_org_id"))
    );
    assert_eq!(api.actions(&org).await, ["org.created"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_owners_stepping_down_at_once_leave_one_owner() {
    let api = std::sync::Arc::new(api().await);
    let org = api.org("first").await;
    api.add(&org, "second", Role::Owner).await;
    let (a, b) = (api.clone(), api.clone());
    let (o1, o2) = (org.clone(), org.clone());
    let first = tokio::spawn(async move {
        a.call(
            Method::PATCH,
            "/v1/team/members/first/role",
            "first",
            &o1,
            Some(r#"{"role":"member"}"#),
        )
        .await
    });
    let second = tokio::spawn(async move {
        b.call(
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
    let org = api.org("own").await;
    for (user, role) in &ACTORS[1..] {
        api.add(&org, user, *role).await;
    }
    for (user, _) in &ACTORS[1..] {
        for new in ["owner", "admin", "member", "viewer"] {
            let body = json!({ "role": new }).to_string();
            let (status, reply) = api
                .call(
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
    api.call(
        Method::PATCH,
        "/v1/team/members/adm/role",
        "own",
        &org,
        Some(r#"{"role":"owner"}"#),
    )
    .await;
    api.call(Method::DELETE, "/v1/team/members/vie", "own", &org, None)
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

#[tokio::test]
async fn a_viewer_pages_through_a_log_full_of_hidden_billing_entries() {
    let api = api().await;
    let org = api.org("own").await;
    api.add(&org, "vie", Role::Viewer).await;
    for i in 0..30 {
        api.clock.advance(Duration::seconds(1));
        let entry = audit::NewEntry {
            org_id: &org,
            actor_id: "system",
            action: "invoice.paid",
            category: audit::Category::Billing,
            target_type: "invoice",
            target_id: &format!("in_{i}"),
            metadata: json!({}),
        }
        .at(api.clock.now());
        api.store
            .put(
                audit::entry_item(&entry, Duration::days(365)).unwrap(),
                Condition::NotExists,
            )
            .await
            .unwrap();
    }
    let (status, page) = api
        .call(Method::GET, "/v1/team/activity?limit=1", "vie", &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        page["items"][0]["action"], "org.created",
        "found past 30 hidden entries in one request"
    );
    // A cursor is bound to its window: reusing it with other bounds is refused.
    let (_, first) = api
        .call(Method::GET, "/v1/team/activity?limit=1", "own", &org, None)
        .await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (status, _) = api
        .call(
            Method::GET,
            &format!("/v1/team/activity?limit=1&cursor={cursor}&to=2020-01-01T00:00:00Z"),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn role_changes_and_removals_notify_the_member_through_the_queue() {
    let api = api().await;
    let org = api.org("own").await;
    api.add(&org, "mem", Role::Member).await;
    api.add(&org, "gone", Role::Viewer).await;
    api.add(&org, "leaver", Role::Viewer).await;
    api.call(
        Method::PATCH,
        "/v1/team/members/mem/role",
        "own",
        &org,
        Some(r#"{"role":"admin"}"#),
    )
    .await;
    api.call(Method::DELETE, "/v1/team/members/gone", "own", &org, None)
        .await;
    api.call(
        Method::DELETE,
        "/v1/team/members/leaver",
        "leaver",
        &org,
        None,
    )
    .await;
    // Refused changes notify nobody.
    api.call(
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
