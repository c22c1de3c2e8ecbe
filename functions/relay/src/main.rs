//! The outbox relay Lambda: the one consumer of the table's stream. Delivers the side effects
//! changes recorded in their own transactions (notifications, closing sockets) to the
//! notifications queue, at least once, each with an id that is the same on every delivery.

use config::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let notifications_queue = env.required("NOTIFICATIONS_QUEUE_URL")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let relay = outbox::Relay::new(notify::Queue::new(
        aws_sdk_sqs::Client::new(&aws),
        notifications_queue,
    ));
    let relay = &relay;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::dynamodb::Event>| async move {
            Ok::<_, lambda_runtime::Error>(relay_function::handle(relay, event.payload).await)
        },
    ))
    .await
}
