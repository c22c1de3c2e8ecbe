//! Members: the list with their profiles, role changes, removal and leaving. Each change is one
//! transaction with its activity entry, guarded by conditions on what was read, so a concurrent
//! change makes it fail instead of both landing.

use std::collections::HashMap;

use audit::{Category, NewEntry};
use auth::records::{MembershipRecord, UserRecord};
use auth::{OrgMember, Permission, Role};
use clock::{Clock, Duration};
use serde::{Deserialize, Serialize};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::{Condition, Page, Query, Store, StoreError, Transaction, Update, keys};
use utoipa::ToSchema;
use validator::Validate;

use notify::{NotificationRequest, NotificationType, Notifier};

use crate::TeamError;
use crate::rules::{may_change_role, may_remove};

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

pub(crate) fn role_is(role: Role) -> Condition {
    Condition::Expression {
        expression: "#role = :role".into(),
        names: HashMap::from([("#role".to_owned(), "role".to_owned())]),
        values: HashMap::from([(":role".to_owned(), AttributeValue::S(role.as_str().into()))]),
    }
}

/// The profiles of some users, by id (one BatchGetItem per 100).
pub(crate) async fn profiles(
    store: &Store,
    user_ids: &[&str],
) -> Result<HashMap<String, UserRecord>, TeamError> {
    let keys: Vec<_> = user_ids.iter().map(|u| keys::user_profile(u)).collect();
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
    activity_retention: Duration,
    notifier: Notifier,
}

impl Members {
    pub fn new(
        store: Store,
        clock: Clock,
        activity_retention: Duration,
        notifier: Notifier,
    ) -> Self {
        Self {
            store,
            clock,
            activity_retention,
            notifier,
        }
    }

    /// Tells a member what happened to their membership (after the change is committed).
    async fn tell(
        &self,
        org_id: &str,
        user_id: &str,
        title: &str,
        body: String,
        data: serde_json::Value,
    ) {
        let request = NotificationRequest::new(
            org_id,
            vec![user_id.to_owned()],
            NotificationType::Team,
            title,
            &body,
            self.clock.now(),
        )
        .with_data(data);
        self.notifier.send_after_commit(&request).await;
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
                keys::org_members(&caller.org_id),
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
            .get(&keys::org_member(org_id, user_id))
            .await?
            .ok_or(TeamError::MemberNotFound)
    }

    fn entry(
        &self,
        actor: &OrgMember,
        action: &str,
        target: &str,
        metadata: serde_json::Value,
    ) -> Result<store::Item, TeamError> {
        let entry = NewEntry {
            org_id: &actor.org_id,
            actor_id: actor.user_id(),
            action,
            category: Category::Team,
            target_type: "member",
            target_id: target,
            metadata,
        }
        .at(self.clock.now());
        Ok(audit::entry_item(&entry, self.activity_retention)?)
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
            let is_self = actor.user_id() == user_id;
            let mut transaction = Transaction::new()
                .update(
                    Update::new(keys::org_member(&actor.org_id, user_id))
                        .set("role", &new)
                        .condition_on(role_is(old)),
                )
                .update(
                    Update::new(keys::user_membership(user_id, &actor.org_id))
                        .set("role", &new)
                        .require_exists(),
                );
            let mut owner_action = None;
            if old == Role::Owner || new == Role::Owner {
                owner_action = Some(transaction.len());
                let profile = Update::new(keys::org_profile(&actor.org_id)).require_exists();
                transaction = transaction.update(if old == Role::Owner {
                    profile.add("owner_count", -1).condition(
                        "#owner_count > :one",
                        [(":one", AttributeValue::N("1".into()))],
                    )
                } else {
                    profile.add("owner_count", 1)
                });
            }
            let actor_action = (!is_self).then(|| transaction.len());
            if !is_self {
                // The actor's own role, read at the start, must still be theirs.
                transaction = transaction.check(
                    keys::org_member(&actor.org_id, actor.user_id()),
                    role_is(actor.role),
                );
            }
            let metadata = serde_json::json!({ "from": old, "to": new });
            transaction = transaction.put(
                self.entry(actor, "member.role_changed", user_id, metadata)?,
                Condition::NotExists,
            );
            match self.store.transact(transaction).await {
                Ok(()) => {}
                Err(StoreError::ConditionFailed { action: Some(i) }) if Some(i) == owner_action => {
                    return Err(TeamError::LastOwner);
                }
                Err(StoreError::ConditionFailed { action: Some(i) }) if Some(i) == actor_action => {
                    return Err(TeamError::NotAllowed);
                }
                Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                    return Err(TeamError::Conflict);
                }
                Err(e) => return Err(e.into()),
            }
        }
        if old != new && actor.user_id() != user_id {
            let body = format!("Your role in the organization is now {new}.");
            let data = serde_json::json!({ "org_id": actor.org_id, "from": old, "to": new, "by": actor.user_id() });
            self.tell(&actor.org_id, user_id, "Your role changed", body, data)
                .await;
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
        let mut counters = Update::new(keys::org_profile(&actor.org_id))
            .add("member_count", -1)
            .add("seats_used", -1)
            .require_exists();
        if target.role == Role::Owner {
            counters = counters.add("owner_count", -1).condition(
                "#owner_count > :one",
                [(":one", AttributeValue::N("1".into()))],
            );
        }
        let mut transaction = Transaction::new()
            .delete(
                keys::org_member(&actor.org_id, user_id),
                role_is(target.role),
            )
            .delete(
                keys::user_membership(user_id, &actor.org_id),
                Condition::Always,
            );
        let counters_action = transaction.len();
        transaction = transaction.update(counters);
        let actor_action = (!is_self).then(|| transaction.len());
        if !is_self {
            transaction = transaction.check(
                keys::org_member(&actor.org_id, actor.user_id()),
                role_is(actor.role),
            );
        }
        let action = if is_self {
            "member.left"
        } else {
            "member.removed"
        };
        let metadata = serde_json::json!({ "role": target.role });
        transaction = transaction.put(
            self.entry(actor, action, user_id, metadata)?,
            Condition::NotExists,
        );
        match self.store.transact(transaction).await {
            Ok(()) => {
                if !is_self {
                    let data = serde_json::json!({ "org_id": actor.org_id, "by": actor.user_id() });
                    let body = "You were removed from the organization.".to_owned();
                    self.tell(&actor.org_id, user_id, "You were removed", body, data)
                        .await;
                }
                Ok(())
            }
            Err(StoreError::ConditionFailed { action: Some(i) })
                if i == counters_action && target.role == Role::Owner =>
            {
                Err(TeamError::LastOwner)
            }
            Err(StoreError::ConditionFailed { action: Some(i) }) if Some(i) == actor_action => {
                Err(TeamError::NotAllowed)
            }
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                Err(TeamError::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }
}
