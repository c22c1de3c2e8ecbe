//! The outbox relay's handler: a batch of the table's stream records in (only inserted outbox
//! items pass the mapping's filter), the sequence numbers not delivered out (partial batch
//! response), everything else in `outbox::Relay`.

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use outbox::{Relay, StreamRecord};

/// Relays one batch. A record that is not an inserted outbox item (the filter should have
/// kept it away) is skipped; one that could not be delivered is reported by its sequence number,
/// so the stream retries from it and, after the mapping's retries, points the failure queue at it.
pub async fn handle(relay: &Relay, event: Event) -> DynamoDbEventResponse {
    let mut records = Vec::with_capacity(event.records.len());
    for record in event.records {
        let Some(sequence_number) = record.change.sequence_number else {
            // Without a sequence number a record cannot be reported; none arrives like this.
            tracing::error!(event_id = %record.event_id, "a stream record without a sequence number");
            continue;
        };
        if record.event_name != "INSERT" {
            tracing::warn!(event = %record.event_name, "not an insert: skipped (check the mapping's filter)");
            continue;
        }
        records.push(StreamRecord {
            sequence_number,
            new_image: record.change.new_image,
        });
    }
    let received = records.len();
    let outcome = relay.deliver(records).await;
    tracing::info!(
        received,
        sent = outcome.sent,
        failed = outcome.failed.len(),
        "outbox records relayed"
    );
    let mut response = DynamoDbEventResponse::default();
    response.batch_item_failures = outcome
        .failed
        .into_iter()
        .map(|sequence_number| {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(sequence_number);
            failure
        })
        .collect();
    response
}
