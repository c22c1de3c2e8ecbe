//! What owners and admins are told when a limit's level is reached.

use notify::{Notice, NotificationType, Recipients, Role, Severity, Work};
use plans::usage::Metric;

use crate::{Crossing, CurrentUsage};

fn day(t: clock::DateTime) -> String {
    let d = t.date();
    format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The notice of one crossing; its data names the metric, the level, used and limit.
pub fn level_reached(org_name: &str, usage: &CurrentUsage, crossing: &Crossing) -> Work {
    let metric = crossing.metric.label();
    let resets = day(usage.period_end);
    let refused = usage.plan.id == plans::FREE
        && matches!(crossing.metric, Metric::Messages | Metric::ApiCalls);
    let (severity, title, body) = if crossing.level >= 100 {
        let consequence = if refused {
            format!(
                " Events that add {metric} are refused until the period resets on {resets}; \
                 upgrade the plan to continue now."
            )
        } else {
            String::new()
        };
        (
            Severity::Error,
            format!("{} limit reached", capitalized(metric)),
            format!(
                "{org_name} has used {} of {} {metric} this period.{consequence}",
                crossing.used, crossing.limit
            ),
        )
    } else {
        (
            Severity::Warning,
            format!("{}% of {metric} used", crossing.level),
            format!(
                "{org_name} has used {} of {} {metric} this period, which resets on {resets}.",
                crossing.used, crossing.limit
            ),
        )
    };
    Work::Notify {
        recipients: Recipients::Roles(vec![Role::Owner, Role::Admin]),
        notice: Notice {
            kind: NotificationType::Billing,
            severity,
            title,
            body,
            data: serde_json::json!({
                "metric": crossing.metric,
                "level": crossing.level,
                "used": crossing.used,
                "limit": crossing.limit,
                "plan": usage.plan.id,
                "period_start": clock::rfc3339(usage.period_start),
                "period_end": clock::rfc3339(usage.period_end),
            }),
            email_only: false,
        },
    }
}

fn capitalized(words: &str) -> String {
    let mut chars = words.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}
