//! The role table of the product brief (§3), in one place. Every function asks it; none keeps
//! its own idea of who may do what.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Owner,
    Admin,
    Member,
    Viewer,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Viewer];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Viewer => "viewer",
        }
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Things a member may be allowed to do in their organization.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Permission {
    /// Members, invitations, the activity log, analytics; one's own notifications.
    ReadOrganization,
    RenameOrganization,
    /// Invite, resend and revoke invitations (which roles: [`can_grant`]).
    ManageInvitations,
    /// Change another member's role (whose and to what: [`can_manage`], [`can_grant`]).
    ChangeRoles,
    /// Remove another member ([`can_manage`]); anyone may remove themselves.
    RemoveMembers,
    ReadBilling,
    ManageBilling,
    TrackEvents,
    ManageApiKeys,
    /// See billing entries in the activity log.
    ReadBillingActivity,
    SendNotifications,
}

use Permission::*;

/// Rows: permission; columns: owner, admin, member, viewer.
const TABLE: &[(Permission, [bool; 4])] = &[
    (ReadOrganization, [true, true, true, true]),
    (RenameOrganization, [true, true, false, false]),
    (ManageInvitations, [true, true, false, false]),
    (ChangeRoles, [true, true, false, false]),
    (RemoveMembers, [true, true, false, false]),
    (ReadBilling, [true, true, false, false]),
    (ManageBilling, [true, false, false, false]),
    (TrackEvents, [true, true, true, false]),
    (ManageApiKeys, [true, true, false, false]),
    (ReadBillingActivity, [true, true, false, false]),
    (SendNotifications, [true, true, false, false]),
];

pub fn allows(role: Role, permission: Permission) -> bool {
    let column = match role {
        Role::Owner => 0,
        Role::Admin => 1,
        Role::Member => 2,
        Role::Viewer => 3,
    };
    TABLE
        .iter()
        .find(|(p, _)| *p == permission)
        .is_some_and(|(_, row)| row[column])
}

/// Whether `actor` may give someone the role `role` (by invitation or role change). Owners may
/// grant any role, ownership included; admins only member and viewer.
pub fn can_grant(actor: Role, role: Role) -> bool {
    match actor {
        Role::Owner => true,
        Role::Admin => matches!(role, Role::Member | Role::Viewer),
        Role::Member | Role::Viewer => false,
    }
}

/// Whether `actor` may change the role of, or remove, a member who holds `target`. Owners manage
/// everyone (the last-owner rule is checked against the table, not here); admins manage members
/// and viewers.
pub fn can_manage(actor: Role, target: Role) -> bool {
    match actor {
        Role::Owner => true,
        Role::Admin => matches!(target, Role::Member | Role::Viewer),
        Role::Member | Role::Viewer => false,
    }
}

/// A write condition on a membership item: its role is still one of `roles`. Transactions check
/// it on the actor's membership, so a role read at the start of a request still holds when the
/// change is made.
pub fn role_in(roles: &[Role]) -> store::Condition {
    let placeholders: Vec<String> = (0..roles.len()).map(|i| format!(":role{i}")).collect();
    store::Condition::Expression {
        expression: format!("#role IN ({})", placeholders.join(", ")),
        names: [("#role".to_owned(), "role".to_owned())].into(),
        values: placeholders
            .into_iter()
            .zip(roles)
            .map(|(p, r)| {
                (
                    p,
                    store::aws_sdk_dynamodb::types::AttributeValue::S(r.as_str().into()),
                )
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn who(permission: Permission) -> Vec<Role> {
        Role::ALL
            .into_iter()
            .filter(|r| allows(*r, permission))
            .collect()
    }

    #[test]
    fn every_permission_has_a_row() {
        for p in [
            ReadOrganization,
            RenameOrganization,
            ManageInvitations,
            ChangeRoles,
            RemoveMembers,
            ReadBilling,
            ManageBilling,
            TrackEvents,
            ManageApiKeys,
            ReadBillingActivity,
            SendNotifications,
        ] {
            assert_eq!(TABLE.iter().filter(|(q, _)| *q == p).count(), 1, "{p:?}");
        }
    }

    #[test]
    fn matches_the_brief() {
        use Role::*;
        assert_eq!(who(ReadOrganization), vec![Owner, Admin, Member, Viewer]);
        assert_eq!(who(ManageInvitations), vec![Owner, Admin]);
        assert_eq!(who(ReadBilling), vec![Owner, Admin]);
        assert_eq!(who(ManageBilling), vec![Owner]);
        assert_eq!(who(TrackEvents), vec![Owner, Admin, Member]);
        assert_eq!(who(ManageApiKeys), vec![Owner, Admin]);
        assert_eq!(who(ReadBillingActivity), vec![Owner, Admin]);
        assert_eq!(who(SendNotifications), vec![Owner, Admin]);
        assert_eq!(who(RenameOrganization), vec![Owner, Admin]);
    }

    #[test]
    fn admins_grant_and_manage_only_members_and_viewers() {
        use Role::*;
        let granted: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| can_grant(Admin, *r))
            .collect();
        assert_eq!(granted, vec![Member, Viewer]);
        let managed: Vec<_> = Role::ALL
            .into_iter()
            .filter(|r| can_manage(Admin, *r))
            .collect();
        assert_eq!(managed, vec![Member, Viewer]);
        assert!(
            Role::ALL
                .into_iter()
                .all(|r| can_grant(Owner, r) && can_manage(Owner, r))
        );
        for actor in [Member, Viewer] {
            assert!(
                Role::ALL
                    .into_iter()
                    .all(|r| !can_grant(actor, r) && !can_manage(actor, r))
            );
        }
    }
}
