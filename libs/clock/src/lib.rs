//! The one clock the application's own time rules read (invitation expiry, billing and analytics
//! periods, ticket expiry, `last_active_at`). Tests hold a [`Clock::manual`] and move it instead of
//! sleeping.

use std::sync::{Arc, Mutex};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use time::{Duration, OffsetDateTime as DateTime};

#[derive(Clone, Debug)]
pub struct Clock(Source);

#[derive(Clone, Debug)]
enum Source {
    System,
    Manual(Arc<Mutex<OffsetDateTime>>),
}

impl Default for Clock {
    fn default() -> Self {
        Self::system()
    }
}

impl Clock {
    pub fn system() -> Self {
        Self(Source::System)
    }

    /// A clock that stands still at `start` until a test moves it.
    pub fn manual(start: OffsetDateTime) -> Self {
        Self(Source::Manual(Arc::new(Mutex::new(start))))
    }

    /// Now, in UTC, truncated to whole milliseconds so stored and returned times agree.
    pub fn now(&self) -> OffsetDateTime {
        let now = match &self.0 {
            Source::System => OffsetDateTime::now_utc(),
            Source::Manual(at) => *at.lock().expect("clock lock"),
        };
        truncate_to_millis(now)
    }

    /// Moves a manual clock forward (or back, with a negative duration). A system clock ignores it.
    pub fn advance(&self, by: Duration) {
        if let Source::Manual(at) = &self.0 {
            let mut at = at.lock().expect("clock lock");
            *at += by;
        }
    }
}

fn truncate_to_millis(t: OffsetDateTime) -> OffsetDateTime {
    let millis = t.millisecond();
    t.replace_nanosecond(u32::from(millis) * 1_000_000)
        .expect("milliseconds are a valid nanosecond value")
}

/// RFC 3339 in UTC, always with milliseconds and a `Z` suffix: the form every API time takes.
/// The fixed width makes stored times sort as strings in time order, which key conditions and
/// condition expressions rely on.
pub fn rfc3339(t: OffsetDateTime) -> String {
    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.to_offset(time::UtcOffset::UTC)
        .format(FORMAT)
        .expect("a UTC time always formats")
}

/// What a client is told when a time it sent does not parse.
pub const RFC3339_HINT: &str = "must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z";

/// A time a client sent that is not RFC 3339 (see [`RFC3339_HINT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotRfc3339;

/// An optional RFC 3339 time from a query string: empty reads as absent.
pub fn optional_rfc3339(value: Option<&str>) -> Result<Option<OffsetDateTime>, NotRfc3339> {
    value
        .filter(|raw| !raw.is_empty())
        .map(|raw| parse_rfc3339(raw).ok_or(NotRfc3339))
        .transpose()
}

/// Parses an RFC 3339 time (any offset) into UTC.
pub fn parse_rfc3339(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(time::UtcOffset::UTC))
}

/// Serde adapter: stores and renders times as RFC 3339 UTC strings.
pub mod serde_rfc3339 {
    use serde::{Deserialize, Deserializer, Serializer};
    use time::OffsetDateTime;

    pub fn serialize<S: Serializer>(t: &OffsetDateTime, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::rfc3339(*t))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<OffsetDateTime, D::Error> {
        let raw = String::deserialize(d)?;
        super::parse_rfc3339(&raw)
            .ok_or_else(|| serde::de::Error::custom(format!("not an RFC 3339 time: {raw}")))
    }

    pub mod option {
        use serde::{Deserialize, Deserializer, Serializer};
        use time::OffsetDateTime;

        pub fn serialize<S: Serializer>(
            t: &Option<OffsetDateTime>,
            s: S,
        ) -> Result<S::Ok, S::Error> {
            match t {
                Some(t) => s.serialize_str(&super::super::rfc3339(*t)),
                None => s.serialize_none(),
            }
        }

        pub fn deserialize<'de, D: Deserializer<'de>>(
            d: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            match Option::<String>::deserialize(d)? {
                None => Ok(None),
                Some(raw) => super::super::parse_rfc3339(&raw).map(Some).ok_or_else(|| {
                    serde::de::Error::custom(format!("not an RFC 3339 time: {raw}"))
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = Clock::manual(datetime!(2026-01-01 00:00:00 UTC));
        assert_eq!(rfc3339(clock.now()), "2026-01-01T00:00:00.000Z");
        clock.advance(Duration::days(7));
        assert_eq!(rfc3339(clock.now()), "2026-01-08T00:00:00.000Z");
    }

    #[test]
    fn rendered_times_sort_in_time_order() {
        let a = rfc3339(datetime!(2026-01-01 00:00:00 UTC));
        let b = rfc3339(datetime!(2026-01-01 00:00:00.5 UTC));
        let c = rfc3339(datetime!(2026-01-01 00:00:01 UTC));
        assert!(a < b && b < c, "{a} {b} {c}");
    }

    #[test]
    fn times_render_in_utc_with_millis_at_most() {
        let t = datetime!(2026-03-04 05:06:07.123456789 +02:00);
        let clock = Clock::manual(t);
        assert_eq!(rfc3339(clock.now()), "2026-03-04T03:06:07.123Z");
        assert_eq!(
            parse_rfc3339("2026-03-04T05:06:07+02:00"),
            Some(datetime!(2026-03-04 03:06:07 UTC))
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
    }
}
