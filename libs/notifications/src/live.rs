//! The notification centre over a WebSocket: the frames (documented in the README) and what
//! each socket action does. Connections, tickets and `@connections` are `realtime`'s; this
//! knows what a frame means.
//!
//! Every action re-reads the connection's record and the membership, so a removed member's
//! socket does nothing (and is closed) even before their `close_connections` arrives. A bad
//! frame gets an error frame and changes nothing; it never closes the socket.

use clock::{Clock, DateTime};
use notify::NotificationType;
use realtime::{ConnectError, ConnectionRecord, Pusher};
use serde::{Deserialize, Serialize};
use store::keys::{self, OrgId, UserId};
use store::{Query, Store, StoreError};

use crate::inbox::{Inbox, InboxError, UnreadCount};
use crate::record::{Notification, Stored};

/// A client frame larger than this gets an error frame (API Gateway's own limit is 32 KB a
/// frame; no action needs more than a few hundred bytes).
pub const MAX_CLIENT_FRAME_BYTES: usize = 4 * 1024;
/// Notifications a `sync` answers at most; a larger gap is `resync_required`.
pub const SYNC_PAGE: u16 = 50;
/// A `sync` frame stays under this many bytes (API Gateway's message limit is 128 KB).
pub const SYNC_FRAME_BYTES: usize = 96 * 1024;
/// The highest version, for the open end of a `sync` range.
const LAST_VERSION: i64 = 999_999_999_999;

/// What the server sends: `{"type": ..., "data": {...}}`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ServerFrame {
    /// A new notification, with the counter version its insert set.
    Notification {
        #[serde(flatten)]
        notification: Notification,
        version: i64,
    },
    /// The unread count: keep the one with the highest version.
    UnreadCount(UnreadCount),
    /// One notification was read (on any device).
    Read {
        id: String,
        #[serde(with = "clock::serde_rfc3339")]
        read_at: DateTime,
        version: i64,
    },
    /// Everything received before it was read (mark-all-read on any device).
    ReadAll {
        #[serde(with = "clock::serde_rfc3339")]
        read_at: DateTime,
        version: i64,
    },
    /// One notification was deleted (on any device).
    Deleted {
        id: String,
        version: i64,
    },
    /// The answer of `sync`: what was missed, oldest first, and the count now.
    Sync {
        items: Vec<Notification>,
        unread_count: UnreadCount,
        /// Notifications were also read or deleted meanwhile: reload the list to see which.
        read_state_changed: bool,
    },
    /// More was missed than a page: reload over REST (`GET /v1/notifications`).
    ResyncRequired {
        reason: String,
        unread_count: UnreadCount,
    },
    /// The types this connection now receives.
    Subscribed {
        types: Vec<NotificationType>,
    },
    Pong {},
    /// A frame was not understood or not allowed; nothing changed.
    Error {
        code: String,
        message: String,
        action: Option<String>,
    },
}

impl ServerFrame {
    pub fn to_text(&self) -> String {
        serde_json::to_string(self).expect("frames serialize")
    }

    /// This frame as a push, only for connections subscribed to `only_for` when it names a type.
    pub fn to_push(&self, only_for: Option<NotificationType>) -> realtime::Frame {
        realtime::Frame {
            text: self.to_text(),
            only_for,
        }
    }

    fn error(code: &str, message: impl Into<String>, action: Option<&str>) -> Self {
        Self::Error {
            code: code.to_owned(),
            message: message.into(),
            action: action.map(str::to_owned),
        }
    }
}

/// Why `$connect` is refused: API Gateway answers the upgrade with this status.
#[derive(Debug, PartialEq, Eq)]
pub struct Refused {
    pub status: u16,
    pub reason: &'static str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TypesFrame {
    #[allow(dead_code)]
    action: String,
    types: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MarkAsReadFrame {
    #[allow(dead_code)]
    action: String,
    id: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum After {
    Version(i64),
    Id(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncFrame {
    #[allow(dead_code)]
    action: String,
    #[serde(default)]
    after: Option<After>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PingFrame {
    #[allow(dead_code)]
    action: String,
}

#[derive(Deserialize)]
struct AnyAction {
    action: Option<serde_json::Value>,
}

/// The socket side of the notification centre. Built once per cold start.
#[derive(Clone)]
pub struct Live {
    store: Store,
    inbox: Inbox,
    pusher: Pusher,
    clock: Clock,
    allowed_origins: Vec<String>,
}

const TYPE_NAMES: &str = "system, billing, agent, workflow, team, kb";
const ACTIONS: &str = "action must be subscribe, unsubscribe, markAsRead, sync or ping";

fn parse_type(name: &str) -> Option<NotificationType> {
    serde_json::from_value(serde_json::Value::String(name.to_owned())).ok()
}

impl Live {
    /// `allowed_origins`: browser origins that may connect (`CORS_ALLOWED_ORIGINS`); a client
    /// that sends no `Origin` (a service, a CLI) is not a browser and may.
    pub fn new(store: Store, pusher: Pusher, clock: Clock, allowed_origins: Vec<String>) -> Self {
        Self {
            inbox: Inbox::new(store.clone(), clock.clone()),
            store,
            pusher,
            clock,
            allowed_origins,
        }
    }

    /// `$connect`: the ticket (from `?ticket=`) consumed and the connection recorded, or the
    /// upgrade refused.
    pub async fn connect(
        &self,
        connection_id: &str,
        ticket: Option<&str>,
        origin: Option<&str>,
    ) -> Result<ConnectionRecord, Refused> {
        if let Some(origin) = origin
            && !self.allowed_origins.iter().any(|allowed| allowed == origin)
        {
            return Err(Refused {
                status: 403,
                reason: "origin not allowed",
            });
        }
        let Some(ticket) = ticket else {
            return Err(Refused {
                status: 401,
                reason: "no ticket",
            });
        };
        match self
            .pusher
            .connections()
            .connect(ticket, connection_id)
            .await
        {
            Ok(record) => Ok(record),
            Err(ConnectError::UnknownTicket) => Err(Refused {
                status: 401,
                reason: "ticket not valid or used",
            }),
            Err(ConnectError::ExpiredTicket) => Err(Refused {
                status: 401,
                reason: "ticket expired",
            }),
            Err(ConnectError::NotMember) => Err(Refused {
                status: 403,
                reason: "not a member",
            }),
            Err(ConnectError::Store(error)) => {
                tracing::error!(%error, "connect failed");
                Err(Refused {
                    status: 503,
                    reason: "unavailable",
                })
            }
        }
    }

    /// `$disconnect`: the record removed (best effort in AWS; its TTL and the 410 path remove
    /// what this misses).
    pub async fn disconnect(&self, connection_id: &str) -> Result<(), StoreError> {
        self.pusher.connections().disconnect(connection_id).await
    }

    /// A client frame on route `route_key`; the answer frames are posted back to the
    /// connection. Answers them too (for logs and tests).
    pub async fn message(
        &self,
        connection_id: &str,
        route_key: &str,
        body: &str,
    ) -> Result<Vec<ServerFrame>, StoreError> {
        let (frames, close) = match self.answer(connection_id, route_key, body).await {
            Ok(answer) => answer,
            // The table is unreachable or throttled: the client hears so and may retry.
            Err(error) => {
                tracing::error!(connection_id, route_key, %error, "frame not handled");
                let action = (route_key != "$default").then_some(route_key);
                (
                    vec![ServerFrame::error(
                        "unavailable",
                        "the service is busy; retry shortly",
                        action,
                    )],
                    false,
                )
            }
        };
        let texts: Vec<String> = frames.iter().map(ServerFrame::to_text).collect();
        self.pusher.send(connection_id, &texts).await;
        if close {
            self.pusher.gateway().close(connection_id).await;
            self.pusher.connections().disconnect(connection_id).await?;
        }
        Ok(frames)
    }

    /// The answer frames, and whether the connection must be closed.
    async fn answer(
        &self,
        connection_id: &str,
        route_key: &str,
        body: &str,
    ) -> Result<(Vec<ServerFrame>, bool), StoreError> {
        let action = (route_key != "$default").then_some(route_key);
        if body.len() > MAX_CLIENT_FRAME_BYTES {
            return Ok((
                vec![ServerFrame::error(
                    "frame_too_large",
                    format!("a frame may have at most {MAX_CLIENT_FRAME_BYTES} bytes"),
                    action,
                )],
                false,
            ));
        }
        if action.is_none() {
            let frame = match serde_json::from_str::<AnyAction>(body) {
                Ok(AnyAction {
                    action: Some(serde_json::Value::String(name)),
                }) => ServerFrame::error("unknown_action", ACTIONS, Some(&name)),
                Ok(_) => ServerFrame::error(
                    "invalid_frame",
                    "a frame is a JSON object with a string action",
                    None,
                ),
                Err(_) => ServerFrame::error("invalid_frame", "a frame must be JSON", None),
            };
            return Ok((vec![frame], false));
        }
        // Who is asking: the connection's record and a current membership.
        let Some(connection) = self.pusher.connections().get(connection_id).await? else {
            return Ok((
                vec![ServerFrame::error(
                    "not_connected",
                    "this connection is not known (or is past its lifetime): reconnect",
                    action,
                )],
                true,
            ));
        };
        let (org, user) = (connection.org_id.as_str(), connection.user_id.as_str());
        let member: Option<serde_json::Value> = self
            .store
            .get(&keys::org_member(OrgId(org), UserId(user)))
            .await?;
        if member.is_none() {
            return Ok((
                vec![ServerFrame::error(
                    "not_a_member",
                    "no longer a member of the organization",
                    action,
                )],
                true,
            ));
        }
        let frames = match route_key {
            "subscribe" | "unsubscribe" => self.subscription(&connection, route_key, body).await?,
            "markAsRead" => self.mark_as_read(&connection, body).await?,
            "sync" => self.sync(org, user, body).await?,
            "ping" => match serde_json::from_str::<PingFrame>(body) {
                Ok(_) => vec![
                    ServerFrame::Pong {},
                    ServerFrame::UnreadCount(self.count(org, user).await?),
                ],
                Err(e) => vec![invalid("ping", &e)],
            },
            other => vec![ServerFrame::error("unknown_action", ACTIONS, Some(other))],
        };
        // A connection whose record vanished meanwhile is closed, as above.
        let close = frames
            .iter()
            .any(|f| matches!(f, ServerFrame::Error { code, .. } if code == "not_connected"));
        Ok((frames, close))
    }

    async fn count(&self, org: &str, user: &str) -> Result<UnreadCount, StoreError> {
        self.inbox
            .unread_count(org, user)
            .await
            .map_err(store_error)
    }

    async fn subscription(
        &self,
        connection: &ConnectionRecord,
        action: &str,
        body: &str,
    ) -> Result<Vec<ServerFrame>, StoreError> {
        let frame = match serde_json::from_str::<TypesFrame>(body) {
            Ok(frame) => frame,
            Err(e) => return Ok(vec![invalid(action, &e)]),
        };
        if frame.types.is_empty() || frame.types.len() > 6 {
            return Ok(vec![ServerFrame::error(
                "invalid_frame",
                format!("types must list 1 to 6 of {TYPE_NAMES}"),
                Some(action),
            )]);
        }
        let mut named = Vec::new();
        for name in &frame.types {
            match parse_type(name) {
                Some(kind) => named.push(kind),
                None => {
                    return Ok(vec![ServerFrame::error(
                        "unknown_type",
                        format!("{name:?} is not a notification type ({TYPE_NAMES})"),
                        Some(action),
                    )]);
                }
            }
        }
        let types: Vec<NotificationType> = NotificationType::ALL
            .into_iter()
            .filter(|kind| {
                let listed = named.contains(kind);
                if action == "subscribe" {
                    listed || connection.types.contains(kind)
                } else {
                    !listed && connection.types.contains(kind)
                }
            })
            .collect();
        match self
            .pusher
            .connections()
            .set_types(&connection.connection_id, &types)
            .await?
        {
            Some(_) => Ok(vec![ServerFrame::Subscribed { types }]),
            None => Ok(vec![ServerFrame::error(
                "not_connected",
                "this connection is not known: reconnect",
                Some(action),
            )]),
        }
    }

    async fn mark_as_read(
        &self,
        connection: &ConnectionRecord,
        body: &str,
    ) -> Result<Vec<ServerFrame>, StoreError> {
        let frame = match serde_json::from_str::<MarkAsReadFrame>(body) {
            Ok(frame) => frame,
            Err(e) => return Ok(vec![invalid("markAsRead", &e)]),
        };
        match self
            .inbox
            .mark_read_from(
                &connection.org_id,
                &connection.user_id,
                &frame.id,
                Some(&connection.connection_id),
            )
            .await
        {
            Ok(marked) => Ok(vec![
                ServerFrame::Read {
                    id: marked.notification.id,
                    read_at: marked
                        .notification
                        .read_at
                        .unwrap_or_else(|| self.clock.now()),
                    version: marked.count.version,
                },
                ServerFrame::UnreadCount(marked.count),
            ]),
            Err(InboxError::NotFound) => Ok(vec![ServerFrame::error(
                "not_found",
                "no such notification",
                Some("markAsRead"),
            )]),
            Err(InboxError::Busy) => Ok(vec![ServerFrame::error(
                "busy",
                "the notifications kept changing; retry",
                Some("markAsRead"),
            )]),
            Err(InboxError::Store(e)) => Err(e),
        }
    }

    /// What was missed since `after` (a notification id or a counter version), oldest first,
    /// with the count now; `resync_required` when that is more than a page.
    async fn sync(
        &self,
        org: &str,
        user: &str,
        body: &str,
    ) -> Result<Vec<ServerFrame>, StoreError> {
        let frame = match serde_json::from_str::<SyncFrame>(body) {
            Ok(frame) => frame,
            Err(e) => return Ok(vec![invalid("sync", &e)]),
        };
        let (count, covered) = self.inbox.state(org, user).await.map_err(store_error)?;
        let resync = |reason: &str| {
            Ok(vec![ServerFrame::ResyncRequired {
                reason: reason.to_owned(),
                unread_count: count,
            }])
        };
        // Since which version: the one given, or that of the notification named.
        let since = match frame.after {
            None => count.version,
            Some(After::Version(version)) => {
                if version < 0 || version > count.version {
                    return Ok(vec![ServerFrame::error(
                        "invalid_frame",
                        format!("after is a version from 0 to {}", count.version),
                        Some("sync"),
                    )]);
                }
                version
            }
            Some(After::Id(id)) => {
                // Ids are stored in canonical (upper-case) form.
                let Ok(id) = ulid::Ulid::from_string(&id) else {
                    return Ok(vec![ServerFrame::error(
                        "invalid_frame",
                        "after must be a notification id or a version",
                        Some("sync"),
                    )]);
                };
                match self
                    .inbox
                    .get(org, user, &id.to_string())
                    .await
                    .map_err(store_error)?
                {
                    Some((_, version)) if version > 0 => version,
                    // Deleted (or stored before versions were kept): where to resume is unknown.
                    _ => return resync("the notification named is not there"),
                }
            }
        };
        let (stored, more) = if since == count.version {
            (Vec::new(), false)
        } else {
            // Stored after that version, in store order: a key range of GSI2 (eventually
            // consistent: one stored a moment ago comes as a push instead).
            let (index, partition) = keys::notifications_by_version(OrgId(org), UserId(user));
            let mut query = Query::new("sync", partition, SYNC_PAGE, None).on_index(index);
            query.sort_range = Some((
                keys::version_sort(since + 1),
                keys::version_sort(LAST_VERSION),
            ));
            let page = self.store.query::<Stored>(query).await?;
            (page.items, page.next_cursor.is_some())
        };
        // Every version step is one change; steps that no new notification explains were reads
        // or deletes.
        let read_state_changed =
            count.version - since > i64::try_from(stored.len()).unwrap_or(i64::MAX);
        if more {
            return resync("more was missed than a sync answers");
        }
        let items: Vec<Notification> = stored.into_iter().map(|n| n.view(covered)).collect();
        let answer = ServerFrame::Sync {
            items,
            unread_count: count,
            read_state_changed,
        };
        if answer.to_text().len() > SYNC_FRAME_BYTES {
            return resync("what was missed is larger than a frame");
        }
        Ok(vec![answer])
    }
}

fn invalid(action: &str, error: &serde_json::Error) -> ServerFrame {
    let message = error.to_string();
    let message = match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message,
    };
    ServerFrame::error("invalid_frame", message, Some(action))
}

fn store_error(e: InboxError) -> StoreError {
    match e {
        InboxError::Store(e) => e,
        other => StoreError::Unavailable(other.to_string()),
    }
}
