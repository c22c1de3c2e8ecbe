//! The billing routes against the local Stripe and DynamoDB Local, with the webhook function
//! serving the local Stripe's events: subscribe, preview and upgrade (exact cents), downgrade at
//! the period end, cancel and resume, declined and 3D Secure cards, ten concurrent first
//! subscriptions, Stripe down, payment methods, usage, roles and tenancy, bad input.

use std::time::Duration;

use auth::Role;
use billing::{Billing, KeySource, PriceCatalog, StripeApi};
use billing_function::{App, router};
use clock::Clock;
use http::{Method, StatusCode};
use local_stripe::LocalStripe;
use serde_json::{Value, json};
use store::{Store, keys};
use test_support::api::ApiClient;
use test_support::fixtures::Fixtures;
use test_support::stripe::StripeControl;

struct Harness {
    stripe: LocalStripe,
    local: StripeControl,
    http: reqwest::Client,
    api: ApiClient,
    store: Store,
    fixtures: Fixtures,
    org: String,
}

fn billing_at(store: &Store, stripe_url: String) -> Billing {
    Billing::new(
        store.clone(),
        StripeApi::new(
            Some(stripe_url),
            KeySource::fixed("sk_test_local", "whsec_local"),
        ),
        PriceCatalog::local(),
        Clock::system(),
        clock::Duration::days(365),
    )
}

/// A table with an organization (owner `own`, admin `adm`, member `mem`, viewer `vie`), the
/// billing routes in process, and a local Stripe posting its events to the webhook function.
async fn harness() -> Harness {
    let (dynamodb, settings) = test_support::fresh_function().await;
    let store = Store::new(dynamodb, settings.table_name.as_str());
    let fixtures = Fixtures::new(store.clone(), Clock::system());
    let org = fixtures.org("own").await;
    for (user, role) in [
        ("adm", Role::Admin),
        ("mem", Role::Member),
        ("vie", Role::Viewer),
    ] {
        fixtures.add_member(&org, user, role).await;
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = format!(
        "http://{}/v1/webhooks/stripe",
        listener.local_addr().unwrap()
    );
    let stripe = local_stripe::start(local_stripe::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        webhook_url: Some(webhook),
        retry: local_stripe::RetryPolicy {
            first_ms: 50,
            max_attempts: 8,
        },
        ..local_stripe::Config::default()
    })
    .await
    .unwrap();
    let billing = billing_at(&store, stripe.url());
    let webhook_router = stripe_webhook_function::router(billing.clone());
    tokio::spawn(async move { axum::serve(listener, webhook_router).await.unwrap() });
    let app = App::new(&settings, billing, Clock::system());
    Harness {
        local: StripeControl::new(stripe.url()),
        stripe,
        http: reqwest::Client::new(),
        api: ApiClient::new(router(app, &settings.cors_allowed_origins)),
        store,
        fixtures,
        org,
    }
}

impl Harness {
    async fn call(
        &self,
        user: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_in(&self.org, user, method, path, body).await
    }

    async fn call_in(
        &self,
        org: &str,
        user: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut call = self.api.request(method, path).user(user).org(org);
        if let Some(body) = body {
            call = call.json(&body.to_string());
        }
        call.send().await.into_parts()
    }

    async fn subscribe(&self, plan: &str, interval: &str, card: &str) -> (StatusCode, Value) {
        self.call(
            "own",
            Method::POST,
            "/v1/billing/subscription",
            Some(json!({"plan": plan, "interval": interval, "payment_method_id": card})),
        )
        .await
    }

    async fn subscription(&self) -> Value {
        let (status, body) = self
            .call("own", Method::GET, "/v1/billing/subscription", None)
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    async fn activity(&self) -> Vec<String> {
        let (items, _) = self
            .store
            .query_all::<audit::ActivityEntry>(
                store::Query::new("t", keys::activities(keys::OrgId(&self.org)), 100, None),
                10,
            )
            .await
            .unwrap();
        items.into_iter().map(|e| e.action).collect()
    }
}

#[tokio::test]
async fn subscribe_preview_upgrade_downgrade_cancel_and_resume() {
    let h = harness().await;
    let (status, created) = h.subscribe("pro", "month", "pm_card_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "active");
    assert_eq!(created["plan"], "pro");
    assert_eq!(created["interval"], "month");
    assert_eq!(created["client_secret"], Value::Null);
    assert_eq!(created["effective_plan"], "pro");
    h.local.settled().await;
    let (_, second) = h.subscribe("starter", "month", "pm_card_visa").await;
    assert_eq!(second["code"], "subscription_exists");

    // Preview the upgrade, then make it: the charge now is the preview's, to the cent.
    let (status, preview) = h
        .call(
            "adm",
            Method::GET,
            "/v1/billing/subscription/preview?plan=enterprise",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(preview["takes_effect"], "now");
    assert_eq!(preview["amount_at_renewal"], 49900);
    assert_eq!(preview["amount_due_now"], 49900 - 9900, "{preview}");
    let (status, upgraded) = h
        .call(
            "own",
            Method::PATCH,
            "/v1/billing/subscription",
            Some(json!({"plan": "enterprise"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{upgraded}");
    assert_eq!(upgraded["plan"], "enterprise");
    h.local.settled().await;
    let (_, invoices) = h
        .call("adm", Method::GET, "/v1/billing/invoices", None)
        .await;
    let proration = invoices["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["billing_reason"] == "subscription_update")
        .expect("the proration invoice, mirrored");
    assert_eq!(proration["amount_paid"], preview["amount_due_now"]);
    assert_eq!(proration["status"], "paid");

    // A downgrade waits for the period end.
    let (status, preview) = h
        .call(
            "own",
            Method::GET,
            "/v1/billing/subscription/preview?plan=starter",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{preview}");
    assert_eq!(
        (
            preview["takes_effect"].as_str(),
            preview["amount_due_now"].as_i64()
        ),
        (Some("period_end"), Some(0))
    );
    assert_eq!(preview["amount_at_renewal"], 2900);
    let (status, downgraded) = h
        .call(
            "own",
            Method::PATCH,
            "/v1/billing/subscription",
            Some(json!({"plan": "starter"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{downgraded}");
    assert_eq!(downgraded["plan"], "enterprise");
    assert_eq!(downgraded["pending_plan"], "starter");
    assert_eq!(downgraded["pending_interval"], "month");
    h.local.settled().await;
    h.local.advance_days(32).await;
    let renewed = h.subscription().await;
    assert_eq!(renewed["plan"], "starter", "{renewed}");
    assert_eq!(renewed["pending_plan"], Value::Null);

    // Cancel at the period end, resume, then cancel now: the free plan's limits.
    let (status, canceling) = h
        .call("own", Method::DELETE, "/v1/billing/subscription", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{canceling}");
    assert_eq!(canceling["cancel_at_period_end"], true);
    let (status, resumed) = h
        .call("own", Method::POST, "/v1/billing/subscription/resume", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{resumed}");
    assert_eq!(resumed["cancel_at_period_end"], false);
    let (status, _) = h
        .call("own", Method::POST, "/v1/billing/subscription/resume", None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, ended) = h
        .call(
            "own",
            Method::DELETE,
            "/v1/billing/subscription?at_period_end=false",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{ended}");
    assert_eq!(
        (ended["plan"].as_str(), ended["status"].as_str()),
        (Some("free"), Some("active"))
    );
    h.local.settled().await;
    let profile: accounts::OrgRecord = h
        .store
        .get(&keys::org_profile(keys::OrgId(&h.org)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        profile.effective_plan(time::OffsetDateTime::now_utc()).id,
        "free"
    );
    let (status, _) = h
        .call("own", Method::DELETE, "/v1/billing/subscription", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // Each change once in the log, whether the route or its webhook stored it first.
    let activity = h.activity().await;
    assert_eq!(
        activity
            .iter()
            .filter(|a| *a == "subscription.created")
            .count(),
        1,
        "{activity:?}"
    );
    // After it ended, a new subscription may start.
    let (status, again) = h.subscribe("starter", "year", "pm_card_visa").await;
    assert_eq!(status, StatusCode::CREATED, "{again}");
    assert_eq!(again["interval"], "year");
}

#[tokio::test]
async fn a_declined_card_is_402_and_leaves_nothing_then_another_card_works() {
    let h = harness().await;
    let (status, problem) = h
        .subscribe("pro", "month", "pm_card_chargeDeclinedInsufficientFunds")
        .await;
    assert_eq!(status, StatusCode::PAYMENT_REQUIRED, "{problem}");
    assert_eq!(problem["code"], "payment_declined");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("insufficient_funds"),
        "{problem}"
    );
    h.local.settled().await;
    assert_eq!(h.subscription().await["plan"], "free");
    assert_eq!(h.local.counts().await.1, 0);
    assert!(
        !h.activity()
            .await
            .iter()
            .any(|a| a.starts_with("subscription."))
    );
    // A retry with the decline's Idempotency-Key and another card is a new attempt, not a 500.
    let body =
        json!({"plan": "pro", "interval": "month", "payment_method_id": "pm_card_chargeDeclined"});
    let keyed = |body: Value| {
        h.api
            .request(Method::POST, "/v1/billing/subscription")
            .user("own")
            .org(&h.org)
            .header("idempotency-key", "attempt-1")
            .json(&body.to_string())
            .send()
    };
    keyed(body)
        .await
        .expect_problem(StatusCode::PAYMENT_REQUIRED, "payment_declined");
    let body = json!({"plan": "pro", "interval": "month", "payment_method_id": "pm_card_visa"});
    let created = keyed(body.clone()).await.expect(StatusCode::CREATED);
    assert_eq!(created["status"], "active");
    assert_eq!(
        keyed(body).await.expect(StatusCode::CREATED),
        created,
        "replayed"
    );
    assert_eq!(
        h.local.counts().await,
        (1, 1),
        "one customer for every attempt"
    );
    // With a subscription in place, another key is told so at once.
    let started = std::time::Instant::now();
    h.api
        .request(Method::POST, "/v1/billing/subscription")
        .user("own")
        .org(&h.org)
        .header("idempotency-key", "attempt-2")
        .json(&json!({"plan": "starter", "interval": "month"}).to_string())
        .send()
        .await
        .expect_problem(StatusCode::CONFLICT, "subscription_exists");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_card_that_needs_3d_secure_is_incomplete_with_its_client_secret() {
    let h = harness().await;
    let (status, created) = h
        .subscribe("starter", "month", "pm_card_authenticationRequired")
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["status"], "incomplete");
    assert_eq!(created["effective_plan"], "free");
    let secret = created["client_secret"]
        .as_str()
        .expect("a client secret")
        .to_owned();
    // The customer confirms and authenticates (Stripe.js): the first invoice is paid, and the
    // webhook stores it.
    let intent = secret.split("_secret_").next().unwrap();
    let confirmed: Value = h
        .http
        .post(format!(
            "{}/v1/payment_intents/{intent}/confirm",
            h.stripe.url()
        ))
        .bearer_auth("sk_test_local")
        .header("content-type", "application/x-www-form-urlencoded")
        .body("return_url=https%3A%2F%2Fapp.example.com%2Fbilling")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(confirmed["status"], "requires_action", "{confirmed}");
    h.local
        .call(
            reqwest::Method::POST,
            &format!("/_local/payment_intents/{intent}/authenticate"),
            json!({}),
        )
        .await;
    h.local.settled().await;
    let subscription = h.subscription().await;
    assert_eq!(subscription["status"], "active", "{subscription}");
    assert_eq!(subscription["effective_plan"], "starter");
}

#[tokio::test]
async fn ten_concurrent_first_subscriptions_make_one_customer_and_one_subscription() {
    let h = harness().await;
    let body = json!({"plan": "pro", "interval": "month", "payment_method_id": "pm_card_visa"});
    let answers = concurrently(&h, &h.org, 10, None, body).await;
    let created = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::CREATED)
        .count();
    let refused = answers
        .iter()
        .filter(|(s, b)| *s == StatusCode::CONFLICT && b["code"] == "subscription_exists")
        .count();
    assert_eq!((created, refused), (1, 9), "{answers:?}");
    assert_eq!(h.local.counts().await, (1, 1));

    // Ten retries of one request (one Idempotency-Key) in another organization: one
    // subscription, and every one of them answers it.
    let other = h.fixtures.org("own").await;
    let body = json!({"plan": "starter", "interval": "month", "payment_method_id": "pm_card_visa"});
    let answers = concurrently(&h, &other, 10, Some("first-subscription"), body).await;
    assert!(
        answers.iter().all(|(s, _)| *s == StatusCode::CREATED),
        "{answers:?}"
    );
    let bodies: Vec<Value> = answers.into_iter().map(|(_, b)| b).collect();
    assert!(bodies.iter().all(|b| *b == bodies[0]), "{bodies:?}");
    assert_eq!(h.local.counts().await, (2, 2));
    // The same key with another body is refused.
    let reused = h
        .api
        .request(Method::POST, "/v1/billing/subscription")
        .user("own")
        .org(&other)
        .header("idempotency-key", "first-subscription")
        .json(&json!({"plan": "pro", "interval": "month"}).to_string())
        .send()
        .await;
    reused.expect_problem(StatusCode::CONFLICT, "idempotency_key_reused");
}

/// Sends `count` copies of one subscription request at once, as `own` in `org`.
async fn concurrently(
    h: &Harness,
    org: &str,
    count: usize,
    key: Option<&str>,
    body: Value,
) -> Vec<(StatusCode, Value)> {
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..count {
        let (api, org, key, body) = (
            h.api.clone(),
            org.to_owned(),
            key.map(str::to_owned),
            body.to_string(),
        );
        tasks.spawn(async move {
            let mut call = api
                .request(Method::POST, "/v1/billing/subscription")
                .user("own")
                .org(&org);
            if let Some(key) = &key {
                call = call.header("idempotency-key", key);
            }
            call.json(&body).send().await.into_parts()
        });
    }
    tasks.join_all().await
}

#[tokio::test]
async fn stripe_unreachable_is_503_and_nothing_is_stored() {
    let h = harness().await;
    // A port nothing listens on.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap()
    };
    let (_, settings) = test_support::fresh_function().await;
    let settings = config::HttpSettings {
        table_name: h.store.table().to_owned(),
        ..settings
    };
    let app = App::new(
        &settings,
        billing_at(&h.store, format!("http://{closed}")),
        Clock::system(),
    );
    let api = ApiClient::new(router(app, &[]));
    let reply = api
        .request(Method::POST, "/v1/billing/subscription")
        .user("own")
        .org(&h.org)
        .json(
            &json!({"plan": "pro", "interval": "month", "payment_method_id": "pm_card_visa"})
                .to_string(),
        )
        .send()
        .await;
    reply.expect_problem(StatusCode::SERVICE_UNAVAILABLE, "unavailable");
    assert_eq!(h.subscription().await["plan"], "free");
    // The claim was given back: with Stripe reachable again, the owner subscribes at once.
    let (status, _) = h.subscribe("pro", "month", "pm_card_visa").await;
    assert_eq!(status, StatusCode::CREATED);
}

#[tokio::test]
async fn payment_methods_are_read_through_and_the_default_of_a_live_subscription_stays() {
    let h = harness().await;
    let (status, list) = h
        .call("adm", Method::GET, "/v1/billing/payment-methods", None)
        .await;
    assert_eq!(
        (status, list["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );
    h.subscribe("pro", "month", "pm_card_visa").await;
    let (status, added) = h
        .call(
            "own",
            Method::POST,
            "/v1/billing/payment-methods",
            Some(json!({"payment_method_id": "pm_card_mastercard"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(
        (
            added["brand"].as_str(),
            added["last4"].as_str(),
            added["default"].as_bool()
        ),
        (Some("mastercard"), Some("4444"), Some(false))
    );
    let (_, list) = h
        .call("adm", Method::GET, "/v1/billing/payment-methods", None)
        .await;
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let default = items.iter().find(|pm| pm["default"] == true).unwrap();
    assert_eq!(default["last4"], "4242");
    let path = |id: &Value| format!("/v1/billing/payment-methods/{}", id.as_str().unwrap());
    let (status, problem) = h
        .call("own", Method::DELETE, &path(&default["id"]), None)
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("default_payment_method"))
    );
    // Another organization's card is not found; an admin may not remove one.
    let other = h.fixtures.org("own").await;
    let (status, _) = h
        .call_in(&other, "own", Method::DELETE, &path(&added["id"]), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = h
        .call("adm", Method::DELETE, &path(&added["id"]), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = h
        .call("own", Method::DELETE, &path(&added["id"]), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, list) = h
        .call("own", Method::GET, "/v1/billing/payment-methods", None)
        .await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    let (status, _) = h
        .call(
            "own",
            Method::DELETE,
            "/v1/billing/payment-methods/pm_nope",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let activity = h.activity().await;
    assert!(activity.contains(&"payment_method.added".to_owned()));
    assert!(activity.contains(&"payment_method.removed".to_owned()));
}

#[tokio::test]
async fn usage_is_the_calendar_month_on_free_and_the_anchor_month_on_a_paid_plan() {
    let h = harness().await;
    let (status, usage) = h.call("adm", Method::GET, "/v1/billing/usage", None).await;
    assert_eq!(status, StatusCode::OK, "{usage}");
    assert_eq!(usage["plan"], "free");
    let today = time::OffsetDateTime::now_utc().date();
    let first = format!(
        "{:04}-{:02}-01T00:00:00.000Z",
        today.year(),
        u8::from(today.month())
    );
    assert_eq!(usage["period_start"], first);
    assert_eq!(
        usage["metrics"]["seats"],
        json!({"used": 4, "limit": 5, "percent": 80.0, "crossed": []})
    );
    assert_eq!(
        usage["metrics"]["messages"],
        json!({"used": 0, "limit": 1000, "percent": 0.0, "crossed": []})
    );
    // Once metering has checked (the relay does, when seats change), the level shows.
    let metering =
        metering::Metering::new(h.store.clone(), Clock::system(), clock::Duration::days(365));
    assert_eq!(metering.check(&h.org).await.unwrap().len(), 1);
    let (_, usage) = h.call("adm", Method::GET, "/v1/billing/usage", None).await;
    assert_eq!(usage["metrics"]["seats"]["crossed"], json!([80]));
    h.subscribe("enterprise", "year", "pm_card_visa").await;
    let (_, usage) = h.call("own", Method::GET, "/v1/billing/usage", None).await;
    assert_eq!(usage["plan"], "enterprise");
    assert_eq!(
        usage["metrics"]["seats"],
        json!({"used": 4, "limit": null, "percent": null, "crossed": []})
    );
    let start = h.subscription().await["current_period_start"]
        .as_str()
        .unwrap()[..10]
        .to_owned();
    assert_eq!(&usage["period_start"].as_str().unwrap()[..10], start);
}

#[tokio::test]
async fn a_downgrade_below_the_seats_in_use_is_refused_naming_both() {
    let h = harness().await;
    for user in ["m1", "m2", "m3", "m4", "m5", "m6", "m7"] {
        h.fixtures.add_member(&h.org, user, Role::Member).await;
    }
    h.subscribe("pro", "month", "pm_card_visa").await;
    let (status, problem) = h
        .call(
            "own",
            Method::PATCH,
            "/v1/billing/subscription",
            Some(json!({"plan": "starter"})),
        )
        .await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("seats_in_use"))
    );
    let detail = problem["detail"].as_str().unwrap();
    assert!(detail.contains("10") && detail.contains("11"), "{detail}");
}

#[tokio::test]
async fn roles_tenancy_and_bad_input() {
    let h = harness().await;
    // Reads: owners and admins; writes: owners.
    for (user, expected) in [
        ("own", 200),
        ("adm", 200),
        ("mem", 403),
        ("vie", 403),
        ("stranger", 403),
    ] {
        for path in [
            "/v1/billing/subscription",
            "/v1/billing/invoices",
            "/v1/billing/usage",
            "/v1/billing/payment-methods",
        ] {
            let (status, _) = h.call(user, Method::GET, path, None).await;
            assert_eq!(status.as_u16(), expected, "{user} GET {path}");
        }
    }
    for user in ["adm", "mem", "vie"] {
        let (status, _) = h
            .call(user, Method::POST, "/v1/billing/subscription", Some(json!({"plan": "pro", "interval": "month", "payment_method_id": "pm_card_visa"})))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
        let (status, _) = h
            .call(user, Method::DELETE, "/v1/billing/subscription", None)
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{user}");
    }
    // Plans are public.
    let plans = h
        .api
        .request(Method::GET, "/v1/billing/plans")
        .send()
        .await
        .expect(StatusCode::OK);
    assert_eq!(plans["items"].as_array().unwrap().len(), 4);
    assert_eq!(plans["next_cursor"], Value::Null);

    let bad_bodies = [
        json!({"plan": "free", "interval": "month"}),
        json!({"plan": "platinum", "interval": "month"}),
        json!({"plan": "pro", "interval": "week"}),
        json!({"plan": "pro", "interval": "month", "payment_method_id": "card_123"}),
        json!({"plan": "pro", "interval": "month", "payment_method_id": "pm_x\u{202e}"}),
        json!({"plan": "pro", "interval": "month", "coupon": "FREE"}),
        json!({"plan": "pro"}),
        json!([]),
    ];
    for body in bad_bodies {
        let (status, problem) = h
            .call(
                "own",
                Method::POST,
                "/v1/billing/subscription",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {problem}");
    }
    let (status, _) = h
        .call(
            "own",
            Method::PATCH,
            "/v1/billing/subscription",
            Some(json!({"plan": "starter"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "nothing to change");
    for query in ["plan=pro&interval=fortnight", "plan=free", "at=1"] {
        let (status, _) = h
            .call(
                "own",
                Method::GET,
                &format!("/v1/billing/subscription/preview?{query}"),
                None,
            )
            .await;
        assert!(status.is_client_error(), "{query}: {status}");
    }
    let (status, _) = h
        .call(
            "own",
            Method::DELETE,
            "/v1/billing/subscription?at_period_end=maybe",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(h.local.counts().await, (0, 0), "nothing reached Stripe");

    h.subscribe("pro", "month", "pm_card_visa").await;
    for body in [
        json!({}),
        json!({"plan": "pro"}),
        json!({"plan": "pro", "interval": "month"}),
        json!({"interval": "decade"}),
        json!({"plan": "free"}),
    ] {
        let (status, problem) = h
            .call(
                "own",
                Method::PATCH,
                "/v1/billing/subscription",
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {problem}");
    }
    let (status, _) = h
        .call(
            "own",
            Method::GET,
            "/v1/billing/subscription/preview?plan=pro",
            None,
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the current plan");
    // Another organization sees none of it.
    let other = h.fixtures.org("own").await;
    let (_, theirs) = h
        .call_in(&other, "own", Method::GET, "/v1/billing/subscription", None)
        .await;
    assert_eq!(theirs["plan"], "free");
    let (_, invoices) = h
        .call_in(&other, "own", Method::GET, "/v1/billing/invoices", None)
        .await;
    assert_eq!(invoices["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn the_sample_events_reach_their_routes() {
    let h = harness().await;
    let org = h.fixtures.org("local-user").await;
    let samples = [
        ("billing-list-plans.json", StatusCode::OK),
        ("billing-get-subscription.json", StatusCode::OK),
        ("billing-create-subscription.json", StatusCode::CREATED),
        ("billing-preview-change.json", StatusCode::OK),
        ("billing-change-subscription.json", StatusCode::OK),
        ("billing-cancel-subscription.json", StatusCode::OK),
        ("billing-resume-subscription.json", StatusCode::OK),
        ("billing-list-invoices.json", StatusCode::OK),
        ("billing-list-payment-methods.json", StatusCode::OK),
        ("billing-add-payment-method.json", StatusCode::CREATED),
        ("billing-remove-payment-method.json", StatusCode::NOT_FOUND),
        ("billing-usage.json", StatusCode::OK),
    ];
    test_support::samples::assert_samples_reach_their_routes(&h.api, &org, &samples).await;
}

/// The real binaries behind the local cloud's HTTP API: accounts, billing and the webhook, the
/// local Stripe posting its signed events to the gateway's public webhook route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_upgrade_and_renew_end_to_end_through_the_http_api() {
    let stripe = local_stripe::start(local_stripe::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..local_stripe::Config::default()
    })
    .await
    .unwrap();
    let stripe_url = stripe.url();
    let local =
        test_support::cloud::start_with("b", &test_support::cloud::table_name(), |config| {
            config
                .environment
                .insert("STRIPE_API_BASE".into(), stripe_url.clone());
        })
        .await;
    let control = StripeControl::new(stripe_url.clone());
    control
        .call(
            reqwest::Method::PUT,
            "/_local/webhook",
            json!({"url": format!("{}/v1/webhooks/stripe", local.api.base), "secret": "whsec_local"}),
        )
        .await;
    use reqwest::Method as M;
    let api = &local.api;
    let owner = test_support::token("e2e-billing-owner", json!({}));
    let (status, org) = api
        .call(
            M::POST,
            "/v1/orgs",
            &owner,
            None,
            Some(json!({"name": "Acme"})),
        )
        .await;
    assert_eq!(status, 201, "{org}");
    let org = org["id"].as_str().unwrap().to_owned();
    let (status, plans) = api.call(M::GET, "/v1/billing/plans", "", None, None).await;
    assert_eq!(
        (status, plans["items"].as_array().map(Vec::len)),
        (200, Some(4))
    );
    let (status, created) = api
        .call(
            M::POST,
            "/v1/billing/subscription",
            &owner,
            Some(&org),
            Some(json!({"plan": "starter", "interval": "month", "payment_method_id": "pm_card_visa"})),
        )
        .await;
    assert_eq!(
        (status, created["status"].as_str()),
        (201, Some("active")),
        "{created}"
    );
    let (status, preview) = api
        .call(
            M::GET,
            "/v1/billing/subscription/preview?plan=pro",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(
        (status, preview["amount_due_now"].as_i64()),
        (200, Some(9900 - 2900)),
        "{preview}"
    );
    let (status, upgraded) = api
        .call(
            M::PATCH,
            "/v1/billing/subscription",
            &owner,
            Some(&org),
            Some(json!({"plan": "pro"})),
        )
        .await;
    assert_eq!(
        (status, upgraded["plan"].as_str()),
        (200, Some("pro")),
        "{upgraded}"
    );
    control.settled().await;
    control.advance_days(31).await;
    let (status, invoices) = api
        .call(M::GET, "/v1/billing/invoices", &owner, Some(&org), None)
        .await;
    assert_eq!(status, 200);
    let reasons: Vec<(&str, i64)> = invoices["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["billing_reason"].as_str().unwrap(),
                i["amount_paid"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        reasons[0],
        ("subscription_cycle", 9900),
        "newest first: {reasons:?}"
    );
    assert!(
        reasons.contains(&("subscription_update", 7000)),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("subscription_create", 2900)),
        "{reasons:?}"
    );
    let (_, subscription) = api
        .call(M::GET, "/v1/billing/subscription", &owner, Some(&org), None)
        .await;
    assert_eq!(
        (
            subscription["plan"].as_str(),
            subscription["status"].as_str()
        ),
        (Some("pro"), Some("active"))
    );
    let (_, activity) = api
        .call(
            M::GET,
            "/v1/team/activity?action=subscription.created",
            &owner,
            Some(&org),
            None,
        )
        .await;
    assert_eq!(activity["items"].as_array().unwrap().len(), 1, "{activity}");
    // Every delivery was answered 2xx by the webhook function's real binary (settled above).
    assert!(control.events().await.len() > 10);
    local.cloud.shutdown();
}
