//! `local-cloud`: API Gateway and Lambda event sources on 127.0.0.1, from `template.yaml`.
//!
//! ```text
//! local-cloud [--template template.yaml] [--binaries target/debug]
//!             [--http 127.0.0.1:3000] [--websocket 127.0.0.1:3001] [--admin 127.0.0.1:3002]
//!             [--dynamodb http://127.0.0.1:8000] [--table objecta-local]
//!             [--sqs http://127.0.0.1:5000] [--queue-prefix ""]
//!             [--param NAME=VALUE]... [--env NAME=VALUE]... [--max-instances 4]
//!             [--jwt-secret local-dev-secret | --jwt-public-key key.pem]
//!             [--websocket-idle-timeout 600] [--websocket-max-connection 7200]
//! ```

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use local_cloud::Config;
use local_cloud::jwt::JwtKey;

fn parse(args: Vec<String>) -> Result<Config, String> {
    let mut config = Config {
        template: "template.yaml".into(),
        binaries_dir: "target/debug".into(),
        http_addr: "127.0.0.1:3000".parse().unwrap(),
        websocket_addr: "127.0.0.1:3001".parse().unwrap(),
        admin_addr: "127.0.0.1:3002".parse().unwrap(),
        dynamodb_endpoint: None,
        table_name: "objecta-local".into(),
        sqs_endpoint: None,
        queue_prefix: String::new(),
        parameters: BTreeMap::new(),
        environment: BTreeMap::new(),
        max_instances: 4,
        jwt_key: JwtKey::Hs256("local-dev-secret".into()),
        websocket_idle_timeout: local_cloud::websocket::DEFAULT_IDLE_TIMEOUT,
        websocket_max_connection: local_cloud::websocket::DEFAULT_MAX_CONNECTION,
        paused_consumers: Default::default(),
    };
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let pair = |v: String| {
            v.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or(format!("{flag} takes NAME=VALUE"))
        };
        let address = |v: String| {
            v.parse()
                .map_err(|_| format!("{flag}: {v} is not HOST:PORT"))
        };
        match flag.as_str() {
            "--template" => config.template = value()?.into(),
            "--binaries" => config.binaries_dir = value()?.into(),
            "--http" => config.http_addr = address(value()?)?,
            "--websocket" => config.websocket_addr = address(value()?)?,
            "--admin" => config.admin_addr = address(value()?)?,
            "--dynamodb" => config.dynamodb_endpoint = Some(value()?),
            "--table" => config.table_name = value()?,
            "--sqs" => config.sqs_endpoint = Some(value()?),
            "--queue-prefix" => config.queue_prefix = value()?,
            "--param" => {
                let (k, v) = pair(value()?)?;
                config.parameters.insert(k, v);
            }
            "--env" => {
                let (k, v) = pair(value()?)?;
                config.environment.insert(k, v);
            }
            "--max-instances" => {
                config.max_instances = value()?
                    .parse()
                    .map_err(|_| "--max-instances takes a number")?
            }
            "--jwt-secret" => config.jwt_key = JwtKey::Hs256(value()?),
            "--jwt-public-key" => {
                let path = value()?;
                config.jwt_key =
                    JwtKey::Rs256Pem(std::fs::read(&path).map_err(|e| format!("{path}: {e}"))?);
            }
            "--websocket-idle-timeout" => {
                config.websocket_idle_timeout =
                    Duration::from_secs(value()?.parse().map_err(|_| "seconds expected")?)
            }
            "--websocket-max-connection" => {
                config.websocket_max_connection =
                    Duration::from_secs(value()?.parse().map_err(|_| "seconds expected")?)
            }
            "--help" | "-h" => {
                return Err(include_str!("main.rs")
                    .lines()
                    .skip(2)
                    .take(9)
                    .map(|l| l.trim_start_matches("//! "))
                    .collect::<Vec<_>>()
                    .join("\n"));
            }
            other => return Err(format!("unknown argument {other} (see --help)")),
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::FAILURE;
        }
    };
    let cloud = match local_cloud::start(config).await {
        Ok(cloud) => cloud,
        Err(error) => {
            eprintln!("local-cloud: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("local-cloud: HTTP API      http://{}", cloud.http);
    println!("local-cloud: WebSocket API ws://{}", cloud.websocket);
    println!(
        "local-cloud: @connections  http://{}/@connections/{{id}}",
        cloud.admin
    );
    println!(
        "local-cloud: status        http://{}/__local/status",
        cloud.admin
    );
    println!(
        "local-cloud: functions     {}",
        cloud
            .functions
            .keys()
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = tokio::signal::ctrl_c().await;
    cloud.shutdown();
    ExitCode::SUCCESS
}
