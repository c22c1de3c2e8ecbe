//! The billing Lambda: plans, the subscription, invoices, payment methods and usage
//! (/v1/billing/*).

use config::{Env, HttpSettings};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = Env::from_process();
    let settings = HttpSettings::from_env(&env)?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let clock = clock::Clock::system();
    let billing = billing::Billing::from_env(
        &env,
        dynamodb,
        || aws_sdk_secretsmanager::Client::new(&aws),
        clock.clone(),
    )?;
    let app = billing_function::App::new(&settings, billing, clock);
    lambda_http::run(billing_function::router(
        app,
        &settings.cors_allowed_origins,
    ))
    .await
}
