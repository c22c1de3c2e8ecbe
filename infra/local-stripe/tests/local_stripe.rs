//! The local Stripe, driven by async-stripe's own client and webhook code, as the billing
//! functions will drive it: every object it returns and every event it sends must parse with
//! async-stripe's types, and behave as Stripe's documentation says.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeRequest};
use stripe_billing::invoice::{
    CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
    CreatePreviewInvoiceSubscriptionDetailsItems, ListInvoice,
};
use stripe_billing::subscription::{
    CancelSubscription, CreateSubscription, CreateSubscriptionItems,
    CreateSubscriptionPaymentBehavior, RetrieveSubscription, UpdateSubscription,
    UpdateSubscriptionItems, UpdateSubscriptionPaymentBehavior,
    UpdateSubscriptionProrationBehavior,
};
use stripe_billing::subscription_schedule::{
    CreateSubscriptionSchedule, UpdateSubscriptionSchedule, UpdateSubscriptionSchedulePhases,
    UpdateSubscriptionSchedulePhasesItems, UpdateSubscriptionSchedulePhasesStartDate,
};
use stripe_billing::{Invoice, Subscription, SubscriptionStatus};
use stripe_core::customer::{
    CreateCustomer, DeleteCustomer, RetrieveCustomer, RetrieveCustomerReturned, UpdateCustomer,
    UpdateCustomerInvoiceSettings,
};
use stripe_payment::payment_method::{AttachPaymentMethod, DetachPaymentMethod, ListPaymentMethod};
use stripe_product::price::ListPrice;
use stripe_webhook::{EventObject, Webhook};

const SECRET: &str = "whsec_local";
const DAY: i64 = 86_400;

/// A local Stripe on a free port, with its own webhook receiver.
struct Harness {
    stripe: local_stripe::LocalStripe,
    client: Client,
    http: reqwest::Client,
    received: Arc<Mutex<Vec<(String, String)>>>,
    /// What the receiver answers (200 unless a test says otherwise).
    answer: Arc<Mutex<u16>>,
}

async fn harness() -> Harness {
    let received = Arc::new(Mutex::new(Vec::new()));
    let answer = Arc::new(Mutex::new(200u16));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook_addr = listener.local_addr().unwrap();
    let (sink, status) = (received.clone(), answer.clone());
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, body: String| {
        let (sink, status) = (sink.clone(), status.clone());
        async move {
            let signature = headers
                .get("stripe-signature")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            sink.lock().unwrap().push((signature, body));
            axum::http::StatusCode::from_u16(*status.lock().unwrap()).unwrap()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let stripe = local_stripe::start(local_stripe::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        webhook_url: Some(format!("http://{hook_addr}/v1/webhooks/stripe")),
        retry: local_stripe::RetryPolicy {
            first_ms: 50,
            max_attempts: 4,
        },
        ..local_stripe::Config::default()
    })
    .await
    .unwrap();
    let client = ClientBuilder::new("sk_test_local")
        .url(stripe.url())
        .build()
        .unwrap();
    Harness {
        stripe,
        client,
        http: reqwest::Client::new(),
        received,
        answer,
    }
}

impl Harness {
    async fn control(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        let response = self
            .http
            .request(method, format!("{}/_local/{path}", self.stripe.url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    async fn advance_days(&self, days: i64) {
        self.control(
            reqwest::Method::POST,
            "clock/advance",
            json!({ "days": days }),
        )
        .await;
    }

    async fn now(&self) -> i64 {
        self.control(reqwest::Method::GET, "status", Value::Null)
            .await["now"]
            .as_i64()
            .unwrap()
    }

    /// Every event recorded so far, oldest first.
    async fn events(&self) -> Vec<Value> {
        let listed = self
            .control(reqwest::Method::GET, "events", Value::Null)
            .await;
        listed["events"].as_array().unwrap().clone()
    }

    async fn event_types(&self) -> Vec<String> {
        self.events()
            .await
            .iter()
            .map(|e| e["type"].as_str().unwrap().to_owned())
            .collect()
    }

    /// A raw form request, as any Stripe client sends one.
    async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        form: &str,
        key: Option<&str>,
    ) -> (u16, Value, reqwest::header::HeaderMap) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.stripe.url()))
            .bearer_auth("sk_test_local")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form.to_owned());
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, response.json().await.unwrap(), headers)
    }

    async fn customer_with_card(&self, card: &str) -> String {
        let customer = CreateCustomer::new()
            .email("billing@acme.example")
            .name("Acme")
            .metadata([("org_id".to_owned(), "01JORG".to_owned())])
            .send(&self.client)
            .await
            .unwrap();
        let pm = AttachPaymentMethod::new(card)
            .customer(customer.id.as_str())
            .send(&self.client)
            .await
            .unwrap();
        UpdateCustomer::new(customer.id.clone())
            .invoice_settings(UpdateCustomerInvoiceSettings {
                default_payment_method: Some(pm.id.to_string()),
                ..Default::default()
            })
            .send(&self.client)
            .await
            .unwrap();
        customer.id.to_string()
    }

    /// A customer paying by `pm_card_visa`, subscribed to `price`.
    async fn subscribed(&self, price: &str) -> (String, Subscription) {
        let customer = self.customer_with_card("pm_card_visa").await;
        let subscription = self
            .subscribe(
                &customer,
                price,
                CreateSubscriptionPaymentBehavior::AllowIncomplete,
            )
            .await
            .unwrap();
        (customer, subscription)
    }

    async fn subscribe(
        &self,
        customer: &str,
        price: &str,
        behavior: CreateSubscriptionPaymentBehavior,
    ) -> Result<Subscription, stripe::StripeError> {
        CreateSubscription::new()
            .customer(customer)
            .items(vec![CreateSubscriptionItems {
                price: Some(price.to_owned()),
                ..CreateSubscriptionItems::new()
            }])
            .payment_behavior(behavior)
            .expand(vec!["latest_invoice.confirmation_secret".to_owned()])
            .send(&self.client)
            .await
    }
}

fn latest_invoice(subscription: &Subscription) -> &Invoice {
    subscription
        .latest_invoice
        .as_ref()
        .and_then(|invoice| invoice.as_object())
        .expect("latest_invoice is expanded")
}

/// A request that moves the subscription's one item to `price`.
fn change_price(subscription: &Subscription, price: &str) -> UpdateSubscription {
    UpdateSubscription::new(subscription.id.clone()).items(vec![UpdateSubscriptionItems {
        id: Some(subscription.items.data[0].id.to_string()),
        price: Some(price.to_owned()),
        ..UpdateSubscriptionItems::new()
    }])
}

/// The `subscription_details` of a preview of the same change.
fn preview_price(
    subscription: &Subscription,
    price: &str,
) -> CreatePreviewInvoiceSubscriptionDetails {
    CreatePreviewInvoiceSubscriptionDetails {
        items: Some(vec![CreatePreviewInvoiceSubscriptionDetailsItems {
            id: Some(subscription.items.data[0].id.to_string()),
            price: Some(price.to_owned()),
            ..CreatePreviewInvoiceSubscriptionDetailsItems::new()
        }]),
        ..CreatePreviewInvoiceSubscriptionDetails::new()
    }
}

/// The PaymentIntent behind the latest invoice's client secret (`pi_…_secret_…`).
fn intent_to_confirm(subscription: &Subscription) -> String {
    let secret = &latest_invoice(subscription)
        .confirmation_secret
        .as_ref()
        .unwrap()
        .client_secret;
    secret.split("_secret_").next().unwrap().to_owned()
}

fn line_amounts(invoice: &Invoice) -> Vec<i64> {
    invoice.lines.data.iter().map(|l| l.amount).collect()
}

/// Every event the server recorded parses with async-stripe's webhook code (signature and
/// object), and every delivered one was signed so that it verifies.
async fn assert_events_parse(h: &Harness) {
    let events = h.events().await;
    assert!(!events.is_empty());
    for record in &events {
        let payload = record["event"].to_string();
        let header =
            local_stripe::webhooks::signature(&payload, SECRET, local_stripe::state::wall_clock());
        let event = Webhook::construct_event(&payload, &header, SECRET)
            .unwrap_or_else(|e| panic!("{} does not parse: {e:?}\n{payload}", record["type"]));
        assert!(
            !matches!(event.data.object, EventObject::Unknown(_)),
            "{} parsed as an unknown object",
            record["type"]
        );
    }
    // Deliveries settle (retries are 50 ms apart here).
    for _ in 0..100 {
        if h.received.lock().unwrap().len() >= events.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let received = h.received.lock().unwrap().clone();
    assert!(
        received.len() >= events.len(),
        "{} of {} delivered",
        received.len(),
        events.len()
    );
    for (signature, body) in &received {
        Webhook::construct_event(body, signature, SECRET)
            .expect("a delivered event verifies with the shared secret");
        assert!(Webhook::construct_event(body, signature, "whsec_other").is_err());
    }
}

#[tokio::test]
async fn every_object_and_event_parses_with_async_stripe() {
    let h = harness().await;
    let prices = ListPrice::new().send(&h.client).await.unwrap();
    let ids: Vec<&str> = prices.data.iter().map(|p| p.id.as_str()).collect();
    for plan in ["starter", "pro", "enterprise"] {
        for interval in ["month", "year"] {
            assert!(
                ids.contains(&format!("price_{plan}_{interval}").as_str()),
                "{ids:?}"
            );
        }
    }
    let (customer, subscription) = h.subscribed("price_starter_month").await;
    assert_eq!(subscription.status, SubscriptionStatus::Active);
    assert_eq!(latest_invoice(&subscription).amount_paid, 2900);

    // Retrieve, list, preview, schedule, cancel at period end, renew: every shape once.
    let RetrieveCustomerReturned::Customer(fetched) = RetrieveCustomer::new(customer.as_str())
        .send(&h.client)
        .await
        .unwrap()
    else {
        panic!("the customer is not deleted");
    };
    assert_eq!(fetched.metadata.unwrap()["org_id"], "01JORG");
    let methods = ListPaymentMethod::new()
        .customer(customer.as_str())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(methods.data.len(), 1);
    RetrieveSubscription::new(subscription.id.clone())
        .expand(vec![
            "latest_invoice.payments".to_owned(),
            "customer".to_owned(),
            "default_payment_method".to_owned(),
        ])
        .send(&h.client)
        .await
        .unwrap();
    let preview = CreatePreviewInvoice::new()
        .customer(customer.as_str())
        .subscription(subscription.id.as_str())
        .subscription_details(preview_price(&subscription, "price_pro_month"))
        .send(&h.client)
        .await
        .unwrap();
    assert!(preview.id.is_none());
    let schedule = CreateSubscriptionSchedule::new()
        .from_subscription(subscription.id.as_str())
        .send(&h.client)
        .await
        .unwrap();
    let phase = &schedule.phases[0];
    UpdateSubscriptionSchedule::new(schedule.id.clone())
        .phases(vec![
            UpdateSubscriptionSchedulePhases {
                start_date: Some(UpdateSubscriptionSchedulePhasesStartDate::Timestamp(phase.start_date)),
                end_date: Some(stripe_billing::subscription_schedule::UpdateSubscriptionSchedulePhasesEndDate::Timestamp(phase.end_date)),
                ..UpdateSubscriptionSchedulePhases::new(vec![UpdateSubscriptionSchedulePhasesItems {
                    price: Some("price_starter_month".into()),
                    ..UpdateSubscriptionSchedulePhasesItems::new()
                }])
            },
            UpdateSubscriptionSchedulePhases::new(vec![UpdateSubscriptionSchedulePhasesItems {
                price: Some("price_pro_month".into()),
                ..UpdateSubscriptionSchedulePhasesItems::new()
            }]),
        ])
        .send(&h.client)
        .await
        .unwrap();
    h.advance_days(32).await;
    let invoices = ListInvoice::new()
        .customer(customer.as_str())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(invoices.data.len(), 2);
    assert_eq!(
        line_amounts(&invoices.data[0]),
        [9900],
        "the renewal bills the schedule's next phase"
    );
    UpdateSubscription::new(subscription.id.clone())
        .cancel_at_period_end(true)
        .send(&h.client)
        .await
        .unwrap();
    let declined = h.customer_with_card("pm_card_chargeDeclined").await;
    h.subscribe(
        &declined,
        "price_pro_year",
        CreateSubscriptionPaymentBehavior::AllowIncomplete,
    )
    .await
    .unwrap();
    let pm = ListPaymentMethod::new()
        .customer(declined.as_str())
        .send(&h.client)
        .await
        .unwrap()
        .data[0]
        .id
        .clone();
    DetachPaymentMethod::new(pm).send(&h.client).await.unwrap();
    CancelSubscription::new(subscription.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    DeleteCustomer::new(declined.as_str())
        .send(&h.client)
        .await
        .unwrap();
    let gone = RetrieveCustomer::new(declined.as_str())
        .send(&h.client)
        .await
        .unwrap();
    assert!(
        matches!(gone, RetrieveCustomerReturned::DeletedCustomer(_)),
        "a deleted customer reads as deleted"
    );
    assert_events_parse(&h).await;
}

#[tokio::test]
async fn an_idempotency_key_replays_the_first_answer_and_refuses_other_parameters() {
    let h = harness().await;
    let (status, first, _) = h
        .raw(
            reqwest::Method::POST,
            "/v1/customers",
            "email=a%40example.com",
            Some("key-1"),
        )
        .await;
    assert_eq!(status, 200);
    let (status, again, headers) = h
        .raw(
            reqwest::Method::POST,
            "/v1/customers",
            "email=a%40example.com",
            Some("key-1"),
        )
        .await;
    assert_eq!((status, &again), (200, &first));
    assert_eq!(headers["idempotent-replayed"], "true");
    let (status, mismatch, _) = h
        .raw(
            reqwest::Method::POST,
            "/v1/customers",
            "email=b%40example.com",
            Some("key-1"),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(mismatch["error"]["type"], "idempotency_error");
    let listed = h
        .raw(reqwest::Method::GET, "/v1/customers", "", None)
        .await
        .1;
    assert_eq!(
        listed["data"].as_array().unwrap().len(),
        1,
        "one customer for one key"
    );

    // Through async-stripe's own idempotent strategy.
    let key = || RequestStrategy::Idempotent(IdempotencyKey::new("key-2").unwrap());
    let a = CreateCustomer::new()
        .email("c@example.com")
        .customize()
        .request_strategy(key())
        .send(&h.client)
        .await
        .unwrap();
    let b = CreateCustomer::new()
        .email("c@example.com")
        .customize()
        .request_strategy(key())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(a.id, b.id);
    let err = CreateCustomer::new()
        .email("d@example.com")
        .customize()
        .request_strategy(key())
        .send(&h.client)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, stripe::StripeError::Stripe(e, 400) if e.type_ == stripe::ApiErrorsType::IdempotencyError),
        "{err:?}"
    );

    // A key kept 24 hours of the server's clock, then free again.
    h.advance_days(2).await;
    let (status, other, _) = h
        .raw(
            reqwest::Method::POST,
            "/v1/customers",
            "email=b%40example.com",
            Some("key-1"),
        )
        .await;
    assert_eq!(status, 200);
    assert_ne!(other["id"], first["id"]);

    // A key whose first request is still running: 409.
    h.control(reqwest::Method::PUT, "chaos", json!({ "latency_ms": 300 }))
        .await;
    let slow = h.raw(
        reqwest::Method::POST,
        "/v1/customers",
        "email=e%40example.com",
        Some("key-3"),
    );
    let racing = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        h.raw(
            reqwest::Method::POST,
            "/v1/customers",
            "email=e%40example.com",
            Some("key-3"),
        )
        .await
    };
    let ((first, _, _), (second, body, _)) = tokio::join!(slow, racing);
    assert_eq!((first, second), (200, 409));
    assert_eq!(body["error"]["code"], "idempotency_key_in_use");
}

#[tokio::test]
async fn test_cards_succeed_decline_and_ask_for_authentication() {
    let h = harness().await;
    let visa = h.customer_with_card("pm_card_visa").await;
    let ok = h
        .subscribe(
            &visa,
            "price_pro_month",
            CreateSubscriptionPaymentBehavior::ErrorIfIncomplete,
        )
        .await
        .unwrap();
    assert_eq!(ok.status, SubscriptionStatus::Active);

    let declined = h.customer_with_card("pm_card_chargeDeclined").await;
    let err = h
        .subscribe(
            &declined,
            "price_pro_month",
            CreateSubscriptionPaymentBehavior::ErrorIfIncomplete,
        )
        .await
        .unwrap_err();
    let stripe::StripeError::Stripe(error, status) = err else {
        panic!("{err:?}")
    };
    assert_eq!(status, 402);
    assert_eq!(error.type_, stripe::ApiErrorsType::CardError);
    assert_eq!(error.decline_code.as_deref(), Some("generic_decline"));
    let none = h
        .raw(
            reqwest::Method::GET,
            &format!("/v1/subscriptions?customer={declined}"),
            "",
            None,
        )
        .await
        .1;
    assert!(
        none["data"].as_array().unwrap().is_empty(),
        "error_if_incomplete creates nothing"
    );
    let incomplete = h
        .subscribe(
            &declined,
            "price_pro_month",
            CreateSubscriptionPaymentBehavior::AllowIncomplete,
        )
        .await
        .unwrap();
    assert_eq!(incomplete.status, SubscriptionStatus::Incomplete);
    assert_eq!(latest_invoice(&incomplete).attempt_count, 1);

    // Every other test card: the ones that succeed, and each decline with its code.
    for card in ["pm_card_visa_debit", "pm_card_mastercard", "pm_card_amex"] {
        let customer = h.customer_with_card(card).await;
        let subscription = h
            .subscribe(
                &customer,
                "price_pro_month",
                CreateSubscriptionPaymentBehavior::ErrorIfIncomplete,
            )
            .await
            .unwrap();
        assert_eq!(subscription.status, SubscriptionStatus::Active, "{card}");
    }
    for (card, code) in [
        (
            "pm_card_chargeDeclinedInsufficientFunds",
            "insufficient_funds",
        ),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card"),
    ] {
        let customer = h.customer_with_card(card).await;
        let err = h
            .subscribe(
                &customer,
                "price_pro_month",
                CreateSubscriptionPaymentBehavior::ErrorIfIncomplete,
            )
            .await
            .unwrap_err();
        let stripe::StripeError::Stripe(error, 402) = err else {
            panic!("{card}: {err:?}")
        };
        assert_eq!(error.decline_code.as_deref(), Some(code), "{card}");
    }

    let three_ds = h.customer_with_card("pm_card_authenticationRequired").await;
    let pending = h
        .subscribe(
            &three_ds,
            "price_pro_month",
            CreateSubscriptionPaymentBehavior::AllowIncomplete,
        )
        .await
        .unwrap();
    assert_eq!(pending.status, SubscriptionStatus::Incomplete);
    let intent = intent_to_confirm(&pending);
    let fetched = h
        .raw(
            reqwest::Method::GET,
            &format!("/v1/payment_intents/{intent}"),
            "",
            None,
        )
        .await
        .1;
    assert_eq!(fetched["status"], "requires_action");
    h.control(
        reqwest::Method::POST,
        &format!("payment_intents/{intent}/authenticate"),
        Value::Null,
    )
    .await;
    let active = RetrieveSubscription::new(pending.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(active.status, SubscriptionStatus::Active);
    let types = h.event_types().await;
    assert!(
        types.contains(&"invoice.payment_action_required".to_owned()),
        "{types:?}"
    );

    // default_incomplete: nothing charged until the customer confirms.
    let later = h.customer_with_card("pm_card_visa").await;
    let waiting = h
        .subscribe(
            &later,
            "price_starter_month",
            CreateSubscriptionPaymentBehavior::DefaultIncomplete,
        )
        .await
        .unwrap();
    assert_eq!(waiting.status, SubscriptionStatus::Incomplete);
    let intent = intent_to_confirm(&waiting);
    let (status, confirmed, _) = h
        .raw(
            reqwest::Method::POST,
            &format!("/v1/payment_intents/{intent}/confirm"),
            "payment_method=pm_card_visa",
            None,
        )
        .await;
    assert_eq!(
        (status, confirmed["status"].as_str()),
        (200, Some("succeeded"))
    );
    let active = RetrieveSubscription::new(waiting.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(active.status, SubscriptionStatus::Active);
    assert_events_parse(&h).await;
}

#[tokio::test]
async fn an_upgrade_half_way_through_a_month_is_prorated_to_the_cent() {
    let h = harness().await;
    let (_, subscription) = h.subscribed("price_starter_month").await;
    let item = &subscription.items.data[0];
    let (start, end) = (item.current_period_start, item.current_period_end);
    let half_way = start + (end - start) / 2;
    // The preview for the same change and proration date.
    let preview = CreatePreviewInvoice::new()
        .subscription(subscription.id.as_str())
        .subscription_details(CreatePreviewInvoiceSubscriptionDetails {
            proration_behavior: Some(stripe_billing::invoice::CreatePreviewInvoiceSubscriptionDetailsProrationBehavior::AlwaysInvoice),
            proration_date: Some(half_way),
            ..preview_price(&subscription, "price_pro_month")
        })
        .send(&h.client)
        .await
        .unwrap();
    // Half of $29.00 back, half of $99.00 charged: exactly 1450 and 4950 cents.
    assert_eq!(line_amounts(&preview), [-1450, 4950]);
    assert_eq!(preview.amount_due, 3500);
    change_price(&subscription, "price_pro_month")
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .proration_date(half_way)
        .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete)
        .send(&h.client)
        .await
        .unwrap();
    let invoices = ListInvoice::new()
        .subscription(subscription.id.as_str())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(line_amounts(&invoices.data[0]), [-1450, 4950]);
    assert_eq!(invoices.data[0].amount_paid, 3500);
    assert!(invoices.data[0].lines.data.iter().all(|l| {
        l.parent
            .as_ref()
            .and_then(|p| p.subscription_item_details.as_ref())
            .is_some_and(|d| d.proration)
    }));

    // create_prorations: nothing now, the lines go on the renewal invoice.
    let (_, second) = h.subscribed("price_starter_month").await;
    let item = &second.items.data[0];
    let half_way =
        item.current_period_start + (item.current_period_end - item.current_period_start) / 2;
    change_price(&second, "price_pro_month")
        .proration_behavior(UpdateSubscriptionProrationBehavior::CreateProrations)
        .proration_date(half_way)
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(
        ListInvoice::new()
            .subscription(second.id.as_str())
            .send(&h.client)
            .await
            .unwrap()
            .data
            .len(),
        1
    );
    h.advance_days(31).await;
    let renewal = &ListInvoice::new()
        .subscription(second.id.as_str())
        .send(&h.client)
        .await
        .unwrap()
        .data[0];
    assert_eq!(line_amounts(renewal), [-1450, 4950, 9900]);
    assert_eq!(renewal.amount_paid, 13_400);
    assert_events_parse(&h).await;
}

#[tokio::test]
async fn monthly_to_yearly_credits_the_unused_month_and_starts_a_year_now() {
    let h = harness().await;
    let (_, subscription) = h.subscribed("price_pro_month").await;
    let item = &subscription.items.data[0];
    let (start, end) = (item.current_period_start, item.current_period_end);
    h.advance_days(10).await;
    let now = h.now().await;
    let ten_days_in = start + 10 * DAY;
    let updated = change_price(&subscription, "price_pro_year")
        .proration_date(ten_days_in)
        .send(&h.client)
        .await
        .unwrap();
    // $99.00 × the days left of the month it started in, to the cent.
    let credit = match (end - start) / DAY {
        28 => -6364, // 18/28 of 9900 = 6364.29
        29 => -6486, // 19/29 = 6486.21
        30 => -6600, // 20/30
        31 => -6706, // 21/31 = 6706.45
        days => panic!("a month of {days} days"),
    };
    let invoice = &ListInvoice::new()
        .subscription(subscription.id.as_str())
        .send(&h.client)
        .await
        .unwrap()
        .data[0];
    assert_eq!(line_amounts(invoice), [credit, 99_000]);
    assert_eq!(invoice.amount_paid, 99_000 + credit);
    // A new year starts now (the request's second, a moment after `now` was read).
    let item = &updated.items.data[0];
    let new_start = item.current_period_start;
    assert!((now..=now + 2).contains(&new_start), "{new_start} vs {now}");
    assert_eq!(
        item.current_period_end,
        local_stripe::calendar::add_months(new_start, 12)
    );
    assert_eq!(updated.billing_cycle_anchor, new_start);
}

#[tokio::test]
async fn a_renewal_that_needs_authentication_is_retried_and_never_hangs_the_clock() {
    let h = harness().await;
    let (customer, subscription) = h.subscribed("price_pro_month").await;
    let three_ds = AttachPaymentMethod::new("pm_card_authenticationRequired")
        .customer(customer.as_str())
        .send(&h.client)
        .await
        .unwrap();
    UpdateSubscription::new(subscription.id.clone())
        .default_payment_method(three_ds.id.as_str())
        .send(&h.client)
        .await
        .unwrap();
    h.advance_days(31).await;
    let past_due = RetrieveSubscription::new(subscription.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(past_due.status, SubscriptionStatus::PastDue);
    // Every off-session attempt needs the customer; after the last one the subscription ends.
    h.advance_days(10).await;
    let ended = RetrieveSubscription::new(subscription.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(ended.status, SubscriptionStatus::Canceled);
    let asked = h
        .events()
        .await
        .iter()
        .filter(|e| {
            e["type"] == "invoice.payment_action_required"
                && e["event"]["data"]["object"]["billing_reason"] == "subscription_cycle"
        })
        .count();
    assert_eq!(asked, 4, "one request for action per attempt");
    assert_events_parse(&h).await;
}

#[tokio::test]
async fn a_failed_renewal_goes_past_due_is_retried_and_ends_the_subscription() {
    let h = harness().await;
    let (customer, subscription) = h.subscribed("price_pro_month").await;
    h.control(
        reqwest::Method::POST,
        &format!("customers/{customer}/fail_next_payment"),
        Value::Null,
    )
    .await;
    h.advance_days(31).await;
    let past_due = RetrieveSubscription::new(subscription.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(past_due.status, SubscriptionStatus::PastDue);
    let failed: Vec<Value> = h
        .events()
        .await
        .into_iter()
        .filter(|e| e["type"] == "invoice.payment_failed")
        .collect();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["event"]["data"]["object"]["attempt_count"], 1);
    let next_attempt = failed[0]["event"]["data"]["object"]["next_payment_attempt"]
        .as_i64()
        .unwrap();
    assert_eq!(
        next_attempt - failed[0]["event"]["created"].as_i64().unwrap(),
        3 * DAY
    );

    // The retry 3 days later succeeds: active again.
    h.advance_days(3).await;
    let active = RetrieveSubscription::new(subscription.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(active.status, SubscriptionStatus::Active);

    // A card that always declines: four attempts (days 0, 3, 5, 7), then canceled.
    let (doomed, sub) = h.subscribed("price_starter_month").await;
    let declining = AttachPaymentMethod::new("pm_card_chargeDeclined")
        .customer(doomed.as_str())
        .send(&h.client)
        .await
        .unwrap();
    UpdateSubscription::new(sub.id.clone())
        .default_payment_method(declining.id.as_str())
        .send(&h.client)
        .await
        .unwrap();
    h.advance_days(31 + 8).await;
    let ended = RetrieveSubscription::new(sub.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(ended.status, SubscriptionStatus::Canceled);
    assert_eq!(
        ended.cancellation_details.unwrap().reason,
        Some(stripe_billing::CancellationDetailsReason::PaymentFailed)
    );
    let attempts: Vec<u64> = h
        .events()
        .await
        .iter()
        .filter(|e| {
            e["type"] == "invoice.payment_failed"
                && e["event"]["data"]["object"]["subscription"] == sub.id.as_str()
        })
        .map(|e| {
            e["event"]["data"]["object"]["attempt_count"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(attempts, [1, 2, 3, 4]);
    assert_events_parse(&h).await;
}

#[tokio::test]
async fn cancel_at_period_end_takes_effect_when_the_period_ends() {
    let h = harness().await;
    let (_, subscription) = h.subscribed("price_pro_month").await;
    let set = UpdateSubscription::new(subscription.id.clone())
        .cancel_at_period_end(true)
        .send(&h.client)
        .await
        .unwrap();
    assert!(set.cancel_at_period_end);
    assert_eq!(set.status, SubscriptionStatus::Active);
    h.advance_days(31).await;
    let ended = RetrieveSubscription::new(subscription.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(ended.status, SubscriptionStatus::Canceled);
    let invoices = ListInvoice::new()
        .subscription(subscription.id.as_str())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(
        invoices.data.len(),
        1,
        "no renewal invoice after a cancellation at the period end"
    );
    assert!(
        h.event_types()
            .await
            .contains(&"customer.subscription.deleted".to_owned())
    );
    let (status, body, _) = h
        .raw(
            reqwest::Method::POST,
            &format!("/v1/subscriptions/{}/resume", subscription.id),
            "",
            None,
        )
        .await;
    assert_eq!(
        (status, body["error"]["type"].as_str()),
        (400, Some("invalid_request_error"))
    );
}

#[tokio::test]
async fn webhooks_are_retried_after_a_500_and_chaos_duplicates_and_reorders() {
    let h = harness().await;
    *h.answer.lock().unwrap() = 500;
    h.raw(
        reqwest::Method::POST,
        "/v1/customers",
        "email=a%40example.com",
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    *h.answer.lock().unwrap() = 200;
    let mut delivered = false;
    for _ in 0..100 {
        let events = h.events().await;
        if events[0]["delivered"] == true {
            let statuses: Vec<Value> = events[0]["attempts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["status"].clone())
                .collect();
            assert!(
                statuses.len() >= 2 && statuses[0] == 500 && *statuses.last().unwrap() == 200,
                "{statuses:?}"
            );
            delivered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        delivered,
        "the event was delivered after the endpoint recovered"
    );

    h.control(
        reqwest::Method::PUT,
        "chaos",
        json!({ "enabled": true, "duplicate_every": 2, "reorder_every": 3 }),
    )
    .await;
    h.received.lock().unwrap().clear();
    for n in 0..6 {
        h.raw(
            reqwest::Method::POST,
            "/v1/customers",
            &format!("email=c{n}%40example.com"),
            None,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    let received: Vec<String> = h
        .received
        .lock()
        .unwrap()
        .iter()
        .map(|(_, body)| {
            serde_json::from_str::<Value>(body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let recorded: Vec<String> = h.events().await[1..]
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_owned())
        .collect();
    let mut unique = received.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), recorded.len(), "every event arrives");
    assert!(
        received.len() > recorded.len(),
        "some arrive twice: {received:?}"
    );
    let order: Vec<usize> = received
        .iter()
        .map(|id| recorded.iter().position(|r| r == id).unwrap())
        .collect();
    assert!(
        order.windows(2).any(|w| w[1] < w[0]),
        "some arrive after a later one: {order:?}"
    );
}

#[tokio::test]
async fn bad_requests_get_stripes_error_shapes() {
    let h = harness().await;
    let cases = [
        (
            reqwest::Method::GET,
            "/v1/customers/cus_missing",
            "",
            404,
            "invalid_request_error",
            Some("resource_missing"),
        ),
        (
            reqwest::Method::POST,
            "/v1/customers",
            "bogus=1",
            400,
            "invalid_request_error",
            Some("parameter_unknown"),
        ),
        (
            reqwest::Method::POST,
            "/v1/subscriptions",
            "items[0][price]=price_pro_month",
            400,
            "invalid_request_error",
            Some("parameter_missing"),
        ),
        (
            reqwest::Method::POST,
            "/v1/customers",
            "a[b=1",
            400,
            "invalid_request_error",
            None,
        ),
        (
            reqwest::Method::GET,
            "/v1/prices?limit=500",
            "",
            400,
            "invalid_request_error",
            Some("parameter_invalid"),
        ),
        (
            reqwest::Method::GET,
            "/v1/charges",
            "",
            404,
            "invalid_request_error",
            None,
        ),
    ];
    for (method, path, form, status, kind, code) in cases {
        let (got, body, _) = h.raw(method.clone(), path, form, None).await;
        assert_eq!(got, status, "{method} {path} {form}: {body}");
        assert_eq!(body["error"]["type"], kind, "{path}");
        assert_eq!(body["error"]["code"].as_str(), code, "{path}: {body}");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty())
        );
    }
    // A request refused half-way (its expansion fails after the customer was made) changes
    // nothing; the documented create-with-card form works.
    let (status, _, _) = h
        .raw(
            reqwest::Method::POST,
            "/v1/customers",
            "email=x%40example.com&expand[0]=nope",
            None,
        )
        .await;
    assert_eq!(status, 400);
    let listed = h
        .raw(reqwest::Method::GET, "/v1/customers", "", None)
        .await
        .1;
    assert!(listed["data"].as_array().unwrap().is_empty(), "{listed}");
    assert!(h.events().await.is_empty());
    let (status, created, _) = h
        .raw(
            reqwest::Method::POST,
            "/v1/customers",
            "payment_method=pm_card_visa&invoice_settings[default_payment_method]=pm_card_visa",
            None,
        )
        .await;
    assert_eq!(status, 200, "{created}");
    let default = created["invoice_settings"]["default_payment_method"]
        .as_str()
        .unwrap();
    assert!(
        default.starts_with("pm_") && default != "pm_card_visa",
        "{default}"
    );
    let (_, body, _) = h
        .raw(reqwest::Method::POST, "/v1/customers", "bogus=1", None)
        .await;
    assert_eq!(body["error"]["param"], "bogus");
    let unauthorized = h
        .http
        .get(format!("{}/v1/customers", h.stripe.url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), 401);
    // async-stripe reads each as its error type, with the status.
    let err = RetrieveCustomer::new("cus_missing")
        .send(&h.client)
        .await
        .unwrap_err();
    assert!(
        matches!(err, stripe::StripeError::Stripe(_, 404)),
        "{err:?}"
    );
}

#[tokio::test]
async fn an_unpaid_first_invoice_expires_a_pending_change_waits_for_payment_and_reset_forgets() {
    let h = harness().await;
    // A declined first payment: incomplete, then incomplete_expired after 23 hours.
    let declined = h.customer_with_card("pm_card_chargeDeclined").await;
    let incomplete = h
        .subscribe(
            &declined,
            "price_pro_month",
            CreateSubscriptionPaymentBehavior::AllowIncomplete,
        )
        .await
        .unwrap();
    assert_eq!(incomplete.status, SubscriptionStatus::Incomplete);
    h.advance_days(1).await;
    let expired = RetrieveSubscription::new(incomplete.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(expired.status, SubscriptionStatus::IncompleteExpired);
    let invoice = &ListInvoice::new()
        .subscription(incomplete.id.as_str())
        .send(&h.client)
        .await
        .unwrap()
        .data[0];
    assert_eq!(invoice.status, Some(stripe_billing::InvoiceStatus::Void));

    // pending_if_incomplete: an upgrade whose payment fails is not applied until it is paid.
    let (customer, subscription) = h.subscribed("price_starter_month").await;
    h.control(
        reqwest::Method::POST,
        &format!("customers/{customer}/fail_next_payment"),
        Value::Null,
    )
    .await;
    let pending = change_price(&subscription, "price_pro_month")
        .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
        .payment_behavior(UpdateSubscriptionPaymentBehavior::PendingIfIncomplete)
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(
        pending.items.data[0].price.id.as_str(),
        "price_starter_month",
        "not applied yet"
    );
    assert!(pending.pending_update.is_some());
    let open = pending
        .latest_invoice
        .as_ref()
        .unwrap()
        .id()
        .as_ref()
        .unwrap()
        .to_string();
    let (status, paid, _) = h
        .raw(
            reqwest::Method::POST,
            &format!("/v1/invoices/{open}/pay"),
            "",
            None,
        )
        .await;
    assert_eq!((status, paid["status"].as_str()), (200, Some("paid")));
    let applied = RetrieveSubscription::new(subscription.id.clone())
        .send(&h.client)
        .await
        .unwrap();
    assert_eq!(applied.items.data[0].price.id.as_str(), "price_pro_month");
    assert!(applied.pending_update.is_none());
    assert!(
        h.event_types()
            .await
            .contains(&"customer.subscription.pending_update_applied".to_owned())
    );
    assert_events_parse(&h).await;

    // Reset forgets objects and events; the prices stay.
    h.control(reqwest::Method::POST, "reset", Value::Null).await;
    let status = h.control(reqwest::Method::GET, "status", Value::Null).await;
    assert_eq!(status["events"], 0);
    assert!(status["objects"].get("customer").is_none(), "{status}");
    assert_eq!(status["objects"]["price"], 6);
    let (code, _, _) = h
        .raw(
            reqwest::Method::GET,
            &format!("/v1/customers/{customer}"),
            "",
            None,
        )
        .await;
    assert_eq!(code, 404);
}
