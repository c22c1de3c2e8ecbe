//! Sending tracked events to the aggregator's queue: one message per event (so a bad one fails
//! alone), packed into `SendMessageBatch` calls of at most 10 entries and 256 KiB, sent
//! concurrently. Entries SQS refuses for its own reasons are retried; what still fails is
//! reported by id, never dropped in silence.

use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use tokio::task::JoinSet;

use crate::event::TrackedEvent;

/// SQS's limits for one `SendMessageBatch` call.
const MAX_ENTRIES: usize = 10;
const MAX_BATCH_BYTES: usize = 256 * 1024;
/// Attempts per entry for failures that are SQS's own (throttling, internal errors).
const ATTEMPTS: u32 = 3;

#[derive(Clone)]
pub struct EventQueue {
    client: aws_sdk_sqs::Client,
    url: String,
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
        Self {
            client,
            url: url.into(),
        }
    }

    /// Queues every event; `Ok` only when SQS accepted all of them.
    pub async fn send(&self, events: &[TrackedEvent]) -> Result<(), NotQueued> {
        let mut messages = Vec::with_capacity(events.len());
        for event in events {
            match serde_json::to_string(event) {
                Ok(body) => messages.push((event.id.clone(), body)),
                Err(error) => {
                    tracing::error!(%error, "a tracked event did not serialize");
                    return Err(NotQueued {
                        not_queued: events.iter().map(|e| e.id.clone()).collect(),
                    });
                }
            }
        }
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
                        not_queued: events.iter().map(|e| e.id.clone()).collect(),
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
    async fn send_batch(&self, mut batch: Vec<(String, String)>) -> Vec<String> {
        for attempt in 0..ATTEMPTS {
            let entries: Vec<SendMessageBatchRequestEntry> = batch
                .iter()
                .enumerate()
                .filter_map(|(i, (_, body))| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .ok()
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
                                return vec![batch[index].0.clone()];
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
        batch.into_iter().map(|(id, _)| id).collect()
    }
}

/// Groups messages, in order, into batches within SQS's entry and size limits.
fn pack(messages: Vec<(String, String)>) -> Vec<Vec<(String, String)>> {
    let mut batches: Vec<Vec<(String, String)>> = Vec::new();
    let mut size = 0;
    for message in messages {
        let fits = batches
            .last()
            .is_some_and(|b| b.len() < MAX_ENTRIES && size + message.1.len() <= MAX_BATCH_BYTES);
        if !fits {
            batches.push(Vec::new());
            size = 0;
        }
        size += message.1.len();
        batches.last_mut().expect("just pushed").push(message);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_respect_entry_and_size_limits() {
        let small: Vec<(String, String)> =
            (0..25).map(|i| (i.to_string(), "x".repeat(100))).collect();
        let sizes: Vec<usize> = pack(small).iter().map(Vec::len).collect();
        assert_eq!(sizes, [10, 10, 5]);
        // 9 KiB bodies: 28 fit in 256 KiB, but 10 entries come first.
        let big: Vec<(String, String)> = (0..30)
            .map(|i| (i.to_string(), "x".repeat(9 * 1024)))
            .collect();
        assert_eq!(
            pack(big).iter().map(Vec::len).collect::<Vec<_>>(),
            [10, 10, 10]
        );
        let huge: Vec<(String, String)> = (0..4)
            .map(|i| (i.to_string(), "x".repeat(100 * 1024)))
            .collect();
        let batches = pack(huge);
        assert_eq!(batches.iter().map(Vec::len).collect::<Vec<_>>(), [2, 2]);
        for b in batches {
            assert!(b.iter().map(|m| m.1.len()).sum::<usize>() <= MAX_BATCH_BYTES);
        }
    }
}
