//! Billing's metering: an organization's usage in its current period against its effective plan,
//! the levels of each limit it reaches (80 % and 100 %, told to owners and admins once per metric
//! and period), and the free plan's gate at the track route.
//!
//! Where each piece lives, and why:
//! - **Usage** is read from the aggregator's daily counters ([`current_usage`]: one Query of at
//!   most 31 items) and the profile's `seats_used`.
//! - **Levels** are checked where the counters change: the outbox relay hands this crate the
//!   stream records of daily counters and profiles ([`changed_usage`]), and [`Metering::check`]
//!   recomputes the period's usage, compares it with the levels on the profile
//!   (`usage_levels`, one per plan and period) and records new ones with their notices in one
//!   transaction conditioned on `usage_version`: a redelivered record, or two checks racing,
//!   commit the crossing once.
//! - **The gate** ([`refused`]) reads only the profile (one GetItem, whatever the month holds):
//!   its subscription gives the effective plan, its levels say whether 100 % was reached.

mod notices;

use accounts::OrgRecord;
use audit::{Activity, Actor, AuditLog, AuditedChange, Category, ChangeError};
use clock::{Clock, DateTime, Duration};
use plans::usage::{Exhausted, LevelsReached, Metric, current_period, level};
use serde_dynamo::{AttributeValue, Item};
use store::{Condition, Store, StoreError, Update, keys};

/// The profile attributes metering writes.
const LEVELS: &str = "usage_levels";
const VERSION: &str = "usage_version";
/// The label of the levels' write in a check's transaction.
const STALE: &str = "usage_version";
/// Checks tried before giving up on a contended profile (the stream retries the record).
const MAX_ATTEMPTS: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error("the organization's usage levels kept changing during the check")]
    Contended,
}

impl MeteringError {
    /// Whether trying again later may succeed (DynamoDB throttled, unreachable, contended). A
    /// stored item that does not parse fails every time: the relay logs it and goes on rather
    /// than holding the stream's later records back; the organization's next usage change
    /// checks again.
    pub fn is_transient(&self) -> bool {
        match self {
            MeteringError::Store(e) | MeteringError::Change(ChangeError::Store(e)) => matches!(
                e,
                StoreError::Throttled
                    | StoreError::Unavailable(_)
                    | StoreError::TransactionConflict
                    | StoreError::Service(_)
            ),
            MeteringError::Change(ChangeError::Conflict) | MeteringError::Contended => true,
            MeteringError::Change(_) => false,
        }
    }
}

/// An organization's usage in its current period.
#[derive(Clone, Debug, PartialEq)]
pub struct CurrentUsage {
    /// The effective plan now.
    pub plan: &'static plans::Plan,
    pub period_start: DateTime,
    /// Exclusive: the next period starts here.
    pub period_end: DateTime,
    pub messages: u64,
    pub api_calls: u64,
    pub storage_bytes: u64,
    pub seats: u64,
    /// The levels recorded for this plan and period (none yet: empty).
    pub reached: LevelsReached,
}

impl CurrentUsage {
    pub fn used(&self, metric: Metric) -> u64 {
        match metric {
            Metric::Messages => self.messages,
            Metric::ApiCalls => self.api_calls,
            Metric::StorageBytes => self.storage_bytes,
            Metric::Seats => self.seats,
        }
    }

    pub fn limit(&self, metric: Metric) -> Option<u64> {
        self.plan.limits.of(metric)
    }

    /// Levels reached now and not recorded yet, lowest first (a jump past both gives both).
    pub fn new_crossings(&self) -> Vec<Crossing> {
        let mut crossings = Vec::new();
        for metric in Metric::ALL {
            let (used, limit) = (self.used(metric), self.limit(metric));
            let now = level(used, limit);
            let before = self.reached.of(metric);
            for level in plans::usage::LEVELS {
                if before < level && level <= now {
                    crossings.push(Crossing {
                        metric,
                        level,
                        used,
                        limit: limit.unwrap_or(0),
                    });
                }
            }
        }
        crossings
    }
}

/// A level of a limit reached, as its notice and activity entry tell it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Crossing {
    pub metric: Metric,
    /// Percent of the limit: 80 or 100.
    pub level: u8,
    pub used: u64,
    pub limit: u64,
}

/// The usage of `org` now: one Query of the period's daily counters.
pub async fn current_usage(
    store: &Store,
    org: &OrgRecord,
    now: DateTime,
) -> Result<CurrentUsage, StoreError> {
    let plan = org.effective_plan(now);
    let (start, end) = current_period(plan, org.subscription.as_ref(), now);
    let last = end
        .date()
        .previous_day()
        .expect("a period ends after its first day");
    let counted = analytics::usage::usage_between(store, &org.id, start.date(), last).await?;
    let reached = org
        .usage_levels
        .clone()
        .filter(|levels| levels.is_for(&plan.id, start))
        .unwrap_or_else(|| LevelsReached::new(&plan.id, (start, end)));
    Ok(CurrentUsage {
        plan,
        period_start: start,
        period_end: end,
        messages: counted.messages,
        api_calls: counted.api_calls,
        storage_bytes: counted.storage_bytes,
        seats: u64::try_from(org.seats_used).unwrap_or(0),
        reached,
    })
}

/// The metric a tracked event's name feeds, when tracked with an API key.
pub fn metric_of_event(name: &str) -> Option<Metric> {
    match name {
        analytics::event::MESSAGE_SENT => Some(Metric::Messages),
        analytics::event::API_CALL => Some(Metric::ApiCalls),
        analytics::event::STORAGE_SNAPSHOT => Some(Metric::StorageBytes),
        _ => None,
    }
}

/// The free plan's gate: the first of `metrics` that `org_id` may not add more of now, read from
/// its profile (one GetItem; none when `metrics` is empty). Paid plans, storage and an unknown
/// organization are never refused.
pub async fn refused(
    store: &Store,
    org_id: &str,
    metrics: &[Metric],
    now: DateTime,
) -> Result<Option<Exhausted>, StoreError> {
    let refusable = |m: &&Metric| matches!(m, Metric::Messages | Metric::ApiCalls);
    if !metrics.iter().any(|m| refusable(&m)) {
        return Ok(None);
    }
    let Some(org) = store
        .get::<OrgRecord>(&keys::org_profile(keys::OrgId(org_id)))
        .await?
    else {
        return Ok(None);
    };
    Ok(metrics.iter().find_map(|&metric| {
        plans::usage::exhausted(
            org.subscription.as_ref(),
            org.usage_levels.as_ref(),
            metric,
            now,
        )
    }))
}

/// The organization whose metered usage a stream record changed, if it did: a daily counter's
/// billable numbers, or a profile's seats or subscription. Metering's own writes of the levels
/// (and every other change) are not a usage change; a deleted item is none either.
pub fn changed_usage(old: &Item, new: &Item) -> Option<String> {
    let text = |name: &str| match new.get(name) {
        Some(AttributeValue::S(s)) => Some(s.as_str()),
        _ => None,
    };
    let differs = |names: &[&str]| names.iter().any(|n| old.get(*n) != new.get(*n));
    let org_id = match keys::metered_item(text(keys::PK)?, text(keys::SK)?)? {
        keys::MeteredItem::Day { org_id } => differs(&[
            analytics::metrics::attr::BILLABLE_MESSAGES,
            analytics::metrics::attr::BILLABLE_API_CALLS,
            analytics::metrics::attr::STORAGE_BYTES,
        ])
        .then_some(org_id),
        keys::MeteredItem::Profile { org_id } => {
            differs(&["seats_used", "subscription"]).then_some(org_id)
        }
    }?;
    Some(org_id.to_owned())
}

/// Checks organizations' usage against their limits. Built once per cold start.
#[derive(Clone)]
pub struct Metering {
    audit: AuditLog,
    clock: Clock,
}

impl Metering {
    pub fn new(store: Store, clock: Clock, activity_retention: Duration) -> Self {
        Self {
            audit: AuditLog::new(store, activity_retention),
            clock,
        }
    }

    fn store(&self) -> &Store {
        self.audit.store()
    }

    /// Records the levels `org_id` reached and has not been told of, with a notice to owners
    /// and admins for each (through the outbox) and an activity entry, in one transaction
    /// conditioned on the levels read: whoever commits first tells; the others read again
    /// and find nothing new. Returns what this call recorded.
    pub async fn check(&self, org_id: &str) -> Result<Vec<Crossing>, MeteringError> {
        let profile = keys::org_profile(keys::OrgId(org_id));
        for _ in 0..MAX_ATTEMPTS {
            let Some(org) = self.store().get::<OrgRecord>(&profile).await? else {
                return Ok(Vec::new());
            };
            let now = self.clock.now();
            let usage = current_usage(self.store(), &org, now).await?;
            let crossings = usage.new_crossings();
            if crossings.is_empty() {
                return Ok(crossings);
            }
            let mut reached = usage.reached.clone();
            for crossing in &crossings {
                reached.reach(crossing.metric, crossing.level, crossing.limit);
            }
            let activity = Activity {
                action: "usage.level_reached",
                category: Category::Billing,
                target_type: "organization",
                target_id: org_id,
                metadata: serde_json::json!({
                    "plan": usage.plan.id,
                    "period_start": clock::rfc3339(usage.period_start),
                    "period_end": clock::rfc3339(usage.period_end),
                    "reached": crossings,
                }),
            };
            let update = Update::new(profile.clone())
                .set(LEVELS, &reached)
                .set(VERSION, &(org.usage_version + 1))
                .require_exists()
                .condition_on(Condition::number_is(VERSION, org.usage_version));
            let mut change = AuditedChange::new(Actor::system(org_id), activity, now)
                .update(update)
                .label(STALE);
            for crossing in &crossings {
                change = change.side_effect(notices::level_reached(&org.name, &usage, crossing));
            }
            match self.audit.commit(change).await {
                Ok(()) => {
                    tracing::info!(org_id, crossings = crossings.len(), "usage levels reached");
                    return Ok(crossings);
                }
                // Another check recorded levels meanwhile: read them again.
                Err(e) if e.rejected(STALE) => continue,
                Err(ChangeError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(MeteringError::Contended)
    }
}
