//! In-app notifications, under the organization and the recipient: the notifications, each
//! user's counter (the exact unread count, kept in the same transactions as every change) and
//! preferences; unread notifications also in GSI1 by sequence, so "unread" is a key range.

use super::{Index, Key, OrgId, Partition, UserId, digest, org_partition};

pub(super) const NOTIFICATION: &str = "NOTIF#";
pub(super) const COUNTER: &str = "NOTIF_COUNTER#";
pub(super) const PREFERENCES: &str = "NOTIF_PREFS#";
pub(super) const TOMBSTONE: &str = "NOTIF_GONE#";
pub(super) const DELIVERY: &str = "NOTIF_DELIVERY#";
pub(super) const DONE: &str = "NOTIF_DONE#";
/// The index partition of a user's unread notifications, after `ORG#<org_id>`.
pub const UNREAD_PARTITION: &str = "#UNREAD#";
/// The index partition (GSI2) of a user's notifications by version, after `ORG#<org_id>`.
pub const BY_VERSION_PARTITION: &str = "#NOTIF_BY_VERSION#";

/// The user's part of a key read by prefix: a fixed-width digest, since a user id (the token's
/// `sub`) may contain `#` and "a#" must never be a prefix of another user's keys.
fn user_part(user: UserId<'_>) -> String {
    digest(user.0.as_bytes())[..32].to_owned()
}

/// A notification of `user`: `NOTIF#<digest of user>#<notification id>` (ids are ULIDs: newest
/// last).
pub fn notification(org: OrgId<'_>, user: UserId<'_>, id: &str) -> Key {
    Key::new(
        org_partition(org),
        format!("{NOTIFICATION}{}#{id}", user_part(user)),
    )
}

/// What is left of a deleted notification for a while, so a redelivered message does not bring
/// it back.
pub fn notification_tombstone(org: OrgId<'_>, user: UserId<'_>, id: &str) -> Key {
    Key::new(
        org_partition(org),
        format!("{TOMBSTONE}{}#{id}", user_part(user)),
    )
}

/// Every notification of `user` in the organization.
pub fn notifications(org: OrgId<'_>, user: UserId<'_>) -> Partition {
    Partition {
        pk: org_partition(org),
        sk_prefix: format!("{NOTIFICATION}{}#", user_part(user)),
    }
}

/// The user's counter: last sequence issued, the read-all watermark, the unread count, version.
pub fn notification_counter(org: OrgId<'_>, user: UserId<'_>) -> Key {
    Key::new(org_partition(org), format!("{COUNTER}{}", user.0))
}

pub fn notification_preferences(org: OrgId<'_>, user: UserId<'_>) -> Key {
    Key::new(org_partition(org), format!("{PREFERENCES}{}", user.0))
}

/// How one channel delivered a send request (or outbox notice) to one recipient:
/// `NOTIF_DELIVERY#<request id>#<digest of user>#<channel>`, so a request's deliveries are one
/// key range.
pub fn notification_delivery(
    org: OrgId<'_>,
    request_id: &str,
    user: UserId<'_>,
    channel: &str,
) -> Key {
    Key::new(
        org_partition(org),
        format!("{DELIVERY}{request_id}#{}#{channel}", user_part(user)),
    )
}

/// A notifications-queue message the dispatcher delivered in full, pushes included, by a
/// fingerprint (hex SHA-256) of its id and work: a redelivery of it does nothing.
pub fn notification_message_done(org: OrgId<'_>, fingerprint: &str) -> Key {
    Key::new(org_partition(org), format!("{DONE}{fingerprint}"))
}

/// Every delivery of one request.
pub fn notification_deliveries(org: OrgId<'_>, request_id: &str) -> Partition {
    Partition {
        pk: org_partition(org),
        sk_prefix: format!("{DELIVERY}{request_id}#"),
    }
}

/// The user's unread notifications in GSI1 (an item is there until it is read or deleted).
pub fn unread_notifications(org: OrgId<'_>, user: UserId<'_>) -> (Index, Partition) {
    (
        Index::Gsi1,
        Partition {
            pk: format!(
                "{}{UNREAD_PARTITION}{}",
                org_partition(org),
                user_part(user)
            ),
            sk_prefix: String::new(),
        },
    )
}

/// Every notification of the user in GSI2, by the counter version its insert set: what a socket
/// missed since a version it saw is a key range (ids follow request times, not store order).
pub fn notifications_by_version(org: OrgId<'_>, user: UserId<'_>) -> (Index, Partition) {
    (
        Index::Gsi2,
        Partition {
            pk: format!(
                "{}{BY_VERSION_PARTITION}{}",
                org_partition(org),
                user_part(user)
            ),
            sk_prefix: String::new(),
        },
    )
}

/// A notification's sort key in GSI2: its insert's counter version, fixed width.
pub fn version_sort(version: i64) -> String {
    format!("{version:012}")
}

/// A notification's sort key in GSI1: its sequence, fixed width so the order is numeric.
pub fn unread_sort(sequence: i64) -> String {
    format!("{sequence:012}")
}
