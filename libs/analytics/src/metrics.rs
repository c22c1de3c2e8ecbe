//! Daily counters: what one day of an organization (and of each of its agents) adds up to, how a
//! batch of events turns into increments of them, and how the stored items read back.
//!
//! Counters are top-level number attributes, so every increment is a plain `ADD` and items from
//! different days or agents add up field by field. Event names are counted as `n:<name>`
//! attributes of the organization's day; histogram buckets as `h<i>` attributes of an agent's day.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// A stored item as read back: attribute names to JSON values (numbers stay numbers).
pub type Fields = serde_json::Map<String, Value>;

use crate::event::{API_CALL, MESSAGE_SENT, Measures, STORAGE_SNAPSHOT, TrackedEvent};
use crate::histogram;

/// Distinct event names counted per organization and day; later names fold into [`OTHER`]. It
/// bounds the size (and so the write cost) of the day's item.
pub const NAME_CAP: u64 = 50;
/// Where event names beyond the cap are counted.
pub const OTHER: &str = "other";
const NAME_PREFIX: &str = "n:";

/// Attribute names of the counters.
pub mod attr {
    pub const EVENTS: &str = "events";
    pub const MESSAGES: &str = "messages";
    pub const API_CALLS: &str = "api_calls";
    pub const INPUT_TOKENS: &str = "input_tokens";
    pub const OUTPUT_TOKENS: &str = "output_tokens";
    /// Sum (whole ms) and count of the events that carried `response_time_ms`.
    pub const RESPONSE_TIME_SUM: &str = "rt_sum";
    pub const RESPONSE_TIME_COUNT: &str = "rt_count";
    /// Events with a `response_time_ms` or `error` property: the error rate's denominator.
    pub const OUTCOMES: &str = "outcomes";
    pub const ERRORS: &str = "errors";
    /// Billing usage: only events tracked with an API key.
    pub const BILLABLE_MESSAGES: &str = "billable_messages";
    pub const BILLABLE_API_CALLS: &str = "billable_api_calls";
    pub const STORAGE_BYTES: &str = "storage_bytes";
    /// Epoch ms of the storage snapshot held, so only a later one replaces it.
    pub const STORAGE_AT: &str = "storage_at";
    /// How many distinct event names the day counts (without `other`).
    pub const NAME_COUNT: &str = "name_count";
    /// Set on a day once it holds billing usage, so the table's stream brings it to metering.
    pub const METERED: &str = "metered";
    pub const METERED_VERSION: &str = "v1";
}

pub fn name_attribute(name: &str) -> String {
    format!("{NAME_PREFIX}{name}")
}

/// The counters both kinds of day share.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    pub events: u64,
    pub messages: u64,
    pub api_calls: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub response_time_sum: u64,
    pub response_time_count: u64,
    pub outcomes: u64,
    pub errors: u64,
}

impl Counters {
    fn count(&mut self, event: &TrackedEvent, m: &Measures) {
        self.events += 1;
        self.messages += u64::from(event.name == MESSAGE_SENT);
        self.api_calls += u64::from(event.name == API_CALL);
        self.input_tokens += m.input_tokens.unwrap_or(0);
        self.output_tokens += m.output_tokens.unwrap_or(0);
        if let Some(ms) = m.response_time_ms {
            self.response_time_sum += ms.round() as u64;
            self.response_time_count += 1;
        }
        if m.response_time_ms.is_some() || m.error.is_some() {
            self.outcomes += 1;
        }
        self.errors += u64::from(m.error == Some(true));
    }

    pub fn add(&mut self, other: &Counters) {
        self.events += other.events;
        self.messages += other.messages;
        self.api_calls += other.api_calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.response_time_sum += other.response_time_sum;
        self.response_time_count += other.response_time_count;
        self.outcomes += other.outcomes;
        self.errors += other.errors;
    }

    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }

    pub fn avg_response_time_ms(&self) -> Option<f64> {
        (self.response_time_count > 0)
            .then(|| round2(self.response_time_sum as f64 / self.response_time_count as f64))
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.outcomes > 0).then(|| round4(self.errors as f64 / self.outcomes as f64))
    }

    /// `(attribute, increment)` pairs, zeros left out.
    pub fn increments(&self) -> Vec<(&'static str, u64)> {
        [
            (attr::EVENTS, self.events),
            (attr::MESSAGES, self.messages),
            (attr::API_CALLS, self.api_calls),
            (attr::INPUT_TOKENS, self.input_tokens),
            (attr::OUTPUT_TOKENS, self.output_tokens),
            (attr::RESPONSE_TIME_SUM, self.response_time_sum),
            (attr::RESPONSE_TIME_COUNT, self.response_time_count),
            (attr::OUTCOMES, self.outcomes),
            (attr::ERRORS, self.errors),
        ]
        .into_iter()
        .filter(|(_, n)| *n > 0)
        .collect()
    }

    fn read(item: &Fields) -> Self {
        Counters {
            events: number(item, attr::EVENTS),
            messages: number(item, attr::MESSAGES),
            api_calls: number(item, attr::API_CALLS),
            input_tokens: number(item, attr::INPUT_TOKENS),
            output_tokens: number(item, attr::OUTPUT_TOKENS),
            response_time_sum: number(item, attr::RESPONSE_TIME_SUM),
            response_time_count: number(item, attr::RESPONSE_TIME_COUNT),
            outcomes: number(item, attr::OUTCOMES),
            errors: number(item, attr::ERRORS),
        }
    }
}

pub fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// One organization's day: counters, billing usage, counts per event name.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrgDay {
    pub date: String,
    pub counters: Counters,
    pub billable_messages: u64,
    pub billable_api_calls: u64,
    /// The latest storage snapshot of the day: (epoch ms, bytes).
    pub storage: Option<(i64, u64)>,
    pub names: BTreeMap<String, u64>,
    pub name_count: u64,
}

impl OrgDay {
    pub fn read(item: &Fields) -> Self {
        let names = item
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix(NAME_PREFIX)?;
                Some((name.to_owned(), as_number(v)))
            })
            .collect();
        let storage = match (item.get(attr::STORAGE_AT), item.get(attr::STORAGE_BYTES)) {
            (Some(at), Some(bytes)) => Some((as_number(at) as i64, as_number(bytes))),
            _ => None,
        };
        OrgDay {
            date: string(item, "date"),
            counters: Counters::read(item),
            billable_messages: number(item, attr::BILLABLE_MESSAGES),
            billable_api_calls: number(item, attr::BILLABLE_API_CALLS),
            storage,
            names,
            name_count: number(item, attr::NAME_COUNT),
        }
    }
}

/// One agent's day: counters and the response-time histogram.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentDay {
    pub date: String,
    pub agent_id: String,
    pub counters: Counters,
    pub histogram: BTreeMap<u16, u64>,
}

impl AgentDay {
    pub fn read(item: &Fields) -> Self {
        AgentDay {
            date: string(item, "date"),
            agent_id: string(item, "agent_id"),
            counters: Counters::read(item),
            histogram: item
                .iter()
                .filter_map(|(k, v)| Some((histogram::parse_attribute(k)?, as_number(v))))
                .collect(),
        }
    }
}

fn number(item: &Fields, name: &str) -> u64 {
    item.get(name).map_or(0, as_number)
}

fn as_number(value: &Value) -> u64 {
    value
        .as_u64()
        .or_else(|| value.as_f64().map(|f| f.max(0.0) as u64))
        .unwrap_or(0)
}

fn string(item: &Fields, name: &str) -> String {
    item.get(name)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

/// What a batch adds to one organization's day.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OrgDayDelta {
    pub counters: Counters,
    pub billable_messages: u64,
    pub billable_api_calls: u64,
    pub storage: Option<(i64, u64)>,
    pub names: BTreeMap<String, u64>,
}

/// What a batch adds to one agent's day.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AgentDayDelta {
    pub counters: Counters,
    pub histogram: BTreeMap<u16, u64>,
}

/// A batch's increments, pre-aggregated: one update per organization-day and per agent-day.
#[derive(Debug, Default)]
pub struct Deltas {
    /// By (org id, date).
    pub org_days: BTreeMap<(String, String), OrgDayDelta>,
    /// By (org id, date, agent id).
    pub agent_days: BTreeMap<(String, String, String), AgentDayDelta>,
}

/// The UTC day of an event, `YYYY-MM-DD`.
pub fn day_of(event: &TrackedEvent) -> String {
    crate::period::format_date(event.timestamp.date())
}

impl Deltas {
    pub fn of<'a>(events: impl IntoIterator<Item = &'a TrackedEvent>) -> Self {
        let mut deltas = Deltas::default();
        for event in events {
            let date = day_of(event);
            let org = deltas
                .org_days
                .entry((event.org_id.clone(), date.clone()))
                .or_default();
            let measures = event.measures();
            org.counters.count(event, &measures);
            *org.names.entry(event.name.clone()).or_default() += 1;
            if event.source.is_api_key() {
                org.billable_messages += u64::from(event.name == MESSAGE_SENT);
                org.billable_api_calls += u64::from(event.name == API_CALL);
                if event.name == STORAGE_SNAPSHOT
                    && let Some(bytes) = measures.bytes
                {
                    let at = event.timestamp_ms();
                    if org.storage.is_none_or(|(held, _)| held <= at) {
                        org.storage = Some((at, bytes));
                    }
                }
            }
            if let Some(agent_id) = &event.agent_id {
                let agent = deltas
                    .agent_days
                    .entry((event.org_id.clone(), date, agent_id.clone()))
                    .or_default();
                agent.counters.count(event, &measures);
                if let Some(ms) = measures.response_time_ms {
                    *agent.histogram.entry(histogram::bucket(ms)).or_default() += 1;
                }
            }
        }
        deltas
    }
}

/// Which of a day's new names get their own counter, given the names it already counts: the
/// most frequent first, while the day has room; the rest fold into [`OTHER`].
pub fn fold_names(
    names: &BTreeMap<String, u64>,
    existing: &BTreeSet<String>,
    existing_count: u64,
) -> (BTreeMap<String, u64>, Vec<String>) {
    let mut room = NAME_CAP.saturating_sub(existing_count);
    let mut new: Vec<(&String, &u64)> = names
        .iter()
        .filter(|(n, _)| !existing.contains(*n) && *n != OTHER)
        .collect();
    new.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut admitted = Vec::new();
    for (name, _) in new {
        if room == 0 {
            break;
        }
        admitted.push(name.clone());
        room -= 1;
    }
    let mut folded: BTreeMap<String, u64> = BTreeMap::new();
    for (name, count) in names {
        let kept = existing.contains(name) || name == OTHER || admitted.contains(name);
        let target = if kept { name.clone() } else { OTHER.to_owned() };
        *folded.entry(target).or_default() += count;
    }
    (folded, admitted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Source;

    fn event(name: &str, agent: Option<&str>, props: serde_json::Value, key: bool) -> TrackedEvent {
        TrackedEvent {
            org_id: "o1".into(),
            id: ulid::Ulid::generate().to_string(),
            client_id: false,
            name: name.into(),
            agent_id: agent.map(Into::into),
            timestamp: clock::parse_rfc3339("2026-11-24T10:00:00Z").unwrap(),
            properties: props.as_object().cloned().unwrap_or_default(),
            source: if key {
                Source::ApiKey { key_id: "k".into() }
            } else {
                Source::Member {
                    user_id: "u".into(),
                }
            },
        }
    }

    #[test]
    fn a_batch_becomes_one_increment_per_day_and_agent() {
        let events = [
            event(
                "message.sent",
                Some("a1"),
                serde_json::json!({"response_time_ms": 100, "input_tokens": 10, "output_tokens": 5}),
                true,
            ),
            event(
                "message.sent",
                Some("a1"),
                serde_json::json!({"response_time_ms": 300, "error": true}),
                false,
            ),
            event(
                "api.call",
                Some("a2"),
                serde_json::json!({"error": false}),
                true,
            ),
            event(
                "storage.snapshot",
                None,
                serde_json::json!({"bytes": 1000}),
                true,
            ),
            event("page.view", None, serde_json::json!({}), false),
        ];
        let deltas = Deltas::of(&events);
        assert_eq!(deltas.org_days.len(), 1);
        let org = &deltas.org_days[&("o1".into(), "2026-11-24".into())];
        assert_eq!(org.counters.events, 5);
        assert_eq!(org.counters.messages, 2);
        assert_eq!(org.counters.api_calls, 1);
        assert_eq!(org.billable_messages, 1);
        assert_eq!(org.billable_api_calls, 1);
        assert_eq!(org.counters.tokens(), 15);
        assert_eq!(org.counters.outcomes, 3);
        assert_eq!(org.counters.errors, 1);
        assert_eq!(org.counters.avg_response_time_ms(), Some(200.0));
        assert_eq!(org.storage.map(|s| s.1), Some(1000));
        assert_eq!(org.names["message.sent"], 2);
        assert_eq!(deltas.agent_days.len(), 2);
        let a1 = &deltas.agent_days[&("o1".into(), "2026-11-24".into(), "a1".into())];
        assert_eq!(a1.counters.events, 2);
        assert_eq!(a1.histogram.values().sum::<u64>(), 2);
    }

    #[test]
    fn names_beyond_the_cap_fold_into_other() {
        let existing: BTreeSet<String> = (0..NAME_CAP - 1).map(|i| format!("e{i}")).collect();
        let names = BTreeMap::from([
            ("e0".to_owned(), 1),
            ("new.a".to_owned(), 5),
            ("new.b".to_owned(), 2),
        ]);
        let (folded, admitted) = fold_names(&names, &existing, NAME_CAP - 1);
        assert_eq!(admitted, ["new.a"]);
        assert_eq!(folded["e0"], 1);
        assert_eq!(folded["new.a"], 5);
        assert_eq!(folded[OTHER], 2);
        assert!(!folded.contains_key("new.b"));
    }
}
