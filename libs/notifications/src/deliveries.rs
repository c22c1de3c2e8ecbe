//! Deliveries: how each channel delivered a request (a `POST /v1/notifications`, or a notice of
//! the outbox) to each recipient, one record per recipient and channel under
//! `NOTIF_DELIVERY#<request id>#<digest of user>#<channel>`, so a request's log is one key range.
//!
//! - `in_app`: `delivered` (stored in the notification centre) or `skipped_preference`;
//! - `email`: `pending` (the dispatcher put a job on the email queue) → `sending` (a consumer
//!   holds the lease) → `sent` with SES's message id, or `failed` with the reason; or
//!   `skipped_preference`, `skipped_no_verified_address`, `skipped_not_member`. See
//!   [`crate::email`] for the lease.
//!
//! Records are kept for [`KEPT`] (TTL).

use clock::DateTime;
use notify::NotificationType;
use serde::{Deserialize, Serialize};
use store::keys::{self, OrgId, UserId};
use store::{Condition, Page, Query, Store, StoreError};
use utoipa::ToSchema;

/// How long a delivery record is kept.
pub const KEPT: clock::Duration = clock::Duration::days(30);
pub(crate) const ENTITY: &str = "notification_delivery";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    InApp,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::InApp => "in_app",
            Channel::Email => "email",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// In the app: stored in the recipient's notification centre.
    Delivered,
    /// Email: queued for the email consumer (or waiting to be tried again).
    // Records of the dispatcher before email was sent said `wanted`.
    #[serde(alias = "wanted")]
    Pending,
    /// Email: a consumer holds the lease and is sending.
    Sending,
    /// Email: SES accepted it.
    Sent,
    /// Email: SES refused it for good, or every attempt failed; `reason` says why.
    Failed,
    /// The recipient's preference for the type and channel is off.
    SkippedPreference,
    /// Email: the recipient has no address their identity provider verified.
    SkippedNoVerifiedAddress,
    /// Email: the recipient was no longer a member when it was to be sent.
    SkippedNotMember,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Sending => "sending",
            DeliveryStatus::Sent => "sent",
            DeliveryStatus::Failed => "failed",
            DeliveryStatus::SkippedPreference => "skipped_preference",
            DeliveryStatus::SkippedNoVerifiedAddress => "skipped_no_verified_address",
            DeliveryStatus::SkippedNotMember => "skipped_not_member",
        }
    }

    /// Nothing more happens to a delivery in this state.
    pub fn is_final(self) -> bool {
        !matches!(self, DeliveryStatus::Pending | DeliveryStatus::Sending)
    }
}

/// A delivery as stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryRecord {
    pub request_id: String,
    pub user_id: String,
    pub channel: Channel,
    pub status: DeliveryStatus,
    #[serde(rename = "type")]
    pub kind: NotificationType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The in-app notification of the same request and recipient, when one was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ses_message_id: Option<String>,
    /// Claims of the email (each one a try at sending).
    #[serde(default)]
    pub attempts: u32,
    /// Until when (epoch milliseconds) the consumer that claimed the email holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until_ms: Option<i64>,
    /// The claim holding the lease (a ULID), which its own final write names.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    #[serde(with = "clock::serde_rfc3339", alias = "recorded_at")]
    pub updated_at: DateTime,
}

/// A delivery as the API shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Delivery {
    pub user_id: String,
    pub channel: Channel,
    pub status: DeliveryStatus,
    /// Why it failed, was skipped, or is waiting to be tried again.
    pub reason: Option<String>,
    pub notification_id: Option<String>,
    /// SES's message id, once SES accepted the email.
    pub ses_message_id: Option<String>,
    /// Tries at sending (email).
    pub attempts: u32,
    /// When the status last changed.
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: DateTime,
}

impl From<DeliveryRecord> for Delivery {
    fn from(r: DeliveryRecord) -> Self {
        Self {
            user_id: r.user_id,
            channel: r.channel,
            status: r.status,
            reason: r.reason,
            notification_id: r.notification_id,
            ses_message_id: r.ses_message_id,
            attempts: r.attempts,
            updated_at: r.updated_at,
        }
    }
}

/// The store key of a delivery.
pub(crate) fn key(org: &str, request_id: &str, user: &str, channel: Channel) -> store::Key {
    keys::notification_delivery(OrgId(org), request_id, UserId(user), channel.as_str())
}

/// A new delivery record of `channel` in `status`.
pub(crate) struct NewDelivery<'a> {
    pub org_id: &'a str,
    pub request_id: &'a str,
    pub user_id: &'a str,
    pub channel: Channel,
    pub status: DeliveryStatus,
    pub kind: NotificationType,
    pub notification_id: Option<&'a str>,
}

/// Records a delivery, once: a redelivered message finds the record (its later states
/// included) and leaves it. Answers whether this call wrote it.
pub(crate) async fn record(
    store: &Store,
    new: NewDelivery<'_>,
    now: DateTime,
) -> Result<bool, StoreError> {
    let record = DeliveryRecord {
        request_id: new.request_id.to_owned(),
        user_id: new.user_id.to_owned(),
        channel: new.channel,
        status: new.status,
        kind: new.kind,
        reason: None,
        notification_id: new.notification_id.map(str::to_owned),
        ses_message_id: None,
        attempts: 0,
        lease_until_ms: None,
        claim: None,
        updated_at: now,
    };
    let item = store::with_ttl(
        store::item(
            &key(new.org_id, new.request_id, new.user_id, new.channel),
            ENTITY,
            &record,
        )?,
        (now + KEPT).unix_timestamp(),
    );
    match store.put(item, Condition::NotExists).await {
        Ok(()) => Ok(true),
        Err(e) if e.is_condition_failed() => Ok(false),
        Err(e) => Err(e),
    }
}

/// One page of a request's deliveries in `org` (by recipient, then channel).
pub async fn list(
    store: &Store,
    org: &str,
    request_id: &str,
    limit: u16,
    cursor: Option<&str>,
) -> Result<Page<Delivery>, StoreError> {
    let query = Query::new(
        "notification_deliveries",
        keys::notification_deliveries(OrgId(org), request_id),
        limit,
        cursor,
    );
    let page = store.query::<DeliveryRecord>(query).await?;
    Ok(Page {
        items: page.items.into_iter().map(Delivery::from).collect(),
        next_cursor: page.next_cursor,
    })
}

/// The deliveries of one request to one recipient (in the app, then email), as recorded.
pub async fn of_recipient(
    store: &Store,
    org: &str,
    request_id: &str,
    user: &str,
) -> Result<Vec<Delivery>, StoreError> {
    let keys = [
        key(org, request_id, user, Channel::InApp),
        key(org, request_id, user, Channel::Email),
    ];
    store
        .batch_get(&keys)
        .await?
        .into_iter()
        .flatten()
        .map(|item| store::from_item::<DeliveryRecord>(item).map(Delivery::from))
        .collect()
}
