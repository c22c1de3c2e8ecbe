//! Tickets and connection records (keys in `store::keys::realtime`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clock::{Clock, DateTime, Duration};
use notify::NotificationType;
use serde::{Deserialize, Serialize};
use store::keys::{self, OrgId, UserId};
use store::{Condition, Index, Query, Store, StoreError, Transaction, Update};

/// How long a ticket may wait for its `$connect`.
pub const TICKET_LIFETIME: Duration = Duration::seconds(60);
/// API Gateway closes a WebSocket connection after two hours; its record lives no longer.
pub const MAX_CONNECTION_AGE: Duration = Duration::hours(2);
/// Every ticket starts so (it is never a JWT, and log scanners can spot one).
pub const TICKET_PREFIX: &str = "wst_";
/// Random bytes of a ticket (256 bits).
const TICKET_BYTES: usize = 32;
const TICKET_ENTITY: &str = "ws_ticket";
const CONNECTION_ENTITY: &str = "ws_connection";
/// Labels of the connect transaction's actions.
const TICKET: &str = "ticket";
const MEMBER: &str = "member";
/// A user's connections read per push or close, at most (a user with more open sockets than
/// this in one organization gets pushes on some of them only; each still answers `sync`).
pub const MAX_CONNECTIONS_PER_USER: usize = 1000;
const CONNECTIONS_PAGE: u16 = 100;

/// `{ticket, expires_in}` as the ticket route answers it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuedTicket {
    pub ticket: String,
    /// Seconds.
    pub expires_in: i64,
}

#[derive(Serialize, Deserialize)]
struct TicketRecord {
    org_id: String,
    user_id: String,
    #[serde(with = "clock::serde_rfc3339")]
    expires_at: DateTime,
}

/// A connection as recorded at `$connect`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConnectionRecord {
    pub connection_id: String,
    pub org_id: String,
    pub user_id: String,
    /// The notification types pushed to it: every type until the client says otherwise.
    pub types: Vec<NotificationType>,
    #[serde(with = "clock::serde_rfc3339")]
    pub connected_at: DateTime,
    /// API Gateway has closed it by then (also its TTL).
    #[serde(with = "clock::serde_rfc3339")]
    pub expires_at: DateTime,
}

/// Why `$connect` was refused.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// Not a ticket, an unknown one, or one used already (a used ticket is deleted).
    #[error("the ticket is not valid or was used")]
    UnknownTicket,
    #[error("the ticket expired")]
    ExpiredTicket,
    /// The ticket's user is no longer a member of its organization.
    #[error("not a member of the organization")]
    NotMember,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Tickets and connection records. Cheap to clone.
#[derive(Clone)]
pub struct Connections {
    store: Store,
    clock: Clock,
}

fn ticket_hash(ticket: &str) -> Option<String> {
    let encoded = ticket.strip_prefix(TICKET_PREFIX)?;
    let bytes = URL_SAFE_NO_PAD.decode(encoded).ok()?;
    // Exactly what `issue_ticket` makes: anything else costs no read.
    (bytes.len() == TICKET_BYTES && URL_SAFE_NO_PAD.encode(&bytes) == encoded)
        .then(|| keys::digest(&bytes))
}

impl Connections {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// A new single-use ticket for `user`'s connection to `org` (the caller checked the
    /// membership). Only its hash is stored, with a TTL; reads check the expiry themselves.
    pub async fn issue_ticket(&self, org: &str, user: &str) -> Result<IssuedTicket, StoreError> {
        let mut bytes = [0u8; TICKET_BYTES];
        getrandom::fill(&mut bytes)
            .map_err(|e| StoreError::Internal(format!("no random bytes: {e}")))?;
        let ticket = format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
        let expires_at = self.clock.now() + TICKET_LIFETIME;
        let record = TicketRecord {
            org_id: org.to_owned(),
            user_id: user.to_owned(),
            expires_at,
        };
        let item = store::with_ttl(
            store::item(
                &keys::ws_ticket(&keys::digest(&bytes)),
                TICKET_ENTITY,
                &record,
            )?,
            expires_at.unix_timestamp(),
        );
        self.store.put(item, Condition::NotExists).await?;
        Ok(IssuedTicket {
            ticket,
            expires_in: TICKET_LIFETIME.whole_seconds(),
        })
    }

    /// `$connect`: consumes `ticket` and records the connection, in one transaction that also
    /// checks the membership, so a ticket makes at most one connection however many race.
    pub async fn connect(
        &self,
        ticket: &str,
        connection_id: &str,
    ) -> Result<ConnectionRecord, ConnectError> {
        self.connect_once(ticket, connection_id, true).await
    }

    async fn connect_once(
        &self,
        ticket: &str,
        connection_id: &str,
        retry: bool,
    ) -> Result<ConnectionRecord, ConnectError> {
        let hash = ticket_hash(ticket).ok_or(ConnectError::UnknownTicket)?;
        let ticket_key = keys::ws_ticket(&hash);
        let Some(found) = self.store.get::<TicketRecord>(&ticket_key).await? else {
            return Err(ConnectError::UnknownTicket);
        };
        let now = self.clock.now();
        if found.expires_at <= now {
            return Err(ConnectError::ExpiredTicket);
        }
        let record = ConnectionRecord {
            connection_id: connection_id.to_owned(),
            org_id: found.org_id.clone(),
            user_id: found.user_id.clone(),
            types: NotificationType::ALL.to_vec(),
            connected_at: now,
            expires_at: now + MAX_CONNECTION_AGE,
        };
        let (_, by_user) = keys::ws_connections(OrgId(&found.org_id), UserId(&found.user_id));
        let item = store::with_ttl(
            store::with_index(
                store::item(
                    &keys::ws_connection(connection_id),
                    CONNECTION_ENTITY,
                    &record,
                )?,
                Index::Gsi1,
                &by_user.pk,
                connection_id,
            ),
            record.expires_at.unix_timestamp(),
        );
        let transaction = Transaction::new()
            .delete(ticket_key, Condition::Exists)
            .label(TICKET)
            .check(
                keys::org_member(OrgId(&found.org_id), UserId(&found.user_id)),
                Condition::Exists,
            )
            .label(MEMBER)
            .put(item, Condition::Always);
        match self.store.transact(transaction).await {
            Ok(()) => Ok(record),
            Err(e) if e.failed(TICKET) => Err(ConnectError::UnknownTicket),
            Err(e) if e.failed(MEMBER) => Err(ConnectError::NotMember),
            // Another connect of the same ticket at the same moment (or a write to the
            // membership): decide again on a fresh read of the ticket.
            Err(StoreError::TransactionConflict) if retry => {
                Box::pin(self.connect_once(ticket, connection_id, false)).await
            }
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn now(&self) -> DateTime {
        self.clock.now()
    }

    /// The record of a live connection (`None`: unknown, removed or past its age).
    pub async fn get(&self, connection_id: &str) -> Result<Option<ConnectionRecord>, StoreError> {
        let record: Option<ConnectionRecord> =
            self.store.get(&keys::ws_connection(connection_id)).await?;
        let now = self.clock.now();
        Ok(record.filter(|r| r.expires_at > now))
    }

    /// Removes a connection's record (`$disconnect`, a 410, a removed member). Idempotent.
    pub async fn disconnect(&self, connection_id: &str) -> Result<(), StoreError> {
        self.store
            .delete(&keys::ws_connection(connection_id), Condition::Always)
            .await
    }

    /// Sets the types pushed to a connection; `None` when the record is gone.
    pub async fn set_types(
        &self,
        connection_id: &str,
        types: &[NotificationType],
    ) -> Result<Option<ConnectionRecord>, StoreError> {
        let update = Update::new(keys::ws_connection(connection_id))
            .set("types", &types)
            .require_exists();
        match self.store.update(update).await {
            Ok(record) => Ok(Some(record)),
            Err(e) if e.is_condition_failed() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The live connections of `user` in `org` (GSI1, eventually consistent: a connection made
    /// a moment ago may be missed, and gets its state on its first `sync` or `ping`), up to
    /// [`MAX_CONNECTIONS_PER_USER`].
    pub async fn of_user(
        &self,
        org: &str,
        user: &str,
    ) -> Result<Vec<ConnectionRecord>, StoreError> {
        let (index, partition) = keys::ws_connections(OrgId(org), UserId(user));
        let (records, _) = self
            .store
            .query_all::<ConnectionRecord>(
                Query::new("connections", partition, CONNECTIONS_PAGE, None).on_index(index),
                MAX_CONNECTIONS_PER_USER / usize::from(CONNECTIONS_PAGE),
            )
            .await?;
        let now = self.clock.now();
        Ok(records
            .into_iter()
            .filter(|r| r.expires_at > now && r.org_id == org && r.user_id == user)
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_tickets_are_looked_up() {
        let good = format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode([7u8; 32]));
        assert!(ticket_hash(&good).is_some());
        for bad in [
            String::new(),
            "wst_".into(),
            URL_SAFE_NO_PAD.encode([7u8; 32]),
            format!("{good}="),
            format!("{good}A"),
            format!("{TICKET_PREFIX}{}", URL_SAFE_NO_PAD.encode([7u8; 31])),
            good.to_uppercase(),
            format!(" {good}"),
            format!("{good}\u{200b}"),
        ] {
            assert_eq!(ticket_hash(&bad), None, "{bad:?}");
        }
    }
}
