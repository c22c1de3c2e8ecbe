//! Team collaboration: members and their roles, and the organization's activity log (§4.2).
//! Invitations follow in the next step of the team issue.

mod activity;
mod error;
mod members;
pub mod rules;

pub use activity::{ActivityFilter, ActivityView, list_activity};
pub use error::TeamError;
pub use members::{ChangeRole, Member, Members};
