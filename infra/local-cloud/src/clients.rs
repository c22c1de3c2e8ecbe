//! AWS clients for the local emulators (DynamoDB Local, moto): fixed region and dummy keys. The
//! one place that builds them; the tests' clients (test-support) come from here too.

/// The access key id of every emulator client (DynamoDB Local keeps a database per key id).
pub const ACCESS_KEY_ID: &str = "local";

/// The SDK settings of every emulator client: one region, dummy credentials, the endpoint.
pub fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    use aws_sdk_dynamodb::config::{
        BehaviorVersion, Credentials, Region, SharedCredentialsProvider,
    };
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
            ACCESS_KEY_ID,
            "local",
            None,
            None,
            "local-cloud",
        )))
        .build()
}

pub fn dynamodb(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config(endpoint))
}

pub fn sqs(endpoint: &str) -> aws_sdk_sqs::Client {
    aws_sdk_sqs::Client::new(&sdk_config(endpoint))
}

pub fn dynamodb_streams(endpoint: &str) -> aws_sdk_dynamodbstreams::Client {
    aws_sdk_dynamodbstreams::Client::new(&sdk_config(endpoint))
}

/// An AWS SDK error with its whole chain of causes, for the local cloud's log lines.
pub fn sdk_error(e: impl std::error::Error + Send + Sync + 'static) -> String {
    aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string()
}
