//! The notifications dispatcher Lambda: consumes the notifications queue (SQS event source, no
//! batching window, partial batch responses), fed by `POST /v1/notifications` and the outbox
//! relay; stores each recipient's notification with their counter and pushes it to their
//! WebSocket connections, and queues each email wanted on the email queue.

use config::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let table = env.required("TABLE_NAME")?;
    let notifications_queue = env.required("NOTIFICATIONS_QUEUE_URL")?;
    let email_queue = env.required("EMAIL_QUEUE_URL")?;
    let endpoint = env.required("WEBSOCKET_ENDPOINT")?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = store::Store::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let clock = clock::Clock::system();
    let pusher = realtime::Pusher::from_config(&aws, store.clone(), clock.clone(), &endpoint);
    let sqs = aws_sdk_sqs::Client::new(&aws);
    let dispatcher = notifications::Dispatcher::new(
        store,
        notify::Queue::new(sqs.clone(), notifications_queue),
        notify::Queue::new(sqs, email_queue),
        pusher,
        clock,
    );
    let dispatcher = &dispatcher;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(
                dispatcher_function::handle(dispatcher, event.payload).await,
            )
        },
    ))
    .await
}
