//! Revoke a pending invitation: its token dies and its seat is free.

use accounts::counters;
use auth::{OrgMember, Permission};

use super::{InvitationStatus, Invitations, member_change};
use crate::TeamError;
use crate::rules::may_invite;

/// The label of the invitation's update.
const INVITATION: &str = "invitation";

impl Invitations {
    /// Revokes a pending invitation. Revoking one that already ended changes nothing; an
    /// accepted one is a member now (409).
    pub async fn revoke(&self, actor: &OrgMember, id: &str) -> Result<(), TeamError> {
        actor.require(Permission::ManageInvitations)?;
        let invitation = self.find(&actor.org_id, id).await?;
        may_invite(actor.role, invitation.role).map_err(|_| TeamError::InvitationNotAllowed)?;
        match invitation.status {
            InvitationStatus::Accepted => return Err(TeamError::InvitationAccepted),
            InvitationStatus::Revoked | InvitationStatus::Expired => return Ok(()),
            InvitationStatus::Pending => {}
        }
        let now = self.clock.now();
        let (guard, unchanged) = invitation.release_guard();
        let change = member_change(actor, "invitation.revoked", &invitation, now)
            .update(invitation.end(InvitationStatus::Revoked, now))
            .label(INVITATION)
            .delete(guard, unchanged)
            .update(counters::release_seat(&actor.org_id));
        match self.audit.commit(change).await {
            Ok(()) => Ok(()),
            // Changed meanwhile (resent, accepted, revoked): a conflict, whatever the actor.
            Err(e) if e.rejected(INVITATION) => Err(TeamError::Conflict),
            Err(e) => Err(e.into()),
        }
    }
}
