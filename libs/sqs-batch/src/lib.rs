//! The shell every SQS consumer shares: a Lambda SQS event in, its messages out, and the
//! partial batch response that names the messages to deliver again.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// One message of a batch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// SQS's id, which the partial batch response names.
    pub message_id: String,
    pub body: String,
    /// What `ChangeMessageVisibility` takes (to bring a message back later than the queue's
    /// visibility timeout would).
    pub receipt_handle: Option<String>,
    /// How often SQS has handed this message out, this time included (1 the first time).
    pub receive_count: u32,
}

/// The messages of `event`, and the ids of those that cannot be handled (no body): they fail
/// alone, so SQS delivers them again and then moves them to the dead-letter queue.
pub fn messages(event: SqsEvent) -> (Vec<Received>, Vec<String>) {
    let mut failed = Vec::new();
    let mut messages = Vec::with_capacity(event.records.len());
    for record in event.records {
        let receive_count = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|n| n.parse().ok())
            .unwrap_or(1);
        match (record.message_id, record.body) {
            (Some(message_id), Some(body)) => messages.push(Received {
                message_id,
                body,
                receipt_handle: record.receipt_handle,
                receive_count,
            }),
            (Some(message_id), None) => failed.push(message_id),
            // Without an id a record cannot be reported; Lambda would retry the whole batch.
            (None, _) => tracing::error!("an SQS record without a message id"),
        }
    }
    (messages, failed)
}

/// The partial batch response naming `failed` (SQS message ids).
pub fn response(failed: impl IntoIterator<Item = String>) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failed
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_become_messages_and_failures_a_response() {
        let event: SqsEvent = serde_json_event();
        let (messages, failed) = messages(event);
        assert_eq!(failed, ["m2"]);
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0].message_id, "m1");
        assert_eq!(messages[0].body, "{}");
        assert_eq!(messages[0].receive_count, 3);
        assert_eq!(messages[0].receipt_handle.as_deref(), Some("rh1"));
        let response = response(failed);
        assert_eq!(response.batch_item_failures[0].item_identifier, "m2");
    }

    fn serde_json_event() -> SqsEvent {
        let mut first = aws_lambda_events::sqs::SqsMessage::default();
        first.message_id = Some("m1".into());
        first.body = Some("{}".into());
        first.receipt_handle = Some("rh1".into());
        first
            .attributes
            .insert("ApproximateReceiveCount".into(), "3".into());
        let mut second = aws_lambda_events::sqs::SqsMessage::default();
        second.message_id = Some("m2".into());
        let mut event = SqsEvent::default();
        event.records = vec![first, second];
        event
    }
}
