//! The aggregator's handler: an SQS batch in, the failed message ids out (partial batch
//! response), everything else in the analytics domain.

use analytics::{Aggregator, Message};
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};

/// Aggregates one batch; a malformed or unwritten message is reported alone, so SQS retries
/// only it (and moves it to the dead-letter queue after the queue's `maxReceiveCount`).
pub async fn handle(aggregator: &Aggregator, event: SqsEvent) -> SqsBatchResponse {
    let mut failures = Vec::new();
    let mut messages = Vec::with_capacity(event.records.len());
    for record in event.records {
        match (record.message_id, record.body) {
            (Some(message_id), Some(body)) => messages.push(Message { message_id, body }),
            (Some(message_id), None) => failures.push(message_id),
            // Without an id a record cannot be reported; Lambda would retry the whole batch.
            (None, _) => tracing::error!("an SQS record without a message id"),
        }
    }
    let outcome = aggregator.process(messages).await;
    tracing::info!(
        counted = outcome.counted,
        duplicates = outcome.duplicates,
        failed = outcome.failed.len() + failures.len(),
        write_units = outcome.write_units,
        transactions = outcome.transactions,
        "batch aggregated"
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
