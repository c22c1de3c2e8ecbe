//! The identity records every function reads: users and memberships.

use clock::DateTime;
use serde::{Deserialize, Serialize};
use store::{Item, StoreError, keys};

use crate::Role;

/// A user's profile (global lookup item `USER#<id>` / `PROFILE`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserRecord {
    /// The token's `sub`, verbatim.
    pub id: String,
    /// From the token's `email` claim when it is a well-formed address, kept current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the identity provider verified `email` (its `email_verified` claim), kept
    /// current with it: what later email sending relies on.
    #[serde(default)]
    pub email_verified: bool,
    /// From the token's `name` claim when it passes the profile's rules; then the user's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avatar_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    /// Free-form UI preferences of the user (theme, locale, ...), a JSON object.
    #[serde(default)]
    pub preferences: serde_json::Map<String, serde_json::Value>,
    #[serde(with = "clock::serde_rfc3339")]
    pub last_active_at: DateTime,
    #[serde(with = "clock::serde_rfc3339")]
    pub created_at: DateTime,
}

pub const USER_ENTITY: &str = "user";
pub const MEMBERSHIP_ENTITY: &str = "membership";
pub const USER_MEMBERSHIP_ENTITY: &str = "user_membership";

/// A membership. Stored twice in one transaction: under the organization (`MEMBER#<user>`, the
/// item authorization reads) and under the user (`MEMBERSHIP#<org>`, to list their organizations).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MembershipRecord {
    pub org_id: String,
    pub user_id: String,
    pub role: Role,
    #[serde(with = "clock::serde_rfc3339")]
    pub joined_at: DateTime,
}

impl MembershipRecord {
    /// The two items of a membership (organization side, user side), to put in one transaction.
    pub fn items(&self) -> Result<(Item, Item), StoreError> {
        Ok((
            store::item(
                &keys::org_member(keys::OrgId(&self.org_id), keys::UserId(&self.user_id)),
                MEMBERSHIP_ENTITY,
                self,
            )?,
            store::item(
                &keys::user_membership(keys::OrgId(&self.org_id), keys::UserId(&self.user_id)),
                USER_MEMBERSHIP_ENTITY,
                self,
            )?,
        ))
    }
}
