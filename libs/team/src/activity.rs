//! The activity log, newest first: filtered by action and time window, billing entries only for
//! owners and admins, expired entries never shown (TTL deletion is lazy).

use std::collections::HashMap;

use audit::ActivityEntry;
use auth::{OrgMember, Permission, allows};
use clock::DateTime;
use serde::{Deserialize, Serialize};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::{Filter, Page, Query, Store, keys};
use utoipa::ToSchema;

use crate::TeamError;

#[derive(Clone, Debug, Default)]
pub struct ActivityFilter {
    /// Exact action, e.g. `member.role_changed`.
    pub action: Option<String>,
    pub from: Option<DateTime>,
    pub to: Option<DateTime>,
}

impl ActivityFilter {
    /// The filter of `?action=&from=&to=`: empty values read as absent; an action is lower-case
    /// letters, dots and underscores (at most 100), times are RFC 3339.
    pub fn parse(
        action: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Self, TeamError> {
        let action = action.filter(|a| !a.is_empty());
        if action.is_some_and(|a| {
            a.len() > 100
                || !a
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
        }) {
            return Err(TeamError::InvalidField(
                "action",
                "must be an action name such as member.role_changed",
            ));
        }
        let time = |field, value| {
            clock::optional_rfc3339(value)
                .map_err(|clock::NotRfc3339| TeamError::InvalidField(field, clock::RFC3339_HINT))
        };
        Ok(Self {
            action: action.map(str::to_owned),
            from: time("from", from)?,
            to: time("to", to)?,
        })
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ActivityView {
    pub id: String,
    pub actor_id: String,
    pub action: String,
    pub target_type: String,
    pub target_id: String,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<ActivityEntry> for ActivityView {
    fn from(e: ActivityEntry) -> Self {
        Self {
            id: e.id,
            actor_id: e.actor_id,
            action: e.action,
            target_type: e.target_type,
            target_id: e.target_id,
            metadata: e.metadata,
            created_at: clock::rfc3339(e.created_at),
        }
    }
}

/// The lowest and highest ULID of a millisecond: entry ids of a time window lie between them.
/// Windows are therefore millisecond-precise: `from` and `to` include their whole millisecond.
fn ulid_bound(at: Option<DateTime>, highest: bool) -> String {
    let ms = at.map(|t| (t.unix_timestamp_nanos() / 1_000_000).clamp(0, (1 << 48) - 1) as u64);
    match (ms, highest) {
        (Some(ms), false) => ulid::Ulid::from_parts(ms, 0).to_string(),
        (Some(ms), true) => ulid::Ulid::from_parts(ms, (1u128 << 80) - 1).to_string(),
        (None, false) => ulid::Ulid::nil().to_string(),
        (None, true) => ulid::Ulid::from_parts((1 << 48) - 1, (1u128 << 80) - 1).to_string(),
    }
}

/// A page of the log (1 round trip unless filters skip many entries; at most a few).
pub async fn list_activity(
    store: &Store,
    now: DateTime,
    caller: &OrgMember,
    filter: ActivityFilter,
    limit: u16,
    cursor: Option<&str>,
) -> Result<Page<ActivityView>, TeamError> {
    caller.require(Permission::ReadOrganization)?;
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from > to
    {
        return Err(TeamError::InvalidField("from", "must not be after to"));
    }
    let mut conditions = vec!["#ttl > :now".to_owned()];
    let mut names = HashMap::from([("#ttl".to_owned(), keys::TTL.to_owned())]);
    let mut values = HashMap::from([(
        ":now".to_owned(),
        AttributeValue::N(now.unix_timestamp().to_string()),
    )]);
    if let Some(action) = &filter.action {
        conditions.push("#action = :action".into());
        names.insert("#action".into(), "action".into());
        values.insert(":action".into(), AttributeValue::S(action.clone()));
    }
    if !allows(caller.role, Permission::ReadBillingActivity) {
        conditions.push("#category <> :billing".into());
        names.insert("#category".into(), "category".into());
        values.insert(":billing".into(), AttributeValue::S("billing".into()));
    }
    let mut query = Query::new(
        "team-activity",
        keys::activities(keys::OrgId(&caller.org_id)),
        limit,
        cursor,
    )
    .newest_first();
    query.sort_range = Some(keys::activity_window(
        &ulid_bound(filter.from, false),
        &ulid_bound(filter.to, true),
    ));
    query.filter = Some(Filter {
        expression: conditions.join(" AND "),
        names,
        values,
    });
    let page = store.query::<ActivityEntry>(query).await?;
    Ok(Page {
        items: page.items.into_iter().map(ActivityView::from).collect(),
        next_cursor: page.next_cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_from_the_query_string() {
        let filter = ActivityFilter::parse(
            Some("member.role_changed"),
            Some("2026-11-23T10:00:00Z"),
            Some(""),
        )
        .unwrap();
        assert_eq!(filter.action.as_deref(), Some("member.role_changed"));
        assert!(filter.from.is_some() && filter.to.is_none());
        assert!(
            ActivityFilter::parse(Some(""), None, None)
                .unwrap()
                .action
                .is_none()
        );
        for (action, from, field) in [
            (Some("Member.Removed"), None, "action"),
            (Some(&*"a".repeat(101)), None, "action"),
            (None, Some("yesterday"), "from"),
        ] {
            match ActivityFilter::parse(action, from, None) {
                Err(TeamError::InvalidField(f, _)) => assert_eq!(f, field),
                other => panic!("{other:?}"),
            }
        }
    }
    use time::macros::datetime;

    #[test]
    fn time_bounds_enclose_every_id_of_their_millisecond() {
        let at = datetime!(2026-05-01 12:00:00.123 UTC);
        let id = ulid::Ulid::from_datetime(at.into()).to_string();
        assert!(ulid_bound(Some(at), false) <= id && id <= ulid_bound(Some(at), true));
        assert!(ulid_bound(None, false) < id && id < ulid_bound(None, true));
        let earlier = datetime!(2026-05-01 12:00:00.122 UTC);
        assert!(ulid_bound(Some(earlier), true) < id);
    }
}
