//! [`Billing`]: what the billing routes and the Stripe webhook share, built once per cold start.

use std::sync::Arc;

use audit::{Actor, AuditLog};
use clock::{Clock, Duration};
use store::Store;

use auth::OrgMember;
use serde::Serialize;
use serde::de::DeserializeOwned;
use store::keys::{OrgId, UserId};
use store::{IdempotentRequest, ReplayScope};

use crate::writer::{self, FactsChange, Recorded};
use crate::{BillingError, IdempotencyScope, PriceCatalog, StripeApi, facts_of};

/// How long a retry waits for a first request with the same `Idempotency-Key` to finish.
const IN_PROGRESS_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// A refetch and write that lost to another writer this many times in a row gives up (503;
/// Stripe redelivers a webhook, a client retries).
const SYNC_ATTEMPTS: usize = 5;

#[derive(Clone)]
pub struct Billing {
    pub(crate) store: Store,
    pub(crate) audit: AuditLog,
    pub(crate) stripe: StripeApi,
    pub(crate) catalog: Arc<PriceCatalog>,
    pub(crate) clock: Clock,
}

impl Billing {
    pub fn new(
        store: Store,
        stripe: StripeApi,
        catalog: PriceCatalog,
        clock: Clock,
        activity_retention: Duration,
    ) -> Self {
        Self {
            audit: AuditLog::new(store.clone(), activity_retention),
            store,
            stripe,
            catalog: Arc::new(catalog),
            clock,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn stripe(&self) -> &StripeApi {
        &self.stripe
    }

    /// Stores what Stripe says of `subscription_id` now: read the stored version, refetch,
    /// write conditioned on that version; on losing to another writer, all again. Every writer
    /// of subscription facts (the webhook and the routes) comes through here, so the newest
    /// refetch always wins whatever order events and requests arrive in. `None`: the
    /// organization is gone, or the subscription is not its customer's.
    pub async fn sync_subscription(
        &self,
        org_id: &str,
        subscription_id: &str,
        actor: &Actor,
        event_id: Option<&str>,
    ) -> Result<Option<Recorded>, BillingError> {
        self.store_subscription(org_id, subscription_id, None, actor, event_id)
            .await
    }

    /// [`Self::sync_subscription`], starting from `fetched` when the caller has just had the
    /// subscription from Stripe (a route's own write): refetched only after losing a race.
    pub(crate) async fn store_subscription(
        &self,
        org_id: &str,
        subscription_id: &str,
        mut fetched: Option<stripe_billing::Subscription>,
        actor: &Actor,
        event_id: Option<&str>,
    ) -> Result<Option<Recorded>, BillingError> {
        for _ in 0..SYNC_ATTEMPTS {
            let Some(stored) = writer::stored(&self.store, org_id).await? else {
                return Ok(None);
            };
            let subscription = match fetched.take() {
                Some(subscription) => subscription,
                None => self.stripe.subscription(subscription_id).await?,
            };
            if stored.customer_id.as_deref() != Some(subscription.customer.id().as_str()) {
                tracing::warn!(org_id, subscription_id, "subscription of another customer");
                return Ok(None);
            }
            let now = self.clock.now();
            let facts = facts_of(&subscription, &self.catalog, stored.facts.as_ref(), now)?;
            let change = FactsChange {
                org_id,
                subscription_id,
                stored: &stored,
                facts,
                actor: actor.clone(),
                event_id,
                now,
            };
            match writer::record(&self.audit, change).await? {
                Recorded::StaleVersion => continue,
                recorded => return Ok(Some(recorded)),
            }
        }
        Err(BillingError::Busy)
    }
}

impl Billing {
    /// Built from the environment, as both billing functions start: `TABLE_NAME`, the price
    /// catalogue (`STRIPE_PRICE_*`), the keys ([`crate::KeySource::from_env`]), optionally
    /// `STRIPE_API_BASE` (the local Stripe) and `ACTIVITY_RETENTION_DAYS` (365).
    pub fn from_env(
        env: &config::Env,
        dynamodb: store::aws_sdk_dynamodb::Client,
        secrets_manager: impl FnOnce() -> aws_sdk_secretsmanager::Client,
        clock: Clock,
    ) -> Result<Self, config::ConfigError> {
        let store = Store::new(dynamodb, env.required("TABLE_NAME")?);
        let keys = crate::KeySource::from_env(env, secrets_manager)?;
        let retention = env.parsed("ACTIVITY_RETENTION_DAYS", 365u16)?;
        Ok(Self::new(
            store,
            StripeApi::new(env.optional("STRIPE_API_BASE"), keys),
            PriceCatalog::from_env(env)?,
            clock,
            Duration::days(i64::from(retention)),
        ))
    }
}

impl Billing {
    /// Runs `run` once per `Idempotency-Key` (same caller, organization, operation and request):
    /// a retry after the first finished gets its answer without calling Stripe again; a retry
    /// while it runs waits for it (up to 10 s, then 409 `request_in_progress`); the same key with
    /// another request is refused. Without a key, `run` simply runs, with fresh Stripe keys.
    pub(crate) async fn once<T, F, Fut>(
        &self,
        member: &OrgMember,
        idempotency_key: Option<&str>,
        operation: &str,
        request: &[u8],
        run: F,
    ) -> Result<T, BillingError>
    where
        T: Serialize + DeserializeOwned,
        F: FnOnce(IdempotencyScope) -> Fut,
        Fut: std::future::Future<Output = Result<T, BillingError>>,
    {
        let now = self.clock.now();
        let scope = IdempotencyScope::new(
            &member.org_id,
            idempotency_key.map(|key| (member.user_id(), key, request)),
            now,
        );
        let Some(key) = idempotency_key else {
            return run(scope).await;
        };
        let replay = IdempotentRequest::new(
            ReplayScope {
                org: Some(OrgId(&member.org_id)),
                caller: UserId(member.user_id()),
            },
            key,
            operation,
            request,
            now.unix_timestamp(),
        );
        if let Some(first) = replay.find(&self.store).await? {
            return Ok(first);
        }
        match run(scope).await {
            Ok(answer) => Ok(replay.save(&self.store, answer).await?),
            // The same request is running (Stripe holds its key, or it holds the claim).
            Err(BillingError::RequestInProgress) => {
                let started = std::time::Instant::now();
                while started.elapsed() < IN_PROGRESS_WAIT {
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    if let Some(first) = replay.find(&self.store).await? {
                        return Ok(first);
                    }
                }
                Err(BillingError::RequestInProgress)
            }
            Err(e) => Err(e),
        }
    }
}
