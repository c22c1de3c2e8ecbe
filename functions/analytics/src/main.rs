//! The analytics Lambda: event tracking (to SQS), reports, and org API keys.

use analytics_function::App;
use config::{Env, HttpSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = Env::from_process();
    let settings = HttpSettings::from_env(&env)?;
    let queue_url = env.required("ANALYTICS_QUEUE_URL")?;
    let raw_retention_days = env.parsed("RAW_EVENT_RETENTION_DAYS", 90u16)?;
    let activity_retention_days = env.parsed("ACTIVITY_RETENTION_DAYS", 365u16)?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let app = App::new(
        &settings,
        aws_sdk_dynamodb::Client::new(&aws),
        analytics::EventQueue::new(aws_sdk_sqs::Client::new(&aws), queue_url),
        clock::Clock::system(),
        raw_retention_days,
        activity_retention_days,
    );
    lambda_http::run(analytics_function::router(
        app,
        &settings.cors_allowed_origins,
    ))
    .await
}
