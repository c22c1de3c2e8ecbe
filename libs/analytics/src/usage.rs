//! Billing usage per organization and calendar month (UTC), as billing reads it: messages and API
//! calls summed, storage as the latest snapshot. Only events tracked with an org API key count.

use store::{Query, Store, StoreError, keys};

use crate::metrics::OrgDay;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MonthlyUsage {
    pub messages: u64,
    pub api_calls: u64,
    /// The latest `storage.snapshot` of the month (0 without one).
    pub storage_bytes: u64,
}

/// The usage of `org_id` in the month `year`-`month` (1–12): one Query of at most 31 daily items.
pub async fn monthly_usage(
    store: &Store,
    org_id: &str,
    year: i32,
    month: u8,
) -> Result<MonthlyUsage, StoreError> {
    let first = format!("{year:04}-{month:02}-01");
    let last = format!("{year:04}-{month:02}-31");
    usage_of_days(store, org_id, &first, &last).await
}

/// The usage of `org_id` from `first` to `last` (UTC days, both inclusive; at most 31 days, as a
/// billing period anchored on the subscription's day of the month is): one Query.
pub async fn usage_between(
    store: &Store,
    org_id: &str,
    first: time::Date,
    last: time::Date,
) -> Result<MonthlyUsage, StoreError> {
    let day = |d: time::Date| format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day());
    usage_of_days(store, org_id, &day(first), &day(last)).await
}

async fn usage_of_days(
    store: &Store,
    org_id: &str,
    first: &str,
    last: &str,
) -> Result<MonthlyUsage, StoreError> {
    let mut query = Query::new("usage", keys::org_days(keys::OrgId(org_id)), 100, None);
    query.sort_range = Some(keys::org_day_window(first, last));
    let (items, _) = store.query_all::<crate::metrics::Fields>(query, 1).await?;
    let mut usage = MonthlyUsage::default();
    let mut latest: Option<(i64, u64)> = None;
    for day in items.iter().map(OrgDay::read) {
        usage.messages += day.billable_messages;
        usage.api_calls += day.billable_api_calls;
        if let Some(snapshot) = day.storage
            && latest.is_none_or(|(at, _)| at <= snapshot.0)
        {
            latest = Some(snapshot);
        }
    }
    usage.storage_bytes = latest.map_or(0, |(_, bytes)| bytes);
    Ok(usage)
}
