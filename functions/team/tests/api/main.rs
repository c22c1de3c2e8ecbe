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
    sqs: aws_sdk_sqs::Client,
    notifications: String,
}

async fn api() -> Api {
    let (client, settings) = test_support::fresh_function().await;
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
        client: ApiClient::new(router(app, &settings.cors_allowed_origins)),
        fixtures: Fixtures::new(store.clone(), clock.clone()),
        store,
        clock,
        sqs,
        notifications,
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
