//! Accounts: organizations and the caller's own profile (§4.1 of the brief).

pub mod counters;
mod error;
mod organizations;
mod profile;
pub mod validation;

pub use error::AccountsError;
pub use organizations::{
    CreateOrganization, FREE_PLAN, OrgRecord, Organization, Organizations, RenameOrganization,
};
pub use profile::{Profile, ProfilePatch, update_profile};
