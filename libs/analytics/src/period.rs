//! Reporting periods: whole UTC days, the last one included.

use clock::DateTime;
use problem::FieldError;

use crate::AnalyticsError;
use time::{Date, Duration};

/// The longest span a report covers (the daily metrics are kept longer, for the previous period).
pub const MAX_DAYS: i64 = 90;

/// An inclusive range of UTC days.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Period {
    pub from: Date,
    pub to: Date,
}

impl Period {
    pub fn days(&self) -> i64 {
        (self.to - self.from).whole_days() + 1
    }

    /// The period of the same length that ends the day before this one starts.
    pub fn previous(&self) -> Period {
        let days = Duration::days(self.days());
        Period {
            from: self.from - days,
            to: self.to - days,
        }
    }

    /// Every day of the period, first to last.
    pub fn dates(&self) -> impl Iterator<Item = Date> + use<> {
        let from = self.from;
        (0..self.days()).map(move |d| from + Duration::days(d))
    }

    pub fn contains(&self, date: Date) -> bool {
        self.from <= date && date <= self.to
    }
}

/// `YYYY-MM-DD`, the form dates take in keys and answers.
pub fn format_date(date: Date) -> String {
    format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

pub fn parse_date(s: &str) -> Option<Date> {
    let format = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s, &format).ok()
}

/// The period a report asks for: `period` (`7d`, `30d` or `90d`, default `7d`) ending today, or
/// explicit `from`/`to` bounds (RFC 3339 times or dates; their UTC days are included). With only
/// one bound, the other is `to` = today or `from` = `to` minus the period.
pub fn resolve(
    period: Option<&str>,
    from: Option<&str>,
    to: Option<&str>,
    now: DateTime,
) -> Result<Period, AnalyticsError> {
    let mut errors = Vec::new();
    let days = match period.filter(|p| !p.is_empty()) {
        None | Some("7d") => 7,
        Some("30d") => 30,
        Some("90d") => 90,
        Some(_) => {
            errors.push(FieldError::new("period", "must be 7d, 30d or 90d"));
            7
        }
    };
    let day = |field: &str, value: Option<&str>, errors: &mut Vec<FieldError>| {
        let value = value.filter(|v| !v.is_empty())?;
        let parsed = parse_date(value).or_else(|| clock::parse_rfc3339(value).map(|t| t.date()));
        if parsed.is_none() {
            errors.push(FieldError::new(
                field,
                "must be an RFC 3339 time or a date, e.g. 2026-11-23T10:00:00Z or 2026-11-23",
            ));
        }
        parsed
    };
    let from = day("from", from, &mut errors);
    let to = day("to", to, &mut errors);
    if !errors.is_empty() {
        return Err(AnalyticsError::Invalid(errors));
    }
    let today = now.date();
    let span = Duration::days(days - 1);
    let period = match (from, to) {
        (None, None) => Period {
            from: today - span,
            to: today,
        },
        (Some(from), None) => Period {
            from,
            to: today.max(from),
        },
        (None, Some(to)) => Period {
            from: to - span,
            to,
        },
        (Some(from), Some(to)) => Period { from, to },
    };
    if period.from > period.to {
        return Err(AnalyticsError::field("from", "must not be after `to`"));
    }
    if period.days() > MAX_DAYS {
        return Err(AnalyticsError::field(
            "from",
            format!("a report covers at most {MAX_DAYS} days"),
        ));
    }
    Ok(period)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime {
        clock::parse_rfc3339("2026-11-24T23:59:59Z").unwrap()
    }

    #[test]
    fn periods_end_today_and_include_it() {
        let p = resolve(None, None, None, now()).unwrap();
        assert_eq!(format_date(p.from), "2026-11-18");
        assert_eq!(format_date(p.to), "2026-11-24");
        assert_eq!(p.days(), 7);
        let prev = p.previous();
        assert_eq!(
            (format_date(prev.from), format_date(prev.to)),
            ("2026-11-11".into(), "2026-11-17".into())
        );
        assert_eq!(resolve(Some("90d"), None, None, now()).unwrap().days(), 90);
        assert_eq!(p.dates().count(), 7);
    }

    #[test]
    fn explicit_bounds() {
        let p = resolve(
            None,
            Some("2026-11-01T10:00:00+02:00"),
            Some("2026-11-03"),
            now(),
        )
        .unwrap();
        assert_eq!(
            (format_date(p.from), format_date(p.to)),
            ("2026-11-01".into(), "2026-11-03".into())
        );
        assert!(resolve(None, Some("2026-11-05"), Some("2026-11-03"), now()).is_err());
        assert!(resolve(Some("1y"), None, None, now()).is_err());
        assert!(resolve(None, Some("yesterday"), None, now()).is_err());
        assert!(resolve(None, Some("2026-01-01"), Some("2026-11-01"), now()).is_err());
    }
}
