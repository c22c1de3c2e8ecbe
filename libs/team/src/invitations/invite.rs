//! Invite an address: load what the rules need, decide (a pure function), commit one audited
//! change, then send the email.

use accounts::counters;
use auth::{OrgMember, Permission};
use clock::DateTime;
use store::keys::{self, OrgId};

use super::record::{EmailGuard, email_key};
use super::token::new_token;
use super::{
    CreateInvitation, INVITATION_LIFETIME, Invitation, InvitationRecord, InvitationStatus,
    Invitations, activity, is_member_email, member_change,
};
use crate::TeamError;
use crate::rules::may_invite;

/// Labels of the invite's conditions.
const SEAT: &str = "seat";
const GUARD: &str = "email_guard";

/// What an invite reads before deciding.
struct Loaded {
    org: accounts::OrgRecord,
    /// The address's guard item, naming its pending invitation, if it has one.
    guard: Option<EmailGuard>,
    /// The invitation the guard names (gone if TTL removed it).
    previous: Option<InvitationRecord>,
    is_member: bool,
}

/// What the invite will do about an earlier invitation of the same address.
#[derive(Debug, PartialEq)]
enum Plan<'a> {
    /// A new invitation, taking a seat.
    TakeSeat,
    /// A new invitation replacing one that lapsed unaccepted: it takes over that seat.
    Replace(&'a InvitationRecord),
}

/// The invite's rules over what was read: a live invitation of the address or a member with it
/// is a conflict; a lapsed pending invitation is replaced.
fn decide(
    previous: Option<&InvitationRecord>,
    is_member: bool,
    now: DateTime,
) -> Result<Plan<'_>, TeamError> {
    if previous.is_some_and(|p| p.is_live(now)) {
        return Err(TeamError::AlreadyInvited);
    }
    if is_member {
        return Err(TeamError::AlreadyMember);
    }
    Ok(match previous {
        Some(lapsed) if lapsed.status == InvitationStatus::Pending => Plan::Replace(lapsed),
        _ => Plan::TakeSeat,
    })
}

impl Invitations {
    /// Invites an address. 409 when it is a member or has a pending invitation, 402 when the
    /// plan has no free seat.
    pub async fn invite(
        &self,
        actor: &OrgMember,
        request: CreateInvitation,
    ) -> Result<Invitation, TeamError> {
        actor.require(Permission::ManageInvitations)?;
        may_invite(actor.role, request.role).map_err(|_| TeamError::InvitationNotAllowed)?;
        let email_key = email_key(&request.email);
        let message = request
            .message
            .as_deref()
            .map(str::trim)
            .filter(|m| !m.is_empty())
            .map(str::to_owned);
        // The profile's values, which passed its rules (the raw claims may not have).
        let inviter_name = actor
            .caller
            .user
            .name
            .clone()
            .or_else(|| actor.caller.user.email.clone());
        // One more attempt after reclaiming the seats of lapsed invitations.
        for attempt in 0..2 {
            let loaded = self.load(&actor.org_id, &email_key).await?;
            let now = self.clock.now();
            let plan = decide(loaded.previous.as_ref(), loaded.is_member, now)?;
            let (token, token_hash) = new_token()?;
            let record = InvitationRecord {
                id: ulid::Ulid::from_datetime(now.into()).to_string(),
                org_id: actor.org_id.clone(),
                email: request.email.clone(),
                email_key: email_key.clone(),
                role: request.role,
                status: InvitationStatus::Pending,
                invited_by: actor.user_id().to_owned(),
                inviter_name: inviter_name.clone(),
                message: message.clone(),
                token_hash: Some(token_hash.clone()),
                created_at: now,
                expires_at: now + INVITATION_LIFETIME,
                ended_at: None,
                accepted_by: None,
            };
            let (guard_item, guard_condition) = EmailGuard::put(&record, loaded.guard.as_ref())?;
            let mut change = member_change(actor, "invitation.created", &record, now)
                .put(record.item(&token_hash)?, store::Condition::NotExists)
                .put(guard_item, guard_condition)
                .label(GUARD);
            let limit = loaded.org.effective_plan(now).limits.seats;
            let replacing = matches!(plan, Plan::Replace(_));
            change = match plan {
                Plan::Replace(lapsed) => change
                    .update(lapsed.end_lapsed(now))
                    .also_by_system(activity("invitation.expired", lapsed)),
                Plan::TakeSeat => change
                    .update(counters::take_seat(&actor.org_id, limit))
                    .label(SEAT),
            };
            // The first broken rule answers: the address's guard, then the seat, then the actor.
            match self.audit.commit(change).await {
                Ok(()) => {
                    let mut invitation = Invitation::new(&record, now);
                    invitation.email_sent =
                        Some(self.send_email(&loaded.org, &record, &token).await);
                    return Ok(invitation);
                }
                // Another invite of the same address got there first.
                Err(e) if e.rejected(GUARD) && !replacing => {
                    return Err(TeamError::AlreadyInvited);
                }
                Err(e) if e.rejected(SEAT) => {
                    if attempt == 0 && self.reclaim_expired(&actor.org_id).await? > 0 {
                        continue;
                    }
                    return Err(TeamError::SeatLimitReached {
                        limit: limit.unwrap_or_default(),
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(TeamError::Conflict)
    }

    /// The organization and the address's guard in one read, then the invitation the guard
    /// names and whether a member has the address.
    async fn load(&self, org_id: &str, email_key: &str) -> Result<Loaded, TeamError> {
        let found = self
            .store
            .batch_get(&[
                keys::org_profile(OrgId(org_id)),
                keys::invitation_email(OrgId(org_id), email_key),
            ])
            .await?;
        let mut found = found.into_iter();
        let org: accounts::OrgRecord = found
            .next()
            .flatten()
            .map(store::from_item)
            .transpose()?
            .ok_or_else(|| TeamError::Internal("organization without profile".into()))?;
        let guard: Option<EmailGuard> = found.next().flatten().map(store::from_item).transpose()?;
        let previous = match &guard {
            Some(guard) => self.get(org_id, &guard.invitation_id).await?,
            None => None,
        };
        let is_member = is_member_email(&self.store, org_id, email_key).await?;
        Ok(Loaded {
            org,
            guard,
            previous,
            is_member,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invitations::record::tests::record;

    #[test]
    fn a_live_invitation_of_the_address_is_a_conflict_before_membership() {
        let live = record("Eve", None);
        let now = live.created_at;
        assert!(matches!(
            decide(Some(&live), true, now),
            Err(TeamError::AlreadyInvited)
        ));
        assert!(matches!(
            decide(None, true, now),
            Err(TeamError::AlreadyMember)
        ));
    }

    #[test]
    fn a_lapsed_pending_invitation_is_replaced_and_an_ended_one_is_not() {
        let lapsed = record("Eve", None);
        let later = lapsed.expires_at;
        assert_eq!(
            decide(Some(&lapsed), false, later).unwrap(),
            Plan::Replace(&lapsed)
        );
        let revoked = InvitationRecord {
            status: InvitationStatus::Revoked,
            ..record("Eve", None)
        };
        assert_eq!(
            decide(Some(&revoked), false, later).unwrap(),
            Plan::TakeSeat
        );
        assert_eq!(decide(None, false, later).unwrap(), Plan::TakeSeat);
        assert!(matches!(
            decide(Some(&lapsed), true, later),
            Err(TeamError::AlreadyMember)
        ));
    }
}
