//! Notification requests: how any function asks for people to be notified. A request goes on the
//! notifications queue; the notifications dispatcher (its own issue) stores it, pushes it over
//! WebSocket and emails it according to each recipient's preferences.

use clock::DateTime;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationType {
    System,
    Billing,
    Agent,
    Workflow,
    Team,
    Kb,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Info,
    Success,
    Warning,
    Error,
}

/// One request, as it travels on the queue (JSON).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NotificationRequest {
    /// A ULID; the dispatcher uses it to store each notification once under redelivery.
    pub id: String,
    pub org_id: String,
    /// The recipients (user ids).
    pub user_ids: Vec<String>,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    #[serde(default)]
    pub data: serde_json::Value,
    #[serde(with = "clock::serde_rfc3339")]
    pub requested_at: DateTime,
}

impl NotificationRequest {
    pub fn new(
        org_id: &str,
        user_ids: Vec<String>,
        kind: NotificationType,
        title: &str,
        body: &str,
        now: DateTime,
    ) -> Self {
        Self {
            id: ulid::Ulid::from_datetime(now.into()).to_string(),
            org_id: org_id.to_owned(),
            user_ids,
            kind,
            severity: Severity::Info,
            title: title.to_owned(),
            body: body.to_owned(),
            data: serde_json::Value::Null,
            requested_at: now,
        }
    }

    pub fn with_data(mut self, data: serde_json::Value) -> Self {
        self.data = data;
        self
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the notification request could not be queued: {0}")]
pub struct NotifyError(String);

/// Puts notification requests on the notifications queue. Built once per cold start.
#[derive(Clone)]
pub struct Notifier {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl Notifier {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }

    pub async fn send(&self, request: &NotificationRequest) -> Result<(), NotifyError> {
        let body = serde_json::to_string(request).map_err(|e| NotifyError(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| NotifyError(aws_sdk_sqs::error::DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    /// Sends after a change has been committed: a failure is logged, never undoes the change.
    pub async fn send_after_commit(&self, request: &NotificationRequest) {
        if let Err(error) = self.send(request).await {
            tracing::error!(%error, request_id = %request.id, "notification request lost");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_travel_as_plain_json() {
        let now = clock::parse_rfc3339("2026-11-24T10:00:00Z").unwrap();
        let request = NotificationRequest::new(
            "o1",
            vec!["u1".into()],
            NotificationType::Team,
            "Role changed",
            "You are now admin",
            now,
        )
        .with_data(serde_json::json!({"role": "admin"}));
        let json: serde_json::Value = serde_json::to_value(&request).unwrap();
        assert_eq!(json["type"], "team");
        assert_eq!(json["severity"], "info");
        assert_eq!(json["user_ids"], serde_json::json!(["u1"]));
        assert_eq!(json["requested_at"], "2026-11-24T10:00:00.000Z");
        assert_eq!(
            serde_json::from_value::<NotificationRequest>(json).unwrap(),
            request
        );
    }
}
