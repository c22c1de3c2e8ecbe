//! [`Inbox`]: one user's notifications in one organization, with the counter every change
//! writes in its own transaction (see the crate's comment for the rules).

use clock::{Clock, DateTime};
use notify::{NotificationType, ReadChange};
use serde::{Deserialize, Serialize};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId, UserId};
use store::{Condition, Filter, Index, Page, Query, Store, StoreError, Transaction, Update};
use utoipa::ToSchema;

use crate::record::{NewNotification, Notification, Stored};

const ENTITY: &str = "notification";
const COUNTER_ENTITY: &str = "notification_counter";
const TOMBSTONE_ENTITY: &str = "notification_tombstone";
/// How long a deleted notification's id is remembered: longer than a message can stay on the
/// notifications queue (4 days) and its dead-letter queue's redrive.
const TOMBSTONE_KEPT: clock::Duration = clock::Duration::days(15);
/// Labels of a transaction's two writes.
const NOTIFICATION: &str = "notification";
const COUNTER: &str = "counter";
/// A change that keeps losing to concurrent ones gives up after this many tries (503).
const ATTEMPTS: usize = 20;
/// The highest sequence, for the open end of the unread range.
const LAST_SEQUENCE: i64 = 999_999_999_999;

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("no such notification")]
    NotFound,
    #[error("the notifications kept changing while this request ran; retry")]
    Busy,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<InboxError> for problem::Problem {
    fn from(e: InboxError) -> Self {
        match e {
            InboxError::NotFound => problem::Problem::not_found("no such notification"),
            InboxError::Busy => problem::Problem::unavailable(e.to_string()),
            InboxError::Store(e) => e.into(),
        }
    }
}

/// The user's counter as stored (all zero before the first notification).
#[derive(Clone, Debug, Default, Deserialize)]
struct Counter {
    #[serde(default)]
    seq: i64,
    #[serde(default)]
    watermark: i64,
    #[serde(default)]
    unread: i64,
    #[serde(default)]
    version: i64,
    /// When mark-all-read last moved the watermark: the read time of what it covers.
    #[serde(default, with = "clock::serde_rfc3339::option")]
    read_all_at: Option<DateTime>,
}

impl Counter {
    fn count(&self) -> UnreadCount {
        UnreadCount {
            count: self.unread,
            version: self.version,
        }
    }

    fn covered_since(&self) -> Option<(i64, DateTime)> {
        self.read_all_at.map(|at| (self.watermark, at))
    }
}

/// `{count, version}`: a client keeps the count with the highest version it has seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UnreadCount {
    pub count: i64,
    pub version: i64,
}

/// What one mark-all-read covered: sequences above `after` up to `up_to`, read at `read_at`
/// (the range its stamp record names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Covered {
    pub after: i64,
    pub up_to: i64,
    pub read_at: DateTime,
}

/// What a mark-all-read did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadAll {
    /// How many were unread.
    pub updated: i64,
    /// What it covered (`None`: nothing was unread).
    pub covered: Option<Covered>,
    /// The counter after it.
    pub count: UnreadCount,
}

/// What marking one notification read did.
#[derive(Clone, Debug, PartialEq)]
pub struct Marked {
    pub notification: Notification,
    /// The counter after it (unchanged when it was read already).
    pub count: UnreadCount,
}

#[derive(Debug, PartialEq)]
pub enum Delivered {
    /// Stored, as its recipient sees it, with the counter after it.
    Stored {
        notification: Notification,
        count: UnreadCount,
    },
    /// Stored before (a redelivered message): nothing changed.
    Duplicate,
}

/// Which notifications a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Unread,
    Read,
    All,
}

/// Notifications of the users of every organization: cheap to clone.
#[derive(Clone)]
pub struct Inbox {
    store: Store,
    clock: Clock,
}

/// Marks an unread notification read at `at`: its read time and retention set, out of the
/// unread index. Fails if it is gone or was read meanwhile.
fn read_update(org: &str, user: &str, id: &str, at: DateTime) -> Update {
    Update::new(keys::notification(OrgId(org), UserId(user), id))
        .set("read_at", &clock::rfc3339(at))
        .set(keys::TTL, &(at + crate::READ_RETENTION).unix_timestamp())
        .remove(keys::GSI1_PK)
        .remove(keys::GSI1_SK)
        .require_exists()
        .condition_on(Condition::Expression {
            expression: "attribute_not_exists(read_at)".into(),
            names: Default::default(),
            values: Default::default(),
        })
}

/// An outbox item of a change made at `now` (the `index`th side effect of its transaction).
fn side_effect(
    org: &str,
    now: DateTime,
    index: usize,
    record: outbox::SideEffect,
) -> Result<store::Item, StoreError> {
    outbox::OutboxRecord {
        org_id: org.to_owned(),
        change_id: ulid::Ulid::from_parts(
            u64::try_from(now.unix_timestamp_nanos() / 1_000_000).unwrap_or(0),
            ulid::Ulid::generate().random(),
        )
        .to_string(),
        index,
        record,
        recorded_at: now,
    }
    .item()
}

/// The outbox item telling the user's connections about a change of their read state.
fn read_state(
    org: &str,
    user: &str,
    now: DateTime,
    index: usize,
    change: ReadChange,
    count: UnreadCount,
    origin: Option<&str>,
) -> Result<store::Item, StoreError> {
    side_effect(
        org,
        now,
        index,
        outbox::SideEffect::ReadState {
            user_id: user.to_owned(),
            change,
            count: count.count,
            version: count.version,
            origin_connection: origin.map(str::to_owned),
        },
    )
}

fn number(n: i64) -> AttributeValue {
    AttributeValue::N(n.to_string())
}

impl Inbox {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    async fn counter(&self, org: &str, user: &str) -> Result<Counter, StoreError> {
        Ok(self
            .store
            .get(&keys::notification_counter(OrgId(org), UserId(user)))
            .await?
            .unwrap_or_default())
    }

    async fn stored(&self, org: &str, user: &str, id: &str) -> Result<Option<Stored>, InboxError> {
        // Ids are ULIDs: anything else names no notification (and costs no read).
        if ulid::Ulid::from_string(id).is_err() {
            return Err(InboxError::NotFound);
        }
        Ok(self
            .store
            .get(&keys::notification(OrgId(org), UserId(user), id))
            .await?)
    }

    /// The counter's change of one transaction: its version raised, conditioned on the one read.
    fn counter_change(&self, org: &str, user: &str, read: &Counter) -> Update {
        Update::new(keys::notification_counter(OrgId(org), UserId(user)))
            .set(keys::ENTITY, &COUNTER_ENTITY)
            .set("version", &(read.version + 1))
            .condition_on(Condition::number_is("version", read.version))
    }

    /// Commits `transaction` built from a fresh read of the counter, again while another
    /// change wins the counter (its version moved) or DynamoDB reports a conflict.
    async fn retrying<T, F, Fut>(&self, mut attempt: F) -> Result<T, InboxError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, InboxError>>,
    {
        for tried in 0..ATTEMPTS {
            if let Some(done) = attempt().await? {
                return Ok(done);
            }
            // Back off a little, with jitter, so racing writers of one counter spread out.
            let jitter = u64::from(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
                    % 1000,
            );
            let ms = (1u64 << tried.min(5)) + jitter % (4 << tried.min(5));
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        Err(InboxError::Busy)
    }

    /// Stores `new` for `user`, taking the next sequence and counting it unread.
    pub async fn deliver(
        &self,
        org: &str,
        user: &str,
        new: NewNotification,
    ) -> Result<Delivered, InboxError> {
        self.retrying(|| async {
            let counter = self.counter(org, user).await?;
            let sequence = counter.seq + 1;
            let record = Stored {
                id: new.id.clone(),
                org_id: org.to_owned(),
                user_id: user.to_owned(),
                kind: new.kind,
                severity: new.severity,
                title: new.title.clone(),
                body: new.body.clone(),
                data: new.data.clone(),
                request_id: new.request_id.clone(),
                sequence,
                version: Some(counter.version + 1),
                read_at: None,
                created_at: self.clock.now(),
            };
            let key = keys::notification(OrgId(org), UserId(user), &new.id);
            let (_, unread) = keys::unread_notifications(OrgId(org), UserId(user));
            let (_, by_version) = keys::notifications_by_version(OrgId(org), UserId(user));
            let item = store::with_index(
                store::with_index(
                    store::item(&key, ENTITY, &record)?,
                    Index::Gsi1,
                    &unread.pk,
                    &keys::unread_sort(sequence),
                ),
                Index::Gsi2,
                &by_version.pk,
                &keys::version_sort(counter.version + 1),
            );
            let transaction = Transaction::new()
                .put(item, Condition::NotExists)
                .label(NOTIFICATION)
                // Deleted by its recipient: a redelivery does not bring it back.
                .check(
                    keys::notification_tombstone(OrgId(org), UserId(user), &new.id),
                    Condition::NotExists,
                )
                .label(NOTIFICATION)
                .update(
                    self.counter_change(org, user, &counter)
                        .set("seq", &sequence)
                        .add("unread", 1),
                )
                .label(COUNTER);
            match self.store.transact(transaction).await {
                Ok(()) => Ok(Some(Delivered::Stored {
                    notification: record.clone().view(None),
                    count: UnreadCount {
                        count: counter.unread + 1,
                        version: counter.version + 1,
                    },
                })),
                Err(e) if e.failed(NOTIFICATION) => Ok(Some(Delivered::Duplicate)),
                Err(e) if e.failed(COUNTER) || matches!(e, StoreError::TransactionConflict) => {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// The count, and since which sequence at what time mark-all-read covers notifications.
    pub(crate) async fn state(
        &self,
        org: &str,
        user: &str,
    ) -> Result<(UnreadCount, Option<(i64, DateTime)>), InboxError> {
        let counter = self.counter(org, user).await?;
        Ok((counter.count(), counter.covered_since()))
    }

    /// The exact unread count and its version (one GetItem).
    pub async fn unread_count(&self, org: &str, user: &str) -> Result<UnreadCount, InboxError> {
        Ok(self.counter(org, user).await?.count())
    }

    /// Marks one notification read (again: no change). Another user's or organization's id is
    /// not found: the key holds both.
    pub async fn mark_read(
        &self,
        org: &str,
        user: &str,
        id: &str,
    ) -> Result<Notification, InboxError> {
        Ok(self.mark_read_from(org, user, id, None).await?.notification)
    }

    /// [`Inbox::mark_read`], from the socket `origin` (the user's other connections are told;
    /// that one has its answer).
    pub async fn mark_read_from(
        &self,
        org: &str,
        user: &str,
        id: &str,
        origin: Option<&str>,
    ) -> Result<Marked, InboxError> {
        self.retrying(|| async {
            let counter = self.counter(org, user).await?;
            let Some(stored) = self.stored(org, user, id).await? else {
                return Err(InboxError::NotFound);
            };
            if stored.read_at.is_some() || stored.sequence <= counter.watermark {
                return Ok(Some(Marked {
                    notification: stored.view(counter.covered_since()),
                    count: counter.count(),
                }));
            }
            let now = self.clock.now();
            let read = read_update(org, user, id, now);
            let count = UnreadCount {
                count: counter.unread - 1,
                version: counter.version + 1,
            };
            let push = read_state(
                org,
                user,
                now,
                1,
                ReadChange::Read {
                    id: id.to_owned(),
                    read_at: now,
                },
                count,
                origin,
            )?;
            let transaction = Transaction::new()
                .update(read)
                .label(NOTIFICATION)
                .update(self.counter_change(org, user, &counter).add("unread", -1))
                .label(COUNTER)
                .put(push, Condition::NotExists);
            match self.store.transact(transaction).await {
                Ok(()) => Ok(Some(Marked {
                    notification: Stored {
                        read_at: Some(now),
                        ..stored
                    }
                    .view(None),
                    count,
                })),
                // Read, deleted or counted meanwhile: decide again on fresh reads.
                Err(e)
                    if e.failed(NOTIFICATION)
                        || e.failed(COUNTER)
                        || matches!(e, StoreError::TransactionConflict) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// One notification of the user, as they see it, with the counter version its insert set
    /// (0 for one stored before versions were kept).
    pub async fn get(
        &self,
        org: &str,
        user: &str,
        id: &str,
    ) -> Result<Option<(Notification, i64)>, InboxError> {
        let counter = self.counter(org, user).await?;
        match self.stored(org, user, id).await {
            Ok(stored) => Ok(stored.map(|n| {
                let version = n.version.unwrap_or(0);
                (n.view(counter.covered_since()), version)
            })),
            Err(InboxError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// One notification of the user, with the request it came from (whose deliveries to the
    /// user its detail shows).
    pub async fn get_with_request(
        &self,
        org: &str,
        user: &str,
        id: &str,
    ) -> Result<Option<(Notification, String)>, InboxError> {
        let (counter, stored) = tokio::join!(self.counter(org, user), self.stored(org, user, id));
        let counter = counter?;
        match stored {
            Ok(stored) => Ok(stored.map(|n| {
                let request_id = n.request_id.clone();
                (n.view(counter.covered_since()), request_id)
            })),
            Err(InboxError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Marks every notification read by moving the watermark to the last sequence: one write,
    /// however many there are. The notifications it covers get their read time afterwards, off
    /// the request path: an outbox record in the same transaction asks the dispatcher to stamp
    /// them ([`Inbox::stamp_covered`]).
    pub async fn mark_all_read(&self, org: &str, user: &str) -> Result<ReadAll, InboxError> {
        self.retrying(|| async {
            let counter = self.counter(org, user).await?;
            if counter.watermark >= counter.seq {
                return Ok(Some(ReadAll {
                    updated: 0,
                    covered: None,
                    count: counter.count(),
                }));
            }
            let now = self.clock.now();
            let update = self
                .counter_change(org, user, &counter)
                .set("watermark", &counter.seq)
                .set("unread", &0)
                .set("read_all_at", &clock::rfc3339(now));
            let count = UnreadCount {
                count: 0,
                version: counter.version + 1,
            };
            // Its own range and time: a later mark-all-read stamps its own.
            let stamp = side_effect(
                org,
                now,
                1,
                outbox::SideEffect::StampRead {
                    user_id: user.to_owned(),
                    after: counter.watermark,
                    up_to: counter.seq,
                    read_at: now,
                },
            )?;
            let push = read_state(
                org,
                user,
                now,
                2,
                ReadChange::ReadAll { read_at: now },
                count,
                None,
            )?;
            let transaction = Transaction::new()
                .update(update)
                .label(COUNTER)
                .put(stamp, Condition::NotExists)
                .put(push, Condition::NotExists);
            match self.store.transact(transaction).await {
                Ok(()) => Ok(Some(ReadAll {
                    updated: counter.unread,
                    covered: Some(Covered {
                        after: counter.watermark,
                        up_to: counter.seq,
                        read_at: now,
                    }),
                    count,
                })),
                Err(e) if e.failed(COUNTER) || matches!(e, StoreError::TransactionConflict) => {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// Deletes one notification (counted down if it was unread).
    pub async fn delete(&self, org: &str, user: &str, id: &str) -> Result<(), InboxError> {
        self.retrying(|| async {
            let counter = self.counter(org, user).await?;
            let Some(stored) = self.stored(org, user, id).await? else {
                return Err(InboxError::NotFound);
            };
            let unread = stored.read_at.is_none() && stored.sequence > counter.watermark;
            // Deleted as read: its unread state is part of what was decided.
            let state = if stored.read_at.is_none() {
                "attribute_exists(#pk) AND attribute_not_exists(read_at)"
            } else {
                "attribute_exists(#pk) AND attribute_exists(read_at)"
            };
            let mut change = self.counter_change(org, user, &counter);
            if unread {
                change = change.add("unread", -1);
            }
            let push = read_state(
                org,
                user,
                self.clock.now(),
                1,
                ReadChange::Deleted { id: id.to_owned() },
                UnreadCount {
                    count: counter.unread - i64::from(unread),
                    version: counter.version + 1,
                },
                None,
            )?;
            let transaction = Transaction::new()
                .delete(
                    keys::notification(OrgId(org), UserId(user), id),
                    Condition::Expression {
                        expression: state.into(),
                        names: [("#pk".to_owned(), keys::PK.to_owned())].into(),
                        values: Default::default(),
                    },
                )
                .label(NOTIFICATION)
                .put(
                    store::with_ttl(
                        store::item(
                            &keys::notification_tombstone(OrgId(org), UserId(user), id),
                            TOMBSTONE_ENTITY,
                            &serde_json::json!({ "id": id }),
                        )?,
                        (self.clock.now() + TOMBSTONE_KEPT).unix_timestamp(),
                    ),
                    Condition::Always,
                )
                .update(change)
                .label(COUNTER)
                .put(push, Condition::NotExists);
            match self.store.transact(transaction).await {
                Ok(()) => Ok(Some(())),
                Err(e)
                    if e.failed(NOTIFICATION)
                        || e.failed(COUNTER)
                        || matches!(e, StoreError::TransactionConflict) =>
                {
                    Ok(None)
                }
                Err(e) => Err(e.into()),
            }
        })
        .await
    }

    /// A page of the user's notifications, newest first. Unread: the key range of GSI1 above
    /// the watermark (the index is eventually consistent: a notification stored or read a moment
    /// ago may show a moment later). Read: the notifications read one by one or covered by the
    /// watermark, a filter over all of them.
    pub async fn list(
        &self,
        org: &str,
        user: &str,
        status: Status,
        kind: Option<NotificationType>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Notification>, InboxError> {
        let counter = self.counter(org, user).await?;
        let mut clauses = Vec::new();
        let mut filter = Filter::default();
        if let Some(kind) = kind {
            clauses.push("#type = :type".to_owned());
            filter.names.insert("#type".into(), "type".into());
            filter.values.insert(
                ":type".into(),
                store::aws_sdk_dynamodb::types::AttributeValue::S(
                    serde_json::to_value(kind)
                        .ok()
                        .and_then(|v| v.as_str().map(str::to_owned))
                        .unwrap_or_default(),
                ),
            );
        }
        let query = match status {
            Status::Unread => {
                let (index, partition) = keys::unread_notifications(OrgId(org), UserId(user));
                let mut query =
                    Query::new("unread-notifications", partition, limit, cursor).on_index(index);
                query.sort_range = Some((
                    keys::unread_sort(counter.watermark + 1),
                    keys::unread_sort(LAST_SEQUENCE),
                ));
                query
            }
            Status::All | Status::Read => {
                if status == Status::Read {
                    clauses.push("(attribute_exists(read_at) OR #sequence <= :watermark)".into());
                    filter.names.insert("#sequence".into(), "sequence".into());
                    filter
                        .values
                        .insert(":watermark".into(), number(counter.watermark));
                }
                let name = if status == Status::Read {
                    "read-notifications"
                } else {
                    "notifications"
                };
                Query::new(
                    name,
                    keys::notifications(OrgId(org), UserId(user)),
                    limit,
                    cursor,
                )
            }
        }
        .newest_first();
        let query = if clauses.is_empty() {
            query
        } else {
            filter.expression = clauses.join(" AND ");
            Query {
                filter: Some(filter),
                ..query
            }
        };
        let page: Page<Stored> = match self.store.query(query.clone()).await {
            Ok(page) => page,
            // An unread page's cursor from before a mark-all-read lies below the range now: the
            // same list over the whole index, what the watermark covers filtered out (a cursor
            // of another list still fails: it is bound to its query and partition).
            Err(StoreError::InvalidCursor) if status == Status::Unread && cursor.is_some() => {
                let mut filter = query.filter.clone().unwrap_or_default();
                filter.expression = match filter.expression.as_str() {
                    "" => "#sequence > :watermark".to_owned(),
                    other => format!("{other} AND #sequence > :watermark"),
                };
                filter.names.insert("#sequence".into(), "sequence".into());
                filter
                    .values
                    .insert(":watermark".into(), number(counter.watermark));
                let wider = Query {
                    sort_range: Some((keys::unread_sort(0), keys::unread_sort(LAST_SEQUENCE))),
                    filter: Some(filter),
                    ..query
                };
                self.store.query(wider).await?
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|n| n.view(counter.covered_since()))
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// Expires (deletes, counting each down) up to `limit` of the user's unread notifications
    /// created more than [`crate::UNREAD_RETENTION`] ago, oldest first. Unread ones never expire
    /// by TTL: the counter would no longer match. Answers how many.
    pub async fn expire_old_unread(
        &self,
        org: &str,
        user: &str,
        limit: u16,
    ) -> Result<usize, InboxError> {
        let counter = self.counter(org, user).await?;
        let before = self.clock.now() - crate::UNREAD_RETENTION;
        let (index, partition) = keys::unread_notifications(OrgId(org), UserId(user));
        let mut query = Query::new("oldest-unread", partition, limit, None).on_index(index);
        query.sort_range = Some((
            keys::unread_sort(counter.watermark + 1),
            keys::unread_sort(LAST_SEQUENCE),
        ));
        let page: Page<Stored> = self.store.query(query).await?;
        let mut expired = 0;
        // Sequences follow creation: the first one young enough ends the run.
        for stored in page.items.iter().take_while(|n| n.created_at < before) {
            match self.delete(org, user, &stored.id).await {
                Ok(()) => expired += 1,
                // Read or deleted meanwhile.
                Err(InboxError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(expired)
    }

    /// Stamps one page (up to `limit`) of the notifications a mark-all-read covered, with its
    /// time (and their retention),
    /// taking them out of the unread index; no count changes. Answers how many it stamped and
    /// the cursor of the next page (`None`: that was the last).
    pub async fn stamp_covered(
        &self,
        org: &str,
        user: &str,
        Covered {
            after,
            up_to,
            read_at,
        }: Covered,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<(usize, Option<String>), InboxError> {
        let (index, partition) = keys::unread_notifications(OrgId(org), UserId(user));
        let mut query =
            Query::new("covered-notifications", partition, limit, cursor).on_index(index);
        query.sort_range = Some((keys::unread_sort(after + 1), keys::unread_sort(up_to)));
        let page: Page<Stored> = self.store.query(query).await?;
        let mut stamps = tokio::task::JoinSet::new();
        for stored in page.items {
            let stamp =
                read_update(org, user, &stored.id, read_at).condition_on(Condition::Expression {
                    expression: "#sequence <= :up_to".into(),
                    names: [("#sequence".to_owned(), "sequence".to_owned())].into(),
                    values: [(":up_to".to_owned(), number(up_to))].into(),
                });
            let store = self.store.clone();
            stamps.spawn(async move { store.update::<serde_json::Value>(stamp).await });
        }
        let mut stamped = 0;
        while let Some(done) = stamps.join_next().await {
            match done.map_err(|e| StoreError::Internal(e.to_string()))? {
                Ok(_) => stamped += 1,
                // Read or deleted meanwhile (or still listed by the index, which lags): nothing
                // to stamp.
                Err(e) if e.is_condition_failed() => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok((stamped, page.next_cursor))
    }
}
