//! The activity (audit) log, under its organization.

use super::{Key, OrgId, Partition, org_items, org_partition};

pub(super) const ACTIVITY: &str = "ACTIVITY#";

/// One audit-log entry; the id is a ULID so the sort key orders entries by time.
pub fn activity(org: OrgId<'_>, activity_id: &str) -> Key {
    Key::new(org_partition(org), format!("{ACTIVITY}{activity_id}"))
}

/// Sort keys of activity entries whose ids lie between two ULIDs (inclusive): a time window.
pub fn activity_window(from_id: &str, to_id: &str) -> (String, String) {
    (format!("{ACTIVITY}{from_id}"), format!("{ACTIVITY}{to_id}"))
}

pub fn activities(org: OrgId<'_>) -> Partition {
    org_items(org, ACTIVITY)
}
