//! The local cloud over the test emulators: every function of `template.yaml` with its real
//! binary, on free ports, a fresh table and queues of their own.

/// A running local cloud, its table, and a client of its HTTP API.
pub struct LocalCloud {
    pub cloud: local_cloud::Cloud,
    pub table: String,
    pub api: crate::Gateway,
}

/// Starts the local cloud for an end-to-end test. `queue_prefix` keeps this test's queues apart
/// from other tests' in the shared moto (a letter or two is enough: an id is added).
pub async fn start(queue_prefix: &str) -> LocalCloud {
    local_cloud::logs::set_quiet(std::env::var_os("LOCAL_CLOUD_LOGS").is_none());
    // The sender's domain must be verified before a function sends mail.
    crate::ses_client().await;
    let dynamodb = crate::dynamodb_endpoint();
    let sqs = crate::sqs_endpoint();
    let (parameters, mut environment) = crate::local_backend(&dynamodb, &sqs);
    environment.insert("AWS_ENDPOINT_URL_SESV2".into(), crate::ses_endpoint());
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let table = format!("e2e-{id}");
    let cloud = local_cloud::start(local_cloud::Config {
        template: sam_template::default_path(),
        binaries_dir: crate::function_binaries(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        websocket_addr: "127.0.0.1:0".parse().unwrap(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        dynamodb_endpoint: Some(dynamodb),
        table_name: table.clone(),
        sqs_endpoint: Some(sqs),
        queue_prefix: format!("{queue_prefix}{}-", &id[16..]),
        parameters,
        environment,
        max_instances: 2,
        jwt_key: local_cloud::jwt::JwtKey::Hs256(config::LOCAL_SECRET.into()),
        websocket_idle_timeout: local_cloud::websocket::DEFAULT_IDLE_TIMEOUT,
    })
    .await
    .expect("the local cloud starts");
    LocalCloud {
        api: crate::Gateway::new(cloud.http),
        cloud,
        table,
    }
}
