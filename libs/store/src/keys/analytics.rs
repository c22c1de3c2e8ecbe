//! Tracked events and their daily counters, under the organization; raw events also in GSI1
//! (by name) and GSI2 (by agent).

use super::{Index, Key, OrgId, Partition, org_items, org_partition};

pub(super) const EVENT: &str = "EVENT#";
pub(super) const EVENT_ID: &str = "EVENT_ID#";
pub(super) const ORG_DAY: &str = "ORG_DAY#";
pub(super) const AGENT_DAY: &str = "AGENT_DAY#";
/// Index partitions of raw events, after `ORG#<org_id>`.
pub const EVENT_NAME_PARTITION: &str = "#EVENT_NAME#";
pub const EVENT_AGENT_PARTITION: &str = "#EVENT_AGENT#";

/// Sort keys of raw events order by event time: `EVENT#<epoch ms, 13 digits>#<event id>`.
fn event_sort(timestamp_ms: i64, event_id: &str) -> String {
    format!("{timestamp_ms:013}#{event_id}")
}

/// A raw tracked event. Its conditional put is also what makes aggregation exactly-once for
/// server-assigned ids: a redelivered message finds the item already there.
pub fn raw_event(org: OrgId<'_>, timestamp_ms: i64, event_id: &str) -> Key {
    Key::new(
        org_partition(org),
        format!("{EVENT}{}", event_sort(timestamp_ms, event_id)),
    )
}

pub fn raw_events(org: OrgId<'_>) -> Partition {
    org_items(org, EVENT)
}

/// Sort keys of raw events from `from_ms` to `to_ms` inclusive.
pub fn raw_event_window(from_ms: i64, to_ms: i64) -> (String, String) {
    (
        format!("{EVENT}{from_ms:013}#"),
        format!("{EVENT}{to_ms:013}#~"),
    )
}

/// Raw events of one name (GSI1) or one agent (GSI2): the index partition, and the sort key the
/// event carries there (the same time order as the table).
pub fn raw_events_by_name(org: OrgId<'_>, name: &str) -> (Index, Partition) {
    (
        Index::Gsi1,
        Partition {
            pk: format!("{}{EVENT_NAME_PARTITION}{name}", org_partition(org)),
            sk_prefix: String::new(),
        },
    )
}

pub fn raw_events_by_agent(org: OrgId<'_>, agent_id: &str) -> (Index, Partition) {
    (
        Index::Gsi2,
        Partition {
            pk: format!("{}{EVENT_AGENT_PARTITION}{agent_id}", org_partition(org)),
            sk_prefix: String::new(),
        },
    )
}

/// The sort key of a raw event in either index, and the inclusive window of sort keys.
pub fn raw_event_index_sort(timestamp_ms: i64, event_id: &str) -> String {
    event_sort(timestamp_ms, event_id)
}

pub fn raw_event_index_window(from_ms: i64, to_ms: i64) -> (String, String) {
    (format!("{from_ms:013}#"), format!("{to_ms:013}#~"))
}

/// A client-chosen event id seen for this organization: client ids may come back with another
/// timestamp (a retried request), so they get this once-marker besides the raw event's own key.
pub fn event_id_marker(org: OrgId<'_>, event_id: &str) -> Key {
    Key::new(org_partition(org), format!("{EVENT_ID}{event_id}"))
}

/// An organization's counters for one UTC day (`YYYY-MM-DD`).
pub fn org_day(org: OrgId<'_>, date: &str) -> Key {
    Key::new(org_partition(org), format!("{ORG_DAY}{date}"))
}

pub fn org_days(org: OrgId<'_>) -> Partition {
    org_items(org, ORG_DAY)
}

/// Sort keys of the days from `from` to `to` inclusive.
pub fn org_day_window(from: &str, to: &str) -> (String, String) {
    (format!("{ORG_DAY}{from}"), format!("{ORG_DAY}{to}"))
}

/// One agent's counters for one UTC day. Day first, so a period's agents are one Query range.
pub fn agent_day(org: OrgId<'_>, date: &str, agent_id: &str) -> Key {
    Key::new(org_partition(org), format!("{AGENT_DAY}{date}#{agent_id}"))
}

pub fn agent_days(org: OrgId<'_>) -> Partition {
    org_items(org, AGENT_DAY)
}

/// Sort keys of every agent's days from `from` to `to` inclusive (`~` sorts after agent ids).
pub fn agent_day_window(from: &str, to: &str) -> (String, String) {
    (format!("{AGENT_DAY}{from}#"), format!("{AGENT_DAY}{to}#~"))
}
