//! A stored notification and what the API shows of it.

use clock::DateTime;
use notify::{NotificationType, Severity};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A notification to store for one recipient.
#[derive(Clone, Debug, PartialEq)]
pub struct NewNotification {
    /// From [`notification_id`]: the same request and recipient always give the same id, so a
    /// redelivered message stores nothing new.
    pub id: String,
    pub kind: NotificationType,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    /// The send request (or outbox delivery) it came from.
    pub request_id: String,
}

/// The id of `request_id`'s notification for `user_id`: a ULID with the request's time and 80
/// bits of a digest of both, so ids sort by time and a retry finds the same one.
pub fn notification_id(request_id: &str, user_id: &str, requested_at: DateTime) -> String {
    let digest = store::keys::digest(format!("{request_id}\n{user_id}").as_bytes());
    let random = u128::from_str_radix(&digest[..20], 16).expect("hex digits");
    let ms = u64::try_from((requested_at.unix_timestamp_nanos() / 1_000_000).max(0)).unwrap_or(0);
    ulid::Ulid::from_parts(ms, random).to_string()
}

/// A notification as stored (the item's attributes).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Stored {
    pub id: String,
    pub org_id: String,
    pub user_id: String,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    pub severity: Severity,
    pub title: String,
    pub body: String,
    /// JSON text: a DynamoDB map refuses some of what JSON allows (nesting past 32 levels,
    /// numbers beyond its range), which would make a valid request undeliverable.
    #[serde(default, with = "json_text")]
    pub data: serde_json::Value,
    pub request_id: String,
    /// The counter's sequence given to it.
    pub sequence: i64,
    /// The counter's version its insert set (absent on notifications stored before versions
    /// were kept): `sync` finds what a client missed since a version it saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Absent while unread (conditions test `attribute_not_exists(read_at)`).
    #[serde(
        default,
        with = "clock::serde_rfc3339::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_at: Option<DateTime>,
    #[serde(with = "clock::serde_rfc3339")]
    pub created_at: DateTime,
}

/// A notification as its recipient sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    pub id: String,
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: NotificationType,
    #[schema(value_type = String)]
    pub severity: Severity,
    pub title: String,
    pub body: String,
    pub data: serde_json::Value,
    /// When it was read (`null`: unread).
    #[serde(with = "clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub read_at: Option<DateTime>,
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime,
}

impl Stored {
    /// What the recipient sees; one covered by mark-all-read but not stamped yet shows the
    /// time of that mark-all-read.
    pub fn view(self, covered_since: Option<(i64, DateTime)>) -> Notification {
        let read_at = self.read_at.or(match covered_since {
            Some((watermark, at)) if self.sequence <= watermark => Some(at),
            _ => None,
        });
        Notification {
            id: self.id,
            kind: self.kind,
            severity: self.severity,
            title: self.title,
            body: self.body,
            data: self.data,
            read_at,
            created_at: self.created_at,
        }
    }
}

/// A JSON value stored as its text (read back from text, or from a map stored before).
mod json_text {
    use serde::{Deserialize, Deserializer, Serializer};
    use serde_json::Value;

    pub fn serialize<S: Serializer>(value: &Value, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        match Value::deserialize(deserializer)? {
            Value::String(text) => serde_json::from_str(&text).map_err(serde::de::Error::custom),
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_is_stored_as_json_text_whatever_its_depth_or_numbers() {
        let mut deep = serde_json::json!(1e300);
        for _ in 0..60 {
            deep = serde_json::json!({ "a": deep });
        }
        let stored = Stored {
            id: "01".into(),
            org_id: "o".into(),
            user_id: "u".into(),
            kind: NotificationType::Agent,
            severity: Severity::Info,
            title: "t".into(),
            body: String::new(),
            data: deep.clone(),
            request_id: "r".into(),
            sequence: 1,
            version: Some(1),
            read_at: None,
            created_at: clock::parse_rfc3339("2026-12-02T08:00:00Z").unwrap(),
        };
        let item = store::item(
            &store::keys::notification(store::keys::OrgId("o"), store::keys::UserId("u"), "01"),
            "notification",
            &stored,
        )
        .unwrap();
        assert!(item["data"].as_s().is_ok(), "text, not a map");
        let back: Stored = store::from_item(item).unwrap();
        assert_eq!(back.data, deep);
        // One stored as a map before reads back the same.
        let mut old = store::item(
            &store::keys::notification(store::keys::OrgId("o"), store::keys::UserId("u"), "01"),
            "notification",
            &stored,
        )
        .unwrap();
        old.insert(
            "data".into(),
            store::aws_sdk_dynamodb::types::AttributeValue::M(
                [(
                    "k".to_owned(),
                    store::aws_sdk_dynamodb::types::AttributeValue::S("v".into()),
                )]
                .into(),
            ),
        );
        let back: Stored = store::from_item(old).unwrap();
        assert_eq!(back.data, serde_json::json!({"k": "v"}));
    }
}
