//! Tracked events and their daily counters, under the organization. Raw events are in no index:
//! an index entry would cost each event another write unit, and reads by name or agent filter
//! the time-ordered partition instead.

use super::{Key, OrgId, Partition, org_items, org_partition};

pub(super) const EVENT: &str = "EVENT#";
pub(super) const EVENT_ID: &str = "EVENT_ID#";
pub(super) const ORG_DAY: &str = "ORG_DAY#";
pub(super) const AGENT_DAY: &str = "AGENT_DAY#";

/// Sort keys of raw events order by event time: `EVENT#<epoch ms, 13 digits>#<event id>`.
fn event_sort(timestamp_ms: i64, event_id: &str) -> String {
    format!("{timestamp_ms:013}#{event_id}")
}

/// Raw events are written across this many partitions of an organization, chosen by a hash of
/// the event id. Their sort keys all grow at the end (event time), which DynamoDB cannot split a
/// hot partition for: in one partition, a heavy tenant would meet a partition's 1,000 write units
/// per second; in four it has four times that. Shard 0 is the organization's own partition,
/// where raw events were kept before sharding, so those are read as they are.
pub const RAW_EVENT_SHARDS: u8 = 4;
/// The partition of shard `n` > 0: `ORG#<org id>#EVENTS#<n>`.
const EVENT_SHARD: &str = "#EVENTS#";

/// Which shard an event id's raw event is in (FNV-1a of the id: stable across releases).
pub fn raw_event_shard(event_id: &str) -> u8 {
    let hash = event_id.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    });
    (hash % u32::from(RAW_EVENT_SHARDS)) as u8
}

fn raw_event_partition(org: OrgId<'_>, shard: u8) -> String {
    match shard {
        0 => org_partition(org),
        n => format!("{}{EVENT_SHARD}{n}", org_partition(org)),
    }
}

/// A raw tracked event, in its shard.
pub fn raw_event(org: OrgId<'_>, timestamp_ms: i64, event_id: &str) -> Key {
    Key::new(
        raw_event_partition(org, raw_event_shard(event_id)),
        format!("{EVENT}{}", event_sort(timestamp_ms, event_id)),
    )
}

/// Every partition of an organization's raw events, shard 0 (its own partition) first. A list
/// reads all of them from the same position and merges them (`Store::query_merged`).
pub fn raw_events(org: OrgId<'_>) -> Vec<Partition> {
    (0..RAW_EVENT_SHARDS)
        .map(|shard| Partition {
            pk: raw_event_partition(org, shard),
            sk_prefix: EVENT.to_owned(),
        })
        .collect()
}

/// Sort keys of raw events from `from_ms` to `to_ms` inclusive.
pub fn raw_event_window(from_ms: i64, to_ms: i64) -> (String, String) {
    (
        format!("{EVENT}{from_ms:013}#"),
        format!("{EVENT}{to_ms:013}#~"),
    )
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
