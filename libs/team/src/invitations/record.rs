//! The invitation as stored, as shown, as requested; and the writes that change it.

use std::collections::HashMap;

use auth::Role;
use clock::DateTime;
use serde::{Deserialize, Serialize};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId};
use store::{Condition, Update};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use super::{ENDED_RETENTION, ENTITY, GUARD_ENTITY};
use crate::TeamError;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// A status as a client names it (`?status=`).
impl std::str::FromStr for InvitationStatus {
    type Err = TeamError;

    fn from_str(s: &str) -> Result<Self, TeamError> {
        Ok(match s {
            "pending" => Self::Pending,
            "accepted" => Self::Accepted,
            "revoked" => Self::Revoked,
            "expired" => Self::Expired,
            _ => {
                return Err(TeamError::InvalidField(
                    "status",
                    "must be pending, accepted, revoked or expired",
                ));
            }
        })
    }
}

impl InvitationStatus {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// How addresses are compared (the invitation's key, the accepting token's email, members'
/// emails): ASCII letters folded to lower case, every other character exactly as written. Full
/// Unicode lowercasing would let `\u{212A}iss@example.com` (KELVIN SIGN) stand for
/// `kiss@example.com`.
pub fn email_key(address: &str) -> String {
    address.to_ascii_lowercase()
}

/// An invitation as stored (`ORG#<org>` / `INVITATION#<id>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub id: String,
    pub org_id: String,
    /// As the inviter typed it.
    pub email: String,
    /// [`email_key`] of the address: what the accepting token's email and the guard item are
    /// compared with.
    pub email_key: String,
    pub role: Role,
    /// `pending` until accepted, revoked or reclaimed after expiry; a pending invitation past
    /// `expires_at` is shown as `expired`.
    pub status: InvitationStatus,
    pub invited_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inviter_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// SHA-256 (hex) of the live token; only while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
    #[serde(with = "clock::serde_rfc3339")]
    pub created_at: DateTime,
    #[serde(with = "clock::serde_rfc3339")]
    pub expires_at: DateTime,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "clock::serde_rfc3339::option"
    )]
    pub ended_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
}

impl InvitationRecord {
    /// The status a reader sees at `now`.
    pub(crate) fn status_at(&self, now: DateTime) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }

    pub(crate) fn is_live(&self, now: DateTime) -> bool {
        self.status_at(now) == InvitationStatus::Pending
    }

    pub(crate) fn key(&self) -> store::Key {
        keys::invitation(OrgId(&self.org_id), &self.id)
    }

    /// The item of a new invitation, its token hash in GSI1 and its TTL after the expiry.
    pub(crate) fn item(&self, token_hash: &str) -> Result<store::Item, TeamError> {
        let (index, partition, sort) = keys::invitation_token(token_hash);
        let item = store::item(&self.key(), ENTITY, self)?;
        let item = store::with_index(item, index, &partition, sort);
        Ok(store::with_ttl(
            item,
            (self.expires_at + ENDED_RETENTION).unix_timestamp(),
        ))
    }

    /// The update that ends a pending invitation: its token dies (out of the index), and TTL
    /// removes it after [`ENDED_RETENTION`].
    pub(crate) fn end(&self, status: InvitationStatus, now: DateTime) -> Update {
        Update::new(self.key())
            .set("status", &status)
            .set("ended_at", &clock::rfc3339(now))
            .set(keys::TTL, &(now + ENDED_RETENTION).unix_timestamp())
            .remove("token_hash")
            .remove(keys::GSI1_PK)
            .remove(keys::GSI1_SK)
            .condition("#status = :pending", [(":pending", text("pending"))])
    }

    /// [`Self::end`] for a pending invitation that lapsed: only if it is still past its expiry.
    pub(crate) fn end_lapsed(&self, now: DateTime) -> Update {
        self.end(InvitationStatus::Expired, now).condition(
            "#expires_at <= :now",
            [(":now", text(&clock::rfc3339(now)))],
        )
    }

    /// The key and condition that delete the address's guard item if it still names this
    /// invitation.
    pub(crate) fn release_guard(&self) -> (store::Key, Condition) {
        (
            keys::invitation_email(OrgId(&self.org_id), &self.email_key),
            Condition::Expression {
                expression: "attribute_not_exists(#pk) OR #invitation_id = :invitation_id".into(),
                names: HashMap::from([
                    ("#pk".to_owned(), keys::PK.to_owned()),
                    ("#invitation_id".to_owned(), "invitation_id".to_owned()),
                ]),
                values: HashMap::from([(":invitation_id".to_owned(), text(&self.id))]),
            },
        )
    }

    /// What the activity log keeps about an invitation.
    pub(crate) fn activity_metadata(&self) -> serde_json::Value {
        serde_json::json!({ "email": self.email, "role": self.role })
    }
}

/// The guard item of an address with a pending invitation: at most one per address and
/// organization.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct EmailGuard {
    pub invitation_id: String,
}

impl EmailGuard {
    /// The guard naming `invitation`, replacing `previous` (the guard read before) if any.
    pub(crate) fn put(
        invitation: &InvitationRecord,
        previous: Option<&EmailGuard>,
    ) -> Result<(store::Item, Condition), TeamError> {
        let item = store::item(
            &keys::invitation_email(OrgId(&invitation.org_id), &invitation.email_key),
            GUARD_ENTITY,
            &EmailGuard {
                invitation_id: invitation.id.clone(),
            },
        )?;
        let condition = match previous {
            None => Condition::NotExists,
            Some(previous) => Condition::Expression {
                expression: "#invitation_id = :old".into(),
                names: HashMap::from([("#invitation_id".to_owned(), "invitation_id".to_owned())]),
                values: HashMap::from([(":old".to_owned(), text(&previous.invitation_id))]),
            },
        };
        Ok((item, condition))
    }
}

pub(crate) fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// An invitation as the team sees it. The token is never part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    #[schema(example = "01JD3YQ9V4Z8K2M6N0P3R5T7W9")]
    pub id: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    /// The inviter's user id.
    pub invited_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When it was accepted, revoked or reclaimed after expiry (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Only in the answer to invite and resend: whether SES accepted the email. When it did not,
    /// the invitation stands and can be resent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_sent: Option<bool>,
}

impl Invitation {
    pub(crate) fn new(record: &InvitationRecord, now: DateTime) -> Self {
        Self {
            id: record.id.clone(),
            email: record.email.clone(),
            role: record.role,
            status: record.status_at(now),
            invited_by: record.invited_by.clone(),
            message: record.message.clone(),
            expires_at: clock::rfc3339(record.expires_at),
            created_at: clock::rfc3339(record.created_at),
            ended_at: record.ended_at.map(clock::rfc3339),
            email_sent: None,
        }
    }
}

fn field_error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn invitable_role(role: &Role) -> Result<(), ValidationError> {
    if *role == Role::Owner {
        return Err(field_error(
            "owner_not_invitable",
            "must be admin, member or viewer: ownership is handed to an existing member",
        ));
    }
    Ok(())
}

/// At most 1000 characters; line breaks and tabs allowed, other control characters not.
pub(crate) fn invitation_message(message: &str) -> Result<(), ValidationError> {
    text::paragraphs(message, 1000)
}

/// The roles an invitation can carry: an owner is made by a role change, never invited.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code)]
pub enum InvitableRole {
    Admin,
    Member,
    Viewer,
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// The invitee's address; they accept with a verified token for it.
    #[validate(
        email(message = "must be an email address"),
        length(max = 254, message = "must be at most 254 characters")
    )]
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// `admin`, `member` or `viewer` (admins invite members and viewers only).
    #[validate(custom(function = "invitable_role"))]
    #[schema(value_type = InvitableRole)]
    pub role: Role,
    /// A note from the inviter, included in the email; at most 1000 characters, with no control
    /// characters other than tabs and line breaks.
    #[validate(custom(function = "invitation_message"))]
    #[schema(
        max_length = 1000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `token` of the email's accept link.
    #[validate(length(min = 1, max = 512, message = "must be 1 to 512 characters"))]
    #[schema(min_length = 1, max_length = 512)]
    pub token: String,
}

/// The membership an accepted invitation created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AcceptedInvitation {
    pub org_id: String,
    pub role: Role,
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::invitations::INVITATION_LIFETIME;
    use time::macros::datetime;

    pub(crate) fn record(inviter: &str, message: Option<&str>) -> InvitationRecord {
        let now = datetime!(2026-11-24 10:00:00 UTC);
        InvitationRecord {
            id: "01JD3YQ9V4Z8K2M6N0P3R5T7W9".into(),
            org_id: "01JORG".into(),
            email: "Ada@Example.com".into(),
            email_key: "ada@example.com".into(),
            role: Role::Member,
            status: InvitationStatus::Pending,
            invited_by: "u1".into(),
            inviter_name: Some(inviter.into()),
            message: message.map(Into::into),
            token_hash: Some("h".into()),
            created_at: now,
            expires_at: now + INVITATION_LIFETIME,
            ended_at: None,
            accepted_by: None,
        }
    }

    #[test]
    fn statuses_parse_by_their_names_only() {
        for status in [
            InvitationStatus::Pending,
            InvitationStatus::Accepted,
            InvitationStatus::Revoked,
            InvitationStatus::Expired,
        ] {
            assert_eq!(status.as_str().parse::<InvitationStatus>().unwrap(), status);
        }
        for bad in ["Pending", "", "all", "pending "] {
            assert!(bad.parse::<InvitationStatus>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_pending_invitation_past_its_expiry_reads_as_expired() {
        let invitation = record("Eve", None);
        assert!(invitation.is_live(invitation.created_at));
        assert_eq!(
            invitation.status_at(invitation.expires_at),
            InvitationStatus::Expired
        );
        assert!(!invitation.is_live(invitation.expires_at));
    }

    #[test]
    fn messages_allow_line_breaks_but_not_other_control_characters() {
        assert!(invitation_message("hi\nthere\t!").is_ok());
        assert!(invitation_message("bell\u{7}").is_err());
        assert!(invitation_message(&"x".repeat(1000)).is_ok());
        assert!(invitation_message(&"é".repeat(1001)).is_err());
    }
}
