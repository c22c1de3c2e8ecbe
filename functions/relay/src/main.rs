//! The relay Lambda: the one consumer of the table's stream. Delivers the side effects changes
//! recorded in their own transactions (notifications, closing sockets) to the notifications
//! queue, at least once, each with an id that is the same on every delivery; and checks the
//! usage of organizations whose counters, seats or subscription changed against their limits.

use config::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let notifications_queue = env.required("NOTIFICATIONS_QUEUE_URL")?;
    let table = env.required("TABLE_NAME")?;
    let activity_retention_days = env.parsed("ACTIVITY_RETENTION_DAYS", 365u16)?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let consumers = relay_function::Consumers {
        outbox: outbox::Relay::new(notify::Queue::new(
            aws_sdk_sqs::Client::new(&aws),
            notifications_queue,
        )),
        metering: metering::Metering::new(
            store::Store::new(aws_sdk_dynamodb::Client::new(&aws), table),
            clock::Clock::system(),
            clock::Duration::days(i64::from(activity_retention_days)),
        ),
    };
    let consumers = &consumers;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::dynamodb::Event>| async move {
            Ok::<_, lambda_runtime::Error>(relay_function::handle(consumers, event.payload).await)
        },
    ))
    .await
}
