//! Which plan's limits apply to an organization now: the **effective plan**, from the facts of its
//! Stripe subscription (kept on the organization item by billing) and the clock. Every place that
//! reads a limit goes through [`effective_plan`], so a subscription that lapses loses its limits
//! everywhere at once, without a job that downgrades anyone.

use clock::{DateTime, Duration};
use serde::{Deserialize, Serialize};

use crate::{FREE, Plan, find};

/// How long a `past_due` subscription keeps its plan: the renewal's payment is retried for 7
/// days (attempts on days 0, 3, 5 and 7), so the grace lasts until the last retry.
pub const PAST_DUE_GRACE: Duration = Duration::days(7);

/// A Stripe subscription's status, as Stripe names it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Active,
    Trialing,
    PastDue,
    Incomplete,
    IncompleteExpired,
    Canceled,
    Unpaid,
    Paused,
    /// A status this code does not know (Stripe added one): limits fall back to the free plan.
    #[serde(other)]
    Unknown,
}

/// A price's billing interval.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    Month,
    Year,
}

/// What the table keeps of an organization's subscription (the attribute `subscription` of its
/// item). Written only by billing, from Stripe's state; read wherever limits are.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubscriptionFacts {
    pub status: SubscriptionStatus,
    /// `starter`, `pro` or `enterprise`.
    pub plan: String,
    pub interval: Interval,
    #[serde(with = "clock::serde_rfc3339")]
    pub current_period_start: DateTime,
    #[serde(with = "clock::serde_rfc3339")]
    pub current_period_end: DateTime,
    pub cancel_at_period_end: bool,
    /// A change that takes effect at the period end (a downgrade, a cheaper interval).
    #[serde(default)]
    pub pending_plan: Option<String>,
    #[serde(default)]
    pub pending_interval: Option<Interval>,
    /// When the subscription became `past_due` (the first failed renewal attempt).
    #[serde(default, with = "clock::serde_rfc3339::option")]
    pub past_due_since: Option<DateTime>,
}

/// The plan whose limits apply now: active or trialing → the subscribed plan; past due → that
/// plan until [`PAST_DUE_GRACE`] after `past_due_since`, then free; every other status, no
/// subscription, or a plan no longer configured → free.
pub fn effective_plan(facts: Option<&SubscriptionFacts>, now: DateTime) -> &'static Plan {
    let free = || find(FREE).expect("plans.json has the free plan (checked by this crate's tests)");
    let Some(facts) = facts else {
        return free();
    };
    let keeps_plan = match facts.status {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => true,
        // A past-due subscription without its start time is treated as starting now: the grace
        // is never shortened by a missing fact.
        SubscriptionStatus::PastDue => now < facts.past_due_since.unwrap_or(now) + PAST_DUE_GRACE,
        _ => false,
    };
    if keeps_plan {
        find(&facts.plan).unwrap_or_else(free)
    } else {
        free()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const NOW: DateTime = datetime!(2026-12-01 12:00 UTC);

    fn facts(status: SubscriptionStatus) -> SubscriptionFacts {
        SubscriptionFacts {
            status,
            plan: "pro".into(),
            interval: Interval::Month,
            current_period_start: datetime!(2026-11-15 00:00 UTC),
            current_period_end: datetime!(2026-12-15 00:00 UTC),
            cancel_at_period_end: false,
            pending_plan: None,
            pending_interval: None,
            past_due_since: None,
        }
    }

    fn plan_id(facts: Option<&SubscriptionFacts>, now: DateTime) -> &'static str {
        &effective_plan(facts, now).id
    }

    #[test]
    fn active_and_trialing_subscriptions_get_their_plan_and_the_rest_get_free() {
        use SubscriptionStatus::*;
        assert_eq!(plan_id(None, NOW), "free");
        for status in [Active, Trialing] {
            assert_eq!(plan_id(Some(&facts(status)), NOW), "pro");
        }
        for status in [
            Incomplete,
            IncompleteExpired,
            Canceled,
            Unpaid,
            Paused,
            Unknown,
        ] {
            assert_eq!(
                plan_id(Some(&facts(status.clone())), NOW),
                "free",
                "{status:?}"
            );
        }
    }

    #[test]
    fn past_due_keeps_the_plan_for_the_grace_period_only() {
        let mut past_due = facts(SubscriptionStatus::PastDue);
        past_due.past_due_since = Some(NOW);
        assert_eq!(plan_id(Some(&past_due), NOW + Duration::days(6)), "pro");
        assert_eq!(
            plan_id(Some(&past_due), NOW + PAST_DUE_GRACE - Duration::SECOND),
            "pro"
        );
        assert_eq!(plan_id(Some(&past_due), NOW + PAST_DUE_GRACE), "free");
        past_due.past_due_since = None;
        assert_eq!(
            plan_id(Some(&past_due), NOW),
            "pro",
            "a missing start never shortens the grace"
        );
    }

    #[test]
    fn a_plan_no_longer_configured_is_free_and_an_unknown_status_parses() {
        let mut retired = facts(SubscriptionStatus::Active);
        retired.plan = "retired".into();
        assert_eq!(plan_id(Some(&retired), NOW), "free");
        let parsed: SubscriptionStatus = serde_json::from_str(r#""some_new_status""#).unwrap();
        assert_eq!(parsed, SubscriptionStatus::Unknown);
        let stored = serde_json::to_value(facts(SubscriptionStatus::PastDue)).unwrap();
        assert_eq!(stored["status"], "past_due");
        assert_eq!(stored["current_period_end"], "2026-12-15T00:00:00.000Z");
    }
}
