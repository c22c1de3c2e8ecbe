//! The subscription facts writer against DynamoDB Local: ordered by our own version, each Stripe
//! event once, an activity entry only for a change.

use audit::{Actor, AuditLog};
use billing::writer::{self, FactsChange, Recorded, Stored};
use clock::{Clock, Duration};
use plans::{Interval, SubscriptionFacts, SubscriptionStatus};
use store::{Query, Store, keys};
use time::macros::datetime;

struct Setup {
    store: Store,
    audit: AuditLog,
    org: String,
    clock: Clock,
}

async fn setup() -> Setup {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let store = Store::new(client, table);
    let clock = Clock::manual(datetime!(2026-12-02 10:00 UTC));
    let org = test_support::fixtures::Fixtures::new(store.clone(), clock.clone())
        .org("own")
        .await;
    Setup {
        audit: AuditLog::new(store.clone(), Duration::days(365)),
        store,
        org,
        clock,
    }
}

fn facts(status: SubscriptionStatus, plan: &str) -> SubscriptionFacts {
    SubscriptionFacts {
        status,
        plan: plan.into(),
        interval: Interval::Month,
        current_period_start: datetime!(2026-12-02 10:00 UTC),
        current_period_end: datetime!(2027-01-02 10:00 UTC),
        cancel_at_period_end: false,
        pending_plan: None,
        pending_interval: None,
        past_due_since: None,
    }
}

impl Setup {
    async fn stored(&self) -> Stored {
        writer::stored(&self.store, &self.org)
            .await
            .unwrap()
            .unwrap()
    }

    async fn record(
        &self,
        stored: &Stored,
        facts: SubscriptionFacts,
        event: Option<&str>,
    ) -> Recorded {
        let actor = match event {
            Some(_) => Actor::system(&self.org),
            None => Actor::user(&self.org, "own"),
        };
        writer::record(
            &self.audit,
            FactsChange {
                org_id: &self.org,
                subscription_id: "sub_1",
                stored,
                facts,
                actor,
                event_id: event,
                now: self.clock.now(),
            },
        )
        .await
        .unwrap()
    }

    async fn billing_entries(&self) -> Vec<String> {
        let page = self
            .store
            .query::<serde_json::Value>(Query::new(
                "activity",
                keys::activities(keys::OrgId(&self.org)),
                100,
                None,
            ))
            .await
            .unwrap();
        page.items
            .into_iter()
            .filter(|e| e["category"] == "billing")
            .map(|e| e["action"].as_str().unwrap().to_owned())
            .collect()
    }
}

#[tokio::test]
async fn facts_are_written_in_version_order_and_each_event_once() {
    let s = setup().await;
    let empty = s.stored().await;
    assert_eq!((empty.facts.as_ref(), empty.version), (None, 0));

    let active = facts(SubscriptionStatus::Active, "pro");
    assert_eq!(
        s.record(&empty, active.clone(), Some("evt_1")).await,
        Recorded::Changed
    );
    let first = s.stored().await;
    assert_eq!((first.facts.as_ref(), first.version), (Some(&active), 1));
    assert_eq!(s.billing_entries().await, ["subscription.created"]);

    // The same event again, even from a stale read: processed once.
    assert_eq!(
        s.record(&empty, active.clone(), Some("evt_1")).await,
        Recorded::AlreadyProcessed
    );
    // Another event that brings nothing new: its marker only, no entry.
    assert_eq!(
        s.record(&first, active.clone(), Some("evt_2")).await,
        Recorded::Unchanged
    );
    assert_eq!(
        s.record(&first, active.clone(), Some("evt_2")).await,
        Recorded::AlreadyProcessed
    );
    assert_eq!(s.stored().await.version, 1);
    assert_eq!(s.billing_entries().await.len(), 1);

    // A writer that read before another's write loses, and changes nothing: it must re-read.
    let past_due = SubscriptionFacts {
        past_due_since: Some(s.clock.now()),
        ..facts(SubscriptionStatus::PastDue, "pro")
    };
    assert_eq!(
        s.record(&empty, past_due.clone(), Some("evt_3")).await,
        Recorded::StaleVersion
    );
    assert_eq!(s.stored().await, first, "nothing written");
    assert_eq!(
        s.record(&first, past_due.clone(), Some("evt_3")).await,
        Recorded::Changed
    );
    // An unchanged read from before that write is stale too (it would hide the change).
    assert_eq!(
        s.record(&first, active.clone(), Some("evt_4")).await,
        Recorded::StaleVersion
    );
    let second = s.stored().await;
    assert_eq!(
        (second.facts.as_ref(), second.version),
        (Some(&past_due), 2)
    );

    // The API path: no event, the member as actor.
    let canceled = facts(SubscriptionStatus::Canceled, "pro");
    assert_eq!(
        s.record(&second, canceled.clone(), None).await,
        Recorded::Changed
    );
    assert_eq!(s.stored().await.version, 3);
    let mut entries = s.billing_entries().await;
    entries.sort();
    assert_eq!(
        entries,
        [
            "subscription.created",
            "subscription.updated",
            "subscription.updated"
        ]
    );
    let profile: accounts::OrgRecord = s
        .store
        .get(&keys::org_profile(keys::OrgId(&s.org)))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        profile.effective_plan(s.clock.now()).id,
        "free",
        "the limits read the same facts"
    );
}
