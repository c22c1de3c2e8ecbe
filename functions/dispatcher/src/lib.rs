//! The dispatcher's handler: an SQS batch of the notifications queue in, the failed message ids
//! out (partial batch response), everything else in libs/notifications.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use notifications::{Dispatcher, QueuedMessage};

/// Delivers one batch; a malformed or undelivered message is reported alone, so SQS retries
/// only it (and moves it to the dead-letter queue after the queue's `maxReceiveCount`).
pub async fn handle(dispatcher: &Dispatcher, event: SqsEvent) -> SqsBatchResponse {
    let (received, mut failures) = sqs_batch::messages(event);
    let messages = received
        .into_iter()
        .map(|m| QueuedMessage {
            message_id: m.message_id,
            body: m.body,
        })
        .collect();
    let outcome = dispatcher.process(messages).await;
    tracing::info!(
        stored = outcome.stored,
        duplicates = outcome.duplicates,
        muted = outcome.muted,
        not_members = outcome.not_members,
        emails_queued = outcome.emails_queued,
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
    sqs_batch::response(failures)
}
