//! The WebSocket Lambda: `$connect` (a single-use ticket from `POST /v1/ws/ticket`),
//! `$disconnect`, and the client's `subscribe`, `unsubscribe`, `markAsRead`, `sync`, `ping`
//! (anything else reaches `$default`, which answers an error frame).

use config::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let table = env.required("TABLE_NAME")?;
    let endpoint = env.required("WEBSOCKET_ENDPOINT")?;
    let allowed_origins = env.list("CORS_ALLOWED_ORIGINS");
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = store::Store::new(aws_sdk_dynamodb::Client::new(&aws), table);
    let clock = clock::Clock::system();
    let pusher = realtime::Pusher::from_config(&aws, store.clone(), clock.clone(), &endpoint);
    let live = notifications::Live::new(store, pusher, clock, allowed_origins);
    let live = &live;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            Ok::<_, lambda_runtime::Error>(websocket_function::handle(live, event.payload).await)
        },
    ))
    .await
}
