//! The dispatcher's domain: a batch of notifications-queue messages in, each delivered (or
//! reported failed, alone, so SQS retries only it and then moves it to the dead-letter queue).
//!
//! - **Who:** recipients are resolved when the message is delivered (members change meanwhile):
//!   named users who are still members, or the members holding the named roles, or every
//!   member. A user who is no longer a member gets nothing in the app (logged). A message for
//!   more than [`CHUNK`] recipients is split into messages of named users, put back on the
//!   queue, so no invocation runs out of time however large the organization.
//! - **Once:** a notification's id comes from the message id, the recipient and the request
//!   time, so a redelivered (or re-split) message stores nothing new and counts nothing twice.
//! - **Preferences:** each recipient's in-app preference for the type decides the in-app
//!   notification; their email preference decides the email. Both are recorded as deliveries
//!   ([`crate::deliveries`]): in the app `delivered` or `skipped_preference`; by email
//!   `skipped_preference`, or `pending` and a job on the email queue, which the email consumer
//!   sends ([`crate::email`]): SES is never on this path. The jobs go out after the pushes and
//!   before the message's marker, so a message that fails before they are queued comes back and
//!   queues them again (the consumer sends each at most once per its record). An `email_only`
//!   notice (to a removed member) is never stored in the app.
//! - **Push:** a stored notification is pushed, with the counter after it, to the recipient's
//!   connections subscribed to its type; read-state changes (from the outbox) go to all their
//!   connections. A push that fails is logged and counted, never a failure of the message: the
//!   notification is stored and the client resyncs. A message delivered in full leaves a marker,
//!   so its redelivery does nothing; a redelivery of one that was not (the process died after
//!   storing) pushes what it finds stored again: frames are at least once, and carry the
//!   notification id and counter version for the client to drop copies.

use std::collections::HashSet;

use auth::records::MembershipRecord;
use clock::Clock;
use notify::{EmailJob, Message, Notice, Queue, ReadChange, Recipients, Work};
use realtime::{Frame, Pushed, Pusher};
use store::keys::{self, OrgId, UserId};
use store::{Condition, Query, Store, StoreError};
use tokio::task::JoinSet;

use crate::deliveries::{self, Channel, DeliveryStatus, NewDelivery};
use crate::inbox::{Covered, Delivered, Inbox, InboxError, UnreadCount};
use crate::live::ServerFrame;
use crate::record::{NewNotification, Notification, notification_id};

/// Recipients one message delivers to; more are split into messages of this many.
pub const CHUNK: usize = 100;
/// Deliveries of one message in flight at once.
const CONCURRENT_DELIVERIES: usize = 16;
/// Pages of notifications one stamp message stamps before it puts itself back on the queue
/// (well inside the invocation's timeout, beside nine other messages).
const STAMP_PAGES: usize = 2;
const STAMP_PAGE: u16 = 100;
/// Every this many changes of a user's notifications (counter versions), a delivery also
/// expires a few of their unread notifications older than the unread retention.
const EXPIRY_EVERY: i64 = 50;
const EXPIRY_BATCH: u16 = 25;
/// How long a delivered message's marker is kept: longer than a message can stay on the queue
/// (4 days) and its dead-letter queue's redrive.
const DONE_KEPT: clock::Duration = clock::Duration::days(15);
const DONE_ENTITY: &str = "notification_message_done";

/// One message of an SQS batch.
#[derive(Clone, Debug)]
pub struct QueuedMessage {
    /// SQS's id, which a partial batch response names.
    pub message_id: String,
    pub body: String,
}

/// What became of a batch.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dispatched {
    /// Notifications stored in the app.
    pub stored: usize,
    /// Stored before: a redelivery.
    pub duplicates: usize,
    /// Recipients whose in-app preference for the type is off.
    pub muted: usize,
    /// Named users who are no longer members.
    pub not_members: usize,
    /// Emails put on the email queue (recipients whose email preference allows the type).
    pub emails_queued: usize,
    /// Messages put back on the queue: chunks of a large message, or the rest of a stamp.
    pub requeued: usize,
    /// Notifications stamped read after a mark-all-read.
    pub stamped: usize,
    /// Unread notifications older than the unread retention, deleted.
    pub expired: usize,
    /// Messages delivered in full before (their marker found): nothing done again.
    pub redelivered: usize,
    /// Pushes to connections.
    pub pushed: Pushed,
    /// Connections closed (removed members).
    pub closed: usize,
    /// SQS ids of the messages that failed, for the partial batch response.
    pub failed: Vec<String>,
}

impl Dispatched {
    fn add(&mut self, other: Dispatched) {
        self.stored += other.stored;
        self.duplicates += other.duplicates;
        self.muted += other.muted;
        self.not_members += other.not_members;
        self.emails_queued += other.emails_queued;
        self.requeued += other.requeued;
        self.stamped += other.stamped;
        self.expired += other.expired;
        self.redelivered += other.redelivered;
        self.pushed.add(other.pushed);
        self.closed += other.closed;
        self.failed.extend(other.failed);
    }
}

#[derive(Debug, thiserror::Error)]
enum DispatchError {
    #[error("the message does not parse: {0}")]
    Malformed(String),
    #[error("messages could not be put back on the queue: {0}")]
    NotRequeued(String),
    #[error("email jobs could not be queued: {0}")]
    EmailsNotQueued(String),
    #[error(transparent)]
    Inbox(#[from] InboxError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Delivers notifications-queue messages. Built once per cold start.
#[derive(Clone)]
pub struct Dispatcher {
    store: Store,
    inbox: Inbox,
    queue: Queue,
    emails: Queue,
    pusher: Pusher,
    clock: Clock,
}

impl Dispatcher {
    /// `queue` is the notifications queue itself, where large messages' chunks go back;
    /// `emails` the email queue; `pusher` reaches the WebSocket API's connections.
    pub fn new(store: Store, queue: Queue, emails: Queue, pusher: Pusher, clock: Clock) -> Self {
        Self {
            inbox: Inbox::new(store.clone(), clock.clone()),
            store,
            queue,
            emails,
            pusher,
            clock,
        }
    }

    /// Delivers every message it can, the messages of a batch side by side; a message that does
    /// not parse or could not be delivered is reported failed (and logged), alone.
    pub async fn process(&self, messages: Vec<QueuedMessage>) -> Dispatched {
        let mut running = JoinSet::new();
        let mut message_of = std::collections::HashMap::new();
        for queued in messages {
            let dispatcher = self.clone();
            let message_id = queued.message_id.clone();
            let task = running
                .spawn(async move { dispatcher.handle(&queued.message_id, &queued.body).await });
            message_of.insert(task.id(), message_id);
        }
        let mut outcome = Dispatched::default();
        while let Some(joined) = running.join_next_with_id().await {
            let (task, result) = match joined {
                Ok((task, result)) => (task, result),
                // A panic (test builds; the release profile aborts): that message failed.
                Err(error) => (
                    error.id(),
                    Err(DispatchError::Store(StoreError::Internal(
                        error.to_string(),
                    ))),
                ),
            };
            let message_id = message_of.remove(&task).unwrap_or_default();
            match result {
                Ok(done) => outcome.add(done),
                Err(error) => {
                    tracing::error!(%message_id, %error, "notification message not delivered");
                    outcome.failed.push(message_id);
                }
            }
        }
        outcome
    }

    async fn handle(&self, sqs_id: &str, body: &str) -> Result<Dispatched, DispatchError> {
        let message: Message =
            serde_json::from_str(body).map_err(|e| DispatchError::Malformed(e.to_string()))?;
        let mut outcome = Dispatched::default();
        match &message.work {
            Work::Notify { recipients, notice } => {
                let done = keys::notification_message_done(
                    OrgId(&message.org_id),
                    &message_fingerprint(sqs_id, &message),
                );
                self.notify(&message, recipients, notice, &done, &mut outcome)
                    .await?;
                if outcome.redelivered > 0 {
                    return Ok(outcome);
                }
                let now = self.clock.now();
                let marker = store::with_ttl(
                    store::item(
                        &done,
                        DONE_ENTITY,
                        &serde_json::json!({ "message_id": message.id }),
                    )?,
                    (now + DONE_KEPT).unix_timestamp(),
                );
                self.store.put(marker, Condition::Always).await?;
            }
            Work::StampRead {
                user_id,
                after,
                up_to,
                read_at,
            } => {
                let covered = Covered {
                    after: *after,
                    up_to: *up_to,
                    read_at: *read_at,
                };
                self.stamp(&message, user_id, covered, &mut outcome).await?;
            }
            Work::CloseConnections { user_id } => {
                // Not closed (API Gateway unreachable): the message fails and comes back.
                outcome.closed += self
                    .pusher
                    .close_all(&message.org_id, user_id, message.requested_at)
                    .await?;
            }
            Work::ReadState {
                user_id,
                change,
                count,
                version,
                origin_connection,
            } => {
                let count = UnreadCount {
                    count: *count,
                    version: *version,
                };
                let frame = match change {
                    ReadChange::Read { id, read_at } => ServerFrame::Read {
                        id: id.clone(),
                        read_at: *read_at,
                        version: count.version,
                    },
                    ReadChange::ReadAll { read_at } => ServerFrame::ReadAll {
                        read_at: *read_at,
                        version: count.version,
                    },
                    ReadChange::Deleted { id } => ServerFrame::Deleted {
                        id: id.clone(),
                        version: count.version,
                    },
                };
                outcome.pushed = self
                    .push(
                        &message.org_id,
                        user_id,
                        &[
                            frame.to_push(None),
                            ServerFrame::UnreadCount(count).to_push(None),
                        ],
                        origin_connection.as_deref(),
                    )
                    .await;
            }
        }
        Ok(outcome)
    }

    /// Delivers a notice to its recipients, unless `done` (the message's marker) says it was
    /// delivered in full before (`outcome.redelivered`). The marker, the recipients and their
    /// preferences are read side by side: one round trip before the first write.
    async fn notify(
        &self,
        message: &Message,
        recipients: &Recipients,
        notice: &Notice,
        done: &store::Key,
        outcome: &mut Dispatched,
    ) -> Result<(), DispatchError> {
        let org = message.org_id.as_str();
        let marker = self.store.get::<serde_json::Value>(done);
        let (found, users, preferences) = match recipients {
            Recipients::Users(ids) => {
                // Each once (a batch read refuses repeated keys), and only ids that can be keys.
                let mut seen = HashSet::new();
                let named: Vec<String> = ids
                    .iter()
                    .filter(|id| auth::is_usable_user_id(id) && seen.insert(id.as_str()))
                    .cloned()
                    .collect();
                // Too many to check here: split first. A removed member is told by email:
                // they are no member by now.
                if named.len() > CHUNK || notice.email_only {
                    (marker.await?, named, None)
                } else {
                    let names: Vec<&str> = named.iter().map(String::as_str).collect();
                    let (found, members, preferences) = tokio::join!(
                        marker,
                        self.still_members(org, &named),
                        crate::preferences::preferences_of(&self.store, org, &names)
                    );
                    let (found, members) = (found?, members?);
                    // Those of the members, in their order (`still_members` keeps the named one).
                    let member_set: HashSet<&str> = members.iter().map(String::as_str).collect();
                    let preferences = named
                        .iter()
                        .zip(preferences?)
                        .filter(|(user, _)| member_set.contains(user.as_str()))
                        .map(|(_, preferences)| preferences)
                        .collect();
                    let skipped = ids.iter().collect::<HashSet<_>>().len() - members.len();
                    if skipped > 0 && found.is_none() {
                        outcome.not_members += skipped;
                        tracing::info!(
                            org_id = org,
                            message_id = %message.id,
                            skipped,
                            "named users who are no longer members get nothing in the app"
                        );
                    }
                    (found, members, Some(preferences))
                }
            }
            Recipients::Roles(roles) => {
                let (found, members) = tokio::join!(marker, self.members(org, Some(roles)));
                (found?, members?, None)
            }
            Recipients::AllMembers => {
                let (found, members) = tokio::join!(marker, self.members(org, None));
                (found?, members?, None)
            }
        };
        if found.is_some() {
            outcome.redelivered += 1;
            return Ok(());
        }
        if users.len() > CHUNK {
            let chunks: Vec<Message> = users
                .chunks(CHUNK)
                .map(|chunk| Message {
                    work: Work::Notify {
                        recipients: Recipients::Users(chunk.to_vec()),
                        notice: notice.clone(),
                    },
                    ..message.clone()
                })
                .collect();
            if let Some((_, reason)) = self.queue.send_all(&chunks).await.pop() {
                return Err(DispatchError::NotRequeued(reason));
            }
            outcome.requeued += chunks.len();
            return Ok(());
        }
        let preferences = match preferences {
            Some(preferences) => preferences,
            None => {
                let names: Vec<&str> = users.iter().map(String::as_str).collect();
                crate::preferences::preferences_of(&self.store, org, &names).await?
            }
        };
        let mut running = JoinSet::new();
        let mut first_error = None;
        let mut emails = Vec::new();
        for (user, preferences) in users.iter().zip(preferences) {
            if running.len() >= CONCURRENT_DELIVERIES {
                collect(
                    running.join_next().await,
                    outcome,
                    &mut emails,
                    &mut first_error,
                );
            }
            let (dispatcher, message, notice, user) =
                (self.clone(), message.clone(), notice.clone(), user.clone());
            let in_app = !notice.email_only && preferences.allows_in_app(notice.kind);
            let email = preferences.allows_email(notice.kind);
            running.spawn(async move {
                dispatcher
                    .deliver_to(&message, &notice, &user, in_app, email)
                    .await
            });
        }
        while let Some(joined) = running.join_next().await {
            collect(Some(joined), outcome, &mut emails, &mut first_error);
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if let Some((_, reason)) = self.emails.send_all(&emails).await.pop() {
            return Err(DispatchError::EmailsNotQueued(reason));
        }
        outcome.emails_queued += emails.len();
        Ok(())
    }

    /// One recipient: the in-app notification (with the counter, pushed), the deliveries
    /// recorded, and the email job to queue when email is wanted.
    async fn deliver_to(
        &self,
        message: &Message,
        notice: &Notice,
        user: &str,
        in_app: bool,
        email: bool,
    ) -> Result<(Dispatched, Option<EmailJob>), DispatchError> {
        let org = message.org_id.as_str();
        let mut outcome = Dispatched::default();
        let mut stored_id = None;
        if in_app {
            let new = NewNotification {
                id: notification_id(&message.id, user, message.requested_at),
                kind: notice.kind,
                severity: notice.severity,
                title: notice.title.clone(),
                body: notice.body.clone(),
                data: notice.data.clone(),
                request_id: message.id.clone(),
            };
            let id = new.id.clone();
            // The user's connections are read while the notification is written: the push
            // waits for neither in turn.
            let (delivered, connections) = tokio::join!(
                self.inbox.deliver(org, user, new),
                self.pusher.connections().of_user(org, user)
            );
            let connections = connections.inspect_err(|error| {
                tracing::warn!(org_id = org, %error, "connections not read: nothing pushed");
            });
            match delivered? {
                Delivered::Stored {
                    notification,
                    count,
                } => {
                    outcome.stored += 1;
                    stored_id = Some(notification.id.clone());
                    if let Ok(connections) = connections {
                        outcome.pushed = self
                            .push_notification(connections, notification, count.version, count)
                            .await;
                    }
                    if count.version % EXPIRY_EVERY == 0 {
                        // Housekeeping: a failure here must not fail (and redeliver) the message.
                        match self.inbox.expire_old_unread(org, user, EXPIRY_BATCH).await {
                            Ok(expired) => outcome.expired += expired,
                            Err(error) => tracing::warn!(
                                org_id = org,
                                %error,
                                "old unread notifications not expired"
                            ),
                        }
                    }
                }
                Delivered::Duplicate => {
                    outcome.duplicates += 1;
                    stored_id = Some(id.clone());
                    // Stored by an earlier try that ended before its marker: push it again
                    // (the client drops the copy by id).
                    match self.inbox.get(org, user, &id).await {
                        Ok(Some((notification, version))) if notification.read_at.is_none() => {
                            match (self.inbox.unread_count(org, user).await, connections) {
                                (Ok(count), Ok(connections)) => {
                                    outcome.pushed = self
                                        .push_notification(
                                            connections,
                                            notification,
                                            version,
                                            count,
                                        )
                                        .await;
                                }
                                (Err(error), _) => {
                                    tracing::warn!(org_id = org, %error, "not pushed")
                                }
                                (_, Err(_)) => {}
                            }
                        }
                        Ok(_) => {}
                        Err(error) => tracing::warn!(org_id = org, %error, "not pushed"),
                    }
                }
            }
        } else if !notice.email_only {
            outcome.muted += 1;
        }
        let record = |channel, status, notification_id| {
            deliveries::record(
                &self.store,
                NewDelivery {
                    org_id: org,
                    request_id: &message.id,
                    user_id: user,
                    channel,
                    status,
                    kind: notice.kind,
                    notification_id,
                },
                self.clock.now(),
            )
        };
        let in_app_status = if in_app {
            DeliveryStatus::Delivered
        } else {
            DeliveryStatus::SkippedPreference
        };
        let email_status = if email {
            DeliveryStatus::Pending
        } else {
            DeliveryStatus::SkippedPreference
        };
        let in_app_recorded = async {
            if notice.email_only {
                return Ok(false);
            }
            record(Channel::InApp, in_app_status, stored_id.as_deref()).await
        };
        let (in_app_recorded, email_recorded) = tokio::join!(
            in_app_recorded,
            record(Channel::Email, email_status, stored_id.as_deref())
        );
        in_app_recorded?;
        // Queued whenever the email record was there already, too: an earlier try may have
        // recorded it `pending` and ended before queueing its job (even if email was turned off
        // since, the consumer reads the preference again); the consumer sends once per record.
        let email_recorded_now = email_recorded?;
        let job = (email || !email_recorded_now).then(|| EmailJob {
            org_id: message.org_id.clone(),
            request_id: message.id.clone(),
            user_id: user.to_owned(),
            notification_id: stored_id.clone(),
            requested_at: message.requested_at,
            notice: notice.clone(),
        });
        Ok((outcome, job))
    }

    /// Pushes a stored notification (with the version its insert set) to the user's
    /// `connections` subscribed to its type, then the count to all of them.
    async fn push_notification(
        &self,
        connections: Vec<realtime::ConnectionRecord>,
        notification: Notification,
        version: i64,
        count: UnreadCount,
    ) -> Pushed {
        let kind = notification.kind;
        let frames = [
            ServerFrame::Notification {
                notification,
                version,
            }
            .to_push(Some(kind)),
            ServerFrame::UnreadCount(count).to_push(None),
        ];
        self.pusher.push_to(connections, &frames, None).await
    }

    /// Pushes frames to the user's connections; a failure is logged, never the message's.
    async fn push(&self, org: &str, user: &str, frames: &[Frame], except: Option<&str>) -> Pushed {
        match self.pusher.push(org, user, frames, except).await {
            Ok(pushed) => pushed,
            Err(error) => {
                tracing::warn!(org_id = org, %error, "connections not read: nothing pushed");
                Pushed {
                    failed: 1,
                    ..Pushed::default()
                }
            }
        }
    }

    /// Those of `ids` (distinct, usable as keys) who are members of `org` (one BatchGetItem per
    /// 100).
    async fn still_members(&self, org: &str, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let mut members = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(100) {
            let keys: Vec<_> = chunk
                .iter()
                .map(|id| keys::org_member(OrgId(org), UserId(id)))
                .collect();
            for (id, item) in chunk.iter().zip(self.store.batch_get(&keys).await?) {
                if item.is_some() {
                    members.push(id.clone());
                }
            }
        }
        Ok(members)
    }

    /// The members of `org` (holding one of `roles`, when given), read page by page.
    async fn members(
        &self,
        org: &str,
        roles: Option<&[auth::Role]>,
    ) -> Result<Vec<String>, StoreError> {
        let query = Query::new("members", keys::org_members(OrgId(org)), 1000, None);
        let (members, _) = self
            .store
            .query_all::<MembershipRecord>(query, usize::MAX)
            .await?;
        Ok(members
            .into_iter()
            .filter(|m| roles.is_none_or(|roles| roles.contains(&m.role)))
            .map(|m| m.user_id)
            .collect())
    }

    /// Stamps what a mark-all-read covered, a few pages at a time; the rest goes back on the
    /// queue as the same message (which starts over: what is stamped has left the range).
    async fn stamp(
        &self,
        message: &Message,
        user: &str,
        range: Covered,
        outcome: &mut Dispatched,
    ) -> Result<(), DispatchError> {
        let mut cursor: Option<String> = None;
        for _ in 0..STAMP_PAGES {
            let (stamped, next) = self
                .inbox
                .stamp_covered(&message.org_id, user, range, STAMP_PAGE, cursor.as_deref())
                .await?;
            outcome.stamped += stamped;
            match next {
                None => return Ok(()),
                Some(next) => cursor = Some(next),
            }
        }
        if let Some((_, reason)) = self
            .queue
            .send_all(std::slice::from_ref(message))
            .await
            .pop()
        {
            return Err(DispatchError::NotRequeued(reason));
        }
        outcome.requeued += 1;
        Ok(())
    }
}

/// What marks a message delivered in full: its id and work (a message re-sent by the relay or a
/// retried send has a new SQS id, chunks of one request share its id), or for a message that does
/// not parse, SQS's id.
fn message_fingerprint(sqs_id: &str, message: &Message) -> String {
    match serde_json::to_string(&message.work) {
        Ok(work) => keys::digest(format!("{}\n{work}", message.id).as_bytes()),
        Err(_) => keys::digest(sqs_id.as_bytes()),
    }
}

/// What one recipient's delivery task ends with.
type Joined = Result<Result<(Dispatched, Option<EmailJob>), DispatchError>, tokio::task::JoinError>;

/// Adds one finished delivery to `outcome` (and its email job to `emails`), keeping the first
/// error.
fn collect(
    joined: Option<Joined>,
    outcome: &mut Dispatched,
    emails: &mut Vec<EmailJob>,
    first_error: &mut Option<DispatchError>,
) {
    match joined {
        Some(Ok(Ok((done, job)))) => {
            outcome.add(done);
            emails.extend(job);
        }
        Some(Ok(Err(error))) => {
            first_error.get_or_insert(error);
        }
        Some(Err(error)) => {
            first_error.get_or_insert(DispatchError::Store(StoreError::Internal(
                error.to_string(),
            )));
        }
        None => {}
    }
}
