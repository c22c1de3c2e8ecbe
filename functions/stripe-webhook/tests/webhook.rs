//! The Stripe webhook against the local Stripe and DynamoDB Local: signatures on the raw body,
//! each event once, refetch before write ordered by our own version (whatever order events and
//! refetches arrive in), invoices mirrored, one notice per failed attempt, and chaos-mode
//! delivery ending where orderly delivery ends.

use std::sync::Arc;

use audit::ActivityEntry;
use billing::writer::{self, Stored};
use billing::{Billing, KeySource, PriceCatalog, StripeApi};
use clock::Clock;
use hmac::{Hmac, KeyInit, Mac};
use local_stripe::LocalStripe;
use plans::SubscriptionStatus;
use serde_json::{Value, json};
use sha2::Sha256;
use store::{Query, Store, keys};
use stripe::{Client, ClientBuilder};
use stripe_billing::subscription::{
    CreateSubscription, CreateSubscriptionItems, UpdateSubscription,
};
use stripe_core::customer::CreateCustomer;
use test_support::stripe::StripeControl;
use tokio::sync::Notify;

const SECRET: &str = "whsec_local";

struct Harness {
    /// Kept for the test's length: the server stops when it is dropped.
    _stripe: LocalStripe,
    local: StripeControl,
    client: Client,
    http: reqwest::Client,
    billing: Billing,
    store: Store,
    org: String,
    /// The webhook function's URL.
    webhook: String,
}

/// Serves `router` on a free port.
async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{addr}")
}

/// A table, an organization (owner `own`, admin `adm`), the webhook function served, and a
/// local Stripe posting to it (or keeping its events, with `deliver: false`). `stripe_base`
/// overrides the URL the function refetches from (a proxy in front of the local Stripe).
async fn harness_with(deliver: bool, proxy: Option<Proxy>) -> (Harness, Option<Proxy>) {
    let dynamodb = test_support::dynamodb_client();
    let table = test_support::fresh_table(&dynamodb).await;
    let store = Store::new(dynamodb, table);
    let clock = Clock::system();
    let fixtures = test_support::fixtures::Fixtures::new(store.clone(), clock.clone());
    let org = fixtures.org("own").await;
    fixtures.add_member(&org, "adm", auth::Role::Admin).await;
    // The listener first, so the local Stripe knows where to post.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let webhook = format!(
        "http://{}/v1/webhooks/stripe",
        listener.local_addr().unwrap()
    );
    let stripe = local_stripe::start(local_stripe::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        webhook_url: deliver.then(|| webhook.clone()),
        retry: local_stripe::RetryPolicy {
            first_ms: 50,
            max_attempts: 8,
        },
        ..local_stripe::Config::default()
    })
    .await
    .unwrap();
    let proxy = match proxy {
        Some(mut proxy) => {
            proxy.target = stripe.url();
            Some(proxy.start().await)
        }
        None => None,
    };
    let base = proxy
        .as_ref()
        .map_or_else(|| stripe.url(), |p| p.url.clone());
    let billing = Billing::new(
        store.clone(),
        StripeApi::new(Some(base), KeySource::fixed("sk_test_local", SECRET)),
        PriceCatalog::local(),
        clock,
        clock::Duration::days(365),
    );
    let router = stripe_webhook_function::router(billing.clone());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let client = ClientBuilder::new("sk_test_local")
        .url(stripe.url())
        .build()
        .unwrap();
    let harness = Harness {
        local: StripeControl::new(stripe.url()),
        _stripe: stripe,
        client,
        http: reqwest::Client::new(),
        billing,
        store,
        org,
        webhook,
    };
    (harness, proxy)
}

async fn harness() -> Harness {
    harness_with(true, None).await.0
}

fn sign(payload: &str, t: i64, secret: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn now_epoch() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

impl Harness {
    /// The request that moves `subscription`'s one item to `price`.
    async fn change_price(&self, subscription: &str, price: &str) -> UpdateSubscription {
        let current = self
            .billing
            .stripe()
            .subscription(subscription)
            .await
            .unwrap();
        UpdateSubscription::new(subscription).items(vec![
            stripe_billing::subscription::UpdateSubscriptionItems {
                id: Some(current.items.data[0].id.to_string()),
                price: Some(price.to_owned()),
                ..stripe_billing::subscription::UpdateSubscriptionItems::new()
            },
        ])
    }

    /// A customer of the organization, known to Stripe by its metadata only: the webhook adopts
    /// it on its first event.
    async fn customer(&self) -> String {
        let customer = CreateCustomer::new()
            .email("billing@acme.example")
            .metadata(std::collections::HashMap::from([(
                "org_id".to_owned(),
                self.org.clone(),
            )]))
            .send(&self.client)
            .await
            .unwrap();
        customer.id.to_string()
    }

    async fn subscribe(&self, customer: &str, price: &str, card: &str) -> String {
        CreateSubscription::new()
            .customer(customer)
            .default_payment_method(card)
            .items(vec![CreateSubscriptionItems {
                price: Some(price.to_owned()),
                ..CreateSubscriptionItems::new()
            }])
            .send(&self.client)
            .await
            .unwrap()
            .id
            .to_string()
    }

    async fn stored(&self) -> Stored {
        writer::stored(&self.store, &self.org)
            .await
            .unwrap()
            .unwrap()
    }

    async fn status(&self) -> Option<SubscriptionStatus> {
        self.stored().await.facts.map(|f| f.status)
    }

    /// The organization's activity entries, oldest first: (action, target).
    async fn activity(&self) -> Vec<(String, String)> {
        let (items, _) = self
            .store
            .query_all::<ActivityEntry>(
                Query::new("t", keys::activities(keys::OrgId(&self.org)), 100, None),
                10,
            )
            .await
            .unwrap();
        items
            .into_iter()
            .filter(|e| e.action != "org.created" && e.action != "member.joined")
            .map(|e| (e.action, e.target_id))
            .collect()
    }

    async fn notices(&self) -> Vec<outbox::OutboxRecord> {
        let query = Query::new("t", keys::outbox(keys::OrgId(&self.org)), 100, None);
        self.store.query(query).await.unwrap().items
    }

    async fn invoices(&self) -> Vec<billing::invoices::InvoiceRecord> {
        billing::invoices::list(&self.store, &self.org, 100, None)
            .await
            .unwrap()
            .items
    }

    async fn post(&self, body: &str, signature: Option<&str>) -> (u16, Value) {
        let mut request = self
            .http
            .post(&self.webhook)
            .header("content-type", "application/json")
            .body(body.to_owned());
        if let Some(signature) = signature {
            request = request.header("stripe-signature", signature);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// Delivers `event` signed now, as Stripe would.
    async fn deliver(&self, event: &Value) -> (u16, Value) {
        let body = event.to_string();
        self.post(&body, Some(&sign(&body, now_epoch(), SECRET)))
            .await
    }
}

#[tokio::test]
async fn a_subscription_converges_from_the_webhooks_alone() {
    let h = harness().await;
    let customer = h.customer().await;
    let subscription = h
        .subscribe(&customer, "price_pro_month", "pm_card_visa")
        .await;
    h.local.settled().await;
    let stored = h.stored().await;
    let facts = stored.facts.expect("facts stored");
    assert_eq!(facts.status, SubscriptionStatus::Active);
    assert_eq!(facts.plan, "pro");
    assert_eq!(
        stored.subscription_id.as_deref(),
        Some(subscription.as_str())
    );
    // The customer was adopted through its metadata: profile and lookup both written.
    assert_eq!(stored.customer_id.as_deref(), Some(customer.as_str()));
    assert!(
        h.store
            .get::<Value>(&keys::stripe_customer(&customer))
            .await
            .unwrap()
            .is_some()
    );
    // One entry per change: the subscription appeared once, already active (every event was
    // refetched after the request that made it), and its first invoice was stored once, paid.
    let activity = h.activity().await;
    assert_eq!(
        activity
            .iter()
            .filter(|(a, _)| a == "subscription.created")
            .count(),
        1,
        "{activity:?}"
    );
    assert!(
        !activity.iter().any(|(a, _)| a == "subscription.updated"),
        "{activity:?}"
    );
    let invoices = h.invoices().await;
    assert_eq!(invoices.len(), 1);
    assert_eq!(invoices[0].status, "paid");
    assert_eq!(invoices[0].amount_paid, 9900);
    assert_eq!(
        invoices[0].subscription_id.as_deref(),
        Some(subscription.as_str())
    );
    // The subscription's start is told to owners and admins, once.
    let notices = h.notices().await;
    assert_eq!(notices.len(), 1, "{notices:?}");
}

#[tokio::test]
async fn signatures_are_checked_on_the_raw_body_and_bad_ones_change_nothing() {
    let (h, _) = harness_with(false, None).await;
    let customer = h.customer().await;
    h.subscribe(&customer, "price_starter_month", "pm_card_visa")
        .await;
    let event = h
        .local
        .events()
        .await
        .into_iter()
        .find(|e| e["type"] == "customer.subscription.created")
        .unwrap();
    let body = event.to_string();
    let now = now_epoch();
    let refused = [
        ("wrong secret", Some(sign(&body, now, "whsec_other"))),
        ("stale", Some(sign(&body, now - 301, SECRET))),
        ("missing", None),
        ("malformed", Some("v1=abc".to_owned())),
    ];
    for (case, signature) in refused {
        let (status, problem) = h.post(&body, signature.as_deref()).await;
        assert_eq!(status, 400, "{case}");
        assert_eq!(problem["code"], "invalid_signature", "{case}");
    }
    // Tampered: signed, then one byte changed.
    let signature = sign(&body, now, SECRET);
    let tampered = body.replacen("starter", "enterpr", 1);
    let (status, _) = h.post(&tampered, Some(&signature)).await;
    assert_eq!(status, 400);
    // The same bytes with other whitespace are another body.
    let (status, _) = h.post(&format!("{body} "), Some(&signature)).await;
    assert_eq!(status, 400);
    assert_eq!(h.status().await, None, "nothing was stored");
    assert!(h.activity().await.is_empty());
    // The body exactly as signed is processed; the same event again is dropped.
    let (status, answer) = h.post(&body, Some(&signature)).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("changed")));
    let (status, answer) = h.post(&body, Some(&signature)).await;
    assert_eq!(
        (status, answer["outcome"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(h.activity().await.len(), 1);
}

#[tokio::test]
async fn events_in_any_order_end_in_stripes_state() {
    let (h, _) = harness_with(false, None).await;
    let customer = h.customer().await;
    let subscription = h
        .subscribe(&customer, "price_pro_month", "pm_card_visa")
        .await;
    // Then upgrade to enterprise: a newer `updated` event.
    h.change_price(&subscription, "price_enterprise_month")
        .await
        .send(&h.client)
        .await
        .unwrap();
    let events = h.local.events().await;
    let of = |kind: &str| -> Vec<Value> {
        events
            .iter()
            .filter(|e| e["type"] == kind)
            .cloned()
            .collect()
    };
    let updated = of("customer.subscription.updated");
    assert!(
        updated.len() >= 2,
        "an update for the payment and one for the plan"
    );
    // `updated` (the newest) before `created`, then the older `updated` after it.
    assert_eq!(h.deliver(updated.last().unwrap()).await.0, 200);
    assert_eq!(h.status().await, Some(SubscriptionStatus::Active));
    assert_eq!(h.stored().await.facts.unwrap().plan, "enterprise");
    let older = &updated[..updated.len() - 1];
    for event in of("customer.subscription.created").iter().chain(older) {
        let (status, answer) = h.deliver(event).await;
        assert_eq!(
            (status, answer["outcome"].as_str()),
            (200, Some("unchanged"))
        );
    }
    assert_eq!(h.stored().await.facts.unwrap().plan, "enterprise");
    assert_eq!(
        h.activity().await,
        vec![("subscription.created".to_owned(), subscription)]
    );
}

#[tokio::test]
async fn an_event_with_fields_no_one_knows_yet_is_processed() {
    let (h, _) = harness_with(false, None).await;
    let customer = h.customer().await;
    h.subscribe(&customer, "price_pro_year", "pm_card_visa")
        .await;
    let mut event = h
        .local
        .events()
        .await
        .into_iter()
        .find(|e| e["type"] == "customer.subscription.updated")
        .unwrap();
    event["brand_new_field"] = json!({"nested": [1, 2, 3]});
    event["data"]["object"]["items"] = json!("a shape that changed");
    event["data"]["object"]["future_thing"] = json!({"object": "future_thing", "id": "ft_1"});
    let (status, answer) = h.deliver(&event).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("changed")));
    assert_eq!(h.stored().await.facts.unwrap().plan, "pro");
    // A type billing does not handle, and an unknown customer: 200, ignored.
    let mut other = event.clone();
    other["id"] = json!("evt_other_type");
    other["type"] = json!("charge.refund.updated");
    assert_eq!(h.deliver(&other).await.1["outcome"], "ignored");
    // A type whose object has no id at all (a Balance).
    let balance = json!({"id": "evt_balance", "object": "event", "type": "balance.available",
        "data": {"object": {"object": "balance", "available": [{"amount": 1, "currency": "usd"}]}}});
    assert_eq!(h.deliver(&balance).await.1["outcome"], "ignored");
    let no_object = json!({"id": "evt_bare", "type": "customer.subscription.updated"});
    assert_eq!(h.deliver(&no_object).await.1["outcome"], "ignored");
    let mut stranger = event.clone();
    stranger["id"] = json!("evt_stranger");
    stranger["data"]["object"]["customer"] = json!("cus_nobody");
    assert_eq!(h.deliver(&stranger).await.1["outcome"], "ignored");
}

/// A reverse proxy to the local Stripe that can hold the answer of one subscription read.
struct Proxy {
    target: String,
    url: String,
    hold: Arc<Hold>,
}

#[derive(Default)]
struct Hold {
    armed: std::sync::atomic::AtomicBool,
    holding: Notify,
    release: Notify,
}

impl Proxy {
    fn new() -> Self {
        Self {
            target: String::new(),
            url: String::new(),
            hold: Arc::default(),
        }
    }

    async fn start(mut self) -> Self {
        let target = self.target.clone();
        let hold = self.hold.clone();
        let http = reqwest::Client::new();
        let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let (target, hold, http) = (target.clone(), hold.clone(), http.clone());
            async move {
                let (parts, body) = request.into_parts();
                let body = axum::body::to_bytes(body, usize::MAX).await.unwrap();
                let path = parts.uri.path_and_query().unwrap().as_str().to_owned();
                let mut forward = http.request(parts.method.clone(), format!("{target}{path}"));
                for (name, value) in &parts.headers {
                    if name != "host" {
                        forward = forward.header(name, value);
                    }
                }
                let answer = forward.body(body).send().await.unwrap();
                let status = answer.status();
                let bytes = answer.bytes().await.unwrap();
                let is_subscription_read =
                    parts.method == http::Method::GET && path.starts_with("/v1/subscriptions/");
                if is_subscription_read
                    && hold.armed.swap(false, std::sync::atomic::Ordering::SeqCst)
                {
                    // Read now, answered only once the test says so.
                    hold.holding.notify_one();
                    hold.release.notified().await;
                }
                axum::response::Response::builder()
                    .status(status.as_u16())
                    .header("content-type", "application/json")
                    .body(axum::body::Body::from(bytes))
                    .unwrap()
            }
        });
        self.url = serve(router).await;
        self
    }
}

#[tokio::test]
async fn when_refetches_answer_in_reverse_order_the_newest_state_wins() {
    let (h, proxy) = harness_with(false, Some(Proxy::new())).await;
    let hold = proxy.unwrap().hold;
    let customer = h.customer().await;
    let subscription = h
        .subscribe(&customer, "price_starter_month", "pm_card_visa")
        .await;
    let first = h
        .local
        .events()
        .await
        .into_iter()
        .find(|e| e["type"] == "customer.subscription.created")
        .unwrap();
    // Handler A reads Stripe's state (starter) and is held before it writes.
    hold.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    let a = {
        let h_billing = h.billing.clone();
        let body = first.to_string();
        tokio::spawn(async move {
            let signature = sign(&body, now_epoch(), SECRET);
            h_billing
                .handle_webhook(body.as_bytes(), Some(&signature))
                .await
        })
    };
    hold.holding.notified().await;
    // Meanwhile the plan changes at Stripe, and handler B stores the new state (pro).
    h.change_price(&subscription, "price_pro_month")
        .await
        .send(&h.client)
        .await
        .unwrap();
    let newest = h
        .local
        .events()
        .await
        .into_iter()
        .rfind(|e| e["type"] == "customer.subscription.updated")
        .unwrap();
    assert_eq!(h.deliver(&newest).await.1["outcome"], "changed");
    assert_eq!(h.stored().await.facts.unwrap().plan, "pro");
    // A's answer (starter) arrives last: its write loses on the version, it re-reads and
    // refetches, and finds nothing newer to store.
    hold.release.notify_one();
    let outcome = a.await.unwrap().unwrap();
    assert_eq!(outcome, billing::webhook::Handled::Unchanged);
    let stored = h.stored().await;
    assert_eq!(stored.facts.unwrap().plan, "pro");
    assert_eq!(stored.version, 1, "one write: B's");
}

#[tokio::test]
async fn a_failed_renewal_is_past_due_with_one_notice_per_attempt_then_free_after_the_grace() {
    let h = harness().await;
    let customer = h.customer().await;
    h.subscribe(&customer, "price_pro_month", "pm_card_visa")
        .await;
    h.local.settled().await;
    let before = h.notices().await.len();
    // The renewal fails, and so does the first retry three days later.
    h.local.fail_next_payment(&customer).await;
    h.local.advance_days(31).await;
    let stored = h.stored().await;
    let facts = stored.facts.unwrap();
    assert_eq!(facts.status, SubscriptionStatus::PastDue);
    let since = facts.past_due_since.expect("past due since the failure");
    h.local.fail_next_payment(&customer).await;
    h.local.advance_days(3).await;
    let facts = h.stored().await.facts.unwrap();
    assert_eq!(facts.status, SubscriptionStatus::PastDue);
    assert_eq!(
        facts.past_due_since,
        Some(since),
        "the grace runs from the first failure"
    );
    let failures: Vec<_> = h
        .notices()
        .await
        .into_iter()
        .skip(before)
        .filter_map(|n| match n.record {
            outbox::SideEffect::Notify { recipients, notice }
                if notice.title == "Payment failed" =>
            {
                Some((recipients, notice.data["attempt_count"].clone()))
            }
            _ => None,
        })
        .collect();
    let managers = outbox::Recipients::Roles(vec![auth::Role::Owner, auth::Role::Admin]);
    assert_eq!(
        failures,
        vec![(managers.clone(), json!(1)), (managers, json!(2))],
        "one notice per failed attempt, to owners and admins"
    );
    let renewal = h
        .invoices()
        .await
        .into_iter()
        .find(|i| i.billing_reason.as_deref() == Some("subscription_cycle"))
        .unwrap();
    assert_eq!(
        (renewal.status.as_str(), renewal.attempt_count),
        ("open", 2)
    );
    // Within the grace the plan holds; after it, the free plan's limits apply.
    let profile: accounts::OrgRecord = h
        .store
        .get(&keys::org_profile(keys::OrgId(&h.org)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        profile.effective_plan(since + clock::Duration::days(6)).id,
        "pro"
    );
    assert_eq!(
        profile.effective_plan(since + clock::Duration::days(8)).id,
        "free"
    );
    // The next retry succeeds: active again, with its own notice and no further failure one.
    h.local.advance_days(2).await;
    let facts = h.stored().await.facts.unwrap();
    assert_eq!(facts.status, SubscriptionStatus::Active);
    assert_eq!(facts.past_due_since, None);
}

/// Runs one flow (subscribe, upgrade, fail a renewal, recover, cancel) and answers the final
/// facts, invoices and activity entries.
async fn flow(chaos: bool) -> (Value, Vec<(String, i64, String)>, Vec<String>) {
    let h = harness().await;
    if chaos {
        h.local
            .call(
                reqwest::Method::PUT,
                "/_local/chaos",
                json!({"enabled": true, "duplicate_every": 2, "reorder_every": 3}),
            )
            .await;
    }
    let customer = h.customer().await;
    let subscription = h
        .subscribe(&customer, "price_starter_month", "pm_card_visa")
        .await;
    h.local.settled().await;
    h.change_price(&subscription, "price_pro_month")
        .await
        .proration_behavior(
            stripe_billing::subscription::UpdateSubscriptionProrationBehavior::AlwaysInvoice,
        )
        .send(&h.client)
        .await
        .unwrap();
    h.local.settled().await;
    h.local.fail_next_payment(&customer).await;
    h.local.advance_days(31).await;
    h.local.advance_days(3).await;
    UpdateSubscription::new(subscription.as_str())
        .cancel_at_period_end(true)
        .send(&h.client)
        .await
        .unwrap();
    h.local.settled().await;
    let mut facts = serde_json::to_value(h.stored().await.facts.unwrap()).unwrap();
    // Times follow each run's clock; the rest must match.
    for field in ["current_period_start", "current_period_end"] {
        facts.as_object_mut().unwrap().remove(field);
    }
    // Invoices made in the same second sort by id, which differs between runs.
    let mut invoices: Vec<_> = h
        .invoices()
        .await
        .into_iter()
        .map(|i| {
            (
                i.status,
                i.amount_paid,
                i.billing_reason.unwrap_or_default(),
            )
        })
        .collect();
    invoices.sort();
    let activity = h.activity().await.into_iter().map(|(a, _)| a).collect();
    (facts, invoices, activity)
}

#[tokio::test]
async fn chaos_mode_delivery_ends_in_the_same_state_and_entries_as_orderly_delivery() {
    let orderly = flow(false).await;
    let chaotic = flow(true).await;
    assert_eq!(orderly.0["status"], "active");
    assert_eq!(orderly.0["cancel_at_period_end"], true);
    assert_eq!(orderly, chaotic);
}

#[tokio::test]
async fn the_signed_sample_event_reaches_the_route() {
    let (h, _) = harness_with(false, None).await;
    let raw =
        std::fs::read_to_string(test_support::samples::dir().join("stripe-webhook-event.json"))
            .unwrap();
    let sample: Value = serde_json::from_str(&raw).unwrap();
    let body = sample["body"].as_str().unwrap();
    // As committed, its signature is long past the tolerance.
    let signature = sample["headers"]["stripe-signature"].as_str().unwrap();
    let (status, problem) = h.post(body, Some(signature)).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (400, Some("invalid_signature"))
    );
    // Signed afresh with the local secret (as events/README.md shows): its customer is no
    // organization's, so it is acknowledged and ignored.
    let (status, answer) = h.post(body, Some(&sign(body, now_epoch(), SECRET))).await;
    assert_eq!((status, answer["outcome"].as_str()), (200, Some("ignored")));
    // Through lambda_http's own event parsing, as in Lambda.
    let router = stripe_webhook_function::router(h.billing.clone());
    let client = test_support::api::ApiClient::new(router);
    let fresh = raw.replace(signature, &sign(body, now_epoch(), SECRET));
    let request = lambda_http::request::from_str(&fresh).unwrap();
    let (parts, body) = request.into_parts();
    let reply = client
        .send(http::Request::from_parts(
            parts,
            axum::body::Body::from(body.to_vec()),
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// The keys from Secrets Manager (moto), as the functions read them in AWS: fetched on first
/// use, then cached (a secret deleted afterwards is still known to the running instance).
#[tokio::test]
async fn the_stripe_keys_come_from_secrets_manager_once() {
    let client = aws_sdk_secretsmanager::Client::new(&test_support::local_sdk_config(
        &test_support::sqs_endpoint(),
    ));
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let mut arns = Vec::new();
    for (name, value) in [
        ("key", "sk_test_from_secrets"),
        ("webhook", "whsec_from_secrets"),
    ] {
        let created = client
            .create_secret()
            .name(format!("stripe-{name}-{id}"))
            .secret_string(value)
            .send()
            .await
            .unwrap();
        arns.push(created.arn.unwrap());
    }
    let env = config::Env::from_pairs([
        ("STRIPE_SECRET_KEY_SECRET_ID", arns[0].as_str()),
        ("STRIPE_WEBHOOK_SECRET_SECRET_ID", arns[1].as_str()),
        // Ignored while an id is set.
        ("STRIPE_SECRET_KEY", "sk_test_env"),
    ]);
    let keys = KeySource::from_env(&env, || client.clone()).unwrap();
    assert_eq!(keys.secret_key().await.unwrap(), "sk_test_from_secrets");
    assert_eq!(keys.webhook_secret().await.unwrap(), "whsec_from_secrets");
    for arn in &arns {
        client
            .delete_secret()
            .secret_id(arn)
            .force_delete_without_recovery(true)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(
        keys.secret_key().await.unwrap(),
        "sk_test_from_secrets",
        "cached"
    );
    // An id that names no secret: the first use fails with the id named, and nothing panics.
    let env = config::Env::from_pairs([("STRIPE_SECRET_KEY_SECRET_ID", "no-such-secret")]);
    let missing = KeySource::from_env(&env, || client.clone()).unwrap();
    let error = missing.secret_key().await.unwrap_err().to_string();
    assert!(error.contains("no-such-secret"), "{error}");
    assert!(missing.webhook_secret().await.is_err(), "not configured");
}
