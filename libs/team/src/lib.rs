//! Team collaboration: members and their roles, and the organization's activity log (§4.2).
//! Invitations by email, with the seat limit of the organization's plan.

mod activity;
mod error;
mod invitations;
mod members;
mod notices;
pub mod rules;

pub use activity::{ActivityFilter, ActivityView, list_activity};
pub use error::TeamError;
pub use invitations::{
    AcceptInvitation, AcceptedInvitation, CreateInvitation, ENDED_RETENTION, INVITATION_LIFETIME,
    Invitation, InvitationRecord, InvitationStatus, Invitations, invitation_email,
};
pub use members::{ChangeRole, Member, Members};
