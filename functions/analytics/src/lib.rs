//! Routes of the analytics function: tracking (members or org API keys), reports over the daily
//! counters the aggregator keeps, raw events, and the organization's API keys.

use analytics::reports::{
    AgentReport, EventCount, EventFilter, EventView, Overview, RankedAgent, UsageDay,
};
use analytics::{EventQueue, Period, RankBy, Reports, Source};
use apikeys::{ApiKey, ApiKeys, CreateApiKey, CreatedApiKey};
use auth::Permission;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRef, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use clock::{Clock, Duration};
use config::HttpSettings;
use problem::{Problem, ProblemDocument};
use serde::{Deserialize, Serialize};
use store::Store;
use utoipa::{IntoParams, OpenApi, ToSchema};
use web::{
    ActiveOrg, Created, Identity, Json, ListParams, ListResponse, PathParam, QueryParams, ValidJson,
};

/// Everything the handlers share, built once per cold start.
#[derive(Clone)]
pub struct App {
    identity: Identity,
    queue: EventQueue,
    reports: Reports,
    api_keys: ApiKeys,
    store: Store,
    clock: Clock,
}

impl FromRef<App> for Identity {
    fn from_ref(app: &App) -> Identity {
        app.identity.clone()
    }
}

impl App {
    pub fn new(
        settings: &HttpSettings,
        dynamodb: aws_sdk_dynamodb::Client,
        queue: EventQueue,
        clock: Clock,
        raw_retention_days: u16,
        activity_retention_days: u16,
    ) -> Self {
        let store = Store::new(dynamodb, settings.table_name.as_str());
        Self {
            identity: Identity::from_settings(&settings.auth, store.clone(), clock.clone()),
            queue,
            reports: Reports::new(
                store.clone(),
                clock.clone(),
                Duration::days(i64::from(raw_retention_days)),
            ),
            api_keys: ApiKeys::new(
                store.clone(),
                clock.clone(),
                Duration::days(i64::from(activity_retention_days)),
            ),
            store,
            clock,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

pub fn router(app: App, cors_allowed_origins: &[String]) -> Router {
    let routes = Router::new()
        .route("/v1/analytics/track", post(track))
        .route("/v1/analytics/overview", get(overview))
        .route("/v1/analytics/agents/{agent_id}", get(agent))
        .route("/v1/analytics/top-agents", get(top_agents))
        .route("/v1/analytics/usage", get(usage))
        .route("/v1/analytics/events", get(events))
        .route("/v1/analytics/event-counts", get(event_counts))
        .route("/v1/api-keys", post(create_api_key).get(list_api_keys))
        .route("/v1/api-keys/{id}", delete(revoke_api_key));
    web::finish(routes, cors_allowed_origins, app)
}

/// Who is tracking: an org API key (`Bearer oak_...`), or a member whose role may track.
struct Tracker {
    org_id: String,
    source: Source,
}

impl FromRequestParts<App> for Tracker {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Problem> {
        let bearer = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(auth::bearer_token);
        if let Some(key) = bearer.filter(|b| b.starts_with(apikeys::KEY_PREFIX)) {
            let holder = app.api_keys.authenticate(key).await?;
            // A key tracks for its own organization only.
            if let Some(org) = parts.headers.get("x-org-id")
                && org.as_bytes() != holder.org_id.as_bytes()
            {
                return Err(Problem::forbidden(
                    "api_key_org_mismatch",
                    "this API key belongs to another organization",
                ));
            }
            return Ok(Tracker {
                org_id: holder.org_id,
                source: Source::ApiKey {
                    key_id: holder.key_id,
                },
            });
        }
        let ActiveOrg(member) = ActiveOrg::from_request_parts(parts, app).await?;
        member.require(Permission::TrackEvents)?;
        Ok(Tracker {
            source: Source::Member {
                user_id: member.user_id().to_owned(),
            },
            org_id: member.org_id,
        })
    }
}

/// A member who may read the organization's analytics.
struct Reader(String);

impl FromRequestParts<App> for Reader {
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Problem> {
        let ActiveOrg(member) = ActiveOrg::from_request_parts(parts, app).await?;
        member.require(Permission::ReadOrganization)?;
        Ok(Reader(member.org_id))
    }
}

/// The answer to a track request.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Accepted {
    /// How many events were queued.
    pub accepted: usize,
    /// Their ids, in request order (the client's own, or ULIDs assigned here).
    pub ids: Vec<String>,
}

/// One event to track (or send `{"events": [...]}` with up to 100). Unknown fields are refused.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TrackEvent {
    /// Makes ingestion idempotent within the organization: 1–64 of `A-Za-z0-9_-`, each id at
    /// most once per request.
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    id: Option<String>,
    /// `[a-z0-9_.:-]{1,100}`; `message.sent`, `api.call` and `storage.snapshot` feed billing
    /// usage when tracked with an API key.
    #[schema(pattern = "^[a-z0-9_.:-]{1,100}$")]
    name: String,
    #[schema(pattern = "^[A-Za-z0-9_.:-]{1,100}$")]
    agent_id: Option<String>,
    /// Within the last 24 hours and at most 5 minutes ahead; default now.
    #[schema(format = DateTime)]
    timestamp: Option<String>,
    /// At most 8 KiB as JSON. Recognised: `response_time_ms` (number), `input_tokens`,
    /// `output_tokens`, `bytes` (whole numbers), `error` (boolean).
    #[schema(value_type = Option<Object>, required = false)]
    properties: Option<serde_json::Value>,
}

/// Several events at once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
struct TrackBatch {
    /// 1 to 100 events.
    #[schema(min_items = 1, max_items = 100)]
    events: Vec<TrackEvent>,
}

/// A track request body: one event, or a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)]
enum TrackRequest {
    Batch(TrackBatch),
    One(TrackEvent),
}

/// Track events: validated here, queued for the aggregator, never written synchronously.
#[utoipa::path(post, path = "/v1/analytics/track", tag = "analytics", request_body = TrackRequest,
    params(("X-Org-Id" = Option<String>, Header, description = "Active organization (with a member's token; an API key implies its own)")),
    security(("bearer" = [])),
    responses(
        (status = 202, description = "Every event was queued", body = Accepted),
        (status = 400, description = "Invalid events; `errors` names each bad field", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or bad token or API key", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 402, description = "`plan_limit_reached`: tracked with an API key on the free plan, the request has a `message.sent` (or `api.call`) event and the month's messages (or API calls) reached the limit; the detail names the metric, the limit and when the month resets. Nothing was queued. The counters are updated asynchronously, so events tracked just before the limit was recorded get through (docs/performance.md states the bound). Member tokens, storage snapshots and paid plans are never refused", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Viewers may not track; a key of another organization", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::BodyRejected,
        (status = 503, description = "The queue did not take every event; retry with the same ids", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn track(
    State(app): State<App>,
    tracker: Tracker,
    headers: axum::http::HeaderMap,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Response, Problem> {
    web::require_json_content_type(&headers)?;
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            Problem::payload_too_large(web::MAX_BODY_BYTES)
        } else {
            Problem::bad_request("invalid_body", "the request body could not be read")
        }
    })?;
    let now = app.clock.now();
    let events = analytics::parse_track(&body, &tracker.org_id, &tracker.source, now)?;
    if tracker.source.is_api_key() {
        plan_gate(&app, &tracker.org_id, &events, now).await?;
    }
    let ids: Vec<String> = events.iter().map(|e| e.id.clone()).collect();
    if let Err(failed) = app.queue.send(&events).await {
        tracing::error!(
            not_queued = failed.not_queued.len(),
            of = ids.len(),
            "events not queued"
        );
        return Err(Problem::unavailable(format!(
            "{} of {} events could not be queued; send the request again with these ids so \
             none is counted twice: {}",
            failed.not_queued.len(),
            ids.len(),
            ids.join(",")
        )));
    }
    Ok((
        StatusCode::ACCEPTED,
        Json(Accepted {
            accepted: ids.len(),
            ids,
        }),
    )
        .into_response())
}

/// The free plan's hard limits: a request with an event of an exhausted metric is refused
/// whole (402, nothing queued). One GetItem of the organization's profile, and only when the
/// request has a message or API-call event; storage snapshots are never refused.
async fn plan_gate(
    app: &App,
    org_id: &str,
    events: &[analytics::TrackedEvent],
    now: clock::DateTime,
) -> Result<(), Problem> {
    let mut metrics: Vec<_> = events
        .iter()
        .filter_map(|e| metering::metric_of_event(&e.name))
        .collect();
    metrics.sort();
    metrics.dedup();
    match metering::refused(&app.store, org_id, &metrics, now).await? {
        None => Ok(()),
        Some(exhausted) => Err(Problem::new(
            StatusCode::PAYMENT_REQUIRED,
            "plan_limit_reached",
            format!(
                "the free plan's limit of {} {} per month is reached; it resets at {}. \
                 Nothing was queued: send the request without `{}` events, or upgrade the plan",
                exhausted.limit,
                exhausted.metric.label(),
                clock::rfc3339(exhausted.resets_at),
                match exhausted.metric {
                    plans::usage::Metric::Messages => analytics::event::MESSAGE_SENT,
                    _ => analytics::event::API_CALL,
                },
            ),
        )),
    }
}

/// `?period=` or `?from=&to=`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PeriodParams {
    /// `7d` (default), `30d` or `90d`, ending today (UTC) inclusive.
    #[param(pattern = "^(7d|30d|90d)?$")]
    period: Option<String>,
    /// First day (RFC 3339 time or date; its UTC day is included); empty reads as absent.
    #[param(schema_with = web::openapi::day_from)]
    from: Option<String>,
    /// Last day (RFC 3339 time or date; its UTC day is included); empty reads as absent.
    #[param(schema_with = web::openapi::day_to)]
    to: Option<String>,
}

impl PeriodParams {
    fn resolve(&self, now: clock::DateTime) -> Result<Period, Problem> {
        Ok(analytics::period::resolve(
            self.period.as_deref(),
            self.from.as_deref(),
            self.to.as_deref(),
            now,
        )?)
    }
}

/// The period against the one before it: events, messages, active agents, tokens, average
/// response time and error rate.
#[utoipa::path(get, path = "/v1/analytics/overview", tag = "analytics",
    params(PeriodParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "Current and previous period side by side", body = Overview),
        (status = 400, description = "Bad period", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
    ))]
async fn overview(
    State(app): State<App>,
    Reader(org_id): Reader,
    QueryParams(params): QueryParams<PeriodParams>,
) -> Result<Json<Overview>, Problem> {
    let period = params.resolve(app.clock.now())?;
    Ok(Json(app.reports.overview(&org_id, period).await?))
}

/// One agent: totals and a daily series (p95 from the response-time histogram).
#[utoipa::path(get, path = "/v1/analytics/agents/{agent_id}", tag = "analytics",
    params(("agent_id" = String, Path, description = "The agent's id"), PeriodParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The agent's metrics", body = AgentReport),
        (status = 400, description = "Bad period", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 404, description = "The agent has no events in this organization", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn agent(
    State(app): State<App>,
    Reader(org_id): Reader,
    PathParam(agent_id): PathParam,
    QueryParams(params): QueryParams<PeriodParams>,
) -> Result<Json<AgentReport>, Problem> {
    let period = params.resolve(app.clock.now())?;
    Ok(Json(app.reports.agent(&org_id, &agent_id, period).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TopAgentsParams {
    /// `7d` (default), `30d` or `90d`, ending today (UTC) inclusive.
    #[param(pattern = "^(7d|30d|90d)?$")]
    period: Option<String>,
    #[param(schema_with = web::openapi::day_from)]
    from: Option<String>,
    #[param(schema_with = web::openapi::day_to)]
    to: Option<String>,
    /// `events` (default), `tokens`, `avg_response_time_ms` or `error_rate`.
    #[param(pattern = "^(events|tokens|avg_response_time_ms|error_rate)?$")]
    metric: Option<String>,
    /// How many, 1–100 (default 20).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
}

/// Agents ranked by a metric over the period, highest first.
///
/// A ranking is one page of at most `limit` agents: it takes no `cursor` (one is refused as an
/// unknown parameter) and its `next_cursor` is always null.
#[utoipa::path(get, path = "/v1/analytics/top-agents", tag = "analytics",
    params(TopAgentsParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "Ranked agents (one page: `next_cursor` is null)", body = ListResponse<RankedAgent>),
        (status = 400, description = "Bad period, metric or limit", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
    ))]
async fn top_agents(
    State(app): State<App>,
    Reader(org_id): Reader,
    QueryParams(params): QueryParams<TopAgentsParams>,
) -> Result<Json<ListResponse<RankedAgent>>, Problem> {
    let period = PeriodParams {
        period: params.period,
        from: params.from,
        to: params.to,
    }
    .resolve(app.clock.now())?;
    let by = match params.metric.as_deref().filter(|m| !m.is_empty()) {
        None => RankBy::Events,
        Some(metric) => metric.parse::<RankBy>()?,
    };
    let limit = ListParams {
        limit: params.limit,
        cursor: None,
    }
    .limit()?;
    let items = app.reports.top_agents(&org_id, period, by, limit).await?;
    Ok(Json(ListResponse {
        items,
        next_cursor: None,
    }))
}

/// Daily usage over the period, one entry per day (zeros included).
#[utoipa::path(get, path = "/v1/analytics/usage", tag = "analytics",
    params(PeriodParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "One item per day", body = ListResponse<UsageDay>),
        (status = 400, description = "Bad period", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
    ))]
async fn usage(
    State(app): State<App>,
    Reader(org_id): Reader,
    QueryParams(params): QueryParams<PeriodParams>,
) -> Result<Json<ListResponse<UsageDay>>, Problem> {
    let period = params.resolve(app.clock.now())?;
    Ok(Json(ListResponse {
        items: app.reports.usage(&org_id, period).await?,
        next_cursor: None,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsParams {
    /// Only events of this name.
    #[param(pattern = "^[a-z0-9_.:-]{0,100}$")]
    name: Option<String>,
    /// Only events of this agent.
    #[param(pattern = "^[A-Za-z0-9_.:-]{0,100}$")]
    agent_id: Option<String>,
    /// RFC 3339 lower bound (inclusive); empty reads as absent.
    #[param(schema_with = web::openapi::time_from)]
    from: Option<String>,
    /// RFC 3339 upper bound (inclusive); empty reads as absent.
    #[param(schema_with = web::openapi::time_to)]
    to: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{0,2048}$")]
    cursor: Option<String>,
}

/// Raw events, newest first, filtered by name, agent and time.
///
/// With `name` or `agent_id`, a page reads a bounded number of events (800) and holds those
/// that match: it may hold fewer than `limit`, even none, while `next_cursor` is set. Follow the
/// cursor until it is null to see every match; no event is skipped or listed twice.
#[utoipa::path(get, path = "/v1/analytics/events", tag = "analytics",
    params(EventsParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of events, newest first (filtered: possibly fewer than `limit` while `next_cursor` is set)", body = ListResponse<EventView>),
        (status = 400, description = "Bad filters, limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
    ))]
async fn events(
    State(app): State<App>,
    Reader(org_id): Reader,
    QueryParams(params): QueryParams<EventsParams>,
) -> Result<Json<ListResponse<EventView>>, Problem> {
    let filter = EventFilter::parse(
        params.name.as_deref(),
        params.agent_id.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
    )?;
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let page = app
        .reports
        .events(&org_id, &filter, list.limit()?, list.cursor())
        .await?;
    Ok(Json(page.into()))
}

/// Events per name over the period, largest first (names beyond the daily cap count as `other`).
#[utoipa::path(get, path = "/v1/analytics/event-counts", tag = "analytics",
    params(PeriodParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "Counts by name (one page: `next_cursor` is null)", body = ListResponse<EventCount>),
        (status = 400, description = "Bad period", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
    ))]
async fn event_counts(
    State(app): State<App>,
    Reader(org_id): Reader,
    QueryParams(params): QueryParams<PeriodParams>,
) -> Result<Json<ListResponse<EventCount>>, Problem> {
    let period = params.resolve(app.clock.now())?;
    Ok(Json(ListResponse {
        items: app.reports.event_counts(&org_id, period).await?,
        next_cursor: None,
    }))
}

/// Create an org API key (owners and admins). The key is in this answer only.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", request_body = CreateApiKey,
    params(web::openapi::OrgHeader),
    responses(
        (status = 201, description = "The key, shown this once", body = CreatedApiKey),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 403, description = "Only owners and admins manage keys", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn create_api_key(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    ValidJson(request): ValidJson<CreateApiKey>,
) -> Result<Created<CreatedApiKey>, Problem> {
    Ok(Created(app.api_keys.create(&member, request).await?))
}

/// The organization's API keys, newest first (never the secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys",
    params(ListParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of keys", body = ListResponse<ApiKey>),
        (status = 400, description = "Bad limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        (status = 403, description = "Only owners and admins manage keys", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn list_api_keys(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    params: ListParams,
) -> Result<Json<ListResponse<ApiKey>>, Problem> {
    let page = app
        .api_keys
        .list(&member, params.limit()?, params.cursor())
        .await?;
    Ok(Json(page.into()))
}

/// Revoke an API key: requests with it fail at once.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "api-keys",
    params(("id" = String, Path, description = "The key's id"), web::openapi::OrgHeader),
    responses(
        (status = 204, description = "Revoked"),
        web::openapi::Unauthorized,
        (status = 403, description = "Only owners and admins manage keys", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such key in this organization", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn revoke_api_key(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(id): PathParam,
) -> Result<StatusCode, Problem> {
    app.api_keys.revoke(&member, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(OpenApi)]
#[openapi(
    paths(
        track,
        overview,
        agent,
        top_agents,
        usage,
        events,
        event_counts,
        create_api_key,
        list_api_keys,
        revoke_api_key
    ),
    tags(
        (name = "analytics", description = "Event tracking and reports"),
        (name = "api-keys", description = "Org API keys for the platform's services")
    )
)]
struct AnalyticsApi;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    AnalyticsApi::openapi()
}
