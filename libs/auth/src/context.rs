//! The request context: who is calling and, where a route works inside an organization, their
//! role there. It costs one round trip (a BatchGetItem of the user and the membership), and the
//! role always comes from the table, never from the token, so a removed member is locked out on
//! their next request.

use clock::{Clock, DateTime, Duration};
use problem::Problem;
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::{Condition, Store, StoreError, Update, keys};

use crate::records::{MembershipRecord, USER_ENTITY, UserRecord};
use crate::roles::{Permission, allows};
use crate::{Claims, Role};

/// `last_active_at` is written at most this often per user.
pub const ACTIVITY_WRITE_INTERVAL: Duration = Duration::minutes(1);

/// An authenticated caller.
#[derive(Clone, Debug)]
pub struct Caller {
    pub claims: Claims,
    pub user: UserRecord,
}

impl Caller {
    pub fn user_id(&self) -> &str {
        &self.user.id
    }
}

/// An authenticated caller acting inside an organization they belong to.
#[derive(Clone, Debug)]
pub struct OrgMember {
    pub caller: Caller,
    pub org_id: String,
    pub role: Role,
}

impl OrgMember {
    pub fn user_id(&self) -> &str {
        self.caller.user_id()
    }

    /// Refuses unless the member's role allows `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), Denied> {
        if allows(self.role, permission) {
            Ok(())
        } else {
            Err(Denied {
                role: self.role,
                permission,
            })
        }
    }
}

/// The caller's role does not allow what they asked for (403).
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("the {role} role does not allow this action")]
pub struct Denied {
    pub role: Role,
    pub permission: Permission,
}

impl From<Denied> for Problem {
    fn from(e: Denied) -> Self {
        Problem::forbidden("forbidden", e.to_string())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    #[error("this route needs an organization: send the X-Org-Id header")]
    OrgRequired,
    #[error("X-Org-Id is not an organization id")]
    InvalidOrgId,
    #[error("you are not a member of this organization")]
    NotAMember,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ContextError> for Problem {
    fn from(e: ContextError) -> Self {
        match e {
            ContextError::OrgRequired => Problem::bad_request("org_required", e.to_string()),
            ContextError::InvalidOrgId => Problem::bad_request("invalid_org_id", e.to_string()),
            ContextError::NotAMember => Problem::forbidden("not_a_member", e.to_string()),
            ContextError::Store(e) => e.into(),
        }
    }
}

/// Organization ids are ULIDs; anything else is refused before it reaches a key.
pub fn parse_org_id(raw: &str) -> Result<String, ContextError> {
    // Only the canonical spelling the API created (upper case, no padding): a ULID has other
    // spellings (lower case, `o` for `0`), and ids are compared verbatim everywhere else.
    match ulid::Ulid::from_string(raw) {
        Ok(id) if id.to_string() == raw => Ok(raw.to_owned()),
        _ => Err(ContextError::InvalidOrgId),
    }
}

/// Loads request contexts. Built once per cold start.
#[derive(Clone)]
pub struct ContextLoader {
    store: Store,
    clock: Clock,
}

impl ContextLoader {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// The caller, without an organization.
    pub async fn caller(&self, claims: Claims) -> Result<Caller, ContextError> {
        let found = self
            .store
            .batch_get(&[keys::user_profile(keys::UserId(&claims.sub))])
            .await?;
        let user = self
            .ensure_user(&claims, found.into_iter().next().flatten())
            .await?;
        Ok(Caller { claims, user })
    }

    /// The caller as a member of `org_id`, in one round trip; 403 when not a member.
    pub async fn org_member(
        &self,
        claims: Claims,
        org_id: &str,
    ) -> Result<OrgMember, ContextError> {
        let org_id = parse_org_id(org_id)?;
        let found = self
            .store
            .batch_get(&[
                keys::user_profile(keys::UserId(&claims.sub)),
                keys::org_member(keys::OrgId(&org_id), keys::UserId(&claims.sub)),
            ])
            .await?;
        let mut found = found.into_iter();
        let (user_item, member_item) = (found.next().flatten(), found.next().flatten());
        // A membership means the user record exists already; without one we answer 403 and
        // still record the user, who is real and authenticated.
        let user = self.ensure_user(&claims, user_item).await?;
        let membership: MembershipRecord = member_item
            .map(store::from_item)
            .transpose()?
            .ok_or(ContextError::NotAMember)?;
        Ok(OrgMember {
            caller: Caller { claims, user },
            org_id,
            role: membership.role,
        })
    }

    /// Creates the user on first sight and keeps `last_active_at` fresh (one write a minute).
    async fn ensure_user(
        &self,
        claims: &Claims,
        item: Option<store::Item>,
    ) -> Result<UserRecord, ContextError> {
        let now = self.clock.now();
        let Some(item) = item else {
            return self.create_user(claims, now).await;
        };
        let user: UserRecord = store::from_item(item)?;
        if now - user.last_active_at < ACTIVITY_WRITE_INTERVAL {
            return Ok(user);
        }
        self.touch(claims, user, now).await
    }

    async fn create_user(
        &self,
        claims: &Claims,
        now: DateTime,
    ) -> Result<UserRecord, ContextError> {
        let (email, email_verified) = match claimed_email(claims) {
            Some((email, verified)) => (Some(email), verified),
            None => (None, false),
        };
        let user = UserRecord {
            id: claims.sub.clone(),
            email,
            email_verified,
            name: claimed_name(claims),
            avatar_url: None,
            job_title: None,
            preferences: Default::default(),
            last_active_at: now,
            created_at: now,
        };
        let item = store::item(
            &keys::user_profile(keys::UserId(&user.id)),
            USER_ENTITY,
            &user,
        )?;
        match self.store.put(item, Condition::NotExists).await {
            Ok(()) => Ok(user),
            // Two first requests raced; the other one created the record.
            Err(e) if e.is_condition_failed() => self
                .store
                .get(&keys::user_profile(keys::UserId(&user.id)))
                .await?
                .ok_or_else(|| StoreError::Internal("user vanished after creation".into()).into()),
            Err(e) => Err(e.into()),
        }
    }

    /// Refreshes `last_active_at`, and the email and its verification from the claims (an
    /// absent or malformed claim leaves them as they are).
    async fn touch(
        &self,
        claims: &Claims,
        mut user: UserRecord,
        now: DateTime,
    ) -> Result<UserRecord, ContextError> {
        let cutoff = clock::rfc3339(now - ACTIVITY_WRITE_INTERVAL);
        let mut update = Update::new(keys::user_profile(keys::UserId(&user.id)))
            .set("last_active_at", &clock::rfc3339(now));
        if let Some((email, verified)) = claimed_email(claims) {
            update = update.set("email", &email).set("email_verified", &verified);
        }
        let update = update.require_exists().condition(
            "#last_active_at < :cutoff",
            [(":cutoff", AttributeValue::S(cutoff))],
        );
        match self.store.update::<UserRecord>(update).await {
            Ok(updated) => Ok(updated),
            // Another request of the same user touched it within the minute: nothing to do.
            Err(e) if e.is_condition_failed() => {
                user.last_active_at = now;
                Ok(user)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The token's `name`, trimmed, when it passes the profile's rules for names (else none: a
/// claim is never stored unchecked).
fn claimed_name(claims: &Claims) -> Option<String> {
    let name = claims.name.as_deref()?.trim();
    text::display_name(name).ok().map(|()| name.to_owned())
}

/// The token's email and whether it is verified, when the claim is a well-formed address.
fn claimed_email(claims: &Claims) -> Option<(String, bool)> {
    let email = claims.email.as_deref()?.trim();
    text::email_address(email).ok()?;
    Some((email.to_owned(), claims.email_verified == Some(true)))
}
