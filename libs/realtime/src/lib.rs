//! Real-time delivery over API Gateway's WebSocket API, knowing nothing of what it carries:
//!
//! - **Tickets** ([`Connections::issue_ticket`]): a browser cannot set headers on a WebSocket
//!   upgrade, and a token in the URL gets logged, so an authenticated REST call trades the JWT
//!   for a random, single-use ticket valid for [`TICKET_LIFETIME`]. Only its SHA-256 is stored.
//! - **Connections** ([`Connections::connect`]): `$connect` consumes the ticket in the same
//!   transaction that checks the membership and records the connection, so two connects racing
//!   on one ticket get exactly one connection. A record lives at most [`MAX_CONNECTION_AGE`]
//!   (API Gateway's limit) and is found by its id (socket actions) or by organization and user
//!   (pushes).
//! - **Pushes** ([`Pusher`]): `@connections` POSTs to each of a user's connections; a 410 removes
//!   the record of *that* connection only; throttling is retried with backoff; a failed push is
//!   counted and logged, never an error of the caller (the client resyncs).

mod connections;
mod gateway;

pub use connections::{
    ConnectError, ConnectionRecord, Connections, IssuedTicket, MAX_CONNECTION_AGE, TICKET_LIFETIME,
    TICKET_PREFIX,
};
pub use gateway::{Gateway, Posted};

use notify::NotificationType;
use store::StoreError;
use tokio::task::JoinSet;

/// A 410 within this long of `$connect` does not remove the connection's record.
const UPGRADE_GRACE: clock::Duration = clock::Duration::seconds(10);

/// One frame of a push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub text: String,
    /// Only for connections subscribed to this type (`None`: every connection).
    pub only_for: Option<NotificationType>,
}

/// What a push to a user's connections did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// Connections that received every frame.
    pub sent: usize,
    /// Connections API Gateway no longer knows (410): their records were removed.
    pub gone: usize,
    /// Connections a frame could not reach for another reason (logged).
    pub failed: usize,
    /// Connections not subscribed to the type of a frame (they got the others).
    pub skipped: usize,
}

impl Pushed {
    pub fn add(&mut self, other: Pushed) {
        self.sent += other.sent;
        self.gone += other.gone;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }
}

/// Pushes frames to users' connections and closes them. Cheap to clone.
#[derive(Clone)]
pub struct Pusher {
    connections: Connections,
    gateway: Gateway,
}

impl Pusher {
    pub fn new(connections: Connections, gateway: Gateway) -> Self {
        Self {
            connections,
            gateway,
        }
    }

    /// The pusher of a function: connections in `store`, `@connections` of the stage at
    /// `endpoint` (`WEBSOCKET_ENDPOINT`).
    pub fn from_config(
        aws: &aws_config::SdkConfig,
        store: store::Store,
        clock: clock::Clock,
        endpoint: &str,
    ) -> Self {
        Self::new(Connections::new(store, clock), Gateway::at(aws, endpoint))
    }

    pub fn gateway(&self) -> &Gateway {
        &self.gateway
    }

    pub fn connections(&self) -> &Connections {
        &self.connections
    }

    /// Sends `frames`, in order, to every connection of `user` in `org` (but `except`, the
    /// connection a change came from, which has its answer already). A frame `only_for` a type
    /// goes only to connections subscribed to it. Connections are reached side by side.
    pub async fn push(
        &self,
        org: &str,
        user: &str,
        frames: &[Frame],
        except: Option<&str>,
    ) -> Result<Pushed, StoreError> {
        let connections = self.connections.of_user(org, user).await?;
        Ok(self.push_to(connections, frames, except).await)
    }

    /// [`Pusher::push`] to connections read already (say, while the change was written).
    pub async fn push_to(
        &self,
        connections: Vec<ConnectionRecord>,
        frames: &[Frame],
        except: Option<&str>,
    ) -> Pushed {
        let mut pushed = Pushed::default();
        let mut running = JoinSet::new();
        for connection in connections {
            if except == Some(connection.connection_id.as_str()) {
                continue;
            }
            let wanted: Vec<String> = frames
                .iter()
                .filter(|f| {
                    f.only_for
                        .is_none_or(|kind| connection.types.contains(&kind))
                })
                .map(|f| f.text.clone())
                .collect();
            if wanted.len() < frames.len() {
                pushed.skipped += 1;
            }
            if wanted.is_empty() {
                continue;
            }
            let pusher = self.clone();
            running.spawn(async move { pusher.deliver(&connection, &wanted).await });
        }
        while let Some(done) = running.join_next().await {
            match done {
                Ok(one) => pushed.add(one),
                Err(error) => {
                    tracing::error!(%error, "a push task failed");
                    pushed.failed += 1;
                }
            }
        }
        pushed
    }

    /// Sends `frames` to a connection that just sent one (its answers), in order; a 410 removes
    /// its record.
    pub async fn send(&self, connection_id: &str, frames: &[String]) -> Pushed {
        self.post_all(connection_id, frames, true).await
    }

    /// Sends `frames` to a recorded connection. A 410 removes its record, unless it was made a
    /// moment ago: API Gateway answers 410 until the upgrade that follows `$connect` completes,
    /// and that connection is about to be live (its TTL removes it if it never was).
    async fn deliver(&self, connection: &ConnectionRecord, frames: &[String]) -> Pushed {
        let settled = connection.connected_at + UPGRADE_GRACE < self.connections.now();
        self.post_all(&connection.connection_id, frames, settled)
            .await
    }

    async fn post_all(&self, connection_id: &str, frames: &[String], forget_gone: bool) -> Pushed {
        for frame in frames {
            match self.gateway.post(connection_id, frame.as_bytes()).await {
                Posted::Sent => {}
                Posted::Gone => {
                    if forget_gone {
                        self.forget(connection_id).await;
                    }
                    return Pushed {
                        gone: 1,
                        ..Pushed::default()
                    };
                }
                Posted::Failed(reason) => {
                    tracing::warn!(connection_id, %reason, "frame not pushed");
                    return Pushed {
                        failed: 1,
                        ..Pushed::default()
                    };
                }
            }
        }
        Pushed {
            sent: 1,
            ..Pushed::default()
        }
    }

    /// Closes the connections of `user` in `org` opened before `opened_before` (when they were
    /// removed: a connection made after they were added back is theirs to keep) and removes
    /// their records. Answers how many were closed.
    pub async fn close_all(
        &self,
        org: &str,
        user: &str,
        opened_before: clock::DateTime,
    ) -> Result<usize, StoreError> {
        let mut closed = 0;
        for connection in self.connections.of_user(org, user).await? {
            if connection.connected_at > opened_before {
                continue;
            }
            match self.gateway.close(&connection.connection_id).await {
                Posted::Sent => closed += 1,
                Posted::Gone => {}
                // Not closed: its record stays, so a retry of the message finds it again.
                Posted::Failed(reason) => {
                    return Err(StoreError::Unavailable(format!(
                        "connection {} not closed: {reason}",
                        connection.connection_id
                    )));
                }
            }
            self.connections
                .disconnect(&connection.connection_id)
                .await?;
        }
        Ok(closed)
    }

    /// Removes the record of a connection API Gateway no longer knows (its TTL removes it
    /// later if this fails).
    async fn forget(&self, connection_id: &str) {
        if let Err(error) = self.connections.disconnect(connection_id).await {
            tracing::warn!(connection_id, %error, "gone connection's record not removed");
        }
    }
}
