//! The relay's handler: the table's one stream consumer. A batch of stream records in (the
//! mapping's filters pass inserted outbox items, daily counters holding billing usage and
//! organization profiles), the sequence numbers not handled out (partial batch response):
//! - outbox items go to `outbox::Relay` (the notifications queue);
//! - usage changes go to `metering::Metering::check`, once per organization and batch.

use std::collections::BTreeMap;

use futures_util::StreamExt;

use aws_lambda_events::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use metering::Metering;
use outbox::{Relay, StreamRecord};

/// Usage checks run at once within a batch.
const CONCURRENT_CHECKS: usize = 8;

/// What the relay hands records to. Built once per cold start.
pub struct Consumers {
    pub outbox: Relay,
    pub metering: Metering,
}

/// Handles one batch. A record that is none of the above (the filters should have kept it
/// away) is skipped; one that could not be handled is reported by its sequence number, so the
/// stream retries from it and, after the mapping's retries, points the failure queue at it.
pub async fn handle(consumers: &Consumers, event: Event) -> DynamoDbEventResponse {
    let mut records = Vec::with_capacity(event.records.len());
    // Organizations whose usage changed, with the records that said so.
    let mut usage: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut skipped = 0;
    for record in event.records {
        let Some(sequence_number) = record.change.sequence_number else {
            // Without a sequence number a record cannot be reported; none arrives like this.
            tracing::error!(event_id = %record.event_id, "a stream record without a sequence number");
            continue;
        };
        if record.change.new_image.contains_key(outbox::MARKER) {
            if record.event_name == "INSERT" {
                records.push(StreamRecord {
                    sequence_number,
                    new_image: record.change.new_image,
                });
            } else {
                tracing::warn!(event = %record.event_name, "an outbox item not inserted: skipped (check the mapping's filter)");
            }
        } else if let Some(org_id) =
            metering::changed_usage(&record.change.old_image, &record.change.new_image)
        {
            usage.entry(org_id).or_default().push(sequence_number);
        } else {
            // A profile change other than seats or subscription (a rename, the levels metering
            // itself records), or a day whose billing usage did not move.
            skipped += 1;
        }
    }
    let received = records.len();
    let mut outcome = consumers.outbox.deliver(records).await;
    let organizations = usage.len();
    // A few organizations at a time: each check is a read, a Query and maybe a transaction.
    let checks = usage
        .into_iter()
        .map(|(org_id, sequence_numbers)| async move {
            let result = consumers.metering.check(&org_id).await;
            (org_id, sequence_numbers, result)
        });
    let mut checks = futures_util::stream::iter(checks).buffer_unordered(CONCURRENT_CHECKS);
    while let Some((org_id, sequence_numbers, result)) = checks.next().await {
        match result {
            Ok(_) => {}
            Err(error) if error.is_transient() => {
                tracing::error!(%error, org_id, "usage levels not checked; the stream retries");
                outcome.failed.extend(sequence_numbers);
            }
            Err(error) => {
                tracing::error!(%error, org_id, "usage levels not checked; skipped until the organization's next usage change");
            }
        }
    }
    tracing::info!(
        received,
        sent = outcome.sent,
        usage_checked = organizations,
        skipped,
        failed = outcome.failed.len(),
        "stream records relayed"
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
