//! The Stripe calls billing makes, through async-stripe, with one mapping of Stripe's failures.
//!
//! The client is built on the first call (the secret key is read then, see [`crate::secrets`]),
//! so a cold start that never talks to Stripe pays nothing for it. Every write carries an
//! idempotency key chosen by the caller ([`IdempotencyScope`]).

use std::sync::Arc;
use std::time::Duration;

use stripe::{Client, ClientBuilder, IdempotencyKey, RequestStrategy, StripeError, StripeRequest};
use stripe_billing::invoice::RetrieveInvoice;
use stripe_billing::subscription::RetrieveSubscription;
use stripe_billing::{Invoice, Subscription};
use stripe_core::customer::{RetrieveCustomer, RetrieveCustomerReturned};
use stripe_shared::Customer;
use tokio::sync::OnceCell;

use crate::secrets::KeySource;

/// How long one Stripe call may take before it counts as Stripe being unavailable.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// What went wrong with a Stripe call.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum StripeFailure {
    /// The card was declined (402): Stripe's message and codes, for the client.
    #[error("{message}")]
    Declined {
        message: String,
        code: Option<String>,
        decline_code: Option<String>,
    },
    /// The object does not exist (or was deleted).
    #[error("no such Stripe object")]
    NotFound,
    /// Another request with the same idempotency key is still running at Stripe.
    #[error("a request with the same idempotency key is in progress")]
    KeyInUse,
    /// The idempotency key was used at Stripe with other parameters.
    #[error("the idempotency key was used with other parameters")]
    KeyReused,
    /// Stripe refused the request as invalid (our parameters, or an id the client gave).
    #[error("Stripe refused the request: {message}")]
    Refused {
        status: u16,
        code: Option<String>,
        message: String,
    },
    /// Stripe could not be reached, timed out, answered 5xx or 429, or answered something
    /// that does not parse: nothing is known to have happened; retrying is safe with the key.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
}

impl StripeFailure {
    fn from_stripe(error: StripeError) -> Self {
        match error {
            StripeError::Stripe(api, status) => {
                let code = api.code.as_ref().map(|c| c.as_str().to_owned());
                let message = api.message.clone().unwrap_or_default();
                if api.type_ == stripe::ApiErrorsType::IdempotencyError {
                    return Self::KeyReused;
                }
                match status {
                    402 => Self::Declined {
                        message,
                        code,
                        decline_code: api.decline_code.clone(),
                    },
                    404 => Self::NotFound,
                    409 if code.as_deref() == Some("idempotency_key_in_use") => Self::KeyInUse,
                    429 | 500.. => Self::Unavailable(format!("{status}: {message}")),
                    _ => Self::Refused {
                        status,
                        code,
                        message,
                    },
                }
            }
            StripeError::Timeout => Self::Unavailable("timed out".into()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<crate::secrets::SecretError> for StripeFailure {
    fn from(e: crate::secrets::SecretError) -> Self {
        Self::Unavailable(format!("the Stripe secret key: {e}"))
    }
}

/// The idempotency key of one Stripe write: `<org>:<operation>:<request>`, where the request
/// part is a hash of the client's `Idempotency-Key` (with the caller and the request it came
/// with, as our own replay record is scoped) when it sent one, so a retry repeats the same
/// Stripe call; and fresh per API request otherwise (a key derived from the body alone would
/// turn a second, deliberate upgrade within Stripe's 24 hours into a silent replay of the first).
#[derive(Clone, Debug)]
pub struct IdempotencyScope {
    org_id: String,
    request: String,
}

impl IdempotencyScope {
    pub fn new(
        org_id: &str,
        client_key: Option<(&str, &str, &[u8])>,
        now: clock::DateTime,
    ) -> Self {
        let request = match client_key {
            Some((caller, key, request)) => {
                let mut scoped = format!("{caller}\n{key}\n").into_bytes();
                scoped.extend_from_slice(request);
                store::keys::digest(&scoped)[..32].to_owned()
            }
            None => ulid::Ulid::from_datetime(now.into()).to_string(),
        };
        Self {
            org_id: org_id.to_owned(),
            request,
        }
    }

    /// What tells this request (or the client's retries of it) from any other.
    pub fn token(&self) -> &str {
        &self.request
    }

    /// The key of `operation` within this request.
    pub fn key(&self, operation: &str) -> String {
        format!("{}:{operation}:{}", self.org_id, self.request)
    }
}

/// Billing's Stripe access: cheap to clone, built once per cold start.
#[derive(Clone)]
pub struct StripeApi {
    inner: Arc<Inner>,
}

struct Inner {
    /// `None`: Stripe itself.
    base_url: Option<String>,
    keys: KeySource,
    client: OnceCell<Client>,
}

impl StripeApi {
    pub fn new(base_url: Option<String>, keys: KeySource) -> Self {
        Self {
            inner: Arc::new(Inner {
                base_url,
                keys,
                client: OnceCell::new(),
            }),
        }
    }

    pub fn keys(&self) -> &KeySource {
        &self.inner.keys
    }

    async fn client(&self) -> Result<&Client, StripeFailure> {
        self.inner
            .client
            .get_or_try_init(|| async {
                let key = self.inner.keys.secret_key().await?;
                let mut builder = ClientBuilder::new(key).timeout(CALL_TIMEOUT);
                if let Some(url) = &self.inner.base_url {
                    builder = builder.url(url);
                }
                builder.build().map_err(StripeFailure::from_stripe)
            })
            .await
    }

    /// Sends a read (Stripe reads need no idempotency key).
    pub async fn read<R>(&self, request: R) -> Result<R::Output, StripeFailure>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let client = self.client().await?;
        request
            .customize()
            .send(client)
            .await
            .map_err(StripeFailure::from_stripe)
    }

    /// Sends a write under `idempotency_key` (see [`IdempotencyScope::key`]).
    pub async fn write<R>(
        &self,
        request: R,
        idempotency_key: &str,
    ) -> Result<R::Output, StripeFailure>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let client = self.client().await?;
        let key = IdempotencyKey::new(idempotency_key).map_err(|e| StripeFailure::Refused {
            status: 400,
            code: None,
            message: format!("idempotency key: {e}"),
        })?;
        request
            .customize()
            .request_strategy(RequestStrategy::Idempotent(key))
            .send(client)
            .await
            .map_err(StripeFailure::from_stripe)
    }

    /// The subscription as Stripe holds it now, with its schedule (for a pending change).
    pub async fn subscription(&self, id: &str) -> Result<Subscription, StripeFailure> {
        self.read(RetrieveSubscription::new(id).expand(vec!["schedule".to_owned()]))
            .await
    }

    pub async fn invoice(&self, id: &str) -> Result<Invoice, StripeFailure> {
        self.read(RetrieveInvoice::new(id)).await
    }

    /// The customer, or `None` when it was deleted.
    pub async fn customer(&self, id: &str) -> Result<Option<Customer>, StripeFailure> {
        match self.read(RetrieveCustomer::new(id)).await? {
            RetrieveCustomerReturned::Customer(customer) => Ok(Some(customer)),
            RetrieveCustomerReturned::DeletedCustomer(_) => Ok(None),
        }
    }
}
