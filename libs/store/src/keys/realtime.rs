//! Real-time connections: WebSocket tickets and connection records are global lookup items
//! (API Gateway names a connection by its id alone), and each connection is also in GSI1 under
//! its organization and user, so a push finds every connection of a user.

use super::{Index, Key, OrgId, Partition, UserId, digest, org_partition};

/// Partition prefix of a WebSocket ticket (by the SHA-256 of the ticket: never the ticket).
pub(super) const TICKET: &str = "WS_TICKET#";
/// Partition prefix of a connection record (by API Gateway's connection id).
pub(super) const CONNECTION: &str = "WS_CONN#";
/// The index partition of a user's connections, after `ORG#<org_id>`.
pub const CONNECTIONS_PARTITION: &str = "#WS#";

/// A single-use ticket for `$connect`, by the hex SHA-256 of the ticket.
pub fn ws_ticket(ticket_hash: &str) -> Key {
    Key::new(format!("{TICKET}{ticket_hash}"), "TICKET")
}

/// A live (or not yet cleaned up) connection, by API Gateway's connection id. The id is hashed:
/// it comes from the event, and keys stay bounded whatever arrives.
pub fn ws_connection(connection_id: &str) -> Key {
    Key::new(
        format!("{CONNECTION}{}", digest(connection_id.as_bytes())),
        "CONNECTION",
    )
}

/// The connections of `user` in the organization (GSI1), by connection id.
pub fn ws_connections(org: OrgId<'_>, user: UserId<'_>) -> (Index, Partition) {
    (
        Index::Gsi1,
        Partition {
            pk: format!(
                "{}{CONNECTIONS_PARTITION}{}",
                org_partition(org),
                &digest(user.0.as_bytes())[..32]
            ),
            sk_prefix: String::new(),
        },
    )
}
