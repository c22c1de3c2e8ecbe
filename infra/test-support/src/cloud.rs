//! The local cloud over the test emulators: every function of `template.yaml` with its real
//! binary, on free ports, a fresh table and queues of their own.

/// A running local cloud, its table, and a client of its HTTP API.
pub struct LocalCloud {
    pub cloud: local_cloud::Cloud,
    pub table: String,
    pub api: crate::Gateway,
}

/// How the template's functions run over the emulators (end-to-end tests, benchmarks): the
/// binaries of `binaries_dir`, free ports, local auth, every AWS client pointed at DynamoDB
/// Local (`dynamodb`) or moto (`moto`: SQS and SES), `table` and queues named after it. Callers
/// change what they need with struct update syntax (`max_instances`, say).
pub fn config(
    binaries_dir: std::path::PathBuf,
    dynamodb: &str,
    moto: &str,
    table: &str,
) -> local_cloud::Config {
    let (parameters, environment) = crate::local_backend(dynamodb, moto);
    local_cloud::Config {
        template: sam_template::default_path(),
        binaries_dir,
        http_addr: "127.0.0.1:0".parse().unwrap(),
        websocket_addr: "127.0.0.1:0".parse().unwrap(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        dynamodb_endpoint: Some(dynamodb.to_owned()),
        table_name: table.to_owned(),
        sqs_endpoint: Some(moto.to_owned()),
        queue_prefix: format!("{table}-"),
        parameters,
        environment,
        max_instances: 2,
        jwt_key: local_cloud::jwt::JwtKey::Hs256(config::LOCAL_SECRET.into()),
        websocket_idle_timeout: local_cloud::websocket::DEFAULT_IDLE_TIMEOUT,
        websocket_max_connection: local_cloud::websocket::DEFAULT_MAX_CONNECTION,
        paused_consumers: Default::default(),
    }
}

/// A table name of its own for an end-to-end test.
pub fn table_name() -> String {
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    format!("e2e-{id}")
}

/// Creates `table` from the template (with its stream), before the local cloud starts: what is
/// written then is what a stream mapping starting at TRIM_HORIZON reads first.
pub async fn create_table(table: &str) {
    let template = sam_template::Template::load(&sam_template::default_path()).unwrap();
    local_cloud::ensure_table(&template, &crate::dynamodb_endpoint(), table)
        .await
        .expect("the table is created");
}

/// Starts the local cloud for an end-to-end test, on a table of its own. `queue_prefix` keeps
/// this test's queues apart from other tests' in the shared moto (an id is added).
pub async fn start(queue_prefix: &str) -> LocalCloud {
    start_with(queue_prefix, &table_name(), |_| {}).await
}

/// [`start`] on `table` (created if missing), with `change` applied to the configuration (say,
/// an endpoint of the functions' environment pointed elsewhere).
pub async fn start_with(
    queue_prefix: &str,
    table: &str,
    change: impl FnOnce(&mut local_cloud::Config),
) -> LocalCloud {
    local_cloud::logs::set_quiet(std::env::var_os("LOCAL_CLOUD_LOGS").is_none());
    // The sender's domain must be verified before a function sends mail.
    crate::ses_client().await;
    let mut config = config(
        crate::function_binaries(),
        &crate::dynamodb_endpoint(),
        &crate::sqs_endpoint(),
        table,
    );
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    config.queue_prefix = format!("{queue_prefix}{}-", &id[16..]);
    config
        .environment
        .insert("AWS_ENDPOINT_URL_SESV2".into(), crate::ses_endpoint());
    change(&mut config);
    let cloud = local_cloud::start(config)
        .await
        .expect("the local cloud starts");
    LocalCloud {
        api: crate::Gateway::new(cloud.http),
        cloud,
        table: table.to_owned(),
    }
}
