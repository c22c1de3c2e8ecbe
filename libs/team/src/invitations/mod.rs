//! Invitations (§4.2): invite by email, list, resend, revoke, accept. One file per use case;
//! beside them the record and its view, the token, the email, and the seats.
//!
//! - The token is 256 bits from the OS random generator, sent only in the email (base64url) and
//!   stored only as its SHA-256, which a pending invitation carries as its GSI1 key: a used,
//!   revoked or rotated token finds nothing. The index is eventually consistent, so accepting
//!   re-reads the invitation and its transaction re-checks status, token and expiry.
//! - A pending invitation holds a seat (`seats_used` on the organization, with the members), so
//!   the plan's seat limit is one condition in the invite's transaction. An invitation that
//!   lapsed without being accepted keeps its seat until it is reclaimed: when an invite would
//!   exceed the limit, or when the same address is invited again ([`seats`]).
//! - Every invitation has a TTL, [`ENDED_RETENTION`] after it expires or ends, for clean-up. If
//!   TTL deletes a lapsed invitation before it was reclaimed, its seat is found by the recount
//!   that reclaiming ends with (`seats_used` = members + pending invitations, read consistently).
//! - One pending invitation per address and organization: a guard item keyed by the address.
//! - Every change is an audited change: its activity entry in its own transaction.

mod accept;
mod email;
mod invite;
mod list;
mod record;
mod resend;
mod revoke;
mod seats;
mod token;

use audit::{Activity, Actor, AuditLog, AuditedChange, Category};
use auth::OrgMember;
use auth::records::MembershipRecord;
use clock::{Clock, DateTime, Duration};
use mail::Mailer;
use store::keys::{self, OrgId};
use store::{Query, Store};

use crate::TeamError;
use crate::members::profiles;

pub use email::invitation_email;
pub use record::{
    AcceptInvitation, AcceptedInvitation, CreateInvitation, Invitation, InvitationRecord,
    InvitationStatus,
};

/// How long an invitation can be accepted.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);
/// How long an invitation stays listed after it expired or ended, before TTL removes it.
pub const ENDED_RETENTION: Duration = Duration::days(30);
const ENTITY: &str = "invitation";
const GUARD_ENTITY: &str = "invitation_email";

/// The invitation use cases. Built once per cold start.
#[derive(Clone)]
pub struct Invitations {
    store: Store,
    clock: Clock,
    audit: AuditLog,
    mailer: Mailer,
    /// The web app's base URL; the accept link is `{app_url}/accept-invitation?token=…`.
    app_url: String,
}

impl Invitations {
    pub fn new(
        store: Store,
        clock: Clock,
        activity_retention: Duration,
        mailer: Mailer,
        app_url: &str,
    ) -> Self {
        Self {
            audit: AuditLog::new(store.clone(), activity_retention),
            store,
            clock,
            mailer,
            app_url: app_url.trim_end_matches('/').to_owned(),
        }
    }

    /// Gives back the seats of pending invitations that lapsed; answers how many.
    pub async fn reclaim_expired(&self, org_id: &str) -> Result<usize, TeamError> {
        seats::reclaim_expired(&self.audit, org_id, self.clock.now()).await
    }

    async fn get(&self, org_id: &str, id: &str) -> Result<Option<InvitationRecord>, TeamError> {
        if ulid::Ulid::from_string(id).is_err() {
            return Ok(None);
        }
        Ok(self.store.get(&keys::invitation(OrgId(org_id), id)).await?)
    }

    /// An invitation of the caller's organization; another organization's is not found.
    async fn find(&self, org_id: &str, id: &str) -> Result<InvitationRecord, TeamError> {
        self.get(org_id, id)
            .await?
            .ok_or(TeamError::InvitationNotFound)
    }

    /// Sends the invitation email; answers whether SES took it (a failure is logged).
    async fn send_email(
        &self,
        org: &accounts::OrgRecord,
        invitation: &InvitationRecord,
        token: &str,
    ) -> bool {
        let email = invitation_email(org, invitation, &self.app_url, token);
        match self.mailer.send(&email).await {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(%error, invitation = %invitation.id, "invitation email not sent");
                false
            }
        }
    }
}

/// A change of `invitation` by a member whose role must be the one the request read.
fn member_change(
    actor: &OrgMember,
    action: &str,
    invitation: &InvitationRecord,
    now: DateTime,
) -> AuditedChange {
    AuditedChange::new(
        Actor::member_as_read(actor),
        activity(action, invitation),
        now,
    )
}

/// The activity entry of a change of `invitation`.
fn activity<'a>(action: &'a str, invitation: &'a InvitationRecord) -> Activity<'a> {
    Activity {
        action,
        category: Category::Team,
        target_type: "invitation",
        target_id: &invitation.id,
        metadata: invitation.activity_metadata(),
    }
}

async fn organization(store: &Store, org_id: &str) -> Result<accounts::OrgRecord, TeamError> {
    store
        .get(&keys::org_profile(OrgId(org_id)))
        .await?
        .ok_or_else(|| TeamError::Internal(format!("organization {org_id} has no profile")))
}

/// Whether an address belongs to a member: their profiles' emails, compared by
/// [`record::email_key`].
/// Reads every member (2 round trips per 100); inviting is rare and seats are bounded.
async fn is_member_email(store: &Store, org_id: &str, email_key: &str) -> Result<bool, TeamError> {
    let mut cursor: Option<String> = None;
    loop {
        let page = store
            .query::<MembershipRecord>(Query::new(
                "team-members",
                keys::org_members(OrgId(org_id)),
                100,
                cursor.as_deref(),
            ))
            .await?;
        let ids: Vec<&str> = page.items.iter().map(|m| m.user_id.as_str()).collect();
        let found = profiles(store, &ids).await?;
        if found.values().any(|user| {
            user.email
                .as_deref()
                .is_some_and(|e| record::email_key(e) == email_key)
        }) {
            return Ok(true);
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(false),
        }
    }
}
