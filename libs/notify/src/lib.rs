//! The contracts of the notifications queue (what a [`Message`] asks the notifications
//! dispatcher to do) and of the email queue (an [`EmailJob`]: one email for one recipient, which
//! the email consumer sends), and the one sender that puts messages on either ([`Queue`]).
//!
//! Changes never send here themselves: they record an outbox item in their own transaction, and
//! the outbox relay turns it into a [`Message`]. Every delivery of one request carries the same
//! [`Message::id`], so the dispatcher drops the copies at-least-once delivery brings.

use std::time::Duration;

use aws_sdk_sqs::types::{MessageAttributeValue, SendMessageBatchRequestEntry};
use clock::DateTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    System,
    Billing,
    Agent,
    Workflow,
    Team,
    Kb,
}

impl NotificationType {
    /// The type as the API and the stored flags name it (`billing`, `kb`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            NotificationType::System => "system",
            NotificationType::Billing => "billing",
            NotificationType::Agent => "agent",
            NotificationType::Workflow => "workflow",
            NotificationType::Team => "team",
            NotificationType::Kb => "kb",
        }
    }

    /// Every type, in the order the API lists them.
    pub const ALL: [NotificationType; 6] = [
        NotificationType::System,
        NotificationType::Billing,
        NotificationType::Agent,
        NotificationType::Workflow,
        NotificationType::Team,
        NotificationType::Kb,
    ];
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Success,
    Warning,
    Error,
}

/// A role, as recipients name it (the dispatcher resolves roles to members when it delivers).
pub use auth::Role;

/// Who a notification goes to, resolved when it is delivered (members change meanwhile).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Recipients {
    /// These users (user ids), whether or not they are still members.
    Users(Vec<String>),
    /// The organization's members holding one of these roles.
    Roles(Vec<Role>),
    /// Every member of the organization.
    AllMembers,
}

/// A notification to send, as the change describes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Notice {
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub data: serde_json::Value,
    /// Only by email (a removed member can no longer read the organization in the app).
    #[serde(default)]
    pub email_only: bool,
}

/// What a message asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Work {
    Notify {
        recipients: Recipients,
        notice: Notice,
    },
    /// Close a user's WebSocket connections in the organization (they were removed).
    CloseConnections { user_id: String },
    /// Stamp `read_at` on the user's notifications a mark-all-read covered: sequences above
    /// `after` (the watermark before it) up to `up_to` (the one it set).
    StampRead {
        user_id: String,
        after: i64,
        up_to: i64,
        #[serde(with = "clock::serde_rfc3339")]
        read_at: DateTime,
    },
    /// The user's read state changed (on any device, over REST or a socket): their open
    /// connections follow, each frame with the counter as the change left it.
    ReadState {
        user_id: String,
        change: ReadChange,
        /// The unread count and its version after the change.
        count: i64,
        version: i64,
        /// The connection the change came from (it has its answer already).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        origin_connection: Option<String>,
    },
}

/// A change of a user's read state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ReadChange {
    /// One notification was read.
    Read {
        id: String,
        #[serde(with = "clock::serde_rfc3339")]
        read_at: DateTime,
    },
    /// Every notification up to then was read (mark-all-read).
    ReadAll {
        #[serde(with = "clock::serde_rfc3339")]
        read_at: DateTime,
    },
    Deleted {
        id: String,
    },
}

/// One message on the notifications queue (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// The same on every delivery of one request: the dispatcher stores and sends it once.
    pub id: String,
    pub org_id: String,
    #[serde(with = "clock::serde_rfc3339")]
    pub requested_at: DateTime,
    #[serde(flatten)]
    pub work: Work,
}

/// One email to send: a notification for one recipient, put on the email queue by the
/// dispatcher after it recorded the delivery (`pending`) the consumer claims.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EmailJob {
    pub org_id: String,
    /// The send request (or outbox notice) it belongs to: [`Message::id`].
    pub request_id: String,
    pub user_id: String,
    /// The in-app notification beside it, when one was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    #[serde(with = "clock::serde_rfc3339")]
    pub requested_at: DateTime,
    pub notice: Notice,
}

/// Something a [`Queue`] carries: JSON, with an id for the message attribute.
pub trait Queued: Serialize {
    /// What the [`ID_ATTRIBUTE`] carries and failures name.
    fn queue_id(&self) -> &str;
}

impl Queued for Message {
    fn queue_id(&self) -> &str {
        &self.id
    }
}

impl Queued for EmailJob {
    fn queue_id(&self) -> &str {
        &self.request_id
    }
}

/// The message attribute carrying [`Message::id`] (or [`EmailJob::request_id`]), for consumers
/// that look before parsing.
pub const ID_ATTRIBUTE: &str = "message_id";

/// SQS takes at most 10 messages and 256 KiB per `SendMessageBatch` (bodies and attributes).
const BATCH_ENTRIES: usize = 10;
const BATCH_BYTES: usize = 256 * 1024;
/// What an entry adds beside its body: the id attribute's name, type and value (a message id is
/// at most 64 characters), with room to spare.
const ENTRY_OVERHEAD: usize = 256;
/// The largest body [`Queue::send_all`] can send.
pub const MAX_BODY_BYTES: usize = BATCH_BYTES - ENTRY_OVERHEAD;
/// Entries SQS refuses for reasons of its own (not the message's fault) are sent again this
/// many times; the SDK already retries whole calls that fail.
const ENTRY_ATTEMPTS: u32 = 3;

/// Puts messages on one queue (the notifications queue, or the email queue). Built once per cold
/// start.
#[derive(Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Queue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    /// Sends every message, in batches, retrying what SQS refuses for a transient reason.
    /// Answers the ids of the messages that could not be sent, each with the reason.
    pub async fn send_all<M: Queued>(&self, messages: &[M]) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        let mut batch: Vec<(&M, String)> = Vec::new();
        let mut batch_bytes = 0;
        for message in messages {
            let body = match serde_json::to_string(message) {
                Ok(body) if body.len() <= MAX_BODY_BYTES => body,
                Ok(body) => {
                    let reason = format!("{} bytes: more than SQS takes", body.len());
                    failed.push((message.queue_id().to_owned(), reason));
                    continue;
                }
                Err(e) => {
                    failed.push((message.queue_id().to_owned(), e.to_string()));
                    continue;
                }
            };
            let bytes = body.len() + ENTRY_OVERHEAD;
            if batch.len() == BATCH_ENTRIES || batch_bytes + bytes > BATCH_BYTES {
                failed.extend(self.send_batch(std::mem::take(&mut batch)).await);
                batch_bytes = 0;
            }
            batch_bytes += bytes;
            batch.push((message, body));
        }
        if !batch.is_empty() {
            failed.extend(self.send_batch(batch).await);
        }
        failed
    }

    async fn send_batch<M: Queued>(&self, mut pending: Vec<(&M, String)>) -> Vec<(String, String)> {
        let mut failed = Vec::new();
        for attempt in 1..=ENTRY_ATTEMPTS {
            let entries = pending.iter().enumerate().map(|(i, (message, body))| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .message_attributes(
                        ID_ATTRIBUTE,
                        MessageAttributeValue::builder()
                            .data_type("String")
                            .string_value(message.queue_id())
                            .build()
                            .expect("data type is set"),
                    )
                    .build()
                    .expect("id and body are set")
            });
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.queue_url)
                .set_entries(Some(entries.collect()))
                .send()
                .await;
            let refused = match output {
                Ok(output) => output.failed,
                Err(error) => {
                    // The SDK's own retries are spent: every entry failed.
                    let reason = aws_sdk_sqs::error::DisplayErrorContext(error).to_string();
                    failed.extend(
                        pending
                            .iter()
                            .map(|(m, _)| (m.queue_id().to_owned(), reason.clone())),
                    );
                    return failed;
                }
            };
            let mut again = Vec::new();
            for entry in refused {
                let Some((message, body)) =
                    entry.id.parse::<usize>().ok().and_then(|i| pending.get(i))
                else {
                    continue;
                };
                let reason = format!("{}: {}", entry.code, entry.message.unwrap_or_default());
                if entry.sender_fault || attempt == ENTRY_ATTEMPTS {
                    failed.push((message.queue_id().to_owned(), reason));
                } else {
                    again.push((*message, body.clone()));
                }
            }
            if again.is_empty() {
                break;
            }
            pending = again;
            tokio::time::sleep(Duration::from_millis(50 << attempt)).await;
        }
        failed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_travel_as_flat_typed_json() {
        let message = Message {
            id: "d1".into(),
            org_id: "o1".into(),
            requested_at: clock::parse_rfc3339("2026-11-24T10:00:00Z").unwrap(),
            work: Work::Notify {
                recipients: Recipients::Roles(vec![Role::Owner, Role::Admin]),
                notice: Notice {
                    kind: NotificationType::Team,
                    severity: Severity::Info,
                    title: "Role changed".into(),
                    body: "You are now admin".into(),
                    data: serde_json::json!({"role": "admin"}),
                    email_only: false,
                },
            },
        };
        let json: serde_json::Value = serde_json::to_value(&message).unwrap();
        assert_eq!(json["kind"], "notify");
        assert_eq!(
            json["recipients"],
            serde_json::json!({"kind": "roles", "value": ["owner", "admin"]})
        );
        assert_eq!(json["notice"]["type"], "team");
        assert_eq!(json["notice"]["severity"], "info");
        assert_eq!(json["requested_at"], "2026-11-24T10:00:00.000Z");
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), message);
        let close = Message {
            work: Work::CloseConnections {
                user_id: "bo".into(),
            },
            ..message
        };
        let json = serde_json::to_value(&close).unwrap();
        assert_eq!(json["kind"], "close_connections");
        assert_eq!(json["user_id"], "bo");
        assert_eq!(serde_json::from_value::<Message>(json).unwrap(), close);
    }
}
