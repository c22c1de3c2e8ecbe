//! The aggregator: from a batch of queue messages to raw events and daily counters, each event
//! counted exactly once, without transactions (which cost two write units per item, twice a
//! plain write).
//!
//! The analytics queue is FIFO with one message group per organization (see [`crate::queue`]),
//! and Lambda's FIFO mapping hands a group's messages to one invocation at a time, in order. On
//! that order rests exactly-once:
//!
//! - **Raw events** are plain puts (`BatchWriteItem`): a redelivered event overwrites itself.
//! - **Counters**: each counter item (an organization's day, an agent's day) lists in `applied`
//!   a token of each of the last [`APPLIED_KEPT`] messages added to it. An update adds only the
//!   events of messages the list does not name, and holds only if the list is still what was
//!   read (else it reads again and decides again). A message comes back only while it is still in
//!   the queue, and while it is, every batch of its group starts at or before it (the group's
//!   oldest message) and holds at most 10 messages: after a message, at most 9 later ones can be
//!   added to an item before it is deleted, so 20 tokens never forget a message that can return.
//!   This needs what Lambda guarantees for FIFO mappings: no invocation outlives the queue's
//!   visibility timeout (30 s against 180 s), so two invocations never hold one group.
//! - **Client-chosen ids**: the first message to carry an id claims it with a marker naming the
//!   message; the same message may claim it again (it came back), another message is a retry of
//!   the event and is dropped.
//!
//! A batch's organizations are aggregated concurrently, each all or nothing: when one fails, all
//! of its messages are reported failed, so they come back together and in order. A malformed
//! message fails alone (it never adds anything, so the order of the rest does not matter to it).

use std::collections::{BTreeMap, BTreeSet, HashSet};

use clock::Duration;
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::{Condition, Key, Store, StoreError, Update, keys};
use tokio::task::JoinSet;

use crate::event::TrackedEvent;
use crate::histogram;
use crate::metrics::{self, AgentDayDelta, Deltas, Fields, NAME_CAP, OrgDay, OrgDayDelta, attr};

/// How long raw events are kept unless configured otherwise (`RAW_EVENT_RETENTION_DAYS`).
pub const DEFAULT_RAW_RETENTION: Duration = Duration::days(90);
/// Daily counters are kept long enough for a 90-day period and the one before it, and a year on.
pub const METRICS_RETENTION: Duration = Duration::days(400);
/// Tokens of the last messages added to a counter item: twice what a FIFO batch can hold after a
/// message (see the module's notes).
pub const APPLIED_KEPT: usize = 20;
/// The counter items' attribute listing those tokens, space-separated, oldest first.
pub const APPLIED: &str = "applied";
/// Writes tried per counter item before its organization's messages go back to the queue.
const MAX_ATTEMPTS: usize = 12;
/// DynamoDB requests an organization's batch has in flight at once, unless configured
/// (`WRITES_IN_FLIGHT`): DynamoDB serves concurrent writes in parallel.
pub const DEFAULT_WRITES_IN_FLIGHT: usize = 8;

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
    /// Events already counted (redelivered, a retry of a client-chosen id, or twice in a batch).
    pub duplicates: usize,
    /// Write capacity units DynamoDB reported for the writes.
    pub write_units: f64,
    /// Raw events put (1 write unit per KiB each).
    pub raw_writes: usize,
    /// Client-id markers put (claimed or claimed again).
    pub marker_writes: usize,
    /// Counter items (organization and agent days) updated.
    pub counter_updates: usize,
    /// Conditional writes refused (a write unit each, like a write): counter items that changed
    /// since read, markers held by another message.
    pub refused_writes: usize,
}

impl BatchOutcome {
    fn add(&mut self, other: BatchOutcome) {
        self.failed.extend(other.failed);
        self.counted += other.counted;
        self.duplicates += other.duplicates;
        self.write_units += other.write_units;
        self.raw_writes += other.raw_writes;
        self.marker_writes += other.marker_writes;
        self.counter_updates += other.counter_updates;
        self.refused_writes += other.refused_writes;
    }
}

#[derive(Clone)]
pub struct Aggregator {
    store: Store,
    raw_retention: Duration,
    writes_in_flight: usize,
}

/// A parsed message: its id, its token in counter items, its events.
struct Parsed {
    message_id: String,
    token: String,
    events: Vec<TrackedEvent>,
}

/// An event and the token of the message that carried it.
#[derive(Clone)]
struct Carried {
    token: String,
    event: TrackedEvent,
}

/// A counter item of one organization.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Counter {
    OrgDay { date: String },
    AgentDay { date: String, agent_id: String },
}

impl Counter {
    fn key(&self, org: &str) -> Key {
        match self {
            Counter::OrgDay { date } => keys::org_day(keys::OrgId(org), date),
            Counter::AgentDay { date, agent_id } => {
                keys::agent_day(keys::OrgId(org), date, agent_id)
            }
        }
    }
}

/// A counter item and the events that add to it.
type CounterEvents = (Counter, Vec<Carried>);

/// What one counter item's update came to.
#[derive(Default)]
struct CounterWrite {
    added: usize,
    skipped: usize,
    units: f64,
    updated: bool,
    refused: usize,
}

impl Aggregator {
    pub fn new(store: Store, raw_retention: Duration) -> Self {
        Self {
            store,
            raw_retention,
            writes_in_flight: DEFAULT_WRITES_IN_FLIGHT,
        }
    }

    /// At most `n` DynamoDB requests of an organization's batch in flight at once (at least 1).
    pub fn with_writes_in_flight(mut self, n: usize) -> Self {
        self.writes_in_flight = n.max(1);
        self
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Aggregates a batch. Malformed messages fail alone; an organization whose writes fail (after
    /// retries) fails with all its messages, to come back from the queue; the rest is kept.
    pub async fn process(&self, messages: Vec<Message>) -> BatchOutcome {
        let mut outcome = BatchOutcome::default();
        // By organization (the message group), in the order received.
        let mut groups: BTreeMap<String, Vec<Parsed>> = BTreeMap::new();
        for message in messages {
            match parse(&message.body) {
                Ok(events) => groups
                    .entry(events[0].org_id.clone())
                    .or_default()
                    .push(Parsed {
                        token: token(&message.message_id),
                        message_id: message.message_id,
                        events,
                    }),
                Err(reason) => {
                    tracing::warn!(message_id = %message.message_id, %reason, "malformed analytics message");
                    outcome.failed.push(message.message_id);
                }
            }
        }
        let mut tasks = JoinSet::new();
        let mut ids_of = std::collections::HashMap::new();
        for (org, messages) in groups {
            let aggregator = self.clone();
            let ids: Vec<String> = messages.iter().map(|m| m.message_id.clone()).collect();
            let task = tasks.spawn(async move {
                let count = messages.len();
                aggregator
                    .aggregate_group(&org, messages)
                    .await
                    .inspect_err(|error| tracing::error!(%error, org_id = %org, messages = count, "analytics messages not written; they will be retried"))
            });
            ids_of.insert(task.id(), ids);
        }
        while let Some(done) = tasks.join_next_with_id().await {
            match done {
                Ok((_, Ok(group))) => outcome.add(group),
                Ok((task, Err(_))) => outcome
                    .failed
                    .extend(ids_of.remove(&task).unwrap_or_default()),
                Err(error) => {
                    tracing::error!(%error, "an organization's aggregation did not finish");
                    outcome
                        .failed
                        .extend(ids_of.remove(&error.id()).unwrap_or_default());
                }
            }
        }
        outcome
    }

    /// One organization's messages of the batch: client-id markers, raw events, then counters.
    async fn aggregate_group(
        &self,
        org: &str,
        messages: Vec<Parsed>,
    ) -> Result<BatchOutcome, StoreError> {
        let mut outcome = BatchOutcome::default();
        // The same event twice in the group's messages (SQS may hand over a message twice) is
        // counted once, with the first message that carried it.
        let mut seen = HashSet::new();
        let mut carried = Vec::new();
        for message in messages {
            for event in message.events {
                if seen.insert((event.id.clone(), event.timestamp_ms())) {
                    carried.push(Carried {
                        token: message.token.clone(),
                        event,
                    });
                } else {
                    outcome.duplicates += 1;
                }
            }
        }
        let mut kept = Vec::with_capacity(carried.len());
        for event in carried {
            if !event.event.client_id {
                kept.push(event);
                continue;
            }
            outcome.marker_writes += 1;
            if self.claim_client_id(&event).await? {
                kept.push(event);
            } else {
                outcome.refused_writes += 1;
                outcome.duplicates += 1;
            }
        }
        let raw = kept
            .iter()
            .map(|c| self.raw_item(&c.event))
            .collect::<Result<Vec<_>, _>>()?;
        outcome.raw_writes += raw.len();
        outcome.write_units += self.store.put_all(raw, self.writes_in_flight).await?;
        self.add_to_counters(org, kept, &mut outcome).await?;
        Ok(outcome)
    }

    /// Claims a client-chosen id for the message carrying it: `false` when another message holds
    /// it (this event is a retry of one already counted).
    async fn claim_client_id(&self, carried: &Carried) -> Result<bool, StoreError> {
        let event = &carried.event;
        let key = keys::event_id_marker(keys::OrgId(&event.org_id), &event.id);
        let marker = store::item(
            &key,
            "once",
            &serde_json::json!({
                "timestamp": clock::rfc3339(event.timestamp),
                "message": carried.token,
            }),
        )?;
        let marker = store::with_ttl(marker, self.expiry(event));
        let condition = Condition::Expression {
            expression: "attribute_not_exists(#pk) OR #message = :message".into(),
            names: [
                ("#pk".to_owned(), keys::PK.to_owned()),
                ("#message".to_owned(), "message".to_owned()),
            ]
            .into(),
            values: [(
                ":message".to_owned(),
                AttributeValue::S(carried.token.clone()),
            )]
            .into(),
        };
        match self.store.put(marker, condition).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed { .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Adds the events to every counter item they touch, each item on its own (up to
    /// `writes_in_flight` at once).
    async fn add_to_counters(
        &self,
        org: &str,
        events: Vec<Carried>,
        outcome: &mut BatchOutcome,
    ) -> Result<(), StoreError> {
        let mut touching: BTreeMap<Counter, Vec<Carried>> = BTreeMap::new();
        for carried in events {
            let date = metrics::day_of(&carried.event);
            if let Some(agent_id) = &carried.event.agent_id {
                touching
                    .entry(Counter::AgentDay {
                        date: date.clone(),
                        agent_id: agent_id.clone(),
                    })
                    .or_default()
                    .push(carried.clone());
            }
            touching
                .entry(Counter::OrgDay { date })
                .or_default()
                .push(carried);
        }
        let counters: Vec<CounterEvents> = touching.into_iter().collect();
        let mut first_error = None;
        for group in counters.chunks(100) {
            let keys: Vec<Key> = group.iter().map(|(c, _)| c.key(org)).collect();
            let stored = self.store.batch_get(&keys).await?;
            let mut pending: Vec<(CounterEvents, Option<store::Item>)> =
                group.iter().cloned().zip(stored).collect();
            while !pending.is_empty() {
                let wave: Vec<_> = pending
                    .drain(..self.writes_in_flight.min(pending.len()))
                    .collect();
                let mut tasks = JoinSet::new();
                for ((counter, events), item) in wave {
                    let (aggregator, org) = (self.clone(), org.to_owned());
                    tasks.spawn(async move {
                        let is_org_day = matches!(counter, Counter::OrgDay { .. });
                        aggregator
                            .add_to_counter(&org, counter, events, item)
                            .await
                            .map(|write| (is_org_day, write))
                    });
                }
                while let Some(done) = tasks.join_next().await {
                    match done {
                        Ok(Ok((is_org_day, write))) => {
                            // Every event adds to exactly one organization day: those say what
                            // counted.
                            if is_org_day {
                                outcome.counted += write.added;
                                outcome.duplicates += write.skipped;
                            }
                            outcome.write_units += write.units;
                            outcome.counter_updates += usize::from(write.updated);
                            outcome.refused_writes += write.refused;
                        }
                        Ok(Err(error)) => first_error = first_error.or(Some(error)),
                        Err(error) => {
                            first_error =
                                first_error.or(Some(StoreError::Internal(error.to_string())))
                        }
                    }
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Adds to one counter item the events of the messages it does not list yet.
    async fn add_to_counter(
        &self,
        org: &str,
        counter: Counter,
        events: Vec<Carried>,
        mut stored: Option<store::Item>,
    ) -> Result<CounterWrite, StoreError> {
        let key = counter.key(org);
        let mut write = CounterWrite::default();
        for attempt in 0..MAX_ATTEMPTS {
            let fields: Fields = match stored.take() {
                Some(item) => store::from_item(item)?,
                None => Fields::new(),
            };
            let applied = Applied::read(&fields);
            let new: Vec<&Carried> = events.iter().filter(|c| !applied.names(&c.token)).collect();
            write.skipped = events.len() - new.len();
            write.added = new.len();
            if new.is_empty() {
                return Ok(write);
            }
            let deltas = Deltas::of(new.iter().map(|c| &c.event));
            let update = match &counter {
                Counter::OrgDay { date } => {
                    let delta = deltas
                        .org_days
                        .get(&(org.to_owned(), date.clone()))
                        .cloned()
                        .unwrap_or_default();
                    org_day_update(org, date, &delta, &OrgDay::read(&fields))?
                }
                Counter::AgentDay { date, agent_id } => {
                    let delta = deltas
                        .agent_days
                        .get(&(org.to_owned(), date.clone(), agent_id.clone()))
                        .cloned()
                        .unwrap_or_default();
                    agent_day_update(org, date, agent_id, &delta)?
                }
            };
            let update = applied.then_also(new.iter().map(|c| c.token.as_str()), update);
            match self.store.update_if(update).await? {
                Some(units) => {
                    write.units += units;
                    write.updated = true;
                    return Ok(write);
                }
                None => {
                    // Changed since read (a message came back to two invocations at once, or
                    // a name or storage condition lost a race): read it again, decide again.
                    write.refused += 1;
                    if attempt > 0 {
                        backoff(attempt).await;
                    }
                    stored = self
                        .store
                        .batch_get(std::slice::from_ref(&key))
                        .await?
                        .pop()
                        .flatten();
                }
            }
        }
        Err(StoreError::TransactionConflict)
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

/// A message's token in counter items: 12 hex digits (48 bits) of its id's SHA-256, so ids of any
/// shape take the same room and two messages an item lists at once do not collide in practice.
fn token(message_id: &str) -> String {
    keys::digest(message_id.as_bytes())[..12].to_owned()
}

/// The tokens a counter item lists, as read.
struct Applied {
    /// The attribute as stored, for the condition that it is unchanged (`None`: absent).
    stored: Option<String>,
    tokens: Vec<String>,
}

impl Applied {
    fn read(fields: &Fields) -> Self {
        let stored = fields
            .get(APPLIED)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned);
        let tokens = stored
            .as_deref()
            .unwrap_or_default()
            .split_ascii_whitespace()
            .map(str::to_owned)
            .collect();
        Self { stored, tokens }
    }

    fn names(&self, token: &str) -> bool {
        self.tokens.iter().any(|t| t == token)
    }

    /// `update`, also listing `added` (the newest [`APPLIED_KEPT`] kept), on condition that the
    /// list is still as read.
    fn then_also<'a>(&self, added: impl Iterator<Item = &'a str>, update: Update) -> Update {
        let mut tokens = self.tokens.clone();
        for token in added {
            if !tokens.iter().any(|t| t == token) {
                tokens.push(token.to_owned());
            }
        }
        let start = tokens.len().saturating_sub(APPLIED_KEPT);
        let update = update.set(APPLIED, &tokens[start..].join(" "));
        match &self.stored {
            None => update.condition("attribute_not_exists(#applied)", []),
            Some(was) => update.condition(
                "#applied = :applied_was",
                [(":applied_was", AttributeValue::S(was.clone()))],
            ),
        }
    }
}

/// A message's events: an [`EventBatch`](crate::EventBatch) as the track route sends, or one
/// event (what it sent before, still valid while such messages wait in the queue). One bad
/// event makes the whole message malformed: it fails alone, to the dead-letter queue.
fn parse(body: &str) -> Result<Vec<TrackedEvent>, String> {
    let events = match serde_json::from_str::<crate::EventBatch>(body) {
        Ok(batch) => batch.events,
        Err(batch_error) => match serde_json::from_str::<TrackedEvent>(body) {
            Ok(event) => vec![event],
            Err(_) => return Err(batch_error.to_string()),
        },
    };
    if events.is_empty() {
        return Err("a message without events".into());
    }
    for (i, event) in events.iter().enumerate() {
        event
            .check()
            .map_err(|reason| format!("events[{i}]: {reason}"))?;
    }
    Ok(events)
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

async fn backoff(attempt: usize) {
    // Jittered, so two aggregators that collided do not collide again in step.
    let base = 20u64 << attempt.min(5);
    let jitter = u64::from(ulid::Ulid::generate().random() as u16) % base.max(1);
    tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
}
