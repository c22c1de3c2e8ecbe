//! API Gateway's `@connections` management API: POST a frame, DELETE (close) a connection.

use std::time::Duration;

use aws_sdk_apigatewaymanagement::Client;
use aws_sdk_apigatewaymanagement::error::{DisplayErrorContext, SdkError};
use aws_sdk_apigatewaymanagement::operation::delete_connection::DeleteConnectionError;
use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError;
use aws_sdk_apigatewaymanagement::primitives::Blob;

/// Tries of a call API Gateway throttles (`LimitExceededException`), with backoff between.
const ATTEMPTS: u32 = 4;
/// One `@connections` call's bound (they take milliseconds when API Gateway is well).
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);

/// What became of one `@connections` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Posted {
    Sent,
    /// 410 `GoneException`: the connection is closed (or was never established).
    Gone,
    Failed(String),
}

/// The management API of one WebSocket API stage. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    client: Client,
}

enum Outcome {
    Done,
    Gone,
    Throttled(String),
    Failed(String),
}

impl Gateway {
    /// `client` must have the stage's endpoint (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`).
    pub fn new(client: Client) -> Self {
        Self { client }
    }

    /// A client of the management API at `endpoint` (the stage's https URL). Its retries are
    /// this module's own (throttling only, briefly) and each attempt is bounded, so a slow
    /// endpoint cannot hold a dispatcher batch past its timeout.
    pub fn at(aws: &aws_config::SdkConfig, endpoint: &str) -> Self {
        use aws_sdk_apigatewaymanagement::config::retry::RetryConfig;
        use aws_sdk_apigatewaymanagement::config::timeout::TimeoutConfig;
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(aws)
            .endpoint_url(endpoint)
            .retry_config(RetryConfig::disabled())
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(ATTEMPT_TIMEOUT)
                    .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                    .build(),
            )
            .build();
        Self::new(Client::from_conf(config))
    }

    /// Sends one frame to a connection.
    pub async fn post(&self, connection_id: &str, data: &[u8]) -> Posted {
        retrying(|| async {
            match self
                .client
                .post_to_connection()
                .connection_id(connection_id)
                .data(Blob::new(data))
                .send()
                .await
            {
                Ok(_) => Outcome::Done,
                Err(SdkError::ServiceError(e)) => match e.err() {
                    PostToConnectionError::GoneException(_) => Outcome::Gone,
                    PostToConnectionError::LimitExceededException(_) => {
                        Outcome::Throttled("LimitExceededException".into())
                    }
                    other => Outcome::Failed(DisplayErrorContext(other).to_string()),
                },
                Err(e) => Outcome::Failed(DisplayErrorContext(e).to_string()),
            }
        })
        .await
    }

    /// Closes a connection (API Gateway then sends `$disconnect`).
    pub async fn close(&self, connection_id: &str) -> Posted {
        retrying(|| async {
            match self
                .client
                .delete_connection()
                .connection_id(connection_id)
                .send()
                .await
            {
                Ok(_) => Outcome::Done,
                Err(SdkError::ServiceError(e)) => match e.err() {
                    DeleteConnectionError::GoneException(_) => Outcome::Gone,
                    DeleteConnectionError::LimitExceededException(_) => {
                        Outcome::Throttled("LimitExceededException".into())
                    }
                    other => Outcome::Failed(DisplayErrorContext(other).to_string()),
                },
                Err(e) => Outcome::Failed(DisplayErrorContext(e).to_string()),
            }
        })
        .await
    }
}

/// Calls `attempt` again while API Gateway throttles, with jittered exponential backoff
/// (about 20, 40, 80 ms).
async fn retrying<F, Fut>(mut attempt: F) -> Posted
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Outcome>,
{
    let mut last = String::new();
    for tried in 0..ATTEMPTS {
        match attempt().await {
            Outcome::Done => return Posted::Sent,
            Outcome::Gone => return Posted::Gone,
            Outcome::Failed(reason) => return Posted::Failed(reason),
            Outcome::Throttled(reason) => last = reason,
        }
        if tried + 1 < ATTEMPTS {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| u64::from(d.subsec_nanos()));
            let base = 20u64 << tried;
            tokio::time::sleep(Duration::from_millis(base + nanos % base)).await;
        }
    }
    Posted::Failed(format!("still throttled after {ATTEMPTS} tries: {last}"))
}
