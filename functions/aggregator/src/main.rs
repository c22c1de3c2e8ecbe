//! The aggregator Lambda: consumes the analytics queue (SQS event source, partial batch
//! responses) and keeps raw events and daily counters.

use config::Env;
use lambda_runtime::{LambdaEvent, service_fn};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = Env::from_process();
    let table = env.required("TABLE_NAME")?;
    let raw_retention_days = env.parsed("RAW_EVENT_RETENTION_DAYS", 90u16)?;
    let writes_in_flight = env.parsed(
        "WRITES_IN_FLIGHT",
        analytics::aggregator::DEFAULT_WRITES_IN_FLIGHT,
    )?;
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let aggregator = analytics::Aggregator::new(
        store::Store::new(aws_sdk_dynamodb::Client::new(&aws), table),
        clock::Duration::days(i64::from(raw_retention_days)),
    )
    .with_writes_in_flight(writes_in_flight);
    let aggregator = &aggregator;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::sqs::SqsEvent>| async move {
            Ok::<_, lambda_runtime::Error>(
                aggregator_function::handle(aggregator, event.payload).await,
            )
        },
    ))
    .await
}
