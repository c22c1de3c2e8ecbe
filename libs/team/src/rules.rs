//! The team's role rules in one place (on top of the role table in `auth::roles`): who may give
//! which role to whom, who may remove whom, and that an organization keeps an owner.

use auth::roles::{can_grant, can_manage};
use auth::{Permission, Role, allows};

/// Why a role change or removal is refused (before the last-owner rule, which the table enforces).
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The actor's role does not allow the action on this member or this role.
    NotAllowed,
}

/// May `actor` change a member holding `current` to `new`?
pub fn may_change_role(actor: Role, current: Role, new: Role) -> Result<(), Refusal> {
    if allows(actor, Permission::ChangeRoles) && can_manage(actor, current) && can_grant(actor, new)
    {
        Ok(())
    } else {
        Err(Refusal::NotAllowed)
    }
}

/// May `actor` remove a member holding `target`? Anyone may remove themselves (leave).
pub fn may_remove(actor: Role, target: Role, is_self: bool) -> Result<(), Refusal> {
    if is_self || (allows(actor, Permission::RemoveMembers) && can_manage(actor, target)) {
        Ok(())
    } else {
        Err(Refusal::NotAllowed)
    }
}

/// May `actor` invite someone as `role`, or resend or revoke an invitation for `role`? Owners
/// invite admins, members and viewers; admins members and viewers. Nobody is invited as owner:
/// ownership is handed over to an existing member.
pub fn may_invite(actor: Role, role: Role) -> Result<(), Refusal> {
    if role != Role::Owner && allows(actor, Permission::ManageInvitations) && can_grant(actor, role)
    {
        Ok(())
    } else {
        Err(Refusal::NotAllowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Role::*;

    #[test]
    fn owners_change_anyone_to_anything_including_a_transfer_of_ownership() {
        for current in Role::ALL {
            for new in Role::ALL {
                assert!(
                    may_change_role(Owner, current, new).is_ok(),
                    "{current} -> {new}"
                );
            }
        }
    }

    #[test]
    fn admins_move_members_and_viewers_between_member_and_viewer_only() {
        assert!(may_change_role(Admin, Member, Viewer).is_ok());
        assert!(may_change_role(Admin, Viewer, Member).is_ok());
        for (current, new) in [
            (Member, Admin),
            (Member, Owner),
            (Admin, Member),
            (Owner, Member),
            (Admin, Viewer),
        ] {
            assert_eq!(
                may_change_role(Admin, current, new),
                Err(Refusal::NotAllowed),
                "{current} -> {new}"
            );
        }
    }

    #[test]
    fn members_and_viewers_change_no_roles() {
        for actor in [Member, Viewer] {
            for current in Role::ALL {
                for new in Role::ALL {
                    assert!(may_change_role(actor, current, new).is_err());
                }
            }
        }
    }

    #[test]
    fn removal_follows_the_table_and_anyone_may_leave() {
        assert!(may_remove(Owner, Owner, false).is_ok());
        assert!(may_remove(Admin, Member, false).is_ok());
        assert!(may_remove(Admin, Viewer, false).is_ok());
        assert!(may_remove(Admin, Admin, false).is_err());
        assert!(may_remove(Admin, Owner, false).is_err());
        for actor in [Member, Viewer] {
            assert!(may_remove(actor, Viewer, false).is_err());
            assert!(may_remove(actor, actor, true).is_ok());
        }
    }

    #[test]
    fn owners_invite_any_role_but_owner_and_admins_only_members_and_viewers() {
        for role in [Admin, Member, Viewer] {
            assert!(may_invite(Owner, role).is_ok(), "{role}");
        }
        assert!(may_invite(Admin, Member).is_ok());
        assert!(may_invite(Admin, Viewer).is_ok());
        assert!(may_invite(Admin, Admin).is_err());
        for actor in Role::ALL {
            assert!(may_invite(actor, Owner).is_err(), "{actor}");
        }
        for actor in [Member, Viewer] {
            for role in Role::ALL {
                assert!(may_invite(actor, role).is_err());
            }
        }
    }
}
