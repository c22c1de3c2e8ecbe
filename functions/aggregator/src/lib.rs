//! The aggregator's handler: an SQS batch in, the failed message ids out (partial batch
//! response), everything else in the analytics domain.

use analytics::{Aggregator, Message};
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};

/// Aggregates one batch; a malformed or unwritten message is reported alone, so SQS retries
/// only it (and moves it to the dead-letter queue after the queue's `maxReceiveCount`).
pub async fn handle(aggregator: &Aggregator, event: SqsEvent) -> SqsBatchResponse {
    let (received, mut failures) = sqs_batch::messages(event);
    let messages = received
        .into_iter()
        .map(|m| Message {
            message_id: m.message_id,
            body: m.body,
        })
        .collect();
    let outcome = aggregator.process(messages).await;
    tracing::info!(
        counted = outcome.counted,
        duplicates = outcome.duplicates,
        failed = outcome.failed.len() + failures.len(),
        write_units = outcome.write_units,
        raw_writes = outcome.raw_writes,
        counter_updates = outcome.counter_updates,
        refused_writes = outcome.refused_writes,
        "batch aggregated"
    );
    failures.extend(outcome.failed);
    sqs_batch::response(failures)
}
