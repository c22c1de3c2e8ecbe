//! Doing something once. Two layers, one helper:
//!
//! - a [`OnceMarker`] is an item whose `attribute_not_exists` put goes *inside the caller's own
//!   transaction*: the change and its marker land together, and a second attempt fails on the
//!   marker's label and changes nothing (Stripe event ids, the aggregator's client event ids);
//! - an [`IdempotentRequest`] is the `Idempotency-Key` header on top of it: the marker keeps the
//!   first answer and a fingerprint of the request, so a retry with the same key and body gets
//!   the first answer again and the same key with another body is refused.
//!
//! Scope (the brief's §3): a key belongs to the caller in the organization the request acts in
//! ([`ReplayScope`]); the route is part of the fingerprint, so one key used on two routes is a
//! reuse, not two requests.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::keys;
pub use crate::keys::idempotency::ReplayScope;
use crate::{Condition, Item, Key, Label, Store, StoreError, Transaction};

const MARKER_ENTITY: &str = "once";
const REQUEST_ENTITY: &str = "idempotency";

/// An item that makes the transaction carrying it happen at most once per key.
#[derive(Debug)]
pub struct OnceMarker {
    item: Item,
}

impl OnceMarker {
    /// A marker at `key` holding `record` (what a later reader may want to know about the first
    /// time), kept until `expires_at_epoch` when given.
    pub fn new<T: Serialize>(
        key: &Key,
        record: &T,
        expires_at_epoch: Option<i64>,
    ) -> Result<Self, StoreError> {
        let item = crate::item(key, MARKER_ENTITY, record)?;
        Ok(Self {
            item: match expires_at_epoch {
                Some(at) => crate::with_ttl(item, at),
                None => item,
            },
        })
    }

    /// Adds the marker's put to `transaction` under `label`: when the marker is already there,
    /// the transaction is cancelled and reports `label`.
    pub fn put_into(self, transaction: Transaction, label: impl Into<Label>) -> Transaction {
        transaction
            .put(self.item, Condition::NotExists)
            .label(label)
    }
}

/// A request made with an `Idempotency-Key`.
#[derive(Clone, Debug)]
pub struct IdempotentRequest {
    key: Key,
    fingerprint: String,
    now_epoch: i64,
}

/// How long a key is remembered (the brief: 24 hours).
pub const IDEMPOTENCY_WINDOW_SECS: i64 = 24 * 3600;

/// What a retry of an idempotent request finds.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The key was used with another request (other body or route), or so long ago that it
    /// expired but was not deleted yet: the client must pick a new key.
    #[error("the Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Serialize, serde::Deserialize)]
struct Stored<T> {
    fingerprint: String,
    response: T,
    #[serde(default)]
    ttl: i64,
}

impl IdempotentRequest {
    /// The label of the marker's put in the change's transaction.
    pub const LABEL: &'static str = "idempotency_key";

    /// `operation` names the route; `request` is what makes two requests the same (the parsed
    /// body, say, so formatting differences do not matter).
    pub fn new(
        scope: ReplayScope<'_>,
        header_key: &str,
        operation: &str,
        request: &[u8],
        now_epoch: i64,
    ) -> Self {
        let mut fingerprint = Vec::with_capacity(operation.len() + 1 + request.len());
        fingerprint.extend_from_slice(operation.as_bytes());
        fingerprint.push(0);
        fingerprint.extend_from_slice(request);
        Self {
            key: keys::idempotency::request(scope, header_key),
            fingerprint: keys::digest(&fingerprint),
            now_epoch,
        }
    }

    /// Adds the marker, holding the answer the change gives, to the change's transaction.
    pub fn record<T: Serialize>(
        &self,
        transaction: Transaction,
        response: &T,
    ) -> Result<Transaction, StoreError> {
        let stored = Stored {
            fingerprint: self.fingerprint.clone(),
            response,
            ttl: self.now_epoch + IDEMPOTENCY_WINDOW_SECS,
        };
        let item = crate::with_ttl(crate::item(&self.key, REQUEST_ENTITY, &stored)?, stored.ttl);
        Ok(transaction
            .put(item, Condition::NotExists)
            .label(Self::LABEL))
    }

    /// Whether a failed change failed because this key was used before.
    pub fn was_used(error: &StoreError) -> bool {
        error.failed(Self::LABEL)
    }

    /// The first answer if this request finished before (`None` if the key is new), for a
    /// change that calls out before it writes (Stripe) and must not call out twice.
    pub async fn find<T: DeserializeOwned>(&self, store: &Store) -> Result<Option<T>, ReplayError> {
        let Some(stored) = store.get::<Stored<T>>(&self.key).await? else {
            return Ok(None);
        };
        if stored.ttl < self.now_epoch {
            return Ok(None);
        }
        if stored.fingerprint != self.fingerprint {
            return Err(ReplayError::KeyReused);
        }
        Ok(Some(stored.response))
    }

    /// Records `response` on its own (for a change whose writes could not carry the marker);
    /// when a concurrent request with the same key recorded first, its answer is returned.
    pub async fn save<T: Serialize + DeserializeOwned>(
        &self,
        store: &Store,
        response: T,
    ) -> Result<T, ReplayError> {
        match store
            .transact(self.record(Transaction::new(), &response)?)
            .await
        {
            Ok(()) => Ok(response),
            Err(e) if Self::was_used(&e) => self.replay(store).await,
            Err(e) => Err(e.into()),
        }
    }

    /// Replaces the recorded answer of this same request (for a request recorded before its
    /// effect and marked done after it); the key keeps its window from now.
    pub async fn overwrite<T: Serialize>(
        &self,
        store: &Store,
        response: &T,
    ) -> Result<(), ReplayError> {
        let stored = Stored {
            fingerprint: self.fingerprint.clone(),
            response,
            ttl: self.now_epoch + IDEMPOTENCY_WINDOW_SECS,
        };
        let item = crate::with_ttl(crate::item(&self.key, REQUEST_ENTITY, &stored)?, stored.ttl);
        let same_request = Condition::Expression {
            expression: "fingerprint = :fingerprint".into(),
            names: Default::default(),
            values: [(
                ":fingerprint".to_owned(),
                aws_sdk_dynamodb::types::AttributeValue::S(self.fingerprint.clone()),
            )]
            .into(),
        };
        match store.put(item, same_request).await {
            Ok(()) => Ok(()),
            Err(e) if e.is_condition_failed() => Err(ReplayError::KeyReused),
            Err(e) => Err(e.into()),
        }
    }

    /// The first answer, for a retry whose change failed on [`Self::LABEL`].
    pub async fn replay<T: DeserializeOwned>(&self, store: &Store) -> Result<T, ReplayError> {
        let stored: Stored<T> = store
            .get(&self.key)
            .await?
            .ok_or_else(|| StoreError::Internal("idempotency record vanished".into()))?;
        // Expired but not yet deleted by TTL: it should have been a fresh request. Rare enough
        // to refuse; the client retries with a new key.
        if stored.ttl < self.now_epoch || stored.fingerprint != self.fingerprint {
            return Err(ReplayError::KeyReused);
        }
        Ok(stored.response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::{OrgId, UserId};

    fn scope<'a>(org: Option<&'a str>, caller: &'a str) -> ReplayScope<'a> {
        ReplayScope {
            org: org.map(OrgId),
            caller: UserId(caller),
        }
    }

    #[test]
    fn keys_are_scoped_to_the_caller_and_organization_and_never_hold_the_key() {
        let a = IdempotentRequest::new(scope(Some("o1"), "u1"), "k", "op", b"{}", 0);
        let other_caller = IdempotentRequest::new(scope(Some("o1"), "u2"), "k", "op", b"{}", 0);
        let other_org = IdempotentRequest::new(scope(Some("o2"), "u1"), "k", "op", b"{}", 0);
        let no_org = IdempotentRequest::new(scope(None, "u1"), "k", "op", b"{}", 0);
        assert_ne!(a.key, other_caller.key);
        assert_ne!(a.key, other_org.key);
        assert_ne!(a.key, no_org.key);
        assert_eq!(a.key.pk, "ORG#o1");
        assert_eq!(no_org.key.pk, "USER#u1");
        assert!(!a.key.sk.contains("#k"));
    }

    #[test]
    fn the_route_and_the_body_make_the_fingerprint() {
        let base = IdempotentRequest::new(scope(None, "u1"), "k", "create", b"a", 0);
        let same = IdempotentRequest::new(scope(None, "u1"), "k", "create", b"a", 5);
        let other_body = IdempotentRequest::new(scope(None, "u1"), "k", "create", b"b", 0);
        let other_route = IdempotentRequest::new(scope(None, "u1"), "k", "invite", b"a", 0);
        assert_eq!(
            base.key, other_route.key,
            "one key per caller, whatever the route"
        );
        assert_eq!(base.fingerprint, same.fingerprint);
        assert_ne!(base.fingerprint, other_body.fingerprint);
        assert_ne!(base.fingerprint, other_route.fingerprint);
    }

    #[test]
    fn a_marker_is_labelled_in_the_transaction() {
        let marker = OnceMarker::new(
            &keys::analytics::event_id_marker(OrgId("o"), "e1"),
            &serde_json::json!({"x": 1}),
            Some(10),
        )
        .unwrap();
        let transaction = marker.put_into(Transaction::new(), "event e1");
        assert_eq!(transaction.labels(), vec!["event e1"]);
    }
}
