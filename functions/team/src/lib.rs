//! Routes of the team function. Each handler parses, calls the team domain (which authorizes
//! against the role table and the caller's organization) and shapes the answer.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, patch, post};
use clock::{Clock, Duration};
use config::HttpSettings;
use problem::{Problem, ProblemDocument};
use serde::Deserialize;
use store::Store;
use team::{
    AcceptInvitation, AcceptedInvitation, ActivityFilter, ActivityView, ChangeRole,
    CreateInvitation, Invitation, InvitationStatus, Invitations, Member, Members,
};
use utoipa::{IntoParams, OpenApi};
use web::{
    ActiveOrg, Authenticated, Created, Identity, Json, ListParams, ListResponse, PathParam,
    QueryParams, ValidJson,
};

/// Everything the handlers share, built once per cold start.
#[derive(Clone)]
pub struct App {
    identity: Identity,
    members: Members,
    invitations: Invitations,
    store: Store,
    clock: Clock,
}

impl FromRef<App> for Identity {
    fn from_ref(app: &App) -> Identity {
        app.identity.clone()
    }
}

/// What the team function sends out itself: invitation emails. (Notifications are recorded
/// with each change and delivered by the outbox relay.)
#[derive(Clone)]
pub struct Outbound {
    pub mailer: mail::Mailer,
    /// The web app's base URL, for accept links.
    pub app_url: String,
}

impl App {
    pub fn new(
        settings: &HttpSettings,
        dynamodb: aws_sdk_dynamodb::Client,
        outbound: Outbound,
        clock: Clock,
        activity_retention_days: u16,
    ) -> Self {
        let store = Store::new(dynamodb, settings.table_name.as_str());
        let retention = Duration::days(i64::from(activity_retention_days));
        Self {
            identity: Identity::from_settings(&settings.auth, store.clone(), clock.clone()),
            members: Members::new(store.clone(), clock.clone(), retention),
            invitations: Invitations::new(
                store.clone(),
                clock.clone(),
                retention,
                outbound.mailer,
                &outbound.app_url,
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
        .route("/v1/team/members", get(list_members))
        .route("/v1/team/members/{user_id}/role", patch(change_role))
        .route("/v1/team/members/{user_id}", delete(remove_member))
        .route("/v1/team/activity", get(list_activity))
        .route("/v1/team/invite", post(invite))
        .route("/v1/team/invitations", get(list_invitations))
        .route("/v1/team/invitations/{id}", delete(revoke_invitation))
        .route("/v1/team/invitations/{id}/resend", post(resend_invitation))
        .route("/v1/team/accept-invitation", post(accept_invitation));
    web::finish(routes, cors_allowed_origins, app)
}

/// The organization's members, with their profiles.
#[utoipa::path(get, path = "/v1/team/members", tag = "team", params(ListParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of members", body = ListResponse<Member>),
        (status = 400, description = "No organization, or a bad limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
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
    params(("user_id" = String, Path, description = "The member's user id"), web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The member with the new role", body = Member),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
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
    params(("user_id" = String, Path, description = "The member's user id"), web::openapi::OrgHeader),
    responses(
        (status = 204, description = "Removed"),
        web::openapi::Unauthorized,
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

/// The activity log, newest first (billing entries for owners and admins only).
#[utoipa::path(get, path = "/v1/team/activity", tag = "team", params(ActivityParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of entries, newest first", body = ListResponse<ActivityView>),
        (status = 400, description = "Bad filters, limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
    ))]
async fn list_activity(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    QueryParams(params): QueryParams<ActivityParams>,
) -> Result<Json<ListResponse<ActivityView>>, Problem> {
    let filter = ActivityFilter::parse(
        params.action.as_deref(),
        params.from.as_deref(),
        params.to.as_deref(),
    )?;
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
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

/// Invite someone by email (owners: admin, member or viewer; admins: member or viewer).
#[utoipa::path(post, path = "/v1/team/invite", tag = "team", request_body = CreateInvitation,
    params(web::openapi::OrgHeader),
    responses(
        (status = 201, description = "The pending invitation; the email carries the token", body = Invitation),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 402, description = "No free seat on the plan (`seat_limit_reached`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "The caller's role may not invite for this role", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Already a member (`already_member`) or invited (`already_invited`)", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn invite(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    ValidJson(request): ValidJson<CreateInvitation>,
) -> Result<Created<Invitation>, Problem> {
    Ok(Created(app.invitations.invite(&member, request).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct InvitationParams {
    /// Only invitations in this state: `pending`, `accepted`, `revoked` or `expired`.
    #[param(value_type = Option<InvitationStatus>)]
    status: Option<String>,
    /// Page size, 1–100 (default 20).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{0,2048}$")]
    cursor: Option<String>,
}

/// The organization's invitations, newest first.
#[utoipa::path(get, path = "/v1/team/invitations", tag = "team", params(InvitationParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of invitations, newest first", body = ListResponse<Invitation>),
        (status = 400, description = "Bad status, limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
    ))]
async fn list_invitations(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    QueryParams(params): QueryParams<InvitationParams>,
) -> Result<Json<ListResponse<Invitation>>, Problem> {
    let status = params
        .status
        .as_deref()
        .filter(|s| !s.is_empty())
        .map(str::parse::<InvitationStatus>)
        .transpose()?;
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let page = app
        .invitations
        .list(&member, status, list.limit()?, list.cursor())
        .await?;
    Ok(Json(page.into()))
}

/// Revoke an invitation: its token stops working and its seat is free.
#[utoipa::path(delete, path = "/v1/team/invitations/{id}", tag = "team",
    params(("id" = String, Path, description = "The invitation id"), web::openapi::OrgHeader),
    responses(
        (status = 204, description = "Revoked (or had already ended)"),
        web::openapi::Unauthorized,
        (status = 403, description = "The caller's role may not manage this invitation", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such invitation", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Already accepted, or a concurrent change", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn revoke_invitation(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(id): PathParam,
) -> Result<StatusCode, Problem> {
    app.invitations.revoke(&member, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Send a pending invitation again with a new token and expiry; the old token stops working.
#[utoipa::path(post, path = "/v1/team/invitations/{id}/resend", tag = "team",
    params(("id" = String, Path, description = "The invitation id"), web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The invitation with its new expiry", body = Invitation),
        web::openapi::Unauthorized,
        (status = 403, description = "The caller's role may not manage this invitation", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such invitation", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Not pending any more, or a concurrent change", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn resend_invitation(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(id): PathParam,
) -> Result<Json<Invitation>, Problem> {
    Ok(Json(app.invitations.resend(&member, &id).await?))
}

/// Accept an invitation with the token from its email. No active organization is needed; the
/// caller's token must carry the invited email, verified.
#[utoipa::path(post, path = "/v1/team/accept-invitation", tag = "team", request_body = AcceptInvitation,
    responses(
        (status = 200, description = "The membership that was created", body = AcceptedInvitation),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 403, description = "The invitation is for another, or an unverified, email (`email_mismatch`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Already a member of the organization", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 410, description = "Not a live invitation: expired, revoked, used, replaced or unknown (`invitation_gone`)", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn accept_invitation(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    ValidJson(request): ValidJson<AcceptInvitation>,
) -> Result<Json<AcceptedInvitation>, Problem> {
    Ok(Json(app.invitations.accept(&caller, request).await?))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_members,
        change_role,
        remove_member,
        list_activity,
        invite,
        list_invitations,
        revoke_invitation,
        resend_invitation,
        accept_invitation
    ),
    tags((name = "team", description = "Members, invitations, roles and the activity log"))
)]
struct TeamApi;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    TeamApi::openapi()
}
