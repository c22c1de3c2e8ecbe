//! HTTP test function: answers with the event it received, or misbehaves on request.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::{Value, json};

async fn handle(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let event = event.payload;
    let path = event["rawPath"].as_str().unwrap_or_default().to_owned();
    match path.as_str() {
        "/crash" => std::process::exit(3),
        "/fail" => Err("the handler failed on purpose".into()),
        "/sleep" => {
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
            Ok(json!({}))
        }
        "/binary" => Ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/octet-stream"},
            "body": "AJ+Slg==",
            "isBase64Encoded": true
        })),
        "/bare" => Ok(json!({"bare": true})),
        "/cookies" => Ok(
            json!({"statusCode": 204, "cookies": ["a=1; Path=/", "b=2"], "headers": {"x-test": "yes"}}),
        ),
        _ => Ok(json!({
            "statusCode": 200,
            "headers": {"content-type": "application/json"},
            "body": event.to_string()
        })),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(handle)).await
}
