//! The team Lambda: members, invitations, roles and the activity log.

use config::{Env, HttpSettings};
use team_function::{App, Outbound};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let env = Env::from_process();
    let settings = HttpSettings::from_env(&env)?;
    let activity_retention_days = env.parsed("ACTIVITY_RETENTION_DAYS", 365u16)?;
    let app_url = env.required("APP_URL")?;
    if !(app_url.starts_with("https://") || app_url.starts_with("http://")) {
        return Err(format!("APP_URL must be an http(s) URL, not {app_url:?}").into());
    }
    let sender = env.required("INVITATION_SENDER")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let outbound = Outbound {
        mailer: mail::Mailer::new(aws_sdk_sesv2::Client::new(&aws), sender),
        app_url,
    };
    let app = App::new(
        &settings,
        dynamodb,
        outbound,
        clock::Clock::system(),
        activity_retention_days,
    );
    lambda_http::run(team_function::router(app, &settings.cors_allowed_origins)).await
}
