//! Outbox records: the side effects a committed change must cause, under its organization.

use super::{Key, OrgId, Partition, org_items, org_partition};

pub(super) const OUTBOX: &str = "OUTBOX#";

/// The `index`-th side effect of the change whose activity entry is `change_id` (a ULID): unique
/// per change, time-ordered, and the same on every redelivery of its stream record.
pub fn outbox_record(org: OrgId<'_>, change_id: &str, index: usize) -> Key {
    Key::new(
        org_partition(org),
        format!("{OUTBOX}{change_id}#{index:02}"),
    )
}

/// Every outbox record of an organization, oldest change first (for tests and re-driving).
pub fn outbox(org: OrgId<'_>) -> Partition {
    org_items(org, OUTBOX)
}
