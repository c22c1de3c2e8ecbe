//! The Stripe secret key and webhook signing secret: from Secrets Manager in AWS (read on first
//! use, then cached for the life of the process), from the environment locally.
//!
//! - `STRIPE_SECRET_KEY_SECRET_ID` / `STRIPE_WEBHOOK_SECRET_SECRET_ID`: the Secrets Manager
//!   secrets (name or ARN) holding each value as plain text; the template grants each function
//!   `secretsmanager:GetSecretValue` on the secrets it names and nothing else.
//! - Otherwise `STRIPE_SECRET_KEY` / `STRIPE_WEBHOOK_SECRET` hold the values themselves.

use std::sync::Arc;

use config::{ConfigError, Env};
use tokio::sync::OnceCell;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("reading {id} from Secrets Manager: {reason}")]
    Fetch { id: String, reason: String },
    #[error("{0} is not configured for this function")]
    NotConfigured(&'static str),
}

/// Where one secret comes from.
#[derive(Clone, Debug)]
enum Origin {
    Value(String),
    SecretsManager(String),
    Absent(&'static str),
}

/// The two Stripe secrets, each fetched at most once per process.
#[derive(Clone)]
pub struct KeySource {
    inner: Arc<Inner>,
}

struct Inner {
    client: Option<aws_sdk_secretsmanager::Client>,
    secret_key: (Origin, OnceCell<String>),
    webhook_secret: (Origin, OnceCell<String>),
}

impl KeySource {
    /// Fixed values (tests and local development).
    pub fn fixed(secret_key: &str, webhook_secret: &str) -> Self {
        Self::with(
            None,
            Origin::Value(secret_key.to_owned()),
            Origin::Value(webhook_secret.to_owned()),
        )
    }

    /// From the settings above. `client` is used only if a secret id is set; the webhook secret
    /// is optional (the billing function never verifies a webhook).
    pub fn from_env(
        env: &Env,
        client: impl FnOnce() -> aws_sdk_secretsmanager::Client,
    ) -> Result<Self, ConfigError> {
        let secret_key = match env.optional("STRIPE_SECRET_KEY_SECRET_ID") {
            Some(id) => Origin::SecretsManager(id),
            None => Origin::Value(env.required("STRIPE_SECRET_KEY")?),
        };
        let webhook_secret = match (
            env.optional("STRIPE_WEBHOOK_SECRET_SECRET_ID"),
            env.optional("STRIPE_WEBHOOK_SECRET"),
        ) {
            (Some(id), _) => Origin::SecretsManager(id),
            (None, Some(value)) => Origin::Value(value),
            (None, None) => Origin::Absent("STRIPE_WEBHOOK_SECRET"),
        };
        let needs_client = [&secret_key, &webhook_secret]
            .iter()
            .any(|o| matches!(o, Origin::SecretsManager(_)));
        Ok(Self::with(
            needs_client.then(client),
            secret_key,
            webhook_secret,
        ))
    }

    fn with(
        client: Option<aws_sdk_secretsmanager::Client>,
        secret_key: Origin,
        webhook_secret: Origin,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                secret_key: (secret_key, OnceCell::new()),
                webhook_secret: (webhook_secret, OnceCell::new()),
            }),
        }
    }

    pub async fn secret_key(&self) -> Result<&str, SecretError> {
        self.resolve(&self.inner.secret_key).await
    }

    pub async fn webhook_secret(&self) -> Result<&str, SecretError> {
        self.resolve(&self.inner.webhook_secret).await
    }

    async fn resolve<'a>(
        &'a self,
        (origin, cell): &'a (Origin, OnceCell<String>),
    ) -> Result<&'a str, SecretError> {
        let value = cell
            .get_or_try_init(|| async {
                match origin {
                    Origin::Value(value) => Ok(value.clone()),
                    Origin::Absent(name) => Err(SecretError::NotConfigured(name)),
                    Origin::SecretsManager(id) => {
                        let client = self.inner.client.as_ref().expect("built with an id");
                        let fetch = |reason: String| SecretError::Fetch {
                            id: id.clone(),
                            reason,
                        };
                        let output = client
                            .get_secret_value()
                            .secret_id(id)
                            .send()
                            .await
                            .map_err(|e| {
                                fetch(
                                    aws_sdk_secretsmanager::error::DisplayErrorContext(e)
                                        .to_string(),
                                )
                            })?;
                        output
                            .secret_string
                            .map(|s| s.trim().to_owned())
                            .filter(|s| !s.is_empty())
                            .ok_or_else(|| fetch("the secret holds no text".into()))
                    }
                }
            })
            .await?;
        Ok(value)
    }
}
