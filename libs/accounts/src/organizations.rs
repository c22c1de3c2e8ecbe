//! Organizations: create (the caller becomes owner), list the caller's, rename.

use audit::{Activity, Actor, AuditLog, AuditedChange, Category};
use auth::records::MembershipRecord;
use auth::{Caller, OrgMember, Permission, Role};
use clock::{Clock, DateTime, Duration};
use serde::{Deserialize, Serialize};
use store::keys::{OrgId, UserId};
use store::{Condition, Page, Query, Store, Update, keys};
use store::{IdempotentRequest, ReplayScope};
use utoipa::ToSchema;
use validator::Validate;

use crate::AccountsError;
use crate::validation::display_name;

pub const FREE_PLAN: &str = plans::FREE;
const ORG_ENTITY: &str = "organization";

/// An organization as stored (`ORG#<id>` / `PROFILE`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrgRecord {
    pub id: String,
    pub name: String,
    pub plan: String,
    pub created_by: String,
    #[serde(with = "clock::serde_rfc3339")]
    pub created_at: DateTime,
    #[serde(with = "clock::serde_rfc3339")]
    pub updated_at: DateTime,
    /// Members, kept in the same transactions that add or remove one (seat limits read it).
    #[serde(default)]
    pub member_count: i64,
    /// Owners, kept likewise: an organization never loses its last owner.
    #[serde(default)]
    pub owner_count: i64,
    /// Seats taken: members plus pending invitations. One counter, because a condition
    /// expression cannot add two: the seat limit is `seats_used < :limit` on this alone.
    #[serde(default)]
    pub seats_used: i64,
    /// The Stripe subscription's facts, kept by billing; limits read them through
    /// [`plans::effective_plan`]. Absent: the organization has never subscribed (free).
    #[serde(default)]
    pub subscription: Option<plans::SubscriptionFacts>,
    /// The levels of its limits reached this period, kept by metering (with `usage_version`,
    /// its optimistic version); the free plan's gate reads them with the plan, in one GetItem.
    #[serde(default)]
    pub usage_levels: Option<plans::usage::LevelsReached>,
    #[serde(default)]
    pub usage_version: i64,
}

impl OrgRecord {
    /// The plan whose limits apply now.
    pub fn effective_plan(&self, now: DateTime) -> &'static plans::Plan {
        plans::effective_plan(self.subscription.as_ref(), now)
    }
}

/// An organization as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    #[schema(example = "01JD3YQ9V4Z8K2M6N0P3R5T7W9")]
    pub id: String,
    #[schema(example = "Acme")]
    pub name: String,
    /// The plan whose limits apply now (`free`, `starter`, `pro` or `enterprise`): the
    /// subscription's plan while it is active, trialing or within its past-due grace, else free.
    #[schema(example = "free")]
    pub plan: String,
    /// The caller's role in it.
    pub role: Role,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-23T10:00:00.000Z")]
    pub created_at: String,
}

impl Organization {
    fn new(org: &OrgRecord, role: Role, now: DateTime) -> Self {
        Self {
            id: org.id.clone(),
            name: org.name.clone(),
            plan: org.effective_plan(now).id.clone(),
            role,
            created_at: clock::rfc3339(org.created_at),
        }
    }
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateOrganization {
    /// 1–100 characters.
    #[validate(custom(function = "display_name"))]
    #[schema(value_type = text::Name, example = "Acme")]
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameOrganization {
    /// 1–100 characters.
    #[validate(custom(function = "display_name"))]
    #[schema(value_type = text::Name, example = "Acme Inc")]
    pub name: String,
}

/// The organization use cases. Built once per cold start.
#[derive(Clone)]
pub struct Organizations {
    store: Store,
    clock: Clock,
    audit: AuditLog,
}

/// Labels of the conditions a rename can fail.
const ORGANIZATION: &str = "organization";

impl Organizations {
    pub fn new(store: Store, clock: Clock, activity_retention: Duration) -> Self {
        Self {
            audit: AuditLog::new(store.clone(), activity_retention),
            store,
            clock,
        }
    }

    /// Creates an organization owned by the caller: the organization, both membership items and
    /// the activity entry are written in one transaction. With an `Idempotency-Key`, a retry of
    /// the same request answers the first result instead of creating a second organization.
    pub async fn create(
        &self,
        caller: &Caller,
        request: CreateOrganization,
        idempotency_key: Option<&str>,
    ) -> Result<Organization, AccountsError> {
        let now = self.clock.now();
        let name = request.name.trim().to_owned();
        let org = OrgRecord {
            id: ulid::Ulid::from_datetime(now.into()).to_string(),
            name: name.clone(),
            plan: FREE_PLAN.to_owned(),
            created_by: caller.user_id().to_owned(),
            created_at: now,
            updated_at: now,
            // The founder: one member, one owner, one seat.
            member_count: 1,
            owner_count: 1,
            seats_used: 1,
            subscription: None,
            usage_levels: None,
            usage_version: 0,
        };
        let membership = MembershipRecord {
            org_id: org.id.clone(),
            user_id: caller.user_id().to_owned(),
            role: Role::Owner,
            joined_at: now,
        };
        let created = Organization::new(&org, Role::Owner, now);
        let (member_item, user_membership_item) = membership.items()?;
        let activity = Activity {
            action: "org.created",
            category: Category::Organization,
            target_type: "organization",
            target_id: &org.id,
            metadata: serde_json::json!({ "name": name }),
        };
        let mut change = AuditedChange::new(Actor::user(&org.id, caller.user_id()), activity, now)
            .put(
                store::item(&keys::org_profile(OrgId(&org.id)), ORG_ENTITY, &org)?,
                Condition::NotExists,
            )
            .put(member_item, Condition::NotExists)
            .put(user_membership_item, Condition::NotExists);

        let replay = idempotency_key.map(|key| {
            let scope = ReplayScope {
                org: None,
                caller: UserId(caller.user_id()),
            };
            IdempotentRequest::new(
                scope,
                key,
                "create-organization",
                name.as_bytes(),
                now.unix_timestamp(),
            )
        });
        if let Some(replay) = &replay {
            change = change.record_with(|t| replay.record(t, &created))?;
        }
        match self.audit.commit(change).await {
            Ok(()) => Ok(created),
            Err(e) if e.rejected(IdempotentRequest::LABEL) => {
                let replay = replay.expect("only an idempotent request records its key");
                Ok(replay.replay(&self.store).await?)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// The caller's organizations with their role, a page at a time.
    pub async fn list(
        &self,
        caller: &Caller,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Organization>, AccountsError> {
        let page = self
            .store
            .query::<MembershipRecord>(Query {
                name: "user-organizations",
                partition: keys::user_memberships(keys::UserId(caller.user_id())),
                limit,
                cursor,
                newest_first: false,
                sort_range: None,
                filter: None,
                index: None,
            })
            .await?;
        let org_keys: Vec<_> = page
            .items
            .iter()
            .map(|m| keys::org_profile(keys::OrgId(&m.org_id)))
            .collect();
        let orgs = self.store.batch_get(&org_keys).await?;
        let mut items = Vec::with_capacity(orgs.len());
        for (membership, org) in page.items.iter().zip(orgs) {
            match org {
                Some(item) => {
                    let org = store::from_item(item)?;
                    items.push(Organization::new(&org, membership.role, self.clock.now()))
                }
                None => {
                    tracing::warn!(org_id = %membership.org_id, "membership of a missing organization")
                }
            }
        }
        Ok(Page {
            items,
            next_cursor: page.next_cursor,
        })
    }

    /// Renames the member's organization (owners and admins).
    pub async fn rename(
        &self,
        member: &OrgMember,
        request: RenameOrganization,
    ) -> Result<Organization, AccountsError> {
        member
            .require(Permission::RenameOrganization)
            .map_err(AccountsError::Denied)?;
        let mut org: OrgRecord = self
            .store
            .get(&keys::org_profile(keys::OrgId(&member.org_id)))
            .await?
            .ok_or(AccountsError::OrganizationNotFound)?;
        let now = self.clock.now();
        let name = request.name.trim().to_owned();
        let activity = Activity {
            action: "org.renamed",
            category: Category::Organization,
            target_type: "organization",
            target_id: &org.id,
            metadata: serde_json::json!({ "from": org.name, "to": name }),
        };
        let rename = Update::new(keys::org_profile(OrgId(&org.id)))
            .set("name", &name)
            .set("updated_at", &clock::rfc3339(now))
            .require_exists();
        // The role read at the start of the request must still allow it when the change is made.
        let actor = Actor::allowed_to(member, Permission::RenameOrganization);
        let change = AuditedChange::new(actor, activity, now)
            .update(rename)
            .label(ORGANIZATION);
        match self.audit.commit(change).await {
            Ok(()) => {}
            Err(e) if e.rejected(ORGANIZATION) => return Err(AccountsError::OrganizationNotFound),
            Err(e) if e.actor_not_allowed() => {
                return Err(AccountsError::Denied(auth::Denied {
                    role: member.role,
                    permission: Permission::RenameOrganization,
                }));
            }
            Err(e) => return Err(e.into()),
        }
        org.name = name;
        org.updated_at = now;
        Ok(Organization::new(&org, member.role, now))
    }
}
