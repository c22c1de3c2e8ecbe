//! A minimal Lambda Runtime API (the `/2018-06-01/runtime/...` endpoints a `bootstrap` polls),
//! enough to run one function instance and time it: when it first polls for work, and when each
//! invocation's response arrives.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tokio::sync::{Notify, oneshot};

/// The outcome of one invocation.
#[derive(Debug)]
pub enum Outcome {
    Response(Bytes),
    Error(Bytes),
}

struct Pending {
    request_id: String,
    event: Bytes,
    reply: oneshot::Sender<Outcome>,
}

#[derive(Default)]
struct Inner {
    queue: VecDeque<Pending>,
    in_flight: Vec<(String, oneshot::Sender<Outcome>)>,
    first_poll: Option<Instant>,
    init_error: Option<Bytes>,
}

#[derive(Clone, Default)]
pub struct RuntimeApi {
    inner: Arc<Mutex<Inner>>,
    work: Arc<Notify>,
}

impl RuntimeApi {
    /// Serves the Runtime API on an ephemeral loopback port; returns its `host:port`.
    pub async fn start(&self) -> std::io::Result<SocketAddr> {
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
            .with_state(self.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Ok(address)
    }

    /// Forgets the previous instance's first poll (a new instance is about to start).
    pub fn reset(&self) {
        let mut inner = self.inner.lock().unwrap();
        inner.first_poll = None;
        inner.init_error = None;
    }

    pub fn first_poll(&self) -> Option<Instant> {
        self.inner.lock().unwrap().first_poll
    }

    pub fn init_error(&self) -> Option<Bytes> {
        self.inner.lock().unwrap().init_error.clone()
    }

    /// Queues an invocation and waits for the function's answer.
    pub async fn invoke(&self, event: Bytes) -> Option<Outcome> {
        let (reply, answer) = oneshot::channel();
        let request_id = format!("bench-{}", ulid_like());
        self.inner.lock().unwrap().queue.push_back(Pending {
            request_id,
            event,
            reply,
        });
        self.work.notify_one();
        answer.await.ok()
    }
}

fn ulid_like() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    format!("{:016x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

async fn next(State(api): State<RuntimeApi>) -> Response {
    loop {
        let notified = api.work.notified();
        {
            let mut inner = api.inner.lock().unwrap();
            inner.first_poll.get_or_insert_with(Instant::now);
            if let Some(pending) = inner.queue.pop_front() {
                inner
                    .in_flight
                    .push((pending.request_id.clone(), pending.reply));
                let deadline = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_millis()
                    + 30_000;
                let mut headers = HeaderMap::new();
                let header = |v: &str| HeaderValue::from_str(v).unwrap();
                headers.insert("lambda-runtime-aws-request-id", header(&pending.request_id));
                headers.insert("lambda-runtime-deadline-ms", header(&deadline.to_string()));
                headers.insert(
                    "lambda-runtime-invoked-function-arn",
                    header("arn:aws:lambda:us-east-1:123456789012:function:bench"),
                );
                headers.insert(
                    "lambda-runtime-trace-id",
                    header("Root=1-00000000-000000000000000000000000;Sampled=0"),
                );
                headers.insert("content-type", header("application/json"));
                return (StatusCode::OK, headers, pending.event).into_response();
            }
        }
        notified.await;
    }
}

fn finish(api: &RuntimeApi, id: &str, outcome: Outcome) -> StatusCode {
    let mut inner = api.inner.lock().unwrap();
    match inner.in_flight.iter().position(|(r, _)| r == id) {
        Some(i) => {
            let (_, reply) = inner.in_flight.swap_remove(i);
            let _ = reply.send(outcome);
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(
    State(api): State<RuntimeApi>,
    Path(id): Path<String>,
    body: Bytes,
) -> StatusCode {
    finish(&api, &id, Outcome::Response(body))
}

async fn error(State(api): State<RuntimeApi>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    finish(&api, &id, Outcome::Error(body))
}

async fn init_error(State(api): State<RuntimeApi>, body: Bytes) -> StatusCode {
    api.inner.lock().unwrap().init_error = Some(body);
    StatusCode::ACCEPTED
}
