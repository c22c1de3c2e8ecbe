//! Routes of the notifications function: the caller's own notifications in their active
//! organization (any member), sending to members and the delivery log (owners and admins), and
//! the public one-click unsubscribe of notification email, through libs/notifications. Another
//! user's or organization's notification is not found: its key holds both.

use auth::Permission;
use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{get, patch, post};
use clock::Clock;
use config::HttpSettings;
use notifications::{
    BadToken, Delivery, Inbox, Notification, Preferences, PreferencesChange, SendAccepted,
    SendNotification, Sender, Status, UnreadCount, UnsubscribeLinks,
};
use notify::{NotificationType, Queue};
use problem::{FieldError, Problem, ProblemDocument};
use serde::{Deserialize, Serialize};
use store::Store;
use utoipa::{IntoParams, OpenApi, ToSchema};
use web::{
    ActiveOrg, IdempotencyKey, Identity, Json, ListParams, ListResponse, PathParam, QueryParams,
    ValidJson,
};

/// Everything the handlers share, built once per cold start.
#[derive(Clone)]
pub struct App {
    identity: Identity,
    inbox: Inbox,
    connections: realtime::Connections,
    sender: Sender,
    store: Store,
    unsubscribe: UnsubscribeLinks,
    clock: Clock,
}

impl FromRef<App> for Identity {
    fn from_ref(app: &App) -> Identity {
        app.identity.clone()
    }
}

impl App {
    /// `queue` is the notifications queue, where sent notifications go to the dispatcher;
    /// `unsubscribe` checks the links of notification email.
    pub fn new(
        settings: &HttpSettings,
        dynamodb: aws_sdk_dynamodb::Client,
        queue: Queue,
        unsubscribe: UnsubscribeLinks,
        clock: Clock,
    ) -> Self {
        let store = Store::new(dynamodb, settings.table_name.as_str());
        Self {
            identity: Identity::from_settings(&settings.auth, store.clone(), clock.clone()),
            inbox: Inbox::new(store.clone(), clock.clone()),
            connections: realtime::Connections::new(store.clone(), clock.clone()),
            sender: Sender::new(store.clone(), queue, clock.clone()),
            store,
            unsubscribe,
            clock,
        }
    }

    pub fn inbox(&self) -> &Inbox {
        &self.inbox
    }
}

pub fn router(app: App, cors_allowed_origins: &[String]) -> Router {
    let routes = Router::new()
        .route(
            "/v1/notifications",
            get(list_notifications).post(send_notification),
        )
        .route("/v1/notifications/unread-count", get(unread_count))
        .route("/v1/notifications/mark-all-read", post(mark_all_read))
        .route(
            "/v1/notifications/preferences",
            get(get_preferences).post(change_preferences),
        )
        .route(
            notifications::unsubscribe::PATH,
            get(unsubscribe_page).post(unsubscribe),
        )
        .route(
            "/v1/notifications/requests/{request_id}/deliveries",
            get(list_deliveries),
        )
        .route("/v1/notifications/{id}/read", patch(mark_read))
        .route(
            "/v1/notifications/{id}",
            get(get_notification).delete(delete_notification),
        )
        .route("/v1/ws/ticket", post(issue_ticket));
    web::finish(routes, cors_allowed_origins, app)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListNotifications {
    /// `unread`, `read` or `all` (default).
    #[param(value_type = Option<String>, pattern = "^(unread|read|all)?$")]
    status: Option<String>,
    /// Only this type: `system`, `billing`, `agent`, `workflow`, `team` or `kb`.
    #[param(value_type = Option<String>, pattern = "^(system|billing|agent|workflow|team|kb)?$")]
    r#type: Option<String>,
    /// Page size, 1–100 (default 20; empty reads as absent).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{0,2048}$")]
    cursor: Option<String>,
}

fn parse<T: serde::de::DeserializeOwned>(
    field: &str,
    raw: Option<&str>,
    allowed: &str,
) -> Result<Option<T>, Problem> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(value) => serde_json::from_value(serde_json::Value::String(value.to_owned()))
            .map(Some)
            .map_err(|_| {
                Problem::validation(vec![FieldError::new(field, format!("must be {allowed}"))])
            }),
    }
}

/// The caller's notifications in the organization, newest first.
#[utoipa::path(get, path = "/v1/notifications", tag = "notifications", params(ListNotifications, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of notifications", body = ListResponse<Notification>),
        (status = 400, description = "A bad status, type, limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn list_notifications(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    QueryParams(params): QueryParams<ListNotifications>,
) -> Result<Json<ListResponse<Notification>>, Problem> {
    let status: Status =
        parse("status", params.status.as_deref(), "unread, read or all")?.unwrap_or(Status::All);
    let kind: Option<NotificationType> = parse(
        "type",
        params.r#type.as_deref(),
        "system, billing, agent, workflow, team or kb",
    )?;
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let page = app
        .inbox
        .list(
            &member.org_id,
            member.user_id(),
            status,
            kind,
            list.limit()?,
            list.cursor(),
        )
        .await?;
    Ok(Json(page.into()))
}

/// Send a notification to members (owners and admins): queued for the dispatcher, which stores
/// it for each recipient per their preferences.
#[utoipa::path(post, path = "/v1/notifications", tag = "notifications", request_body = SendNotification,
    params(web::openapi::OrgHeader, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Retries with the same key and body return the first result; a retry after a failed send sends it (once)")),
    responses(
        (status = 202, description = "Queued; `request_id` names every delivery of it", body = SendAccepted),
        (status = 400, description = "A bad body, or `user_ids` that are not 1-500 distinct members (a field error per id); a malformed Idempotency-Key (`invalid_header`)", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or not an owner or admin", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used for another request (`idempotency_key_reused`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "The queue or the table is unavailable; retry with the same Idempotency-Key", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn send_notification(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    key: Result<IdempotencyKey, Problem>,
    body: Result<ValidJson<SendNotification>, Problem>,
) -> Result<(StatusCode, Json<SendAccepted>), Problem> {
    // The role first: a member or viewer learns nothing from the body's checks.
    member.require(Permission::SendNotifications)?;
    let (key, ValidJson(request)) = (key?, body?);
    let accepted = app.sender.send(&member, key.as_deref(), request).await?;
    Ok((StatusCode::ACCEPTED, Json(accepted)))
}

/// The exact number of unread notifications, with the version a client keeps the newest of.
#[utoipa::path(get, path = "/v1/notifications/unread-count", tag = "notifications", params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The count", body = UnreadCount),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn unread_count(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
) -> Result<Json<UnreadCount>, Problem> {
    Ok(Json(
        app.inbox
            .unread_count(&member.org_id, member.user_id())
            .await?,
    ))
}

/// Mark one notification read (again: no change).
#[utoipa::path(patch, path = "/v1/notifications/{id}/read", tag = "notifications",
    params(("id" = String, Path, description = "The notification id"), web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The notification, read", body = Notification),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 404, description = "No such notification of the caller's", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Too many concurrent changes; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn mark_read(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(id): PathParam,
) -> Result<Json<Notification>, Problem> {
    Ok(Json(
        app.inbox
            .mark_read(&member.org_id, member.user_id(), &id)
            .await?,
    ))
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MarkedAllRead {
    /// How many were unread.
    pub updated: i64,
}

/// Mark every notification read: one write, however many there are.
#[utoipa::path(post, path = "/v1/notifications/mark-all-read", tag = "notifications", params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "How many were unread", body = MarkedAllRead),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 503, description = "Too many concurrent changes; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn mark_all_read(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
) -> Result<Json<MarkedAllRead>, Problem> {
    let updated = app
        .inbox
        .mark_all_read(&member.org_id, member.user_id())
        .await?
        .updated;
    Ok(Json(MarkedAllRead { updated }))
}

/// Delete one notification.
#[utoipa::path(delete, path = "/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "The notification id"), web::openapi::OrgHeader),
    responses(
        (status = 204, description = "Deleted"),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 404, description = "No such notification of the caller's", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Too many concurrent changes; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn delete_notification(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(id): PathParam,
) -> Result<StatusCode, Problem> {
    app.inbox
        .delete(&member.org_id, member.user_id(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller's preferences: every type's `in_app` and `email` (on unless turned off).
#[utoipa::path(get, path = "/v1/notifications/preferences", tag = "notifications", params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "Every type's channels", body = Preferences),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn get_preferences(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
) -> Result<Json<Preferences>, Problem> {
    Ok(Json(
        notifications::preferences::preferences(&app.store, &member.org_id, member.user_id())
            .await?,
    ))
}

/// Change any part of the preferences; answers the whole.
#[utoipa::path(post, path = "/v1/notifications/preferences", tag = "notifications", request_body = PreferencesChange,
    params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "Every type's channels, after the change", body = Preferences),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn change_preferences(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    ValidJson(change): ValidJson<PreferencesChange>,
) -> Result<Json<Preferences>, Problem> {
    Ok(Json(
        notifications::preferences::update_preferences(
            &app.store,
            &member.org_id,
            member.user_id(),
            &change,
        )
        .await?,
    ))
}

/// A notification with how it reached the caller.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationDetail {
    #[serde(flatten)]
    pub notification: Notification,
    /// Its deliveries to the caller, per channel (`in_app`, `email`), as recorded.
    pub deliveries: Vec<Delivery>,
}

/// One of the caller's notifications, with its deliveries to them (in the app, by email).
#[utoipa::path(get, path = "/v1/notifications/{id}", tag = "notifications",
    params(("id" = String, Path, description = "The notification id"), web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The notification and its deliveries to the caller", body = NotificationDetail),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 404, description = "No such notification of the caller's", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn get_notification(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(id): PathParam,
) -> Result<Json<NotificationDetail>, Problem> {
    let Some((notification, request_id)) = app
        .inbox
        .get_with_request(&member.org_id, member.user_id(), &id)
        .await?
    else {
        return Err(Problem::not_found("no such notification"));
    };
    let deliveries = notifications::deliveries::of_recipient(
        &app.store,
        &member.org_id,
        &request_id,
        member.user_id(),
    )
    .await?;
    Ok(Json(NotificationDetail {
        notification,
        deliveries,
    }))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListDeliveries {
    /// Page size, 1–100 (default 20; empty reads as absent).
    #[param(value_type = Option<u16>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// The `next_cursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{0,2048}$")]
    cursor: Option<String>,
}

/// A request id as `POST /v1/notifications` answers it (a ULID), or an outbox notice's (hex).
fn valid_request_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// How a send request reached each recipient, per channel (owners and admins of the
/// organization that sent it): status, reason, time, SES's message id.
#[utoipa::path(get, path = "/v1/notifications/requests/{request_id}/deliveries", tag = "notifications",
    params(("request_id" = String, Path, pattern = "^[A-Za-z0-9]{1,64}$", description = "The `request_id` that `POST /v1/notifications` answered"), ListDeliveries, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of deliveries, by recipient then channel", body = ListResponse<Delivery>),
        (status = 400, description = "A malformed request id, limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or not an owner or admin", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No deliveries of this request in the organization: another organization's, unknown, or not dispatched yet", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn list_deliveries(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(request_id): PathParam,
    QueryParams(params): QueryParams<ListDeliveries>,
) -> Result<Json<ListResponse<Delivery>>, Problem> {
    member.require(Permission::SendNotifications)?;
    if !valid_request_id(&request_id) {
        return Err(Problem::validation(vec![FieldError::new(
            "request_id",
            "must be the request_id that POST /v1/notifications answered",
        )]));
    }
    let list = ListParams {
        limit: params.limit,
        cursor: params.cursor,
    };
    let cursor = list.cursor();
    let page = notifications::deliveries::list(
        &app.store,
        &member.org_id,
        &request_id,
        list.limit()?,
        cursor,
    )
    .await?;
    if page.items.is_empty() && cursor.is_none() {
        return Err(Problem::not_found(
            "no deliveries of this request in the organization",
        ));
    }
    Ok(Json(page.into()))
}

/// Other parameters are ignored: link rewriters and trackers add their own, and the click must
/// still work.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
struct UnsubscribeParams {
    /// The token of the email's `List-Unsubscribe` link.
    #[param(pattern = "^[A-Za-z0-9_-]+\\.[A-Za-z0-9_-]+$", max_length = 1024)]
    token: String,
}

/// What a one-click unsubscribe did.
#[derive(Debug, Serialize, ToSchema)]
struct Unsubscribed {
    /// The type whose email is off now.
    #[schema(value_type = String)]
    r#type: NotificationType,
    /// Always `email`: the in-app channel is left as it was.
    channel: &'static str,
    /// `false`.
    enabled: bool,
}

fn bad_token(error: BadToken) -> Problem {
    Problem::bad_request("invalid_token", error.to_string())
}

/// An HTML page (the unsubscribe page and its answer), sent so no other site can frame it or
/// run anything in it.
fn page(title: &str, content: &str) -> axum::response::Response {
    use axum::response::IntoResponse;
    let html = mail::html_layout(
        &format!("<h2>{}</h2>{content}", mail::escape_html(title)),
        "Objecta notification email",
    );
    (
        [
            (axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (
                axum::http::header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ),
            (axum::http::header::CACHE_CONTROL, "no-store"),
            (axum::http::header::REFERRER_POLICY, "no-referrer"),
        ],
        html,
    )
        .into_response()
}

/// What the link of a notification email does, without doing it (public). Link scanners and
/// previews fetch links: only a POST turns email off, as the page's button or a mail client's
/// one-click does.
#[utoipa::path(get, path = "/v1/notifications/unsubscribe", tag = "notifications", params(UnsubscribeParams),
    security(()),
    responses(
        (status = 200, description = "A page saying what a POST would turn off, with a button that does it", content_type = "text/html"),
        (status = 400, description = "A missing, malformed, tampered or expired token (`invalid_token`); nothing changed", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn unsubscribe_page(
    State(app): State<App>,
    QueryParams(params): QueryParams<UnsubscribeParams>,
) -> Result<axum::response::Response, Problem> {
    let what = app
        .unsubscribe
        .verify(&params.token, app.clock.now())
        .map_err(bad_token)?;
    let kind = what.kind.as_str();
    Ok(page(
        &format!("Turn off {kind} email?"),
        &format!(
            "<p>This turns off email about <strong>{kind}</strong> notifications for this \
             address in its organization. In-app notifications and other types stay as they are; \
             you can turn it back on in your notification preferences.</p>\
             <form method=\"post\" action=\"?token={token}\">\
             <input type=\"hidden\" name=\"List-Unsubscribe\" value=\"One-Click\">\
             <button type=\"submit\">Turn off {kind} email</button></form>",
            token = mail::escape_html(&params.token),
        ),
    ))
}

/// One-click unsubscribe (RFC 8058, public: the token is the credential). Turns email off for
/// the type the token names, for its user in its organization; again: no change. The one route
/// that takes a form body: `List-Unsubscribe=One-Click`, as `application/x-www-form-urlencoded`
/// or `multipart/form-data`, as mail clients post it.
#[utoipa::path(post, path = "/v1/notifications/unsubscribe", tag = "notifications", params(UnsubscribeParams),
    security(()),
    request_body(content = String, content_type = "application/x-www-form-urlencoded", description = "Exactly `List-Unsubscribe=One-Click` (or that one field as `multipart/form-data`)"),
    responses(
        (status = 200, description = "Email for the type is off (a page instead when the client asks for `text/html`)", body = Unsubscribed),
        (status = 400, description = "A missing, malformed, tampered or expired token (`invalid_token`), or a body that is not `List-Unsubscribe=One-Click` (`invalid_body`); nothing changed", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 415, description = "Not a form body; nothing changed", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn unsubscribe(
    State(app): State<App>,
    QueryParams(params): QueryParams<UnsubscribeParams>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Result<axum::response::Response, Problem> {
    use axum::response::IntoResponse;
    use notifications::unsubscribe::{BadBody, check_one_click};
    let what = app
        .unsubscribe
        .verify(&params.token, app.clock.now())
        .map_err(bad_token)?;
    let content_type = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    check_one_click(content_type, &body).map_err(|error| match error {
        BadBody::MediaType => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            error.to_string(),
        ),
        BadBody::NotOneClick => Problem::bad_request("invalid_body", error.to_string()),
    })?;
    notifications::unsubscribe::unsubscribe(&app.store, &what).await?;
    tracing::info!(org_id = %what.org_id, kind = ?what.kind, "email unsubscribed by link");
    let wants_html = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"));
    if wants_html {
        let kind = what.kind.as_str();
        return Ok(page(
            &format!("{kind} email is off"),
            "<p>You will get no more email of this type from this organization. You can turn it \
             back on in your notification preferences.</p>",
        ));
    }
    Ok(Json(Unsubscribed {
        r#type: what.kind,
        channel: "email",
        enabled: false,
    })
    .into_response())
}

/// A single-use ticket for the WebSocket API.
#[derive(Debug, Serialize, ToSchema)]
struct Ticket {
    /// Connect with `wss://<websocket api>?ticket=<ticket>` within `expires_in` seconds; the
    /// first `$connect` consumes it.
    #[schema(pattern = "^wst_[A-Za-z0-9_-]{43}$")]
    ticket: String,
    /// Seconds the ticket stays valid: 60.
    expires_in: i64,
}

/// A single-use ticket to open a WebSocket connection to the organization's notifications
/// (any member). A JWT never goes in a URL: URLs are logged.
#[utoipa::path(post, path = "/v1/ws/ticket", tag = "notifications", params(web::openapi::OrgHeader),
    responses(
        (status = 201, description = "A ticket valid for 60 seconds, for one connection", body = Ticket),
        web::openapi::Unauthorized,
        web::openapi::NotAMember,
        (status = 503, description = "The table is unavailable or throttled; retry", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn issue_ticket(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
) -> Result<(StatusCode, Json<Ticket>), Problem> {
    let issued = app
        .connections
        .issue_ticket(&member.org_id, member.user_id())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(Ticket {
            ticket: issued.ticket,
            expires_in: issued.expires_in,
        }),
    ))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        issue_ticket,
        send_notification,
        list_notifications,
        get_notification,
        list_deliveries,
        unsubscribe_page,
        unsubscribe,
        unread_count,
        mark_read,
        mark_all_read,
        delete_notification,
        get_preferences,
        change_preferences
    ),
    tags((name = "notifications", description = "Each member's notification centre: notifications, the exact unread count, preferences; sending to members"))
)]
struct NotificationsApi;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    NotificationsApi::openapi()
}
