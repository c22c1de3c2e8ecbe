//! Invitations, under their organization, and their token lookup in GSI1.

use super::{Index, Key, OrgId, Partition, org_items, org_partition};

pub(super) const INVITATION: &str = "INVITATION#";
pub(super) const INVITE_EMAIL: &str = "INVITE_EMAIL#";
/// GSI1 partitions of pending invitations' token hashes.
pub const INVITE_TOKEN: &str = "INVITE_TOKEN#";

/// An invitation to join the organization; the id is a ULID (newest last).
pub fn invitation(org: OrgId<'_>, invitation_id: &str) -> Key {
    Key::new(org_partition(org), format!("{INVITATION}{invitation_id}"))
}

pub fn invitations(org: OrgId<'_>) -> Partition {
    org_items(org, INVITATION)
}

/// At most one pending invitation per email address and organization: this item exists while
/// one does and names it, so a second invite of the same address fails its `NotExists` put.
/// `email_key` is the address in lower case.
pub fn invitation_email(org: OrgId<'_>, email_key: &str) -> Key {
    Key::new(org_partition(org), format!("{INVITE_EMAIL}{email_key}"))
}

/// Global lookup (GSI1 partition): a pending invitation's token, by its SHA-256 hash (hex). Only
/// a pending invitation carries it, so a used, revoked or rotated token finds nothing.
pub fn invitation_token(token_hash: &str) -> (Index, String, &'static str) {
    (
        Index::Gsi1,
        format!("{INVITE_TOKEN}{token_hash}"),
        "INVITATION",
    )
}
