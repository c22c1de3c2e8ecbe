//! What integration tests share: clients for the local emulators the test command started
//! (DynamoDB Local, moto), a fresh table per test created from `template.yaml`, local tokens.
//!
//! The emulators are never optional: a test that cannot reach one fails and says how to start it.

use std::sync::OnceLock;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use sam_template::{TableDefinition, Template};

/// Where DynamoDB Local listens (`DYNAMODB_ENDPOINT`, default `http://127.0.0.1:8000`).
pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8000".into())
}

pub fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(dynamodb_endpoint())
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "test-support",
        ))
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

fn table_definition() -> &'static TableDefinition {
    static DEFINITION: OnceLock<TableDefinition> = OnceLock::new();
    DEFINITION.get_or_init(|| {
        Template::load(&sam_template::default_path())
            .and_then(|t| t.table())
            .expect("template.yaml defines the table")
    })
}

/// A new, empty table shaped like the deployed one, so tests never see each other's data.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client) -> String {
    let name = format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase());
    if let Err(error) = table_definition().create(client, &name).await {
        panic!(
            "cannot create a table in DynamoDB Local at {}: {error}\n\
             Run the tests with ./infra/test (it starts the emulators), or start DynamoDB Local \
             and set DYNAMODB_ENDPOINT.",
            dynamodb_endpoint()
        );
    }
    name
}

/// Where moto serves SQS (`SQS_ENDPOINT`, default `http://127.0.0.1:5000`).
pub fn sqs_endpoint() -> String {
    std::env::var("SQS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

pub fn sqs_client() -> aws_sdk_sqs::Client {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    let config = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(sqs_endpoint())
        .credentials_provider(Credentials::new(
            "local",
            "local",
            None,
            None,
            "test-support",
        ))
        .build();
    aws_sdk_sqs::Client::from_conf(config)
}

/// A new, empty queue in moto; its URL.
pub async fn fresh_queue(client: &aws_sdk_sqs::Client) -> String {
    let name = format!("test-{}", ulid::Ulid::generate().to_string().to_lowercase());
    match client.create_queue().queue_name(&name).send().await {
        Ok(output) => output.queue_url.expect("moto answers with the queue URL"),
        Err(error) => panic!(
            "cannot create a queue in moto at {}: {}\nRun the tests with ./infra/test (it starts the emulators).",
            sqs_endpoint(),
            aws_sdk_sqs::error::DisplayErrorContext(error)
        ),
    }
}

/// Every message waiting in `queue_url` (deleted as read), as JSON.
pub async fn drain_queue(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<serde_json::Value> {
    let mut messages = Vec::new();
    loop {
        let output = client
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .expect("moto receives");
        let batch = output.messages.unwrap_or_default();
        if batch.is_empty() {
            return messages;
        }
        for message in batch {
            messages.push(
                serde_json::from_str(message.body().unwrap_or("null")).expect("JSON message"),
            );
            client
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .send()
                .await
                .expect("moto deletes");
        }
    }
}

/// Settings of an HTTP function in local auth mode, on `table`.
pub fn local_settings(table: &str) -> config::HttpSettings {
    config::HttpSettings {
        table_name: table.to_owned(),
        auth: config::AuthSettings::LocalHs256 {
            secret: config::LOCAL_SECRET.into(),
            issuer: config::LOCAL_ISSUER.into(),
            audience: config::LOCAL_AUDIENCE.into(),
        },
        cors_allowed_origins: vec!["https://app.example.com".into()],
    }
}

/// A local HS256 token for `sub`, valid for an hour; `extra` claims are merged in.
pub fn token(sub: &str, extra: serde_json::Value) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let mut claims = serde_json::json!({
        "sub": sub,
        "iss": config::LOCAL_ISSUER,
        "aud": config::LOCAL_AUDIENCE,
        "iat": now,
        "exp": now + 3600,
        "email": format!("{sub}@example.com"),
        "email_verified": true,
        "name": format!("User {sub}"),
    });
    if let (Some(claims), serde_json::Value::Object(extra)) = (claims.as_object_mut(), extra) {
        claims.extend(extra);
    }
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(config::LOCAL_SECRET.as_bytes()),
    )
    .expect("a local token always encodes")
}
