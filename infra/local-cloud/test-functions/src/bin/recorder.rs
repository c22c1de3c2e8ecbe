//! WebSocket, SQS and DynamoDB Streams test function: appends every event to the file in
//! `RECORD_FILE` (with `"tag": $RECORD_TAG` when that is set, to tell functions apart).
//! - `$connect` with `?deny=1` answers 403 (the upgrade is refused);
//! - SQS records whose body contains `poison` are reported in `batchItemFailures`;
//!   a body `crash` ends the process;
//! - stream records whose new image has a `poison` attribute are reported in
//!   `batchItemFailures` (by sequence number); a `crash` attribute ends the process.

use std::io::Write;

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

fn record(event: &Value) {
    let path = std::env::var("RECORD_FILE").expect("RECORD_FILE");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("record file");
    // One write per line, so a reader (or another instance) never sees half of it.
    file.write_all(format!("{event}\n").as_bytes())
        .expect("record");
}

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let mut event = event.payload;
    if let Ok(tag) = std::env::var("RECORD_TAG") {
        event["tag"] = Value::String(tag);
    }
    record(&event);
    let records = event["Records"].as_array();
    if let Some(records) = records.filter(|r| r.iter().any(|r| r["eventSource"] == "aws:dynamodb"))
    {
        let image = |r: &Value, name: &str| r["dynamodb"]["NewImage"].get(name).is_some();
        if records.iter().any(|r| image(r, "crash")) {
            std::process::exit(4);
        }
        let failures: Vec<Value> = records
            .iter()
            .filter(|r| image(r, "poison"))
            .map(|r| json!({ "itemIdentifier": r["dynamodb"]["SequenceNumber"] }))
            .collect();
        return Ok(json!({ "batchItemFailures": failures }));
    }
    if let Some(records) = records {
        if records.iter().any(|r| r["body"] == "crash") {
            std::process::exit(4);
        }
        let failures: Vec<Value> = records
            .iter()
            .filter(|r| r["body"].as_str().is_some_and(|b| b.contains("poison")))
            .map(|r| json!({ "itemIdentifier": r["messageId"] }))
            .collect();
        return Ok(json!({ "batchItemFailures": failures }));
    }
    if event["requestContext"]["eventType"] == "CONNECT"
        && event["queryStringParameters"]["deny"].is_string()
    {
        return Ok(json!({ "statusCode": 403 }));
    }
    Ok(json!({ "statusCode": 200 }))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
