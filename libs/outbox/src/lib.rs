//! The outbox: what a committed change must cause (a notification, closing a member's
//! sockets), recorded as an item *in the change's own transaction* so it is delivered at least
//! once from the table, never sent after the commit and forgotten.
//!
//! An outbox item is `ORG#<org>` / `OUTBOX#<change id>#<nn>` with the typed [`SideEffect`] under
//! `record` and the marker attribute [`MARKER`]: the one attribute the relay's stream filter
//! matches, so no other item of the table reaches it. Items expire after [`RETENTION`] (the
//! stream keeps records for 24 hours; the item stays longer so a failed delivery can be
//! re-driven from it).

mod relay;

use clock::{DateTime, Duration};
pub use notify::{Notice, ReadChange, Recipients};
use serde::{Deserialize, Serialize};
use store::keys::{self, OrgId};
use store::{Item, Key, StoreError};

/// The marker attribute (and its value, the record format's version) of every outbox item.
pub const MARKER: &str = "outbox";
pub const MARKER_VERSION: &str = "v1";
const ENTITY: &str = "outbox";
/// How long an outbox item is kept after its change.
pub const RETENTION: Duration = Duration::days(7);

pub use relay::{Delivered, Relay, RelayError, Route, StreamRecord};

/// One side effect of a change: exactly what the notifications queue carries, so the relay
/// forwards it as it is.
pub use notify::Work as SideEffect;

/// An outbox item as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutboxRecord {
    pub org_id: String,
    /// The activity entry of the change that recorded it.
    pub change_id: String,
    pub index: usize,
    pub record: SideEffect,
    #[serde(with = "clock::serde_rfc3339")]
    pub recorded_at: DateTime,
}

impl OutboxRecord {
    pub fn key(&self) -> Key {
        keys::outbox_record(OrgId(&self.org_id), &self.change_id, self.index)
    }

    /// The item to put (with `attribute_not_exists`) in the change's transaction.
    pub fn item(&self) -> Result<Item, StoreError> {
        let mut item = store::item(&self.key(), ENTITY, self)?;
        item.insert(
            MARKER.to_owned(),
            store::aws_sdk_dynamodb::types::AttributeValue::S(MARKER_VERSION.to_owned()),
        );
        Ok(store::with_ttl(
            item,
            (self.recorded_at + RETENTION).unix_timestamp(),
        ))
    }

    /// The id every delivery of this record carries (the same on every redelivery), so the
    /// consumer drops duplicates.
    pub fn delivery_id(&self) -> String {
        let key = self.key();
        keys::digest(format!("{}\n{}", key.pk, key.sk).as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth::Role;
    use notify::{NotificationType, Severity};
    use time::macros::datetime;

    pub(crate) fn record() -> OutboxRecord {
        OutboxRecord {
            org_id: "01JORG".into(),
            change_id: "01JCHANGE".into(),
            index: 1,
            record: SideEffect::Notify {
                recipients: Recipients::Roles(vec![Role::Owner, Role::Admin]),
                notice: Notice {
                    kind: NotificationType::Team,
                    severity: Severity::Info,
                    title: "Member removed".into(),
                    body: "Bo was removed.".into(),
                    data: serde_json::json!({"user_id": "bo"}),
                    email_only: false,
                },
            },
            recorded_at: datetime!(2026-12-01 10:00:00 UTC),
        }
    }

    #[test]
    fn an_outbox_item_carries_the_marker_its_record_and_a_ttl() {
        let record = record();
        let item = record.item().unwrap();
        assert_eq!(item[MARKER].as_s().unwrap(), MARKER_VERSION);
        assert_eq!(item["PK"].as_s().unwrap(), "ORG#01JORG");
        assert_eq!(item["SK"].as_s().unwrap(), "OUTBOX#01JCHANGE#01");
        let ttl: i64 = item["ttl"].as_n().unwrap().parse().unwrap();
        assert_eq!(ttl, (record.recorded_at + RETENTION).unix_timestamp());
        let back: OutboxRecord = store::from_item(item).unwrap();
        assert_eq!(back, record);
    }

    #[test]
    fn records_are_typed_json_and_delivery_ids_are_stable() {
        let record = record();
        let json = serde_json::to_value(&record.record).unwrap();
        assert_eq!(json["kind"], "notify");
        assert_eq!(
            json["recipients"],
            serde_json::json!({"kind": "roles", "value": ["owner", "admin"]})
        );
        assert_eq!(json["notice"]["type"], "team");
        let close = SideEffect::CloseConnections {
            user_id: "bo".into(),
        };
        assert_eq!(
            serde_json::to_value(&close).unwrap(),
            serde_json::json!({"kind": "close_connections", "user_id": "bo"})
        );
        assert_eq!(record.delivery_id(), record.clone().delivery_id());
        let other = OutboxRecord {
            index: 2,
            ..record.clone()
        };
        assert_ne!(record.delivery_id(), other.delivery_id());
    }
}
