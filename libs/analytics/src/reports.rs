//! The read side: overview, agent details, top agents, usage, raw events and event counts. Each
//! is one to three Queries (or one BatchGetItem) over the daily items of a period, never a Scan.

use std::collections::{BTreeMap, BTreeSet};

use clock::{Clock, DateTime, Duration};
use serde::{Deserialize, Serialize};
use serde_json::Number;
use store::{Filter, Page, Query, Store, StoreError, keys};
use time::Date;
use utoipa::ToSchema;

use problem::FieldError;

use crate::AnalyticsError;
use crate::histogram;
use crate::metrics::{AgentDay, Counters, OrgDay, round2};
use crate::period::{Period, format_date};

/// Pages of agent-day items read for one report (1000 items a page): 90 days × 1,000 agents.
const MAX_AGENT_DAY_PAGES: usize = 90;

/// A raw event as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct StoredEvent {
    pub id: String,
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(with = "clock::serde_rfc3339")]
    pub timestamp: DateTime,
    /// The properties object as compact JSON (kept as text: DynamoDB numbers and empty strings
    /// would not round-trip exactly).
    pub properties: String,
    /// `api_key` or `member`.
    pub source: String,
}

/// A raw event as listed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    pub id: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[schema(value_type = String, format = DateTime)]
    pub timestamp: String,
    #[schema(value_type = Object)]
    pub properties: serde_json::Value,
    /// How it was tracked: `api_key` or `member`.
    pub source: String,
}

impl From<StoredEvent> for EventView {
    fn from(e: StoredEvent) -> Self {
        EventView {
            properties: serde_json::from_str(&e.properties)
                .unwrap_or_else(|_| serde_json::Value::Object(Default::default())),
            id: e.id,
            name: e.name,
            agent_id: e.agent_id,
            timestamp: clock::rfc3339(e.timestamp),
            source: e.source,
        }
    }
}

/// A period as shown: first and last UTC day, both included.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeriodView {
    /// First day (`YYYY-MM-DD`, UTC), included.
    pub from: String,
    /// Last day (`YYYY-MM-DD`, UTC), included.
    pub to: String,
}

impl From<Period> for PeriodView {
    fn from(p: Period) -> Self {
        PeriodView {
            from: format_date(p.from),
            to: format_date(p.to),
        }
    }
}

/// One metric in this period and the one before.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Comparison {
    #[schema(value_type = f64)]
    pub current: Number,
    #[schema(value_type = f64)]
    pub previous: Number,
    /// Change from `previous` to `current` in percent; null when `previous` is 0.
    pub change_pct: Option<f64>,
}

impl Comparison {
    fn of(current: f64, previous: f64) -> Self {
        Comparison {
            current: number(current),
            previous: number(previous),
            change_pct: (previous != 0.0).then(|| round2((current - previous) / previous * 100.0)),
        }
    }
}

/// Whole numbers render without a fraction.
fn number(x: f64) -> Number {
    if x.fract() == 0.0 && x.abs() < 9e15 {
        Number::from(x as i64)
    } else {
        Number::from_f64(x).unwrap_or_else(|| Number::from(0))
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OverviewMetrics {
    pub events: Comparison,
    pub messages: Comparison,
    pub active_agents: Comparison,
    pub tokens: Comparison,
    pub avg_response_time_ms: Comparison,
    pub error_rate: Comparison,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Overview {
    pub period: PeriodView,
    pub previous_period: PeriodView,
    pub metrics: OverviewMetrics,
}

/// An agent's metrics over some days.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentMetrics {
    pub events: u64,
    pub messages: u64,
    pub tokens: u64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// 0 when no event carried `response_time_ms`.
    pub avg_response_time_ms: f64,
    /// From the response-time histogram (buckets at most 10% wide); 0 without data.
    pub p95_response_time_ms: f64,
    /// Errors among events with a `response_time_ms` or `error` property (0..1).
    pub error_rate: f64,
}

impl AgentMetrics {
    fn of(counters: &Counters, histogram: &BTreeMap<u16, u64>) -> Self {
        AgentMetrics {
            events: counters.events,
            messages: counters.messages,
            tokens: counters.tokens(),
            input_tokens: counters.input_tokens,
            output_tokens: counters.output_tokens,
            avg_response_time_ms: counters.avg_response_time_ms().unwrap_or(0.0),
            p95_response_time_ms: histogram::quantile(histogram, 0.95)
                .map(round2)
                .unwrap_or(0.0),
            error_rate: counters.error_rate().unwrap_or(0.0),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentDayView {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    #[serde(flatten)]
    pub metrics: AgentMetrics,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AgentReport {
    pub agent_id: String,
    pub period: PeriodView,
    pub totals: AgentMetrics,
    /// One entry per day of the period, days without events as zeros.
    pub daily: Vec<AgentDayView>,
}

/// What top agents are ranked by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RankBy {
    Events,
    Tokens,
    AvgResponseTimeMs,
    ErrorRate,
}

/// A metric as a client names it (`?metric=`).
impl std::str::FromStr for RankBy {
    type Err = AnalyticsError;

    fn from_str(s: &str) -> Result<Self, AnalyticsError> {
        Ok(match s {
            "events" => Self::Events,
            "tokens" => Self::Tokens,
            "avg_response_time_ms" => Self::AvgResponseTimeMs,
            "error_rate" => Self::ErrorRate,
            _ => {
                return Err(AnalyticsError::field(
                    "metric",
                    "must be events, tokens, avg_response_time_ms or error_rate",
                ));
            }
        })
    }
}

impl RankBy {
    /// The agent's value, or `None` when it has nothing to rank by (no response times, say).
    fn value(self, counters: &Counters) -> Option<f64> {
        match self {
            Self::Events => Some(counters.events as f64),
            Self::Tokens => Some(counters.tokens() as f64),
            Self::AvgResponseTimeMs => counters.avg_response_time_ms(),
            Self::ErrorRate => counters.error_rate(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RankedAgent {
    pub agent_id: String,
    #[schema(value_type = f64)]
    pub value: Number,
    /// 1 for the highest value.
    pub rank: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UsageDay {
    /// `YYYY-MM-DD` (UTC).
    pub date: String,
    pub events: u64,
    pub messages: u64,
    pub api_calls: u64,
    pub tokens: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventCount {
    pub name: String,
    pub count: u64,
}

/// Filters of the raw-event list.
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub name: Option<String>,
    pub agent_id: Option<String>,
    pub from: Option<DateTime>,
    pub to: Option<DateTime>,
}

impl EventFilter {
    /// The filter of `?name=&agent_id=&from=&to=`: empty values read as absent; every bad value
    /// is named.
    pub fn parse(
        name: Option<&str>,
        agent_id: Option<&str>,
        from: Option<&str>,
        to: Option<&str>,
    ) -> Result<Self, AnalyticsError> {
        let mut errors = Vec::new();
        let name = name.filter(|n| !n.is_empty());
        if name.is_some_and(|n| !crate::event::is_event_name(n)) {
            errors.push(FieldError::new("name", "must match [a-z0-9_.:-]{1,100}"));
        }
        let agent_id = agent_id.filter(|a| !a.is_empty());
        if agent_id.is_some_and(|a| !crate::event::is_agent_id(a)) {
            errors.push(FieldError::new(
                "agent_id",
                "must match [A-Za-z0-9_.:-]{1,100}",
            ));
        }
        if !errors.is_empty() {
            return Err(AnalyticsError::Invalid(errors));
        }
        let time = |field, value| {
            clock::optional_rfc3339(value)
                .map_err(|clock::NotRfc3339| AnalyticsError::field(field, clock::RFC3339_HINT))
        };
        Ok(Self {
            name: name.map(str::to_owned),
            agent_id: agent_id.map(str::to_owned),
            from: time("from", from)?,
            to: time("to", to)?,
        })
    }
}

#[derive(Clone)]
pub struct Reports {
    store: Store,
    clock: Clock,
    raw_retention: Duration,
}

impl Reports {
    pub fn new(store: Store, clock: Clock, raw_retention: Duration) -> Self {
        Self {
            store,
            clock,
            raw_retention,
        }
    }

    pub fn now(&self) -> DateTime {
        self.clock.now()
    }

    pub async fn overview(&self, org_id: &str, period: Period) -> Result<Overview, AnalyticsError> {
        let previous = period.previous();
        let span = Period {
            from: previous.from,
            to: period.to,
        };
        let days = self.org_days(org_id, span).await?;
        let sum = |p: Period| {
            let mut total = Counters::default();
            for day in days.iter().filter(|d| in_period(&d.date, p)) {
                total.add(&day.counters);
            }
            total
        };
        let (now, before) = (sum(period), sum(previous));
        let agent_days = self.agent_days(org_id, span).await?;
        let active = |p: Period| {
            agent_days
                .iter()
                .filter(|d| in_period(&d.date, p) && d.counters.events > 0)
                .map(|d| d.agent_id.as_str())
                .collect::<BTreeSet<_>>()
                .len() as f64
        };
        Ok(Overview {
            period: period.into(),
            previous_period: previous.into(),
            metrics: OverviewMetrics {
                events: Comparison::of(now.events as f64, before.events as f64),
                messages: Comparison::of(now.messages as f64, before.messages as f64),
                active_agents: Comparison::of(active(period), active(previous)),
                tokens: Comparison::of(now.tokens() as f64, before.tokens() as f64),
                avg_response_time_ms: Comparison::of(
                    now.avg_response_time_ms().unwrap_or(0.0),
                    before.avg_response_time_ms().unwrap_or(0.0),
                ),
                error_rate: Comparison::of(
                    now.error_rate().unwrap_or(0.0),
                    before.error_rate().unwrap_or(0.0),
                ),
            },
        })
    }

    /// One BatchGetItem of the period's days; 404 only when the agent has no events in the
    /// raw-event retention window (the window's other days read too, when the period is empty).
    pub async fn agent(
        &self,
        org_id: &str,
        agent_id: &str,
        period: Period,
    ) -> Result<AgentReport, AnalyticsError> {
        // An id no event could carry names no agent: not found, without a read.
        if !crate::event::is_agent_id(agent_id) {
            return Err(AnalyticsError::UnknownAgent);
        }
        let dates: Vec<Date> = period.dates().collect();
        let keys: Vec<store::Key> = dates
            .iter()
            .map(|d| keys::agent_day(keys::OrgId(org_id), &format_date(*d), agent_id))
            .collect();
        let items = self.store.batch_get(&keys).await?;
        let days: Vec<Option<AgentDay>> = items
            .into_iter()
            .map(|item| {
                item.map(|i| {
                    store::from_item::<crate::metrics::Fields>(i).map(|f| AgentDay::read(&f))
                })
                .transpose()
            })
            .collect::<Result<_, _>>()?;
        if days.iter().all(Option::is_none)
            && !self.agent_has_events(org_id, agent_id, period).await?
        {
            return Err(AnalyticsError::UnknownAgent);
        }
        let mut total = Counters::default();
        let mut total_histogram = BTreeMap::new();
        let mut daily = Vec::with_capacity(dates.len());
        for (date, day) in dates.iter().zip(days) {
            let day = day.unwrap_or_default();
            total.add(&day.counters);
            for (bucket, n) in &day.histogram {
                *total_histogram.entry(*bucket).or_insert(0) += n;
            }
            daily.push(AgentDayView {
                date: format_date(*date),
                metrics: AgentMetrics::of(&day.counters, &day.histogram),
            });
        }
        Ok(AgentReport {
            agent_id: agent_id.to_owned(),
            period: period.into(),
            totals: AgentMetrics::of(&total, &total_histogram),
            daily,
        })
    }

    /// Whether the agent has a day of counters in the raw-event retention window outside
    /// `period` (whose days were read already): BatchGetItems of at most 100 keys, at most 400
    /// days back (agent days are kept 400 days). Only asked when the period has none.
    async fn agent_has_events(
        &self,
        org_id: &str,
        agent_id: &str,
        period: Period,
    ) -> Result<bool, StoreError> {
        let today = self.clock.now().date();
        let days = self.raw_retention.whole_days().clamp(0, 400);
        let keys: Vec<store::Key> = (0..=days)
            .filter_map(|back| today.checked_sub(Duration::days(back)))
            .filter(|date| !period.contains(*date))
            .map(|date| keys::agent_day(keys::OrgId(org_id), &format_date(date), agent_id))
            .collect();
        for group in keys.chunks(100) {
            if self
                .store
                .batch_get(group)
                .await?
                .iter()
                .any(Option::is_some)
            {
                return Ok(true);
            }
        }
        Ok(false)
    }

    pub async fn top_agents(
        &self,
        org_id: &str,
        period: Period,
        by: RankBy,
        limit: u16,
    ) -> Result<Vec<RankedAgent>, AnalyticsError> {
        let mut per_agent: BTreeMap<String, Counters> = BTreeMap::new();
        for day in self.agent_days(org_id, period).await? {
            per_agent
                .entry(day.agent_id)
                .or_default()
                .add(&day.counters);
        }
        let mut ranked: Vec<(String, f64)> = per_agent
            .into_iter()
            .filter_map(|(agent, counters)| Some((agent, by.value(&counters)?)))
            .collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Ok(ranked
            .into_iter()
            .take(usize::from(limit))
            .enumerate()
            .map(|(i, (agent_id, value))| RankedAgent {
                agent_id,
                value: number(value),
                rank: i as u32 + 1,
            })
            .collect())
    }

    pub async fn usage(
        &self,
        org_id: &str,
        period: Period,
    ) -> Result<Vec<UsageDay>, AnalyticsError> {
        let days: BTreeMap<String, OrgDay> = self
            .org_days(org_id, period)
            .await?
            .into_iter()
            .map(|d| (d.date.clone(), d))
            .collect();
        Ok(period
            .dates()
            .map(|date| {
                let date = format_date(date);
                let day = days.get(&date).cloned().unwrap_or_default();
                UsageDay {
                    date,
                    events: day.counters.events,
                    messages: day.counters.messages,
                    api_calls: day.counters.api_calls,
                    tokens: day.counters.tokens(),
                }
            })
            .collect())
    }

    pub async fn event_counts(
        &self,
        org_id: &str,
        period: Period,
    ) -> Result<Vec<EventCount>, AnalyticsError> {
        let mut counts: BTreeMap<String, u64> = BTreeMap::new();
        for day in self.org_days(org_id, period).await? {
            for (name, n) in day.names {
                *counts.entry(name).or_default() += n;
            }
        }
        let mut items: Vec<EventCount> = counts
            .into_iter()
            .filter(|(_, count)| *count > 0)
            .map(|(name, count)| EventCount { name, count })
            .collect();
        items.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.name.cmp(&b.name)));
        Ok(items)
    }

    /// Raw events, newest first, from the organization's time-ordered shards (read at once and
    /// merged), bounded by the retention window; `name` and `agent_id` filter them. A filtered
    /// page reads at most [`store::MAX_FILTERED_READS`] DynamoDB pages (shared by the shards) and may hold
    /// fewer than `limit` events with a cursor to go on from where the reading stopped.
    pub async fn events(
        &self,
        org_id: &str,
        filter: &EventFilter,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<EventView>, AnalyticsError> {
        let oldest = self.clock.now() - self.raw_retention;
        let from_ms = millis(filter.from.map_or(oldest, |f| f.max(oldest)));
        let to_ms = millis(filter.to.unwrap_or(self.clock.now() + Duration::days(1)));
        if from_ms > to_ms {
            return Ok(Page {
                items: Vec::new(),
                next_cursor: None,
            });
        }
        // Raw events are written across the organization's shards: all are read and merged.
        let mut shards = keys::raw_events(keys::OrgId(org_id));
        let first = shards.remove(0);
        let mut query = Query::new("events", first, limit, cursor).newest_first();
        query.sort_range = Some(keys::raw_event_window(from_ms, to_ms));
        query.filter = event_filter(filter);
        let page = self
            .store
            .query_merged::<StoredEvent>(query, &shards)
            .await?;
        Ok(Page {
            items: page.items.into_iter().map(EventView::from).collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// The organization's days of a period (at most 2 × 90 items: one Query page).
    async fn org_days(&self, org_id: &str, period: Period) -> Result<Vec<OrgDay>, StoreError> {
        let mut query = Query::new("org_days", keys::org_days(keys::OrgId(org_id)), 1000, None);
        query.sort_range = Some(keys::org_day_window(
            &format_date(period.from),
            &format_date(period.to),
        ));
        let (items, _) = self
            .store
            .query_all::<crate::metrics::Fields>(query, 2)
            .await?;
        Ok(items.iter().map(OrgDay::read).collect())
    }

    /// Every agent's days of a period, one Query read page after page (bounded).
    async fn agent_days(&self, org_id: &str, period: Period) -> Result<Vec<AgentDay>, StoreError> {
        let mut query = Query::new(
            "agent_days",
            keys::agent_days(keys::OrgId(org_id)),
            1000,
            None,
        );
        query.sort_range = Some(keys::agent_day_window(
            &format_date(period.from),
            &format_date(period.to),
        ));
        let (items, complete) = self
            .store
            .query_all::<crate::metrics::Fields>(query, MAX_AGENT_DAY_PAGES)
            .await?;
        if !complete {
            tracing::warn!(
                org_id,
                "agent metrics of the period exceed the read bound; report is partial"
            );
        }
        Ok(items.iter().map(AgentDay::read).collect())
    }
}

/// The filter expression of `?name=` and `?agent_id=`, when either is given.
fn event_filter(filter: &EventFilter) -> Option<Filter> {
    use store::aws_sdk_dynamodb::types::AttributeValue;
    let mut expressions = Vec::new();
    let mut out = Filter::default();
    for (attribute, value) in [("name", &filter.name), ("agent_id", &filter.agent_id)] {
        if let Some(value) = value {
            expressions.push(format!("#f_{attribute} = :f_{attribute}"));
            out.names
                .insert(format!("#f_{attribute}"), attribute.to_owned());
            out.values
                .insert(format!(":f_{attribute}"), AttributeValue::S(value.clone()));
        }
    }
    (!expressions.is_empty()).then(|| Filter {
        expression: expressions.join(" AND "),
        ..out
    })
}

fn in_period(date: &str, period: Period) -> bool {
    crate::period::parse_date(date).is_some_and(|d| period.contains(d))
}

fn millis(t: DateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000).max(0) as i64
}
