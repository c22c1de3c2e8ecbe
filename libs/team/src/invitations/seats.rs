//! The seats pending invitations hold: given back when one lapses, and recounted when the
//! counter may hold seats of invitations TTL deleted before they were reclaimed.

use std::collections::HashMap;

use accounts::counters;
use audit::{Actor, AuditLog, AuditedChange, ChangeError};
use clock::DateTime;
use store::keys::{self, OrgId};
use store::{Filter, Query, StoreError};

use super::record::text;
use super::{InvitationRecord, activity, organization};
use crate::TeamError;

/// Gives back the seats of pending invitations that lapsed; answers how many. One change per
/// invitation (by the system), so one that changed meanwhile (resent, revoked) is skipped.
pub(super) async fn reclaim_expired(
    audit: &AuditLog,
    org_id: &str,
    now: DateTime,
) -> Result<usize, TeamError> {
    let store = audit.store();
    let mut query = Query::new(
        "team-invitations-lapsed",
        keys::invitations(OrgId(org_id)),
        100,
        None,
    );
    query.filter = Some(Filter {
        expression: "#status = :pending AND #expires_at <= :now".into(),
        names: HashMap::from([
            ("#status".to_owned(), "status".to_owned()),
            ("#expires_at".to_owned(), "expires_at".to_owned()),
        ]),
        values: HashMap::from([
            (":pending".to_owned(), text("pending")),
            (":now".to_owned(), text(&clock::rfc3339(now))),
        ]),
    });
    let (lapsed, _) = store.query_all::<InvitationRecord>(query, 10).await?;
    let mut reclaimed = 0;
    for lapsed in &lapsed {
        let (guard, unchanged) = lapsed.release_guard();
        let change = AuditedChange::new(
            Actor::system(org_id),
            activity("invitation.expired", lapsed),
            now,
        )
        .update(lapsed.end_lapsed(now))
        .delete(guard, unchanged)
        .update(counters::release_seat(org_id));
        match audit.commit(change).await {
            Ok(()) => reclaimed += 1,
            Err(ChangeError::Rejected(_) | ChangeError::Conflict) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(reclaimed + recount_seats(store, org_id).await?)
}

/// Sets `seats_used` to members plus pending invitations when it counts more (a lapsed
/// invitation deleted by TTL before it was reclaimed); answers how many seats that freed.
/// The update is conditioned on the counters it read, so any concurrent change wins.
async fn recount_seats(store: &store::Store, org_id: &str) -> Result<usize, TeamError> {
    let org = organization(store, org_id).await?;
    let mut query = Query::new(
        "team-invitations-pending",
        keys::invitations(OrgId(org_id)),
        100,
        None,
    );
    query.filter = Some(Filter {
        expression: "#status = :pending".into(),
        names: HashMap::from([("#status".to_owned(), "status".to_owned())]),
        values: HashMap::from([(":pending".to_owned(), text("pending"))]),
    });
    let (pending, complete) = store.query_all::<InvitationRecord>(query, 20).await?;
    let counted = org.member_count + pending.len() as i64;
    // Too many to count in one request: the counter stays as it is.
    if !complete || counted >= org.seats_used {
        return Ok(0);
    }
    match store
        .update::<serde_json::Value>(counters::recount_seats(&org, counted))
        .await
    {
        Ok(_) => Ok((org.seats_used - counted) as usize),
        Err(StoreError::ConditionFailed { .. }) => Ok(0),
        Err(e) => Err(e.into()),
    }
}
