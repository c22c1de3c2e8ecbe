//! `devtools bench`: cold start, latency and memory of a function's release binary, run as Lambda
//! runs it (a fresh process speaking the Runtime API), against DynamoDB Local.

use std::collections::HashMap;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use tokio::process::{Child, Command};

use crate::runtime_api::{Outcome, RuntimeApi};

pub struct BenchOptions {
    pub binary: String,
    pub event_file: String,
    pub dynamodb: String,
    pub table: String,
    pub runs: usize,
    pub burst: usize,
}

fn spawn(binary: &str, runtime_api: &str, options: &BenchOptions) -> std::io::Result<Child> {
    let env: HashMap<&str, &str> = HashMap::from([
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", "bench"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_ENDPOINT_URL_DYNAMODB", options.dynamodb.as_str()),
        ("TABLE_NAME", options.table.as_str()),
        ("AUTH_MODE", "local"),
        ("RUST_LOG", "info"),
    ]);
    Command::new(binary)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
}

/// The event with a fresh local token in its Authorization header.
fn event(options: &BenchOptions, token: &str) -> Result<Bytes, String> {
    let raw = std::fs::read_to_string(&options.event_file)
        .map_err(|e| format!("{}: {e}", options.event_file))?;
    let mut event: serde_json::Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
    event["headers"]["authorization"] = format!("Bearer {token}").into();
    Ok(Bytes::from(event.to_string()))
}

fn status_of(outcome: Option<Outcome>) -> Result<u64, String> {
    match outcome {
        Some(Outcome::Response(body)) => {
            let value: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| e.to_string())?;
            value["statusCode"]
                .as_u64()
                .ok_or_else(|| format!("no statusCode in {value}"))
        }
        Some(Outcome::Error(body)) => Err(format!(
            "invocation error: {}",
            String::from_utf8_lossy(&body)
        )),
        None => Err("the function never answered".into()),
    }
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn percentile(values: &mut [f64], p: f64) -> f64 {
    values.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (values.len() as f64 - 1.0)).round() as usize;
    values[rank.min(values.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub async fn run(options: BenchOptions, token: String) -> Result<String, String> {
    let api = RuntimeApi::default();
    let address = api.start().await.map_err(|e| e.to_string())?.to_string();
    let event = event(&options, &token)?;
    let size = std::fs::metadata(&options.binary)
        .map_err(|e| format!("{}: {e}", options.binary))?
        .len();
    let name = Path::new(&options.binary)
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();

    // Warm-up: creates the user record, so every measured run does the same read.
    let mut child = spawn(&options.binary, &address, &options).map_err(|e| e.to_string())?;
    let status = status_of(api.invoke(event.clone()).await)?;
    if status != 200 {
        return Err(format!("warm-up answered {status}, expected 200"));
    }
    child.kill().await.ok();

    let (mut to_poll, mut to_response) = (Vec::new(), Vec::new());
    for _ in 0..options.runs {
        api.reset();
        let started = Instant::now();
        let mut child = spawn(&options.binary, &address, &options).map_err(|e| e.to_string())?;
        let status = status_of(api.invoke(event.clone()).await)?;
        let answered = started.elapsed();
        if status != 200 {
            return Err(format!("cold invocation answered {status}"));
        }
        let polled = api
            .first_poll()
            .ok_or("no poll recorded")?
            .duration_since(started);
        to_poll.push(ms(polled));
        to_response.push(ms(answered));
        child.kill().await.ok();
        if let Some(error) = api.init_error() {
            return Err(format!("init error: {}", String::from_utf8_lossy(&error)));
        }
    }

    api.reset();
    let mut child = spawn(&options.binary, &address, &options).map_err(|e| e.to_string())?;
    let pid = child.id().ok_or("no pid")?;
    let mut latencies = Vec::with_capacity(options.burst);
    for _ in 0..options.burst {
        let started = Instant::now();
        let status = status_of(api.invoke(event.clone()).await)?;
        latencies.push(ms(started.elapsed()));
        if status != 200 {
            return Err(format!("burst invocation answered {status}"));
        }
    }
    let rss = peak_rss_kib(pid).ok_or("cannot read VmHWM")?;
    child.kill().await.ok();

    Ok(format!(
        "{name}: binary {:.2} MiB | cold start to first poll median {:.1} ms | to first response median {:.1} ms \
         (min {:.1}, max {:.1}, {} runs) | warm latency p50 {:.2} ms p99 {:.2} ms | peak RSS {:.1} MiB after {} invocations",
        size as f64 / 1_048_576.0,
        median(&mut to_poll),
        median(&mut to_response.clone()),
        to_response.iter().copied().fold(f64::INFINITY, f64::min),
        to_response.iter().copied().fold(0.0, f64::max),
        options.runs,
        percentile(&mut latencies.clone(), 50.0),
        percentile(&mut latencies, 99.0),
        rss as f64 / 1024.0,
        options.burst,
    ))
}
