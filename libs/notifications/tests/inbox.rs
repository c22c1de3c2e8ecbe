//! The inbox against DynamoDB Local: the unread count is exact under any interleaving of
//! inserts, mark-read, mark-all-read and deletes, never negative, and agrees with the lists.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use clock::Clock;
use notifications::{Delivered, Inbox, InboxError, NewNotification, Status, notification_id};
use notify::{NotificationType, Severity};
use store::Store;

async fn inbox() -> Inbox {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    Inbox::new(Store::new(client, table), Clock::system())
}

/// A notification of `request`, sent `at_second` seconds into the test's day.
fn new(request: &str, user: &str, kind: NotificationType, at_second: i64) -> NewNotification {
    let requested_at =
        time::macros::datetime!(2026-12-02 10:00 UTC) + time::Duration::seconds(at_second);
    NewNotification {
        id: notification_id(request, user, requested_at),
        kind,
        severity: Severity::Info,
        title: format!("Notice {request}"),
        body: "Something happened.".into(),
        data: serde_json::json!({ "request": request }),
        request_id: request.into(),
    }
}

async fn all(
    inbox: &Inbox,
    org: &str,
    user: &str,
    status: Status,
) -> Vec<notifications::Notification> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = inbox
            .list(org, user, status, None, 100, cursor.as_deref())
            .await
            .unwrap();
        items.extend(page.items);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return items,
        }
    }
}

#[tokio::test]
async fn reads_deletes_and_read_all_keep_the_count_and_lists_in_step() {
    let inbox = inbox().await;
    let (org, ann) = ("01JORGNOTIF", "ann#1");
    let mut ids = Vec::new();
    for (i, kind) in [
        NotificationType::Billing,
        NotificationType::Team,
        NotificationType::Team,
    ]
    .into_iter()
    .enumerate()
    {
        let n = new(&format!("r{i}"), ann, kind, i as i64);
        ids.push(n.id.clone());
        assert!(matches!(
            inbox.deliver(org, ann, n).await.unwrap(),
            Delivered::Stored { .. }
        ));
    }
    // The same request again stores nothing.
    assert_eq!(
        inbox
            .deliver(org, ann, new("r0", ann, NotificationType::Billing, 0))
            .await
            .unwrap(),
        Delivered::Duplicate
    );
    let count = inbox.unread_count(org, ann).await.unwrap();
    assert_eq!((count.count, count.version), (3, 3));
    // A user whose id is a prefix of ann's sees nothing of hers.
    assert!(all(&inbox, org, "ann", Status::All).await.is_empty());
    assert!(matches!(
        inbox.mark_read(org, "ann", &ids[0]).await,
        Err(InboxError::NotFound)
    ));
    assert!(matches!(
        inbox.mark_read(org, ann, "not-an-id").await,
        Err(InboxError::NotFound)
    ));

    let read = inbox.mark_read(org, ann, &ids[1]).await.unwrap();
    assert!(read.read_at.is_some());
    let again = inbox.mark_read(org, ann, &ids[1]).await.unwrap();
    assert_eq!(again.read_at, read.read_at, "idempotent");
    assert_eq!(inbox.unread_count(org, ann).await.unwrap().count, 2);
    let unread: Vec<_> = all(&inbox, org, ann, Status::Unread)
        .await
        .into_iter()
        .map(|n| n.id)
        .collect();
    assert_eq!(unread, vec![ids[2].clone(), ids[0].clone()], "newest first");
    let team = inbox
        .list(
            org,
            ann,
            Status::Unread,
            Some(NotificationType::Team),
            20,
            None,
        )
        .await
        .unwrap();
    assert_eq!(team.items.len(), 1);

    // A page of the unread list, then a mark-all-read elsewhere: the next page is simply empty.
    let first = inbox
        .list(org, ann, Status::Unread, None, 1, None)
        .await
        .unwrap();
    let cursor = first.next_cursor.expect("a second page");
    let before = inbox.unread_count(org, ann).await.unwrap();
    let read_all = inbox.mark_all_read(org, ann).await.unwrap();
    assert_eq!(read_all.updated, 2);
    let next = inbox
        .list(org, ann, Status::Unread, None, 1, Some(&cursor))
        .await
        .unwrap();
    assert!(
        next.items.is_empty() && next.next_cursor.is_none(),
        "{:?}",
        next.items
    );
    assert!(inbox.unread_count(org, ann).await.unwrap().version > before.version);
    assert_eq!(inbox.mark_all_read(org, ann).await.unwrap().updated, 0);
    let count = inbox.unread_count(org, ann).await.unwrap();
    assert_eq!(count.count, 0);
    assert!(all(&inbox, org, ann, Status::Unread).await.is_empty());
    let read = all(&inbox, org, ann, Status::Read).await;
    assert_eq!(read.len(), 3);
    assert!(
        read.iter().all(|n| n.read_at.is_some()),
        "covered ones show the read-all time"
    );
    // Marking or deleting one the watermark covers changes no count.
    inbox.mark_read(org, ann, &ids[0]).await.unwrap();
    inbox.delete(org, ann, &ids[2]).await.unwrap();
    assert_eq!(inbox.unread_count(org, ann).await.unwrap().count, 0);
    assert!(matches!(
        inbox.delete(org, ann, &ids[2]).await,
        Err(InboxError::NotFound)
    ));
    // A redelivery of a deleted one does not bring it back.
    assert_eq!(
        inbox
            .deliver(org, ann, new("r2", ann, NotificationType::Team, 2))
            .await
            .unwrap(),
        Delivered::Duplicate
    );
    // After read-all, one new unread; the covered ones get their stamp in pages.
    inbox
        .deliver(org, ann, new("r9", ann, NotificationType::System, 9))
        .await
        .unwrap();
    // What the mark-all-read's stamp record names.
    let covered = read_all.covered.unwrap();
    assert_eq!((covered.after, covered.up_to), (0, 3));
    assert_eq!(
        inbox
            .stamp_covered(org, ann, covered, 10, None)
            .await
            .unwrap(),
        (1, None),
        "ids[0] was read by hand, ids[2] deleted"
    );
    assert_eq!(
        inbox
            .stamp_covered(org, ann, covered, 10, None)
            .await
            .unwrap(),
        (0, None)
    );
    let unread = all(&inbox, org, ann, Status::Unread).await;
    assert_eq!(unread.len(), 1);
    assert_eq!(inbox.unread_count(org, ann).await.unwrap().count, 1);
}

/// A tiny deterministic generator (no dependency for a test's dice).
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) as usize) % sides
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_count_is_exact_under_any_interleaving_and_never_negative() {
    let inbox = inbox().await;
    let (org, user) = ("01JORGRACE", "racer");
    let ids = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let lowest = Arc::new(AtomicI64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    for client in 0..4u64 {
        let (inbox, ids, lowest) = (inbox.clone(), ids.clone(), lowest.clone());
        tasks.spawn(async move {
            let mut dice = Dice(client * 7919 + 1);
            for step in 0..40 {
                let pick = |dice: &mut Dice| {
                    let ids = ids.lock().unwrap();
                    (!ids.is_empty()).then(|| ids[dice.roll(ids.len())].clone())
                };
                match dice.roll(10) {
                    // Inserts most often, so there is something to read and delete.
                    0..=4 => {
                        let n = new(
                            &format!("c{client}-{step}"),
                            user,
                            NotificationType::Agent,
                            step,
                        );
                        let id = n.id.clone();
                        inbox.deliver(org, user, n).await.unwrap();
                        ids.lock().unwrap().push(id);
                    }
                    5..=6 => {
                        if let Some(id) = pick(&mut dice) {
                            match inbox.mark_read(org, user, &id).await {
                                Ok(_) | Err(InboxError::NotFound) => {}
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                    7 => {
                        let read_all = inbox.mark_all_read(org, user).await.unwrap();
                        if let Some(covered) = read_all.covered {
                            inbox
                                .stamp_covered(org, user, covered, 5, None)
                                .await
                                .unwrap();
                        }
                    }
                    _ => {
                        if let Some(id) = pick(&mut dice) {
                            match inbox.delete(org, user, &id).await {
                                Ok(()) | Err(InboxError::NotFound) => {}
                                Err(e) => panic!("{e}"),
                            }
                        }
                    }
                }
                let count = inbox.unread_count(org, user).await.unwrap().count;
                lowest.fetch_min(count, Ordering::Relaxed);
            }
        });
    }
    tasks.join_all().await;
    assert!(
        lowest.load(Ordering::Relaxed) >= 0,
        "a count read during the run was negative"
    );
    // At rest: the counter equals the notifications that are unread, read from the table.
    let everything = all(&inbox, org, user, Status::All).await;
    let unread_in_table = everything.iter().filter(|n| n.read_at.is_none()).count() as i64;
    let count = inbox.unread_count(org, user).await.unwrap();
    assert_eq!(
        count.count,
        unread_in_table,
        "{} notifications",
        everything.len()
    );
    assert_eq!(
        all(&inbox, org, user, Status::Unread).await.len() as i64,
        count.count
    );
    assert!(
        everything.len() > 20,
        "the run made notifications: {}",
        everything.len()
    );
}

#[tokio::test]
async fn preferences_default_on_and_partial_changes_keep_the_rest() {
    use notifications::preferences::{self, TYPES};
    use notifications::{ChannelsChange, PreferencesChange};
    let client = test_support::dynamodb_client();
    let store = Store::new(client.clone(), test_support::fresh_table(&client).await);
    let (org, user) = ("01JORGPREFS", "pat");
    let defaults = preferences::preferences(&store, org, user).await.unwrap();
    assert_eq!(defaults.types.len(), 6);
    assert!(
        TYPES
            .iter()
            .all(|t| defaults.allows_in_app(*t) && defaults.allows_email(*t))
    );
    let change =
        |kind: NotificationType, in_app: Option<bool>, email: Option<bool>| PreferencesChange {
            types: [(kind, ChannelsChange { in_app, email })].into(),
        };
    // Two partial changes at once: each keeps what the other set.
    let billing = change(NotificationType::Billing, None, Some(false));
    let team = change(NotificationType::Team, Some(false), None);
    let (a, b) = tokio::join!(
        preferences::update_preferences(&store, org, user, &billing),
        preferences::update_preferences(&store, org, user, &team),
    );
    a.unwrap();
    b.unwrap();
    let now = preferences::preferences(&store, org, user).await.unwrap();
    assert!(
        !now.allows_email(NotificationType::Billing)
            && now.allows_in_app(NotificationType::Billing)
    );
    assert!(!now.allows_in_app(NotificationType::Team) && now.allows_email(NotificationType::Team));
    assert!(now.allows_in_app(NotificationType::Kb));
    // The whole shape answers, with the types as the API names them.
    let json = serde_json::to_value(&now).unwrap();
    assert_eq!(
        json["types"]["billing"],
        serde_json::json!({"in_app": true, "email": false})
    );
    assert_eq!(json["types"].as_object().unwrap().len(), 6);
    let parsed: PreferencesChange =
        serde_json::from_value(serde_json::json!({"types": {"kb": {"email": false}}})).unwrap();
    assert!(parsed.types.contains_key(&NotificationType::Kb));
    assert!(
        serde_json::from_value::<PreferencesChange>(serde_json::json!({"types": {"news": {}}}))
            .is_err()
    );
    assert!(
        serde_json::from_value::<PreferencesChange>(
            serde_json::json!({"types": {"kb": {"sms": true}}})
        )
        .is_err()
    );
}

#[tokio::test]
async fn unread_notifications_past_their_retention_are_expired_and_counted_down() {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let clock = Clock::manual(time::macros::datetime!(2026-01-01 09:00 UTC));
    let inbox = Inbox::new(Store::new(client, table), clock.clone());
    let (org, user) = ("o-expiry", "ada");
    for i in 0..3 {
        let old = new(&format!("old{i}"), user, NotificationType::Agent, i);
        inbox.deliver(org, user, old).await.unwrap();
    }
    let read = new("old-read", user, NotificationType::Agent, 9);
    let read_id = read.id.clone();
    inbox.deliver(org, user, read).await.unwrap();
    inbox.mark_read(org, user, &read_id).await.unwrap();
    clock.advance(notifications::UNREAD_RETENTION + time::Duration::days(1));
    let fresh = new("fresh", user, NotificationType::Agent, 10);
    inbox.deliver(org, user, fresh).await.unwrap();
    assert_eq!(inbox.unread_count(org, user).await.unwrap().count, 4);

    // Two at a time, oldest first; the fresh one and the read one (TTL's to expire) stay.
    assert_eq!(inbox.expire_old_unread(org, user, 2).await.unwrap(), 2);
    assert_eq!(inbox.expire_old_unread(org, user, 25).await.unwrap(), 1);
    assert_eq!(inbox.expire_old_unread(org, user, 25).await.unwrap(), 0);
    assert_eq!(inbox.unread_count(org, user).await.unwrap().count, 1);
    let unread = all(&inbox, org, user, Status::Unread).await;
    assert_eq!(unread.len(), 1);
    assert_eq!(unread[0].title, "Notice fresh");
    let everything = all(&inbox, org, user, Status::All).await;
    assert_eq!(everything.len(), 2, "the fresh one and the read one");
}
