//! The table's key design, in one place. Nothing else in the code base writes a `PK`, `SK` or
//! index key by hand; `docs/data-model.md` lists every access pattern these keys serve.
//!
//! Tenant-owned items live under their organization's partition, `ORG#<org_id>`. A handful of
//! global lookup items live elsewhere and each is named here as such: a user's profile and their
//! list of memberships (`USER#<user_id>`), idempotency records of a user's requests, and the
//! token hashes of pending invitations (GSI1).

/// Attribute names of the primary key and the overloaded indexes.
pub const PK: &str = "PK";
pub const SK: &str = "SK";
pub const GSI1: &str = "GSI1";
pub const GSI1_PK: &str = "GSI1PK";
pub const GSI1_SK: &str = "GSI1SK";
pub const GSI2: &str = "GSI2";
pub const GSI2_PK: &str = "GSI2PK";
pub const GSI2_SK: &str = "GSI2SK";
/// Epoch seconds after which DynamoDB may delete the item. Deletion is lazy, so reads also check.
pub const TTL: &str = "ttl";
/// The entity name, kept on every item so a partition reads clearly in the console.
pub const ENTITY: &str = "entity";

/// One of the two overloaded global secondary indexes. An item appears in an index only while it
/// carries that index's key attributes (sparse indexes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Index {
    Gsi1,
    Gsi2,
}

impl Index {
    pub fn name(self) -> &'static str {
        match self {
            Index::Gsi1 => GSI1,
            Index::Gsi2 => GSI2,
        }
    }

    /// The attribute names of the index's partition and sort key.
    pub fn key_attributes(self) -> (&'static str, &'static str) {
        match self {
            Index::Gsi1 => (GSI1_PK, GSI1_SK),
            Index::Gsi2 => (GSI2_PK, GSI2_SK),
        }
    }
}

/// A primary key: partition and sort key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    fn new(pk: String, sk: impl Into<String>) -> Self {
        Self { pk, sk: sk.into() }
    }
}

fn org_partition(org_id: &str) -> String {
    format!("ORG#{org_id}")
}

fn user_partition(user_id: &str) -> String {
    format!("USER#{user_id}")
}

// ---- tenant-owned items, under ORG#<org_id> ----

/// An organization's own record: name, plan, creation.
pub fn org_profile(org_id: &str) -> Key {
    Key::new(org_partition(org_id), "PROFILE")
}

/// A member of an organization and their role: the source of truth for authorization.
pub fn org_member(org_id: &str, user_id: &str) -> Key {
    Key::new(org_partition(org_id), format!("MEMBER#{user_id}"))
}

/// Where [`org_member`] items of one organization are listed from.
pub fn org_members(org_id: &str) -> Partition {
    Partition {
        pk: org_partition(org_id),
        sk_prefix: "MEMBER#".into(),
    }
}

/// One audit-log entry; the id is a ULID so the sort key orders entries by time.
pub fn activity(org_id: &str, activity_id: &str) -> Key {
    Key::new(org_partition(org_id), format!("ACTIVITY#{activity_id}"))
}

/// Sort keys of activity entries whose ids lie between two ULIDs (inclusive): a time window.
pub fn activity_window(from_id: &str, to_id: &str) -> (String, String) {
    (format!("ACTIVITY#{from_id}"), format!("ACTIVITY#{to_id}"))
}

pub fn activities(org_id: &str) -> Partition {
    Partition {
        pk: org_partition(org_id),
        sk_prefix: "ACTIVITY#".into(),
    }
}

/// An invitation to join the organization; the id is a ULID (newest last).
pub fn invitation(org_id: &str, invitation_id: &str) -> Key {
    Key::new(org_partition(org_id), format!("INVITATION#{invitation_id}"))
}

pub fn invitations(org_id: &str) -> Partition {
    Partition {
        pk: org_partition(org_id),
        sk_prefix: "INVITATION#".into(),
    }
}

/// At most one pending invitation per email address and organization: this item exists while
/// one does and names it, so a second invite of the same address fails its `NotExists` put.
/// `email_key` is the address in lower case.
pub fn invitation_email(org_id: &str, email_key: &str) -> Key {
    Key::new(org_partition(org_id), format!("INVITE_EMAIL#{email_key}"))
}

/// Global lookup (GSI1 partition): a pending invitation's token, by its SHA-256 hash (hex). Only
/// a pending invitation carries it, so a used, revoked or rotated token finds nothing.
pub fn invitation_token(token_hash: &str) -> (Index, String, &'static str) {
    (
        Index::Gsi1,
        format!("INVITE_TOKEN#{token_hash}"),
        "INVITATION",
    )
}

// ---- org API keys ----

/// An organization's API key (name, prefix, creator); the secret itself is never stored.
pub fn api_key(org_id: &str, key_id: &str) -> Key {
    Key::new(org_partition(org_id), format!("API_KEY#{key_id}"))
}

pub fn api_keys(org_id: &str) -> Partition {
    Partition {
        pk: org_partition(org_id),
        sk_prefix: "API_KEY#".into(),
    }
}

/// Global lookup: an API key by the SHA-256 (hex) of its secret, naming its organization. Written
/// and deleted in the same transaction as [`api_key`].
pub fn api_key_secret(secret_hash: &str) -> Key {
    Key::new(format!("APIKEY#{secret_hash}"), "APIKEY")
}

// ---- analytics, under ORG#<org_id> ----

/// Sort keys of raw events order by event time: `EVENT#<epoch ms, 13 digits>#<event id>`.
fn event_sort(timestamp_ms: i64, event_id: &str) -> String {
    format!("{timestamp_ms:013}#{event_id}")
}

/// A raw tracked event. Its conditional put is also what makes aggregation exactly-once for
/// server-assigned ids: a redelivered message finds the item already there.
pub fn raw_event(org_id: &str, timestamp_ms: i64, event_id: &str) -> Key {
    Key::new(
        org_partition(org_id),
        format!("EVENT#{}", event_sort(timestamp_ms, event_id)),
    )
}

pub fn raw_events(org_id: &str) -> Partition {
    Partition {
        pk: org_partition(org_id),
        sk_prefix: "EVENT#".into(),
    }
}

/// Sort keys of raw events from `from_ms` to `to_ms` inclusive.
pub fn raw_event_window(from_ms: i64, to_ms: i64) -> (String, String) {
    (
        format!("EVENT#{from_ms:013}#"),
        format!("EVENT#{to_ms:013}#~"),
    )
}

/// Raw events of one name (GSI1) or one agent (GSI2): the index partition, and the sort key the
/// event carries there (the same time order as the table).
pub fn raw_events_by_name(org_id: &str, name: &str) -> (Index, Partition) {
    (
        Index::Gsi1,
        Partition {
            pk: format!("ORG#{org_id}#EVENT_NAME#{name}"),
            sk_prefix: String::new(),
        },
    )
}

pub fn raw_events_by_agent(org_id: &str, agent_id: &str) -> (Index, Partition) {
    (
        Index::Gsi2,
        Partition {
            pk: format!("ORG#{org_id}#EVENT_AGENT#{agent_id}"),
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
/// timestamp (a retried request), so they get this marker besides the raw event's own key.
pub fn event_id_marker(org_id: &str, event_id: &str) -> Key {
    Key::new(org_partition(org_id), format!("EVENT_ID#{event_id}"))
}

/// An organization's counters for one UTC day (`YYYY-MM-DD`).
pub fn org_day(org_id: &str, date: &str) -> Key {
    Key::new(org_partition(org_id), format!("ORG_DAY#{date}"))
}

pub fn org_days(org_id: &str) -> Partition {
    Partition {
        pk: org_partition(org_id),
        sk_prefix: "ORG_DAY#".into(),
    }
}

/// Sort keys of the days from `from` to `to` inclusive.
pub fn org_day_window(from: &str, to: &str) -> (String, String) {
    (format!("ORG_DAY#{from}"), format!("ORG_DAY#{to}"))
}

/// One agent's counters for one UTC day. Day first, so a period's agents are one Query range.
pub fn agent_day(org_id: &str, date: &str, agent_id: &str) -> Key {
    Key::new(
        org_partition(org_id),
        format!("AGENT_DAY#{date}#{agent_id}"),
    )
}

pub fn agent_days(org_id: &str) -> Partition {
    Partition {
        pk: org_partition(org_id),
        sk_prefix: "AGENT_DAY#".into(),
    }
}

/// Sort keys of every agent's days from `from` to `to` inclusive (`~` sorts after agent ids).
pub fn agent_day_window(from: &str, to: &str) -> (String, String) {
    (format!("AGENT_DAY#{from}#"), format!("AGENT_DAY#{to}#~"))
}

// ---- global lookup items, under USER#<user_id> ----

/// Global lookup: a user's profile, created on the first authenticated request.
pub fn user_profile(user_id: &str) -> Key {
    Key::new(user_partition(user_id), "PROFILE")
}

/// Global lookup: one of a user's memberships, so "my organizations" is one Query. It mirrors
/// [`org_member`], is written in the same transaction, and is never used to authorize.
pub fn user_membership(user_id: &str, org_id: &str) -> Key {
    Key::new(user_partition(user_id), format!("MEMBERSHIP#{org_id}"))
}

pub fn user_memberships(user_id: &str) -> Partition {
    Partition {
        pk: user_partition(user_id),
        sk_prefix: "MEMBERSHIP#".into(),
    }
}

/// Global lookup: the outcome of a create request made with an `Idempotency-Key` header,
/// scoped to the user and the operation, kept for a day.
pub fn idempotency_record(user_id: &str, operation: &str, key_hash: &str) -> Key {
    Key::new(
        user_partition(user_id),
        format!("IDEMPOTENCY#{operation}#{key_hash}"),
    )
}

/// SHA-256 (hex) of a secret or client-chosen value that a key is derived from (invitation
/// tokens, idempotency keys): keys never hold the value itself, and their length is bounded.
pub fn digest(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The items of one partition whose sort key starts with a prefix: what a Query reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub pk: String,
    pub sk_prefix: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenant_items_live_under_their_organization() {
        let org = "01JORG";
        for key in [
            org_profile(org),
            org_member(org, "u1"),
            activity(org, "01JACT"),
            invitation(org, "01JINV"),
            invitation_email(org, "a@example.com"),
        ] {
            assert_eq!(key.pk, "ORG#01JORG");
        }
        assert!(
            org_member(org, "u1")
                .sk
                .starts_with(&org_members(org).sk_prefix)
        );
        assert!(
            activity(org, "01JACT")
                .sk
                .starts_with(&activities(org).sk_prefix)
        );
    }

    #[test]
    fn user_lookups_are_separate_from_tenant_partitions() {
        let key = user_membership("auth0|abc", "01JORG");
        assert_eq!(key.pk, "USER#auth0|abc");
        assert_eq!(key.sk, "MEMBERSHIP#01JORG");
        assert!(key.sk.starts_with(&user_memberships("auth0|abc").sk_prefix));
        // A profile never matches the memberships prefix, so listing memberships never returns it.
        assert!(
            !user_profile("auth0|abc")
                .sk
                .starts_with(&user_memberships("auth0|abc").sk_prefix)
        );
    }

    #[test]
    fn kinds_of_items_in_one_partition_never_share_a_prefix() {
        let prefixes = [
            "PROFILE",
            "MEMBER#",
            "ACTIVITY#",
            "INVITATION#",
            "INVITE_EMAIL#",
            "API_KEY#",
            "EVENT#",
            "EVENT_ID#",
            "ORG_DAY#",
            "AGENT_DAY#",
        ];
        for (i, a) in prefixes.iter().enumerate() {
            for (j, b) in prefixes.iter().enumerate() {
                if i != j {
                    assert!(!a.starts_with(b), "{a} overlaps {b}");
                }
            }
        }
    }
}
