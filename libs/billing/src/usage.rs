//! `GET /v1/billing/usage`: the current period's metered usage against the effective plan.
//!
//! Periods are whole UTC days: the calendar month on the free plan; on a paid plan the month
//! that starts on the subscription's anchor day (the day of its current period's start),
//! clamped to shorter months (an anchor on the 31st starts February's period on the 28th),
//! also for yearly subscriptions, whose limits are monthly.

use accounts::OrgRecord;
use auth::{OrgMember, Permission};
use clock::DateTime;
use time::{Date, Month, Time};

use crate::views::{Metric, Metrics, Usage};
use crate::{Billing, BillingError};

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

fn midnight(day: Date) -> DateTime {
    day.with_time(Time::MIDNIGHT).assume_utc()
}

impl Billing {
    pub async fn usage(&self, member: &OrgMember) -> Result<Usage, BillingError> {
        member.require(Permission::ReadBilling)?;
        let org = self.org(member).await?;
        let now = self.clock.now();
        let plan = org.effective_plan(now);
        let today = now.date();
        let anchor = match &org.subscription {
            Some(facts) if plan.id != plans::FREE => facts.current_period_start.day(),
            _ => 1,
        };
        let (start, end) = period(anchor, today);
        let last = end.previous_day().expect("a day before the period's end");
        let used =
            analytics::usage::usage_between(&self.store, &member.org_id, start, last).await?;
        let limits = &plan.limits;
        Ok(Usage {
            plan: plan.id.clone(),
            period_start: midnight(start),
            period_end: midnight(end),
            metrics: Metrics {
                messages: Metric::new(used.messages, limits.messages),
                api_calls: Metric::new(used.api_calls, limits.api_calls),
                storage_bytes: Metric::new(used.storage_bytes, limits.storage_bytes),
                seats: Metric::new(
                    u64::try_from(org.seats_used).unwrap_or(0),
                    limits.seats.map(u64::from),
                ),
            },
        })
    }

    pub(crate) async fn org(&self, member: &OrgMember) -> Result<OrgRecord, BillingError> {
        self.store
            .get(&store::keys::org_profile(store::keys::OrgId(
                &member.org_id,
            )))
            .await?
            .ok_or(BillingError::NoSubscription)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

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
}
