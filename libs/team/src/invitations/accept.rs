//! Accept an invitation: exactly one membership results, however many accepts race.

use accounts::counters;
use audit::{Actor, AuditedChange, ChangeError};
use auth::Caller;
use auth::records::MembershipRecord;
use serde::Deserialize;
use store::{Condition, keys};

use super::record::{email_key, text};
use super::token::token_hash;
use super::{
    AcceptInvitation, AcceptedInvitation, InvitationRecord, InvitationStatus, Invitations, activity,
};
use crate::TeamError;
use crate::notices;

/// Labels of the accept's conditions.
const INVITATION: &str = "invitation";
const MEMBERSHIP: &str = "membership";
const SEAT: &str = "seat";

impl Invitations {
    /// Accepts an invitation for the caller: their token's email must be the invited one and
    /// verified.
    pub async fn accept(
        &self,
        caller: &Caller,
        request: AcceptInvitation,
    ) -> Result<AcceptedInvitation, TeamError> {
        let hash = token_hash(&request.token).ok_or(TeamError::InvitationGone)?;
        let (index, partition, _) = keys::invitation_token(&hash);
        #[derive(Deserialize)]
        struct Found {
            org_id: String,
            id: String,
        }
        let found: Vec<Found> = self.store.find_in_index(index, &partition, 1).await?;
        let found = found.into_iter().next().ok_or(TeamError::InvitationGone)?;
        // A transaction conflict (another accept, a resend) is retried on fresh data.
        for _ in 0..3 {
            let now = self.clock.now();
            let invitation = self
                .get(&found.org_id, &found.id)
                .await?
                .ok_or(TeamError::InvitationGone)?;
            if !invitation.is_live(now) || invitation.token_hash.as_deref() != Some(&hash) {
                return Err(TeamError::InvitationGone);
            }
            let verified = caller.claims.email_verified == Some(true);
            let same_address = caller
                .claims
                .email
                .as_deref()
                .is_some_and(|e| email_key(e) == invitation.email_key);
            if !(verified && same_address) {
                return Err(TeamError::WrongEmail);
            }
            let membership = MembershipRecord {
                org_id: invitation.org_id.clone(),
                user_id: caller.user_id().to_owned(),
                role: invitation.role,
                joined_at: now,
            };
            let (member_item, user_membership_item) = membership.items()?;
            let (guard, unchanged) = invitation.release_guard();
            let org: accounts::OrgRecord = self
                .store
                .get(&keys::org_profile(keys::OrgId(&invitation.org_id)))
                .await?
                .ok_or_else(|| TeamError::Internal("organization without profile".into()))?;
            let limit = org.effective_plan(now).limits.seats;
            // The newcomer has no membership to re-check: the invitation's conditions guard it.
            let change = AuditedChange::new(
                Actor::user(&invitation.org_id, caller.user_id()),
                activity("invitation.accepted", &invitation),
                now,
            )
            .update(
                invitation
                    .end(InvitationStatus::Accepted, now)
                    .set("accepted_by", &caller.user_id())
                    .condition(
                        "#token_hash = :hash AND #expires_at > :now",
                        [(":hash", text(&hash)), (":now", text(&clock::rfc3339(now)))],
                    ),
            )
            .label(INVITATION)
            .put(member_item, Condition::NotExists)
            .label(MEMBERSHIP)
            .put(user_membership_item, Condition::Always)
            .delete(guard, unchanged)
            // The seat the invitation held is the member's now.
            .update(counters::invitee_joined(&invitation.org_id, limit))
            .label(SEAT)
            .side_effect(notices::invitation_accepted(
                &invitation.org_id,
                &invitation.invited_by,
                &invitation.id,
                &newcomer_name(caller, &invitation),
                caller.user_id(),
                &invitation.email,
                invitation.role,
            ));
            match self.audit.commit(change).await {
                Ok(()) => {
                    return Ok(AcceptedInvitation {
                        org_id: invitation.org_id,
                        role: invitation.role,
                    });
                }
                Err(e) if e.rejected(INVITATION) => return Err(TeamError::InvitationGone),
                Err(e) if e.rejected(MEMBERSHIP) => return Err(TeamError::AlreadyMember),
                Err(e) if e.rejected(SEAT) => {
                    return Err(TeamError::SeatLimitReached {
                        limit: limit.unwrap_or_default(),
                    });
                }
                Err(ChangeError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(TeamError::Conflict)
    }
}

/// How the inviter is told who joined: the profile's name (checked by its rules), else the
/// invited address.
fn newcomer_name(caller: &Caller, invitation: &InvitationRecord) -> String {
    caller
        .user
        .name
        .clone()
        .unwrap_or_else(|| invitation.email.clone())
}
