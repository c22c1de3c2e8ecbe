//! What integration tests share: clients for the local emulators the test command started
//! (DynamoDB Local, moto), a fresh table per test created from `template.yaml`, local tokens,
//! and on top of them:
//!
//! - [`api`]: an in-process client of a function's router, with `expect` / `expect_problem`;
//! - [`fixtures`]: users, organizations and members made through the domain's own code;
//! - [`cloud`]: the local cloud started over the emulators, for end-to-end tests;
//! - [`samples`]: the check that every sample event of `events/` reaches its route.
//!
//! The emulators are never optional: a test that cannot reach one fails and says how to start it.

pub mod api;
pub mod cloud;
pub mod fixtures;
pub mod samples;
pub mod stripe;

use std::sync::OnceLock;

use sam_template::{TableDefinition, Template};

/// Where DynamoDB Local listens (`DYNAMODB_ENDPOINT`, default `http://127.0.0.1:8000`).
pub fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8000".into())
}

/// The SDK settings of every emulator client: the local cloud's one builder.
pub fn local_sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    local_cloud::clients::sdk_config(endpoint)
}

/// A pusher over `store` whose `@connections` endpoint is `endpoint` (a local cloud's admin
/// address with its stage, say `http://127.0.0.1:3002/live`).
pub fn pusher_at(store: &store::Store, clock: &clock::Clock, endpoint: &str) -> realtime::Pusher {
    realtime::Pusher::from_config(
        &local_sdk_config(endpoint),
        store.clone(),
        clock.clone(),
        endpoint,
    )
}

/// A pusher for tests without a WebSocket API: with no connection recorded it posts nothing
/// (and a post would fail to connect).
pub fn pusher(store: &store::Store, clock: &clock::Clock) -> realtime::Pusher {
    pusher_at(store, clock, "http://127.0.0.1:9/live")
}

pub fn dynamodb_client() -> aws_sdk_dynamodb::Client {
    dynamodb_client_at(&dynamodb_endpoint())
}

/// A client of DynamoDB Local at `endpoint`.
pub fn dynamodb_client_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&local_sdk_config(endpoint))
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
    aws_sdk_sqs::Client::new(&local_sdk_config(&sqs_endpoint()))
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

/// A new, empty FIFO queue in moto (per-group deduplication and throughput, as the analytics
/// queue of the template); its URL.
pub async fn fresh_fifo_queue(client: &aws_sdk_sqs::Client) -> String {
    use aws_sdk_sqs::types::QueueAttributeName;
    let name = format!(
        "test-{}.fifo",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let created = client
        .create_queue()
        .queue_name(&name)
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::DeduplicationScope, "messageGroup")
        .attributes(QueueAttributeName::FifoThroughputLimit, "perMessageGroupId")
        .send()
        .await;
    match created {
        Ok(output) => output.queue_url.expect("moto answers with the queue URL"),
        Err(error) => panic!(
            "cannot create a FIFO queue in moto at {}: {}\nRun the tests with ./infra/test (it starts the emulators).",
            sqs_endpoint(),
            aws_sdk_sqs::error::DisplayErrorContext(error)
        ),
    }
}

/// Up to 10 messages of `queue_url` with their attributes, deleted as they are read; waits up
/// to `wait_secs` for the first.
async fn take_messages(
    client: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait_secs: i32,
) -> Vec<aws_sdk_sqs::types::Message> {
    let output = client
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .wait_time_seconds(wait_secs)
        .message_attribute_names("All")
        .send()
        .await
        .expect("moto receives");
    let messages = output.messages.unwrap_or_default();
    for message in &messages {
        client
            .delete_message()
            .queue_url(queue_url)
            .receipt_handle(message.receipt_handle().unwrap_or_default())
            .send()
            .await
            .expect("moto deletes");
    }
    messages
}

/// Every message waiting in `queue_url` (deleted as read), as JSON.
pub async fn drain_queue(client: &aws_sdk_sqs::Client, queue_url: &str) -> Vec<serde_json::Value> {
    let mut messages = Vec::new();
    loop {
        let batch = take_messages(client, queue_url, 0).await;
        if batch.is_empty() {
            return messages;
        }
        messages.extend(
            batch
                .iter()
                .map(|m| serde_json::from_str(m.body().unwrap_or("null")).expect("JSON message")),
        );
    }
}

/// Receives (and deletes) messages of `queue_url`, with their attributes, until `done` holds
/// for all received so far; fails the test after `within`.
pub async fn receive_until(
    queue_url: &str,
    done: impl Fn(&[aws_sdk_sqs::types::Message]) -> bool,
    within: std::time::Duration,
) -> Vec<aws_sdk_sqs::types::Message> {
    let client = sqs_client();
    let deadline = std::time::Instant::now() + within;
    let mut received = Vec::new();
    while !done(&received) {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out; received so far: {:#?}",
            received.iter().map(|m| m.body()).collect::<Vec<_>>()
        );
        received.extend(take_messages(&client, queue_url, 1).await);
    }
    received
}

/// A DynamoDB Local client, and the settings of an HTTP function on a fresh table of its own:
/// where every in-process suite starts.
pub async fn fresh_function() -> (aws_sdk_dynamodb::Client, config::HttpSettings) {
    let client = dynamodb_client();
    let table = fresh_table(&client).await;
    (client, local_settings(&table))
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

/// Where moto serves SES v2 (`SES_ENDPOINT`, else the SQS endpoint: one moto serves both).
pub fn ses_endpoint() -> String {
    std::env::var("SES_ENDPOINT").unwrap_or_else(|_| sqs_endpoint())
}

/// The sender tests send from; its domain is verified in moto by [`ses_client`].
pub const SENDER: &str = "Objecta <invitations@objecta.test>";

/// The key local runs sign unsubscribe links with (configuration in production).
pub const UNSUBSCRIBE_KEY: &str = "local-unsubscribe-signing-key-0123456789";
/// The API's public base URL in local runs (what unsubscribe links start with).
pub const API_PUBLIC_URL: &str = "https://api.objecta.test";

/// The unsubscribe links of local runs.
pub fn unsubscribe_links() -> notifications::UnsubscribeLinks {
    notifications::UnsubscribeLinks::new(UNSUBSCRIBE_KEY.as_bytes(), API_PUBLIC_URL)
        .expect("the local key is long enough")
}

/// An SES v2 client for moto, with the sender's domain verified (moto refuses unverified
/// senders, as SES does).
pub async fn ses_client() -> aws_sdk_sesv2::Client {
    ses_client_at(&ses_endpoint()).await
}

/// [`ses_client`] for the moto at `endpoint` (benchmarks pass theirs).
pub async fn ses_client_at(endpoint: &str) -> aws_sdk_sesv2::Client {
    let client = aws_sdk_sesv2::Client::new(&local_sdk_config(endpoint));
    if let Err(error) = client
        .create_email_identity()
        .email_identity("objecta.test")
        .send()
        .await
    {
        let already = error
            .as_service_error()
            .is_some_and(|e| e.is_already_exists_exception());
        assert!(
            already,
            "cannot verify the sender in moto at {endpoint}: {}",
            aws_sdk_sesv2::error::DisplayErrorContext(error)
        );
    }
    client
}

/// An email moto accepted: the subject and the body it kept (the HTML part when there is one).
#[derive(Clone, Debug)]
pub struct SentEmail {
    pub from: String,
    pub subject: String,
    pub body: String,
}

/// Every email moto accepted for `to`, oldest first.
pub async fn sent_emails(to: &str) -> Vec<SentEmail> {
    sent_emails_at(&ses_endpoint(), |address| address == to).await
}

/// Every email the moto at `endpoint` accepted for an address `to` takes, oldest first.
pub async fn sent_emails_at(endpoint: &str, to: impl Fn(&str) -> bool) -> Vec<SentEmail> {
    let url = format!("{endpoint}/moto-api/data.json");
    let data: serde_json::Value = reqwest::get(&url)
        .await
        .and_then(|r| r.error_for_status())
        .expect("moto answers its data.json")
        .json()
        .await
        .expect("moto's data.json is JSON");
    data["ses"]["Message"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| {
            m["destinations"]["ToAddresses"]
                .as_array()
                .is_some_and(|a| a.iter().any(|r| r.as_str().is_some_and(&to)))
        })
        .map(|m| SentEmail {
            from: m["source"].as_str().unwrap_or_default().to_owned(),
            subject: m["subject"].as_str().unwrap_or_default().to_owned(),
            body: m["body"].as_str().unwrap_or_default().to_owned(),
        })
        .collect()
}

/// How the template's functions run against the local emulators (benchmarks, end-to-end tests):
/// the template parameters that have no default, and the environment over the template's, with
/// local auth and every AWS client pointed at DynamoDB Local or moto (`moto` serves SQS and SES).
pub fn local_backend(
    dynamodb: &str,
    moto: &str,
) -> (
    std::collections::BTreeMap<String, String>,
    std::collections::BTreeMap<String, String>,
) {
    let owned = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let parameters = owned(&[
        ("JwtIssuer", "https://objecta-local.invalid/"),
        ("JwksUrl", "https://objecta-local.invalid/jwks"),
        ("JwtAudience", config::LOCAL_AUDIENCE),
        ("AppUrl", "http://localhost:5173"),
        ("SesIdentity", "objecta.test"),
        ("InvitationSender", SENDER),
        ("NotificationSender", SENDER),
        ("ApiPublicUrl", API_PUBLIC_URL),
        ("UnsubscribeSigningKey", UNSUBSCRIBE_KEY),
        // Billing: the local Stripe's prices; its keys come from the environment below.
        (
            "StripeSecretKeySecretArn",
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:local-stripe-key",
        ),
        (
            "StripeWebhookSecretArn",
            "arn:aws:secretsmanager:us-east-1:000000000000:secret:local-stripe-webhook",
        ),
        ("StripePriceStarterMonth", "price_starter_month"),
        ("StripePriceStarterYear", "price_starter_year"),
        ("StripePriceProMonth", "price_pro_month"),
        ("StripePriceProYear", "price_pro_year"),
        ("StripePriceEnterpriseMonth", "price_enterprise_month"),
        ("StripePriceEnterpriseYear", "price_enterprise_year"),
    ]);
    let environment = owned(&[
        ("AUTH_MODE", "local"),
        ("JWT_ISSUER", config::LOCAL_ISSUER),
        ("JWT_AUDIENCE", config::LOCAL_AUDIENCE),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL_DYNAMODB", dynamodb),
        ("AWS_ENDPOINT_URL_SQS", moto),
        ("AWS_ENDPOINT_URL_SESV2", moto),
        ("RUST_LOG", "info"),
        // The secrets' ids blanked: the keys are these values (the local Stripe's). Callers
        // that run a local Stripe add `STRIPE_API_BASE`.
        ("STRIPE_SECRET_KEY_SECRET_ID", ""),
        ("STRIPE_WEBHOOK_SECRET_SECRET_ID", ""),
        ("STRIPE_SECRET_KEY", "sk_test_local"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_local"),
    ]);
    (parameters, environment)
}

/// Builds every function's binary (each `functions/<name>` package, `<name>-function`) in the
/// calling test's profile, for the local cloud; answers the directory that holds them.
pub fn function_binaries() -> std::path::PathBuf {
    // target/<profile>/deps/<the test binary> -> target/<profile>
    let dir = std::env::current_exe()
        .expect("the test binary's path")
        .parent()
        .and_then(std::path::Path::parent)
        .expect("tests run from target/<profile>/deps")
        .to_path_buf();
    let functions = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../functions");
    let mut build = std::process::Command::new(env!("CARGO"));
    build.args(["build", "-q", "--bins"]);
    for entry in std::fs::read_dir(functions).expect("functions/ is readable") {
        let name = entry.expect("a directory entry").file_name();
        build.args(["-p", &format!("{}-function", name.to_string_lossy())]);
    }
    if dir.ends_with("release") {
        build.arg("--release");
    }
    assert!(
        build.status().expect("cargo runs").success(),
        "building the functions failed"
    );
    dir
}

/// A client of the local cloud's HTTP API, for end-to-end tests.
pub struct Gateway {
    pub base: String,
    pub http: reqwest::Client,
}

impl Gateway {
    pub fn new(addr: std::net::SocketAddr) -> Self {
        Self {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
        }
    }

    /// A request with a bearer token (a JWT or an API key) and an optional `X-Org-Id`; the
    /// status and the JSON body (`null` when there is none).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        org: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(org) = org {
            request = request.header("x-org-id", org);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the local cloud answers");
        let status = response.status().as_u16();
        let text = response.text().await.expect("a readable body");
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }
}
