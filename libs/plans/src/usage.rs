//! Usage against a plan's limits: the metered quantities, the shares of a limit that tell owners
//! and admins (80 % and 100 %), the period usage is counted in, and the levels an organization
//! reached in its current period. Metering keeps those levels on the organization's profile
//! (one item, which also holds the plan), so the free plan's gate reads both in one GetItem.
//!
//! Periods are whole UTC days: the calendar month on the free plan; on a paid plan the month
//! that starts on the subscription's anchor day (the day of its current period's start), clamped
//! to shorter months (an anchor on the 31st starts February's period on the 28th), also for
//! yearly subscriptions, whose limits are monthly.

use clock::DateTime;
use serde::{Deserialize, Serialize};
use time::{Date, Month, Time};

use crate::{FREE, Limits, Plan, SubscriptionFacts};

/// A quantity with a plan limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Messages,
    ApiCalls,
    StorageBytes,
    Seats,
}

impl Metric {
    pub const ALL: [Metric; 4] = [
        Metric::Messages,
        Metric::ApiCalls,
        Metric::StorageBytes,
        Metric::Seats,
    ];

    /// As the API names it (`messages`, `api_calls`, `storage_bytes`, `seats`).
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Messages => "messages",
            Metric::ApiCalls => "api_calls",
            Metric::StorageBytes => "storage_bytes",
            Metric::Seats => "seats",
        }
    }

    /// Words for a notice: "messages", "API calls", "storage", "seats".
    pub fn label(self) -> &'static str {
        match self {
            Metric::Messages => "messages",
            Metric::ApiCalls => "API calls",
            Metric::StorageBytes => "storage",
            Metric::Seats => "seats",
        }
    }
}

impl Limits {
    /// The limit of `metric`; `None` is unlimited.
    pub fn of(&self, metric: Metric) -> Option<u64> {
        match metric {
            Metric::Messages => self.messages,
            Metric::ApiCalls => self.api_calls,
            Metric::StorageBytes => self.storage_bytes,
            Metric::Seats => self.seats.map(u64::from),
        }
    }
}

/// The shares of a limit (percent) that notify, each once per metric and period.
pub const LEVELS: [u8; 2] = [80, 100];

/// The highest of [`LEVELS`] that `used` has reached against `limit` (0: none; unlimited: 0).
pub fn level(used: u64, limit: Option<u64>) -> u8 {
    let Some(limit) = limit else { return 0 };
    LEVELS
        .into_iter()
        .rev()
        .find(|&level| u128::from(used) * 100 >= u128::from(limit) * u128::from(level))
        .unwrap_or(0)
}

/// The levels at or below `highest`: what "crossed 100 %" implies (80 too).
pub fn crossed(highest: u8) -> Vec<u8> {
    LEVELS.into_iter().filter(|&l| l <= highest).collect()
}

/// The day `anchor` of the month of `year`/`month`, or its last day.
fn anchored(year: i32, month: Month, anchor: u8) -> Date {
    let last = month.length(year);
    Date::from_calendar_date(year, month, anchor.min(last)).expect("a day within the month")
}

fn next_month(year: i32, month: Month) -> (i32, Month) {
    match month {
        Month::December => (year + 1, Month::January),
        m => (year, m.next()),
    }
}

fn previous_month(year: i32, month: Month) -> (i32, Month) {
    match month {
        Month::January => (year - 1, Month::December),
        m => (year, m.previous()),
    }
}

/// The period holding `today` for an anchor day: [start, end).
pub fn period(anchor: u8, today: Date) -> (Date, Date) {
    let this = anchored(today.year(), today.month(), anchor);
    let start = if this <= today {
        this
    } else {
        let (y, m) = previous_month(today.year(), today.month());
        anchored(y, m, anchor)
    };
    let (y, m) = next_month(start.year(), start.month());
    (start, anchored(y, m, anchor))
}

/// The usage period holding `now` for an organization on `plan` (its effective plan) with these
/// subscription facts: [start, end), as UTC midnights.
pub fn current_period(
    plan: &Plan,
    facts: Option<&SubscriptionFacts>,
    now: DateTime,
) -> (DateTime, DateTime) {
    let anchor = match facts {
        Some(facts) if plan.id != FREE => facts.current_period_start.day(),
        _ => 1,
    };
    let (start, end) = period(anchor, now.date());
    (midnight(start), midnight(end))
}

fn midnight(day: Date) -> DateTime {
    day.with_time(Time::MIDNIGHT).assume_utc()
}

/// The levels an organization reached in one period of one plan (the profile's `usage_levels`).
/// Another plan or period starts clean: [`LevelsReached::of`] reads 0 for it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LevelsReached {
    pub plan: String,
    #[serde(with = "clock::serde_rfc3339")]
    pub period_start: DateTime,
    #[serde(with = "clock::serde_rfc3339")]
    pub period_end: DateTime,
    /// The highest level reached per metric (absent: none).
    #[serde(default)]
    pub levels: std::collections::BTreeMap<Metric, u8>,
    /// The limit each level was reached against: the gate refuses only while the plan's limit
    /// is still that one (a raised limit in `plans.json` opens it at once).
    #[serde(default)]
    pub limits: std::collections::BTreeMap<Metric, u64>,
}

impl LevelsReached {
    pub fn new(plan: &str, period: (DateTime, DateTime)) -> Self {
        Self {
            plan: plan.to_owned(),
            period_start: period.0,
            period_end: period.1,
            levels: Default::default(),
            limits: Default::default(),
        }
    }

    /// Records that `metric` reached `level` of `limit`.
    pub fn reach(&mut self, metric: Metric, level: u8, limit: u64) {
        self.levels.insert(metric, level);
        self.limits.insert(metric, limit);
    }

    /// Whether these are the levels of `plan` in the period starting at `period_start`.
    pub fn is_for(&self, plan: &str, period_start: DateTime) -> bool {
        self.plan == plan && self.period_start == period_start
    }

    pub fn of(&self, metric: Metric) -> u8 {
        self.levels.get(&metric).copied().unwrap_or(0)
    }
}

/// A metric the free plan refuses more of until the period resets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Exhausted {
    pub metric: Metric,
    pub limit: u64,
    pub resets_at: DateTime,
}

/// Whether an organization with these facts and levels may not add more of `metric` now: only
/// on the free plan (effective now), only for messages and API calls (a storage snapshot is a
/// gauge: refusing one would hide usage, not limit it), and only once 100 % was reached in the
/// current period. Paid plans are never refused.
pub fn exhausted(
    facts: Option<&SubscriptionFacts>,
    levels: Option<&LevelsReached>,
    metric: Metric,
    now: DateTime,
) -> Option<Exhausted> {
    if !matches!(metric, Metric::Messages | Metric::ApiCalls) {
        return None;
    }
    let plan = crate::effective_plan(facts, now);
    let levels = levels?;
    let limit = plan.limits.of(metric)?;
    let current = plan.id == FREE
        && levels.plan == FREE
        && levels.period_start <= now
        && now < levels.period_end;
    let same_limit = levels.limits.get(&metric) == Some(&limit);
    (current && same_limit && levels.of(metric) >= 100).then_some(Exhausted {
        metric,
        limit,
        resets_at: levels.period_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::find;
    use time::macros::{date, datetime};

    #[test]
    fn periods_start_on_the_anchor_day_clamped_to_short_months() {
        assert_eq!(
            period(1, date!(2026 - 12 - 02)),
            (date!(2026 - 12 - 01), date!(2027 - 01 - 01))
        );
        assert_eq!(
            period(15, date!(2026 - 12 - 02)),
            (date!(2026 - 11 - 15), date!(2026 - 12 - 15))
        );
        assert_eq!(
            period(15, date!(2026 - 12 - 15)),
            (date!(2026 - 12 - 15), date!(2027 - 01 - 15))
        );
        assert_eq!(
            period(31, date!(2027 - 02 - 28)),
            (date!(2027 - 02 - 28), date!(2027 - 03 - 31))
        );
        assert_eq!(
            period(31, date!(2027 - 02 - 27)),
            (date!(2027 - 01 - 31), date!(2027 - 02 - 28))
        );
        assert_eq!(
            period(30, date!(2028 - 02 - 29)),
            (date!(2028 - 02 - 29), date!(2028 - 03 - 30))
        );
        assert_eq!(
            period(10, date!(2027 - 01 - 05)),
            (date!(2026 - 12 - 10), date!(2027 - 01 - 10))
        );
    }

    #[test]
    fn levels_are_reached_at_80_and_100_percent_of_a_limit() {
        assert_eq!(level(799, Some(1000)), 0);
        assert_eq!(level(800, Some(1000)), 80);
        assert_eq!(level(999, Some(1000)), 80);
        assert_eq!(level(1000, Some(1000)), 100);
        assert_eq!(level(5000, Some(1000)), 100);
        assert_eq!(level(u64::MAX, None), 0);
        assert_eq!(level(u64::MAX, Some(u64::MAX)), 100);
        assert_eq!(level(4, Some(5)), 80);
        assert_eq!(crossed(100), vec![80, 100]);
        assert_eq!(crossed(80), vec![80]);
        assert!(crossed(0).is_empty());
    }

    #[test]
    fn only_the_free_plan_refuses_and_only_messages_and_api_calls_in_the_current_period() {
        let now = datetime!(2026-12-10 12:00 UTC);
        let free = find(FREE).unwrap();
        let mut levels = LevelsReached::new(FREE, current_period(free, None, now));
        assert_eq!(levels.period_start, datetime!(2026-12-01 00:00 UTC));
        assert_eq!(levels.period_end, datetime!(2027-01-01 00:00 UTC));
        levels.reach(Metric::Messages, 100, 1000);
        levels.reach(Metric::ApiCalls, 80, 10_000);
        levels.reach(Metric::StorageBytes, 100, 100_000_000);
        let refused = |metric, facts: Option<&SubscriptionFacts>, at| {
            exhausted(facts, Some(&levels), metric, at)
        };
        // Reached against a lower limit than the plan's today: open.
        let mut raised = levels.clone();
        raised.reach(Metric::Messages, 100, 500);
        assert_eq!(exhausted(None, Some(&raised), Metric::Messages, now), None);
        // Levels of a paid plan at 100 % never refuse, on the free plan or the paid one.
        let mut starter = LevelsReached::new("starter", (levels.period_start, levels.period_end));
        starter.reach(Metric::Messages, 100, 1000);
        assert_eq!(exhausted(None, Some(&starter), Metric::Messages, now), None);
        assert_eq!(
            refused(Metric::Messages, None, now),
            Some(Exhausted {
                metric: Metric::Messages,
                limit: 1000,
                resets_at: datetime!(2027-01-01 00:00 UTC)
            })
        );
        assert_eq!(refused(Metric::ApiCalls, None, now), None);
        assert_eq!(refused(Metric::StorageBytes, None, now), None);
        // The next month starts clean.
        assert_eq!(
            refused(Metric::Messages, None, datetime!(2027-01-01 00:00 UTC)),
            None
        );
        // A paid plan is never refused, whatever the levels say.
        let paid = SubscriptionFacts {
            status: crate::SubscriptionStatus::Active,
            plan: "starter".into(),
            interval: crate::Interval::Month,
            current_period_start: datetime!(2026-12-10 11:00 UTC),
            current_period_end: datetime!(2027-01-10 11:00 UTC),
            cancel_at_period_end: false,
            pending_plan: None,
            pending_interval: None,
            past_due_since: None,
        };
        assert_eq!(refused(Metric::Messages, Some(&paid), now), None);
        assert_eq!(
            current_period(find("starter").unwrap(), Some(&paid), now),
            (
                datetime!(2026-12-10 00:00 UTC),
                datetime!(2027-01-10 00:00 UTC)
            )
        );
        assert_eq!(exhausted(None, None, Metric::Messages, now), None);
    }
}
