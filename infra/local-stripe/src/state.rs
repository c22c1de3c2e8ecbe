//! The server's memory: every object as the JSON Stripe would return (the stored object *is* the
//! response), the events it produced, idempotency records, the clock's offset and the control
//! settings. One mutex guards it; handlers are plain functions over `&mut State`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::ids;

/// The Stripe API version this server answers as (async-stripe 1.0.0-rc.10's).
pub const API_VERSION: &str = "2026-09-30.endive";

/// A stored response for an idempotency key.
#[derive(Clone, Debug)]
pub enum Idempotent {
    /// The first request with this key is still being handled.
    InFlight { fingerprint: String, since: i64 },
    Done {
        fingerprint: String,
        status: u16,
        body: Value,
        at: i64,
    },
}

/// One delivery attempt of an event to the webhook endpoint.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Attempt {
    /// Unix seconds of the server's clock.
    pub at: i64,
    /// The endpoint's status, or `None` when it could not be reached.
    pub status: Option<u16>,
    pub error: Option<String>,
}

#[derive(Clone, Debug)]
pub struct EventRecord {
    pub event: Value,
    pub attempts: Vec<Attempt>,
    pub delivered: bool,
    /// Sent a second time by chaos mode.
    pub duplicated: bool,
}

/// Chaos mode: some events delivered twice, some held back and sent after later ones.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Chaos {
    pub enabled: bool,
    /// Every n-th event is delivered twice (0 = never; 3 unless set).
    pub duplicate_every: u32,
    /// Every n-th event is held back until the next one has been sent (0 = never; 4 unless set).
    pub reorder_every: u32,
    /// Added before every API request is handled, so a test can race two requests (409
    /// `idempotency_key_in_use`).
    pub latency_ms: u64,
}

impl Default for Chaos {
    fn default() -> Self {
        Self {
            enabled: false,
            duplicate_every: 3,
            reorder_every: 4,
            latency_ms: 0,
        }
    }
}

/// What [`State::restore`] goes back to.
pub struct Snapshot {
    state: Box<State>,
    events: usize,
    undispatched: usize,
}

#[derive(Clone)]
pub struct State {
    /// While the clock engine runs what fell due, the moment it is at.
    pub time_override: Option<i64>,
    /// Proration lines waiting for a subscription's next invoice.
    pub pending_lines: HashMap<String, Vec<Value>>,
    /// Seconds added to the wall clock by `POST /_local/clock/advance`.
    pub clock_offset: i64,
    pub objects: HashMap<String, Value>,
    /// Ids per object type in creation order (lists are newest first).
    pub order: BTreeMap<&'static str, Vec<String>>,
    pub events: Vec<EventRecord>,
    pub idempotency: HashMap<String, Idempotent>,
    /// Customers whose next payment fails (`POST /_local/customers/{id}/fail_next_payment`).
    pub fail_next_payment: HashSet<String>,
    /// How each payment method made from a test id behaves when charged.
    pub cards: HashMap<String, crate::payment_methods::Behaviour>,
    pub chaos: Chaos,
    /// Counts events for chaos mode's every-n-th rules.
    pub event_counter: u32,
    /// Ids of events recorded and not yet handed to the delivery worker.
    pub undispatched: Vec<String>,
}

impl State {
    pub fn new() -> Self {
        Self {
            time_override: None,
            pending_lines: HashMap::new(),
            clock_offset: 0,
            objects: HashMap::new(),
            order: BTreeMap::new(),
            events: Vec::new(),
            idempotency: HashMap::new(),
            fail_next_payment: HashSet::new(),
            cards: HashMap::new(),
            chaos: Chaos::default(),
            event_counter: 0,
            undispatched: Vec::new(),
        }
    }

    /// The server's clock, Unix seconds.
    pub fn now(&self) -> i64 {
        self.time_override
            .unwrap_or_else(|| wall_clock() + self.clock_offset)
    }

    /// Stores a new object (its `id` and `object` fields set by the caller).
    pub fn insert(&mut self, kind: &'static str, object: Value) -> Value {
        let id = object["id"].as_str().unwrap_or_default().to_owned();
        self.order.entry(kind).or_default().push(id.clone());
        self.objects.insert(id, object.clone());
        object
    }

    pub fn get(&self, id: &str) -> Option<&Value> {
        self.objects.get(id)
    }

    /// An object of one kind, or Stripe's 404 naming it.
    /// An object of one kind, or Stripe's 404 naming it (a deleted object is missing too).
    pub fn find(&self, kind: &str, id: &str, param: &str) -> Result<&Value, StripeError> {
        self.objects
            .get(id)
            .filter(|o| o["object"] == kind && o["deleted"] != true)
            .ok_or_else(|| StripeError::missing_resource(kind, id, param))
    }

    pub fn find_mut(
        &mut self,
        kind: &str,
        id: &str,
        param: &str,
    ) -> Result<&mut Value, StripeError> {
        self.objects
            .get_mut(id)
            .filter(|o| o["object"] == kind && o["deleted"] != true)
            .ok_or_else(|| StripeError::missing_resource(kind, id, param))
    }

    /// The objects of one kind, newest first.
    pub fn list(&self, kind: &str) -> Vec<&Value> {
        self.order
            .get(kind)
            .map(|ids| {
                ids.iter()
                    .rev()
                    .filter_map(|id| self.objects.get(id))
                    .filter(|o| o["deleted"] != true)
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Records an event about `object` (a snapshot of it now) for delivery.
    pub fn emit(&mut self, kind: &str, object: &Value, previous: Option<Value>) -> Value {
        let mut data = json!({ "object": object });
        if let Some(previous) = previous {
            data["previous_attributes"] = previous;
        }
        let event = json!({
            "id": ids::new("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.now(),
            "data": data,
            "livemode": false,
            "pending_webhooks": 1,
            "request": { "id": null, "idempotency_key": null },
            "type": kind,
        });
        self.events.push(EventRecord {
            event: event.clone(),
            attempts: Vec::new(),
            delivered: false,
            duplicated: false,
        });
        self.undispatched
            .push(event["id"].as_str().unwrap_or_default().to_owned());
        event
    }

    /// A copy to go back to if the request fails: Stripe changes nothing when it refuses one.
    /// Events are not copied (only appended to), just counted.
    pub fn snapshot(&mut self) -> Snapshot {
        let events = std::mem::take(&mut self.events);
        let copy = self.clone();
        self.events = events;
        Snapshot {
            state: Box::new(copy),
            events: self.events.len(),
            undispatched: self.undispatched.len(),
        }
    }

    /// Undoes everything since `snapshot`, events included.
    pub fn restore(&mut self, snapshot: Snapshot) {
        let mut events = std::mem::take(&mut self.events);
        events.truncate(snapshot.events);
        *self = *snapshot.state;
        self.events = events;
        self.undispatched.truncate(snapshot.undispatched);
    }

    pub fn event_mut(&mut self, id: &str) -> Option<&mut EventRecord> {
        self.events.iter_mut().rev().find(|r| r.event["id"] == id)
    }

    pub fn reset(&mut self) {
        *self = Self::new();
    }
}

impl Default for State {
    fn default() -> Self {
        Self::new()
    }
}

pub fn wall_clock() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs() as i64
}
