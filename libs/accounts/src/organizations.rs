//! Organizations: create (the caller becomes owner), list the caller's, rename.

use audit::{Category, NewEntry};
use auth::records::MembershipRecord;
use auth::{Caller, OrgMember, Permission, Role};
use clock::{Clock, DateTime, Duration};
use serde::{Deserialize, Serialize};
use store::{Condition, Page, Query, Store, StoreError, Transaction, Update, keys};
use utoipa::ToSchema;
use validator::Validate;

use crate::AccountsError;
use crate::validation::display_name;

pub const FREE_PLAN: &str = plans::FREE;
const ORG_ENTITY: &str = "organization";
const IDEMPOTENCY_ENTITY: &str = "idempotency";
/// How long a create request's `Idempotency-Key` is remembered.
const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

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
}

/// An organization as the caller sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Organization {
    #[schema(example = "01JD3YQ9V4Z8K2M6N0P3R5T7W9")]
    pub id: String,
    #[schema(example = "Acme")]
    pub name: String,
    /// The organization's billing plan: `free`, `starter`, `pro` or `enterprise`.
    #[schema(example = "free")]
    pub plan: String,
    /// The caller's role in it.
    pub role: Role,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-23T10:00:00.000Z")]
    pub created_at: String,
}

impl Organization {
    fn new(org: &OrgRecord, role: Role) -> Self {
        Self {
            id: org.id.clone(),
            name: org.name.clone(),
            plan: org.plan.clone(),
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
    #[schema(
        example = "Acme",
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenameOrganization {
    /// 1–100 characters.
    #[validate(custom(function = "display_name"))]
    #[schema(
        example = "Acme Inc",
        min_length = 1,
        max_length = 100,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub name: String,
}

/// What a create request with an `Idempotency-Key` produced, replayed on a retry.
#[derive(Serialize, Deserialize)]
struct IdempotencyRecord {
    request_hash: String,
    response: Organization,
}

/// The organization use cases. Built once per cold start.
#[derive(Clone)]
pub struct Organizations {
    store: Store,
    clock: Clock,
    activity_retention: Duration,
}

impl Organizations {
    pub fn new(store: Store, clock: Clock, activity_retention: Duration) -> Self {
        Self {
            store,
            clock,
            activity_retention,
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
            member_count: 1,
            owner_count: 1,
            seats_used: 1,
        };
        let membership = MembershipRecord {
            org_id: org.id.clone(),
            user_id: caller.user_id().to_owned(),
            role: Role::Owner,
            joined_at: now,
        };
        let created = Organization::new(&org, Role::Owner);
        let entry = NewEntry {
            org_id: &org.id,
            actor_id: caller.user_id(),
            action: "org.created",
            category: Category::Organization,
            target_type: "organization",
            target_id: &org.id,
            metadata: serde_json::json!({ "name": name }),
        }
        .at(now);
        let (member_item, user_membership_item) = membership.items()?;

        let mut transaction = Transaction::new()
            .put(
                store::item(&keys::org_profile(&org.id), ORG_ENTITY, &org)?,
                Condition::NotExists,
            )
            .put(member_item, Condition::NotExists)
            .put(user_membership_item, Condition::NotExists)
            .put(
                audit::entry_item(&entry, self.activity_retention)?,
                Condition::NotExists,
            );

        let idempotency = idempotency_key.map(|key| {
            let key = keys::idempotency_record(
                caller.user_id(),
                "create-organization",
                &keys::digest(key.as_bytes()),
            );
            (key, keys::digest(name.as_bytes()))
        });
        let idempotency_action = transaction.len();
        if let Some((key, request_hash)) = &idempotency {
            let record = IdempotencyRecord {
                request_hash: request_hash.clone(),
                response: created.clone(),
            };
            let item = store::with_ttl(
                store::item(key, IDEMPOTENCY_ENTITY, &record)?,
                (now + IDEMPOTENCY_WINDOW).unix_timestamp(),
            );
            transaction = transaction.put(item, Condition::NotExists);
        }

        match self.store.transact(transaction).await {
            Ok(()) => Ok(created),
            Err(StoreError::ConditionFailed {
                action: Some(action),
            }) if action == idempotency_action => {
                let (key, request_hash) =
                    idempotency.expect("only an idempotent request has this action");
                self.replay(&key, &request_hash, now).await
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn replay(
        &self,
        key: &store::Key,
        request_hash: &str,
        now: DateTime,
    ) -> Result<Organization, AccountsError> {
        #[derive(Deserialize)]
        struct Stored {
            #[serde(flatten)]
            record: IdempotencyRecord,
            ttl: i64,
        }
        let stored: Stored = self
            .store
            .get(key)
            .await?
            .ok_or_else(|| StoreError::Internal("idempotency record vanished".into()))?;
        if stored.ttl < now.unix_timestamp() {
            // Expired but not yet deleted by TTL: it should have been a fresh request. Rare
            // enough to refuse; the client retries with a new key.
            return Err(AccountsError::IdempotencyKeyReused);
        }
        if stored.record.request_hash != request_hash {
            return Err(AccountsError::IdempotencyKeyReused);
        }
        Ok(stored.record.response)
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
                partition: keys::user_memberships(caller.user_id()),
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
            .map(|m| keys::org_profile(&m.org_id))
            .collect();
        let orgs = self.store.batch_get(&org_keys).await?;
        let mut items = Vec::with_capacity(orgs.len());
        for (membership, org) in page.items.iter().zip(orgs) {
            match org {
                Some(item) => {
                    items.push(Organization::new(&store::from_item(item)?, membership.role))
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
            .get(&keys::org_profile(&member.org_id))
            .await?
            .ok_or(AccountsError::OrganizationNotFound)?;
        let now = self.clock.now();
        let name = request.name.trim().to_owned();
        let entry = NewEntry {
            org_id: &org.id,
            actor_id: member.user_id(),
            action: "org.renamed",
            category: Category::Organization,
            target_type: "organization",
            target_id: &org.id,
            metadata: serde_json::json!({ "from": org.name, "to": name }),
        }
        .at(now);
        let update = Update::new(keys::org_profile(&org.id))
            .set("name", &name)
            .set("updated_at", &clock::rfc3339(now))
            .require_exists();
        // The role read at the start of the request must still hold when the change is made.
        let still_allowed = auth::role_in(&[Role::Owner, Role::Admin]);
        let transaction = Transaction::new()
            .update(update)
            .check(keys::org_member(&org.id, member.user_id()), still_allowed)
            .put(
                audit::entry_item(&entry, self.activity_retention)?,
                Condition::NotExists,
            );
        match self.store.transact(transaction).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { action: Some(0) }) => {
                return Err(AccountsError::OrganizationNotFound);
            }
            Err(StoreError::ConditionFailed { action: Some(1) }) => {
                return Err(AccountsError::Denied(auth::Denied {
                    role: member.role,
                    permission: Permission::RenameOrganization,
                }));
            }
            Err(e) => return Err(e.into()),
        }
        org.name = name;
        org.updated_at = now;
        Ok(Organization::new(&org, member.role))
    }
}
