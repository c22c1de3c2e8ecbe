//! The one path that writes an organization's subscription facts, for the webhook and the API
//! routes alike. Ordered by our own version, never by Stripe's event order: the writer reads the
//! stored facts and `billing_version`, the caller refetches the subscription from Stripe and maps
//! it ([`crate::facts_of`]), and the write is conditioned on the version read, raising it. A
//! failed condition means another writer got there first: re-read, refetch, try again.
//!
//! An activity entry is written only when the facts change; a Stripe event that brings nothing
//! new records only its once-marker, so a webhook for a change the API already stored adds no
//! second entry.

use audit::{Activity, Actor, AuditLog, AuditedChange, Category, ChangeError};
use clock::DateTime;
use plans::{SubscriptionFacts, SubscriptionStatus};
use serde::Deserialize;
use store::OnceMarker;
use store::{Condition, Store, StoreError, Transaction, Update, keys};

/// How long a processed Stripe event's marker is kept: Stripe retries a delivery for 3 days;
/// 30 days also covers an event re-sent by hand from the dashboard.
pub const EVENT_MARKER_DAYS: i64 = 30;

pub(crate) const VERSION: &str = "billing_version";
const FACTS: &str = "subscription";
const SUBSCRIPTION_ID: &str = "stripe_subscription_id";
/// Labels of the write's conditions.
const STALE: &str = "billing_version";
/// The label of a Stripe event's once-marker in any transaction that carries it.
pub const SEEN: &str = "stripe_event";

/// The once-marker of Stripe event `event_id` (what it was about in `record`), kept
/// [`EVENT_MARKER_DAYS`]: every change an event causes carries it, so the event is processed once.
pub fn event_marker(
    event_id: &str,
    record: &serde_json::Value,
    now: DateTime,
) -> Result<OnceMarker, StoreError> {
    OnceMarker::new(
        &keys::stripe_event(event_id),
        record,
        Some((now + clock::Duration::days(EVENT_MARKER_DAYS)).unix_timestamp()),
    )
}

/// Records only that event `event_id` was processed (it brought nothing to store); `false`
/// when it was processed before.
pub async fn mark_event(
    store: &Store,
    event_id: &str,
    record: &serde_json::Value,
    now: DateTime,
) -> Result<bool, StoreError> {
    let marker = event_marker(event_id, record, now)?;
    match store
        .transact(marker.put_into(Transaction::new(), SEEN))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.failed(SEEN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// What the table holds: the facts (none before the first subscription), their version, and
/// the Stripe ids they belong to.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Stored {
    #[serde(rename = "subscription", default)]
    pub facts: Option<SubscriptionFacts>,
    #[serde(rename = "billing_version", default)]
    pub version: i64,
    /// The subscription the facts were read from.
    #[serde(rename = "stripe_subscription_id", default)]
    pub subscription_id: Option<String>,
    /// The organization's Stripe customer, once made ([`crate::customers`]).
    #[serde(rename = "stripe_customer_id", default)]
    pub customer_id: Option<String>,
    /// The request starting the first subscription, while one is (`billing_claim`).
    #[serde(rename = "billing_claim", default)]
    pub claim: Option<String>,
}

impl Stored {
    /// The stored subscription has not ended (it may still be paid, or become so): a new one
    /// may not be started, and another subscription's events may not replace its facts.
    pub fn has_live_subscription(&self) -> bool {
        self.facts.as_ref().is_some_and(|f| !ended(&f.status))
    }
}

/// A status no subscription comes back from.
pub fn ended(status: &SubscriptionStatus) -> bool {
    matches!(
        status,
        SubscriptionStatus::Canceled | SubscriptionStatus::IncompleteExpired
    )
}

/// Reads the stored facts and version of an organization (strongly consistent).
pub async fn stored(store: &Store, org_id: &str) -> Result<Option<Stored>, StoreError> {
    store.get(&keys::org_profile(keys::OrgId(org_id))).await
}

/// A write of freshly read facts.
pub struct FactsChange<'a> {
    pub org_id: &'a str,
    /// The Stripe subscription the facts were read from (the activity entry's target).
    pub subscription_id: &'a str,
    /// What [`stored`] returned before the refetch.
    pub stored: &'a Stored,
    pub facts: SubscriptionFacts,
    /// The member who asked, or the system for a webhook.
    pub actor: Actor,
    /// The Stripe event being processed, if any: it is processed once.
    pub event_id: Option<&'a str>,
    pub now: DateTime,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Recorded {
    /// The facts changed: written with their activity entry, version raised.
    Changed,
    /// Nothing new: only the event's marker was written (if there is an event).
    Unchanged,
    /// The facts are of another subscription than the organization's live one (a late event of
    /// an ended subscription): only the event's marker was written.
    Superseded,
    /// The event was processed before; nothing written.
    AlreadyProcessed,
    /// Another writer raised the version since it was read: re-read, refetch, retry.
    StaleVersion,
}

/// Writes `change` if its facts are new, conditioned on the version read.
pub async fn record(audit: &AuditLog, change: FactsChange<'_>) -> Result<Recorded, ChangeError> {
    let profile = keys::org_profile(keys::OrgId(change.org_id));
    let marker = match change.event_id {
        Some(id) => Some(event_marker(
            id,
            &serde_json::json!({ "org_id": change.org_id, "subscription_id": change.subscription_id }),
            change.now,
        )?),
        None => None,
    };
    // Another subscription's facts never replace a live one's, and an ended one never replaces
    // another (a late event of an older subscription).
    let superseded = change
        .stored
        .subscription_id
        .as_deref()
        .is_some_and(|stored| stored != change.subscription_id)
        && (change.stored.has_live_subscription() || ended(&change.facts.status));
    let unchanged = superseded
        || (change.stored.facts.as_ref() == Some(&change.facts)
            && change.stored.subscription_id.as_deref() == Some(change.subscription_id));
    let outcome = if unchanged {
        let Some(marker) = marker else {
            return Ok(if superseded {
                Recorded::Superseded
            } else {
                Recorded::Unchanged
            });
        };
        // Unchanged only if nobody changed the facts meanwhile: the version is checked too.
        let transaction = Transaction::new()
            .check(
                profile,
                Condition::number_is(VERSION, change.stored.version),
            )
            .label(STALE);
        audit
            .store()
            .transact(marker.put_into(transaction, SEEN))
            .await
            .map_err(ChangeError::from)
    } else {
        // A first subscription, or one that replaces an ended one, is created.
        let action = match &change.stored.subscription_id {
            Some(id) if id == change.subscription_id => "subscription.updated",
            _ => "subscription.created",
        };
        let notice = crate::notices::subscription_changed(
            change
                .stored
                .facts
                .as_ref()
                .filter(|_| action == "subscription.updated"),
            &change.facts,
        );
        let activity = Activity {
            action,
            category: Category::Billing,
            target_type: "subscription",
            target_id: change.subscription_id,
            metadata: serde_json::json!({ "before": change.stored.facts, "after": change.facts }),
        };
        let update = Update::new(profile)
            .set(FACTS, &change.facts)
            .set(SUBSCRIPTION_ID, &change.subscription_id)
            .set(VERSION, &(change.stored.version + 1))
            .require_exists()
            .condition_on(Condition::number_is(VERSION, change.stored.version));
        let mut audited = AuditedChange::new(change.actor, activity, change.now)
            .update(update)
            .label(STALE);
        if let Some(marker) = marker {
            audited = audited.once(marker, SEEN);
        }
        if let Some(notice) = notice {
            audited = audited.side_effect(notice);
        }
        audit.commit(audited).await
    };
    match outcome {
        Ok(()) if superseded => Ok(Recorded::Superseded),
        Ok(()) if unchanged => Ok(Recorded::Unchanged),
        Ok(()) => Ok(Recorded::Changed),
        // The event first: a redelivery of a processed event is done, whatever the version.
        Err(e) if e.rejected(SEEN) => Ok(Recorded::AlreadyProcessed),
        Err(e) if e.rejected(STALE) => Ok(Recorded::StaleVersion),
        Err(e) => Err(e),
    }
}
