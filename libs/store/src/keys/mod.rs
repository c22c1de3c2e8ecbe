//! The table's key design, in one place. Nothing else in the code base writes a `PK`, `SK` or
//! index key by hand; `docs/data-model.md` lists every access pattern these keys serve.
//!
//! One module per system ([`accounts`], [`audit`], [`team`], [`apikeys`], [`analytics`],
//! [`idempotency`], [`outbox`], [`billing`]); each names its sort-key prefixes once, and [`ORG_SORT_PREFIXES`] lists
//! every prefix used under an organization, so the collision test reads the real constants.
//!
//! Tenant-owned items live under their organization's partition, `ORG#<org_id>`. A handful of
//! global lookup items live elsewhere and each is named as such: a user's profile and their
//! list of memberships (`USER#<user_id>`), API-key secrets (`API_KEY#<sha256>`), the token
//! hashes of pending invitations (GSI1), Stripe's customer and event ids ([`billing`]), and
//! WebSocket tickets and connections ([`realtime`]).
//!
//! Organization and user ids are distinct types ([`OrgId`], [`UserId`]), so a key that takes
//! both cannot be called with them swapped.

pub mod accounts;
pub mod analytics;
pub mod apikeys;
pub mod audit;
pub mod billing;
pub mod idempotency;
pub mod notifications;
pub mod outbox;
pub mod realtime;
pub mod team;

pub use accounts::*;
pub use analytics::*;
pub use apikeys::*;
pub use audit::*;
pub use billing::*;
pub use notifications::*;
pub use outbox::*;
pub use realtime::*;
pub use team::*;

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

/// Partition prefixes of the table's items.
const ORG_PARTITION: &str = "ORG#";
const USER_PARTITION: &str = "USER#";

/// Every partition-key prefix of the table (index partitions are listed by their modules).
pub const PARTITION_PREFIXES: &[&str] = &[
    ORG_PARTITION,
    USER_PARTITION,
    apikeys::SECRET,
    billing::STRIPE_CUSTOMER,
    billing::STRIPE_EVENT,
    realtime::TICKET,
    realtime::CONNECTION,
];

/// Every sort-key prefix used under `ORG#<org_id>`: no kind of item may list another's.
pub const ORG_SORT_PREFIXES: &[&str] = &[
    accounts::ORG_PROFILE,
    accounts::MEMBER,
    audit::ACTIVITY,
    team::INVITATION,
    team::INVITE_EMAIL,
    apikeys::API_KEY,
    analytics::EVENT,
    analytics::EVENT_ID,
    analytics::ORG_DAY,
    analytics::AGENT_DAY,
    idempotency::IDEMPOTENCY,
    outbox::OUTBOX,
    billing::INVOICE,
    notifications::NOTIFICATION,
    notifications::COUNTER,
    notifications::PREFERENCES,
    notifications::TOMBSTONE,
    notifications::DELIVERY,
    notifications::DONE,
];

/// Every sort-key prefix used under `USER#<user_id>`.
pub const USER_SORT_PREFIXES: &[&str] = &[
    accounts::USER_PROFILE,
    accounts::MEMBERSHIP,
    idempotency::IDEMPOTENCY,
];

/// An organization's id, in a key signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrgId<'a>(pub &'a str);

/// A user's id (the token's `sub`), in a key signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserId<'a>(pub &'a str);

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

/// The items of one partition whose sort key starts with a prefix: what a Query reads.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    pub pk: String,
    pub sk_prefix: String,
}

fn org_partition(org: OrgId<'_>) -> String {
    format!("{ORG_PARTITION}{}", org.0)
}

/// An item of an organization that metering watches on the table's stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MeteredItem<'a> {
    /// Its profile ([`org_profile`]): seats, subscription, levels reached.
    Profile { org_id: &'a str },
    /// One of its daily counters ([`org_day`]): billable messages, API calls, storage.
    Day { org_id: &'a str },
}

/// Which [`MeteredItem`] the key `pk` / `sk` is, if any.
pub fn metered_item<'a>(pk: &'a str, sk: &str) -> Option<MeteredItem<'a>> {
    let org_id = pk.strip_prefix(ORG_PARTITION).filter(|id| !id.is_empty())?;
    if sk == accounts::ORG_PROFILE {
        Some(MeteredItem::Profile { org_id })
    } else if sk.starts_with(analytics::ORG_DAY) {
        Some(MeteredItem::Day { org_id })
    } else {
        None
    }
}

fn user_partition(user: UserId<'_>) -> String {
    format!("{USER_PARTITION}{}", user.0)
}

/// The items of an organization under one sort-key prefix.
fn org_items(org: OrgId<'_>, prefix: &str) -> Partition {
    Partition {
        pk: org_partition(org),
        sk_prefix: prefix.to_owned(),
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metered_items_are_recognised_by_their_keys() {
        let profile = org_profile(OrgId("01JORG"));
        assert_eq!(
            metered_item(&profile.pk, &profile.sk),
            Some(MeteredItem::Profile { org_id: "01JORG" })
        );
        let day = org_day(OrgId("01JORG"), "2026-12-02");
        assert_eq!(
            metered_item(&day.pk, &day.sk),
            Some(MeteredItem::Day { org_id: "01JORG" })
        );
        let agent = agent_day(OrgId("01JORG"), "2026-12-02", "a1");
        assert_eq!(metered_item(&agent.pk, &agent.sk), None);
        assert_eq!(metered_item("ORG#", "PROFILE"), None);
        assert_eq!(metered_item("USER#u1", "PROFILE"), None);
    }

    fn assert_prefix_free(prefixes: &[&str]) {
        for (i, a) in prefixes.iter().enumerate() {
            for (j, b) in prefixes.iter().enumerate() {
                if i != j {
                    assert!(!a.starts_with(b), "{a} overlaps {b}");
                }
            }
        }
    }

    #[test]
    fn kinds_of_items_in_one_partition_never_share_a_prefix() {
        assert_prefix_free(ORG_SORT_PREFIXES);
        assert_prefix_free(USER_SORT_PREFIXES);
        assert_prefix_free(PARTITION_PREFIXES);
    }

    #[test]
    fn tenant_items_live_under_their_organization() {
        let org = OrgId("01JORG");
        for key in [
            org_profile(org),
            org_member(org, UserId("u1")),
            activity(org, "01JACT"),
            invitation(org, "01JINV"),
            invitation_email(org, "a@example.com"),
            api_key(org, "01JKEY"),
            org_day(org, "2026-01-01"),
            event_id_marker(org, "e1"),
            outbox_record(org, "01JACT", 0),
        ] {
            assert_eq!(key.pk, "ORG#01JORG");
            assert!(
                ORG_SORT_PREFIXES.iter().any(|p| key.sk.starts_with(p)),
                "{} has a listed prefix",
                key.sk
            );
        }
        assert!(
            org_member(org, UserId("u1"))
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
        let user = UserId("auth0|abc");
        let key = user_membership(OrgId("01JORG"), user);
        assert_eq!(key.pk, "USER#auth0|abc");
        assert_eq!(key.sk, "MEMBERSHIP#01JORG");
        assert!(key.sk.starts_with(&user_memberships(user).sk_prefix));
        // A profile never matches the memberships prefix, so listing memberships never returns it.
        assert!(
            !user_profile(user)
                .sk
                .starts_with(&user_memberships(user).sk_prefix)
        );
        for key in [user_profile(user), key] {
            assert!(USER_SORT_PREFIXES.iter().any(|p| key.sk.starts_with(p)));
        }
    }

    #[test]
    fn api_keys_have_one_spelling() {
        let record = api_key(OrgId("o"), "01JKEY");
        let lookup = api_key_secret("abc");
        assert!(record.sk.starts_with("API_KEY#"));
        assert!(lookup.pk.starts_with("API_KEY#"));
        assert!(PARTITION_PREFIXES.iter().any(|p| lookup.pk.starts_with(p)));
    }
}
