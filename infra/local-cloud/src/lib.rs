//! The local cloud: stands in for API Gateway (HTTP API, WebSocket API, `@connections`) and
//! Lambda's SQS and DynamoDB Streams event sources on 127.0.0.1, running each function's real `bootstrap` binary, all
//! read from `template.yaml`. See `main.rs` for the command line.

pub mod admin;
pub mod batch;
pub mod clients;
pub mod events;
pub mod filter;
pub mod http_api;
pub mod jwt;
pub mod logs;
pub mod runtime;
pub mod sqs;
pub mod streams;
pub mod websocket;

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sam_template::{Resolver, Template};
use serde_json::Value;

use crate::http_api::{Cors, HttpApi, HttpRoute};
use crate::jwt::{JwtAuthorizer, JwtKey};
use crate::runtime::{Function, FunctionSpec};
use crate::websocket::{Connections, WebSocketApi};

pub struct Config {
    pub template: PathBuf,
    /// Where the functions' binaries are (`target/debug` or `target/release`).
    pub binaries_dir: PathBuf,
    pub http_addr: SocketAddr,
    pub websocket_addr: SocketAddr,
    /// `@connections` and the status endpoint.
    pub admin_addr: SocketAddr,
    /// DynamoDB Local, where the template's table is created (if missing).
    pub dynamodb_endpoint: Option<String>,
    pub table_name: String,
    /// moto, where the template's queues are created and polled.
    pub sqs_endpoint: Option<String>,
    /// Prefix of queue names (tests run side by side on one moto).
    pub queue_prefix: String,
    pub parameters: BTreeMap<String, String>,
    /// Set in every function's environment, over the template's values.
    pub environment: BTreeMap<String, String>,
    pub max_instances: usize,
    /// Key of the emulated JWT authorizer.
    pub jwt_key: JwtKey,
    pub websocket_idle_timeout: Duration,
    /// API Gateway closes a connection this long after it opened (two hours; tests shorten it).
    pub websocket_max_connection: Duration,
    /// Functions whose SQS mappings do not poll, and stream mappings (by their logical id) that
    /// do not read, as if disabled (`Enabled: false`): a test of what a producer puts on a queue
    /// reads the queue itself.
    pub paused_consumers: BTreeSet<String>,
}

pub struct Cloud {
    pub http: SocketAddr,
    pub websocket: SocketAddr,
    pub admin: SocketAddr,
    pub functions: BTreeMap<String, Arc<Function>>,
    pub queues: BTreeMap<String, sqs::Queue>,
    pub connections: Arc<Connections>,
}

impl Cloud {
    /// Stops every idle instance (busy ones end with the process group).
    pub fn shutdown(&self) {
        for function in self.functions.values() {
            function.recycle();
        }
    }
}

/// Creates the template's table in DynamoDB Local under `table_name`, unless it exists.
/// Answers whether it was created.
pub async fn ensure_table(
    template: &Template,
    endpoint: &str,
    table_name: &str,
) -> Result<bool, String> {
    let client = clients::dynamodb(endpoint);
    let tables = client
        .list_tables()
        .send()
        .await
        .map_err(clients::sdk_error)?;
    if tables.table_names().iter().any(|t| t == table_name) {
        logs::system("dynamodb", &format!("table {table_name} exists"));
        return Ok(false);
    }
    template
        .table()
        .map_err(|e| e.to_string())?
        .create(&client, table_name)
        .await?;
    logs::system(
        "dynamodb",
        &format!("created table {table_name} from the template"),
    );
    Ok(true)
}

/// The ARN of the table's current stream, if it has one.
async fn stream_arn(endpoint: &str, table_name: &str) -> Result<Option<String>, String> {
    let table = clients::dynamodb(endpoint)
        .describe_table()
        .table_name(table_name)
        .send()
        .await
        .map_err(clients::sdk_error)?;
    Ok(table.table.and_then(|t| t.latest_stream_arn))
}

/// Starts the template's stream mappings (`AWS::Lambda::EventSourceMapping` on the table's
/// stream) against DynamoDB Local.
fn start_stream_mappings(
    template: &Template,
    resolver: &Resolver,
    config: &Config,
    functions: &BTreeMap<String, Arc<Function>>,
    queues: &BTreeMap<String, sqs::Queue>,
) -> Result<(), String> {
    let mappings = template.stream_mappings().map_err(|e| e.to_string())?;
    if mappings.is_empty() {
        return Ok(());
    }
    let Some(endpoint) = &config.dynamodb_endpoint else {
        return Err("stream mappings need DynamoDB Local (--dynamodb)".into());
    };
    let client = clients::dynamodb_streams(endpoint);
    let http = reqwest::Client::new();
    for definition in mappings
        .into_iter()
        .filter(|m| m.enabled && !config.paused_consumers.contains(&m.logical_id))
    {
        let name = definition.logical_id.clone();
        let function_name = resolver
            .string(&definition.function)
            .map_err(|e| format!("{name}: {e}"))?;
        let function = functions
            .get(&function_name)
            .ok_or_else(|| format!("{name}: no function {function_name}"))?
            .clone();
        let stream_arn = resolver
            .string(&definition.event_source)
            .map_err(|e| format!("{name}: {e}"))?;
        let on_failure = match &definition.on_failure {
            None => None,
            Some(destination) => {
                let arn = resolver
                    .string(destination)
                    .map_err(|e| format!("{name}: {e}"))?;
                let queue = queues
                    .values()
                    .find(|q| q.arn == arn)
                    .ok_or_else(|| format!("{name}: the failure destination {arn} is no queue"))?;
                let endpoint = config
                    .sqs_endpoint
                    .as_ref()
                    .ok_or_else(|| format!("{name}: a failure queue needs moto (--sqs)"))?;
                Some(streams::FailureDestination {
                    client: clients::sqs(endpoint),
                    queue_url: queue.url.clone(),
                })
            }
        };
        logs::system(
            "streams",
            &format!(
                "{function_name} reads the table's stream (batch {}, window {} s, {} filters)",
                definition.batch_size,
                definition.batching_window_secs,
                definition.filter_patterns.len()
            ),
        );
        Arc::new(streams::StreamMapping {
            function_arn: format!(
                "arn:aws:lambda:{}:{}:function:{function_name}",
                resolver.region, resolver.account
            ),
            name,
            endpoint: endpoint.clone(),
            http: http.clone(),
            function,
            stream_arn,
            starting_position: definition.starting_position,
            batch_size: definition.batch_size.max(1) as usize,
            batching_window: Duration::from_secs(definition.batching_window_secs.into()),
            filters: filter::Filters::parse(&definition.filter_patterns)
                .map_err(|e| format!("{}: {e}", definition.logical_id))?,
            report_batch_item_failures: definition.report_batch_item_failures,
            bisect_batch_on_function_error: definition.bisect_batch_on_function_error,
            maximum_retry_attempts: definition.maximum_retry_attempts,
            maximum_record_age: definition
                .maximum_record_age_secs
                .map(|s| Duration::from_secs(s.into())),
            on_failure,
            region: resolver.region.clone(),
        })
        .start(client.clone());
    }
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener, String> {
    tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

fn serve(listener: tokio::net::TcpListener, router: axum::Router) -> Result<SocketAddr, String> {
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Ok(bound)
}

/// `(METHOD, path)` of a route.
type RouteKey = (String, String);

/// The JWT authorizer of the HTTP API, if the template enables one under these parameters, and
/// the routes it guards.
fn authorizer(
    template: &Template,
    resolver: &Resolver,
    key: JwtKey,
) -> Result<(Option<JwtAuthorizer>, Vec<RouteKey>), String> {
    let Some(definition) = template.jwt_authorizer() else {
        return Ok((None, Vec::new()));
    };
    let schemes = resolver
        .value(&definition.scheme)
        .map_err(|e| e.to_string())?;
    let jwt = schemes
        .as_ref()
        .and_then(Value::as_object)
        .into_iter()
        .flat_map(|s| s.values())
        .find_map(|scheme| {
            scheme
                .get("x-amazon-apigateway-authorizer")
                .filter(|a| a.get("type").and_then(Value::as_str) == Some("jwt"))
        })
        .and_then(|a| a.get("jwtConfiguration"));
    let Some(jwt) = jwt else {
        return Ok((None, Vec::new()));
    };
    let issuer = jwt
        .get("issuer")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let audiences: Vec<String> = jwt
        .get("audience")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_owned))
        .collect();
    let mut guarded = Vec::new();
    for (method, path, security) in definition.routes {
        let resolved = resolver.value(&security).map_err(|e| e.to_string())?;
        if resolved
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|list| !list.is_empty())
        {
            guarded.push((method, path));
        }
    }
    logs::system(
        "http",
        &format!(
            "JWT authorizer on: issuer {issuer}, audience {audiences:?}, {} routes",
            guarded.len()
        ),
    );
    Ok((Some(JwtAuthorizer::new(issuer, &audiences, key)?), guarded))
}

/// A WebSocket API's management endpoint as the template builds it
/// (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`, the API's `Ref` being `local`
/// here) is the local `@connections` server; any other value is left alone.
fn management_endpoint(value: &str, admin: SocketAddr) -> String {
    match value
        .strip_prefix("https://local.execute-api.")
        .and_then(|rest| rest.split_once('/'))
    {
        Some((_, stage)) => format!("http://{admin}/{stage}"),
        None => value.to_owned(),
    }
}

/// Starts everything the template describes.
pub async fn start(config: Config) -> Result<Cloud, String> {
    let template = Template::load(&config.template).map_err(|e| e.to_string())?;
    // Listen first, so the real addresses (port 0 picks one) are what the template resolves to.
    let http_listener = bind(config.http_addr).await?;
    let websocket_listener = bind(config.websocket_addr).await?;
    let admin_listener = bind(config.admin_addr).await?;
    let websocket_bound = websocket_listener.local_addr().map_err(|e| e.to_string())?;
    let admin_bound = admin_listener.local_addr().map_err(|e| e.to_string())?;
    let mut resolver = Resolver::new(&template, config.parameters.clone());
    let region = resolver.region.clone();
    let account = resolver.account.clone();

    if let Ok(table) = template.table() {
        resolver.set_ref(&table.logical_id, &config.table_name);
        resolver.set_attribute(
            &table.logical_id,
            "Arn",
            format!(
                "arn:aws:dynamodb:{region}:{account}:table/{}",
                config.table_name
            ),
        );
        if let Some(endpoint) = &config.dynamodb_endpoint {
            ensure_table(&template, endpoint, &config.table_name).await?;
            if let Some(arn) = stream_arn(endpoint, &config.table_name).await? {
                resolver.set_attribute(&table.logical_id, "StreamArn", arn);
            }
        }
    }
    let definitions = template.functions().map_err(|e| e.to_string())?;
    for f in &definitions {
        resolver.set_ref(&f.logical_id, &f.logical_id);
        resolver.set_attribute(
            &f.logical_id,
            "Arn",
            format!(
                "arn:aws:lambda:{region}:{account}:function:{}",
                f.logical_id
            ),
        );
    }
    for api in template.websocket_apis() {
        resolver.set_ref(&api.logical_id, "local");
        resolver.set_attribute(
            &api.logical_id,
            "ApiEndpoint",
            format!("ws://{websocket_bound}"),
        );
    }
    let sqs_client = config.sqs_endpoint.as_ref().map(|e| clients::sqs(e));
    let queues = match &sqs_client {
        Some(client) => {
            sqs::create_queues(client, &template, &mut resolver, &config.queue_prefix).await?
        }
        None => BTreeMap::new(),
    };

    let mut functions = BTreeMap::new();
    let mut missing = Vec::new();
    for definition in &definitions {
        let mut environment = BTreeMap::new();
        for (name, value) in &definition.environment {
            match resolver.string(value) {
                Ok(value) => {
                    environment.insert(name.clone(), management_endpoint(&value, admin_bound));
                }
                Err(error) => logs::system(
                    &definition.logical_id,
                    &format!("{name} left unset: {error}"),
                ),
            }
        }
        environment.extend(config.environment.clone());
        let binary = config.binaries_dir.join(&definition.binary);
        if !binary.exists() {
            missing.push(binary.display().to_string());
        }
        let spec = FunctionSpec {
            name: definition.logical_id.clone(),
            binary,
            environment,
            timeout: Duration::from_secs(definition.timeout_secs),
            memory_mb: definition.memory_mb,
            max_instances: config.max_instances,
        };
        functions.insert(definition.logical_id.clone(), Function::new(spec));
    }
    if !missing.is_empty() {
        return Err(format!(
            "function binaries not built: {} (run `cargo build --bins`)",
            missing.join(", ")
        ));
    }

    start_stream_mappings(&template, &resolver, &config, &functions, &queues)?;
    let (jwt, guarded) = authorizer(&template, &resolver, config.jwt_key)?;
    let mut routes = Vec::new();
    for definition in &definitions {
        for (method, path) in &definition.routes {
            routes.push(HttpRoute {
                method: method.clone(),
                path: path.clone(),
                function: functions[&definition.logical_id].clone(),
                authorized: guarded.iter().any(|(m, p)| m == method && p == path),
            });
        }
    }
    let cors = match template.cors() {
        None => None,
        Some(c) => Some(Cors {
            allow_origins: resolver.list(&c.allow_origins).map_err(|e| e.to_string())?,
            allow_methods: c.allow_methods,
            allow_headers: c.allow_headers,
            expose_headers: c.expose_headers,
            max_age_secs: c.max_age_secs,
            allow_credentials: c.allow_credentials,
        }),
    };
    let http = Arc::new(HttpApi::new(routes, cors, jwt)?);
    let http_addr = serve(http_listener, http.router())?;

    let connections = Arc::new(Connections::default());
    let ws_definition = template.websocket_apis().into_iter().next();
    let websocket = Arc::new(WebSocketApi {
        routes: ws_definition
            .as_ref()
            .map(|api| {
                api.routes
                    .iter()
                    .filter_map(|(key, f)| functions.get(f).map(|f| (key.clone(), f.clone())))
                    .collect()
            })
            .unwrap_or_default(),
        selection_field: ws_definition.as_ref().and_then(|api| {
            api.route_selection_expression
                .strip_prefix("$request.body.")
                .map(str::to_owned)
        }),
        connections: connections.clone(),
        idle_timeout: config.websocket_idle_timeout,
        max_connection: config.websocket_max_connection,
    });
    let websocket_addr = serve(websocket_listener, websocket.router())?;
    let admin = Arc::new(admin::Admin {
        connections: connections.clone(),
        functions: functions.clone(),
    });
    let admin_addr = serve(admin_listener, admin.router())?;

    if let Some(client) = &sqs_client {
        for definition in &definitions {
            let paused = config.paused_consumers.contains(&definition.logical_id);
            for event in definition
                .sqs_events
                .iter()
                .filter(|e| e.enabled && !paused)
            {
                let arn = resolver.string(&event.queue).map_err(|e| e.to_string())?;
                let queue = queues
                    .values()
                    .find(|q| q.arn == arn)
                    .cloned()
                    .ok_or_else(|| format!("{}: no queue {arn}", definition.logical_id))?;
                if queue.fifo && event.batching_window_secs > 0 {
                    // As Lambda refuses such a mapping.
                    return Err(format!(
                        "{}: a FIFO queue's mapping takes no MaximumBatchingWindowInSeconds",
                        definition.logical_id
                    ));
                }
                logs::system(
                    "sqs",
                    &format!(
                        "{} polls {} (batch {}, window {} s)",
                        definition.logical_id,
                        queue.name,
                        event.batch_size,
                        event.batching_window_secs
                    ),
                );
                Arc::new(sqs::Mapping {
                    function: functions[&definition.logical_id].clone(),
                    queue,
                    batch_size: event.batch_size,
                    batching_window: Duration::from_secs(event.batching_window_secs.into()),
                    report_batch_item_failures: event.report_batch_item_failures,
                    concurrency: event
                        .maximum_concurrency
                        .unwrap_or(2)
                        .min(config.max_instances as u32),
                    region: region.clone(),
                })
                .start(client.clone());
            }
        }
    }
    Ok(Cloud {
        http: http_addr,
        websocket: websocket_addr,
        admin: admin_addr,
        functions,
        queues,
        connections,
    })
}
