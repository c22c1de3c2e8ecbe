//! The aggregator: from a batch of queue messages to raw events and daily counters, each event
//! counted exactly once.
//!
//! Exactly once: an event's raw item is put with `attribute_not_exists` *in the same transaction*
//! as the counter increments it contributes to (and, for client-chosen ids, a marker of the id).
//! A redelivered message, or one a second aggregator is handling at the same moment, fails that
//! condition: the event is dropped from the batch and the rest is written again, counters
//! recomputed without it. Cheap: the batch's increments are pre-aggregated, so a day of an
//! organization or of an agent is one update per transaction however many events it gets.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use clock::Duration;
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::{Condition, Key, OnceMarker, Store, StoreError, Transaction, Update, keys};

use crate::event::TrackedEvent;
use crate::histogram;
use crate::metrics::{self, AgentDayDelta, Deltas, NAME_CAP, OrgDay, OrgDayDelta, attr};

/// How long raw events are kept unless configured otherwise (`RAW_EVENT_RETENTION_DAYS`).
pub const DEFAULT_RAW_RETENTION: Duration = Duration::days(90);
/// Daily counters are kept long enough for a 90-day period and the one before it, and a year on.
pub const METRICS_RETENTION: Duration = Duration::days(400);
/// DynamoDB's limit of actions per transaction.
const MAX_ACTIONS: usize = 100;
/// Transactions tried per chunk before its messages are handed back to the queue.
const MAX_ATTEMPTS: usize = 12;

/// One message of an SQS batch.
pub struct Message {
    pub message_id: String,
    pub body: String,
}

/// What a batch came to.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct BatchOutcome {
    /// Message ids to report as `batchItemFailures` (malformed, or not written this time).
    pub failed: Vec<String>,
    /// Events counted by this batch.
    pub counted: usize,
    /// Events already counted (redelivered, or counted meanwhile by another aggregator).
    pub duplicates: usize,
    /// Write capacity units DynamoDB reported for the committed transactions.
    pub write_units: f64,
    pub transactions: usize,
    /// Counter items (organization and agent days) updated by the committed transactions.
    pub counter_updates: usize,
}

#[derive(Clone)]
pub struct Aggregator {
    store: Store,
    raw_retention: Duration,
}

struct Pending {
    message_id: String,
    event: TrackedEvent,
}

impl Aggregator {
    pub fn new(store: Store, raw_retention: Duration) -> Self {
        Self {
            store,
            raw_retention,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Aggregates a batch. Malformed messages fail alone; a chunk that cannot be written (after
    /// retries) fails with its messages, to come back from the queue; the rest is kept.
    pub async fn process(&self, messages: Vec<Message>) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        let mut pending = Vec::with_capacity(messages.len());
        for message in messages {
            match parse(&message.body) {
                Ok(event) => pending.push(Pending {
                    message_id: message.message_id,
                    event,
                }),
                Err(reason) => {
                    tracing::warn!(message_id = %message.message_id, %reason, "malformed analytics message");
                    outcome.failed.push(message.message_id);
                }
            }
        }
        // Events that share counters go into the same transaction.
        pending.sort_by_cached_key(|p| {
            (
                p.event.org_id.clone(),
                metrics::day_of(&p.event),
                p.event.agent_id.clone(),
            )
        });
        for chunk in chunks(pending) {
            let ids: Vec<String> = chunk.iter().map(|p| p.message_id.clone()).collect();
            match self.write_chunk(chunk).await {
                Ok(written) => {
                    outcome.counted += written.counted;
                    outcome.duplicates += written.duplicates;
                    outcome.write_units += written.write_units;
                    outcome.transactions += written.transactions;
                    outcome.counter_updates += written.counter_updates;
                }
                Err(error) => {
                    tracing::error!(%error, messages = ids.len(), "analytics chunk not written; it will be retried");
                    outcome.failed.extend(ids);
                }
            }
        }
        outcome
    }

    async fn write_chunk(&self, chunk: Vec<Pending>) -> Result<BatchOutcome, StoreError> {
        let mut events: Vec<TrackedEvent> = chunk.into_iter().map(|p| p.event).collect();
        // The same message twice in one batch (SQS may do that) is counted once.
        let mut seen = HashSet::new();
        let before = events.len();
        events.retain(|e| seen.insert((e.org_id.clone(), e.id.clone(), e.timestamp_ms())));
        let mut outcome = BatchOutcome {
            duplicates: before - events.len(),
            ..Default::default()
        };
        for attempt in 0..MAX_ATTEMPTS {
            if events.is_empty() {
                return Ok(outcome);
            }
            let deltas = Deltas::of(&events);
            let days = self.read_org_days(&deltas).await?;
            let transaction = self.build(&events, &deltas, &days)?;
            match self.store.transact_measured(transaction).await {
                Ok(units) => {
                    outcome.counted += events.len();
                    outcome.write_units += units;
                    outcome.transactions += 1;
                    outcome.counter_updates += deltas.org_days.len() + deltas.agent_days.len();
                    return Ok(outcome);
                }
                Err(error) => match error {
                    StoreError::ConditionFailed { failed } => {
                        // Events whose raw item or id marker exists were counted before.
                        let failed: BTreeSet<&str> = failed.iter().map(|l| l.as_ref()).collect();
                        let before = events.len();
                        events.retain(|event| !failed.contains(event_label(event).as_str()));
                        outcome.duplicates += before - events.len();
                        // A counter condition (name cap, storage snapshot) lost a race: the next
                        // attempt reads the day again.
                    }
                    StoreError::TransactionConflict | StoreError::Throttled => {
                        backoff(attempt).await;
                    }
                    other => return Err(other),
                },
            }
        }
        Err(StoreError::TransactionConflict)
    }

    /// The organization days the batch touches, as stored now: which names they count, and
    /// their storage snapshot.
    async fn read_org_days(
        &self,
        deltas: &Deltas,
    ) -> Result<BTreeMap<(String, String), OrgDay>, StoreError> {
        let keys: Vec<(String, String)> = deltas.org_days.keys().cloned().collect();
        let mut days = BTreeMap::new();
        for group in keys.chunks(100) {
            let items = self
                .store
                .batch_get(
                    &group
                        .iter()
                        .map(|(org, date)| keys::org_day(keys::OrgId(org), date))
                        .collect::<Vec<Key>>(),
                )
                .await?;
            for (key, item) in group.iter().zip(items) {
                let day = match item {
                    Some(item) => OrgDay::read(&store::from_item(item)?),
                    None => OrgDay::default(),
                };
                days.insert(key.clone(), day);
            }
        }
        Ok(days)
    }

    /// The transaction for `events`: each event's raw item (and id marker) is labelled with the
    /// event, so a cancelled transaction names the events that were counted before.
    fn build(
        &self,
        events: &[TrackedEvent],
        deltas: &Deltas,
        days: &BTreeMap<(String, String), OrgDay>,
    ) -> Result<Transaction, StoreError> {
        let mut transaction = Transaction::new();
        for event in events {
            let label = event_label(event);
            transaction = transaction
                .put(self.raw_item(event)?, Condition::NotExists)
                .label(label.clone());
            if event.client_id {
                let marker = OnceMarker::new(
                    &keys::event_id_marker(keys::OrgId(&event.org_id), &event.id),
                    &serde_json::json!({"timestamp": clock::rfc3339(event.timestamp)}),
                    Some(self.expiry(event)),
                )?;
                transaction = marker.put_into(transaction, label);
            }
        }
        for ((org_id, date), delta) in &deltas.org_days {
            let stored = days
                .get(&(org_id.clone(), date.clone()))
                .cloned()
                .unwrap_or_default();
            transaction = transaction.update(org_day_update(org_id, date, delta, &stored)?);
        }
        for ((org_id, date, agent_id), delta) in &deltas.agent_days {
            transaction = transaction.update(agent_day_update(org_id, date, agent_id, delta)?);
        }
        Ok(transaction)
    }

    fn expiry(&self, event: &TrackedEvent) -> i64 {
        (event.timestamp + self.raw_retention).unix_timestamp()
    }

    fn raw_item(&self, event: &TrackedEvent) -> Result<store::Item, StoreError> {
        let ts = event.timestamp_ms();
        let record = crate::reports::StoredEvent {
            id: event.id.clone(),
            name: event.name.clone(),
            agent_id: event.agent_id.clone(),
            timestamp: event.timestamp,
            properties: serde_json::to_string(&event.properties)
                .map_err(|e| StoreError::Internal(e.to_string()))?,
            source: match event.source {
                crate::event::Source::ApiKey { .. } => "api_key".into(),
                crate::event::Source::Member { .. } => "member".into(),
            },
        };
        // No index entries: each would cost the event another write unit (see keys::analytics).
        let item = store::item(
            &keys::raw_event(keys::OrgId(&event.org_id), ts, &event.id),
            "event",
            &record,
        )?;
        Ok(store::with_ttl(item, self.expiry(event)))
    }
}

/// The label of an event's writes: the event itself (its organization, id and time), the same
/// triple the batch is de-duplicated by.
fn event_label(event: &TrackedEvent) -> String {
    format!(
        "event {} {} {}",
        event.org_id,
        event.id,
        event.timestamp_ms()
    )
}

fn parse(body: &str) -> Result<TrackedEvent, String> {
    let event: TrackedEvent = serde_json::from_str(body).map_err(|e| e.to_string())?;
    event.check()?;
    Ok(event)
}

fn metrics_expiry(date: &str) -> i64 {
    crate::period::parse_date(date)
        .map(|d| (d.midnight().assume_utc() + METRICS_RETENTION).unix_timestamp())
        .unwrap_or(0)
}

fn to_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// One update of an organization's day: every increment of the batch, new event names admitted
/// only while the day has room (guarded by a condition, so two aggregators cannot both take the
/// last slot), and the storage snapshot only if it is later than the one held.
fn org_day_update(
    org_id: &str,
    date: &str,
    delta: &OrgDayDelta,
    stored: &OrgDay,
) -> Result<Update, StoreError> {
    let mut update = Update::new(keys::org_day(keys::OrgId(org_id), date))
        .set(store::keys::ENTITY, &"org_day")
        .set("date", &date)
        .set(store::keys::TTL, &metrics_expiry(date));
    for (name, n) in delta.counters.increments() {
        update = update.add(name, to_i64(n));
    }
    for (name, n) in [
        (attr::BILLABLE_MESSAGES, delta.billable_messages),
        (attr::BILLABLE_API_CALLS, delta.billable_api_calls),
    ] {
        if n > 0 {
            update = update.add(name, to_i64(n));
        }
    }
    if delta.billable_messages > 0 || delta.billable_api_calls > 0 || delta.storage.is_some() {
        // The stream hands days with billing usage to metering: this marker is what its
        // filter matches (a filter cannot compare old and new images; metering does).
        update = update.set(attr::METERED, &attr::METERED_VERSION);
    }
    let existing: BTreeSet<String> = stored.names.keys().cloned().collect();
    let (names, admitted) = metrics::fold_names(&delta.names, &existing, stored.name_count);
    for (name, n) in &names {
        update = update.add(&metrics::name_attribute(name), to_i64(*n));
    }
    if !admitted.is_empty() {
        let mut expression = vec![format!(
            "(attribute_not_exists(#{nc}) OR #{nc} <= :name_room)",
            nc = attr::NAME_COUNT
        )];
        let mut names_map = std::collections::HashMap::new();
        for name in &admitted {
            let attribute = metrics::name_attribute(name);
            let placeholder = store::placeholder(&attribute);
            expression.push(format!("attribute_not_exists({placeholder})"));
            names_map.insert(placeholder, attribute);
        }
        update = update
            .add(attr::NAME_COUNT, admitted.len() as i64)
            .condition_on(Condition::Expression {
                expression: expression.join(" AND "),
                names: names_map,
                values: [(
                    ":name_room".to_owned(),
                    AttributeValue::N((NAME_CAP - admitted.len() as u64).to_string()),
                )]
                .into(),
            });
    }
    if let Some((at, bytes)) = delta.storage
        && stored.storage.is_none_or(|(held, _)| held <= at)
    {
        update = update
            .set(attr::STORAGE_BYTES, &bytes)
            .set(attr::STORAGE_AT, &at)
            .condition(
                "attribute_not_exists(#storage_at) OR #storage_at <= :snapshot_at",
                [(":snapshot_at", AttributeValue::N(at.to_string()))],
            );
    }
    Ok(update)
}

fn agent_day_update(
    org_id: &str,
    date: &str,
    agent_id: &str,
    delta: &AgentDayDelta,
) -> Result<Update, StoreError> {
    let mut update = Update::new(keys::agent_day(keys::OrgId(org_id), date, agent_id))
        .set(store::keys::ENTITY, &"agent_day")
        .set("date", &date)
        .set("agent_id", &agent_id)
        .set(store::keys::TTL, &metrics_expiry(date));
    for (name, n) in delta.counters.increments() {
        update = update.add(name, to_i64(n));
    }
    for (bucket, n) in &delta.histogram {
        update = update.add(&histogram::attribute(*bucket), to_i64(*n));
    }
    Ok(update)
}

/// Splits a sorted batch so each transaction stays within DynamoDB's 100 actions.
fn chunks(pending: Vec<Pending>) -> Vec<Vec<Pending>> {
    let mut out: Vec<Vec<Pending>> = Vec::new();
    let mut current: Vec<Pending> = Vec::new();
    let mut actions = 0;
    let mut counters: HashSet<(String, String, Option<String>)> = HashSet::new();
    for p in pending {
        let day = metrics::day_of(&p.event);
        let mut added = 1 + usize::from(p.event.client_id);
        let org_key = (p.event.org_id.clone(), day.clone(), None);
        let agent_key = p
            .event
            .agent_id
            .clone()
            .map(|a| (p.event.org_id.clone(), day, Some(a)));
        added += usize::from(!counters.contains(&org_key));
        added += agent_key
            .as_ref()
            .map_or(0, |k| usize::from(!counters.contains(k)));
        if actions + added > MAX_ACTIONS && !current.is_empty() {
            out.push(std::mem::take(&mut current));
            counters.clear();
            actions = 0;
            added = 2 + usize::from(p.event.client_id) + usize::from(agent_key.is_some());
        }
        actions += added;
        counters.insert(org_key);
        if let Some(k) = agent_key {
            counters.insert(k);
        }
        current.push(p);
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

async fn backoff(attempt: usize) {
    // Jittered, so two aggregators that collided do not collide again in step.
    let base = 20u64 << attempt.min(5);
    let jitter = u64::from(ulid::Ulid::generate().random() as u16) % base.max(1);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}
