//! What the table keeps of a Stripe subscription, read from the subscription Stripe returns
//! (refetched, never taken from a webhook's payload): status, plan and interval from its one
//! item's price, the current period, a cancellation at the period end, and a change waiting in
//! its schedule for the period end.

use clock::DateTime;
use plans::{Interval, SubscriptionFacts, SubscriptionStatus};
use stripe_billing::{Subscription, SubscriptionSchedule, SubscriptionStatus as StripeStatus};

use crate::PriceCatalog;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FactsError {
    /// The subscription bills a price that is not one of the catalogue's (a price created by
    /// hand in the dashboard, or a catalogue out of date): nothing is stored.
    #[error("the subscription bills {0}, which is not a price of any plan")]
    UnknownPrice(String),
    #[error("the subscription has no item")]
    NoItem,
    #[error("the subscription carries a time out of range")]
    BadTime,
}

/// The facts of `subscription`. `previous` is what the table holds, for `past_due_since`: a
/// subscription that stays past due keeps the time it became so; one that becomes past due now
/// starts its grace at `now`.
pub fn facts_of(
    subscription: &Subscription,
    catalog: &PriceCatalog,
    previous: Option<&SubscriptionFacts>,
    now: DateTime,
) -> Result<SubscriptionFacts, FactsError> {
    let item = subscription.items.data.first().ok_or(FactsError::NoItem)?;
    let priced = catalog
        .plan_of(item.price.id.as_str())
        .ok_or_else(|| FactsError::UnknownPrice(item.price.id.to_string()))?;
    let status = status_of(&subscription.status);
    let past_due_since = (status == SubscriptionStatus::PastDue).then(|| {
        previous
            .filter(|p| p.status == SubscriptionStatus::PastDue)
            .and_then(|p| p.past_due_since)
            .unwrap_or(now)
    });
    let current_period_end = time(item.current_period_end)?;
    let pending = match subscription.schedule.as_ref().and_then(|s| s.as_object()) {
        Some(schedule) => next_phase(schedule, item.current_period_end, catalog)?
            .filter(|(plan, interval)| *plan != priced.plan || *interval != priced.interval),
        None => None,
    };
    Ok(SubscriptionFacts {
        status,
        plan: priced.plan.clone(),
        interval: priced.interval,
        current_period_start: time(item.current_period_start)?,
        current_period_end,
        cancel_at_period_end: subscription.cancel_at_period_end,
        pending_plan: pending.as_ref().map(|(plan, _)| plan.clone()),
        pending_interval: pending.map(|(_, interval)| interval),
        past_due_since,
    })
}

fn status_of(status: &StripeStatus) -> SubscriptionStatus {
    match status {
        StripeStatus::Active => SubscriptionStatus::Active,
        StripeStatus::Trialing => SubscriptionStatus::Trialing,
        StripeStatus::PastDue => SubscriptionStatus::PastDue,
        StripeStatus::Incomplete => SubscriptionStatus::Incomplete,
        StripeStatus::IncompleteExpired => SubscriptionStatus::IncompleteExpired,
        StripeStatus::Canceled => SubscriptionStatus::Canceled,
        StripeStatus::Unpaid => SubscriptionStatus::Unpaid,
        StripeStatus::Paused => SubscriptionStatus::Paused,
        // `Unknown(_)`, and statuses a later async-stripe adds (the enum is non-exhaustive).
        _ => SubscriptionStatus::Unknown,
    }
}

/// The plan and interval of the schedule's phase that starts when the current period ends, if
/// it bills another price.
fn next_phase(
    schedule: &SubscriptionSchedule,
    period_end: i64,
    catalog: &PriceCatalog,
) -> Result<Option<(String, Interval)>, FactsError> {
    let Some(phase) = schedule.phases.iter().find(|p| p.start_date == period_end) else {
        return Ok(None);
    };
    let Some(item) = phase.items.first() else {
        return Ok(None);
    };
    let price = item.price.id().as_str();
    let priced = catalog
        .plan_of(price)
        .ok_or_else(|| FactsError::UnknownPrice(price.to_owned()))?;
    Ok(Some((priced.plan.clone(), priced.interval)))
}

fn time(seconds: i64) -> Result<DateTime, FactsError> {
    DateTime::from_unix_timestamp(seconds).map_err(|_| FactsError::BadTime)
}
