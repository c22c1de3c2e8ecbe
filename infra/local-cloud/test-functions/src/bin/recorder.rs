//! WebSocket and SQS test function: appends every event to the file in `RECORD_FILE`.
//! - `$connect` with `?deny=1` answers 403 (the upgrade is refused);
//! - SQS records whose body contains `poison` are reported in `batchItemFailures`;
//!   a body `crash` ends the process.

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
    let event = event.payload;
    record(&event);
    if let Some(records) = event["Records"].as_array() {
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
