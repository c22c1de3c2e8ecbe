//! Resend a pending invitation with a new token and a new expiry; the old token dies.

use auth::{OrgMember, Permission};
use store::Update;
use store::keys;

use super::record::text;
use super::token::new_token;
use super::{
    ENDED_RETENTION, INVITATION_LIFETIME, Invitation, InvitationRecord, InvitationStatus,
    Invitations, member_change, organization,
};
use crate::TeamError;
use crate::rules::may_invite;

/// The label of the invitation's update.
const INVITATION: &str = "invitation";
/// Tries of a resend that lost a race to another change of the invitation.
const RESEND_ATTEMPTS: usize = 10;

impl Invitations {
    /// Resends with a new token. Concurrent resends of one invitation each rotate it in turn (a
    /// lost race is retried on a fresh read); an invitation accepted or revoked meanwhile
    /// answers as such.
    pub async fn resend(&self, actor: &OrgMember, id: &str) -> Result<Invitation, TeamError> {
        actor.require(Permission::ManageInvitations)?;
        for _ in 0..RESEND_ATTEMPTS {
            match self.resend_once(actor, id).await {
                Err(TeamError::InvitationChanged) => continue,
                outcome => return outcome,
            }
        }
        Err(TeamError::InvitationChanged)
    }

    async fn resend_once(&self, actor: &OrgMember, id: &str) -> Result<Invitation, TeamError> {
        let invitation = self.find(&actor.org_id, id).await?;
        may_invite(actor.role, invitation.role).map_err(|_| TeamError::InvitationNotAllowed)?;
        match invitation.status {
            InvitationStatus::Accepted => return Err(TeamError::InvitationAccepted),
            InvitationStatus::Revoked | InvitationStatus::Expired => {
                return Err(TeamError::InvitationNotPending);
            }
            InvitationStatus::Pending => {}
        }
        let org = organization(&self.store, &actor.org_id).await?;
        let now = self.clock.now();
        let (token, hash) = new_token()?;
        let (_, partition, sort) = keys::invitation_token(&hash);
        let old_hash = invitation.token_hash.clone().unwrap_or_default();
        let updated = InvitationRecord {
            token_hash: Some(hash.clone()),
            expires_at: now + INVITATION_LIFETIME,
            ..invitation
        };
        // Only the token this request read is replaced: a concurrent resend or accept wins.
        let rotate = Update::new(updated.key())
            .set("token_hash", &hash)
            .set(keys::GSI1_PK, &partition)
            .set(keys::GSI1_SK, &sort)
            .set("expires_at", &clock::rfc3339(updated.expires_at))
            .set(
                keys::TTL,
                &(updated.expires_at + ENDED_RETENTION).unix_timestamp(),
            )
            .condition(
                "#status = :pending AND #token_hash = :old",
                [(":pending", text("pending")), (":old", text(&old_hash))],
            );
        let change = member_change(actor, "invitation.resent", &updated, now)
            .update(rotate)
            .label(INVITATION);
        match self.audit.commit(change).await {
            Ok(()) => {}
            // Changed meanwhile (resent, accepted, revoked): read it again.
            Err(e) if e.rejected(INVITATION) => return Err(TeamError::InvitationChanged),
            Err(audit::ChangeError::Conflict) => return Err(TeamError::InvitationChanged),
            Err(e) => return Err(e.into()),
        }
        let mut view = Invitation::new(&updated, now);
        view.email_sent = Some(self.send_email(&org, &updated, &token).await);
        Ok(view)
    }
}
