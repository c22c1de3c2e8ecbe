//! Organizations, their members, and users' own items.

use super::{Key, OrgId, Partition, UserId, org_items, org_partition, user_partition};

pub(super) const ORG_PROFILE: &str = "PROFILE";
pub(super) const MEMBER: &str = "MEMBER#";
pub(super) const USER_PROFILE: &str = "PROFILE";
pub(super) const MEMBERSHIP: &str = "MEMBERSHIP#";

/// An organization's own record: name, plan, counters, creation.
pub fn org_profile(org: OrgId<'_>) -> Key {
    Key::new(org_partition(org), ORG_PROFILE)
}

/// A member of an organization and their role: the source of truth for authorization.
pub fn org_member(org: OrgId<'_>, user: UserId<'_>) -> Key {
    Key::new(org_partition(org), format!("{MEMBER}{}", user.0))
}

/// Where [`org_member`] items of one organization are listed from.
pub fn org_members(org: OrgId<'_>) -> Partition {
    org_items(org, MEMBER)
}

/// Global lookup: a user's profile, created on the first authenticated request.
pub fn user_profile(user: UserId<'_>) -> Key {
    Key::new(user_partition(user), USER_PROFILE)
}

/// Global lookup: one of a user's memberships, so "my organizations" is one Query. It mirrors
/// [`org_member`] (same argument order), is written in the same transaction, and is never used
/// to authorize.
pub fn user_membership(org: OrgId<'_>, user: UserId<'_>) -> Key {
    Key::new(user_partition(user), format!("{MEMBERSHIP}{}", org.0))
}

pub fn user_memberships(user: UserId<'_>) -> Partition {
    Partition {
        pk: user_partition(user),
        sk_prefix: MEMBERSHIP.to_owned(),
    }
}
