//! The email consumer's handler: an SQS batch of the email queue in (one job per recipient and
//! notification), the ids of the jobs to bring back out (partial batch response); claiming,
//! composing, sending and recording are in libs/notifications ([`EmailSender`]).

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use notifications::{EmailOutcome, EmailSender};
use notify::EmailJob;
use tokio::task::JoinSet;

/// A transient failure brings the job back after this, doubled on every receive, up to
/// [`MAX_BACKOFF_SECS`] (instead of the queue's visibility timeout).
const FIRST_BACKOFF_SECS: i32 = 30;
const MAX_BACKOFF_SECS: i32 = 900;

/// Everything a batch needs, built once per cold start.
#[derive(Clone)]
pub struct Consumer {
    pub sender: EmailSender,
    pub sqs: aws_sdk_sqs::Client,
    /// The email queue (where a job's visibility is changed to back off).
    pub queue_url: String,
    /// The email queue's `maxReceiveCount`: on that receive a transient failure is final.
    pub max_receives: u32,
}

/// How many jobs of a batch ended how (logged once per batch).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Tally {
    pub sent: usize,
    pub skipped: usize,
    pub failed: usize,
    pub retried: usize,
    pub already_done: usize,
    pub lease_held: usize,
    pub unknown: usize,
    /// Jobs that did not parse or whose record could not be read or written: delivered again.
    pub errors: usize,
}

/// Seconds until a job that failed transiently on its `receive`-th receive comes back.
pub fn backoff_secs(receive: u32) -> i32 {
    let doublings = receive.saturating_sub(1).min(10);
    (FIRST_BACKOFF_SECS << doublings).min(MAX_BACKOFF_SECS)
}

/// Delivers one batch, its jobs side by side.
pub async fn handle(consumer: &Consumer, event: SqsEvent) -> (SqsBatchResponse, Tally) {
    let (received, mut failures) = sqs_batch::messages(event);
    let mut tally = Tally {
        errors: failures.len(),
        ..Tally::default()
    };
    let mut running = JoinSet::new();
    for message in received {
        let consumer = consumer.clone();
        running.spawn(async move {
            let outcome = match serde_json::from_str::<EmailJob>(&message.body) {
                Ok(job) => {
                    let last = message.receive_count >= consumer.max_receives;
                    consumer
                        .sender
                        .deliver(&job, last)
                        .await
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(format!("the job does not parse: {e}")),
            };
            if let Ok(EmailOutcome::Retry { .. }) = &outcome
                && let Some(receipt) = &message.receipt_handle
            {
                let backoff = backoff_secs(message.receive_count);
                if let Err(error) = consumer
                    .sqs
                    .change_message_visibility()
                    .queue_url(&consumer.queue_url)
                    .receipt_handle(receipt)
                    .visibility_timeout(backoff)
                    .send()
                    .await
                {
                    // It comes back after the queue's visibility timeout instead.
                    tracing::warn!(
                        error = %aws_sdk_sqs::error::DisplayErrorContext(error),
                        "the job's back-off was not set"
                    );
                }
            }
            (message.message_id, outcome)
        });
    }
    while let Some(joined) = running.join_next().await {
        let Ok((message_id, outcome)) = joined else {
            // A panic (test builds; the release profile aborts): Lambda retries the batch.
            tally.errors += 1;
            continue;
        };
        match outcome {
            Ok(EmailOutcome::Sent { .. }) => tally.sent += 1,
            Ok(EmailOutcome::Skipped(_)) => tally.skipped += 1,
            Ok(EmailOutcome::Failed { reason }) => {
                tracing::warn!(%message_id, %reason, "email failed for good");
                tally.failed += 1;
            }
            Ok(EmailOutcome::Retry { reason }) => {
                tracing::warn!(%message_id, %reason, "email will be tried again");
                tally.retried += 1;
                failures.push(message_id);
            }
            Ok(EmailOutcome::AlreadyDone(_)) => tally.already_done += 1,
            Ok(EmailOutcome::LeaseHeld) => tally.lease_held += 1,
            Ok(EmailOutcome::Unknown) => {
                tracing::warn!(%message_id, "an email job without a delivery record");
                tally.unknown += 1;
            }
            Err(error) => {
                tracing::error!(%message_id, %error, "email job not handled");
                tally.errors += 1;
                failures.push(message_id);
            }
        }
    }
    (sqs_batch::response(failures), tally)
}

#[cfg(test)]
mod tests {
    #[test]
    fn backoff_doubles_up_to_a_cap() {
        let secs: Vec<i32> = (1..=7).map(super::backoff_secs).collect();
        assert_eq!(secs, [30, 60, 120, 240, 480, 900, 900]);
        assert_eq!(super::backoff_secs(0), 30);
        assert_eq!(super::backoff_secs(u32::MAX), 900);
    }
}
