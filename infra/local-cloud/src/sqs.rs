//! SQS queues of the template, created in moto, and Lambda's SQS event-source mapping: long-poll,
//! invoke with batches shaped like Lambda's SQS event, delete what succeeded, honour
//! `ReportBatchItemFailures`, leave failures to reappear after the visibility timeout and the
//! queue's redrive policy to move them to the dead-letter queue.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, Message, MessageSystemAttributeName, QueueAttributeName,
};
use bytes::Bytes;
use sam_template::{Resolver, Template};
use serde_json::{Map, Value, json};

use crate::batch::failures;
use crate::clients::sdk_error;
use crate::logs;
use crate::runtime::{Function, InvokeError};

#[derive(Clone, Debug)]
pub struct Queue {
    pub logical_id: String,
    pub name: String,
    pub url: String,
    pub arn: String,
    /// A FIFO queue: SQS hands a message group's messages over in order, one batch in flight
    /// per group (the emulator's own locks), and Lambda allows no batching window on it.
    pub fifo: bool,
}

/// Creates the template's queues (dead-letter queues first), named `<prefix><logical id>` unless
/// the template names them, and teaches the resolver their URLs, ARNs and names.
pub async fn create_queues(
    client: &Client,
    template: &Template,
    resolver: &mut Resolver,
    prefix: &str,
) -> Result<BTreeMap<String, Queue>, String> {
    let mut pending = template.queues();
    let mut created = BTreeMap::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut rest = Vec::new();
        for queue in pending {
            // A queue with a redrive policy waits until its dead-letter queue exists.
            let redrive = match &queue.redrive {
                None => None,
                Some((target, max)) => match resolver.string(target) {
                    Ok(arn) => Some(
                        json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max }).to_string(),
                    ),
                    Err(_) => {
                        rest.push(queue);
                        continue;
                    }
                },
            };
            let name = match &queue.queue_name {
                Some(name) => resolver.string(name).map_err(|e| e.to_string())?,
                // CloudFormation's generated names of FIFO queues end in `.fifo`, as SQS requires.
                None if queue.fifo.is_some() => format!("{prefix}{}.fifo", queue.logical_id),
                None => format!("{prefix}{}", queue.logical_id),
            };
            let mut request = client.create_queue().queue_name(&name).attributes(
                QueueAttributeName::VisibilityTimeout,
                queue.visibility_timeout_secs.to_string(),
            );
            if let Some(policy) = redrive {
                request = request.attributes(QueueAttributeName::RedrivePolicy, policy);
            }
            if let Some(attributes) = &queue.fifo {
                request = request.attributes(QueueAttributeName::FifoQueue, "true");
                for (attribute, value) in attributes {
                    request =
                        request.attributes(QueueAttributeName::from(attribute.as_str()), value);
                }
            }
            let url = request
                .send()
                .await
                .map_err(sdk_error)?
                .queue_url
                .unwrap_or_default();
            let arn = format!(
                "arn:aws:sqs:{}:{}:{name}",
                resolver.region, resolver.account
            );
            resolver.set_ref(&queue.logical_id, &url);
            resolver.set_attribute(&queue.logical_id, "Arn", &arn);
            resolver.set_attribute(&queue.logical_id, "QueueName", &name);
            resolver.set_attribute(&queue.logical_id, "QueueUrl", &url);
            logs::system("sqs", &format!("queue {name} ready ({url})"));
            created.insert(
                queue.logical_id.clone(),
                Queue {
                    logical_id: queue.logical_id,
                    name,
                    url,
                    arn,
                    fifo: queue.fifo.is_some(),
                },
            );
        }
        if rest.len() == before {
            return Err(format!(
                "dead-letter queues not found for {:?}",
                rest.iter().map(|q| &q.logical_id).collect::<Vec<_>>()
            ));
        }
        pending = rest;
    }
    Ok(created)
}

/// One `SQS` event source of a function.
pub struct Mapping {
    pub function: Arc<Function>,
    pub queue: Queue,
    pub batch_size: u32,
    pub batching_window: Duration,
    pub report_batch_item_failures: bool,
    /// Concurrent pollers (Lambda's maximum concurrency of the mapping).
    pub concurrency: u32,
    pub region: String,
}

impl Mapping {
    pub fn start(self: Arc<Self>, client: Client) {
        for _ in 0..self.concurrency.max(1) {
            let (mapping, client) = (self.clone(), client.clone());
            tokio::spawn(async move { mapping.poll(client).await });
        }
    }

    async fn poll(&self, client: Client) {
        loop {
            match self.receive_batch(&client).await {
                Ok(messages) if messages.is_empty() => {}
                Ok(messages) => self.deliver(&client, messages).await,
                Err(error) => {
                    logs::system(
                        "sqs",
                        &format!("receiving from {} failed: {error}", self.queue.name),
                    );
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    async fn receive_batch(&self, client: &Client) -> Result<Vec<Message>, String> {
        let mut messages = Vec::new();
        let started = Instant::now();
        loop {
            let wanted = (self.batch_size as usize)
                .saturating_sub(messages.len())
                .clamp(1, 10);
            let wait = if messages.is_empty() {
                5
            } else {
                self.batching_window
                    .saturating_sub(started.elapsed())
                    .as_secs()
                    .min(20) as i32
            };
            let output = client
                .receive_message()
                .queue_url(&self.queue.url)
                .max_number_of_messages(wanted as i32)
                .wait_time_seconds(wait)
                .message_system_attribute_names(MessageSystemAttributeName::All)
                .message_attribute_names("All")
                .send()
                .await
                .map_err(sdk_error)?;
            let received = output.messages.unwrap_or_default();
            let got_none = received.is_empty();
            messages.extend(received);
            let full = messages.len() >= self.batch_size as usize;
            let window_over = started.elapsed() >= self.batching_window;
            if messages.is_empty() || full || window_over || got_none {
                return Ok(messages);
            }
        }
    }

    fn event(&self, messages: &[Message]) -> Value {
        let records: Vec<Value> = messages
            .iter()
            .map(|m| {
                let attributes: Map<String, Value> = m
                    .attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.as_str().to_owned(), Value::String(v.clone())))
                    .collect();
                let message_attributes: Map<String, Value> = m
                    .message_attributes()
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| {
                        let mut attribute = json!({
                            "stringListValues": [],
                            "binaryListValues": [],
                            "dataType": v.data_type(),
                        });
                        if let Some(s) = v.string_value() {
                            attribute["stringValue"] = json!(s);
                        }
                        if let Some(b) = v.binary_value() {
                            use base64::Engine;
                            attribute["binaryValue"] =
                                json!(base64::engine::general_purpose::STANDARD.encode(b.as_ref()));
                        }
                        (k.clone(), attribute)
                    })
                    .collect();
                json!({
                    "messageId": m.message_id(),
                    "receiptHandle": m.receipt_handle(),
                    "body": m.body(),
                    "attributes": attributes,
                    "messageAttributes": message_attributes,
                    "md5OfBody": m.md5_of_body(),
                    "eventSource": "aws:sqs",
                    "eventSourceARN": self.queue.arn,
                    "awsRegion": self.region,
                })
            })
            .collect();
        json!({ "Records": records })
    }

    async fn deliver(&self, client: &Client, messages: Vec<Message>) {
        let ids: HashSet<&str> = messages.iter().filter_map(|m| m.message_id()).collect();
        let failed: HashSet<String> = match self
            .function
            .invoke(Bytes::from(self.event(&messages).to_string()))
            .await
        {
            Ok(answer) if self.report_batch_item_failures => match failures(&answer, &ids) {
                Some(failed) => failed,
                None => {
                    logs::system(
                        "sqs",
                        "the partial batch response is invalid: the whole batch failed",
                    );
                    ids.iter().map(|s| s.to_string()).collect()
                }
            },
            Ok(_) => HashSet::new(),
            Err(error) => {
                let brief = match error {
                    InvokeError::Function(body) => String::from_utf8_lossy(&body).into_owned(),
                    other => format!("{other:?}"),
                };
                logs::system(
                    "sqs",
                    &format!(
                        "batch of {} from {} failed: {brief}",
                        messages.len(),
                        self.queue.name
                    ),
                );
                ids.iter().map(|s| s.to_string()).collect()
            }
        };
        let done: Vec<&Message> = messages
            .iter()
            .filter(|m| !m.message_id().is_some_and(|id| failed.contains(id)))
            .collect();
        for chunk in done.chunks(10) {
            let entries: Vec<_> = chunk
                .iter()
                .enumerate()
                .filter_map(|(i, m)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(m.receipt_handle().unwrap_or_default())
                        .build()
                        .ok()
                })
                .collect();
            let deleted = client
                .delete_message_batch()
                .queue_url(&self.queue.url)
                .set_entries(Some(entries))
                .send()
                .await;
            match deleted {
                Ok(output) if !output.failed().is_empty() => logs::system(
                    "sqs",
                    &format!(
                        "{} deletes from {} failed: they will be delivered again",
                        output.failed().len(),
                        self.queue.name
                    ),
                ),
                Ok(_) => {}
                Err(error) => logs::system(
                    "sqs",
                    &format!(
                        "deleting from {} failed: {}",
                        self.queue.name,
                        sdk_error(error)
                    ),
                ),
            }
        }
    }
}
