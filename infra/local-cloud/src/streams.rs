//! Lambda's DynamoDB Streams event source over DynamoDB Local: one poller per mapping, each
//! shard read in order (a child shard after its parent), filter criteria applied before
//! batching, the batch invoked as Lambda's DynamoDB event, and Lambda's failure handling:
//! partial batch responses by sequence number, bisection on a function error, a retry limit and
//! a maximum record age, then a pointer to the failed batch on the `OnFailure` queue.
//!
//! DynamoDB Local 3.3.0 sends a TTL deletion with the event name `UNKNOWN_TO_SDK_VERSION` and
//! no user identity: it reaches the function as AWS sends it, a `REMOVE` by the DynamoDB
//! service principal. Its `ApproximateCreationDateTime` is rounded to the minute; the record
//! age limit here counts from when the poller first read the record instead.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodbstreams::Client;
use aws_sdk_dynamodbstreams::types::ShardIteratorType;
use bytes::Bytes;
use sam_template::StartingPosition;
use serde_json::{Value, json};

use crate::clients::sdk_error;
use crate::filter::Filters;
use crate::logs;
use crate::runtime::{Function, InvokeError};

/// Lambda polls each shard about four times a second.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// The pause after a partial page that had records: at most 20 reads a second.
const AFTER_RECORDS: Duration = Duration::from_millis(50);
/// Records asked for by one `GetRecords` (DynamoDB's maximum).
const RECORDS_PER_READ: usize = 1000;
/// How often a mapping looks for new shards.
const SHARD_DISCOVERY: Duration = Duration::from_secs(1);

/// Where a failed batch's pointer goes (`DestinationConfig.OnFailure`).
pub struct FailureDestination {
    pub client: aws_sdk_sqs::Client,
    pub queue_url: String,
}

/// One stream event-source mapping of the template.
pub struct StreamMapping {
    pub name: String,
    /// DynamoDB Local, where `GetRecords` is called over plain HTTP.
    pub endpoint: String,
    pub http: reqwest::Client,
    pub function: Arc<Function>,
    pub function_arn: String,
    pub stream_arn: String,
    pub starting_position: StartingPosition,
    pub batch_size: usize,
    pub batching_window: Duration,
    pub filters: Filters,
    pub report_batch_item_failures: bool,
    pub bisect_batch_on_function_error: bool,
    /// `None`: retried until the record is too old (or forever).
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_record_age: Option<Duration>,
    pub on_failure: Option<FailureDestination>,
    pub region: String,
}

/// DynamoDB Local 3.3.0 writes an empty map attribute as `{}` in stream records, where AWS
/// writes `{"M": {}}` (the SDK cannot parse the former, which is why records are read as JSON).
fn repair_attribute(value: &mut Value) {
    let Some(object) = value.as_object_mut() else {
        return;
    };
    if object.is_empty() {
        object.insert("M".into(), json!({}));
        return;
    }
    if let Some(Value::Object(map)) = object.get_mut("M") {
        map.values_mut().for_each(repair_attribute);
    }
    if let Some(Value::Array(list)) = object.get_mut("L") {
        list.iter_mut().for_each(repair_attribute);
    }
}

/// A record of `GetRecords` (JSON) as Lambda's DynamoDB event carries it, with DynamoDB
/// Local's differences made into what AWS sends.
pub fn lambda_record(mut record: Value, stream_arn: &str, region: &str) -> Value {
    if let Some(change) = record.get_mut("dynamodb") {
        for image in ["Keys", "NewImage", "OldImage"] {
            if let Some(Value::Object(attributes)) = change.get_mut(image) {
                attributes.values_mut().for_each(repair_attribute);
            }
        }
    }
    let name = record["eventName"].as_str().unwrap_or_default();
    if !matches!(name, "INSERT" | "MODIFY" | "REMOVE") {
        // Only TTL deletions arrive like this (measured): AWS sends them as a REMOVE by the
        // DynamoDB service.
        record["eventName"] = json!("REMOVE");
        record["userIdentity"] =
            json!({ "type": "Service", "principalId": "dynamodb.amazonaws.com" });
    }
    record["eventSource"] = json!("aws:dynamodb");
    record["eventSourceARN"] = json!(stream_arn);
    record["awsRegion"] = json!(region);
    if record.get("eventVersion").is_none_or(Value::is_null) {
        record["eventVersion"] = json!("1.1");
    }
    record
}

/// `GetRecords` over plain HTTP: the records as JSON and the next iterator. DynamoDB Local
/// tells databases apart by the access key id of the `Authorization` header, and checks no
/// signature.
async fn get_records(
    http: &reqwest::Client,
    endpoint: &str,
    access_key: &str,
    iterator: &str,
) -> Result<(Vec<Value>, Option<String>), String> {
    let response = http
        .post(endpoint)
        .header("x-amz-target", "DynamoDBStreams_20120810.GetRecords")
        .header("content-type", "application/x-amz-json-1.0")
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/dynamodb/aws4_request, \
                 SignedHeaders=host, Signature=0"
            ),
        )
        .body(json!({ "ShardIterator": iterator, "Limit": RECORDS_PER_READ }).to_string())
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    if !status.is_success() {
        return Err(format!("GetRecords answered {status}: {text}"));
    }
    let mut body: Value = serde_json::from_str(&text).map_err(|e| e.to_string())?;
    let records = match body["Records"].take() {
        Value::Array(records) => records,
        _ => Vec::new(),
    };
    Ok((
        records,
        body["NextShardIterator"].as_str().map(str::to_owned),
    ))
}

/// A record read from a shard and waiting to be delivered.
struct Pending {
    record: Value,
    sequence_number: String,
    read_at: Instant,
    arrival: i64,
}

/// One shard being read: its iterator (`None` once the shard is closed and read to its end),
/// the last sequence number read, and what waits to be delivered.
struct ShardReader {
    shard: String,
    position: StartingPosition,
    iterator: Option<String>,
    last_read: Option<String>,
    buffer: VecDeque<Pending>,
}

/// How an invocation of a batch ended, by Lambda's rules.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Success,
    /// The lowest sequence number the partial batch response names: it and everything after it
    /// failed.
    FailedFrom(usize),
    /// An error, crash or timeout, or an invalid partial batch response.
    FunctionError,
}

/// The outcome of an answer to a batch of these sequence numbers.
fn outcome(answer: &[u8], sequence_numbers: &[&str], partial_responses: bool) -> Outcome {
    if !partial_responses {
        return Outcome::Success;
    }
    let known: HashSet<&str> = sequence_numbers.iter().copied().collect();
    match crate::batch::failures(answer, &known) {
        None => Outcome::FunctionError,
        Some(failed) => sequence_numbers
            .iter()
            .position(|s| failed.contains(*s))
            .map_or(Outcome::Success, Outcome::FailedFrom),
    }
}

impl StreamMapping {
    pub fn start(self: Arc<Self>, client: Client) {
        tokio::spawn(async move { self.discover_shards(client).await });
    }

    /// Starts a reader for each shard once its parent (if the stream still has it) is done.
    async fn discover_shards(self: Arc<Self>, client: Client) {
        let mut started: HashSet<String> = HashSet::new();
        let finished = Arc::new(std::sync::Mutex::new(HashSet::<String>::new()));
        let mut first_pass = true;
        loop {
            match self.shards(&client).await {
                Ok(shards) => {
                    let known: HashSet<&str> = shards.iter().map(|(id, _)| id.as_str()).collect();
                    for (shard, parent) in &shards {
                        let parent_done = parent.as_ref().is_none_or(|p| {
                            !known.contains(p.as_str()) || finished.lock().unwrap().contains(p)
                        });
                        if started.contains(shard) || !parent_done {
                            continue;
                        }
                        started.insert(shard.clone());
                        // Shards found when the mapping starts begin at its starting position;
                        // shards created later are read from their start.
                        let position = if first_pass {
                            self.starting_position
                        } else {
                            StartingPosition::TrimHorizon
                        };
                        let (mapping, client, shard, finished) = (
                            self.clone(),
                            client.clone(),
                            shard.clone(),
                            finished.clone(),
                        );
                        tokio::spawn(async move {
                            mapping.read_shard(&client, &shard, position).await;
                            finished.lock().unwrap().insert(shard);
                        });
                    }
                    first_pass = false;
                }
                Err(error) => logs::system(
                    "streams",
                    &format!("{}: describing the stream failed: {error}", self.name),
                ),
            }
            tokio::time::sleep(SHARD_DISCOVERY).await;
        }
    }

    /// `(shard id, parent shard id)` of every shard of the stream.
    async fn shards(&self, client: &Client) -> Result<Vec<(String, Option<String>)>, String> {
        let mut shards = Vec::new();
        let mut start: Option<String> = None;
        loop {
            let output = client
                .describe_stream()
                .stream_arn(&self.stream_arn)
                .set_exclusive_start_shard_id(start.clone())
                .send()
                .await
                .map_err(sdk_error)?;
            let Some(description) = output.stream_description else {
                return Ok(shards);
            };
            for shard in description.shards() {
                if let Some(id) = shard.shard_id() {
                    shards.push((id.to_owned(), shard.parent_shard_id().map(str::to_owned)));
                }
            }
            match description.last_evaluated_shard_id {
                Some(last) => start = Some(last),
                None => return Ok(shards),
            }
        }
    }

    /// A new iterator for the shard: at `position`, or after the last record read.
    async fn iterator(
        &self,
        client: &Client,
        shard: &str,
        position: StartingPosition,
        after: Option<&str>,
    ) -> Option<String> {
        loop {
            let request = client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(shard);
            let request = match (after, position) {
                (Some(sequence_number), _) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence_number),
                (None, StartingPosition::TrimHorizon) => {
                    request.shard_iterator_type(ShardIteratorType::TrimHorizon)
                }
                (None, StartingPosition::Latest) => {
                    request.shard_iterator_type(ShardIteratorType::Latest)
                }
            };
            match request.send().await {
                Ok(output) => return output.shard_iterator,
                Err(error) => {
                    logs::system(
                        "streams",
                        &format!(
                            "{}: no iterator for {shard}: {}",
                            self.name,
                            sdk_error(error)
                        ),
                    );
                    tokio::time::sleep(SHARD_DISCOVERY).await;
                }
            }
        }
    }

    async fn read_shard(&self, client: &Client, shard: &str, position: StartingPosition) {
        let mut reader = ShardReader {
            shard: shard.to_owned(),
            position,
            iterator: self.iterator(client, shard, position, None).await,
            last_read: None,
            buffer: VecDeque::new(),
        };
        // The size of the next batch: smaller while a failing batch is being bisected.
        let mut limit = self.batch_size;
        let mut attempts = 0u32;
        loop {
            self.fill(client, &mut reader).await;
            if reader.buffer.is_empty() {
                if reader.iterator.is_none() {
                    return; // the shard is closed and fully delivered
                }
                continue;
            }
            self.drop_expired(&mut reader).await;
            let n = limit.min(reader.buffer.len());
            if n == 0 {
                continue;
            }
            let batch: Vec<&Pending> = reader.buffer.iter().take(n).collect();
            match self.invoke(&batch).await {
                Outcome::Success => {
                    reader.buffer.drain(..n);
                    (limit, attempts) = (self.batch_size, 0);
                }
                Outcome::FailedFrom(i) => {
                    // The records before the failed one are done; the rest of this batch is
                    // retried (Lambda "bisects at the returned sequence number").
                    reader.buffer.drain(..i);
                    limit = n - i;
                    attempts += 1;
                    if self.retries_exhausted(attempts) {
                        self.give_up(&mut reader, limit, attempts).await;
                        (limit, attempts) = (self.batch_size, 0);
                    }
                }
                Outcome::FunctionError if self.bisect_batch_on_function_error && n > 1 => {
                    // Splitting does not count against the retry limit.
                    limit = n.div_ceil(2);
                }
                Outcome::FunctionError => {
                    attempts += 1;
                    limit = n;
                    if self.retries_exhausted(attempts) {
                        self.give_up(&mut reader, limit, attempts).await;
                        (limit, attempts) = (self.batch_size, 0);
                    }
                }
            }
        }
    }

    fn retries_exhausted(&self, attempts: u32) -> bool {
        // `attempts` counts failed invocations: the first one and then each retry.
        self.maximum_retry_attempts
            .is_some_and(|max| attempts > max)
    }

    /// Reads until a batch is full, the batching window is over, or nothing is waiting. Records
    /// the filters refuse are dropped here: they never reach the function.
    async fn fill(&self, client: &Client, reader: &mut ShardReader) {
        let window_start = Instant::now();
        loop {
            if reader.buffer.len() >= self.batch_size {
                return;
            }
            let Some(current) = reader.iterator.clone() else {
                return; // closed
            };
            let read = match get_records(
                &self.http,
                &self.endpoint,
                crate::clients::ACCESS_KEY_ID,
                &current,
            )
            .await
            {
                Ok((records, next)) => {
                    reader.iterator = next;
                    records
                }
                Err(error) => {
                    // An iterator expires after 15 minutes (a long retry): start after what
                    // was read.
                    logs::system(
                        "streams",
                        &format!("{}: reading failed: {error}", self.name),
                    );
                    tokio::time::sleep(SHARD_DISCOVERY).await;
                    let position = reader.position;
                    let after = reader.last_read.clone();
                    reader.iterator = self
                        .iterator(client, &reader.shard, position, after.as_deref())
                        .await;
                    return;
                }
            };
            // Only a full page means more is waiting right now. After a partial one the shard
            // is read again later, even when every record was filtered out: reading again at
            // once spins on a stream that is written all the time, and DynamoDB Local's
            // GetRecords costs more the longer its stream is. It also hands out small pages
            // (the records of about one write request), so after records the pause is short.
            let full_page = read.len() >= RECORDS_PER_READ;
            let pause = if read.is_empty() {
                POLL_INTERVAL
            } else {
                AFTER_RECORDS
            };
            for record in read {
                let lambda = lambda_record(record, &self.stream_arn, &self.region);
                let sequence_number = lambda["dynamodb"]["SequenceNumber"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                reader.last_read = Some(sequence_number.clone());
                if !self.filters.pass(&lambda) {
                    continue;
                }
                reader.buffer.push_back(Pending {
                    sequence_number,
                    arrival: lambda["dynamodb"]["ApproximateCreationDateTime"]
                        .as_f64()
                        .map_or(0, |t| t as i64),
                    read_at: Instant::now(),
                    record: lambda,
                });
            }
            let window_left = self.batching_window.saturating_sub(window_start.elapsed());
            if !full_page {
                if reader.buffer.is_empty() {
                    tokio::time::sleep(pause).await;
                    return; // nothing for the function: the caller polls again
                }
                if window_left.is_zero() || reader.iterator.is_none() {
                    return;
                }
                tokio::time::sleep(pause.min(window_left)).await;
            } else if !reader.buffer.is_empty() && window_left.is_zero() {
                return;
            }
        }
    }

    /// Records older than the mapping's maximum age go to the failure destination unread.
    async fn drop_expired(&self, reader: &mut ShardReader) {
        let Some(max_age) = self.maximum_record_age else {
            return;
        };
        let expired = reader
            .buffer
            .iter()
            .take_while(|p| p.read_at.elapsed() > max_age)
            .count();
        if expired > 0 {
            let batch = reader.buffer.drain(..expired).collect();
            self.report_failure(&reader.shard, batch, "RecordAgeExceeded", 0)
                .await;
        }
    }

    async fn give_up(&self, reader: &mut ShardReader, n: usize, attempts: u32) {
        let failed: Vec<Pending> = reader.buffer.drain(..n.min(reader.buffer.len())).collect();
        self.report_failure(&reader.shard, failed, "RetryAttemptsExhausted", attempts)
            .await;
    }

    async fn invoke(&self, batch: &[&Pending]) -> Outcome {
        let event = json!({ "Records": batch.iter().map(|p| &p.record).collect::<Vec<_>>() });
        let sequence_numbers: Vec<&str> =
            batch.iter().map(|p| p.sequence_number.as_str()).collect();
        match self.function.invoke(Bytes::from(event.to_string())).await {
            Ok(answer) => {
                let outcome = outcome(&answer, &sequence_numbers, self.report_batch_item_failures);
                if outcome == Outcome::FunctionError {
                    logs::system(
                        "streams",
                        &format!(
                            "{}: invalid partial batch response: the batch failed",
                            self.name
                        ),
                    );
                }
                outcome
            }
            Err(error) => {
                let brief = match error {
                    InvokeError::Function(body) => String::from_utf8_lossy(&body).into_owned(),
                    other => format!("{other:?}"),
                };
                logs::system(
                    "streams",
                    &format!("{}: batch of {} failed: {brief}", self.name, batch.len()),
                );
                Outcome::FunctionError
            }
        }
    }

    /// Sends Lambda's pointer to a discarded batch (never the records) to the failure
    /// destination, or logs it when the mapping has none.
    async fn report_failure(
        &self,
        shard: &str,
        batch: Vec<Pending>,
        condition: &str,
        attempts: u32,
    ) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return;
        };
        let rfc3339 = |secs: i64| {
            time::OffsetDateTime::from_unix_timestamp(secs)
                .ok()
                .and_then(|t| {
                    t.format(&time::format_description::well_known::Rfc3339)
                        .ok()
                })
        };
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let pointer = json!({
            "requestContext": {
                "requestId": ulid::Ulid::generate().to_string().to_lowercase(),
                "functionArn": self.function_arn,
                "condition": condition,
                "approximateInvokeCount": attempts,
            },
            "responseContext": {
                "statusCode": 200,
                "executedVersion": "$LATEST",
                "functionError": "Unhandled",
            },
            "version": "1.0",
            "timestamp": now,
            "DDBStreamBatchInfo": {
                "shardId": shard,
                "startSequenceNumber": first.sequence_number,
                "endSequenceNumber": last.sequence_number,
                "approximateArrivalOfFirstRecord": rfc3339(first.arrival),
                "approximateArrivalOfLastRecord": rfc3339(last.arrival),
                "batchSize": batch.len(),
                "streamArn": self.stream_arn,
            },
        });
        logs::system(
            "streams",
            &format!(
                "{}: {} records discarded ({condition}) from {}",
                self.name,
                batch.len(),
                first.sequence_number
            ),
        );
        let Some(destination) = &self.on_failure else {
            return;
        };
        if let Err(error) = destination
            .client
            .send_message()
            .queue_url(&destination.queue_url)
            .message_body(pointer.to_string())
            .send()
            .await
        {
            logs::system(
                "streams",
                &format!(
                    "{}: the failure pointer was lost: {}",
                    self.name,
                    sdk_error(error)
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partial_batch_responses_checkpoint_at_the_lowest_failed_sequence_number() {
        let seqs = ["100", "200", "300"];
        assert_eq!(outcome(b"", &seqs, true), Outcome::Success);
        assert_eq!(outcome(b"null", &seqs, true), Outcome::Success);
        assert_eq!(
            outcome(br#"{"batchItemFailures":[]}"#, &seqs, true),
            Outcome::Success
        );
        assert_eq!(
            outcome(
                br#"{"batchItemFailures":[{"itemIdentifier":"300"},{"itemIdentifier":"200"}]}"#,
                &seqs,
                true
            ),
            Outcome::FailedFrom(1)
        );
        for invalid in [
            &br#"{"batchItemFailures":[{"itemIdentifier":"999"}]}"#[..],
            br#"{"batchItemFailures":[{"itemIdentifier":""}]}"#,
            br#"{"batchItemFailures":[{"itemIdentifier":null}]}"#,
            br#"{"batchItemFailures":"x"}"#,
            b"not json",
        ] {
            assert_eq!(outcome(invalid, &seqs, true), Outcome::FunctionError);
        }
        // Without ReportBatchItemFailures the answer is not read.
        assert_eq!(
            outcome(
                br#"{"batchItemFailures":[{"itemIdentifier":"100"}]}"#,
                &seqs,
                false
            ),
            Outcome::Success
        );
    }

    #[test]
    fn dynamodb_locals_records_become_what_aws_sends() {
        // As DynamoDB Local 3.3.0 sends a TTL deletion, with an empty map attribute.
        let ttl = json!({
            "eventID": "e1",
            "eventName": "UNKNOWN_TO_SDK_VERSION",
            "eventVersion": "1.1",
            "eventSource": "aws:dynamodb",
            "awsRegion": "ddblocal",
            "dynamodb": {
                "ApproximateCreationDateTime": 1796164800.0,
                "Keys": {"PK": {"S": "ORG#1"}},
                "OldImage": {
                    "PK": {"S": "ORG#1"},
                    "preferences": {},
                    "nested": {"M": {"inner": {}}},
                    "list": {"L": [{}, {"N": "1"}]}
                },
                "SequenceNumber": "42",
                "SizeBytes": 10,
                "StreamViewType": "NEW_AND_OLD_IMAGES"
            }
        });
        let record = lambda_record(ttl, "arn:stream", "us-east-1");
        assert_eq!(record["eventName"], "REMOVE");
        assert_eq!(record["userIdentity"]["type"], "Service");
        assert_eq!(
            record["userIdentity"]["principalId"],
            "dynamodb.amazonaws.com"
        );
        assert_eq!(record["eventSource"], "aws:dynamodb");
        assert_eq!(record["eventSourceARN"], "arn:stream");
        assert_eq!(record["awsRegion"], "us-east-1");
        let image = &record["dynamodb"]["OldImage"];
        assert_eq!(image["preferences"], json!({"M": {}}));
        assert_eq!(image["nested"], json!({"M": {"inner": {"M": {}}}}));
        assert_eq!(image["list"], json!({"L": [{"M": {}}, {"N": "1"}]}));
        assert_eq!(image["PK"], json!({"S": "ORG#1"}));

        let removed = json!({"eventName": "REMOVE", "dynamodb": {"SequenceNumber": "43"}});
        let record = lambda_record(removed, "arn:stream", "us-east-1");
        assert_eq!(record["eventName"], "REMOVE");
        assert!(
            record.get("userIdentity").is_none(),
            "a user's delete has no identity"
        );
        assert_eq!(record["eventVersion"], "1.1");
    }
}
