//! Members: the list with their profiles, role changes, removal and leaving. Each change is one
//! transaction with its activity entry, guarded by conditions on what was read, so a concurrent
//! change makes it fail instead of both landing.

use std::collections::HashMap;

use accounts::counters;
use audit::{Activity, Actor, AuditLog, AuditedChange, Category};
use auth::records::{MembershipRecord, UserRecord};
use auth::{OrgMember, Permission, Role};
use clock::{Clock, Duration};
use serde::{Deserialize, Serialize};
use store::keys::{OrgId, UserId};
use store::{Condition, Page, Query, Store, Update, keys};
use utoipa::ToSchema;
use validator::Validate;

use crate::TeamError;
use crate::notices;
use crate::rules::{may_change_role, may_remove};

/// Labels of a change's conditions: the target's membership as read, and the owner counter
/// (which fails for the last owner).
const MEMBER: &str = "member";
const OWNERS: &str = "owners";

/// A member as the team sees them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Member {
    pub user_id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub role: Role,
    /// RFC 3339, UTC.
    pub joined_at: String,
    pub last_active_at: Option<String>,
    pub avatar_url: Option<String>,
    pub job_title: Option<String>,
}

impl Member {
    fn new(membership: &MembershipRecord, user: Option<&UserRecord>) -> Self {
        Self {
            user_id: membership.user_id.clone(),
            email: user.and_then(|u| u.email.clone()),
            name: user.and_then(|u| u.name.clone()),
            role: membership.role,
            joined_at: clock::rfc3339(membership.joined_at),
            last_active_at: user.map(|u| clock::rfc3339(u.last_active_at)),
            avatar_url: user.and_then(|u| u.avatar_url.clone()),
            job_title: user.and_then(|u| u.job_title.clone()),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeRole {
    /// `owner`, `admin`, `member` or `viewer`.
    pub role: Role,
}

/// The profiles of some users, by id (one BatchGetItem per 100).
pub(crate) async fn profiles(
    store: &Store,
    user_ids: &[&str],
) -> Result<HashMap<String, UserRecord>, TeamError> {
    let keys: Vec<_> = user_ids
        .iter()
        .map(|u| keys::user_profile(keys::UserId(u)))
        .collect();
    let mut profiles = HashMap::new();
    for item in store.batch_get(&keys).await?.into_iter().flatten() {
        let user: UserRecord = store::from_item(item)?;
        profiles.insert(user.id.clone(), user);
    }
    Ok(profiles)
}

/// The member use cases. Built once per cold start.
#[derive(Clone)]
pub struct Members {
    store: Store,
    clock: Clock,
    audit: AuditLog,
}

impl Members {
    pub fn new(store: Store, clock: Clock, activity_retention: Duration) -> Self {
        Self {
            audit: AuditLog::new(store.clone(), activity_retention),
            store,
            clock,
        }
    }

    /// The organization's members with their profiles, a page at a time (2 round trips).
    pub async fn list(
        &self,
        caller: &OrgMember,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Member>, TeamError> {
        caller.require(Permission::ReadOrganization)?;
        let page = self
            .store
            .query::<MembershipRecord>(Query::new(
                "team-members",
                keys::org_members(keys::OrgId(&caller.org_id)),
                limit,
                cursor,
            ))
            .await?;
        let ids: Vec<&str> = page.items.iter().map(|m| m.user_id.as_str()).collect();
        let profiles = profiles(&self.store, &ids).await?;
        let items = page
            .items
            .iter()
            .map(|m| Member::new(m, profiles.get(&m.user_id)))
            .collect();
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    async fn membership(&self, org_id: &str, user_id: &str) -> Result<MembershipRecord, TeamError> {
        if !auth::is_usable_user_id(user_id) {
            return Err(TeamError::MemberNotFound);
        }
        self.store
            .get(&keys::org_member(
                keys::OrgId(org_id),
                keys::UserId(user_id),
            ))
            .await?
            .ok_or(TeamError::MemberNotFound)
    }

    /// A change of `target`'s membership by `actor`. The actor's role, read at the start of the
    /// request, must still be theirs when it commits; acting on their own membership, the
    /// change's condition on that item is the check.
    fn change(
        &self,
        actor: &OrgMember,
        action: &str,
        target: &str,
        metadata: serde_json::Value,
    ) -> AuditedChange {
        let who = if actor.user_id() == target {
            Actor::member_on_own_membership(actor)
        } else {
            Actor::member_as_read(actor)
        };
        let activity = Activity {
            action,
            category: Category::Team,
            target_type: "member",
            target_id: target,
            metadata,
        };
        AuditedChange::new(who, activity, self.clock.now())
    }

    /// Gives a member another role. Owners may hand ownership to another member; the last owner
    /// cannot step down.
    pub async fn change_role(
        &self,
        actor: &OrgMember,
        user_id: &str,
        request: ChangeRole,
    ) -> Result<Member, TeamError> {
        actor.require(Permission::ChangeRoles)?;
        let target = self.membership(&actor.org_id, user_id).await?;
        let (old, new) = (target.role, request.role);
        may_change_role(actor.role, old, new).map_err(|_| TeamError::NotAllowed)?;
        if old != new {
            let (org, user) = (OrgId(&actor.org_id), UserId(user_id));
            let metadata = serde_json::json!({ "from": old, "to": new });
            let mut change = self
                .change(actor, "member.role_changed", user_id, metadata)
                .update(
                    Update::new(keys::org_member(org, user))
                        .set("role", &new)
                        .condition_on(auth::role_in(&[old])),
                )
                .label(MEMBER)
                .update(
                    Update::new(keys::user_membership(org, user))
                        .set("role", &new)
                        .require_exists(),
                );
            if actor.user_id() != user_id {
                change = change.side_effect(notices::role_changed(
                    &actor.org_id,
                    user_id,
                    old,
                    new,
                    actor.user_id(),
                ));
            }
            if old == Role::Owner {
                change = change
                    .update(counters::owner_lost(&actor.org_id))
                    .label(OWNERS);
            } else if new == Role::Owner {
                change = change
                    .update(counters::owner_gained(&actor.org_id))
                    .label(OWNERS);
            }
            // The first broken rule answers: the member changed meanwhile, then the owners.
            match self.audit.commit(change).await {
                Ok(()) => {}
                Err(e) if e.rejected(MEMBER) => return Err(TeamError::Conflict),
                Err(e) if e.rejected(OWNERS) => return Err(TeamError::LastOwner),
                Err(e) => return Err(e.into()),
            }
        }
        let profiles = profiles(&self.store, &[user_id]).await?;
        Ok(Member::new(
            &MembershipRecord {
                role: new,
                ..target
            },
            profiles.get(user_id),
        ))
    }

    /// Removes a member, or lets the caller leave (`user_id` is their own id).
    pub async fn remove(&self, actor: &OrgMember, user_id: &str) -> Result<(), TeamError> {
        let is_self = actor.user_id() == user_id;
        if !is_self {
            actor.require(Permission::RemoveMembers)?;
        }
        let target = self.membership(&actor.org_id, user_id).await?;
        may_remove(actor.role, target.role, is_self).map_err(|_| TeamError::NotAllowed)?;
        let (org, user) = (OrgId(&actor.org_id), UserId(user_id));
        let action = if is_self {
            "member.left"
        } else {
            "member.removed"
        };
        let metadata = serde_json::json!({ "role": target.role });
        let profile = profiles(&self.store, &[user_id]).await?.remove(user_id);
        let who = profile
            .and_then(|p| p.name.or(p.email))
            .unwrap_or_else(|| "A member".to_owned());
        let by = (!is_self).then(|| actor.user_id());
        let mut change = self
            .change(actor, action, user_id, metadata)
            .delete(keys::org_member(org, user), auth::role_in(&[target.role]))
            .label(MEMBER)
            .delete(keys::user_membership(org, user), Condition::Always)
            .update(counters::member_left(&actor.org_id, target.role))
            .side_effect(notices::member_gone(&actor.org_id, user_id, &who, by))
            .side_effect(notices::close_connections(user_id));
        if let Some(by) = by {
            change = change.side_effect(notices::you_were_removed(&actor.org_id, user_id, by));
        }
        if target.role == Role::Owner {
            change = change.label(OWNERS);
        }
        match self.audit.commit(change).await {
            Ok(()) => Ok(()),
            Err(e) if e.rejected(MEMBER) => Err(TeamError::Conflict),
            Err(e) if e.rejected(OWNERS) => Err(TeamError::LastOwner),
            Err(e) => Err(e.into()),
        }
    }
}
