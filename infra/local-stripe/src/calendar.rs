//! Billing periods on the UTC calendar, as Stripe counts them: a period ends on the anchor's day
//! of the month (clamped to the month's last day: an anchor on the 31st bills on Feb 28/29), at
//! the anchor's time of day.

const DAY: i64 = 86_400;

/// Days since 1970-01-01 → (year, month 1–12, day 1–31). Howard Hinnant's civil-from-days.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// (year, month, day) → days since 1970-01-01.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let yoe = year.rem_euclid(400);
    let month = i64::from(month);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: u32) -> u32 {
    let (next_year, next_month) = if month == 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    };
    (days_from_civil(next_year, next_month, 1) - days_from_civil(year, month, 1)) as u32
}

/// `anchor` moved `months` calendar months on, its day clamped to the target month's length.
pub fn add_months(anchor: i64, months: i64) -> i64 {
    let days = anchor.div_euclid(DAY);
    let time_of_day = anchor.rem_euclid(DAY);
    let (year, month, day) = civil(days);
    let index = year * 12 + i64::from(month) - 1 + months;
    let (year, month) = (index.div_euclid(12), (index.rem_euclid(12) + 1) as u32);
    let day = day.min(days_in_month(year, month));
    days_from_civil(year, month, day) * DAY + time_of_day
}

/// Months in one billing interval.
pub fn interval_months(interval: &str) -> i64 {
    if interval == "year" { 12 } else { 1 }
}

/// The end of the period that starts at `start`, for a subscription anchored at `anchor`: the
/// first anchor-aligned boundary after `start`.
pub fn period_end(anchor: i64, start: i64, interval: &str) -> i64 {
    let step = interval_months(interval);
    // Start one step short of the calendar months between them, so a long advance is not a
    // walk from the anchor at every renewal.
    let (ay, am, _) = civil(anchor.div_euclid(DAY));
    let (sy, sm, _) = civil(start.div_euclid(DAY));
    let months = (sy - ay) * 12 + i64::from(sm) - i64::from(am);
    let mut n = (months / step - 1).max(1);
    loop {
        let end = add_months(anchor, n * step);
        if end > start {
            return end;
        }
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const JAN_31_2026: i64 = 1_769_817_600; // 2026-01-31T00:00:00Z

    #[test]
    fn months_clamp_to_the_last_day_and_keep_the_anchor_day() {
        let feb = add_months(JAN_31_2026, 1);
        assert_eq!(civil(feb / DAY), (2026, 2, 28));
        assert_eq!(civil(add_months(JAN_31_2026, 2) / DAY), (2026, 3, 31));
        assert_eq!(civil(add_months(JAN_31_2026, 12) / DAY), (2027, 1, 31));
        assert_eq!(civil(add_months(JAN_31_2026, 25) / DAY), (2028, 2, 29));
    }

    #[test]
    fn calendar_round_trips() {
        for days in [-1, 0, 59, 365, 10_957, 20_000, 20_514] {
            let (y, m, d) = civil(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil(0), (1970, 1, 1));
    }

    #[test]
    fn periods_follow_the_anchor() {
        let feb_28 = add_months(JAN_31_2026, 1);
        assert_eq!(period_end(JAN_31_2026, JAN_31_2026, "month"), feb_28);
        assert_eq!(
            period_end(JAN_31_2026, feb_28, "month"),
            add_months(JAN_31_2026, 2)
        );
        assert_eq!(
            period_end(JAN_31_2026, JAN_31_2026, "year"),
            add_months(JAN_31_2026, 12)
        );
    }
}
