//! Organization API keys: the credentials the platform's own services use to track events.
//!
//! A key is `oak_` followed by 32 random bytes (base64url). It is shown once, when created; the
//! table keeps its SHA-256 only, as a global lookup item naming the key's organization, next to
//! the key's record under the organization (name, a short prefix to recognise it, creator). Both
//! are written and deleted in one transaction with the activity-log entry. A key authorizes one
//! thing: tracking events for its own organization.

use audit::{Activity, Actor, AuditLog, AuditedChange, ChangeError};
use auth::{OrgMember, Permission};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clock::{Clock, DateTime, Duration};
use problem::{Problem, StatusCode};
use serde::{Deserialize, Serialize};
use store::{Condition, Page, Query, Store, StoreError, keys};
use utoipa::ToSchema;
use validator::Validate;

/// What every key starts with, so a bearer token is recognisable as a key (not a JWT).
pub const KEY_PREFIX: &str = "oak_";
const ENTITY: &str = "api_key";
const LOOKUP_ENTITY: &str = "api_key_secret";
/// Characters of the secret kept on the record, to tell keys apart in a list.
const SHOWN_PREFIX_LEN: usize = 12;

/// An API key as listed: never the secret.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ApiKey {
    /// A ULID.
    pub id: String,
    pub name: String,
    /// The first characters of the key (`oak_` and 8 more), to recognise it.
    pub prefix: String,
    pub created_by: String,
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime,
}

/// The answer to a create: the record and, this once, the key itself.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub api_key: ApiKey,
    /// The secret key. It is not stored and cannot be shown again.
    pub key: String,
}

#[derive(Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for, e.g. `ingest-service`: 1–100 characters after trimming, something
    /// visible among them, no control or bidirectional control characters.
    #[validate(custom(function = "text::display_name"))]
    #[schema(value_type = text::Name)]
    pub name: String,
}

/// The stored record: the listed fields and the secret's hash (to delete its lookup on revoke).
#[derive(Debug, Serialize, Deserialize)]
struct ApiKeyRecord {
    #[serde(flatten)]
    api_key: ApiKey,
    secret_hash: String,
}

/// The global lookup item: which organization and key a secret belongs to.
#[derive(Debug, Serialize, Deserialize)]
struct SecretLookup {
    org_id: String,
    key_id: String,
}

/// A request authenticated with an API key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyHolder {
    pub org_id: String,
    pub key_id: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApiKeyError {
    #[error(transparent)]
    Denied(#[from] auth::Denied),
    #[error("no such API key")]
    NotFound,
    #[error("the API key is not valid")]
    InvalidKey,
    #[error(transparent)]
    Change(audit::ChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ApiKeyError> for Problem {
    fn from(e: ApiKeyError) -> Self {
        match e {
            ApiKeyError::Denied(d) => d.into(),
            ApiKeyError::NotFound => Problem::not_found("no API key with this id"),
            ApiKeyError::InvalidKey => Problem::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "the API key is not valid or has been revoked",
            ),
            ApiKeyError::Change(e) => e.into(),
            ApiKeyError::Store(e) => e.into(),
        }
    }
}

#[derive(Clone)]
pub struct ApiKeys {
    store: Store,
    clock: Clock,
    audit: AuditLog,
}

impl ApiKeys {
    pub fn new(store: Store, clock: Clock, activity_retention: Duration) -> Self {
        Self {
            audit: AuditLog::new(store.clone(), activity_retention),
            store,
            clock,
        }
    }

    /// Creates a key (owners and admins). The answer is the only place the secret appears.
    pub async fn create(
        &self,
        actor: &OrgMember,
        request: CreateApiKey,
    ) -> Result<CreatedApiKey, ApiKeyError> {
        actor.require(Permission::ManageApiKeys)?;
        let now = self.clock.now();
        let secret = new_secret();
        let api_key = ApiKey {
            id: ulid::Ulid::from_datetime(now.into()).to_string(),
            name: request.name.trim().to_owned(),
            prefix: secret[..SHOWN_PREFIX_LEN].to_owned(),
            created_by: actor.user_id().to_owned(),
            created_at: now,
        };
        let secret_hash = keys::digest(secret.as_bytes());
        let record = store::item(
            &keys::api_key(keys::OrgId(&actor.org_id), &api_key.id),
            ENTITY,
            &ApiKeyRecord {
                api_key: api_key.clone(),
                secret_hash: secret_hash.clone(),
            },
        )?;
        let lookup = store::item(
            &keys::api_key_secret(&secret_hash),
            LOOKUP_ENTITY,
            &SecretLookup {
                org_id: actor.org_id.clone(),
                key_id: api_key.id.clone(),
            },
        )?;
        let change = self
            .change(actor, "api_key.created", &api_key, now)
            .put(record, Condition::NotExists)
            .put(lookup, Condition::NotExists);
        self.audit
            .commit(change)
            .await
            .map_err(|e| denied_or(e, actor))?;
        Ok(CreatedApiKey {
            api_key,
            key: secret,
        })
    }

    /// The organization's keys, newest first (owners and admins).
    pub async fn list(
        &self,
        actor: &OrgMember,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<ApiKey>, ApiKeyError> {
        actor.require(Permission::ManageApiKeys)?;
        let query = Query::new(
            "api_keys",
            keys::api_keys(keys::OrgId(&actor.org_id)),
            limit,
            cursor,
        )
        .newest_first();
        let page = self.store.query::<ApiKeyRecord>(query).await?;
        Ok(Page {
            items: page.items.into_iter().map(|r| r.api_key).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Revokes a key at once: its lookup item goes, so the next request with it gets 401.
    pub async fn revoke(&self, actor: &OrgMember, key_id: &str) -> Result<(), ApiKeyError> {
        actor.require(Permission::ManageApiKeys)?;
        if ulid::Ulid::from_string(key_id).is_err() {
            return Err(ApiKeyError::NotFound);
        }
        let key = keys::api_key(keys::OrgId(&actor.org_id), key_id);
        let Some(ApiKeyRecord {
            api_key,
            secret_hash,
        }) = self.store.get(&key).await?
        else {
            return Err(ApiKeyError::NotFound);
        };
        let now = self.clock.now();
        let change = self
            .change(actor, "api_key.revoked", &api_key, now)
            .delete(key, Condition::Exists)
            .label(KEY_RECORD)
            .delete(keys::api_key_secret(&secret_hash), Condition::Always);
        match self.audit.commit(change).await {
            Ok(()) => Ok(()),
            // Revoked meanwhile by someone else: the outcome the caller wanted.
            Err(e) if e.rejected(KEY_RECORD) => Ok(()),
            Err(e) => Err(denied_or(e, actor)),
        }
    }

    /// The organization a presented key belongs to (one GetItem), or `InvalidKey`.
    pub async fn authenticate(&self, presented: &str) -> Result<KeyHolder, ApiKeyError> {
        if !looks_like_key(presented) {
            return Err(ApiKeyError::InvalidKey);
        }
        let lookup: Option<SecretLookup> = self
            .store
            .get(&keys::api_key_secret(&keys::digest(presented.as_bytes())))
            .await?;
        lookup
            .map(|l| KeyHolder {
                org_id: l.org_id,
                key_id: l.key_id,
            })
            .ok_or(ApiKeyError::InvalidKey)
    }

    /// A change to the keys by an owner or admin (re-checked when it commits).
    fn change(
        &self,
        actor: &OrgMember,
        action: &str,
        api_key: &ApiKey,
        now: DateTime,
    ) -> AuditedChange {
        let activity = Activity {
            action,
            category: audit::Category::Organization,
            target_type: "api_key",
            target_id: &api_key.id,
            metadata: serde_json::json!({"name": api_key.name, "prefix": api_key.prefix}),
        };
        AuditedChange::new(
            Actor::allowed_to(actor, Permission::ManageApiKeys),
            activity,
            now,
        )
    }
}

/// The label of the key's record in a revoke.
const KEY_RECORD: &str = "api_key";

/// A demoted actor is refused like any other actor without the permission (403).
fn denied_or(e: ChangeError, actor: &OrgMember) -> ApiKeyError {
    if e.actor_not_allowed() {
        ApiKeyError::Denied(auth::Denied {
            role: actor.role,
            permission: Permission::ManageApiKeys,
        })
    } else {
        ApiKeyError::Change(e)
    }
}

/// `oak_` and 43 base64url characters (32 bytes from the operating system's generator).
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source is available");
    format!("{KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Shape check before any read, so junk never costs a DynamoDB request.
pub fn looks_like_key(presented: &str) -> bool {
    presented.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == 43
            && rest
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_recognisable() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a, b);
        assert!(looks_like_key(&a), "{a}");
        assert!(!looks_like_key("oak_short"));
        assert!(!looks_like_key(&a.replace("oak_", "xak_")));
        assert!(!looks_like_key("eyJhbGciOi.x.y"));
    }
}
