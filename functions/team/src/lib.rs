//! Routes of the team function. Each handler parses, calls the team domain (which authorizes
//! against the role table and the caller's organization) and shapes the answer.

use axum::Router;
use axum::extract::{FromRef, Query, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch};
use clock::{Clock, Duration};
use config::HttpSettings;
use problem::{FieldError, Problem, ProblemDocument};
use serde::Deserialize;
use store::Store;
use team::{ActivityFilter, ActivityView, ChangeRole, Member, Members};
use utoipa::{IntoParams, OpenApi};
use web::{ActiveOrg, Identity, Json, ListParams, ListResponse, PathParam, ValidJson};

/// Everything the handlers share, built once per cold start.
#[derive(Clone)]
pub struct App {
    identity: Identity,
    members: Members,
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
        notifier: notify::Notifier,
        clock: Clock,
        activity_retention_days: u16,
    ) -> Self {
        let store = Store::new(dynamodb, settings.table_name.as_str());
        let retention = Duration::days(i64::from(activity_retention_days));
        Self {
            identity: Identity::from_settings(&settings.auth, store.clone(), clock.clone()),
            members: Members::new(store.clone(), clock.clone(), retention, notifier),
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
        .route("/v1/team/members", get(list_members))
        .route("/v1/team/members/{user_id}/role", patch(change_role))
        .route("/v1/team/members/{user_id}", delete(remove_member))
        .route("/v1/team/activity", get(list_activity));
    web::finish(routes, cors_allowed_origins, app)
}

/// The organization's members, with their profiles.
#[utoipa::path(get, path = "/v1/team/members", tag = "team", params(ListParams, ("X-Org-Id" = Option<String>, Header, description = "Active organization")),
    responses(
        (status = 200, description = "A page of members", body = ListResponse<Member>),
        (status = 400, description = "No organization, or a bad limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or bad token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Not a member", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn list_members(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    params: ListParams,
) -> Result<Json<ListResponse<Member>>, Problem> {
    let page = app
        .members
        .list(&member, params.limit()?, params.cursor())
        .await?;
    Ok(Json(page.into()))
}

/// Change a member's role (owners: any role, ownership included; admins: member ↔ viewer).
#[utoipa::path(patch, path = "/v1/team/members/{user_id}/role", tag = "team", request_body = ChangeRole,
    params(("user_id" = String, Path, description = "The member's user id"), ("X-Org-Id" = Option<String>, Header, description = "Active organization")),
    responses(
        (status = 200, description = "The member with the new role", body = Member),
        (status = 400, description = "Invalid body", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or bad token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "The caller's role may not make this change", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The last owner, or a concurrent change", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn change_role(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(user_id): PathParam,
    ValidJson(request): ValidJson<ChangeRole>,
) -> Result<Json<Member>, Problem> {
    Ok(Json(
        app.members.change_role(&member, &user_id, request).await?,
    ))
}

/// Remove a member, or leave (your own user id).
#[utoipa::path(delete, path = "/v1/team/members/{user_id}", tag = "team",
    params(("user_id" = String, Path, description = "The member's user id"), ("X-Org-Id" = Option<String>, Header, description = "Active organization")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "Missing or bad token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "The caller's role may not remove this member", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such member", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The last owner, or a concurrent change", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn remove_member(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(user_id): PathParam,
) -> Result<StatusCode, Problem> {
    app.members.remove(&member, &user_id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ActivityParams {
    /// Only this action, e.g. `member.role_changed`.
    #[param(pattern = "^[a-z._]{0,100}$")]
    action: Option<String>,
    /// RFC 3339 lower bound (inclusive).
    #[param(value_type = Option<String>, format = DateTime)]
    from: Option<String>,
    /// RFC 3339 upper bound (inclusive).
    #[param(value_type = Option<String>, format = DateTime)]
    to: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{0,2048}$")]
    cursor: Option<String>,
}

fn time_param(field: &str, value: Option<&str>) -> Result<Option<clock::DateTime>, Problem> {
    // An empty `from=` is read as no bound.
    value
        .filter(|raw| !raw.is_empty())
        .map(|raw| {
            clock::parse_rfc3339(raw).ok_or_else(|| {
                Problem::validation(vec![FieldError::new(
                    field,
                    "must be an RFC 3339 time, e.g. 2026-11-23T10:00:00Z",
                )])
            })
        })
        .transpose()
}

/// The activity log, newest first (billing entries for owners and admins only).
#[utoipa::path(get, path = "/v1/team/activity", tag = "team", params(ActivityParams, ("X-Org-Id" = Option<String>, Header, description = "Active organization")),
    responses(
        (status = 200, description = "A page of entries, newest first", body = ListResponse<ActivityView>),
        (status = 400, description = "Bad filters, limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 401, description = "Missing or bad token", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Not a member", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn list_activity(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    params: Result<Query<ActivityParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<ListResponse<ActivityView>>, Problem> {
    let Query(params) = params.map_err(|e| Problem::bad_request("invalid_query", e.body_text()))?;
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let action = params.action.filter(|a| !a.is_empty());
    if action.as_ref().is_some_and(|a| {
        a.len() > 100
            || !a
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_')
    }) {
        return Err(Problem::validation(vec![FieldError::new(
            "action",
            "must be an action name such as member.role_changed",
        )]));
    }
    let filter = ActivityFilter {
        action,
        from: time_param("from", params.from.as_deref())?,
        to: time_param("to", params.to.as_deref())?,
    };
    let page = team::list_activity(
        &app.store,
        app.clock.now(),
        &member,
        filter,
        list.limit()?,
        list.cursor(),
    )
    .await?;
    Ok(Json(page.into()))
}

#[derive(OpenApi)]
#[openapi(
    paths(list_members, change_role, remove_member, list_activity),
    tags((name = "team", description = "Members, roles and the activity log"))
)]
struct TeamApi;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    TeamApi::openapi()
}
