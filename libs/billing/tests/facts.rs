//! Subscription facts read from what the local Stripe returns through async-stripe, as the
//! webhook will read them after its refetch.

use billing::{FactsError, PriceCatalog, facts_of};
use plans::{Interval, SubscriptionStatus};
use stripe::{Client, ClientBuilder};
use stripe_billing::Subscription;
use stripe_billing::subscription::{
    CreateSubscription, CreateSubscriptionItems, RetrieveSubscription, UpdateSubscription,
};
use stripe_billing::subscription_schedule::{
    CreateSubscriptionSchedule, UpdateSubscriptionSchedule, UpdateSubscriptionSchedulePhases,
    UpdateSubscriptionSchedulePhasesEndDate, UpdateSubscriptionSchedulePhasesItems,
    UpdateSubscriptionSchedulePhasesStartDate,
};
use stripe_core::customer::CreateCustomer;
use stripe_payment::payment_method::AttachPaymentMethod;

async fn stripe() -> (local_stripe::LocalStripe, Client) {
    let stripe = local_stripe::start(local_stripe::Config {
        addr: "127.0.0.1:0".parse().unwrap(),
        ..local_stripe::Config::default()
    })
    .await
    .unwrap();
    let client = ClientBuilder::new("sk_test_local")
        .url(stripe.url())
        .build()
        .unwrap();
    (stripe, client)
}

async fn subscribed(client: &Client, price: &str) -> Subscription {
    let customer = CreateCustomer::new()
        .email("billing@acme.example")
        .send(client)
        .await
        .unwrap();
    let card = AttachPaymentMethod::new("pm_card_visa")
        .customer(customer.id.as_str())
        .send(client)
        .await
        .unwrap();
    CreateSubscription::new()
        .customer(customer.id.as_str())
        .default_payment_method(card.id.as_str())
        .items(vec![CreateSubscriptionItems {
            price: Some(price.to_owned()),
            ..CreateSubscriptionItems::new()
        }])
        .send(client)
        .await
        .unwrap()
}

fn now() -> clock::DateTime {
    time::OffsetDateTime::now_utc()
}

#[tokio::test]
async fn an_active_subscription_gives_its_plan_interval_and_period() {
    let (_stripe, client) = stripe().await;
    let subscription = subscribed(&client, "price_pro_year").await;
    let facts = facts_of(&subscription, &PriceCatalog::local(), None, now()).unwrap();
    assert_eq!(facts.status, SubscriptionStatus::Active);
    assert_eq!(
        (facts.plan.as_str(), facts.interval),
        ("pro", Interval::Year)
    );
    let item = &subscription.items.data[0];
    assert_eq!(
        facts.current_period_start.unix_timestamp(),
        item.current_period_start
    );
    assert_eq!(
        facts.current_period_end.unix_timestamp(),
        item.current_period_end
    );
    assert!(
        !facts.cancel_at_period_end
            && facts.pending_plan.is_none()
            && facts.past_due_since.is_none()
    );
    assert_eq!(plans::effective_plan(Some(&facts), now()).id, "pro");

    let canceling = UpdateSubscription::new(subscription.id.clone())
        .cancel_at_period_end(true)
        .send(&client)
        .await
        .unwrap();
    assert!(
        facts_of(&canceling, &PriceCatalog::local(), Some(&facts), now())
            .unwrap()
            .cancel_at_period_end
    );
}

#[tokio::test]
async fn past_due_keeps_the_time_it_began() {
    let (stripe, client) = stripe().await;
    let subscription = subscribed(&client, "price_starter_month").await;
    let http = reqwest::Client::new();
    let customer = subscription.customer.id().to_string();
    http.post(format!(
        "{}/_local/customers/{customer}/fail_next_payment",
        stripe.url()
    ))
    .send()
    .await
    .unwrap();
    // An hour past the period end: the renewal failed, its first retry (3 days on) not yet due.
    let item = &subscription.items.data[0];
    let seconds = item.current_period_end - item.current_period_start + 3600;
    http.post(format!("{}/_local/clock/advance", stripe.url()))
        .body(format!(r#"{{"seconds": {seconds}}}"#))
        .send()
        .await
        .unwrap();
    let past_due = RetrieveSubscription::new(subscription.id.clone())
        .send(&client)
        .await
        .unwrap();
    let catalog = PriceCatalog::local();
    let began = now();
    let facts = facts_of(&past_due, &catalog, None, began).unwrap();
    assert_eq!(
        (facts.status.clone(), facts.past_due_since),
        (SubscriptionStatus::PastDue, Some(began))
    );
    let later = facts_of(
        &past_due,
        &catalog,
        Some(&facts),
        began + plans::PAST_DUE_GRACE,
    )
    .unwrap();
    assert_eq!(later.past_due_since, Some(began), "the grace starts once");
    assert_eq!(
        plans::effective_plan(Some(&later), began + plans::PAST_DUE_GRACE).id,
        "free"
    );
}

#[tokio::test]
async fn a_scheduled_change_is_the_pending_plan_and_unknown_prices_are_refused() {
    let (_stripe, client) = stripe().await;
    let subscription = subscribed(&client, "price_pro_month").await;
    let schedule = CreateSubscriptionSchedule::new()
        .from_subscription(subscription.id.as_str())
        .send(&client)
        .await
        .unwrap();
    let phase = &schedule.phases[0];
    UpdateSubscriptionSchedule::new(schedule.id.clone())
        .phases(vec![
            UpdateSubscriptionSchedulePhases {
                start_date: Some(UpdateSubscriptionSchedulePhasesStartDate::Timestamp(
                    phase.start_date,
                )),
                end_date: Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(
                    phase.end_date,
                )),
                ..UpdateSubscriptionSchedulePhases::new(vec![
                    UpdateSubscriptionSchedulePhasesItems {
                        price: Some("price_pro_month".into()),
                        ..UpdateSubscriptionSchedulePhasesItems::new()
                    },
                ])
            },
            UpdateSubscriptionSchedulePhases::new(vec![UpdateSubscriptionSchedulePhasesItems {
                price: Some("price_starter_year".into()),
                ..UpdateSubscriptionSchedulePhasesItems::new()
            }]),
        ])
        .send(&client)
        .await
        .unwrap();
    let with_schedule = RetrieveSubscription::new(subscription.id.clone())
        .expand(vec!["schedule".to_owned()])
        .send(&client)
        .await
        .unwrap();
    let facts = facts_of(&with_schedule, &PriceCatalog::local(), None, now()).unwrap();
    assert_eq!(facts.plan, "pro");
    assert_eq!(
        (facts.pending_plan.as_deref(), facts.pending_interval),
        (Some("starter"), Some(Interval::Year))
    );

    let env = config::Env::from_pairs([
        ("STRIPE_PRICE_STARTER_MONTH", "a"),
        ("STRIPE_PRICE_STARTER_YEAR", "b"),
        ("STRIPE_PRICE_PRO_MONTH", "c"),
        ("STRIPE_PRICE_PRO_YEAR", "d"),
        ("STRIPE_PRICE_ENTERPRISE_MONTH", "e"),
        ("STRIPE_PRICE_ENTERPRISE_YEAR", "f"),
    ]);
    let other = PriceCatalog::from_env(&env).unwrap();
    assert_eq!(
        facts_of(&subscription, &other, None, now()),
        Err(FactsError::UnknownPrice("price_pro_month".into()))
    );
}
