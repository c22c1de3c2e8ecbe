#![recursion_limit = "256"]
// Errors are Stripe's error bodies, built once per refused request: their size does not matter here.
#![allow(clippy::result_large_err)]
//! A stateful local Stripe: the subset of Stripe's REST API the billing code calls, answered with
//! the JSON Stripe would send, signed webhooks with retries (and a chaos mode), and a clock to
//! advance. `docs/local-stripe.md` lists what it emulates and how it differs from Stripe.
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! let stripe = local_stripe::start(local_stripe::Config::default()).await?;
//! println!("Stripe at {}", stripe.url());
//! # Ok(()) }
//! ```

pub mod api;
pub mod calendar;
pub mod control;
pub mod customers;
pub mod error;
pub mod expand;
pub mod form;
pub mod ids;
pub mod invoices;
pub mod params;
pub mod payment_intents;
pub mod payment_methods;
pub mod preview;
pub mod prices;
pub mod schedules;
pub mod state;
pub mod subscriptions;
pub mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State as AxumState};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use error::StripeError;
use state::{API_VERSION, Idempotent, State};

/// How long Stripe keeps an idempotency key (of this server's clock).
pub const IDEMPOTENCY_TTL_SECONDS: i64 = 24 * 60 * 60;

#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// The secret key callers must send; `None` accepts any `sk_test_…` key.
    pub api_key: Option<String>,
    /// Where events are posted; `None` keeps them for `GET /_local/events` only.
    pub webhook_url: Option<String>,
    /// Signs `Stripe-Signature` (`whsec_local` locally, as the brief says).
    pub webhook_secret: String,
    pub retry: RetryPolicy,
}

/// Webhook retries on a non-2xx answer: `first` after the first failure, doubling, at most
/// `max_attempts` deliveries in all. Stripe spaces them over three days; locally they are fast.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct RetryPolicy {
    pub first_ms: u64,
    pub max_attempts: u32,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 12111)),
            api_key: None,
            webhook_url: None,
            webhook_secret: "whsec_local".into(),
            retry: RetryPolicy {
                first_ms: 1000,
                max_attempts: 8,
            },
        }
    }
}

/// What every request handler shares.
pub struct Shared {
    pub state: Mutex<State>,
    pub settings: Mutex<Settings>,
    pub deliveries: mpsc::UnboundedSender<String>,
    pub api_key: Option<String>,
}

/// The webhook settings the control API may change.
#[derive(Clone, Debug)]
pub struct Settings {
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    pub retry: RetryPolicy,
}

impl Shared {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Hands the events recorded since the last call to the delivery worker.
    pub fn dispatch_new_events(&self, state: &mut State) {
        for id in state.undispatched.drain(..) {
            let _ = self.deliveries.send(id);
        }
    }
}

/// A running server; dropping it leaves it running until the process ends.
pub struct LocalStripe {
    addr: SocketAddr,
    pub shared: Arc<Shared>,
}

impl LocalStripe {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The base URL for `ClientBuilder::url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

/// Binds `config.addr` (port 0 picks a free one) and serves until the process ends.
pub async fn start(config: Config) -> std::io::Result<LocalStripe> {
    let listener = TcpListener::bind(config.addr).await?;
    let addr = listener.local_addr()?;
    let (deliveries, queue) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        state: Mutex::new(State::new()),
        settings: Mutex::new(Settings {
            webhook_url: config.webhook_url.clone(),
            webhook_secret: config.webhook_secret.clone(),
            retry: config.retry,
        }),
        deliveries,
        api_key: config.api_key.clone(),
    });
    {
        let mut state = shared.state();
        prices::seed(&mut state);
    }
    tokio::spawn(webhooks::deliver(shared.clone(), queue));
    let app = axum::Router::new()
        .fallback(handle)
        .with_state(shared.clone());
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok(LocalStripe { addr, shared })
}

async fn handle(AxumState(shared): AxumState<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, 1 << 20).await {
        Ok(body) => body,
        Err(_) => {
            return StripeError::invalid_request("The request body is over 1 MiB.", None)
                .into_response();
        }
    };
    let path = parts.uri.path().to_owned();
    if let Some(rest) = path.strip_prefix("/_local/") {
        return control::handle(&shared, &parts.method, rest, parts.uri.query(), &body);
    }
    let request_id = ids::new("req");
    let mut response = match api_request(
        &shared,
        &parts.method,
        &path,
        parts.uri.query(),
        &parts.headers,
        &body,
    )
    .await
    {
        Ok(response) => response,
        Err(error) => error.into_response(),
    };
    let headers = response.headers_mut();
    headers.insert("request-id", header(&request_id));
    headers.insert("stripe-version", HeaderValue::from_static(API_VERSION));
    response
}

fn header(value: &str) -> HeaderValue {
    HeaderValue::from_str(value).unwrap_or_else(|_| HeaderValue::from_static(""))
}

async fn api_request(
    shared: &Arc<Shared>,
    method: &Method,
    path: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Response, StripeError> {
    authenticate(shared, headers)?;
    // GET and a DELETE without a body carry their parameters in the query string; POST, and
    // DELETE /v1/subscriptions/{id} (cancel), in a form body.
    let encoded = if *method == Method::GET || (*method == Method::DELETE && body.is_empty()) {
        query.unwrap_or_default().to_owned()
    } else {
        std::str::from_utf8(body)
            .map_err(|_| {
                StripeError::invalid_request("The request body is not valid UTF-8.", None)
            })?
            .to_owned()
    };
    let params = form::parse(&encoded)?;
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .filter(|k| !k.is_empty() && *method == Method::POST)
        .map(str::to_owned);
    let fingerprint = format!("{method} {path} {params}");

    if let Some(key) = &key {
        let mut state = shared.state();
        let now = state.now();
        match state.idempotency.get(key) {
            Some(Idempotent::Done {
                fingerprint: first,
                status,
                body,
                at,
            }) if now - at < IDEMPOTENCY_TTL_SECONDS => {
                if *first != fingerprint {
                    return Err(StripeError::idempotency_mismatch(key));
                }
                let mut response = json_response(*status, body.clone());
                response
                    .headers_mut()
                    .insert("idempotent-replayed", HeaderValue::from_static("true"));
                response
                    .headers_mut()
                    .insert("idempotency-key", header(key));
                return Ok(response);
            }
            Some(Idempotent::InFlight {
                fingerprint: first,
                since,
            }) if now - since < 60 => {
                if *first != fingerprint {
                    return Err(StripeError::idempotency_mismatch(key));
                }
                return Err(StripeError::idempotency_in_flight());
            }
            _ => {}
        }
        state.idempotency.insert(
            key.clone(),
            Idempotent::InFlight {
                fingerprint: fingerprint.clone(),
                since: now,
            },
        );
    }

    let latency = shared.state().chaos.latency_ms;
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }

    let mut state = shared.state();
    // A refused request changes nothing, even when it was refused half-way (an `expand[]` that
    // fails after the object was made): back to the state before it.
    let snapshot = (*method != Method::GET).then(|| state.snapshot());
    let outcome = api::handle(&mut state, method, path, &params);
    let (status, body) = match &outcome {
        Ok(body) => (200, body.clone()),
        Err(error) => (error.status, error.body()),
    };
    if let Some(snapshot) = snapshot.filter(|_| status >= 400 && status != 402) {
        state.restore(snapshot);
    }
    if let Some(key) = &key {
        // Stripe saves a result once the endpoint ran: successes and card errors. A request
        // refused before it ran (validation, 404) saves nothing, so the key can be used again.
        if status < 400 || status == 402 {
            let at = state.now();
            state.idempotency.insert(
                key.clone(),
                Idempotent::Done {
                    fingerprint,
                    status,
                    body: body.clone(),
                    at,
                },
            );
        } else {
            state.idempotency.remove(key);
        }
    }
    shared.dispatch_new_events(&mut state);
    drop(state);
    let mut response = json_response(status, body);
    if let Some(key) = &key {
        response
            .headers_mut()
            .insert("idempotency-key", header(key));
    }
    Ok(response)
}

fn authenticate(shared: &Shared, headers: &HeaderMap) -> Result<(), StripeError> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let key = auth
        .strip_prefix("Bearer ")
        .ok_or_else(|| {
            StripeError::unauthorized(
                "You did not provide an API key. Provide it in the Authorization header (Bearer auth).",
            )
        })?
        .trim();
    let accepted = match &shared.api_key {
        Some(expected) => key == expected,
        None => key.starts_with("sk_test_"),
    };
    if accepted {
        Ok(())
    } else {
        Err(StripeError::unauthorized(format!(
            "Invalid API Key provided: {}",
            mask(key)
        )))
    }
}

fn mask(key: &str) -> String {
    let visible: String = key.chars().take(8).collect();
    format!(
        "{visible}{}",
        "*".repeat(key.chars().count().saturating_sub(8))
    )
}

pub(crate) fn json_response(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::OK);
    let mut response = Response::new(Body::from(body.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
