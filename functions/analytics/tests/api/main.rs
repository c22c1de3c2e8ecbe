//! The analytics routes against DynamoDB Local and moto: tracking (validation, nothing queued on
//! bad input, members and API keys), API keys, reports through the aggregator, roles, tenancy,
//! billing usage; and the whole path through the local cloud. One module per route group; the
//! harness is test-support's.

use analytics::{Aggregator, Message};
use analytics_function::{App, router};
use auth::Role;
use clock::{Clock, Duration};
use http::{Method, StatusCode};
use serde_json::{Value, json};
use store::{Store, keys};
use test_support::api::ApiClient;
use test_support::fixtures::Fixtures;

mod api_keys;
mod e2e;
mod limits;
mod reports;
mod samples;
mod track;

struct Api {
    client: ApiClient,
    store: Store,
    clock: Clock,
    fixtures: Fixtures,
    sqs: aws_sdk_sqs::Client,
    queue: String,
    aggregator: Aggregator,
}

async fn api() -> Api {
    let (client, settings) = test_support::fresh_function().await;
    let clock = Clock::manual(clock::DateTime::now_utc());
    let sqs = test_support::sqs_client();
    let queue = test_support::fresh_fifo_queue(&sqs).await;
    let app = App::new(
        &settings,
        client,
        analytics::EventQueue::new(sqs.clone(), queue.clone()),
        clock.clone(),
        90,
        365,
    );
    let store = app.store().clone();
    Api {
        client: ApiClient::new(router(app, &settings.cors_allowed_origins)),
        aggregator: Aggregator::new(store.clone(), Duration::days(90)),
        fixtures: Fixtures::new(store.clone(), clock.clone()),
        store,
        clock,
        sqs,
        queue,
    }
}

impl Api {
    /// Everything queued so far, fed through the aggregator as SQS would (batches of 10).
    async fn aggregate(&self) -> usize {
        let mut counted = 0;
        loop {
            let output = self
                .sqs
                .receive_message()
                .queue_url(&self.queue)
                .max_number_of_messages(10)
                .send()
                .await
                .unwrap();
            let batch = output.messages.unwrap_or_default();
            if batch.is_empty() {
                return counted;
            }
            let messages = batch
                .iter()
                .map(|m| Message {
                    message_id: m.message_id().unwrap().to_owned(),
                    body: m.body().unwrap().to_owned(),
                })
                .collect();
            let outcome = self.aggregator.process(messages).await;
            assert!(outcome.failed.is_empty(), "{outcome:?}");
            counted += outcome.counted;
            let entries = batch
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap())
                        .build()
                        .unwrap()
                })
                .collect();
            let deleted = self
                .sqs
                .delete_message_batch()
                .queue_url(&self.queue)
                .set_entries(Some(entries))
                .send()
                .await
                .unwrap();
            assert!(deleted.failed.is_empty(), "{:?}", deleted.failed);
        }
    }

    async fn queued(&self) -> Vec<Value> {
        test_support::drain_queue(&self.sqs, &self.queue).await
    }

    async fn api_key(&self, org: &str, owner: &str) -> String {
        let (status, key) = self
            .client
            .as_member(
                Method::POST,
                "/v1/api-keys",
                owner,
                org,
                Some(r#"{"name":"ingest"}"#),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        key["key"].as_str().unwrap().to_owned()
    }
}
