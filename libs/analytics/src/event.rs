//! A tracked event: what `POST /v1/analytics/track` accepts, checked field by field, and the
//! message that carries it to the aggregator.

use clock::{DateTime, Duration};
use problem::FieldError;

use crate::AnalyticsError;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Events per track request.
pub const MAX_EVENTS: usize = 100;
/// Size of an event's `properties` object, as compact JSON.
pub const MAX_PROPERTIES_BYTES: usize = 8 * 1024;
/// How old an event's timestamp may be, and how far ahead of the server's clock.
pub const MAX_AGE: Duration = Duration::hours(24);
pub const MAX_AHEAD: Duration = Duration::minutes(5);
/// Upper bounds of recognised properties (beyond them a value is a mistake, not a measurement).
pub const MAX_RESPONSE_TIME_MS: f64 = 3_600_000.0;
pub const MAX_TOKENS: u64 = 1_000_000_000;

/// Well-known event names that feed billing usage when tracked with an API key.
pub const MESSAGE_SENT: &str = "message.sent";
pub const API_CALL: &str = "api.call";
pub const STORAGE_SNAPSHOT: &str = "storage.snapshot";

/// Who tracked an event. Only events tracked with an API key count toward billing usage.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    ApiKey { key_id: String },
    Member { user_id: String },
}

impl Source {
    pub fn is_api_key(&self) -> bool {
        matches!(self, Source::ApiKey { .. })
    }
}

/// The recognised properties of an event, typed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Measures {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_time_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_tokens: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
}

/// One event on its way to the aggregator: the body of one SQS message.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrackedEvent {
    pub org_id: String,
    pub id: String,
    /// The client chose the id: it may come back with another timestamp, so the aggregator
    /// also records the id itself.
    #[serde(default)]
    pub client_id: bool,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(with = "clock::serde_rfc3339")]
    pub timestamp: DateTime,
    #[serde(default)]
    pub properties: Map<String, Value>,
    pub source: Source,
}

impl TrackedEvent {
    /// The recognised properties (the track route has checked their types).
    pub fn measures(&self) -> Measures {
        let p = &self.properties;
        Measures {
            response_time_ms: p.get("response_time_ms").and_then(Value::as_f64),
            input_tokens: p.get("input_tokens").and_then(Value::as_u64),
            output_tokens: p.get("output_tokens").and_then(Value::as_u64),
            error: p.get("error").and_then(Value::as_bool),
            bytes: p.get("bytes").and_then(Value::as_u64),
        }
    }

    pub fn timestamp_ms(&self) -> i64 {
        (self.timestamp.unix_timestamp_nanos() / 1_000_000) as i64
    }

    /// Checks a message from the queue as strictly as the track route checked the request
    /// (without the clock window: a message may wait in the queue).
    pub fn check(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        if !is_id(&self.org_id) {
            errors.push(FieldError::new("org_id", "is not an organization id"));
        }
        check_fields(
            "",
            Some(&self.id),
            &self.name,
            self.agent_id.as_deref(),
            &self.properties,
            &mut errors,
        );
        match errors.is_empty() {
            true => Ok(()),
            false => Err(errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")),
        }
    }
}

/// An event as a client sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventInput {
    id: Option<Value>,
    name: Option<Value>,
    agent_id: Option<Value>,
    timestamp: Option<Value>,
    properties: Option<Value>,
}

/// The body of a track request: one event, or `{"events": [...]}`.
/// A JSON value in which no object repeats a key: `serde_json::Value` keeps the last of
/// duplicates silently, and every other route refuses them (serde's derive does).
struct UniqueKeys(Value);

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut list = Vec::new();
        while let Some(UniqueKeys(value)) = seq.next_element()? {
            list.push(value);
        }
        Ok(Value::Array(list))
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(format!("duplicate key `{key}`")));
            }
            let UniqueKeys(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}

pub fn parse_track(
    body: &[u8],
    org_id: &str,
    source: &Source,
    now: DateTime,
) -> Result<Vec<TrackedEvent>, AnalyticsError> {
    let value = serde_json::from_slice::<UniqueKeys>(body)
        .map_err(|e| AnalyticsError::InvalidBody(format!("the body is not valid JSON: {e}")))?
        .0;
    let Value::Object(mut object) = value else {
        return Err(AnalyticsError::InvalidBody(
            "the body must be an event object or {\"events\": [...]}".into(),
        ));
    };
    let (inputs, prefix): (Vec<Value>, bool) = if object.contains_key("events") {
        if object.len() != 1 {
            let extra: Vec<&String> = object.keys().filter(|k| *k != "events").collect();
            return Err(AnalyticsError::InvalidBody(format!(
                "unknown field(s) beside `events`: {extra:?}"
            )));
        }
        match object.remove("events") {
            Some(Value::Array(events)) => (events, true),
            _ => {
                return Err(AnalyticsError::field(
                    "events",
                    "must be an array of events",
                ));
            }
        }
    } else {
        (vec![Value::Object(object)], false)
    };
    if inputs.is_empty() || inputs.len() > MAX_EVENTS {
        return Err(AnalyticsError::field(
            "events",
            format!("must hold 1 to {MAX_EVENTS} events, not {}", inputs.len()),
        ));
    }
    let mut errors = Vec::new();
    let mut events = Vec::with_capacity(inputs.len());
    let mut seen_ids = std::collections::HashSet::new();
    for (index, input) in inputs.into_iter().enumerate() {
        let path = if prefix {
            format!("events[{index}].")
        } else {
            String::new()
        };
        if let Some(event) = check_event(&path, input, org_id, source, now, &mut errors) {
            if event.client_id && !seen_ids.insert(event.id.clone()) {
                errors.push(FieldError::new(
                    format!("{path}id"),
                    "appears twice in this request",
                ));
            }
            events.push(event);
        }
    }
    if !errors.is_empty() {
        return Err(AnalyticsError::Invalid(errors));
    }
    Ok(events)
}

fn check_event(
    path: &str,
    input: Value,
    org_id: &str,
    source: &Source,
    now: DateTime,
    errors: &mut Vec<FieldError>,
) -> Option<TrackedEvent> {
    let field = |name: &str| format!("{path}{name}");
    let input: EventInput = match serde_json::from_value(input) {
        Ok(input) => input,
        Err(e) => {
            let target = if path.is_empty() {
                "body".to_owned()
            } else {
                path.trim_end_matches('.').to_owned()
            };
            errors.push(FieldError::new(
                target,
                format!("is not a valid event: {e}"),
            ));
            return None;
        }
    };
    let before = errors.len();
    let string = |name: &str, value: Option<Value>, errors: &mut Vec<FieldError>| match value {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            errors.push(FieldError::new(field(name), "must be a string"));
            None
        }
    };
    let id = string("id", input.id, errors);
    let name = string("name", input.name, errors);
    let agent_id = string("agent_id", input.agent_id, errors);
    let timestamp = match string("timestamp", input.timestamp, errors) {
        None => now,
        Some(raw) => match clock::parse_rfc3339(&raw) {
            None => {
                errors.push(FieldError::new(
                    field("timestamp"),
                    "must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z",
                ));
                now
            }
            Some(t) if t < now - MAX_AGE || t > now + MAX_AHEAD => {
                errors.push(FieldError::new(
                    field("timestamp"),
                    "must be within the last 24 hours and at most 5 minutes ahead",
                ));
                now
            }
            Some(t) => truncate_to_millis(t),
        },
    };
    let properties = match input.properties {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(map)) => map,
        Some(_) => {
            errors.push(FieldError::new(field("properties"), "must be an object"));
            Map::new()
        }
    };
    let Some(name) = name else {
        if !errors.iter().skip(before).any(|e| e.field == field("name")) {
            errors.push(FieldError::new(field("name"), "is required"));
        }
        return None;
    };
    check_fields(
        path,
        id.as_ref(),
        &name,
        agent_id.as_deref(),
        &properties,
        errors,
    );
    if errors.len() > before {
        return None;
    }
    let client_id = id.is_some();
    let id = id.unwrap_or_else(|| ulid::Ulid::from_datetime(timestamp.into()).to_string());
    Some(TrackedEvent {
        org_id: org_id.to_owned(),
        id,
        client_id,
        name,
        agent_id,
        timestamp,
        properties,
        source: source.clone(),
    })
}

fn truncate_to_millis(t: DateTime) -> DateTime {
    let millis = t.millisecond();
    t.replace_nanosecond(u32::from(millis) * 1_000_000)
        .unwrap_or(t)
}

/// The checks shared by the track route and the aggregator.
fn check_fields(
    path: &str,
    id: Option<&String>,
    name: &str,
    agent_id: Option<&str>,
    properties: &Map<String, Value>,
    errors: &mut Vec<FieldError>,
) {
    let field = |name: &str| format!("{path}{name}");
    if let Some(id) = id
        && !is_id(id)
    {
        errors.push(FieldError::new(
            field("id"),
            "must be 1-64 characters of A-Z, a-z, 0-9, _ or -",
        ));
    }
    if !is_event_name(name) {
        errors.push(FieldError::new(
            field("name"),
            "must be 1-100 characters of a-z, 0-9, _ . : or -",
        ));
    }
    if let Some(agent_id) = agent_id
        && !is_agent_id(agent_id)
    {
        errors.push(FieldError::new(
            field("agent_id"),
            "must be 1-100 characters of A-Z, a-z, 0-9, _ . : or -",
        ));
    }
    let size = serde_json::to_vec(properties).map_or(usize::MAX, |v| v.len());
    if size > MAX_PROPERTIES_BYTES {
        errors.push(FieldError::new(
            field("properties"),
            format!("must be at most {MAX_PROPERTIES_BYTES} bytes as JSON, not {size}"),
        ));
    }
    let property = |name: &str| format!("{path}properties.{name}");
    if let Some(v) = properties.get("response_time_ms")
        && !v
            .as_f64()
            .is_some_and(|ms| (0.0..=MAX_RESPONSE_TIME_MS).contains(&ms))
    {
        errors.push(FieldError::new(
            property("response_time_ms"),
            "must be a number of milliseconds from 0 to 3600000",
        ));
    }
    for tokens in ["input_tokens", "output_tokens"] {
        if let Some(v) = properties.get(tokens)
            && v.as_u64().is_none_or(|n| n > MAX_TOKENS)
        {
            errors.push(FieldError::new(
                property(tokens),
                "must be a whole number from 0 to 1000000000",
            ));
        }
    }
    if let Some(v) = properties.get("error")
        && !v.is_boolean()
    {
        errors.push(FieldError::new(property("error"), "must be true or false"));
    }
    if let Some(v) = properties.get("bytes")
        && v.as_u64().is_none()
    {
        errors.push(FieldError::new(
            property("bytes"),
            "must be a whole number of bytes, 0 or more",
        ));
    }
}

/// Event ids, and the ids the API hands out (ULIDs fit).
pub fn is_id(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `[a-z0-9_.:-]{1,100}`.
pub fn is_event_name(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b':' | b'-')
        })
}

/// `[A-Za-z0-9_.:-]{1,100}`.
pub fn is_agent_id(s: &str) -> bool {
    (1..=100).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime {
        clock::parse_rfc3339("2026-11-24T12:00:00Z").unwrap()
    }

    fn member() -> Source {
        Source::Member {
            user_id: "u1".into(),
        }
    }

    fn parse(body: &str) -> Result<Vec<TrackedEvent>, problem::Problem> {
        parse_track(body.as_bytes(), "01ORG", &member(), now()).map_err(Into::into)
    }

    #[test]
    fn duplicate_keys_and_trailing_bytes_are_refused_at_any_depth() {
        for body in [
            r#"{"name":"a","name":"b"}"#,
            r#"{"events":[{"name":"a"}],"events":[{"name":"b"}]}"#,
            r#"{"events":[{"name":"a","properties":{"tokens":1,"tokens":2}}]}"#,
            r#"{"name":"a"} {"name":"b"}"#,
            "{\"name\":\"a\"}\u{0}",
        ] {
            let problem = parse(body).unwrap_err();
            assert_eq!(
                (problem.status, problem.code.as_str()),
                (400, "invalid_body"),
                "{body}"
            );
        }
        let nested = parse(r#"{"name":"a","properties":{"x":[1,2.5,null,true,{"y":"z"}]}}"#);
        assert_eq!(nested.unwrap()[0].properties["x"][4]["y"], "z");
    }

    #[test]
    fn one_event_or_a_list() {
        let one = parse(r#"{"name":"message.sent","agent_id":"a1"}"#).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].timestamp, now());
        assert!(!one[0].client_id);
        assert!(ulid::Ulid::from_string(&one[0].id).is_ok());
        let list = parse(
            r#"{"events":[{"id":"e-1","name":"a","timestamp":"2026-11-24T11:00:00.123456Z","properties":{"response_time_ms":12.5,"error":false}},{"name":"b"}]}"#,
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0].id, "e-1");
        assert!(list[0].client_id);
        assert_eq!(
            clock::rfc3339(list[0].timestamp),
            "2026-11-24T11:00:00.123Z"
        );
        assert_eq!(list[0].measures().response_time_ms, Some(12.5));
    }

    #[test]
    fn every_bad_field_is_named() {
        let p = parse(
            r#"{"events":[{"name":"Bad Name"},{"name":"ok","timestamp":"2025-11-24T12:00:00Z"},{"name":"ok","properties":{"response_time_ms":"fast","input_tokens":-1,"error":"no","bytes":1.5}},{"name":"ok","agent_id":"a b","id":"x/y"}]}"#,
        )
        .unwrap_err();
        assert_eq!(p.status, 400);
        let fields: Vec<&str> = p.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "events[0].name",
                "events[1].timestamp",
                "events[2].properties.response_time_ms",
                "events[2].properties.input_tokens",
                "events[2].properties.error",
                "events[2].properties.bytes",
                "events[3].id",
                "events[3].agent_id",
            ]
        );
    }

    #[test]
    fn limits() {
        let many = format!(
            r#"{{"events":[{}]}}"#,
            vec![r#"{"name":"a"}"#; 101].join(",")
        );
        assert_eq!(parse(&many).unwrap_err().errors[0].field, "events");
        assert_eq!(parse(r#"{"events":[]}"#).unwrap_err().status, 400);
        let big = format!(
            r#"{{"name":"a","properties":{{"x":"{}"}}}}"#,
            "y".repeat(9 * 1024)
        );
        assert_eq!(parse(&big).unwrap_err().errors[0].field, "properties");
        assert_eq!(parse(r#"{"name":"a","extra":1}"#).unwrap_err().status, 400);
        assert_eq!(parse(r#"[{"name":"a"}]"#).unwrap_err().status, 400);
        assert_eq!(
            parse(r#"{"events":[{"name":"a"}],"x":1}"#)
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            parse(r#"{"events":[{"id":"same","name":"a"},{"id":"same","name":"b"}]}"#)
                .unwrap_err()
                .errors[0]
                .field,
            "events[1].id"
        );
        // Five minutes ahead is fine, six is not.
        assert!(parse(r#"{"name":"a","timestamp":"2026-11-24T12:05:00Z"}"#).is_ok());
        assert!(parse(r#"{"name":"a","timestamp":"2026-11-24T12:06:00Z"}"#).is_err());
    }

    #[test]
    fn queue_messages_are_checked_again() {
        let mut event = parse(r#"{"name":"a"}"#).unwrap().remove(0);
        assert!(event.check().is_ok());
        event.name = "NOT OK".into();
        assert!(event.check().is_err());
    }
}
