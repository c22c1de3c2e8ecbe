//! The dispatcher's handler: an SQS batch of the notifications queue in, the failed message ids
//! out (partial batch response), everything else in libs/notifications.

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use notifications::{Dispatcher, QueuedMessage};

/// Delivers one batch; a malformed or undelivered message is reported alone, so SQS retries
/// only it (and moves it to the dead-letter queue after the queue's `maxReceiveCount`).
pub async fn handle(dispatcher: &Dispatcher, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    let mut messages = Vec::with_capacity(event.records.len());
    for record in event.records {
        match (record.message_id, record.body) {
            (Some(message_id), Some(body)) => messages.push(QueuedMessage { message_id, body }),
            (Some(message_id), None) => failures.push(message_id),
            // Without an id a record cannot be reported; Lambda would retry the whole batch.
            (None, _) => tracing::error!("an SQS record without a message id"),
        }
    }
    let outcome = dispatcher.process(messages).await;
    tracing::info!(
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        muted = outcome.muted,
        not_members = outcome.not_members,
        emails_wanted = outcome.emails_wanted,
        requeued = outcome.requeued,
        stamped = outcome.stamped,
        expired = outcome.expired,
        redelivered = outcome.redelivered,
        pushed = outcome.pushed.sent,
        push_gone = outcome.pushed.gone,
        push_failed = outcome.pushed.failed,
        closed = outcome.closed,
        failed = outcome.failed.len() + failures.len(),
        "batch dispatched"
    );
    failures.extend(outcome.failed);
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = failures
        .into_iter()
        .map(|id| {
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = id;
            failure
        })
        .collect();
    response
}
