//! The email consumer Lambda: consumes the email queue (SQS event source, partial batch
//! responses), fed by the notifications dispatcher; sends each notification email through SES
//! v2 once per delivery record, but for the window that module names (see libs/notifications'
//! `email` module).

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use config::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let table = env.required("TABLE_NAME")?;
    let queue_url = env.required("EMAIL_QUEUE_URL")?;
    let sender_address = env.required("NOTIFICATION_SENDER")?;
    let public_url = env.required("API_PUBLIC_URL")?;
    let key = env.required("UNSUBSCRIBE_SIGNING_KEY")?;
    let lease = Duration::from_secs(env.parsed("EMAIL_LEASE_SECONDS", 60u64)?);
    let max_receives = env.parsed("EMAIL_MAX_RECEIVES", 5u32)?;
    let links = notifications::UnsubscribeLinks::new(key.as_bytes(), &public_url)?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    // One attempt per SendEmail: a call the SDK retried after SES had accepted it (a lost
    // answer) would be a second email. It ends well inside the invocation and the lease.
    let ses = aws_sdk_sesv2::config::Builder::from(&aws)
        .retry_config(RetryConfig::disabled())
        .timeout_config(
            TimeoutConfig::builder()
                .operation_timeout(Duration::from_secs(10))
                .build(),
        )
        .build();
    let sender = notifications::EmailSender::new(
        store::Store::new(aws_sdk_dynamodb::Client::new(&aws), table),
        mail::Mailer::new(aws_sdk_sesv2::Client::from_conf(ses), sender_address),
        links,
        clock::Clock::system(),
    )
    .with_lease(lease);
    let consumer = email_function::Consumer {
        sender,
        sqs: aws_sdk_sqs::Client::new(&aws),
        queue_url,
        max_receives,
    };
    let consumer = &consumer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
            let (response, tally) = email_function::handle(consumer, event.payload).await;
            tracing::info!(
                sent = tally.sent,
                skipped = tally.skipped,
                failed = tally.failed,
                retried = tally.retried,
                already_done = tally.already_done,
                lease_held = tally.lease_held,
                unknown = tally.unknown,
                errors = tally.errors,
                "email batch handled"
            );
            Ok::<_, lambda_runtime::Error>(response)
        },
    ))
    .await
}
