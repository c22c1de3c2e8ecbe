//! Developer commands:
//!
//! - `mint-token --user ID [--email E] [--name N] [--org ORG_ID] [--ttl SECONDS]`: a local
//!   HS256 token (AUTH_MODE=local, secret from JWT_HS256_SECRET or the local default);
//! - `create-table --endpoint URL --table NAME`: the template's table in DynamoDB Local;
//! - `openapi`: regenerates `docs/openapi.json` from the code;
//! - `bench --binaries DIR --dynamodb URL --table NAME --function LOGICAL_ID=EVENT_FILE...
//!   [--runs N] [--burst N]`: cold start, latency, gateway overhead and peak RSS of release
//!   binaries run by the local cloud (see `infra/bench`);
//! - `ingest --binaries DIR --dynamodb URL --sqs URL [--ses URL] --events N[,N...]
//!   [--concurrency N] [--window N (0: open loop)] [--instances N] [--mixed-seconds S]
//!   [--mixed-clients N] [--table-stream on|off] [--writes-in-flight N]`: N
//!   tracked events through the local cloud to the overview, and the aggregation's write cost
//!   (see `infra/bench-analytics`);
//! - `limits --binaries DIR --dynamodb URL --sqs URL [--ses URL] [--concurrency N[,N...]]`: how
//!   many events beyond the free plan's message limit get through before the track route answers
//!   402 (see `infra/bench-limits`; SES defaults to the SQS endpoint, as moto serves both);
//! - `relay --binaries DIR --dynamodb URL --sqs URL [--runs N] [--changes N] [--rate N]`: the outbox
//!   relay's cold start and the commit-to-queue lag over N changes (see `infra/bench-relay`).
//! - `webhook --binaries DIR --dynamodb URL --sqs URL [--runs N] [--orgs N] [--concurrency N]`:
//!   the Stripe webhook's cold start with its refetch, and a delivery run of every event N
//!   organizations' billing made, chaos off and on (see `infra/bench-webhook`).
//! - `dispatcher --binaries DIR --dynamodb URL --sqs URL [--runs N] [--messages N] [--in-flight N]
//!   [--members N]`: the notifications dispatcher's cold start, a closed loop of single-recipient
//!   messages, a fan-out to N members and the write units per notification (see
//!   `infra/bench-dispatcher`).
//! - `realtime --binaries DIR --dynamodb URL --sqs URL [--runs N] [--clients K] [--orgs N]
//!   [--notifications N] [--in-flight N]`: the websocket function's cold start and the latency from a send's 202
//!   to the frame, by stage (see `infra/bench-realtime`).

use std::collections::HashMap;
use std::process::ExitCode;

mod bench;
mod dispatch;
mod email;
mod ingest;
mod limits;
mod realtime;
mod relay;
mod webhook;

/// `--name value` pairs; a repeated flag keeps every value, comma-joined.
fn flags(args: &[String]) -> Result<HashMap<String, String>, String> {
    let mut map: HashMap<String, String> = HashMap::new();
    let mut iter = args.iter();
    while let Some(flag) = iter.next() {
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag}"))?;
        let value = iter
            .next()
            .ok_or_else(|| format!("--{name} needs a value"))?;
        map.entry(name.to_owned())
            .and_modify(|v| {
                v.push(',');
                v.push_str(value);
            })
            .or_insert_with(|| value.clone());
    }
    Ok(map)
}

fn mint_token(flags: &HashMap<String, String>) -> Result<String, String> {
    let user = flags.get("user").ok_or("--user is required")?;
    let ttl: u64 = flags
        .get("ttl")
        .map_or(Ok(3600), |t| t.parse().map_err(|_| "--ttl must be seconds"))?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let env = config::Env::from_process();
    let mut claims = serde_json::json!({
        "sub": user,
        "iss": env.or("JWT_ISSUER", config::LOCAL_ISSUER),
        "aud": env.or("JWT_AUDIENCE", config::LOCAL_AUDIENCE),
        "iat": now,
        "exp": now + ttl,
        "email": flags.get("email").cloned().unwrap_or_else(|| format!("{user}@example.com")),
        "email_verified": true,
        "name": flags.get("name").cloned().unwrap_or_else(|| user.clone()),
    });
    if let Some(org) = flags.get("org") {
        claims["org_id"] = serde_json::Value::String(org.clone());
    }
    let secret = env.or("JWT_HS256_SECRET", config::LOCAL_SECRET);
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .map_err(|e| e.to_string())
}

async fn create_table(flags: &HashMap<String, String>) -> Result<String, String> {
    let endpoint = flags.get("endpoint").ok_or("--endpoint is required")?;
    let table = flags.get("table").ok_or("--table is required")?;
    let template =
        sam_template::Template::load(&sam_template::default_path()).map_err(|e| e.to_string())?;
    local_cloud::logs::set_quiet(true);
    Ok(
        if local_cloud::ensure_table(&template, endpoint, table).await? {
            format!("created table {table} from template.yaml")
        } else {
            format!("table {table} already exists")
        },
    )
}

/// The value of `--name`, which must be given.
fn required(flags: &HashMap<String, String>, name: &str) -> Result<String, String> {
    flags
        .get(name)
        .cloned()
        .ok_or(format!("--{name} is required"))
}

/// The number given as `--name`, else `default`.
fn number(flags: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, String> {
    flags.get(name).map_or(Ok(default), |v| {
        v.parse().map_err(|_| format!("--{name} must be a number"))
    })
}

async fn run_bench(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let count = |name: &str, default: usize| number(flags, name, default);
    let functions = get("function")?
        .split(',')
        .map(|pair| {
            pair.split_once('=')
                .map(|(f, e)| (f.to_owned(), e.into()))
                .ok_or(format!(
                    "--function takes LOGICAL_ID=EVENT_FILE, not {pair}"
                ))
        })
        .collect::<Result<_, _>>()?;
    let options = bench::BenchOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        table: get("table")?,
        runs: count("runs", 21)?,
        burst: count("burst", 500)?,
        functions,
    };
    let token = mint_token(&HashMap::from([(
        "user".to_owned(),
        "bench-user".to_owned(),
    )]))?;
    bench::run(options, token).await
}

async fn run_webhook(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let count = |name: &str, default: usize| number(flags, name, default);
    let options = webhook::WebhookOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        runs: count("runs", 21)?,
        orgs: count("orgs", 50)?,
        concurrency: count("concurrency", 8)?,
    };
    let token = mint_token(&HashMap::from([(
        "user".to_owned(),
        "webhook-bench-user".to_owned(),
    )]))?;
    webhook::run(options, token).await
}

async fn run_relay(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let count = |name: &str, default: usize| number(flags, name, default);
    relay::run(relay::RelayOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        runs: count("runs", 21)?,
        changes: count("changes", 1000)?,
        rate: count("rate", 20)?,
    })
    .await
}

async fn run_dispatcher(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let count = |name: &str, default: usize| number(flags, name, default);
    dispatch::run(dispatch::DispatchOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        runs: count("runs", 21)?,
        messages: count("messages", 1000)?,
        in_flight: count("in-flight", 10)?,
        members: count("members", 1000)?,
    })
    .await
}

async fn run_email(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let count = |name: &str, default: usize| number(flags, name, default);
    email::run(email::EmailOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        runs: count("runs", 21)?,
        emails: count("emails", 500)?,
    })
    .await
}

async fn run_realtime(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let count = |name: &str, default: usize| number(flags, name, default);
    realtime::run(realtime::RealtimeOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        runs: count("runs", 21)?,
        clients: count("clients", 100)?,
        orgs: count("orgs", 10)?,
        notifications: count("notifications", 1000)?,
        in_flight: count("in-flight", 10)?,
        email: flags.get("email").is_none_or(|v| v != "off"),
    })
    .await
}

async fn run_ingest(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let counts = get("events")?
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("--events takes numbers, not {n}"))
        })
        .collect::<Result<_, _>>()?;
    let options = ingest::IngestOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        ses: flags.get("ses").cloned(),
        counts,
        concurrency: number(flags, "concurrency", 4)?,
        window: number(flags, "window", 500)?,
        instances: number(flags, "instances", 4)?,
        mixed_seconds: number(flags, "mixed-seconds", 0)? as u64,
        mixed_clients: number(flags, "mixed-clients", 50)?,
        table_stream: match flags.get("table-stream").map(String::as_str) {
            None | Some("on") => true,
            Some("off") => false,
            Some(other) => return Err(format!("--table-stream is on or off, not {other}")),
        },
        writes_in_flight: number(
            flags,
            "writes-in-flight",
            analytics::aggregator::DEFAULT_WRITES_IN_FLIGHT,
        )?,
    };
    let token = mint_token(&HashMap::from([(
        "user".to_owned(),
        "ingest-user".to_owned(),
    )]))?;
    ingest::run(options, token).await
}

async fn run_limits(flags: &HashMap<String, String>) -> Result<String, String> {
    let get = |name: &str| required(flags, name);
    let concurrency = flags
        .get("concurrency")
        .map_or("1,4", String::as_str)
        .split(',')
        .map(|n| {
            n.trim()
                .parse::<usize>()
                .map_err(|_| format!("--concurrency takes numbers, not {n}"))
        })
        .collect::<Result<_, _>>()?;
    let options = limits::LimitsOptions {
        binaries: get("binaries")?.into(),
        dynamodb: get("dynamodb")?,
        sqs: get("sqs")?,
        ses: flags.get("ses").cloned(),
        concurrency,
    };
    let token = mint_token(&HashMap::from([(
        "user".to_owned(),
        "limits-user".to_owned(),
    )]))?;
    limits::run(options, token).await
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("mint-token") => flags(&args[1..]).and_then(|f| mint_token(&f)),
        Some("create-table") => match flags(&args[1..]) {
            Ok(f) => create_table(&f).await,
            Err(e) => Err(e),
        },
        Some("ingest") => match flags(&args[1..]) {
            Ok(f) => run_ingest(&f).await,
            Err(e) => Err(e),
        },
        Some("limits") => match flags(&args[1..]) {
            Ok(f) => run_limits(&f).await,
            Err(e) => Err(e),
        },
        Some("relay") => match flags(&args[1..]) {
            Ok(f) => run_relay(&f).await,
            Err(e) => Err(e),
        },
        Some("dispatcher") => match flags(&args[1..]) {
            Ok(f) => run_dispatcher(&f).await,
            Err(e) => Err(e),
        },
        Some("email") => match flags(&args[1..]) {
            Ok(f) => run_email(&f).await,
            Err(e) => Err(e),
        },
        Some("realtime") => match flags(&args[1..]) {
            Ok(f) => run_realtime(&f).await,
            Err(e) => Err(e),
        },
        Some("webhook") => match flags(&args[1..]) {
            Ok(f) => run_webhook(&f).await,
            Err(e) => Err(e),
        },
        Some("bench") => match flags(&args[1..]) {
            Ok(f) => run_bench(&f).await,
            Err(e) => Err(e),
        },
        Some("openapi") => std::fs::write(devtools::openapi_path(), devtools::openapi_json())
            .map(|()| format!("wrote {}", devtools::openapi_path().display()))
            .map_err(|e| e.to_string()),
        _ => Err(
            "usage: devtools mint-token --user ID [--email E] [--name N] [--org ORG] [--ttl S] | \
                  create-table --endpoint URL --table NAME | openapi | \
                  bench --binaries DIR --dynamodb URL --sqs URL --table NAME --function ID=EVENT... [--runs N] [--burst N]\n\
                  ingest --binaries DIR --dynamodb URL --sqs URL [--ses URL] --events N[,N...] [--concurrency N] [--window N] [--instances N] [--mixed-seconds S] [--mixed-clients N] [--table-stream on|off] [--writes-in-flight N]\n\
                  limits --binaries DIR --dynamodb URL --sqs URL [--ses URL] [--concurrency N[,N...]]\n\
                  relay --binaries DIR --dynamodb URL --sqs URL [--runs N] [--changes N] [--rate N]\n\
                  webhook --binaries DIR --dynamodb URL --sqs URL [--runs N] [--orgs N] [--concurrency N]\n\
                  dispatcher --binaries DIR --dynamodb URL --sqs URL [--runs N] [--messages N] [--in-flight N] [--members N]\n\
                  email --binaries DIR --dynamodb URL --sqs URL [--runs N] [--emails N]\n\
                  realtime --binaries DIR --dynamodb URL --sqs URL [--runs N] [--clients K] [--orgs N] [--notifications N] [--in-flight N] [--email on|off]"
                .into(),
        ),
    };
    match result {
        Ok(output) => {
            println!("{output}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
