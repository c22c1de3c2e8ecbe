//! The store against DynamoDB Local: conditions, transactions, batch reads, paging.

use serde::{Deserialize, Serialize};
use store::keys::OrgId;
use store::{Condition, Query, Store, StoreError, Transaction, Update, keys};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    id: String,
    text: String,
}

async fn store() -> Store {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    Store::new(client, table)
}

fn note(org: &str, id: &str, text: &str) -> store::Item {
    // Activity keys stand in for any tenant-owned, ULID-sorted item.
    store::item(
        &keys::activity(OrgId(org), id),
        "note",
        &Note {
            id: id.into(),
            text: text.into(),
        },
    )
    .unwrap()
}

#[tokio::test]
async fn put_get_and_conditions() {
    let store = store().await;
    let key = keys::activity(OrgId("o1"), "a");
    store
        .put(note("o1", "a", "first"), Condition::NotExists)
        .await
        .unwrap();
    let err = store
        .put(note("o1", "a", "second"), Condition::NotExists)
        .await
        .unwrap_err();
    assert!(err.is_condition_failed(), "{err:?}");
    assert_eq!(
        store.get::<Note>(&key).await.unwrap().unwrap().text,
        "first"
    );
    assert_eq!(
        store
            .get::<Note>(&keys::activity(OrgId("o1"), "missing"))
            .await
            .unwrap(),
        None
    );

    let updated: Note = store
        .update(
            Update::new(key.clone())
                .set("text", &"edited")
                .require_exists(),
        )
        .await
        .unwrap();
    assert_eq!(updated.text, "edited");
    let err = store
        .update::<Note>(
            Update::new(keys::activity(OrgId("o1"), "nope"))
                .set("text", &"x")
                .require_exists(),
        )
        .await
        .unwrap_err();
    assert!(err.is_condition_failed());
    // The failed conditional update did not create the item.
    assert_eq!(
        store
            .get::<Note>(&keys::activity(OrgId("o1"), "nope"))
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn a_transaction_is_all_or_nothing_and_names_the_failed_action() {
    let store = store().await;
    store
        .put(note("o1", "taken", "x"), Condition::Always)
        .await
        .unwrap();
    let transaction = Transaction::new()
        .put(note("o1", "new-1", "x"), Condition::NotExists)
        .label("first")
        .put(note("o1", "taken", "y"), Condition::NotExists)
        .label("taken")
        .put(note("o1", "new-2", "x"), Condition::NotExists);
    match store.transact(transaction).await {
        Err(StoreError::ConditionFailed { failed }) if failed == ["taken"] => {}
        other => panic!("expected the second action to fail, got {other:?}"),
    }
    for id in ["new-1", "new-2"] {
        assert_eq!(
            store
                .get::<Note>(&keys::activity(OrgId("o1"), id))
                .await
                .unwrap(),
            None,
            "{id} was written"
        );
    }
    assert_eq!(
        store
            .get::<Note>(&keys::activity(OrgId("o1"), "taken"))
            .await
            .unwrap()
            .unwrap()
            .text,
        "x"
    );

    let check = Transaction::new()
        .check(keys::activity(OrgId("o1"), "taken"), Condition::Exists)
        .put(note("o1", "new-3", "x"), Condition::NotExists);
    store.transact(check).await.unwrap();
    assert!(
        store
            .get::<Note>(&keys::activity(OrgId("o1"), "new-3"))
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn batch_get_answers_in_key_order_with_gaps() {
    let store = store().await;
    store
        .put(note("o1", "a", "A"), Condition::Always)
        .await
        .unwrap();
    store
        .put(note("o2", "b", "B"), Condition::Always)
        .await
        .unwrap();
    let found = store
        .batch_get(&[
            keys::activity(OrgId("o2"), "b"),
            keys::activity(OrgId("o1"), "missing"),
            keys::activity(OrgId("o1"), "a"),
        ])
        .await
        .unwrap();
    let texts: Vec<_> = found
        .into_iter()
        .map(|i| i.map(|i| store::from_item::<Note>(i).unwrap().text))
        .collect();
    assert_eq!(texts, vec![Some("B".into()), None, Some("A".into())]);
    assert!(store.batch_get(&[]).await.unwrap().is_empty());
}

#[tokio::test]
async fn queries_page_through_one_partition_and_refuse_foreign_cursors() {
    let store = store().await;
    for i in 0..5 {
        store
            .put(note("o1", &format!("{i:02}"), "mine"), Condition::Always)
            .await
            .unwrap();
    }
    store
        .put(note("o2", "00", "theirs"), Condition::Always)
        .await
        .unwrap();
    store
        .put(
            store::item(
                &keys::org_profile(OrgId("o1")),
                "org",
                &Note {
                    id: "p".into(),
                    text: "profile".into(),
                },
            )
            .unwrap(),
            Condition::Always,
        )
        .await
        .unwrap();

    fn query(cursor: Option<&str>) -> Query<'_> {
        Query {
            name: "notes",
            partition: keys::activities(OrgId("o1")),
            limit: 2,
            cursor,
            newest_first: true,
            sort_range: None,
            filter: None,
            index: None,
        }
    }
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut cursor: Option<String> = None;
    loop {
        pages += 1;
        let page = store.query::<Note>(query(cursor.as_deref())).await.unwrap();
        seen.extend(page.items.into_iter().map(|n| n.id));
        let Some(next) = page.next_cursor else { break };
        cursor = Some(next);
    }
    // Newest first, only this partition's notes, not its profile.
    assert_eq!(seen, ["04", "03", "02", "01", "00"]);
    assert_eq!(pages, 3, "the last page says it is the last");

    let first = store.query::<Note>(query(None)).await.unwrap();
    let cursor = first.next_cursor.unwrap();
    let foreign = Query {
        name: "notes",
        partition: keys::activities(OrgId("o2")),
        limit: 2,
        cursor: Some(&cursor),
        newest_first: true,
        sort_range: None,
        filter: None,
        index: None,
    };
    assert!(matches!(
        store.query::<Note>(foreign).await,
        Err(StoreError::InvalidCursor)
    ));
    let other_list = Query {
        name: "members",
        partition: keys::activities(OrgId("o1")),
        limit: 2,
        cursor: Some(&cursor),
        newest_first: true,
        sort_range: None,
        filter: None,
        index: None,
    };
    assert!(matches!(
        store.query::<Note>(other_list).await,
        Err(StoreError::InvalidCursor)
    ));
}

#[tokio::test]
async fn round_trips_are_counted() {
    let store = store().await;
    let before = store.round_trips();
    store
        .get::<Note>(&keys::activity(OrgId("o1"), "x"))
        .await
        .unwrap();
    store
        .batch_get(&[
            keys::activity(OrgId("o1"), "x"),
            keys::activity(OrgId("o1"), "y"),
        ])
        .await
        .unwrap();
    assert_eq!(store.round_trips() - before, 2);
}

#[tokio::test]
async fn filtered_and_ranged_queries_and_counters() {
    let store = store().await;
    for i in 0..12 {
        let text = if i % 4 == 0 { "keep" } else { "skip" };
        store
            .put(note("o1", &format!("{i:02}"), text), Condition::Always)
            .await
            .unwrap();
    }
    let filter = || store::Filter {
        expression: "#text = :keep".into(),
        names: [("#text".to_owned(), "text".to_owned())].into(),
        values: [(
            ":keep".to_owned(),
            store::aws_sdk_dynamodb::types::AttributeValue::S("keep".into()),
        )]
        .into(),
    };
    let mut query = Query::new("kept", keys::activities(OrgId("o1")), 2, None);
    query.filter = Some(filter());
    let page = store.query::<Note>(query).await.unwrap();
    assert_eq!(
        page.items.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["00", "04"]
    );
    let cursor = page.next_cursor.unwrap();
    let mut query = Query::new("kept", keys::activities(OrgId("o1")), 2, Some(&cursor));
    query.filter = Some(filter());
    let page = store.query::<Note>(query).await.unwrap();
    assert_eq!(
        page.items.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["08"]
    );
    assert!(page.next_cursor.is_none());

    let mut ranged = Query::new("window", keys::activities(OrgId("o1")), 100, None);
    ranged.sort_range = Some(keys::activity_window("03", "05"));
    let page = store.query::<Note>(ranged).await.unwrap();
    assert_eq!(
        page.items.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["03", "04", "05"]
    );

    // A filter may not reuse the key condition's placeholders.
    let mut sneaky = Query::new("kept", keys::activities(OrgId("o1")), 2, None);
    sneaky.filter = Some(store::Filter {
        expression: "#pk = :pk".into(),
        values: [(
            ":pk".to_owned(),
            store::aws_sdk_dynamodb::types::AttributeValue::S("ORG#o2".into()),
        )]
        .into(),
        ..Default::default()
    });
    assert!(store.query::<Note>(sneaky).await.is_err());

    store
        .put(note("o1", "counter", "c"), Condition::Always)
        .await
        .unwrap();
    let key = keys::activity(OrgId("o1"), "counter");
    let bump = || Update::new(key.clone()).add("hits", 1).require_exists();
    store.update::<serde_json::Value>(bump()).await.unwrap();
    let after: serde_json::Value = store.update(bump()).await.unwrap();
    assert_eq!(after["hits"], 2);
}

#[tokio::test]
async fn sparse_index_lookups_and_removed_attributes() {
    let store = store().await;
    let item = store::with_index(
        note("o1", "invite", "pending"),
        store::Index::Gsi1,
        "TOKEN#abc",
        "INVITE",
    );
    store.put(item, Condition::NotExists).await.unwrap();
    let found: Vec<Note> = store
        .find_in_index(store::Index::Gsi1, "TOKEN#abc", 10)
        .await
        .unwrap();
    assert_eq!(
        found.iter().map(|n| n.id.as_str()).collect::<Vec<_>>(),
        ["invite"]
    );
    assert!(
        store
            .find_in_index::<Note>(store::Index::Gsi1, "TOKEN#other", 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Removing the index key takes the item out of the index: the token "dies".
    let update = Update::new(keys::activity(OrgId("o1"), "invite"))
        .set("text", &"revoked")
        .remove(keys::GSI1_PK)
        .remove(keys::GSI1_SK)
        .require_exists();
    let after: serde_json::Value = store.update(update).await.unwrap();
    assert_eq!(after["text"], "revoked");
    assert!(after.get("GSI1PK").is_none());
    assert!(
        store
            .find_in_index::<Note>(store::Index::Gsi1, "TOKEN#abc", 10)
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_once_marker_makes_its_transaction_happen_once() {
    let store = store().await;
    let org = OrgId("o1");
    let attempt = |text: &'static str| {
        let marker = store::OnceMarker::new(
            &keys::event_id_marker(org, "e1"),
            &serde_json::json!({ "first": text }),
            Some(4_000_000_000),
        )
        .unwrap();
        marker.put_into(
            Transaction::new().put(note("o1", text, text), Condition::NotExists),
            "e1",
        )
    };
    store.transact(attempt("first")).await.unwrap();
    let again = store.transact(attempt("second")).await.unwrap_err();
    assert!(again.failed("e1"), "{again:?}");
    assert_eq!(
        store
            .get::<Note>(&keys::activity(org, "second"))
            .await
            .unwrap(),
        None,
        "the second change was not made"
    );
}

#[tokio::test]
async fn an_idempotent_request_replays_its_first_answer_and_refuses_another_body() {
    let store = store().await;
    let scope = store::ReplayScope {
        org: Some(OrgId("o1")),
        caller: keys::UserId("u1"),
    };
    let now = 1_800_000_000;
    let change = |request: &store::IdempotentRequest, id: &str| {
        request
            .record(
                Transaction::new().put(note("o1", id, id), Condition::NotExists),
                &serde_json::json!({ "id": id }),
            )
            .unwrap()
    };
    let first = store::IdempotentRequest::new(scope, "key-1", "create", b"body", now);
    store.transact(change(&first, "n1")).await.unwrap();

    let retry = store::IdempotentRequest::new(scope, "key-1", "create", b"body", now + 60);
    let error = store.transact(change(&retry, "n2")).await.unwrap_err();
    assert!(store::IdempotentRequest::was_used(&error));
    let replayed: serde_json::Value = retry.replay(&store).await.unwrap();
    assert_eq!(replayed, serde_json::json!({ "id": "n1" }));
    assert_eq!(
        store
            .get::<Note>(&keys::activity(OrgId("o1"), "n2"))
            .await
            .unwrap(),
        None
    );

    for other in [
        store::IdempotentRequest::new(scope, "key-1", "create", b"other body", now),
        store::IdempotentRequest::new(scope, "key-1", "invite", b"body", now),
        // Past the window but not yet deleted by TTL.
        store::IdempotentRequest::new(scope, "key-1", "create", b"body", now + 90_000),
    ] {
        assert!(matches!(
            other.replay::<serde_json::Value>(&store).await,
            Err(store::ReplayError::KeyReused)
        ));
    }
}

#[tokio::test]
async fn fresh_tables_have_the_templates_stream_of_both_images() {
    let client = test_support::dynamodb_client();
    let table = test_support::fresh_table(&client).await;
    let described = client
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let table = described.table().unwrap();
    let spec = table.stream_specification().expect("a stream");
    assert!(spec.stream_enabled());
    assert_eq!(
        spec.stream_view_type(),
        Some(&store::aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
    );
    assert!(table.latest_stream_arn().is_some());
}
