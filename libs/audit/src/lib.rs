//! The organization's activity (audit) log. Every change to an organization's team, billing or
//! settings adds one entry *in the same transaction as the change*: callers get the entry's item
//! from [`entry_item`] and put it into their [`store::Transaction`], so a change that fails leaves
//! no entry and an entry never describes a change that did not happen.
//!
//! [`AuditedChange`] is how every change is made: the writes, the actor's re-check, the entry
//! and the side effects in one transaction, committed by [`AuditLog::commit`].

mod change;

pub use change::{
    ACTOR_CHECK, Activity, Actor, AuditLog, AuditedChange, ChangeError, SIDE_EFFECT, SYSTEM_ACTOR,
};

use clock::{DateTime, Duration};
use serde::{Deserialize, Serialize};
use store::{Item, StoreError, keys};

pub const ENTITY: &str = "activity";

/// Which part of the product an entry belongs to; billing entries are shown to owners and
/// admins only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Organization,
    Team,
    Billing,
}

/// One entry of the activity log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityEntry {
    /// A ULID: entries sort by time under their organization.
    pub id: String,
    pub org_id: String,
    /// The user who made the change (`system` for changes made by the platform itself, such as
    /// a Stripe webhook).
    pub actor_id: String,
    /// `<object>.<verb>`, e.g. `org.renamed`, `member.role_changed`, `subscription.updated`.
    pub action: String,
    pub category: Category,
    pub target_type: String,
    pub target_id: String,
    /// What changed, e.g. `{"from": "Acme", "to": "Acme Inc"}`.
    #[serde(default)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "clock::serde_rfc3339")]
    pub created_at: DateTime,
}

/// How long entries are kept unless configured otherwise (`ACTIVITY_RETENTION_DAYS`).
pub const DEFAULT_RETENTION: Duration = Duration::days(365);

/// A new entry, stamped `now`.
pub struct NewEntry<'a> {
    pub org_id: &'a str,
    pub actor_id: &'a str,
    pub action: &'a str,
    pub category: Category,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub metadata: serde_json::Value,
}

impl NewEntry<'_> {
    pub fn at(self, now: DateTime) -> ActivityEntry {
        let id = ulid::Ulid::from_datetime(now.into()).to_string();
        let metadata = match self.metadata {
            serde_json::Value::Object(map) => map,
            serde_json::Value::Null => Default::default(),
            other => serde_json::Map::from_iter([("value".to_owned(), other)]),
        };
        ActivityEntry {
            id,
            org_id: self.org_id.to_owned(),
            actor_id: self.actor_id.to_owned(),
            action: self.action.to_owned(),
            category: self.category,
            target_type: self.target_type.to_owned(),
            target_id: self.target_id.to_owned(),
            metadata,
            created_at: now,
        }
    }
}

/// The item to put (with `Condition::NotExists`) in the transaction that makes the change.
pub fn entry_item(entry: &ActivityEntry, retention: Duration) -> Result<Item, StoreError> {
    let item = store::item(
        &keys::activity(keys::OrgId(&entry.org_id), &entry.id),
        ENTITY,
        entry,
    )?;
    Ok(store::with_ttl(
        item,
        (entry.created_at + retention).unix_timestamp(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn entries_sort_by_time_and_expire_after_retention() {
        let now = datetime!(2026-05-01 12:00:00 UTC);
        let entry = NewEntry {
            org_id: "01JORG",
            actor_id: "u1",
            action: "org.renamed",
            category: Category::Organization,
            target_type: "organization",
            target_id: "01JORG",
            metadata: serde_json::json!({"from": "A", "to": "B"}),
        }
        .at(now);
        let later = NewEntry {
            org_id: "01JORG",
            actor_id: "u1",
            action: "x",
            category: Category::Team,
            target_type: "t",
            target_id: "t",
            metadata: serde_json::Value::Null,
        }
        .at(now + Duration::seconds(1));
        assert!(entry.id < later.id);
        let item = entry_item(&entry, DEFAULT_RETENTION).unwrap();
        let ttl = item["ttl"].as_n().unwrap().parse::<i64>().unwrap();
        assert_eq!(ttl, (now + Duration::days(365)).unix_timestamp());
        assert_eq!(item["PK"].as_s().unwrap(), "ORG#01JORG");
    }
}
