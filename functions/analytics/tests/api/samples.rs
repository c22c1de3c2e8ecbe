//! The sample events of `events/` reach their routes and the aggregator.

use super::*;

#[tokio::test]
async fn the_sample_events_reach_their_routes_and_the_aggregator() {
    let api = api().await;
    let org = api.fixtures.org("local-user").await;
    let samples = [
        ("analytics-track.json", StatusCode::ACCEPTED),
        ("analytics-overview.json", StatusCode::OK),
        ("analytics-top-agents.json", StatusCode::OK),
        ("analytics-usage.json", StatusCode::OK),
        ("analytics-events.json", StatusCode::OK),
        ("analytics-event-counts.json", StatusCode::OK),
        ("analytics-create-api-key.json", StatusCode::CREATED),
        ("analytics-list-api-keys.json", StatusCode::OK),
        ("analytics-revoke-api-key.json", StatusCode::NOT_FOUND),
    ];
    test_support::samples::assert_samples_reach_their_routes(&api.client, &org, &samples).await;
    // The agent of the tracked sample exists once the aggregator has run.
    api.aggregate().await;
    test_support::samples::assert_samples_reach_their_routes(
        &api.client,
        &org,
        &[("analytics-agent.json", StatusCode::OK)],
    )
    .await;

    // The SQS sample through the aggregator's handler: the malformed record fails alone.
    let raw =
        std::fs::read_to_string(test_support::samples::dir().join("aggregator-sqs-batch.json"))
            .unwrap();
    let event: aws_lambda_events::sqs::SqsEvent = serde_json::from_str(&raw).unwrap();
    let response = aggregator_function::handle(&api.aggregator, event).await;
    let failed: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.as_str())
        .collect();
    assert_eq!(failed, ["0f1c2d3e-0000-4000-8000-000000000003"]);
}
