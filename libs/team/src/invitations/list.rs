//! The organization's invitations, newest first, optionally of one status.

use std::collections::HashMap;

use auth::{OrgMember, Permission};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId};
use store::{Filter, Page, Query};

use super::record::text;
use super::{Invitation, InvitationRecord, InvitationStatus, Invitations};
use crate::TeamError;

impl Invitations {
    /// The organization's invitations, newest first, optionally of one status.
    pub async fn list(
        &self,
        caller: &OrgMember,
        status: Option<InvitationStatus>,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<Invitation>, TeamError> {
        caller.require(Permission::ReadOrganization)?;
        let now = self.clock.now();
        let mut names = HashMap::from([("#ttl".to_owned(), keys::TTL.to_owned())]);
        let mut values = HashMap::from([(
            ":epoch".to_owned(),
            AttributeValue::N(now.unix_timestamp().to_string()),
        )]);
        // Ended invitations past their TTL may still be there (deletion is lazy).
        let mut expression = "(attribute_not_exists(#ttl) OR #ttl > :epoch)".to_owned();
        if let Some(status) = status {
            names.insert("#status".into(), "status".into());
            let by_status = match status {
                InvitationStatus::Pending => "#status = :pending AND #expires_at > :now",
                InvitationStatus::Expired => {
                    "(#status = :expired OR (#status = :pending AND #expires_at <= :now))"
                }
                InvitationStatus::Accepted | InvitationStatus::Revoked => "#status = :status",
            };
            if by_status.contains(":now") {
                names.insert("#expires_at".into(), "expires_at".into());
                values.insert(":now".into(), text(&clock::rfc3339(now)));
                values.insert(":pending".into(), text("pending"));
            }
            if by_status.contains(":expired") {
                values.insert(":expired".into(), text("expired"));
            }
            if by_status.contains(":status") {
                values.insert(":status".into(), text(status.as_str()));
            }
            expression = format!("{expression} AND {by_status}");
        }
        let mut query = Query::new(
            "team-invitations",
            keys::invitations(OrgId(&caller.org_id)),
            limit,
            cursor,
        )
        .newest_first();
        query.filter = Some(Filter {
            expression,
            names,
            values,
        });
        let page = self.store.query::<InvitationRecord>(query).await?;
        Ok(Page {
            items: page.items.iter().map(|r| Invitation::new(r, now)).collect(),
            next_cursor: page.next_cursor,
        })
    }
}
