//! The Stripe webhook Lambda: `POST /v1/webhooks/stripe`, public, verified by its signature.

use config::Env;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = Env::from_process();
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let billing = billing::Billing::from_env(
        &env,
        aws_sdk_dynamodb::Client::new(&aws),
        || aws_sdk_secretsmanager::Client::new(&aws),
        clock::Clock::system(),
    )?;
    lambda_http::run(stripe_webhook_function::router(billing)).await
}
