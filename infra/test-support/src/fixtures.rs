//! Users, organizations and members, made through the domain's own code (the context loader,
//! `Organizations::create`, the membership records and `accounts::counters`), so a fixture is
//! never a hand-written item that drifts from what the code writes.

use accounts::{CreateOrganization, Organizations};
use auth::records::MembershipRecord;
use auth::{Caller, Claims, ContextLoader, OrgMember, Role};
use clock::{Clock, Duration};
use store::Store;

/// The claims of a local token for `user` (as [`crate::token`] mints them).
pub fn claims(user: &str) -> Claims {
    Claims {
        sub: user.into(),
        email: Some(format!("{user}@example.com")),
        email_verified: Some(true),
        name: Some(format!("User {user}")),
        org_id: None,
    }
}

/// Makes the state a test starts from, on one table, at the test's clock.
#[derive(Clone)]
pub struct Fixtures {
    pub store: Store,
    pub clock: Clock,
}

impl Fixtures {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The user as their first request creates them.
    pub async fn user(&self, user: &str) -> Caller {
        ContextLoader::new(self.store.clone(), self.clock.clone())
            .caller(claims(user))
            .await
            .unwrap()
    }

    /// An organization named `name` owned by `owner`, created as the accounts function creates
    /// it; its id.
    pub async fn org_named(&self, owner: &str, name: &str) -> String {
        let caller = self.user(owner).await;
        let request: CreateOrganization =
            serde_json::from_value(serde_json::json!({ "name": name })).unwrap();
        Organizations::new(self.store.clone(), self.clock.clone(), Duration::days(365))
            .create(&caller, request, None)
            .await
            .unwrap()
            .id
    }

    /// An organization `Acme` owned by `owner`; its id.
    pub async fn org(&self, owner: &str) -> String {
        self.org_named(owner, "Acme").await
    }

    /// `user` as a member of `org`, as a request loads them.
    pub async fn member(&self, org: &str, user: &str) -> OrgMember {
        ContextLoader::new(self.store.clone(), self.clock.clone())
            .org_member(claims(user), org)
            .await
            .unwrap()
    }

    /// Gives `user` another role behind a request's back, as a concurrent role change would
    /// (both membership items; not for owners, whose counter this does not keep).
    pub async fn set_role_meanwhile(&self, org: &str, user: &str, role: Role) {
        use store::keys::{self, OrgId, UserId};
        assert_ne!(
            role,
            Role::Owner,
            "owners are counted: change them through the team domain"
        );
        let (org, user) = (OrgId(org), UserId(user));
        let transaction = store::Transaction::new()
            .update(
                store::Update::new(keys::org_member(org, user))
                    .set("role", &role)
                    .require_exists(),
            )
            .update(
                store::Update::new(keys::user_membership(org, user))
                    .set("role", &role)
                    .require_exists(),
            );
        self.store.transact(transaction).await.unwrap();
    }

    /// An activity entry made by the platform itself (as a webhook's change will write one): an
    /// audited change by the system actor, with nothing else in it.
    pub async fn system_activity(&self, org: &str, activity: audit::Activity<'_>) {
        let change =
            audit::AuditedChange::new(audit::Actor::system(org), activity, self.clock.now());
        audit::AuditLog::new(self.store.clone(), Duration::days(365))
            .commit(change)
            .await
            .unwrap();
    }

    /// Adds `user` to `org` with `role`: their profile, both membership items and the counters.
    pub async fn add_member(&self, org: &str, user: &str, role: Role) {
        self.user(user).await;
        let membership = MembershipRecord {
            org_id: org.into(),
            user_id: user.into(),
            role,
            joined_at: self.clock.now(),
        };
        let transaction = accounts::counters::member_joined_directly(&membership).unwrap();
        self.store.transact(transaction).await.unwrap();
    }
}
