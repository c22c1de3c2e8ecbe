//! The organization's counters, kept on its profile and written only here: `member_count`,
//! `owner_count` and `seats_used` (members plus pending invitations; one counter, because a
//! condition expression cannot add two, so the seat limit is `seats_used < :limit` alone).
//!
//! Each function is one named change, an [`Update`] of the profile that the caller puts into
//! the transaction of the change it counts (and labels, when its condition means something).

use auth::Role;
use store::Update;
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId};

use crate::OrgRecord;

const MEMBER_COUNT: &str = "member_count";
const OWNER_COUNT: &str = "owner_count";
const SEATS_USED: &str = "seats_used";

fn profile(org_id: &str) -> Update {
    Update::new(keys::org_profile(OrgId(org_id))).require_exists()
}

fn number(n: impl ToString) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

/// A pending invitation takes a seat, if the plan has one free (`limit`; `None`: unlimited).
pub fn take_seat(org_id: &str, limit: Option<u32>) -> Update {
    let update = profile(org_id).add(SEATS_USED, 1);
    match limit {
        Some(limit) => update.condition("#seats_used < :limit", [(":limit", number(limit))]),
        None => update,
    }
}

/// A pending invitation ends without a member (revoked, lapsed): its seat is free again.
pub fn release_seat(org_id: &str) -> Update {
    profile(org_id).add(SEATS_USED, -1)
}

/// An invitation became a member: the seat it held is the member's now. Refused while the
/// organization has more seats taken than its plan allows (a subscription ended with more
/// members than the free plan has seats): nobody is removed, but nobody joins either.
pub fn invitee_joined(org_id: &str, limit: Option<u32>) -> Update {
    let update = profile(org_id).add(MEMBER_COUNT, 1);
    match limit {
        Some(limit) => update.condition("#seats_used <= :limit", [(":limit", number(limit))]),
        None => update,
    }
}

/// A member joined without an invitation holding their seat (taking one now).
pub fn member_added(org_id: &str, role: Role) -> Update {
    let update = profile(org_id).add(MEMBER_COUNT, 1).add(SEATS_USED, 1);
    if role == Role::Owner {
        update.add(OWNER_COUNT, 1)
    } else {
        update
    }
}

/// A member left or was removed, giving back their seat. An owner may leave only while another
/// owner remains: the condition fails for the last one.
pub fn member_left(org_id: &str, role: Role) -> Update {
    let update = profile(org_id).add(MEMBER_COUNT, -1).add(SEATS_USED, -1);
    if role == Role::Owner {
        not_the_last_owner(update.add(OWNER_COUNT, -1))
    } else {
        update
    }
}

/// A member became an owner.
pub fn owner_gained(org_id: &str) -> Update {
    profile(org_id).add(OWNER_COUNT, 1)
}

/// An owner stepped down or was demoted; fails for the last owner.
pub fn owner_lost(org_id: &str) -> Update {
    not_the_last_owner(profile(org_id).add(OWNER_COUNT, -1))
}

fn not_the_last_owner(update: Update) -> Update {
    update.condition("#owner_count > :one", [(":one", number(1))])
}

/// Corrects `seats_used` to `counted` (members plus pending invitations, read consistently),
/// only if the counters are still what `read` held: any concurrent change wins.
pub fn recount_seats(read: &OrgRecord, counted: i64) -> Update {
    Update::new(keys::org_profile(OrgId(&read.id)))
        .set(SEATS_USED, &counted)
        .condition(
            "#seats_used = :seats AND #member_count = :members",
            [
                (":seats", number(read.seats_used)),
                (":members", number(read.member_count)),
            ],
        )
}

/// The writes that add a member directly, without an invitation holding their seat: both
/// membership items and the counters (test fixtures, and any future import of members).
pub fn member_joined_directly(
    membership: &auth::records::MembershipRecord,
) -> Result<store::Transaction, store::StoreError> {
    let (member, user_membership) = membership.items()?;
    Ok(store::Transaction::new()
        .put(member, store::Condition::NotExists)
        .put(user_membership, store::Condition::NotExists)
        .update(member_added(&membership.org_id, membership.role)))
}
