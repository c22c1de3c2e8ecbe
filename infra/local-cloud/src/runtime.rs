//! Runs functions as Lambda does: each instance is the function's real `bootstrap` binary, spawned
//! with the Lambda environment and served its own Runtime API (`/2018-06-01/runtime/...`). An
//! instance handles one invocation at a time; a function gets more instances when busy, up to its
//! limit. An instance that exits is replaced on the next invocation.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{Notify, oneshot};

use crate::logs;

/// What a function is and how it runs.
#[derive(Clone, Debug)]
pub struct FunctionSpec {
    /// The template's logical id, e.g. `AccountsFunction`.
    pub name: String,
    pub binary: PathBuf,
    pub environment: BTreeMap<String, String>,
    pub timeout: Duration,
    pub memory_mb: u64,
    pub max_instances: usize,
}

/// Why an invocation produced no response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeError {
    /// The handler reported an error (`/invocation/{id}/error`): the error document.
    Function(Bytes),
    /// The runtime failed to initialize (`/init/error`, or it exited before polling).
    Init(String),
    /// The instance exited while handling the invocation.
    Crashed(String),
    /// No answer within the function's timeout; the instance was stopped.
    Timeout,
    /// The binary could not be started.
    Spawn(String),
}

enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

/// Per-function measurements, shown on the status endpoint and in the log.
#[derive(Clone, Debug, Default, serde::Serialize)]
pub struct FunctionStats {
    pub instances_started: u64,
    pub instances_alive: usize,
    /// Spawn until the first Runtime API poll, per instance started.
    pub init_ms: Vec<f64>,
    /// Spawn until the first invocation's response, per instance started.
    pub first_response_ms: Vec<f64>,
    pub invocations: u64,
    pub errors: u64,
    /// Durations of the latest invocations (up to 1000), in ms.
    pub durations_ms: Vec<f64>,
    pub peak_rss_kib: u64,
}

/// The `p`th percentile (0–100, nearest rank) of some measurements; `None` for none.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    Some(sorted[rank.min(sorted.len() - 1)])
}

struct Pending {
    request_id: String,
    event: Bytes,
    deadline_ms: u128,
}

/// The Runtime API state of one instance.
#[derive(Default)]
struct Channel {
    pending: Mutex<Option<Pending>>,
    in_flight: Mutex<Option<(String, oneshot::Sender<Outcome>)>>,
    work: Notify,
    first_poll: Mutex<Option<Instant>>,
    polled: Notify,
    init_error: Mutex<Option<String>>,
    /// Notified when the instance has exited: its Runtime API server stops.
    closed: Notify,
}

struct Instance {
    id: u64,
    channel: Arc<Channel>,
    spawned_at: Instant,
    pid: u32,
    alive: Arc<AtomicBool>,
    /// Notified (and stays notified) once the process has exited.
    exited: Arc<Notify>,
    exit_status: Arc<Mutex<Option<String>>>,
    /// Asks the watcher to stop the process.
    stop: Arc<Notify>,
    served: AtomicU64,
}

impl Instance {
    fn kill(&self) {
        self.alive.store(false, Ordering::SeqCst);
        self.stop.notify_one();
    }
}

/// Owns the child process: reports its exit, or stops it when asked.
#[allow(clippy::too_many_arguments)]
async fn watch(
    mut child: Child,
    channel: Arc<Channel>,
    id: u64,
    name: String,
    alive: Arc<AtomicBool>,
    exited: Arc<Notify>,
    exit_status: Arc<Mutex<Option<String>>>,
    stop: Arc<Notify>,
) {
    let status = tokio::select! {
        status = child.wait() => status,
        _ = stop.notified() => {
            let _ = child.start_kill();
            child.wait().await
        }
    };
    alive.store(false, Ordering::SeqCst);
    let status = status
        .map(|s| s.to_string())
        .unwrap_or_else(|e| e.to_string());
    logs::system(&name, &format!("instance {id} exited ({status})"));
    *exit_status.lock().unwrap() = Some(status);
    // `notify_one` leaves a permit for a waiter that arrives later; `notify_waiters` wakes the rest.
    exited.notify_one();
    exited.notify_waiters();
    // The instance's Runtime API has nobody left to serve.
    channel.closed.notify_one();
}

pub struct Function {
    pub spec: FunctionSpec,
    idle: Mutex<Vec<Arc<Instance>>>,
    live: Mutex<usize>,
    freed: Notify,
    stats: Mutex<FunctionStats>,
    next_instance: AtomicU64,
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_millis()
}

fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

impl Function {
    pub fn new(spec: FunctionSpec) -> Arc<Self> {
        Arc::new(Self {
            spec,
            idle: Mutex::default(),
            live: Mutex::new(0),
            freed: Notify::new(),
            stats: Mutex::default(),
            next_instance: AtomicU64::new(1),
        })
    }

    pub fn stats(&self) -> FunctionStats {
        let mut stats = self.stats.lock().unwrap().clone();
        stats.instances_alive = *self.live.lock().unwrap();
        stats
    }

    /// Stops idle instances, so the next invocation is a cold start.
    pub fn recycle(&self) {
        let idle: Vec<_> = self.idle.lock().unwrap().drain(..).collect();
        for instance in idle {
            instance.kill();
            *self.live.lock().unwrap() -= 1;
        }
        self.freed.notify_waiters();
    }

    /// Invokes the function with `event` and waits for its response. The invocation runs to its
    /// end even if the caller goes away (a client hanging up), so its instance always returns
    /// to the pool.
    pub async fn invoke(self: &Arc<Self>, event: Bytes) -> Result<Bytes, InvokeError> {
        let function = self.clone();
        tokio::spawn(async move { function.invoke_to_end(event).await })
            .await
            .unwrap_or_else(|e| {
                Err(InvokeError::Crashed(format!(
                    "the invocation task failed: {e}"
                )))
            })
    }

    async fn invoke_to_end(self: Arc<Self>, event: Bytes) -> Result<Bytes, InvokeError> {
        let instance = self.acquire().await?;
        let started = Instant::now();
        let result = self.invoke_on(&instance, event).await;
        let elapsed = started.elapsed();
        let first = instance.served.fetch_add(1, Ordering::SeqCst) == 0;
        {
            let mut stats = self.stats.lock().unwrap();
            stats.invocations += 1;
            if result.is_err() {
                stats.errors += 1;
            }
            stats.durations_ms.push(elapsed.as_secs_f64() * 1000.0);
            if stats.durations_ms.len() > 1000 {
                stats.durations_ms.remove(0);
            }
            if first && result.is_ok() {
                stats
                    .first_response_ms
                    .push(instance.spawned_at.elapsed().as_secs_f64() * 1000.0);
            }
        }
        let rss = peak_rss_kib(instance.pid);
        if let Some(rss) = rss {
            let mut stats = self.stats.lock().unwrap();
            stats.peak_rss_kib = stats.peak_rss_kib.max(rss);
        }
        let status = match &result {
            Ok(_) => "ok".to_owned(),
            Err(e) => format!("{e:?}").chars().take(120).collect(),
        };
        logs::system(
            &self.spec.name,
            &format!(
                "invocation {:.1} ms ({status}), instance {} peak RSS {:.1} MiB",
                elapsed.as_secs_f64() * 1000.0,
                instance.id,
                rss.unwrap_or_default() as f64 / 1024.0
            ),
        );
        self.release(instance);
        result
    }

    fn release(&self, instance: Arc<Instance>) {
        if instance.alive.load(Ordering::SeqCst) {
            self.idle.lock().unwrap().push(instance);
        } else {
            *self.live.lock().unwrap() -= 1;
        }
        self.freed.notify_one();
    }

    async fn acquire(self: &Arc<Self>) -> Result<Arc<Instance>, InvokeError> {
        loop {
            let freed = self.freed.notified();
            while let Some(instance) = self.idle.lock().unwrap().pop() {
                if instance.alive.load(Ordering::SeqCst) {
                    return Ok(instance);
                }
                *self.live.lock().unwrap() -= 1;
            }
            let may_start = {
                let mut live = self.live.lock().unwrap();
                if *live < self.spec.max_instances.max(1) {
                    *live += 1;
                    true
                } else {
                    false
                }
            };
            if may_start {
                return match self.start_instance().await {
                    Ok(instance) => Ok(instance),
                    Err(e) => {
                        *self.live.lock().unwrap() -= 1;
                        // Whoever waits for an instance may now start one.
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            freed.await;
        }
    }

    async fn start_instance(self: &Arc<Self>) -> Result<Arc<Instance>, InvokeError> {
        let channel = Arc::new(Channel::default());
        let address = serve_runtime_api(channel.clone())
            .await
            .map_err(|e| InvokeError::Spawn(e.to_string()))?;
        let id = self.next_instance.fetch_add(1, Ordering::SeqCst);
        let mut environment = self.spec.environment.clone();
        let defaults = [
            ("AWS_LAMBDA_RUNTIME_API", address.to_string()),
            ("AWS_LAMBDA_FUNCTION_NAME", self.spec.name.clone()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".into()),
            (
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                self.spec.memory_mb.to_string(),
            ),
            (
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{}", self.spec.name),
            ),
            ("AWS_LAMBDA_LOG_STREAM_NAME", format!("local/{id}")),
            ("AWS_EXECUTION_ENV", "AWS_Lambda_provided.al2023".into()),
            ("_HANDLER", "bootstrap".into()),
            ("TZ", ":UTC".into()),
        ];
        for (key, value) in defaults {
            environment.entry(key.into()).or_insert(value);
        }
        let mut child = Command::new(&self.spec.binary)
            .env_clear()
            .envs(&environment)
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| InvokeError::Spawn(format!("{}: {e}", self.spec.binary.display())))?;
        let spawned_at = Instant::now();
        let pid = child.id().unwrap_or_default();
        let streams = [
            child
                .stdout
                .take()
                .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>),
            child.stderr.take().map(|s| Box::new(s) as _),
        ];
        for stream in streams.into_iter().flatten() {
            let name = self.spec.name.clone();
            tokio::spawn(async move {
                let mut lines = BufReader::new(stream).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    logs::function(&name, &line);
                }
            });
        }
        let instance = Arc::new(Instance {
            id,
            channel: channel.clone(),
            spawned_at,
            pid,
            alive: Arc::new(AtomicBool::new(true)),
            exited: Arc::new(Notify::new()),
            exit_status: Arc::default(),
            stop: Arc::new(Notify::new()),
            served: AtomicU64::new(0),
        });
        tokio::spawn(watch(
            child,
            channel.clone(),
            id,
            self.spec.name.clone(),
            instance.alive.clone(),
            instance.exited.clone(),
            instance.exit_status.clone(),
            instance.stop.clone(),
        ));

        self.stats.lock().unwrap().instances_started += 1;
        // Wait for the first poll: that is the init duration.
        let polled = channel.polled.notified();
        tokio::pin!(polled);
        let exited = instance.exited.clone();
        let exited_wait = exited.notified();
        tokio::pin!(exited_wait);
        let first_poll = channel.first_poll.lock().unwrap().is_some();
        if !first_poll {
            tokio::select! {
                _ = &mut polled => {}
                _ = &mut exited_wait => {
                    let status = instance.exit_status.lock().unwrap().clone().unwrap_or_default();
                    let reason = channel.init_error.lock().unwrap().clone().unwrap_or(format!("exited during init ({status})"));
                    return Err(InvokeError::Init(reason));
                }
                _ = tokio::time::sleep(Duration::from_secs(10)) => {
                    instance.kill();
                    return Err(InvokeError::Init("no Runtime API poll within 10 s".into()));
                }
            }
        }
        if let Some(at) = *channel.first_poll.lock().unwrap() {
            let init_ms = at.duration_since(spawned_at).as_secs_f64() * 1000.0;
            self.stats.lock().unwrap().init_ms.push(init_ms);
            logs::system(
                &self.spec.name,
                &format!("instance {id} started: init {init_ms:.1} ms"),
            );
        }
        Ok(instance)
    }

    async fn invoke_on(
        &self,
        instance: &Arc<Instance>,
        event: Bytes,
    ) -> Result<Bytes, InvokeError> {
        let (reply, answer) = oneshot::channel();
        let request_id = ulid::Ulid::generate().to_string().to_lowercase();
        let deadline_ms = now_ms() + self.spec.timeout.as_millis();
        *instance.channel.in_flight.lock().unwrap() = Some((request_id.clone(), reply));
        *instance.channel.pending.lock().unwrap() = Some(Pending {
            request_id,
            event,
            deadline_ms,
        });
        instance.channel.work.notify_one();
        let exited = instance.exited.notified();
        tokio::select! {
            // An answer that arrived together with the exit still counts.
            biased;
            outcome = answer => match outcome {
                Ok(Outcome::Response(body)) => Ok(body),
                Ok(Outcome::Error(body)) => Err(InvokeError::Function(body)),
                Err(_) => Err(InvokeError::Crashed("the instance went away".into())),
            },
            _ = exited => {
                let status = instance.exit_status.lock().unwrap().clone().unwrap_or_else(|| "killed".into());
                Err(InvokeError::Crashed(format!("the instance exited: {status}")))
            }
            _ = tokio::time::sleep(self.spec.timeout) => {
                logs::system(&self.spec.name, &format!("instance {} timed out after {:?}; stopping it", instance.id, self.spec.timeout));
                instance.kill();
                Err(InvokeError::Timeout)
            }
        }
    }
}

async fn serve_runtime_api(channel: Arc<Channel>) -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let app = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(init_error))
        .with_state(channel.clone());
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { channel.closed.notified().await })
            .await
    });
    Ok(address)
}

async fn next(State(channel): State<Arc<Channel>>) -> Response {
    {
        let mut first = channel.first_poll.lock().unwrap();
        if first.is_none() {
            *first = Some(Instant::now());
            channel.polled.notify_waiters();
        }
    }
    loop {
        let work = channel.work.notified();
        if let Some(pending) = channel.pending.lock().unwrap().take() {
            let mut headers = HeaderMap::new();
            let mut set = |name: &'static str, value: &str| {
                if let Ok(value) = HeaderValue::from_str(value) {
                    headers.insert(name, value);
                }
            };
            set("lambda-runtime-aws-request-id", &pending.request_id);
            set(
                "lambda-runtime-deadline-ms",
                &pending.deadline_ms.to_string(),
            );
            set(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:us-east-1:123456789012:function:local",
            );
            set(
                "lambda-runtime-trace-id",
                &format!(
                    "Root=1-{:08x}-{};Sampled=0",
                    now_ms() / 1000,
                    &pending.request_id[..24.min(pending.request_id.len())]
                ),
            );
            set("content-type", "application/json");
            return (StatusCode::OK, headers, pending.event).into_response();
        }
        work.await;
    }
}

fn finish(channel: &Channel, id: &str, outcome: Outcome) -> StatusCode {
    let mut in_flight = channel.in_flight.lock().unwrap();
    match in_flight.take() {
        Some((current, reply)) if current == id => {
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        other => {
            *in_flight = other;
            StatusCode::BAD_REQUEST
        }
    }
}

async fn response(
    State(channel): State<Arc<Channel>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&channel, &id, Outcome::Response(body))
}

async fn error(
    State(channel): State<Arc<Channel>>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&channel, &id, Outcome::Error(body))
}

async fn init_error(State(channel): State<Arc<Channel>>, body: Bytes) -> StatusCode {
    *channel.init_error.lock().unwrap() = Some(String::from_utf8_lossy(&body).into_owned());
    StatusCode::ACCEPTED
}
