//! The team routes end to end against DynamoDB Local: the role × route matrix, last-owner
//! protection, tenancy, the activity log, bad input; invitations with their emails read back
//! from moto; and the whole path through the local cloud. One module per route group; the
//! harness is test-support's.

use auth::Role;
use auth::records::MembershipRecord;
use clock::{Clock, Duration};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use store::{Condition, Query, Store, Transaction, Update, keys};
use team_function::{App, Outbound, router};
use test_support::api::ApiClient;
use test_support::fixtures::Fixtures;

mod activity;
mod bad_input;
mod e2e;
mod invitations;
mod members;
mod roles;
mod side_effects;

const APP_URL: &str = "https://app.example.com";

struct Api {
    client: ApiClient,
    store: Store,
    clock: Clock,
    fixtures: Fixtures,
}

async fn api() -> Api {
    let (client, settings) = test_support::fresh_function().await;
    let clock = Clock::manual(clock::DateTime::now_utc());
    let outbound = Outbound {
        mailer: mail::Mailer::new(test_support::ses_client().await, test_support::SENDER),
        app_url: APP_URL.into(),
    };
    let app = App::new(&settings, client, outbound, clock.clone(), 365);
    let store = app.store().clone();
    Api {
        client: ApiClient::new(router(app, &settings.cors_allowed_origins)),
        fixtures: Fixtures::new(store.clone(), clock.clone()),
        store,
        clock,
    }
}

impl Api {
    async fn role_of(&self, org: &str, user: &str) -> Option<Role> {
        self.store
            .get::<MembershipRecord>(&keys::org_member(keys::OrgId(org), keys::UserId(user)))
            .await
            .unwrap()
            .map(|m| m.role)
    }

    /// The organization's outbox: side effects recorded by its changes, oldest first.
    async fn side_effects(&self, org: &str) -> Vec<outbox::OutboxRecord> {
        let query = Query::new("t", keys::outbox(keys::OrgId(org)), 100, None);
        self.store.query(query).await.unwrap().items
    }

    /// The id of the organization's activity entry for `action` (there must be one).
    async fn activity_id(&self, org: &str, action: &str) -> String {
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
        let mut ids = page.items.into_iter().filter(|e| e.action == action);
        let id = ids.next().expect("the activity entry").id;
        assert!(ids.next().is_none(), "one {action} entry");
        id
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
