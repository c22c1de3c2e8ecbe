//! Invitations end to end: DynamoDB Local for the data, moto for the email (read back from its
//! data endpoint) and the notifications queue.

use std::sync::Arc;

use super::*;

fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    )
}

/// The accept token of an email's link.
pub(super) fn token_in(body: &str) -> String {
    let start = body.find("token=").expect("the email has an accept link") + "token=".len();
    body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

fn sorted(mut actions: Vec<String>) -> Vec<String> {
    actions.sort();
    actions
}

/// The token of the last email sent to `address`.
async fn last_token(address: &str) -> String {
    let emails = test_support::sent_emails(address).await;
    token_in(&emails.last().expect("an email was sent").body)
}

/// The brief's invite rights (§3), written out independently of the code under test.
fn may_invite(actor: Role, role: Role) -> bool {
    use Role::*;
    match actor {
        Owner => matches!(role, Admin | Member | Viewer),
        Admin => matches!(role, Member | Viewer),
        Member | Viewer => false,
    }
}

impl Api {
    async fn invite(
        &self,
        org: &str,
        actor: &str,
        email: &str,
        role: &str,
        message: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut body = json!({ "email": email, "role": role });
        if let Some(message) = message {
            body["message"] = json!(message);
        }
        self.client
            .as_member(
                Method::POST,
                "/v1/team/invite",
                actor,
                org,
                Some(&body.to_string()),
            )
            .await
    }

    async fn accept(
        &self,
        user: &str,
        email: &str,
        verified: bool,
        token: &str,
    ) -> (StatusCode, Value) {
        let jwt = test_support::token(user, json!({ "email": email, "email_verified": verified }));
        let body = json!({ "token": token }).to_string();
        self.client
            .with_token(
                Method::POST,
                "/v1/team/accept-invitation",
                &jwt,
                None,
                Some(&body),
            )
            .await
    }

    async fn invitations(&self, org: &str, user: &str, status: &str) -> Vec<Value> {
        let (code, page) = self
            .client
            .as_member(
                Method::GET,
                &format!("/v1/team/invitations?status={status}&limit=100"),
                user,
                org,
                None,
            )
            .await;
        assert_eq!(code, StatusCode::OK, "{page}");
        page["items"].as_array().unwrap().clone()
    }

    async fn profile(&self, org: &str) -> accounts::OrgRecord {
        self.store
            .get(&keys::org_profile(keys::OrgId(org)))
            .await
            .unwrap()
            .unwrap()
    }

    /// Gives the organization an active subscription to `plan`, as billing records one.
    async fn set_plan(&self, org: &str, plan: &str) {
        self.set_subscription(org, plan, "active", None).await;
    }

    /// The subscription facts billing keeps on the organization item.
    async fn set_subscription(
        &self,
        org: &str,
        plan: &str,
        status: &str,
        past_due_since: Option<&str>,
    ) {
        let now = clock::rfc3339(self.clock.now());
        let facts = json!({
            "status": status,
            "plan": plan,
            "interval": "month",
            "current_period_start": now,
            "current_period_end": now,
            "cancel_at_period_end": false,
            "past_due_since": past_due_since,
        });
        self.store
            .update::<Value>(
                Update::new(keys::org_profile(keys::OrgId(org)))
                    .set("subscription", &facts)
                    .require_exists(),
            )
            .await
            .unwrap();
    }

    async fn stored_invitations(&self, org: &str) -> Vec<Value> {
        self.store
            .query::<Value>(Query::new(
                "t",
                keys::invitations(keys::OrgId(org)),
                100,
                None,
            ))
            .await
            .unwrap()
            .items
    }
}

#[tokio::test]
async fn an_invitation_email_carries_a_token_that_makes_a_member() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    let ada = unique("ada");
    let address = format!("{ada}@Example.com");

    let trips = api.store.round_trips();
    let (status, invitation) = api
        .invite(
            &org,
            "own",
            &address,
            "member",
            Some("Welcome <b>aboard</b> & see you soon"),
        )
        .await;
    let invite_trips = api.store.round_trips() - trips;
    assert_eq!(status, StatusCode::CREATED, "{invitation}");
    assert_eq!(invitation["status"], "pending");
    assert_eq!(invitation["email"], address.as_str());
    assert_eq!(invitation["role"], "member");
    assert_eq!(invitation["invited_by"], "own");
    assert_eq!(invitation["email_sent"], true);
    let created = clock::parse_rfc3339(invitation["created_at"].as_str().unwrap()).unwrap();
    let expires = clock::parse_rfc3339(invitation["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(expires - created, Duration::days(7));
    let object = invitation.as_object().unwrap();
    assert!(!object.keys().any(|k| k.contains("token")), "{invitation}");

    let emails = test_support::sent_emails(&address).await;
    assert_eq!(emails.len(), 1);
    let email = &emails[0];
    assert_eq!(email.from, test_support::SENDER);
    assert_eq!(
        email.subject,
        "User own invited you to join Acme on Objecta"
    );
    assert!(
        email
            .body
            .contains("Welcome &lt;b&gt;aboard&lt;&#x2F;b&gt; &amp; see you soon"),
        "{}",
        email.body
    );
    assert!(
        email
            .body
            .contains("href=\"https:&#x2F;&#x2F;app.example.com&#x2F;accept-invitation?token=")
    );
    let token = token_in(&email.body);
    assert_eq!(token.len(), 43, "256 bits in base64url");

    // Only the token's hash is stored, nowhere the token.
    let stored = api.stored_invitations(&org).await;
    assert_eq!(stored.len(), 1);
    let raw = stored[0].to_string();
    assert!(!raw.contains(&token));
    assert!(raw.contains(&format!(
        "INVITE_TOKEN#{}",
        stored[0]["token_hash"].as_str().unwrap()
    )));

    // The invitee's token has the address in another case: still theirs.
    let trips = api.store.round_trips();
    let (status, accepted) = api
        .accept(&ada, &address.to_lowercase(), true, &token)
        .await;
    let accept_trips = api.store.round_trips() - trips;
    assert_eq!(status, StatusCode::OK, "{accepted}");
    assert_eq!(accepted, json!({ "org_id": org, "role": "member" }));
    assert_eq!(api.role_of(&org, &ada).await, Some(Role::Member));
    assert!(
        api.store
            .get::<MembershipRecord>(&keys::user_membership(
                keys::OrgId(&org),
                keys::UserId(&ada)
            ))
            .await
            .unwrap()
            .is_some()
    );
    let (status, members) = api
        .client
        .as_member(Method::GET, "/v1/team/members", &ada, &org, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(members["items"].as_array().unwrap().len(), 2);

    // The seat the invitation held is the member's now.
    let profile = api.profile(&org).await;
    assert_eq!((profile.member_count, profile.seats_used), (2, 2));
    let accepted_list = api.invitations(&org, &ada, "accepted").await;
    assert_eq!(accepted_list.len(), 1);
    assert!(accepted_list[0]["ended_at"].is_string());
    assert!(api.invitations(&org, "own", "pending").await.is_empty());
    // (Entries of one millisecond have no defined order, and this clock stands still.)
    assert_eq!(
        sorted(api.actions(&org).await),
        ["invitation.accepted", "invitation.created", "org.created"]
    );

    // The inviter is told, by a notice recorded with the accept.
    let effects = api.side_effects(&org).await;
    assert_eq!(effects.len(), 1, "{effects:#?}");
    let outbox::SideEffect::Notify { recipients, notice } = &effects[0].record else {
        panic!("{effects:#?}")
    };
    assert_eq!(recipients, &outbox::Recipients::Users(vec!["own".into()]));
    assert_eq!(notice.kind, notify::NotificationType::Team);
    assert_eq!(notice.title, "Invitation accepted");
    assert_eq!(notice.data["user_id"], ada.as_str());
    assert_eq!(notice.data["org_id"], org.as_str());

    // Round trips (context included): see docs/data-model.md.
    assert_eq!(invite_trips, 5, "invite");
    assert_eq!(
        accept_trips, 6,
        "accept (with the new user's first request; one read of the org profile for its plan)"
    );
}

#[tokio::test]
async fn addresses_fold_ascii_case_only_so_a_kelvin_sign_is_not_a_k() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    let ada = unique("iss");
    let address = format!("k{ada}@kelvin.example");
    let (status, _) = api.invite(&org, "own", &address, "viewer", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let token = last_token(&address).await;
    // U+212A KELVIN SIGN lowercases to `k` under full Unicode folding: not the same address.
    for lookalike in [
        format!("\u{212A}{ada}@kelvin.example"),
        format!("k{ada}@\u{212A}elvin.example"),
    ] {
        let (status, problem) = api.accept(&ada, &lookalike, true, &token).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{lookalike}");
        assert_eq!(problem["code"], "email_mismatch");
    }
    assert_eq!(api.role_of(&org, &ada).await, None);
    // The one-invitation-per-address guard folds ASCII case.
    let (status, problem) = api
        .invite(&org, "own", &address.to_ascii_uppercase(), "viewer", None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_invited"))
    );
    // ASCII case still does not matter to the accepting token.
    let (status, _) = api
        .accept(&ada, &address.to_ascii_uppercase(), true, &token)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(api.role_of(&org, &ada).await, Some(Role::Viewer));
}

#[tokio::test]
async fn only_a_live_invitation_for_the_verified_address_can_be_accepted() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    let ada = unique("ada");
    let address = format!("{ada}@example.com");
    let (status, invitation) = api.invite(&org, "own", &address, "viewer", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = invitation["id"].as_str().unwrap().to_owned();
    let first = last_token(&address).await;

    // Another account, or the right address unverified: 403, nothing happens.
    let (status, problem) = api.accept("eve", "eve@example.com", true, &first).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(problem["code"], "email_mismatch");
    let (status, _) = api.accept(&ada, &address, false, &first).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(api.role_of(&org, "eve").await, None);
    assert_eq!(api.role_of(&org, &ada).await, None);

    // Tokens that were never issued.
    for token in ["not-a-token", &"A".repeat(43), "%%%"] {
        let (status, problem) = api.accept(&ada, &address, true, token).await;
        assert_eq!(status, StatusCode::GONE, "{token}");
        assert_eq!(problem["code"], "invitation_gone");
    }

    // A resend rotates the token and the expiry; the old token dies.
    api.clock.advance(Duration::hours(1));
    // (The owner's first request after an hour refreshes last_active_at: not counted below.)
    api.invitations(&org, "own", "pending").await;
    let trips = api.store.round_trips();
    let (status, resent) = api
        .client
        .as_member(
            Method::POST,
            &format!("/v1/team/invitations/{id}/resend"),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{resent}");
    assert_eq!(api.store.round_trips() - trips, 4, "resend");
    assert_eq!(resent["status"], "pending");
    assert_ne!(resent["expires_at"], invitation["expires_at"]);
    assert_eq!(test_support::sent_emails(&address).await.len(), 2);
    let second = last_token(&address).await;
    assert_ne!(first, second);
    let (status, _) = api.accept(&ada, &address, true, &first).await;
    assert_eq!(status, StatusCode::GONE, "the resent-old token");
    let (status, _) = api.accept(&ada, &address, true, &second).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = api.accept(&ada, &address, true, &second).await;
    assert_eq!(status, StatusCode::GONE, "a used token");
    // Accepted: neither resent nor revoked.
    let (status, problem) = api
        .client
        .as_member(
            Method::POST,
            &format!("/v1/team/invitations/{id}/resend"),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("invitation_accepted"))
    );

    // A revoked invitation's token dies.
    let bob = format!("{}@example.com", unique("bob"));
    let (_, revoked) = api.invite(&org, "own", &bob, "member", None).await;
    let bob_token = last_token(&bob).await;
    let seats = api.profile(&org).await.seats_used;
    let path = format!("/v1/team/invitations/{}", revoked["id"].as_str().unwrap());
    let trips = api.store.round_trips();
    let (status, _) = api
        .client
        .as_member(Method::DELETE, &path, "own", &org, None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(api.store.round_trips() - trips, 3, "revoke");
    assert_eq!(api.profile(&org).await.seats_used, seats - 1);
    let (status, _) = api
        .client
        .as_member(Method::DELETE, &path, "own", &org, None)
        .await;
    assert_eq!(
        status,
        StatusCode::NO_CONTENT,
        "revoking twice changes nothing"
    );
    assert_eq!(api.profile(&org).await.seats_used, seats - 1);
    let (status, _) = api.accept("bob", &bob, true, &bob_token).await;
    assert_eq!(status, StatusCode::GONE, "a revoked token");
    let (status, _) = api
        .client
        .as_member(Method::POST, &format!("{path}/resend"), "own", &org, None)
        .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "a revoked invitation is not resent"
    );

    // Seven days later an invitation is expired, however its token is presented.
    let cat = format!("{}@example.com", unique("cat"));
    api.invite(&org, "own", &cat, "member", None).await;
    let cat_token = last_token(&cat).await;
    api.clock.advance(Duration::days(7));
    let (status, _) = api.accept("cat", &cat, true, &cat_token).await;
    assert_eq!(status, StatusCode::GONE, "an expired token");
    let expired = api.invitations(&org, "own", "expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["email"], cat.as_str());
    assert!(api.invitations(&org, "own", "pending").await.is_empty());
    assert_eq!(api.invitations(&org, "own", "revoked").await.len(), 1);
    let trips = api.store.round_trips();
    assert_eq!(api.invitations(&org, "own", "accepted").await.len(), 1);
    assert_eq!(api.store.round_trips() - trips, 2, "list");
    assert_eq!(api.invitations(&org, "own", "").await.len(), 3);

    assert_eq!(
        sorted(api.actions(&org).await),
        [
            "invitation.accepted",
            "invitation.created",
            "invitation.created",
            "invitation.created",
            "invitation.resent",
            "invitation.revoked",
            "org.created",
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_accepts_make_exactly_one_membership() {
    let api = Arc::new(api().await);
    let org = api.fixtures.org("own").await;
    let address = format!("{}@example.com", unique("dup"));
    api.invite(&org, "own", &address, "member", None).await;
    let token = last_token(&address).await;
    // Eight accounts with the same verified address, all at once.
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            let (api, address, token) = (api.clone(), address.clone(), token.clone());
            tokio::spawn(async move {
                api.accept(&format!("dup-{i}"), &address, true, &token)
                    .await
                    .0
            })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    let ok = statuses.iter().filter(|s| **s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| *s == StatusCode::OK || *s == StatusCode::GONE),
        "{statuses:?}"
    );
    let mut members = 0;
    for i in 0..8 {
        members += usize::from(api.role_of(&org, &format!("dup-{i}")).await.is_some());
    }
    assert_eq!(members, 1);
    let profile = api.profile(&org).await;
    assert_eq!((profile.member_count, profile.seats_used), (2, 2));
}

#[tokio::test]
async fn concurrent_resends_each_rotate_the_token_in_turn() {
    let api = Arc::new(api().await);
    let org = api.fixtures.org("own").await;
    let address = format!("{}@example.com", unique("again"));
    let (_, invitation) = api.invite(&org, "own", &address, "member", None).await;
    let path = format!(
        "/v1/team/invitations/{}/resend",
        invitation["id"].as_str().unwrap()
    );
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let (api, org, path) = (api.clone(), org.clone(), path.clone());
            tokio::spawn(async move {
                api.client
                    .as_member(Method::POST, &path, "own", &org, None)
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap());
    }
    // A lost race is retried on a fresh read, so every resend lands (a 409 would name the
    // invitation, not a member).
    for (status, body) in &answers {
        assert_eq!(*status, StatusCode::OK, "{body}");
    }
    let resent = api
        .actions(&org)
        .await
        .into_iter()
        .filter(|a| a == "invitation.resent")
        .count();
    assert_eq!(resent, 10, "one rotation per resend");
    assert_eq!(
        test_support::sent_emails(&address).await.len(),
        11,
        "the invitation and each resend"
    );
}

#[tokio::test]
async fn the_plans_seat_limit_counts_members_and_pending_invitations() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "m1", Role::Member).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let address = format!("{}@example.com", unique("seat"));
        let (status, invitation) = api.invite(&org, "own", &address, "member", None).await;
        assert_eq!(status, StatusCode::CREATED);
        ids.push(invitation["id"].as_str().unwrap().to_owned());
    }
    // The free plan has 5 seats: 2 members + 3 pending invitations.
    assert_eq!(api.profile(&org).await.seats_used, 5);
    let entries = api.actions(&org).await.len();
    let over = format!("{}@example.com", unique("over"));
    let (status, problem) = api.invite(&org, "own", &over, "member", None).await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(problem["code"], "seat_limit_reached");
    assert_eq!(
        api.stored_invitations(&org).await.len(),
        3,
        "nothing written"
    );
    assert_eq!(api.actions(&org).await.len(), entries, "no activity entry");
    assert!(test_support::sent_emails(&over).await.is_empty());

    // Revoking frees a seat.
    let (status, _) = api
        .client
        .as_member(
            Method::DELETE,
            &format!("/v1/team/invitations/{}", ids[0]),
            "own",
            &org,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = api.invite(&org, "own", &over, "member", None).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(api.profile(&org).await.seats_used, 5);

    // Invitations that lapsed give their seats back when the next invite needs them.
    api.clock.advance(Duration::days(8));
    let late = format!("{}@example.com", unique("late"));
    let (status, body) = api.invite(&org, "own", &late, "member", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(api.profile(&org).await.seats_used, 3);
    assert_eq!(api.invitations(&org, "own", "expired").await.len(), 3);
    assert_eq!(api.invitations(&org, "own", "pending").await.len(), 1);
    let expiries = api
        .actions(&org)
        .await
        .into_iter()
        .filter(|a| a == "invitation.expired")
        .count();
    assert_eq!(expiries, 3);

    // A bigger plan has more seats: the limit is read from the plan configuration.
    api.set_plan(&org, "starter").await;
    for _ in 0..7 {
        let address = format!("{}@example.com", unique("starter"));
        let (status, _) = api.invite(&org, "own", &address, "viewer", None).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    let (status, _) = api
        .invite(
            &org,
            "own",
            &format!("{}@example.com", unique("x")),
            "viewer",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED);
}

#[tokio::test]
async fn seats_follow_the_effective_plan_and_nobody_is_removed_when_it_shrinks() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.set_plan(&org, "pro").await;
    for n in 0..6 {
        api.fixtures
            .add_member(&org, &format!("m{n}"), Role::Member)
            .await;
    }
    let pending = format!("{}@example.com", unique("pending"));
    let (status, _) = api.invite(&org, "own", &pending, "member", None).await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "7 members + 1 invitation fit Pro's 50 seats"
    );
    let token = last_token(&pending).await;

    // The subscription ended: the free plan's 5 seats, with 8 taken.
    api.set_subscription(&org, "pro", "canceled", None).await;
    let other = format!("{}@example.com", unique("other"));
    let (status, problem) = api.invite(&org, "own", &other, "member", None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("seat_limit_reached"))
    );
    let (status, problem) = api.accept("joiner", &pending, true, &token).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("seat_limit_reached"))
    );
    let profile = api.profile(&org).await;
    assert_eq!(
        (profile.member_count, profile.seats_used),
        (7, 8),
        "nobody removed, nobody joined"
    );

    // Past due keeps the plan through the grace period, then the free limits apply.
    let since = clock::rfc3339(api.clock.now());
    api.set_subscription(&org, "pro", "past_due", Some(&since))
        .await;
    let (status, _) = api.accept("joiner", &pending, true, &token).await;
    assert_eq!(status, StatusCode::OK, "within the grace period");
    api.clock.advance(plans::PAST_DUE_GRACE);
    let late = format!("{}@example.com", unique("late"));
    let (status, _) = api.invite(&org, "own", &late, "member", None).await;
    assert_eq!(
        status,
        StatusCode::PAYMENT_REQUIRED,
        "the grace period is over"
    );
}

#[tokio::test]
async fn invitations_follow_the_role_table() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.set_plan(&org, "enterprise").await;
    for (user, role) in &ACTORS[1..] {
        api.fixtures.add_member(&org, user, *role).await;
    }
    let targets = [Role::Admin, Role::Member, Role::Viewer];
    for (actor, actor_role) in ACTORS {
        for target in targets {
            let address = format!("{}@example.com", unique("m"));
            let (status, body) = api
                .invite(&org, actor, &address, target.as_str(), None)
                .await;
            let expected = if may_invite(actor_role, target) {
                StatusCode::CREATED
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{actor_role} invites {target}: {body}");
        }
        // Everyone reads the invitations.
        let (status, _) = api
            .client
            .as_member(Method::GET, "/v1/team/invitations", actor, &org, None)
            .await;
        assert_eq!(status, StatusCode::OK);
    }
    // Resend and revoke follow the same rights, per the invitation's role.
    for (actor, actor_role) in ACTORS {
        for target in targets {
            let address = format!("{}@example.com", unique("r"));
            let (_, invitation) = api
                .invite(&org, "own", &address, target.as_str(), None)
                .await;
            let path = format!(
                "/v1/team/invitations/{}",
                invitation["id"].as_str().unwrap()
            );
            let allowed = may_invite(actor_role, target);
            let (status, _) = api
                .client
                .as_member(Method::POST, &format!("{path}/resend"), actor, &org, None)
                .await;
            let expected = if allowed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{actor_role} resends for {target}");
            let (status, _) = api
                .client
                .as_member(Method::DELETE, &path, actor, &org, None)
                .await;
            let expected = if allowed {
                StatusCode::NO_CONTENT
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(status, expected, "{actor_role} revokes for {target}");
            let emails = test_support::sent_emails(&address).await.len();
            assert_eq!(emails, if allowed { 2 } else { 1 });
        }
    }
}

#[tokio::test]
async fn an_address_is_invited_once_and_members_are_not_invited() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    let address = format!("{}@example.com", unique("once"));
    let (status, first) = api.invite(&org, "own", &address, "member", None).await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, problem) = api
        .invite(&org, "own", &address.to_uppercase(), "viewer", None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_invited"))
    );
    let (status, problem) = api
        .invite(&org, "own", "OWN@example.com", "member", None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_member"))
    );
    assert_eq!(api.stored_invitations(&org).await.len(), 1);

    // After expiry the address can be invited again; the lapsed invitation gives up its seat.
    api.clock.advance(Duration::days(7));
    let (status, second) = api.invite(&org, "own", &address, "viewer", None).await;
    assert_eq!(status, StatusCode::CREATED, "{second}");
    assert_ne!(first["id"], second["id"]);
    assert_eq!(api.profile(&org).await.seats_used, 2);
    let expired = api.invitations(&org, "own", "expired").await;
    assert_eq!(expired.len(), 1);
    assert_eq!(expired[0]["id"], first["id"]);
    // The old invitation's link is dead, the new one works.
    let emails = test_support::sent_emails(&address).await;
    let (old, new) = (token_in(&emails[0].body), token_in(&emails[1].body));
    let (status, _) = api.accept("once", &address, true, &old).await;
    assert_eq!(status, StatusCode::GONE);
    let (status, body) = api.accept("once", &address, true, &new).await;
    assert_eq!(
        (status, body["role"].as_str()),
        (StatusCode::OK, Some("viewer"))
    );
    // A member's address is refused even in another case.
    let (status, _) = api
        .invite(&org, "own", &address.to_uppercase(), "member", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

#[tokio::test]
async fn another_organizations_invitations_are_out_of_reach() {
    let api = api().await;
    let ours = api.fixtures.org("own").await;
    let theirs = api.fixtures.org("them").await;
    let address = format!("{}@example.com", unique("t"));
    let (_, invitation) = api.invite(&theirs, "them", &address, "member", None).await;
    let path = format!(
        "/v1/team/invitations/{}",
        invitation["id"].as_str().unwrap()
    );

    // Their invitation's id, in our organization: not found, nothing about it.
    for (method, path) in [
        (Method::DELETE, path.clone()),
        (Method::POST, format!("{path}/resend")),
    ] {
        let (status, body) = api
            .client
            .as_member(method, &path, "own", &ours, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert!(!body.to_string().contains(&address));
    }
    assert!(api.invitations(&ours, "own", "").await.is_empty());

    // Their organization, by a non-member: 403 on every route.
    for (method, path, body) in [
        (Method::GET, "/v1/team/invitations".to_owned(), None),
        (
            Method::POST,
            "/v1/team/invite".to_owned(),
            Some(r#"{"email":"x@example.com","role":"member"}"#),
        ),
        (Method::DELETE, path.clone(), None),
        (Method::POST, format!("{path}/resend"), None),
    ] {
        let (status, body) = api
            .client
            .as_member(method, &path, "own", &theirs, body)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}: {body}");
    }
    let pending = api.invitations(&theirs, "them", "pending").await;
    assert_eq!(pending.len(), 1);
    assert_eq!(test_support::sent_emails(&address).await.len(), 1);
}

#[tokio::test]
async fn bad_invitation_input_is_a_problem_and_changes_nothing() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    let long_message = "x".repeat(1001);
    let long_email = format!("{}@example.com", "a".repeat(250));
    let bodies = [
        "{".to_owned(),
        "[]".to_owned(),
        "".to_owned(),
        json!({"email": "bad@example.com", "role": "member", "extra": 1}).to_string(),
        json!({"email": "not-an-email", "role": "member"}).to_string(),
        json!({"email": long_email, "role": "member"}).to_string(),
        json!({"email": "bad@example.com", "role": "owner"}).to_string(),
        json!({"email": "bad@example.com", "role": "boss"}).to_string(),
        json!({"email": "bad@example.com"}).to_string(),
        json!({"email": "bad@example.com", "role": "member", "message": long_message}).to_string(),
        json!({"email": "bad@example.com", "role": "member", "message": "ring\u{7}"}).to_string(),
        json!({"email": 5, "role": "member"}).to_string(),
    ];
    for body in &bodies {
        let (status, problem) = api
            .client
            .as_member(Method::POST, "/v1/team/invite", "own", &org, Some(body))
            .await;
        assert!(status.is_client_error(), "{body}: {status}");
        assert_ne!(status, StatusCode::NOT_FOUND, "{body}");
        assert!(problem["code"].is_string(), "{body}: {problem}");
    }
    for query in [
        "status=bogus",
        "status=PENDING",
        "limit=0",
        "limit=x",
        "cursor=%21",
        "what=1",
    ] {
        let (status, _) = api
            .client
            .as_member(
                Method::GET,
                &format!("/v1/team/invitations?{query}"),
                "own",
                &org,
                None,
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}");
    }
    for path in [
        "/v1/team/invitations/not-a-ulid",
        "/v1/team/invitations/01JD3YQ9V4Z8K2M6N0P3R5T7W9",
    ] {
        let (status, _) = api
            .client
            .as_member(Method::DELETE, path, "own", &org, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        let (status, _) = api
            .client
            .as_member(Method::POST, &format!("{path}/resend"), "own", &org, None)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
    let jwt = test_support::token("own", json!({}));
    for body in [
        "{}".to_owned(),
        "{".to_owned(),
        json!({"token": ""}).to_string(),
        json!({"token": 5}).to_string(),
        json!({"token": "x".repeat(513)}).to_string(),
        json!({"token": "abc", "org_id": org}).to_string(),
    ] {
        let (status, _) = api
            .client
            .with_token(
                Method::POST,
                "/v1/team/accept-invitation",
                &jwt,
                None,
                Some(&body),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    }
    // Accepting needs a token, like every route.
    let (status, _) = api
        .client
        .with_token(
            Method::POST,
            "/v1/team/accept-invitation",
            "not.a.jwt",
            None,
            Some(r#"{"token":"abc"}"#),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    assert!(api.stored_invitations(&org).await.is_empty());
    assert_eq!(api.actions(&org).await, ["org.created"]);
    assert!(
        test_support::sent_emails("bad@example.com")
            .await
            .is_empty()
    );
    assert_eq!(api.profile(&org).await.seats_used, 1);
}

#[tokio::test]
async fn the_sample_events_reach_their_routes() {
    // The samples of events/ go through lambda_http's own event parsing, as in Lambda.
    let api = api().await;
    let org = api.fixtures.org("local-user").await;
    let samples = [
        ("team-list-members.json", StatusCode::OK),
        ("team-change-role.json", StatusCode::NOT_FOUND),
        ("team-remove-member.json", StatusCode::NOT_FOUND),
        ("team-activity.json", StatusCode::OK),
        ("team-invite.json", StatusCode::CREATED),
        ("team-list-invitations.json", StatusCode::OK),
        ("team-resend-invitation.json", StatusCode::NOT_FOUND),
        ("team-revoke-invitation.json", StatusCode::NOT_FOUND),
        ("team-accept-invitation.json", StatusCode::GONE),
    ];
    test_support::samples::assert_samples_reach_their_routes(&api.client, &org, &samples).await;
    let invited = api.invitations(&org, "local-user", "pending").await;
    assert_eq!(invited.len(), 1);
    assert_eq!(invited[0]["email"], "ada@example.com");
}

#[tokio::test]
async fn seats_of_invitations_deleted_by_ttl_are_found_by_the_recount() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    for _ in 0..4 {
        let address = format!("{}@example.com", unique("ttl"));
        let (status, _) = api.invite(&org, "own", &address, "member", None).await;
        assert_eq!(status, StatusCode::CREATED);
    }
    assert_eq!(api.profile(&org).await.seats_used, 5);
    // Every invitation carries a TTL: 30 days after it expires.
    let stored = api.stored_invitations(&org).await;
    let expires = clock::parse_rfc3339(stored[0]["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        stored[0]["ttl"].as_i64(),
        Some((expires + team::ENDED_RETENTION).unix_timestamp())
    );
    // Two of them lapse and DynamoDB's TTL deletes them before anyone reclaimed their seats.
    api.clock.advance(Duration::days(8));
    for invitation in &stored[..2] {
        let key = keys::invitation(keys::OrgId(&org), invitation["id"].as_str().unwrap());
        api.store
            .transact(Transaction::new().delete(key, Condition::Exists))
            .await
            .unwrap();
    }
    let address = format!("{}@example.com", unique("after"));
    let (status, body) = api.invite(&org, "own", &address, "member", None).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // The owner and the new invitation: the two reclaimed and the two deleted seats are free.
    assert_eq!(api.profile(&org).await.seats_used, 2);
}

#[tokio::test]
async fn an_invite_by_an_admin_demoted_after_the_read_is_refused_and_takes_no_seat() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "adm", Role::Admin).await;
    let stale = api.fixtures.member(&org, "adm").await;
    api.fixtures
        .set_role_meanwhile(&org, "adm", Role::Member)
        .await;
    let seats = api.profile(&org).await.seats_used;
    let invitations = team::Invitations::new(
        api.store.clone(),
        api.clock.clone(),
        Duration::days(365),
        mail::Mailer::new(test_support::ses_client().await, test_support::SENDER),
        APP_URL,
    );
    let request: team::CreateInvitation =
        serde_json::from_value(json!({"email": unique("late") + "@example.com", "role": "viewer"}))
            .unwrap();
    let refused = invitations.invite(&stale, request).await.unwrap_err();
    assert!(
        matches!(refused, team::TeamError::NotAllowed),
        "{refused:?}"
    );
    assert_eq!(api.profile(&org).await.seats_used, seats);
    assert!(api.stored_invitations(&org).await.is_empty());
}

#[tokio::test]
async fn seats_reach_80_and_100_percent_once_as_invitations_are_sent_and_accepted() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    // The relay runs this check when the profile's seats change (its stream filter passes
    // profile modifications); here it is called after each change.
    let metering = metering::Metering::new(
        api.store.clone(),
        api.clock.clone(),
        clock::Duration::days(365),
    );
    let seats = |crossings: Vec<metering::Crossing>| -> Vec<(u8, u64)> {
        crossings
            .into_iter()
            .map(|c| {
                assert_eq!(c.metric, plans::usage::Metric::Seats);
                (c.level, c.used)
            })
            .collect()
    };
    let mut addresses = Vec::new();
    for (i, expected) in [vec![], vec![], vec![(80, 4)], vec![(100, 5)]]
        .into_iter()
        .enumerate()
    {
        let address = format!("{}@example.com", unique("seats"));
        let (status, _) = api.invite(&org, "own", &address, "member", None).await;
        assert_eq!(status, StatusCode::CREATED);
        assert_eq!(
            seats(metering.check(&org).await.unwrap()),
            expected,
            "invitation {i}"
        );
        addresses.push(address);
    }
    // Accepting takes no new seat: nothing more to tell, however often it is checked.
    for (i, address) in addresses.iter().enumerate() {
        let token = last_token(address).await;
        let (status, body) = api
            .accept(&format!("joiner-{i}"), address, true, &token)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(metering.check(&org).await.unwrap().is_empty());
    }
    assert_eq!(api.profile(&org).await.member_count, 5);
    let mut told: Vec<u64> = api
        .side_effects(&org)
        .await
        .into_iter()
        .filter_map(|r| match r.record {
            outbox::SideEffect::Notify { notice, .. } if notice.data["metric"] == "seats" => {
                notice.data["level"].as_u64()
            }
            _ => None,
        })
        .collect();
    told.sort();
    assert_eq!(told, vec![80, 100], "each level told once");
}
