//! The notifications Lambda: each member's notification centre, and sending to members
//! (/v1/notifications/*), the delivery log and one-click unsubscribe of notification email.

use config::{Env, HttpSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = Env::from_process();
    let settings = HttpSettings::from_env(&env)?;
    let notifications_queue = env.required("NOTIFICATIONS_QUEUE_URL")?;
    let unsubscribe = notifications::UnsubscribeLinks::new(
        env.required("UNSUBSCRIBE_SIGNING_KEY")?.as_bytes(),
        &env.required("API_PUBLIC_URL")?,
    )?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let app = notifications_function::App::new(
        &settings,
        aws_sdk_dynamodb::Client::new(&aws),
        notify::Queue::new(aws_sdk_sqs::Client::new(&aws), notifications_queue),
        unsubscribe,
        clock::Clock::system(),
    );
    lambda_http::run(notifications_function::router(
        app,
        &settings.cors_allowed_origins,
    ))
    .await
}
