//! Sending tracked events to the aggregator's queue: a track request's events travel together,
//! as many to a message as fit in SQS's 256 KiB ([`EventBatch`]), so a request of 100 small
//! events is one message, and the aggregator's batch of 10 messages holds up to 1,000 events
//! whose counters it updates once. Messages are packed into `SendMessageBatch` calls of at most
//! 10 entries and 256 KiB, sent concurrently. Entries SQS refuses for its own reasons are
//! retried; what still fails is reported by event id, never dropped in silence.
//!
//! The queue is FIFO (its URL ends in `.fifo`): an organization is one message group, so its
//! messages reach one aggregator at a time, in order, which is what lets the aggregator count
//! exactly once without transactions (see [`crate::aggregator`]). Each message has its own
//! deduplication id, kept across this module's retries, so SQS drops a retried send that had in
//! fact arrived.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use serde::{Deserialize, Serialize};
use tokio::task::JoinSet;

use crate::event::TrackedEvent;

/// SQS's limits for one `SendMessageBatch` call, and for one message.
const MAX_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;
const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The body of one message: events of one track request (one organization).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<TrackedEvent>,
}

/// A message to send: its body, the ids of the events it carries, its message group (the
/// organization) and its deduplication id.
#[derive(Clone, Debug)]
struct Outgoing {
    ids: Vec<String>,
    body: String,
    group: String,
    deduplication_id: String,
}
/// Attempts per entry for failures that are SQS's own (throttling, internal errors).
const ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct EventQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    fifo: bool,
}

/// Some events were not accepted by SQS.
#[derive(Debug, thiserror::Error)]
#[error("{} event(s) were not queued", .not_queued.len())]
pub struct NotQueued {
    /// Ids of the events SQS did not accept.
    pub not_queued: Vec<String>,
}

impl EventQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        let url = url.into();
        Self {
            client,
            fifo: url.ends_with(".fifo"),
            url,
        }
    }

    /// Queues every event; `Ok` only when SQS accepted all of them.
    pub async fn send(&self, events: &[TrackedEvent]) -> Result<(), NotQueued> {
        let all_ids = || events.iter().map(|e| e.id.clone()).collect::<Vec<_>>();
        let mut bodies = Vec::with_capacity(events.len());
        for event in events {
            match serde_json::to_string(event) {
                Ok(body) => bodies.push(Body {
                    id: event.id.clone(),
                    group: event.org_id.clone(),
                    json: body,
                }),
                Err(error) => {
                    tracing::error!(%error, "a tracked event did not serialize");
                    return Err(NotQueued {
                        not_queued: all_ids(),
                    });
                }
            }
        }
        let Some(messages) = messages_of(bodies) else {
            tracing::error!("a tracked event does not fit in a message");
            return Err(NotQueued {
                not_queued: all_ids(),
            });
        };
        let mut calls = JoinSet::new();
        for batch in pack(messages) {
            let queue = self.clone();
            calls.spawn(async move { queue.send_batch(batch).await });
        }
        let mut not_queued = Vec::new();
        while let Some(result) = calls.join_next().await {
            match result {
                Ok(failed) => not_queued.extend(failed),
                Err(error) => {
                    tracing::error!(%error, "a queue call did not finish");
                    return Err(NotQueued {
                        not_queued: all_ids(),
                    });
                }
            }
        }
        match not_queued.is_empty() {
            true => Ok(()),
            false => Err(NotQueued { not_queued }),
        }
    }

    /// Sends one packed batch, retrying what SQS failed on its side; answers the ids not sent.
    async fn send_batch(&self, mut batch: Vec<Outgoing>) -> Vec<String> {
        for attempt in 0..ATTEMPTS {
            let entries: Vec<SendMessageBatchRequestEntry> = batch
                .iter()
                .enumerate()
                .filter_map(|(i, message)| {
                    let entry = SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(&message.body);
                    let entry = match self.fifo {
                        true => entry
                            .message_group_id(&message.group)
                            .message_deduplication_id(&message.deduplication_id),
                        false => entry,
                    };
                    entry.build().ok()
                })
                .collect();
            let output = self
                .client
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await;
            let retry: Vec<usize> = match output {
                Ok(output) => {
                    let mut retry = Vec::new();
                    for failure in output.failed() {
                        let index: Option<usize> = failure.id().parse().ok();
                        tracing::warn!(
                            code = failure.code(),
                            message = failure.message(),
                            sender_fault = failure.sender_fault(),
                            "SQS refused a tracked event"
                        );
                        if let Some(index) = index.filter(|i| *i < batch.len()) {
                            if failure.sender_fault() {
                                // Our request was wrong; sending it again will not help.
                                return batch[index].ids.clone();
                            }
                            retry.push(index);
                        }
                    }
                    retry
                }
                Err(error) => {
                    tracing::warn!(error = %aws_sdk_sqs::error::DisplayErrorContext(&error), attempt, "SendMessageBatch failed");
                    (0..batch.len()).collect()
                }
            };
            if retry.is_empty() {
                return Vec::new();
            }
            batch = retry.into_iter().map(|i| batch[i].clone()).collect();
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
        batch.into_iter().flat_map(|m| m.ids).collect()
    }
}

/// One event's JSON, with its id and organization.
struct Body {
    id: String,
    group: String,
    json: String,
}

/// Groups events, in order, into message bodies of at most [`MAX_MESSAGE_BYTES`], one
/// organization to a message; `None` when an event alone does not fit (the track route's limits
/// keep events far below it).
fn messages_of(events: Vec<Body>) -> Option<Vec<Outgoing>> {
    // `{"events":[` + `]}` around the events, joined by commas.
    const FRAME: usize = r#"{"events":[]}"#.len();
    struct Open {
        group: String,
        ids: Vec<String>,
        bodies: Vec<String>,
        size: usize,
    }
    let mut messages: Vec<Open> = Vec::new();
    for event in events {
        if FRAME + event.json.len() > MAX_MESSAGE_BYTES {
            return None;
        }
        let fits = messages.last().is_some_and(|m| {
            m.group == event.group && m.size + 1 + event.json.len() <= MAX_MESSAGE_BYTES
        });
        if !fits {
            messages.push(Open {
                group: event.group.clone(),
                ids: Vec::new(),
                bodies: Vec::new(),
                size: FRAME - 1,
            });
        }
        let open = messages.last_mut().expect("just pushed");
        open.size += 1 + event.json.len();
        open.ids.push(event.id);
        open.bodies.push(event.json);
    }
    Some(
        messages
            .into_iter()
            .map(|m| Outgoing {
                ids: m.ids,
                body: format!(r#"{{"events":[{}]}}"#, m.bodies.join(",")),
                group: m.group,
                deduplication_id: ulid::Ulid::generate().to_string(),
            })
            .collect(),
    )
}

/// Groups messages, in order, into batches within SQS's entry and size limits.
fn pack(messages: Vec<Outgoing>) -> Vec<Vec<Outgoing>> {
    let mut batches: Vec<Vec<Outgoing>> = Vec::new();
    let mut size = 0;
    for message in messages {
        let fits = batches
            .last()
            .is_some_and(|b| b.len() < MAX_ENTRIES && size + message.body.len() <= MAX_BATCH_BYTES);
        if !fits {
            batches.push(Vec::new());
            size = 0;
        }
        size += message.body.len();
        batches.last_mut().expect("just pushed").push(message);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outgoing(n: usize, size: usize) -> Vec<Outgoing> {
        (0..n)
            .map(|i| Outgoing {
                ids: vec![i.to_string()],
                body: "x".repeat(size),
                group: "org".into(),
                deduplication_id: i.to_string(),
            })
            .collect()
    }

    #[test]
    fn batches_respect_entry_and_size_limits() {
        let sizes: Vec<usize> = pack(outgoing(25, 100)).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        // 9 KiB bodies: 28 fit in 256 KiB, but 10 entries come first.
        let lens: Vec<usize> = pack(outgoing(30, 9 * 1024)).iter().map(Vec::len).collect();
        assert_eq!(lens, [10, 10, 10]);
        let batches = pack(outgoing(4, 100 * 1024));
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        for b in batches {
            assert!(b.iter().map(|m| m.body.len()).sum::<usize>() <= MAX_BATCH_BYTES);
        }
    }

    #[test]
    fn a_request_is_one_message_until_it_outgrows_256_kib() {
        let body = |id: String, group: &str, json: String| Body {
            id,
            group: group.into(),
            json,
        };
        let small: Vec<Body> = (0..100)
            .map(|i| body(i.to_string(), "org", format!(r#"{{"n":{i}}}"#)))
            .collect();
        let messages = messages_of(small).unwrap();
        assert_eq!(messages.len(), 1);
        let batch: serde_json::Value = serde_json::from_str(&messages[0].body).unwrap();
        assert_eq!(batch["events"].as_array().unwrap().len(), 100);
        assert_eq!(messages[0].ids.len(), 100);
        // 100 events of 9 KiB: split in order, each message within the limit, every id once.
        let big: Vec<Body> = (0..100)
            .map(|i| {
                body(
                    i.to_string(),
                    "org",
                    format!(r#""{}""#, "y".repeat(9 * 1024)),
                )
            })
            .collect();
        let messages = messages_of(big).unwrap();
        assert!(messages.len() > 1);
        let ids: Vec<String> = messages.iter().flat_map(|m| m.ids.clone()).collect();
        assert_eq!(ids, (0..100).map(|i| i.to_string()).collect::<Vec<_>>());
        for m in &messages {
            assert!(m.body.len() <= MAX_MESSAGE_BYTES);
            let batch: serde_json::Value = serde_json::from_str(&m.body).unwrap();
            assert_eq!(batch["events"].as_array().unwrap().len(), m.ids.len());
        }
        let dedup: std::collections::HashSet<&str> = messages
            .iter()
            .map(|m| m.deduplication_id.as_str())
            .collect();
        assert_eq!(
            dedup.len(),
            messages.len(),
            "one deduplication id per message"
        );
        assert!(
            messages_of(vec![body("x".into(), "org", "z".repeat(MAX_MESSAGE_BYTES))]).is_none()
        );
        // Two organizations never share a message: each is its own message group.
        let mixed = vec![
            body("1".into(), "a", "1".into()),
            body("2".into(), "b", "2".into()),
            body("3".into(), "b", "3".into()),
        ];
        let groups: Vec<(String, Vec<String>)> = messages_of(mixed)
            .unwrap()
            .into_iter()
            .map(|m| (m.group, m.ids))
            .collect();
        assert_eq!(
            groups,
            [
                ("a".into(), vec!["1".into()]),
                ("b".into(), vec!["2".into(), "3".into()])
            ]
        );
    }
}
