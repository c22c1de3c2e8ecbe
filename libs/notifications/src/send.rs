//! `POST /v1/notifications`: an owner or admin sends a notification to members. The request is
//! checked here (recipients are members now, text and data within their limits) and put on the
//! notifications queue as one message; the dispatcher delivers it.
//!
//! **Retries.** With an `Idempotency-Key`, the request is recorded (its id and time, not yet
//! sent) before the message goes out and marked sent after, so a retry after a failed or lost
//! send sends the *same* message again (the dispatcher stores nothing twice, since notification
//! ids come from the request id and time), and a retry after the send answers the first 202.

use auth::OrgMember;
use clock::{Clock, DateTime};
use notify::{Message, Notice, NotificationType, Queue, Recipients, Severity, Work};
use problem::{FieldError, Problem};
use serde::{Deserialize, Serialize};
use store::keys::{self, OrgId, UserId};
use store::{IdempotentRequest, ReplayError, ReplayScope, Store, StoreError};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

/// At most this many recipients by id (§4.5).
pub const MAX_USER_IDS: usize = 500;
/// `data`, as JSON, at most this many bytes (§4.5).
pub const MAX_DATA_BYTES: usize = 8 * 1024;

/// The body of `POST /v1/notifications`.
#[derive(Clone, Debug, Deserialize, Serialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendNotification {
    /// 1–500 distinct members of the organization; absent: every member (at delivery time).
    /// `null` is refused, so a client bug never broadcasts.
    #[serde(default, deserialize_with = "present")]
    #[schema(min_items = 1, max_items = 500)]
    pub user_ids: Option<Vec<String>>,
    /// `system`, `billing`, `agent`, `workflow`, `team` or `kb`.
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^(system|billing|agent|workflow|team|kb)$")]
    pub kind: NotificationType,
    /// `info`, `success`, `warning` or `error`.
    #[schema(value_type = String, pattern = "^(info|success|warning|error)$")]
    pub severity: Severity,
    /// 1–200 characters after trimming, something visible among them, no control or
    /// bidirectional control characters.
    #[validate(custom(function = "text::notification_title"))]
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub title: String,
    /// At most 4000 characters; tabs and line breaks allowed, other control characters not.
    #[validate(custom(function = "text::notification_body"))]
    #[schema(
        max_length = 4000,
        pattern = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F]*$"
    )]
    pub body: String,
    /// Any JSON object of at most 8 KiB (as compact JSON), shown to recipients as sent (numbers
    /// as 64-bit integers or doubles).
    #[validate(custom(function = "data_object"))]
    #[schema(value_type = Option<Object>)]
    pub data: Option<serde_json::Value>,
}

/// A field that, when given, is not `null`.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Vec::<String>::deserialize(d).map(Some)
}

fn data_object(data: &serde_json::Value) -> Result<(), ValidationError> {
    if !data.is_object() {
        return Err(ValidationError::new("not_object").with_message("must be a JSON object".into()));
    }
    if serde_json::to_vec(data).map_or(usize::MAX, |b| b.len()) > MAX_DATA_BYTES {
        return Err(ValidationError::new("too_large")
            .with_message(format!("must be at most {MAX_DATA_BYTES} bytes as JSON").into()));
    }
    Ok(())
}

/// `202 {request_id}`: the id every delivery of the request carries.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SendAccepted {
    pub request_id: String,
}

/// What an `Idempotency-Key` keeps: the request's id and time, and whether it was sent.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SendRecord {
    request_id: String,
    #[serde(with = "clock::serde_rfc3339")]
    requested_at: DateTime,
    sent: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SendError {
    #[error("invalid recipients")]
    Invalid(Vec<FieldError>),
    #[error("the Idempotency-Key was already used with a different request")]
    KeyReused,
    #[error("the notification could not be queued: {0}")]
    NotQueued(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<ReplayError> for SendError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::KeyReused => SendError::KeyReused,
            ReplayError::Store(e) => SendError::Store(e),
        }
    }
}

impl From<SendError> for Problem {
    fn from(e: SendError) -> Self {
        match e {
            SendError::Invalid(errors) => Problem::validation(errors),
            SendError::KeyReused => Problem::conflict("idempotency_key_reused", e.to_string()),
            SendError::NotQueued(reason) => {
                tracing::error!(%reason, "a notification request was not queued");
                Problem::unavailable("the notification could not be queued; retry")
            }
            SendError::Store(e) => e.into(),
        }
    }
}

/// Sends notifications to members. Built once per cold start.
#[derive(Clone)]
pub struct Sender {
    store: Store,
    queue: Queue,
    clock: Clock,
}

impl Sender {
    pub fn new(store: Store, queue: Queue, clock: Clock) -> Self {
        Self {
            store,
            queue,
            clock,
        }
    }

    /// Checks `request`'s recipients and queues it; the caller's role was checked by the route.
    pub async fn send(
        &self,
        member: &OrgMember,
        idempotency_key: Option<&str>,
        request: SendNotification,
    ) -> Result<SendAccepted, SendError> {
        let now = self.clock.now();
        let replay = match idempotency_key {
            None => None,
            Some(key) => {
                let fingerprint = serde_json::to_vec(&request).map_err(|e| {
                    SendError::Store(StoreError::Internal(format!("request fingerprint: {e}")))
                })?;
                let replay = IdempotentRequest::new(
                    ReplayScope {
                        org: Some(OrgId(&member.org_id)),
                        caller: UserId(member.user_id()),
                    },
                    key,
                    "send-notification",
                    &fingerprint,
                    now.unix_timestamp(),
                );
                match replay.find::<SendRecord>(&self.store).await? {
                    // Sent: the first answer, whatever changed since.
                    Some(record) if record.sent => {
                        return Ok(SendAccepted {
                            request_id: record.request_id,
                        });
                    }
                    found => Some((key, replay, found)),
                }
            }
        };
        // Checked once: a retry of a request recorded before its send sends what was checked
        // then (the dispatcher checks membership again when it delivers).
        let recipients = match (&request.user_ids, &replay) {
            (None, _) => Recipients::AllMembers,
            (Some(ids), Some((_, _, Some(_)))) => Recipients::Users(ids.clone()),
            (Some(ids), _) => Recipients::Users(self.members_named(&member.org_id, ids).await?),
        };
        let Some((key, replay, found)) = replay else {
            let record = SendRecord {
                request_id: request_id(now, ulid::Ulid::generate().random()),
                requested_at: now,
                sent: false,
            };
            self.queue_message(member, &record, recipients, &request)
                .await?;
            return Ok(SendAccepted {
                request_id: record.request_id,
            });
        };
        let record = match found {
            Some(record) => record,
            None => {
                // Random bits derived from the organization, the caller and the key; of two
                // racing first attempts, the one recorded first is what both send.
                let derived = keys::digest(
                    format!("{}\n{}\n{key}", member.org_id, member.user_id()).as_bytes(),
                );
                let random = u128::from_str_radix(&derived[..20], 16).expect("hex digits");
                let first = SendRecord {
                    request_id: request_id(now, random),
                    requested_at: now,
                    sent: false,
                };
                replay.save(&self.store, first).await?
            }
        };
        if !record.sent {
            self.queue_message(member, &record, recipients, &request)
                .await?;
            let sent = SendRecord {
                sent: true,
                ..record.clone()
            };
            // Queued already: a failure here only means a retry sends it again (once more,
            // which the dispatcher drops), so the answer is still 202.
            if let Err(error) = replay.overwrite(&self.store, &sent).await {
                tracing::warn!(%error, request_id = %record.request_id, "send not marked sent");
            }
        }
        Ok(SendAccepted {
            request_id: record.request_id,
        })
    }

    async fn queue_message(
        &self,
        member: &OrgMember,
        record: &SendRecord,
        recipients: Recipients,
        request: &SendNotification,
    ) -> Result<(), SendError> {
        let message = Message {
            id: record.request_id.clone(),
            org_id: member.org_id.clone(),
            requested_at: record.requested_at,
            work: Work::Notify {
                recipients,
                notice: Notice {
                    kind: request.kind,
                    severity: request.severity,
                    title: request.title.trim().to_owned(),
                    body: request.body.clone(),
                    data: request
                        .data
                        .clone()
                        .unwrap_or_else(|| serde_json::json!({})),
                    email_only: false,
                },
            },
        };
        // Long ids, escaped, can outgrow one SQS message: the request's fault, said so.
        if serde_json::to_vec(&message).map_or(0, |b| b.len()) > notify::MAX_BODY_BYTES {
            return Err(SendError::Invalid(vec![FieldError::new(
                "user_ids",
                "the request is too large for one message: send it in parts",
            )]));
        }
        match self.queue.send_all(&[message]).await.pop() {
            None => Ok(()),
            Some((_, reason)) => Err(SendError::NotQueued(reason)),
        }
    }

    /// `ids` if they are 1–500 distinct members of `org`, else a field error per bad id.
    async fn members_named(&self, org: &str, ids: &[String]) -> Result<Vec<String>, SendError> {
        if ids.is_empty() || ids.len() > MAX_USER_IDS {
            return Err(SendError::Invalid(vec![FieldError::new(
                "user_ids",
                format!("must name 1-{MAX_USER_IDS} members (leave it out for every member)"),
            )]));
        }
        let mut errors = Vec::new();
        let mut first_at = std::collections::HashMap::new();
        let mut to_check = Vec::new();
        for (i, id) in ids.iter().enumerate() {
            if let Some(first) = first_at.get(id.as_str()) {
                errors.push((i, format!("repeats user_ids[{first}]")));
            } else if !auth::is_usable_user_id(id) {
                // Could name no member (and must not reach a key).
                errors.push((i, "is not a member of this organization".to_owned()));
            } else {
                first_at.insert(id.as_str(), i);
                to_check.push((i, id.as_str()));
            }
        }
        for chunk in to_check.chunks(100) {
            let keys: Vec<_> = chunk
                .iter()
                .map(|(_, id)| keys::org_member(OrgId(org), UserId(id)))
                .collect();
            let found = self.store.batch_get(&keys).await?;
            for ((i, _), item) in chunk.iter().zip(found) {
                if item.is_none() {
                    errors.push((*i, "is not a member of this organization".to_owned()));
                }
            }
        }
        if errors.is_empty() {
            return Ok(ids.to_vec());
        }
        errors.sort_by_key(|(i, _)| *i);
        Err(SendError::Invalid(
            errors
                .into_iter()
                .map(|(i, message)| FieldError::new(format!("user_ids[{i}]"), message))
                .collect(),
        ))
    }
}

/// A ULID of `at` with 80 bits of `random`.
fn request_id(at: DateTime, random: u128) -> String {
    let ms = u64::try_from((at.unix_timestamp_nanos() / 1_000_000).max(0)).unwrap_or(0);
    ulid::Ulid::from_parts(ms, random & ((1u128 << 80) - 1)).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: serde_json::Value) -> Result<SendNotification, String> {
        let request: SendNotification = serde_json::from_value(body).map_err(|e| e.to_string())?;
        request.validate().map_err(|e| e.to_string())?;
        Ok(request)
    }

    #[test]
    fn bodies_follow_the_brief() {
        let ok =
            serde_json::json!({"type": "agent", "severity": "info", "title": "Hi", "body": ""});
        assert!(parse(ok.clone()).is_ok());
        let with = |field: &str, value: serde_json::Value| {
            let mut body = ok.clone();
            body[field] = value;
            parse(body)
        };
        assert!(with("title", "x".repeat(200).into()).is_ok());
        assert!(with("title", "x".repeat(201).into()).is_err());
        assert!(with("title", " \u{200B} ".into()).is_err());
        assert!(with("body", "line\nline".into()).is_ok());
        assert!(with("body", "x".repeat(4001).into()).is_err());
        assert!(with("body", "bell\u{7}".into()).is_err());
        assert!(with("type", "news".into()).is_err());
        assert!(with("severity", "fatal".into()).is_err());
        assert!(with("data", serde_json::json!({"a": 1})).is_ok());
        assert!(with("data", serde_json::json!([1])).is_err());
        assert!(with("data", serde_json::json!("x")).is_err());
        assert!(with("data", serde_json::json!({"a": "x".repeat(8200)})).is_err());
        assert!(with("extra", serde_json::json!(1)).is_err());
        // `null` data is no data; `null` recipients are refused (never "everyone" by accident).
        assert_eq!(with("data", serde_json::Value::Null).unwrap().data, None);
        assert!(with("user_ids", serde_json::Value::Null).is_err());
        assert!(with("user_ids", serde_json::json!(["a"])).is_ok());
    }

    #[test]
    fn request_ids_are_ulids_of_their_time() {
        let at = clock::parse_rfc3339("2026-12-02T08:00:00Z").unwrap();
        let id = request_id(at, u128::MAX);
        let ulid = ulid::Ulid::from_string(&id).unwrap();
        assert_eq!(
            ulid.timestamp_ms() as i128,
            at.unix_timestamp_nanos() / 1_000_000
        );
        assert_eq!(id, request_id(at, u128::MAX), "the same parts, the same id");
    }
}
