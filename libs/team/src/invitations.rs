//! Invitations (§4.2): invite by email, list, resend, revoke, accept.
//!
//! - The token is 256 bits from the OS random generator, sent only in the email (base64url) and
//!   stored only as its SHA-256, which a pending invitation carries as its GSI1 key: a used,
//!   revoked or rotated token finds nothing. The index is eventually consistent, so accepting
//!   re-reads the invitation and its transaction re-checks status, token and expiry.
//! - A pending invitation holds a seat (`seats_used` on the organization, with the members), so
//!   the plan's seat limit is one condition in the invite's transaction. An invitation that
//!   lapsed without being accepted keeps its seat until it is reclaimed: when an invite would
//!   exceed the limit, or when the same address is invited again.
//! - Every invitation has a TTL, [`ENDED_RETENTION`] after it expires or ends, for clean-up. If
//!   TTL deletes a lapsed invitation before it was reclaimed, its seat is found by the recount
//!   that reclaiming ends with (`seats_used` = members + pending invitations, read consistently).
//! - One pending invitation per address and organization: a guard item keyed by the address.
//! - Every change writes its activity entry in its own transaction.

use std::collections::HashMap;

use audit::{Category, NewEntry};
use auth::records::MembershipRecord;
use auth::{Caller, OrgMember, Permission, Role};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clock::{Clock, DateTime, Duration};
use mail::{Email, Mailer, escape_html};
use notify::{NotificationRequest, NotificationType, Notifier};
use serde::{Deserialize, Serialize};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::{Condition, Filter, Page, Query, Store, StoreError, Transaction, Update, keys};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

use crate::TeamError;
use crate::members::{profiles, role_is};
use crate::rules::may_invite;

/// How long an invitation can be accepted.
pub const INVITATION_LIFETIME: Duration = Duration::days(7);
/// How long an invitation stays listed after it expired or ended, before TTL removes it.
pub const ENDED_RETENTION: Duration = Duration::days(30);
const ENTITY: &str = "invitation";
const GUARD_ENTITY: &str = "invitation_email";
const TOKEN_BYTES: usize = 32;
/// The actor of changes nobody asked for (an expired invitation giving its seat back).
const SYSTEM_ACTOR: &str = "system";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

impl InvitationStatus {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Accepted => "accepted",
            Self::Revoked => "revoked",
            Self::Expired => "expired",
        }
    }
}

/// An invitation as stored (`ORG#<org>` / `INVITATION#<id>`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvitationRecord {
    pub id: String,
    pub org_id: String,
    /// As the inviter typed it.
    pub email: String,
    /// Lower case: what the accepting token's email and the guard item are compared with.
    pub email_key: String,
    pub role: Role,
    /// `pending` until accepted, revoked or reclaimed after expiry; a pending invitation past
    /// `expires_at` is shown as `expired`.
    pub status: InvitationStatus,
    pub invited_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inviter_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// SHA-256 (hex) of the live token; only while pending.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_hash: Option<String>,
    #[serde(with = "clock::serde_rfc3339")]
    pub created_at: DateTime,
    #[serde(with = "clock::serde_rfc3339")]
    pub expires_at: DateTime,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "clock::serde_rfc3339::option"
    )]
    pub ended_at: Option<DateTime>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
}

impl InvitationRecord {
    /// The status a reader sees at `now`.
    fn status_at(&self, now: DateTime) -> InvitationStatus {
        if self.status == InvitationStatus::Pending && now >= self.expires_at {
            InvitationStatus::Expired
        } else {
            self.status
        }
    }

    fn is_live(&self, now: DateTime) -> bool {
        self.status_at(now) == InvitationStatus::Pending
    }
}

/// The guard item of an address with a pending invitation.
#[derive(Serialize, Deserialize)]
struct EmailGuard {
    invitation_id: String,
}

/// An invitation as the team sees it. The token is never part of it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Invitation {
    #[schema(example = "01JD3YQ9V4Z8K2M6N0P3R5T7W9")]
    pub id: String,
    #[schema(example = "ada@example.com")]
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    /// The inviter's user id.
    pub invited_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// RFC 3339, UTC.
    pub expires_at: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// When it was accepted, revoked or reclaimed after expiry (RFC 3339, UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    /// Only in the answer to invite and resend: whether SES accepted the email. When it did not,
    /// the invitation stands and can be resent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_sent: Option<bool>,
}

impl Invitation {
    fn new(record: &InvitationRecord, now: DateTime) -> Self {
        Self {
            id: record.id.clone(),
            email: record.email.clone(),
            role: record.role,
            status: record.status_at(now),
            invited_by: record.invited_by.clone(),
            message: record.message.clone(),
            expires_at: clock::rfc3339(record.expires_at),
            created_at: clock::rfc3339(record.created_at),
            ended_at: record.ended_at.map(clock::rfc3339),
            email_sent: None,
        }
    }
}

fn field_error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

fn invitable_role(role: &Role) -> Result<(), ValidationError> {
    if *role == Role::Owner {
        return Err(field_error(
            "owner_not_invitable",
            "must be admin, member or viewer: ownership is handed to an existing member",
        ));
    }
    Ok(())
}

/// At most 1000 characters; line breaks and tabs allowed, other control characters not.
fn invitation_message(message: &str) -> Result<(), ValidationError> {
    if message.chars().count() > 1000 {
        return Err(field_error("too_long", "must be at most 1000 characters"));
    }
    if message
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(field_error(
            "control_characters",
            "must not contain control characters other than line breaks",
        ));
    }
    Ok(())
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateInvitation {
    /// The invitee's address; they accept with a verified token for it.
    #[validate(
        email(message = "must be an email address"),
        length(max = 254, message = "must be at most 254 characters")
    )]
    #[schema(example = "ada@example.com", format = Email, max_length = 254)]
    pub email: String,
    /// `admin`, `member` or `viewer` (admins invite members and viewers only).
    #[validate(custom(function = "invitable_role"))]
    pub role: Role,
    /// A note from the inviter, included in the email; at most 1000 characters.
    #[validate(custom(function = "invitation_message"))]
    #[schema(max_length = 1000)]
    pub message: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AcceptInvitation {
    /// The `token` of the email's accept link.
    #[validate(length(min = 1, max = 512, message = "must be 1 to 512 characters"))]
    #[schema(min_length = 1, max_length = 512)]
    pub token: String,
}

/// The membership an accepted invitation created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AcceptedInvitation {
    pub org_id: String,
    pub role: Role,
}

/// A new token (base64url, sent in the email) and its hash (stored).
fn new_token() -> Result<(String, String), TeamError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| TeamError::Internal(format!("the OS random generator failed: {e}")))?;
    Ok((URL_SAFE_NO_PAD.encode(bytes), keys::digest(&bytes)))
}

/// The stored hash of a token, if it is one that this code could have issued.
fn token_hash(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    (bytes.len() == TOKEN_BYTES).then(|| keys::digest(&bytes))
}

fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// Control characters (from names in tokens, say) become spaces in an email subject.
fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The invitation use cases. Built once per cold start.
#[derive(Clone)]
pub struct Invitations {
    store: Store,
    clock: Clock,
    activity_retention: Duration,
    notifier: Notifier,
    mailer: Mailer,
    /// The web app's base URL; the accept link is `{app_url}/accept-invitation?token=…`.
    app_url: String,
}

impl Invitations {
    pub fn new(
        store: Store,
        clock: Clock,
        activity_retention: Duration,
        notifier: Notifier,
        mailer: Mailer,
        app_url: &str,
    ) -> Self {
        Self {
            store,
            clock,
            activity_retention,
            notifier,
            mailer,
            app_url: app_url.trim_end_matches('/').to_owned(),
        }
    }

    fn entry(
        &self,
        org_id: &str,
        actor_id: &str,
        action: &str,
        invitation: &InvitationRecord,
        now: DateTime,
    ) -> Result<store::Item, TeamError> {
        let entry = NewEntry {
            org_id,
            actor_id,
            action,
            category: Category::Team,
            target_type: "invitation",
            target_id: &invitation.id,
            metadata: serde_json::json!({ "email": invitation.email, "role": invitation.role }),
        }
        .at(now);
        Ok(audit::entry_item(&entry, self.activity_retention)?)
    }

    async fn get(&self, org_id: &str, id: &str) -> Result<Option<InvitationRecord>, TeamError> {
        if ulid::Ulid::from_string(id).is_err() {
            return Ok(None);
        }
        Ok(self.store.get(&keys::invitation(org_id, id)).await?)
    }

    /// An invitation of the caller's organization; another organization's is not found.
    async fn find(&self, org_id: &str, id: &str) -> Result<InvitationRecord, TeamError> {
        self.get(org_id, id)
            .await?
            .ok_or(TeamError::InvitationNotFound)
    }

    async fn organization(&self, org_id: &str) -> Result<accounts::OrgRecord, TeamError> {
        self.store
            .get(&keys::org_profile(org_id))
            .await?
            .ok_or_else(|| TeamError::Internal(format!("organization {org_id} has no profile")))
    }

    /// Whether an address belongs to a member: their profiles' emails, case-insensitively.
    /// Reads every member (2 round trips per 100); inviting is rare and seats are bounded.
    async fn is_member_email(&self, org_id: &str, email_key: &str) -> Result<bool, TeamError> {
        let mut cursor: Option<String> = None;
        loop {
            let page = self
                .store
                .query::<MembershipRecord>(Query::new(
                    "team-members",
                    keys::org_members(org_id),
                    100,
                    cursor.as_deref(),
                ))
                .await?;
            let ids: Vec<&str> = page.items.iter().map(|m| m.user_id.as_str()).collect();
            let found = profiles(&self.store, &ids).await?;
            if found.values().any(|user| {
                user.email
                    .as_deref()
                    .is_some_and(|e| e.to_lowercase() == email_key)
            }) {
                return Ok(true);
            }
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(false),
            }
        }
    }

    /// The update that ends a pending invitation: its token dies (out of the index), and TTL
    /// removes it after [`ENDED_RETENTION`].
    fn end(invitation: &InvitationRecord, status: InvitationStatus, now: DateTime) -> Update {
        Update::new(keys::invitation(&invitation.org_id, &invitation.id))
            .set("status", &status)
            .set("ended_at", &clock::rfc3339(now))
            .set(keys::TTL, &(now + ENDED_RETENTION).unix_timestamp())
            .remove("token_hash")
            .remove(keys::GSI1_PK)
            .remove(keys::GSI1_SK)
            .condition("#status = :pending", [(":pending", text("pending"))])
    }

    /// Deletes the address's guard item if it still names this invitation.
    fn release_guard(transaction: Transaction, invitation: &InvitationRecord) -> Transaction {
        transaction.delete(
            keys::invitation_email(&invitation.org_id, &invitation.email_key),
            Condition::Expression {
                expression: "attribute_not_exists(#pk) OR #invitation_id = :invitation_id".into(),
                names: HashMap::from([
                    ("#pk".to_owned(), keys::PK.to_owned()),
                    ("#invitation_id".to_owned(), "invitation_id".to_owned()),
                ]),
                values: HashMap::from([(":invitation_id".to_owned(), text(&invitation.id))]),
            },
        )
    }

    fn invitation_item(
        record: &InvitationRecord,
        token_hash: &str,
    ) -> Result<store::Item, TeamError> {
        let (index, partition, sort) = keys::invitation_token(token_hash);
        let item = store::item(
            &keys::invitation(&record.org_id, &record.id),
            ENTITY,
            record,
        )?;
        let item = store::with_index(item, index, &partition, sort);
        Ok(store::with_ttl(
            item,
            (record.expires_at + ENDED_RETENTION).unix_timestamp(),
        ))
    }

    /// Invites an address. 409 when it is a member or has a pending invitation, 402 when the
    /// plan has no free seat.
    pub async fn invite(
        &self,
        actor: &OrgMember,
        request: CreateInvitation,
    ) -> Result<Invitation, TeamError> {
        actor.require(Permission::ManageInvitations)?;
        may_invite(actor.role, request.role).map_err(|_| TeamError::InvitationNotAllowed)?;
        let email_key = request.email.to_lowercase();
        let message = request
            .message
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty());
        let inviter_name = actor
            .caller
            .user
            .name
            .clone()
            .or_else(|| actor.caller.claims.name.clone())
            .or_else(|| actor.caller.claims.email.clone());
        // One more attempt after reclaiming the seats of lapsed invitations.
        for attempt in 0..2 {
            let found = self
                .store
                .batch_get(&[
                    keys::org_profile(&actor.org_id),
                    keys::invitation_email(&actor.org_id, &email_key),
                ])
                .await?;
            let mut found = found.into_iter();
            let org: accounts::OrgRecord = found
                .next()
                .flatten()
                .map(store::from_item)
                .transpose()?
                .ok_or_else(|| TeamError::Internal("organization without profile".into()))?;
            let guard: Option<EmailGuard> =
                found.next().flatten().map(store::from_item).transpose()?;
            let now = self.clock.now();
            // A pending invitation of this address that lapsed is replaced (and gives its seat
            // to the new one); a live one is a conflict.
            let mut replaced = None;
            if let Some(guard) = &guard
                && let Some(old) = self.get(&actor.org_id, &guard.invitation_id).await?
            {
                if old.is_live(now) {
                    return Err(TeamError::AlreadyInvited);
                }
                if old.status == InvitationStatus::Pending {
                    replaced = Some(old);
                }
            }
            if self.is_member_email(&actor.org_id, &email_key).await? {
                return Err(TeamError::AlreadyMember);
            }
            let (token, token_hash) = new_token()?;
            let record = InvitationRecord {
                id: ulid::Ulid::from_datetime(now.into()).to_string(),
                org_id: actor.org_id.clone(),
                email: request.email.clone(),
                email_key: email_key.clone(),
                role: request.role,
                status: InvitationStatus::Pending,
                invited_by: actor.user_id().to_owned(),
                inviter_name: inviter_name.clone(),
                message: message.clone(),
                token_hash: Some(token_hash.clone()),
                created_at: now,
                expires_at: now + INVITATION_LIFETIME,
                ended_at: None,
                accepted_by: None,
            };
            let guard_item = store::item(
                &keys::invitation_email(&actor.org_id, &email_key),
                GUARD_ENTITY,
                &EmailGuard {
                    invitation_id: record.id.clone(),
                },
            )?;
            let guard_condition = match &guard {
                None => Condition::NotExists,
                Some(guard) => Condition::Expression {
                    expression: "#invitation_id = :old".into(),
                    names: HashMap::from([(
                        "#invitation_id".to_owned(),
                        "invitation_id".to_owned(),
                    )]),
                    values: HashMap::from([(":old".to_owned(), text(&guard.invitation_id))]),
                },
            };
            let mut transaction = Transaction::new()
                .put(
                    Self::invitation_item(&record, &token_hash)?,
                    Condition::NotExists,
                )
                .put(guard_item, guard_condition);
            let guard_action = 1;
            let limit = plans::seat_limit(&org.plan);
            let mut seat_action = None;
            if let Some(old) = &replaced {
                transaction = transaction
                    .update(Self::end(old, InvitationStatus::Expired, now).condition(
                        "#expires_at <= :now",
                        [(":now", text(&clock::rfc3339(now)))],
                    ))
                    .put(
                        self.entry(&actor.org_id, SYSTEM_ACTOR, "invitation.expired", old, now)?,
                        Condition::NotExists,
                    );
            } else {
                seat_action = Some(transaction.len());
                let mut seats = Update::new(keys::org_profile(&actor.org_id))
                    .add("seats_used", 1)
                    .require_exists();
                if let Some(limit) = limit {
                    seats = seats.condition(
                        "#seats_used < :limit",
                        [(":limit", AttributeValue::N(limit.to_string()))],
                    );
                }
                transaction = transaction.update(seats);
            }
            let actor_action = transaction.len();
            transaction = transaction
                .check(
                    keys::org_member(&actor.org_id, actor.user_id()),
                    role_is(actor.role),
                )
                .put(
                    self.entry(
                        &actor.org_id,
                        actor.user_id(),
                        "invitation.created",
                        &record,
                        now,
                    )?,
                    Condition::NotExists,
                );
            match self.store.transact(transaction).await {
                Ok(()) => {
                    let mut invitation = Invitation::new(&record, now);
                    invitation.email_sent = Some(self.send_email(&org, &record, &token).await);
                    return Ok(invitation);
                }
                Err(StoreError::ConditionFailed { action: Some(i) }) if Some(i) == seat_action => {
                    if attempt == 0 && self.reclaim_expired(&actor.org_id).await? > 0 {
                        continue;
                    }
                    return Err(TeamError::SeatLimitReached {
                        limit: limit.unwrap_or_default(),
                    });
                }
                Err(StoreError::ConditionFailed { action: Some(i) }) if i == actor_action => {
                    return Err(TeamError::NotAllowed);
                }
                // Another invite of the same address got there first.
                Err(StoreError::ConditionFailed { action: Some(i) })
                    if i == guard_action && replaced.is_none() =>
                {
                    return Err(TeamError::AlreadyInvited);
                }
                Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                    return Err(TeamError::Conflict);
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(TeamError::Conflict)
    }

    /// Gives back the seats of pending invitations that lapsed; answers how many. One
    /// transaction per invitation, so one that changed meanwhile (resent, revoked) is skipped.
    pub async fn reclaim_expired(&self, org_id: &str) -> Result<usize, TeamError> {
        let now = self.clock.now();
        let now_text = clock::rfc3339(now);
        let mut query = Query::new(
            "team-invitations-lapsed",
            keys::invitations(org_id),
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
                (":now".to_owned(), text(&now_text)),
            ]),
        });
        let (lapsed, _) = self.store.query_all::<InvitationRecord>(query, 10).await?;
        let mut reclaimed = 0;
        for lapsed in &lapsed {
            let transaction = Transaction::new().update(
                Self::end(lapsed, InvitationStatus::Expired, now)
                    .condition("#expires_at <= :now", [(":now", text(&now_text))]),
            );
            let transaction = Self::release_guard(transaction, lapsed)
                .update(
                    Update::new(keys::org_profile(org_id))
                        .add("seats_used", -1)
                        .require_exists(),
                )
                .put(
                    self.entry(org_id, SYSTEM_ACTOR, "invitation.expired", lapsed, now)?,
                    Condition::NotExists,
                );
            match self.store.transact(transaction).await {
                Ok(()) => reclaimed += 1,
                Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(reclaimed + self.recount_seats(org_id).await?)
    }

    /// Sets `seats_used` to members plus pending invitations when it counts more (a lapsed
    /// invitation deleted by TTL before it was reclaimed); answers how many seats that freed.
    /// The update is conditioned on the counters it read, so any concurrent change wins.
    async fn recount_seats(&self, org_id: &str) -> Result<usize, TeamError> {
        let org = self.organization(org_id).await?;
        let mut query = Query::new(
            "team-invitations-pending",
            keys::invitations(org_id),
            100,
            None,
        );
        query.filter = Some(Filter {
            expression: "#status = :pending".into(),
            names: HashMap::from([("#status".to_owned(), "status".to_owned())]),
            values: HashMap::from([(":pending".to_owned(), text("pending"))]),
        });
        let (pending, complete) = self.store.query_all::<InvitationRecord>(query, 20).await?;
        let pending = pending.len() as i64;
        let counted = org.member_count + pending;
        // Too many to count in one request: the counter stays as it is.
        if !complete || counted >= org.seats_used {
            return Ok(0);
        }
        let update = Update::new(keys::org_profile(org_id))
            .set("seats_used", &counted)
            .condition(
                "#seats_used = :seats AND #member_count = :members",
                [
                    (":seats", AttributeValue::N(org.seats_used.to_string())),
                    (":members", AttributeValue::N(org.member_count.to_string())),
                ],
            );
        match self.store.update::<serde_json::Value>(update).await {
            Ok(_) => Ok((org.seats_used - counted) as usize),
            Err(StoreError::ConditionFailed { .. }) => Ok(0),
            Err(e) => Err(e.into()),
        }
    }

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
            keys::invitations(&caller.org_id),
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

    /// Revokes a pending invitation: its token dies and its seat is free. Revoking one that
    /// already ended changes nothing; an accepted one is a member now (409).
    pub async fn revoke(&self, actor: &OrgMember, id: &str) -> Result<(), TeamError> {
        actor.require(Permission::ManageInvitations)?;
        let invitation = self.find(&actor.org_id, id).await?;
        may_invite(actor.role, invitation.role).map_err(|_| TeamError::InvitationNotAllowed)?;
        match invitation.status {
            InvitationStatus::Accepted => return Err(TeamError::InvitationAccepted),
            InvitationStatus::Revoked | InvitationStatus::Expired => return Ok(()),
            InvitationStatus::Pending => {}
        }
        let now = self.clock.now();
        let transaction =
            Transaction::new().update(Self::end(&invitation, InvitationStatus::Revoked, now));
        let transaction = Self::release_guard(transaction, &invitation)
            .update(
                Update::new(keys::org_profile(&actor.org_id))
                    .add("seats_used", -1)
                    .require_exists(),
            )
            .check(
                keys::org_member(&actor.org_id, actor.user_id()),
                role_is(actor.role),
            )
            .put(
                self.entry(
                    &actor.org_id,
                    actor.user_id(),
                    "invitation.revoked",
                    &invitation,
                    now,
                )?,
                Condition::NotExists,
            );
        match self.store.transact(transaction).await {
            Ok(()) => Ok(()),
            Err(StoreError::ConditionFailed { action: Some(3) }) => Err(TeamError::NotAllowed),
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                Err(TeamError::Conflict)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Sends a pending invitation again with a new token and a new expiry; the old token dies.
    pub async fn resend(&self, actor: &OrgMember, id: &str) -> Result<Invitation, TeamError> {
        actor.require(Permission::ManageInvitations)?;
        let invitation = self.find(&actor.org_id, id).await?;
        may_invite(actor.role, invitation.role).map_err(|_| TeamError::InvitationNotAllowed)?;
        match invitation.status {
            InvitationStatus::Accepted => return Err(TeamError::InvitationAccepted),
            InvitationStatus::Revoked | InvitationStatus::Expired => {
                return Err(TeamError::InvitationNotPending);
            }
            InvitationStatus::Pending => {}
        }
        let org = self.organization(&actor.org_id).await?;
        let now = self.clock.now();
        let (token, hash) = new_token()?;
        let (_, partition, sort) = keys::invitation_token(&hash);
        let old_hash = invitation.token_hash.clone().unwrap_or_default();
        let updated = InvitationRecord {
            token_hash: Some(hash.clone()),
            expires_at: now + INVITATION_LIFETIME,
            ..invitation
        };
        let transaction = Transaction::new()
            .update(
                Update::new(keys::invitation(&actor.org_id, id))
                    .set("token_hash", &hash)
                    .set(keys::GSI1_PK, &partition)
                    .set(keys::GSI1_SK, &sort)
                    .set("expires_at", &clock::rfc3339(updated.expires_at))
                    .set(
                        keys::TTL,
                        &(updated.expires_at + ENDED_RETENTION).unix_timestamp(),
                    )
                    .condition(
                        "#status = :pending AND #token_hash = :old",
                        [(":pending", text("pending")), (":old", text(&old_hash))],
                    ),
            )
            .check(
                keys::org_member(&actor.org_id, actor.user_id()),
                role_is(actor.role),
            )
            .put(
                self.entry(
                    &actor.org_id,
                    actor.user_id(),
                    "invitation.resent",
                    &updated,
                    now,
                )?,
                Condition::NotExists,
            );
        match self.store.transact(transaction).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { action: Some(1) }) => {
                return Err(TeamError::NotAllowed);
            }
            Err(StoreError::ConditionFailed { .. } | StoreError::TransactionConflict) => {
                return Err(TeamError::Conflict);
            }
            Err(e) => return Err(e.into()),
        }
        let mut view = Invitation::new(&updated, now);
        view.email_sent = Some(self.send_email(&org, &updated, &token).await);
        Ok(view)
    }

    /// Accepts an invitation for the caller: their token's email must be the invited one and
    /// verified. Exactly one membership results, however many accepts race.
    pub async fn accept(
        &self,
        caller: &Caller,
        request: AcceptInvitation,
    ) -> Result<AcceptedInvitation, TeamError> {
        let hash = token_hash(&request.token).ok_or(TeamError::InvitationGone)?;
        let (index, partition, _) = keys::invitation_token(&hash);
        #[derive(Deserialize)]
        struct Found {
            org_id: String,
            id: String,
        }
        let found: Vec<Found> = self.store.find_in_index(index, &partition, 1).await?;
        let found = found.into_iter().next().ok_or(TeamError::InvitationGone)?;
        // A transaction conflict (another accept, a resend) is retried on fresh data.
        for _ in 0..3 {
            let now = self.clock.now();
            let invitation = self
                .get(&found.org_id, &found.id)
                .await?
                .ok_or(TeamError::InvitationGone)?;
            if !invitation.is_live(now) || invitation.token_hash.as_deref() != Some(&hash) {
                return Err(TeamError::InvitationGone);
            }
            let verified = caller.claims.email_verified == Some(true);
            let same_address = caller
                .claims
                .email
                .as_deref()
                .is_some_and(|e| e.to_lowercase() == invitation.email_key);
            if !(verified && same_address) {
                return Err(TeamError::WrongEmail);
            }
            let membership = MembershipRecord {
                org_id: invitation.org_id.clone(),
                user_id: caller.user_id().to_owned(),
                role: invitation.role,
                joined_at: now,
            };
            let (member_item, user_membership_item) = membership.items()?;
            let transaction = Transaction::new()
                .update(
                    Self::end(&invitation, InvitationStatus::Accepted, now)
                        .set("accepted_by", &caller.user_id())
                        .condition(
                            "#token_hash = :hash AND #expires_at > :now",
                            [(":hash", text(&hash)), (":now", text(&clock::rfc3339(now)))],
                        ),
                )
                .put(member_item, Condition::NotExists)
                .put(user_membership_item, Condition::Always);
            // The seat the invitation held is the member's now: `seats_used` is unchanged.
            let transaction = Self::release_guard(transaction, &invitation)
                .update(
                    Update::new(keys::org_profile(&invitation.org_id))
                        .add("member_count", 1)
                        .require_exists(),
                )
                .put(
                    self.entry(
                        &invitation.org_id,
                        caller.user_id(),
                        "invitation.accepted",
                        &invitation,
                        now,
                    )?,
                    Condition::NotExists,
                );
            match self.store.transact(transaction).await {
                Ok(()) => {
                    self.tell_inviter(caller, &invitation, now).await;
                    return Ok(AcceptedInvitation {
                        org_id: invitation.org_id,
                        role: invitation.role,
                    });
                }
                Err(StoreError::ConditionFailed { action: Some(0) }) => {
                    return Err(TeamError::InvitationGone);
                }
                Err(StoreError::ConditionFailed { action: Some(1) }) => {
                    return Err(TeamError::AlreadyMember);
                }
                Err(StoreError::TransactionConflict) => continue,
                Err(StoreError::ConditionFailed { .. }) => return Err(TeamError::Conflict),
                Err(e) => return Err(e.into()),
            }
        }
        Err(TeamError::Conflict)
    }

    async fn tell_inviter(&self, caller: &Caller, invitation: &InvitationRecord, now: DateTime) {
        let who = caller
            .user
            .name
            .clone()
            .or_else(|| caller.claims.name.clone())
            .unwrap_or_else(|| invitation.email.clone());
        let request = NotificationRequest::new(
            &invitation.org_id,
            vec![invitation.invited_by.clone()],
            NotificationType::Team,
            "Invitation accepted",
            &format!(
                "{who} accepted your invitation and joined as {}.",
                invitation.role
            ),
            now,
        )
        .with_data(serde_json::json!({
            "org_id": invitation.org_id,
            "invitation_id": invitation.id,
            "user_id": caller.user_id(),
            "email": invitation.email,
            "role": invitation.role,
        }));
        self.notifier.send_after_commit(&request).await;
    }

    /// Sends the invitation email; answers whether SES took it (a failure is logged).
    async fn send_email(
        &self,
        org: &accounts::OrgRecord,
        invitation: &InvitationRecord,
        token: &str,
    ) -> bool {
        let email = invitation_email(org, invitation, &self.app_url, token);
        match self.mailer.send(&email).await {
            Ok(_) => true,
            Err(error) => {
                tracing::error!(%error, invitation = %invitation.id, "invitation email not sent");
                false
            }
        }
    }
}

/// The invitation email: text and HTML parts with the same content. Every value that comes
/// from a person (names, the message) is HTML-escaped in the HTML part.
pub fn invitation_email(
    org: &accounts::OrgRecord,
    invitation: &InvitationRecord,
    app_url: &str,
    token: &str,
) -> Email {
    let link = format!("{app_url}/accept-invitation?token={token}");
    let inviter = invitation
        .inviter_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("A teammate");
    let role = invitation.role.as_str();
    let expires = clock::rfc3339(invitation.expires_at);
    let subject = one_line(&format!(
        "{inviter} invited you to join {} on Objecta",
        org.name
    ));
    let mut text = format!(
        "{inviter} invited you to join {} on Objecta as {role}.\n\n",
        org.name
    );
    let mut html = format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif\">\
         <p><strong>{}</strong> invited you to join <strong>{}</strong> on Objecta as {role}.</p>",
        escape_html(inviter),
        escape_html(&org.name)
    );
    if let Some(message) = &invitation.message {
        text.push_str(&format!("Message from {inviter}:\n{message}\n\n"));
        html.push_str(&format!(
            "<blockquote style=\"white-space:pre-wrap\">{}</blockquote>",
            escape_html(message)
        ));
    }
    text.push_str(&format!(
        "Accept the invitation:\n{link}\n\nThe link works until {expires} (UTC) for {}. \
         If you did not expect this invitation, ignore this email.\n",
        invitation.email
    ));
    html.push_str(&format!(
        "<p><a href=\"{href}\">Accept the invitation</a></p>\
         <p style=\"color:#666\">The link works until {expires} (UTC) for {email}. \
         If you did not expect this invitation, ignore this email.</p></body></html>",
        href = escape_html(&link),
        email = escape_html(&invitation.email),
    ));
    Email {
        to: invitation.email.clone(),
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn record(inviter: &str, message: Option<&str>) -> InvitationRecord {
        let now = datetime!(2026-11-24 10:00:00 UTC);
        InvitationRecord {
            id: "01JD3YQ9V4Z8K2M6N0P3R5T7W9".into(),
            org_id: "01JORG".into(),
            email: "Ada@Example.com".into(),
            email_key: "ada@example.com".into(),
            role: Role::Member,
            status: InvitationStatus::Pending,
            invited_by: "u1".into(),
            inviter_name: Some(inviter.into()),
            message: message.map(Into::into),
            token_hash: Some("h".into()),
            created_at: now,
            expires_at: now + INVITATION_LIFETIME,
            ended_at: None,
            accepted_by: None,
        }
    }

    fn org(name: &str) -> accounts::OrgRecord {
        let now = datetime!(2026-11-24 10:00:00 UTC);
        accounts::OrgRecord {
            id: "01JORG".into(),
            name: name.into(),
            plan: "free".into(),
            created_by: "u1".into(),
            created_at: now,
            updated_at: now,
            member_count: 1,
            owner_count: 1,
            seats_used: 1,
        }
    }

    #[test]
    fn tokens_carry_256_random_bits_and_only_their_hash_is_kept() {
        let (token, hash) = new_token().unwrap();
        assert_eq!(token.len(), 43, "32 bytes in unpadded base64url");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(token_hash(&token).as_deref(), Some(hash.as_str()));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&token));
        let (other, _) = new_token().unwrap();
        assert_ne!(token, other);
        for bad in ["", "short", &format!("{token}A"), &token.replace('-', "+")] {
            if bad != token {
                assert_eq!(token_hash(bad), None, "{bad}");
            }
        }
    }

    #[test]
    fn the_email_escapes_names_and_messages_and_carries_the_link() {
        let invitation = record(
            "<script>alert(1)</script> Eve",
            Some("Join us & <b>win</b>\n\"quoted\""),
        );
        let email = invitation_email(
            &org("Acme <img src=x onerror=alert(1)>"),
            &invitation,
            "https://app.example.com",
            "TOKEN_abc-123",
        );
        assert_eq!(email.to, "Ada@Example.com");
        let link = "https://app.example.com/accept-invitation?token=TOKEN_abc-123";
        assert!(email.text.contains(link));
        assert!(
            email
                .html
                .contains(&format!("href=\"{}\"", escape_html(link)))
        );
        assert!(!email.html.contains("<script>"));
        assert!(!email.html.contains("<img"));
        assert!(!email.html.contains("<b>win"));
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(
            email
                .html
                .contains("Join us &amp; &lt;b&gt;win&lt;&#x2F;b&gt;")
        );
        // The text part is plain text: the message as written.
        assert!(email.text.contains("Join us & <b>win</b>\n\"quoted\""));
        assert!(email.text.contains("as member"));
        assert!(
            email
                .subject
                .starts_with("<script>alert(1)</script> Eve invited you")
        );
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let email = invitation_email(
            &org("Acme"),
            &record("Eve\r\nBcc: x@evil.test", None),
            "https://app.example.com",
            "t",
        );
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
    }

    #[test]
    fn a_pending_invitation_past_its_expiry_reads_as_expired() {
        let invitation = record("Eve", None);
        assert!(invitation.is_live(invitation.created_at));
        assert_eq!(
            invitation.status_at(invitation.expires_at),
            InvitationStatus::Expired
        );
        assert!(!invitation.is_live(invitation.expires_at));
    }

    #[test]
    fn messages_allow_line_breaks_but_not_other_control_characters() {
        assert!(invitation_message("hi\nthere\t!").is_ok());
        assert!(invitation_message("bell\u{7}").is_err());
        assert!(invitation_message(&"x".repeat(1000)).is_ok());
        assert!(invitation_message(&"é".repeat(1001)).is_err());
    }
}
