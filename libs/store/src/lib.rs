//! The single-table store: a thin, typed layer over DynamoDB.
//!
//! - [`keys`] is the one module that knows the key design;
//! - records are plain serde types, converted with `serde_dynamo`;
//! - writes carry their conditions, and multi-item changes go through one [`Transaction`];
//! - lists page with opaque cursors bound to their query ([`cursor`]).

mod cursor;
pub mod keys;
mod once;
mod write;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use aws_sdk_dynamodb;
pub use keys::{Index, Key, Partition};
pub use once::{IDEMPOTENCY_WINDOW_SECS, IdempotentRequest, OnceMarker, ReplayError, ReplayScope};
pub use write::{Condition, Label, Transaction, Update, placeholder};

use cursor::CursorScope;

/// A DynamoDB item as the SDK holds it.
pub type Item = HashMap<String, AttributeValue>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A write's condition did not hold. In a transaction, `failed` holds the labels of the
    /// actions whose condition failed (see [`Transaction::label`]); empty for a single write.
    #[error("a write condition failed ({failed:?})")]
    ConditionFailed { failed: Vec<Label> },
    /// Another transaction touched the same items at the same moment; safe to retry.
    #[error("a concurrent transaction conflicted")]
    TransactionConflict,
    #[error("DynamoDB is throttling requests")]
    Throttled,
    /// DynamoDB could not be reached or did not answer in time.
    #[error("DynamoDB is unavailable: {0}")]
    Unavailable(String),
    #[error("the pagination cursor is not valid for this list")]
    InvalidCursor,
    #[error("an item does not have the expected shape: {0}")]
    Malformed(String),
    #[error("DynamoDB request failed: {0}")]
    Service(String),
    #[error("{0}")]
    Internal(String),
}

impl StoreError {
    pub fn is_condition_failed(&self) -> bool {
        matches!(self, Self::ConditionFailed { .. })
    }

    /// Whether the transaction's action labelled `label` is one whose condition failed.
    pub fn failed(&self, label: &str) -> bool {
        matches!(self, Self::ConditionFailed { failed } if failed.iter().any(|l| l == label))
    }

    fn from_sdk<E, R>(operation: &str, err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
    {
        if matches!(
            err,
            SdkError::TimeoutError(_) | SdkError::DispatchFailure(_)
        ) {
            let detail = format!("{operation}: {}", DisplayErrorContext(&err));
            tracing::error!(error = %detail, "DynamoDB unreachable");
            return Self::Unavailable(detail);
        }
        match err.code() {
            Some("ConditionalCheckFailedException") => Self::ConditionFailed { failed: Vec::new() },
            Some("TransactionConflictException") | Some("TransactionInProgressException") => {
                Self::TransactionConflict
            }
            Some("ProvisionedThroughputExceededException")
            | Some("ThrottlingException")
            | Some("RequestLimitExceeded") => Self::Throttled,
            // DynamoDB's own transient failure (the SDK retried it already): worth a retry
            // later, not a bug of ours. DynamoDB Local also answers it when a lock times out.
            Some("InternalServerError") => {
                let detail = format!("{operation}: {}", DisplayErrorContext(&err));
                tracing::warn!(error = %detail, "DynamoDB internal error");
                Self::Unavailable(detail)
            }
            _ => {
                let detail = format!("{operation}: {}", DisplayErrorContext(&err));
                tracing::error!(error = %detail, "DynamoDB request failed");
                Self::Service(detail)
            }
        }
    }
}

impl From<StoreError> for problem::Problem {
    /// How storage failures look to a client: a bad cursor is theirs (400), contention and
    /// outages are worth a retry (503), anything else is ours (500, logged where it happened).
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::InvalidCursor => {
                problem::Problem::bad_request("invalid_cursor", e.to_string())
            }
            StoreError::Throttled
            | StoreError::TransactionConflict
            | StoreError::Unavailable(_) => {
                problem::Problem::unavailable("the service is busy; retry shortly")
            }
            StoreError::ConditionFailed { .. }
            | StoreError::Malformed(_)
            | StoreError::Service(_)
            | StoreError::Internal(_) => {
                tracing::error!(error = %e, "storage failure");
                problem::Problem::internal()
            }
        }
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next_cursor: Option<String>,
}

/// A Query over one partition's items whose sort key starts with a prefix.
#[derive(Clone, Debug)]
pub struct Query<'a> {
    /// Names the list for its cursors: a cursor of one list is refused by another.
    pub name: &'a str,
    pub partition: Partition,
    pub limit: u16,
    pub cursor: Option<&'a str>,
    /// Descending sort key order (ULID sort keys: newest first).
    pub newest_first: bool,
    /// Only sort keys from `.0` to `.1` inclusive (both inside the partition's prefix).
    pub sort_range: Option<(String, String)>,
    /// Items must also match this; a page then reads up to [`MAX_FILTERED_READS`] DynamoDB pages.
    pub filter: Option<Filter>,
    /// Query this global secondary index instead of the table: `partition.pk` and the sort keys
    /// are then the index's keys. Index reads are eventually consistent.
    pub index: Option<Index>,
}

/// A filter expression with its own `#name` and `:value` placeholders.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    pub expression: String,
    pub names: HashMap<String, String>,
    pub values: Item,
}

/// A filtered list page stops after this many DynamoDB pages and hands out a cursor, so a filter
/// that matches little never turns one request into a scan of the partition.
pub const MAX_FILTERED_READS: usize = 5;
/// Calls a batch read or write makes before what DynamoDB still hands back unprocessed counts as
/// throttling.
const UNPROCESSED_ATTEMPTS: u32 = 8;
/// Items DynamoDB evaluates per read of a filtered list.
const FILTERED_READ_SIZE: i32 = 100;

impl<'a> Query<'a> {
    /// All items of `partition`, oldest first, `limit` a page.
    pub fn new(name: &'a str, partition: Partition, limit: u16, cursor: Option<&'a str>) -> Self {
        Self {
            name,
            partition,
            limit,
            cursor,
            newest_first: false,
            sort_range: None,
            filter: None,
            index: None,
        }
    }

    /// The same query over a global secondary index (eventually consistent).
    pub fn on_index(mut self, index: Index) -> Self {
        self.index = Some(index);
        self
    }

    pub fn newest_first(mut self) -> Self {
        self.newest_first = true;
        self
    }
}

/// What [`Store::read_pages`] needs of a [`Query`], owned, so reads of several partitions can
/// run at once.
#[derive(Clone)]
struct PagesRead {
    partition: Partition,
    /// DynamoDB reads allowed with a filter.
    filtered_reads: usize,
    limit: u16,
    newest_first: bool,
    sort_range: Option<(String, String)>,
    filter: Option<Filter>,
    index: Option<Index>,
}

impl PagesRead {
    fn of(query: &Query<'_>) -> Self {
        Self {
            partition: query.partition.clone(),
            filtered_reads: MAX_FILTERED_READS,
            limit: query.limit,
            newest_first: query.newest_first,
            sort_range: query.sort_range.clone(),
            filter: query.filter.clone(),
            index: query.index,
        }
    }
}

impl Query<'_> {
    /// The scope its cursors are bound to.
    fn scope(&self) -> CursorScope<'_> {
        let (partition_attr, sort_attr) = match self.index {
            Some(index) => index.key_attributes(),
            None => (keys::PK, keys::SK),
        };
        CursorScope {
            query_name: self.name,
            partition_attr,
            partition_value: &self.partition.pk,
            sort_attr,
            // An index's page ends at an item whose table key comes along in the cursor.
            table_key_attrs: match self.index {
                Some(_) => &[keys::PK, keys::SK],
                None => &[],
            },
            sort_prefix: &self.partition.sk_prefix,
            sort_range: self
                .sort_range
                .as_ref()
                .map(|(a, b)| (a.as_str(), b.as_str())),
        }
    }
}

/// The table sort key of an item or key.
fn sort_key_of(item: &Item) -> Result<String, StoreError> {
    match item.get(keys::SK) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Malformed(format!(
            "item without string {}",
            keys::SK
        ))),
    }
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    table: Arc<str>,
    round_trips: Arc<AtomicU64>,
}

impl Store {
    pub fn new(client: Client, table: impl Into<Arc<str>>) -> Self {
        Self {
            client,
            table: table.into(),
            round_trips: Arc::default(),
        }
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// Requests sent to DynamoDB by this store so far (retries by the SDK not included).
    pub fn round_trips(&self) -> u64 {
        self.round_trips.load(Ordering::Relaxed)
    }

    fn count_round_trip(&self) {
        self.round_trips.fetch_add(1, Ordering::Relaxed);
    }

    /// A strongly consistent read of one item.
    pub async fn get<T: DeserializeOwned>(&self, key: &Key) -> Result<Option<T>, StoreError> {
        self.count_round_trip();
        let output = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("GetItem", e))?;
        output.item.map(from_item).transpose()
    }

    /// Strongly consistent reads of up to 100 items in one round trip (more only when DynamoDB
    /// hands back unprocessed keys). The answer lines up with `keys`; a missing item is `None`.
    pub async fn batch_get(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        if keys.len() > 100 {
            return Err(StoreError::Internal(
                "BatchGetItem takes at most 100 keys".into(),
            ));
        }
        let mut found: HashMap<Key, Item> = HashMap::new();
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys.iter().map(key_attributes).collect()))
            .consistent_read(true)
            .build()
            .map_err(|e| StoreError::Internal(e.to_string()))?;
        for attempt in 0..UNPROCESSED_ATTEMPTS {
            self.count_round_trip();
            let output = self
                .client
                .batch_get_item()
                .request_items(&*self.table, pending)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("BatchGetItem", e))?;
            for item in output
                .responses
                .unwrap_or_default()
                .remove(&*self.table)
                .unwrap_or_default()
            {
                found.insert(key_of(&item)?, item);
            }
            match output
                .unprocessed_keys
                .and_then(|mut u| u.remove(&*self.table))
            {
                Some(rest) if !rest.keys.is_empty() => {
                    pending = rest;
                    backoff(attempt).await;
                }
                _ => return Ok(keys.iter().map(|k| found.remove(k)).collect()),
            }
        }
        Err(StoreError::Throttled)
    }

    /// One page of a Query, decoded into `T`. It reads one item more than asked for, so the last
    /// page says so (`next_cursor: None`) instead of handing out a cursor to an empty page.
    pub async fn query<T: DeserializeOwned>(
        &self,
        query: Query<'_>,
    ) -> Result<Page<T>, StoreError> {
        let scope = query.scope();
        let start = query.cursor.map(|c| scope.decode(c)).transpose()?;
        let limit = usize::from(query.limit.clamp(1, 1000));
        let (mut items, last_key) = self
            .read_pages(PagesRead::of(&query), start, query.cursor.is_some())
            .await?;
        let next_cursor = if items.len() > limit {
            items.truncate(limit);
            let last = items.last().expect("limit is at least 1");
            Some(scope.encode(&scope.start_key_of(last)?)?)
        } else {
            // DynamoDB stopped early (its 1 MB page, or the filtered-read budget): more to read.
            match last_key {
                Some(last) => Some(scope.encode(&last)?),
                None => None,
            }
        };
        let items = items.into_iter().map(from_item).collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// One page of a list whose items are spread over several partitions under the same kind of
    /// sort keys (write-sharded items): `query.partition` and every one of `more` are read at once
    /// from the same position, and their items merged in sort-key order. The cursor is bound to
    /// `query` as for [`Store::query`] and holds the position: the sort key up to which every
    /// partition has been read. A partition that stopped early (a filtered read's budget) holds
    /// the page back to where it stopped, so nothing is skipped. A filter's budget of
    /// [`MAX_FILTERED_READS`] is shared by the partitions (rounded up). Table queries only.
    pub async fn query_merged<T: DeserializeOwned>(
        &self,
        query: Query<'_>,
        more: &[Partition],
    ) -> Result<Page<T>, StoreError> {
        if query.index.is_some() {
            return Err(StoreError::Internal(
                "merged queries read the table, not an index".into(),
            ));
        }
        let scope = query.scope();
        let position = match query.cursor {
            Some(cursor) => Some(sort_key_of(&scope.decode(cursor)?)?),
            None => None,
        };
        let limit = usize::from(query.limit.clamp(1, 1000));
        // A filtered page's read budget is shared by the partitions (rounded up).
        let read = PagesRead {
            filtered_reads: MAX_FILTERED_READS.div_ceil(1 + more.len()),
            ..PagesRead::of(&query)
        };
        let mut reads = tokio::task::JoinSet::new();
        for partition in std::iter::once(&query.partition).chain(more) {
            let (store, read) = (
                self.clone(),
                PagesRead {
                    partition: partition.clone(),
                    ..read.clone()
                },
            );
            let start = position.as_ref().map(|sk| {
                key_attributes(&Key {
                    pk: partition.pk.clone(),
                    sk: sk.clone(),
                })
            });
            let has_cursor = query.cursor.is_some();
            reads.spawn(async move { store.read_pages(read, start, has_cursor).await });
        }
        // Every item read, and how far each partition that has more was read.
        let (mut items, mut reached): (Vec<(String, Item)>, Vec<String>) = (Vec::new(), Vec::new());
        while let Some(done) = reads.join_next().await {
            let (page, last_key) = done.map_err(|e| StoreError::Internal(e.to_string()))??;
            // A partition with more to read has been read up to its last item (when it filled a
            // page) or to where DynamoDB stopped.
            let full = page.len() > limit;
            let mut last_sort_key = None;
            for item in page {
                let sort_key = sort_key_of(&item)?;
                last_sort_key = Some(sort_key.clone());
                items.push((sort_key, item));
            }
            match (full, last_key) {
                (true, _) => reached.extend(last_sort_key),
                (false, Some(key)) => reached.push(sort_key_of(&key)?),
                (false, None) => {}
            }
        }
        // What every partition has been read up to: the nearest of their stopping points.
        let frontier = match query.newest_first {
            true => reached.into_iter().max(),
            false => reached.into_iter().min(),
        };
        let read_to = |sort_key: &String| match (&frontier, query.newest_first) {
            (None, _) => true,
            (Some(f), true) => sort_key >= f,
            (Some(f), false) => sort_key <= f,
        };
        items.retain(|(sort_key, _)| read_to(sort_key));
        items.sort_by(|a, b| match query.newest_first {
            true => b.0.cmp(&a.0),
            false => a.0.cmp(&b.0),
        });
        let next_position = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|(sort_key, _)| sort_key.clone())
        } else {
            frontier
        };
        let next_cursor = match next_position {
            Some(sort_key) => Some(scope.encode(&key_attributes(&Key {
                pk: query.partition.pk.clone(),
                sk: sort_key,
            }))?),
            None => None,
        };
        let items = items
            .into_iter()
            .map(|(_, item)| from_item(item))
            .collect::<Result<_, _>>()?;
        Ok(Page { items, next_cursor })
    }

    /// Reads a query's pages from `start`: up to `limit + 1` items (one DynamoDB read, or up to
    /// [`MAX_FILTERED_READS`] with a filter), and the key DynamoDB stopped at when it stopped early.
    async fn read_pages(
        &self,
        query: PagesRead,
        mut start: Option<Item>,
        has_cursor: bool,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let (partition_attr, sort_attr) = match query.index {
            Some(index) => index.key_attributes(),
            None => (keys::PK, keys::SK),
        };
        let limit = usize::from(query.limit.clamp(1, 1000));
        let mut items: Vec<Item> = Vec::new();
        let reads = if query.filter.is_some() {
            query.filtered_reads
        } else {
            1
        };
        let mut last_key = None;
        for _ in 0..reads {
            self.count_round_trip();
            let mut request = self
                .client
                .query()
                .table_name(&*self.table)
                .set_index_name(query.index.map(|i| i.name().to_owned()))
                .expression_attribute_names("#pk", partition_attr)
                .expression_attribute_values(":pk", AttributeValue::S(query.partition.pk.clone()))
                .scan_index_forward(!query.newest_first)
                // One item more than asked for tells whether this is the last page.
                .limit(
                    i32::try_from(limit + 1 - items.len())
                        .unwrap_or(i32::MAX)
                        .max(1),
                )
                // Indexes only offer eventually consistent reads.
                .consistent_read(query.index.is_none())
                .set_exclusive_start_key(start.take());
            // DynamoDB refuses names no expression uses: `#sk` only with a sort key condition.
            let whole_partition =
                query.sort_range.is_none() && query.partition.sk_prefix.is_empty();
            if !whole_partition {
                request = request.expression_attribute_names("#sk", sort_attr);
            }
            request = match &query.sort_range {
                Some((from, to)) => request
                    .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                    .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                    .expression_attribute_values(":to", AttributeValue::S(to.clone())),
                // A whole index partition: DynamoDB refuses `begins_with` with an empty prefix.
                None if whole_partition => request.key_condition_expression("#pk = :pk"),
                None => request
                    .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                    .expression_attribute_values(
                        ":prefix",
                        AttributeValue::S(query.partition.sk_prefix.clone()),
                    ),
            };
            if let Some(filter) = &query.filter {
                // The key condition's placeholders are reserved: a filter reusing one would
                // quietly query something else.
                const RESERVED: [&str; 6] = ["#pk", "#sk", ":pk", ":prefix", ":from", ":to"];
                if let Some(taken) = filter
                    .names
                    .keys()
                    .chain(filter.values.keys())
                    .find(|p| RESERVED.contains(&p.as_str()))
                {
                    return Err(StoreError::Internal(format!(
                        "filter placeholder {taken} is reserved"
                    )));
                }
                let mut names = filter.names.clone();
                names.insert("#pk".into(), partition_attr.into());
                if !whole_partition {
                    names.insert("#sk".into(), sort_attr.into());
                }
                request = request
                    .filter_expression(&filter.expression)
                    .set_expression_attribute_names(Some(names))
                    // Read more than a page per request, so a selective filter still fills it.
                    .limit(FILTERED_READ_SIZE);
                for (name, value) in &filter.values {
                    request = request.expression_attribute_values(name, value.clone());
                }
            }
            let output =
                request
                    .send()
                    .await
                    .map_err(|e| match StoreError::from_sdk("Query", e) {
                        // Belt and braces: a start key DynamoDB refuses is the cursor's fault.
                        StoreError::Service(detail)
                            if has_cursor
                                && detail.contains("ValidationException")
                                && detail.to_ascii_lowercase().contains("start") =>
                        {
                            StoreError::InvalidCursor
                        }
                        other => other,
                    })?;
            items.extend(output.items.unwrap_or_default());
            last_key = output.last_evaluated_key.filter(|k| !k.is_empty());
            if items.len() > limit || last_key.is_none() {
                break;
            }
            start = last_key.clone();
        }
        Ok((items, last_key))
    }

    /// Every item of a query, page after page, up to `max_pages` pages (of `query.limit` items).
    /// Answers the items and whether the query was read to its end.
    pub async fn query_all<T: DeserializeOwned>(
        &self,
        query: Query<'_>,
        max_pages: usize,
    ) -> Result<(Vec<T>, bool), StoreError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        for _ in 0..max_pages {
            let page = self
                .query::<T>(Query {
                    cursor: cursor.as_deref(),
                    ..query.clone()
                })
                .await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => return Ok((items, true)),
            }
        }
        Ok((items, false))
    }

    /// The few items of an index partition (at most `limit`), for lookups such as a token hash.
    /// Index reads are eventually consistent: what they find must be re-checked by the
    /// conditional write that acts on it.
    pub async fn find_in_index<T: DeserializeOwned>(
        &self,
        index: Index,
        partition: &str,
        limit: u16,
    ) -> Result<Vec<T>, StoreError> {
        let (pk, _) = index.key_attributes();
        self.count_round_trip();
        let output = self
            .client
            .query()
            .table_name(&*self.table)
            .index_name(index.name())
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk)
            .expression_attribute_values(":pk", AttributeValue::S(partition.to_owned()))
            .limit(i32::from(limit.clamp(1, 100)))
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("Query", e))?;
        output
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Writes one item, if its condition holds.
    pub async fn put(&self, item: Item, condition: Condition) -> Result<(), StoreError> {
        self.count_round_trip();
        let (expression, names, values) = condition.into_parts();
        self.client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("PutItem", e))?;
        Ok(())
    }

    /// Deletes one item, if its condition holds (deleting a missing item with
    /// [`Condition::Always`] succeeds).
    pub async fn delete(&self, key: &Key, condition: Condition) -> Result<(), StoreError> {
        self.count_round_trip();
        let (expression, names, values) = condition.into_parts();
        self.client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key_attributes(key)))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("DeleteItem", e))?;
        Ok(())
    }

    /// The UpdateItem request of `update`, counted as a round trip.
    fn update_request(
        &self,
        update: Update,
    ) -> Result<
        aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
        StoreError,
    > {
        self.count_round_trip();
        let parts = update.into_parts()?;
        Ok(self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(parts.key))
            .update_expression(parts.expression)
            .set_condition_expression(parts.condition)
            .set_expression_attribute_names(Some(parts.names))
            .set_expression_attribute_values(Some(parts.values)))
    }

    /// Applies an update and returns the item as it is afterwards.
    pub async fn update<T: DeserializeOwned>(&self, update: Update) -> Result<T, StoreError> {
        let output = self
            .update_request(update)?
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| StoreError::from_sdk("UpdateItem", e))?;
        from_item(output.attributes.unwrap_or_default())
    }

    /// Applies an update if its condition holds: `Some(write units)` when it did (DynamoDB's
    /// consumed capacity), `None` when the condition did not hold. For writers that decide again
    /// from a fresh read instead of failing (the aggregator's counters).
    pub async fn update_if(&self, update: Update) -> Result<Option<f64>, StoreError> {
        let output = self
            .update_request(update)?
            .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
            .send()
            .await;
        match output {
            Ok(output) => Ok(Some(
                output
                    .consumed_capacity()
                    .and_then(|c| c.capacity_units())
                    .unwrap_or(0.0),
            )),
            Err(error) => match StoreError::from_sdk("UpdateItem", error) {
                StoreError::ConditionFailed { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    /// Puts every item without a condition (each replaces whatever is at its key), 25 to a
    /// `BatchWriteItem` call, up to `at_once` calls at a time, retrying what DynamoDB hands back
    /// unprocessed. Answers the write units DynamoDB reported. Only for writes that are safe to
    /// repeat.
    pub async fn put_all(&self, items: Vec<Item>, at_once: usize) -> Result<f64, StoreError> {
        use aws_sdk_dynamodb::types::{PutRequest, WriteRequest};
        let mut requests = Vec::with_capacity(items.len());
        for item in items {
            let put = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(|e| StoreError::Internal(e.to_string()))?;
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        let mut units = 0.0;
        let chunks: Vec<Vec<WriteRequest>> = requests.chunks(25).map(<[_]>::to_vec).collect();
        for wave in chunks.chunks(at_once.max(1)) {
            let mut calls = tokio::task::JoinSet::new();
            for chunk in wave.iter().cloned() {
                let store = self.clone();
                calls.spawn(async move { store.write_batch(chunk).await });
            }
            while let Some(done) = calls.join_next().await {
                units += done.map_err(|e| StoreError::Internal(e.to_string()))??;
            }
        }
        Ok(units)
    }

    /// One `BatchWriteItem` of at most 25 requests, until DynamoDB has processed all of them.
    async fn write_batch(
        &self,
        mut pending: Vec<aws_sdk_dynamodb::types::WriteRequest>,
    ) -> Result<f64, StoreError> {
        let mut units = 0.0;
        for attempt in 0..UNPROCESSED_ATTEMPTS {
            self.count_round_trip();
            let output = self
                .client
                .batch_write_item()
                .request_items(&*self.table, pending)
                .return_consumed_capacity(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Total)
                .send()
                .await
                .map_err(|e| StoreError::from_sdk("BatchWriteItem", e))?;
            units += output
                .consumed_capacity()
                .iter()
                .filter_map(|c| c.capacity_units())
                .sum::<f64>();
            pending = output
                .unprocessed_items
                .and_then(|mut u| u.remove(&*self.table))
                .unwrap_or_default();
            if pending.is_empty() {
                return Ok(units);
            }
            backoff(attempt).await;
        }
        Err(StoreError::Throttled)
    }

    /// Applies every action of the transaction, or none of them.
    pub async fn transact(&self, transaction: Transaction) -> Result<(), StoreError> {
        self.send_transaction(transaction, false).await.map(|_| ())
    }

    /// A transaction that reports the write capacity it consumed (table and indexes).
    pub async fn transact_measured(&self, transaction: Transaction) -> Result<f64, StoreError> {
        self.send_transaction(transaction, true).await
    }

    async fn send_transaction(
        &self,
        transaction: Transaction,
        measure: bool,
    ) -> Result<f64, StoreError> {
        let (items, labels) = transaction.into_items(&self.table)?;
        self.count_round_trip();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .set_return_consumed_capacity(
                measure.then_some(aws_sdk_dynamodb::types::ReturnConsumedCapacity::Indexes),
            )
            .send()
            .await;
        match result {
            Ok(output) => Ok(output
                .consumed_capacity()
                .iter()
                .filter_map(|c| c.capacity_units())
                .sum()),
            Err(err) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                if let Some(TransactWriteItemsError::TransactionCanceledException(cancel)) =
                    err.as_service_error()
                {
                    // DynamoDB answers one reason per action, in the order sent.
                    let reasons = cancel.cancellation_reasons();
                    if reasons
                        .iter()
                        .any(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        let failed = reasons
                            .iter()
                            .zip(labels)
                            .filter(|(r, _)| r.code() == Some("ConditionalCheckFailed"))
                            .filter_map(|(_, label)| label)
                            .collect();
                        return Err(StoreError::ConditionFailed { failed });
                    }
                    if reasons
                        .iter()
                        .any(|r| matches!(r.code(), Some("TransactionConflict")))
                    {
                        return Err(StoreError::TransactionConflict);
                    }
                    if reasons.iter().any(|r| {
                        matches!(
                            r.code(),
                            Some("ThrottlingError") | Some("ProvisionedThroughputExceeded")
                        )
                    }) {
                        return Err(StoreError::Throttled);
                    }
                }
                Err(StoreError::from_sdk("TransactWriteItems", err))
            }
        }
    }
}

/// An item for `record`, stored under `key` and tagged with its entity name.
pub fn item<T: Serialize>(key: &Key, entity: &str, record: &T) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::aws_sdk_dynamodb_1::to_item(record)
        .map_err(|e| StoreError::Internal(format!("cannot store {entity}: {e}")))?;
    item.extend(key_attributes(key));
    item.insert(
        keys::ENTITY.to_owned(),
        AttributeValue::S(entity.to_owned()),
    );
    Ok(item)
}

/// Puts an item into `index` under `partition` / `sort`.
pub fn with_index(mut item: Item, index: Index, partition: &str, sort: &str) -> Item {
    let (pk, sk) = index.key_attributes();
    item.insert(pk.to_owned(), AttributeValue::S(partition.to_owned()));
    item.insert(sk.to_owned(), AttributeValue::S(sort.to_owned()));
    item
}

/// Adds the TTL attribute (epoch seconds) to an item.
pub fn with_ttl(mut item: Item, expires_at_epoch: i64) -> Item {
    item.insert(
        keys::TTL.to_owned(),
        AttributeValue::N(expires_at_epoch.to_string()),
    );
    item
}

/// Decodes a stored item into a record; key and bookkeeping attributes are ignored.
pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::from_item(item)
        .map_err(|e| StoreError::Malformed(e.to_string()))
}

fn key_attributes(key: &Key) -> Item {
    HashMap::from([
        (keys::PK.to_owned(), AttributeValue::S(key.pk.clone())),
        (keys::SK.to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn key_of(item: &Item) -> Result<Key, StoreError> {
    let get = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(StoreError::Malformed(format!("item without string {name}"))),
    };
    Ok(Key {
        pk: get(keys::PK)?,
        sk: get(keys::SK)?,
    })
}

/// Waits a little before retrying unprocessed keys (exponential, capped at 0.8 s).
async fn backoff(attempt: u32) {
    let millis = 25u64 << attempt.min(5);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}
