//! Side effects recorded in the change's own transaction (the outbox), against DynamoDB Local.

use super::*;

fn removal_notice() -> outbox::SideEffect {
    outbox::SideEffect::Notify {
        recipients: outbox::Recipients::Roles(vec![Role::Owner, Role::Admin]),
        notice: outbox::Notice {
            kind: notify::NotificationType::Team,
            severity: notify::Severity::Info,
            title: "Member removed".into(),
            body: "mem was removed.".into(),
            data: json!({"user_id": "mem"}),
            email_only: false,
        },
    }
}

fn activity() -> audit::Activity<'static> {
    audit::Activity {
        action: "member.removed",
        category: audit::Category::Team,
        target_type: "member",
        target_id: "mem",
        metadata: json!({}),
    }
}

async fn outbox_items(api: &Api, org: &str) -> Vec<Value> {
    let query = Query::new("t", keys::outbox(keys::OrgId(org)), 100, None);
    api.store.query::<Value>(query).await.unwrap().items
}

#[tokio::test]
async fn a_committed_change_records_its_side_effects_with_the_outbox_marker() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    let owner = api.fixtures.member(&org, "own").await;
    let change = audit::AuditedChange::new(
        audit::Actor::member_as_read(&owner),
        activity(),
        api.clock.now(),
    )
    .side_effect(removal_notice())
    .side_effect(outbox::SideEffect::CloseConnections {
        user_id: "mem".into(),
    });
    let entry_id = change.activity_entry().id.clone();
    audit::AuditLog::new(api.store.clone(), Duration::days(365))
        .commit(change)
        .await
        .unwrap();
    let items = outbox_items(&api, &org).await;
    assert_eq!(items.len(), 2, "{items:?}");
    for (index, item) in items.iter().enumerate() {
        assert_eq!(item[outbox::MARKER], outbox::MARKER_VERSION);
        assert_eq!(item["change_id"], entry_id.as_str());
        assert_eq!(item["index"], index);
        assert!(item["ttl"].is_number());
    }
    assert_eq!(items[0]["record"]["kind"], "notify");
    assert_eq!(items[1]["record"]["kind"], "close_connections");
    let stored: outbox::OutboxRecord = serde_json::from_value(items[0].clone()).unwrap();
    assert_eq!(stored.record, removal_notice());
}

#[tokio::test]
async fn a_refused_change_records_no_side_effect() {
    let api = api().await;
    let org = api.fixtures.org("own").await;
    api.fixtures.add_member(&org, "adm", Role::Admin).await;
    let stale = api.fixtures.member(&org, "adm").await;
    api.fixtures
        .set_role_meanwhile(&org, "adm", Role::Member)
        .await;
    let change = audit::AuditedChange::new(
        audit::Actor::member_as_read(&stale),
        activity(),
        api.clock.now(),
    )
    .side_effect(removal_notice());
    let refused = audit::AuditLog::new(api.store.clone(), Duration::days(365))
        .commit(change)
        .await
        .unwrap_err();
    assert!(refused.actor_not_allowed(), "{refused:?}");
    assert!(outbox_items(&api, &org).await.is_empty());
}
