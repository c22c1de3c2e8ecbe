//! The relay's domain: outbox items as the table's stream delivers them, each routed by its
//! type to where it is delivered. The relay function, the stream's only consumer, is a thin
//! shell around [`Relay::deliver`]; a later consumer of the stream is a new [`Route`] here,
//! never a second stream mapping.

use notify::{Message, Queue};
use serde_dynamo::AttributeValue;

use crate::{MARKER, MARKER_VERSION, OutboxRecord};

/// One stream record that passed the mapping's filter: an inserted outbox item.
pub struct StreamRecord {
    /// The stream's sequence number, which a partial batch response names.
    pub sequence_number: String,
    pub new_image: serde_dynamo::Item,
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// Written by a newer version of the code than this relay knows (or not an outbox item):
    /// failed, so the stream retries it and then points the failure queue at it.
    #[error("outbox record version {0:?} is not {MARKER_VERSION}")]
    UnknownVersion(Option<String>),
    #[error("the outbox item does not parse: {0}")]
    Malformed(String),
}

/// Where a record is delivered.
#[derive(Clone, Debug, PartialEq)]
pub enum Route {
    /// A message on the notifications queue, for the notifications dispatcher.
    Notifications(Message),
}

impl OutboxRecord {
    /// Reads an outbox item from its stream image.
    pub fn from_image(image: serde_dynamo::Item) -> Result<Self, RelayError> {
        match image.get(MARKER) {
            Some(AttributeValue::S(version)) if version == MARKER_VERSION => {}
            Some(AttributeValue::S(other)) => {
                return Err(RelayError::UnknownVersion(Some(other.clone())));
            }
            _ => return Err(RelayError::UnknownVersion(None)),
        }
        serde_dynamo::from_item(image).map_err(|e| RelayError::Malformed(e.to_string()))
    }

    /// Where this record goes, carrying [`OutboxRecord::delivery_id`] so every delivery of it
    /// is recognizably the same.
    pub fn route(&self) -> Route {
        let work = self.record.clone();
        Route::Notifications(Message {
            id: self.delivery_id(),
            org_id: self.org_id.clone(),
            requested_at: self.recorded_at,
            work,
        })
    }
}

/// What became of a batch.
#[derive(Debug, Default, PartialEq)]
pub struct Delivered {
    pub sent: usize,
    /// Sequence numbers of the records not delivered, for the partial batch response.
    pub failed: Vec<String>,
}

/// Delivers outbox records. Built once per cold start.
#[derive(Clone)]
pub struct Relay {
    notifications: Queue,
}

impl Relay {
    pub fn new(notifications: Queue) -> Self {
        Self { notifications }
    }

    /// Delivers every record it can; a record that does not parse or could not be sent is
    /// reported failed (logged with its key), the others are delivered regardless.
    pub async fn deliver(&self, records: Vec<StreamRecord>) -> Delivered {
        let mut outcome = Delivered::default();
        let mut messages = Vec::new();
        let mut sequence_of = std::collections::HashMap::new();
        for record in records {
            let key = key_of(&record.new_image);
            match OutboxRecord::from_image(record.new_image) {
                Ok(outbox) => match outbox.route() {
                    Route::Notifications(message) => {
                        sequence_of.insert(message.id.clone(), record.sequence_number);
                        messages.push(message);
                    }
                },
                Err(error) => {
                    tracing::error!(%error, key, "outbox record not delivered");
                    outcome.failed.push(record.sequence_number);
                }
            }
        }
        let refused = self.notifications.send_all(&messages).await;
        outcome.sent = messages.len() - refused.len();
        for (id, reason) in refused {
            tracing::error!(message_id = %id, %reason, "notification message not sent");
            if let Some(sequence_number) = sequence_of.remove(&id) {
                outcome.failed.push(sequence_number);
            }
        }
        outcome
    }
}

/// `PK / SK` of an image, for logs.
fn key_of(image: &serde_dynamo::Item) -> String {
    let part = |name: &str| match image.get(name) {
        Some(AttributeValue::S(s)) => s.as_str(),
        _ => "?",
    };
    format!("{} / {}", part("PK"), part("SK"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SideEffect;
    use crate::tests::record;
    use notify::Work;

    fn image(record: &OutboxRecord) -> serde_dynamo::Item {
        let item = record.item().unwrap();
        // The stream's image carries what the table stored: the same attributes.
        serde_dynamo::to_item(serde_dynamo::from_item::<_, serde_json::Value>(item).unwrap())
            .unwrap()
    }

    #[test]
    fn an_outbox_image_reads_back_and_routes_to_the_notifications_queue() {
        let record = record();
        let back = OutboxRecord::from_image(image(&record)).unwrap();
        assert_eq!(back, record);
        let Route::Notifications(message) = back.route();
        assert_eq!(message.id, record.delivery_id());
        assert_eq!(message.org_id, "01JORG");
        assert_eq!(message.requested_at, record.recorded_at);
        let SideEffect::Notify { recipients, notice } = &record.record else {
            unreachable!()
        };
        assert_eq!(
            message.work,
            Work::Notify {
                recipients: recipients.clone(),
                notice: notice.clone()
            }
        );
        let close = OutboxRecord {
            record: SideEffect::CloseConnections {
                user_id: "bo".into(),
            },
            ..record
        };
        let Route::Notifications(message) = close.route();
        assert_eq!(
            message.work,
            Work::CloseConnections {
                user_id: "bo".into()
            }
        );
    }

    #[test]
    fn another_version_or_a_broken_item_is_refused() {
        let mut newer = image(&record());
        newer.insert(MARKER.into(), AttributeValue::S("v2".into()));
        assert!(matches!(
            OutboxRecord::from_image(newer),
            Err(RelayError::UnknownVersion(Some(v))) if v == "v2"
        ));
        let mut unmarked = image(&record());
        unmarked.remove(MARKER);
        assert!(matches!(
            OutboxRecord::from_image(unmarked),
            Err(RelayError::UnknownVersion(None))
        ));
        let mut broken = image(&record());
        broken.remove("record");
        assert!(matches!(
            OutboxRecord::from_image(broken),
            Err(RelayError::Malformed(_))
        ));
        assert_eq!(
            key_of(&image(&record())),
            "ORG#01JORG / OUTBOX#01JCHANGE#01"
        );
    }
}
