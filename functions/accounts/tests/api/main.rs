//! The accounts routes end to end against DynamoDB Local (started by the test command): the
//! router is called with real requests, each test on its own fresh table. One module per route
//! group; the harness is test-support's.

use accounts_function::{App, router};
use axum::body::Body;
use clock::{Clock, Duration};
use http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use store::Store;
use test_support::api::{ApiClient, Reply};
use test_support::fixtures::Fixtures;

mod bad_input;
mod organizations;
mod profile;
mod public;

struct Api {
    client: ApiClient,
    store: Store,
    clock: Clock,
    fixtures: Fixtures,
}

async fn api() -> Api {
    api_with(Clock::manual(clock::DateTime::now_utc())).await
}

async fn api_with(clock: Clock) -> Api {
    let (client, settings) = test_support::fresh_function().await;
    let app = App::new(&settings, client, clock.clone(), 365);
    let store = app.store().clone();
    Api {
        client: ApiClient::new(router(app, &settings.cors_allowed_origins)),
        fixtures: Fixtures::new(store.clone(), clock.clone()),
        store,
        clock,
    }
}

fn bearer(user: &str) -> String {
    format!("Bearer {}", test_support::token(user, json!({})))
}

impl Api {
    async fn send(&self, request: Request<Body>) -> Reply {
        self.client.send(request).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        body: Option<&str>,
    ) -> Reply {
        self.call_with(method, path, user, &[], body).await
    }

    async fn call_with(
        &self,
        method: Method,
        path: &str,
        user: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Reply {
        let mut call = self.client.request(method, path);
        if let Some(user) = user {
            call = call.user(user);
        }
        for (name, value) in headers {
            call = call.header(name, value);
        }
        if let Some(body) = body {
            call = call.json(body);
        }
        call.send().await
    }

    async fn create_org(&self, user: &str, name: &str) -> Value {
        self.call(
            Method::POST,
            "/v1/orgs",
            Some(user),
            Some(&json!({ "name": name }).to_string()),
        )
        .await
        .expect(StatusCode::CREATED)
    }

    /// Adds `user` to `org` with `role`, as the team function will on an accepted invitation.
    async fn add_member(&self, org: &str, user: &str, role: &str) {
        let role = serde_json::from_value(json!(role)).unwrap();
        self.fixtures.add_member(org, user, role).await;
    }

    async fn activity(&self, org: &str) -> Vec<audit::ActivityEntry> {
        let query = store::Query::new(
            "test",
            store::keys::activities(store::keys::OrgId(org)),
            100,
            None,
        );
        self.store.query(query).await.unwrap().items
    }
}
