//! One audited change: the writes of a change, the re-check of who makes it, its activity entry
//! and the side effects it causes, committed as one transaction, with one mapping of failures.
//!
//! ```ignore
//! let activity = Activity {
//!     action: "org.renamed",
//!     category: Category::Organization,
//!     target_type: "organization",
//!     target_id: &org.id,
//!     metadata: json!({"from": old_name, "to": new_name}),
//! };
//! let change = AuditedChange::new(Actor::allowed_to(member, Permission::RenameOrganization), activity, now)
//!     .update(rename)
//!     .label("organization");
//! match audit_log.commit(change).await {
//!     Ok(()) => Ok(()),
//!     Err(e) if e.rejected("organization") => Err(NotFound),
//!     Err(e) => Err(e.into()), // 403 for the actor's re-check, 409 otherwise, 503 on a conflict
//! }
//! ```
//!
//! `docs/patterns.md` says how billing and notifications use it.

use auth::{OrgMember, Permission, Role};
use clock::{DateTime, Duration};
use outbox::{OutboxRecord, SideEffect};
use store::keys::{OrgId, UserId};
use store::{
    Condition, Item, Key, Label, OnceMarker, Store, StoreError, Transaction, Update, keys,
};

use crate::{ActivityEntry, Category, NewEntry, entry_item};

/// The label of the actor's role re-check.
pub const ACTOR_CHECK: &str = "actor";
/// The label of a side effect's put.
pub const SIDE_EFFECT: &str = "side_effect";
/// Who the platform itself is in the activity log (webhooks, expiries, reclaimed seats).
pub const SYSTEM_ACTOR: &str = "system";

/// Who makes a change, and what of them is re-checked when it commits.
#[derive(Clone, Debug)]
pub struct Actor {
    org_id: String,
    actor_id: String,
    /// The roles the actor's membership must still hold (one condition on their member item).
    still_one_of: Option<Vec<Role>>,
}

impl Actor {
    /// A member whose role must still be one of `roles` when the change commits: a demotion
    /// between the request's read and its write makes the change fail (403).
    pub fn member(member: &OrgMember, roles: &[Role]) -> Self {
        Self {
            org_id: member.org_id.clone(),
            actor_id: member.user_id().to_owned(),
            still_one_of: Some(roles.to_vec()),
        }
    }

    /// A member whose role must still allow `permission` when the change commits: the roles
    /// come from the role table, never listed again beside it.
    pub fn allowed_to(member: &OrgMember, permission: Permission) -> Self {
        let roles: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|role| auth::allows(*role, permission))
            .collect();
        Self::member(member, &roles)
    }

    /// A member whose role must be the one the request read.
    pub fn member_as_read(member: &OrgMember) -> Self {
        Self::member(member, &[member.role])
    }

    /// A member changing their own membership: the change's own condition on that item stands
    /// in for the re-check (one transaction cannot touch an item twice).
    pub fn member_on_own_membership(member: &OrgMember) -> Self {
        Self {
            org_id: member.org_id.clone(),
            actor_id: member.user_id().to_owned(),
            still_one_of: None,
        }
    }

    /// A user acting without a membership to check: creating an organization, accepting an
    /// invitation. The change's own conditions guard it.
    pub fn user(org_id: &str, user_id: &str) -> Self {
        Self {
            org_id: org_id.to_owned(),
            actor_id: user_id.to_owned(),
            still_one_of: None,
        }
    }

    /// The platform itself (webhooks and other automatic changes): nobody to re-check.
    pub fn system(org_id: &str) -> Self {
        Self::user(org_id, SYSTEM_ACTOR)
    }

    pub fn org_id(&self) -> &str {
        &self.org_id
    }

    pub fn actor_id(&self) -> &str {
        &self.actor_id
    }
}

/// What the activity entry says about a change.
#[derive(Clone, Debug)]
pub struct Activity<'a> {
    /// `<object>.<verb>`, e.g. `member.role_changed`.
    pub action: &'a str,
    pub category: Category,
    pub target_type: &'a str,
    pub target_id: &'a str,
    pub metadata: serde_json::Value,
}

/// The writes of one change, with who makes it and what the log says about it.
#[derive(Debug)]
pub struct AuditedChange {
    actor: Actor,
    now: DateTime,
    transaction: Transaction,
    entries: Vec<ActivityEntry>,
    side_effects: Vec<SideEffect>,
}

impl AuditedChange {
    /// A change by `actor`, logged as `activity`, at `now`.
    pub fn new(actor: Actor, activity: Activity<'_>, now: DateTime) -> Self {
        let entry = Self::entry(actor.org_id(), actor.actor_id(), activity, now);
        Self {
            actor,
            now,
            transaction: Transaction::new(),
            entries: vec![entry],
            side_effects: Vec::new(),
        }
    }

    fn entry(org_id: &str, actor_id: &str, activity: Activity<'_>, now: DateTime) -> ActivityEntry {
        NewEntry {
            org_id,
            actor_id,
            action: activity.action,
            category: activity.category,
            target_type: activity.target_type,
            target_id: activity.target_id,
            metadata: activity.metadata,
        }
        .at(now)
    }

    /// A second entry in the same transaction, made by the platform (an expired invitation
    /// replaced by a new one, say).
    pub fn also_by_system(mut self, activity: Activity<'_>) -> Self {
        let org_id = self.actor.org_id.clone();
        self.entries
            .push(Self::entry(&org_id, SYSTEM_ACTOR, activity, self.now));
        self
    }

    /// Something the change must cause (a notification, closing sockets), recorded with it as
    /// an outbox item so it is delivered at least once from the table, never sent after the
    /// commit and forgotten.
    pub fn side_effect(mut self, effect: SideEffect) -> Self {
        self.side_effects.push(effect);
        self
    }

    pub fn put(mut self, item: Item, condition: Condition) -> Self {
        self.transaction = self.transaction.put(item, condition);
        self
    }

    pub fn update(mut self, update: Update) -> Self {
        self.transaction = self.transaction.update(update);
        self
    }

    pub fn check(mut self, key: Key, condition: Condition) -> Self {
        self.transaction = self.transaction.check(key, condition);
        self
    }

    pub fn delete(mut self, key: Key, condition: Condition) -> Self {
        self.transaction = self.transaction.delete(key, condition);
        self
    }

    /// Adds writes that another helper builds into a transaction (an idempotency record, a
    /// once-marker), so they commit with the change.
    pub fn record_with<E>(
        mut self,
        add: impl FnOnce(Transaction) -> Result<Transaction, E>,
    ) -> Result<Self, E> {
        self.transaction = add(self.transaction)?;
        Ok(self)
    }

    /// Makes the change happen at most once per marker (a webhook's event id, say): a second
    /// attempt fails on `label` and changes nothing.
    pub fn once(mut self, marker: OnceMarker, label: impl Into<Label>) -> Self {
        self.transaction = marker.put_into(self.transaction, label);
        self
    }

    /// Names the write added last; a failed condition is reported by this label.
    pub fn label(mut self, label: impl Into<Label>) -> Self {
        self.transaction = self.transaction.label(label);
        self
    }

    /// The entry the change writes (the first one).
    pub fn activity_entry(&self) -> &ActivityEntry {
        &self.entries[0]
    }

    /// The transaction as it will be sent: the change, the actor's re-check, the entries and
    /// the side effects.
    pub fn into_transaction(self, retention: Duration) -> Result<Transaction, StoreError> {
        let mut transaction = self.transaction;
        if let Some(roles) = &self.actor.still_one_of {
            transaction = transaction
                .check(
                    keys::org_member(OrgId(&self.actor.org_id), UserId(&self.actor.actor_id)),
                    auth::role_in(roles),
                )
                .label(ACTOR_CHECK);
        }
        for entry in &self.entries {
            transaction = transaction.put(entry_item(entry, retention)?, Condition::NotExists);
        }
        let change_id = self.entries[0].id.clone();
        for (index, record) in self.side_effects.into_iter().enumerate() {
            let outbox = OutboxRecord {
                org_id: self.actor.org_id.clone(),
                change_id: change_id.clone(),
                index,
                record,
                recorded_at: self.now,
            };
            transaction = transaction
                .put(outbox.item()?, Condition::NotExists)
                .label(SIDE_EFFECT);
        }
        Ok(transaction)
    }
}

/// Why an audited change was not made. Nothing of it was written.
#[derive(Debug, thiserror::Error)]
pub enum ChangeError {
    /// Conditions that did not hold, by label, in the order the change added them; the actor's
    /// re-check ([`ACTOR_CHECK`]) comes after the change's own writes. A use case matches its own
    /// labels first (in that order: its first broken rule is the answer), then falls back on
    /// the standard mapping: the actor's role (403), else a conflict (409).
    #[error("the change's conditions did not hold: {0:?}")]
    Rejected(Vec<Label>),
    /// Another transaction touched the same items at the same moment; retry on fresh reads.
    #[error("a concurrent change conflicted")]
    Conflict,
    #[error(transparent)]
    Store(StoreError),
}

impl ChangeError {
    /// Whether the condition labelled `label` is one that failed.
    pub fn rejected(&self, label: &str) -> bool {
        matches!(self, Self::Rejected(labels) if labels.iter().any(|l| l == label))
    }

    /// Whether the actor's role no longer allows the change (it changed since the request read
    /// it).
    pub fn actor_not_allowed(&self) -> bool {
        self.rejected(ACTOR_CHECK)
    }
}

impl From<StoreError> for ChangeError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::ConditionFailed { failed } => Self::Rejected(failed),
            StoreError::TransactionConflict => Self::Conflict,
            other => Self::Store(other),
        }
    }
}

/// The standard answers: 403 when the actor's role no longer allows the change, 409 for a
/// condition no domain rule explained, and a conflict answers like the store's own (503, retry).
impl From<ChangeError> for problem::Problem {
    fn from(e: ChangeError) -> Self {
        match e {
            e if e.actor_not_allowed() => {
                problem::Problem::forbidden("forbidden", "your role no longer allows this change")
            }
            ChangeError::Rejected(_) => problem::Problem::conflict(
                "conflict",
                "the data changed while this request ran; read it again and retry",
            ),
            ChangeError::Conflict => StoreError::TransactionConflict.into(),
            ChangeError::Store(e) => e.into(),
        }
    }
}

/// Commits audited changes: one per cold start, shared by every domain that makes them.
#[derive(Clone)]
pub struct AuditLog {
    store: Store,
    retention: Duration,
}

impl AuditLog {
    pub fn new(store: Store, retention: Duration) -> Self {
        Self { store, retention }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Makes the change, with its re-check, entry and side effects, or none of it.
    pub async fn commit(&self, change: AuditedChange) -> Result<(), ChangeError> {
        let transaction = change.into_transaction(self.retention)?;
        Ok(self.store.transact(transaction).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn activity() -> Activity<'static> {
        Activity {
            action: "org.renamed",
            category: Category::Organization,
            target_type: "organization",
            target_id: "o1",
            metadata: serde_json::Value::Null,
        }
    }

    #[test]
    fn a_members_change_rechecks_their_role_and_writes_its_entries_and_effects() {
        let now = datetime!(2026-12-01 10:00:00 UTC);
        let change = AuditedChange::new(
            Actor {
                org_id: "o1".into(),
                actor_id: "u1".into(),
                still_one_of: Some(vec![Role::Owner]),
            },
            activity(),
            now,
        )
        .update(Update::new(keys::org_profile(OrgId("o1"))).set("name", &"B"))
        .label("organization")
        .also_by_system(activity())
        .side_effect(SideEffect::CloseConnections {
            user_id: "u2".into(),
        });
        assert_eq!(change.activity_entry().actor_id, "u1");
        let transaction = change.into_transaction(Duration::days(1)).unwrap();
        // change, actor check, two entries, one side effect
        assert_eq!(transaction.len(), 5);
        assert_eq!(
            transaction.labels(),
            vec!["organization", ACTOR_CHECK, SIDE_EFFECT]
        );
    }

    #[test]
    fn a_change_made_once_carries_its_marker_under_its_label() {
        let now = datetime!(2026-12-01 10:00:00 UTC);
        let marker = OnceMarker::new(
            &keys::event_id_marker(OrgId("o1"), "evt_1"),
            &serde_json::json!({"type": "invoice.paid"}),
            Some(1),
        )
        .unwrap();
        let transaction = AuditedChange::new(Actor::system("o1"), activity(), now)
            .once(marker, "stripe_event")
            .into_transaction(Duration::days(1))
            .unwrap();
        assert_eq!(transaction.len(), 2, "the marker and the entry");
        assert_eq!(transaction.labels(), vec!["stripe_event"]);
    }

    #[test]
    fn the_system_and_newcomers_are_not_rechecked() {
        let now = datetime!(2026-12-01 10:00:00 UTC);
        for actor in [Actor::system("o1"), Actor::user("o1", "u2")] {
            let change = AuditedChange::new(actor, activity(), now);
            let transaction = change.into_transaction(Duration::days(1)).unwrap();
            assert_eq!(transaction.len(), 1, "only the entry");
            assert!(transaction.labels().is_empty());
        }
        assert_eq!(
            AuditedChange::new(Actor::system("o1"), activity(), now)
                .activity_entry()
                .actor_id,
            SYSTEM_ACTOR
        );
    }

    #[test]
    fn failures_map_by_label() {
        let denied = ChangeError::from(StoreError::ConditionFailed {
            failed: vec!["seat".into(), ACTOR_CHECK.into()],
        });
        assert!(denied.actor_not_allowed() && denied.rejected("seat"));
        assert_eq!(problem::Problem::from(denied).status, 403);
        let seat = ChangeError::from(StoreError::ConditionFailed {
            failed: vec!["seat".into()],
        });
        assert!(seat.rejected("seat") && !seat.rejected("guard"));
        assert!(matches!(
            ChangeError::from(StoreError::TransactionConflict),
            ChangeError::Conflict
        ));
        assert_eq!(problem::Problem::from(ChangeError::Conflict).status, 503);
        assert_eq!(problem::Problem::from(seat).status, 409);
    }
}
