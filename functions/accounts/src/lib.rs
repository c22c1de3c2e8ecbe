//! Routes of the accounts function. Each handler parses, authorizes, calls the accounts domain
//! and shapes the answer; the rules live in `libs/accounts`.

use accounts::{
    CreateOrganization, Organization, Organizations, Profile, ProfilePatch, RenameOrganization,
};
use auth::ContextError;
use axum::Router;
use axum::extract::{FromRef, State};
use axum::response::IntoResponse;
use axum::routing::get;
use clock::{Clock, Duration};
use config::HttpSettings;
use problem::{Problem, ProblemDocument};
use store::Store;
use utoipa::OpenApi;
use web::{
    Authenticated, Created, IdempotencyKey, Identity, Json, ListParams, ListResponse, PathParam,
    ValidJson, Verified,
};

/// Everything the handlers share, built once per cold start.
#[derive(Clone)]
pub struct App {
    identity: Identity,
    organizations: Organizations,
    store: Store,
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
        clock: Clock,
        activity_retention_days: u16,
    ) -> Self {
        let store = Store::new(dynamodb, settings.table_name.as_str());
        let retention = Duration::days(i64::from(activity_retention_days));
        Self {
            identity: Identity::from_settings(&settings.auth, store.clone(), clock.clone()),
            organizations: Organizations::new(store.clone(), clock, retention),
            store,
        }
    }

    pub fn store(&self) -> &Store {
        &self.store
    }
}

pub fn router(app: App, cors_allowed_origins: &[String]) -> Router {
    let routes = Router::new()
        .route("/v1/health", get(web::health))
        .route("/v1/openapi.json", get(openapi_document))
        .route(
            "/v1/orgs",
            get(list_organizations).post(create_organization),
        )
        .route("/v1/orgs/{id}", axum::routing::patch(rename_organization))
        .route("/v1/me", get(get_profile).patch(update_profile));
    web::finish(routes, cors_allowed_origins, app)
}

/// The OpenAPI document of the whole API, generated from every function's code by
/// `cargo run -p devtools -- openapi` and checked by the tests to be current.
pub const OPENAPI_DOCUMENT: &str = include_str!("../../../docs/openapi.json");

async fn openapi_document() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        OPENAPI_DOCUMENT,
    )
}

/// Health check (public).
#[utoipa::path(get, path = "/v1/health", operation_id = "health", tag = "accounts", security(()),
    responses((status = 200, description = "The function is up", body = Object, example = json!({"status": "ok"}))))]
#[allow(dead_code)]
fn health_doc() {}

/// This OpenAPI document (public).
#[utoipa::path(get, path = "/v1/openapi.json", operation_id = "openapi", tag = "accounts", security(()),
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object)))]
#[allow(dead_code)]
fn openapi_doc() {}

/// Create an organization; the caller becomes its owner.
#[utoipa::path(post, path = "/v1/orgs", tag = "accounts",
    params(("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Retries with the same key and body return the first result")),
    request_body = CreateOrganization,
    responses(
        (status = 201, description = "Created", body = Organization),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 409, description = "Idempotency-Key reused with another body", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn create_organization(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    key: Result<IdempotencyKey, Problem>,
    ValidJson(request): ValidJson<CreateOrganization>,
) -> Result<Created<Organization>, Problem> {
    // The body is checked first: a bad body is reported before a bad header.
    let key = key?;
    Ok(Created(
        app.organizations
            .create(&caller, request, key.as_deref())
            .await?,
    ))
}

/// The caller's organizations, with their role in each.
#[utoipa::path(get, path = "/v1/orgs", tag = "accounts", params(ListParams),
    responses(
        (status = 200, description = "A page of organizations", body = ListResponse<Organization>),
        (status = 400, description = "Bad limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
    ))]
async fn list_organizations(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    params: ListParams,
) -> Result<Json<ListResponse<Organization>>, Problem> {
    let page = app
        .organizations
        .list(&caller, params.limit()?, params.cursor())
        .await?;
    Ok(Json(page.into()))
}

/// Rename an organization (owners and admins).
#[utoipa::path(patch, path = "/v1/orgs/{id}", tag = "accounts",
    params(("id" = String, Path, description = "Organization id")),
    request_body = RenameOrganization,
    responses(
        (status = 200, description = "Renamed", body = Organization),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 403, description = "The caller's role may not rename", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such organization among the caller's", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn rename_organization(
    State(app): State<App>,
    Verified(claims): Verified,
    PathParam(org_id): PathParam,
    ValidJson(request): ValidJson<RenameOrganization>,
) -> Result<Json<Organization>, Problem> {
    // The organization is the object here: one the caller does not belong to does not exist
    // for them (404), whatever its id looks like.
    let member = match app.identity.contexts().org_member(claims, &org_id).await {
        Ok(member) => member,
        Err(ContextError::NotAMember | ContextError::InvalidOrgId) => {
            return Err(Problem::not_found("organization not found"));
        }
        Err(e) => return Err(e.into()),
    };
    Ok(Json(app.organizations.rename(&member, request).await?))
}

/// The caller's profile (created on their first request).
#[utoipa::path(get, path = "/v1/me", tag = "accounts",
    responses(
        (status = 200, description = "The caller's profile", body = Profile),
        web::openapi::Unauthorized,
    ))]
async fn get_profile(Authenticated(caller): Authenticated) -> Json<Profile> {
    Json(Profile::from(&caller.user))
}

/// Update the caller's profile.
#[utoipa::path(patch, path = "/v1/me", tag = "accounts", request_body = ProfilePatch,
    responses(
        (status = 200, description = "The updated profile", body = Profile),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
    ))]
async fn update_profile(
    State(app): State<App>,
    Authenticated(caller): Authenticated,
    ValidJson(patch): ValidJson<ProfilePatch>,
) -> Result<Json<Profile>, Problem> {
    Ok(Json(
        accounts::update_profile(&app.store, &caller, patch).await?,
    ))
}

#[derive(OpenApi)]
#[openapi(
    paths(health_doc, openapi_doc, create_organization, list_organizations, rename_organization, get_profile, update_profile),
    components(schemas(ProblemDocument, problem::FieldError, auth::Role)),
    tags((name = "accounts", description = "Organizations and the caller's profile"))
)]
struct AccountsApi;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    AccountsApi::openapi()
}
