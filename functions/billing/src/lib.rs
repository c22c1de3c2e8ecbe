//! Routes of the billing function. Each handler parses, calls libs/billing (which authorizes
//! against the role table and talks to Stripe) and shapes the answer.

use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::StatusCode;
use axum::routing::{delete, get, post};
use billing::Billing;
use billing::invoices::InvoiceRecord;
use billing::views::{
    AddPaymentMethod, ChangePreview, ChangeSubscription, CreateSubscription, CreatedSubscription,
    PaymentMethodView, SubscriptionView, Usage,
};
use clock::Clock;
use config::HttpSettings;
use plans::Interval;
use problem::{FieldError, Problem, ProblemDocument};
use serde::Deserialize;
use utoipa::{IntoParams, OpenApi};
use web::{
    ActiveOrg, Created, IdempotencyKey, Identity, Json, ListParams, ListResponse, PathParam,
    QueryParams, ValidJson,
};

/// Everything the handlers share, built once per cold start.
#[derive(Clone)]
pub struct App {
    identity: Identity,
    billing: Billing,
}

impl FromRef<App> for Identity {
    fn from_ref(app: &App) -> Identity {
        app.identity.clone()
    }
}

impl App {
    pub fn new(settings: &HttpSettings, billing: Billing, clock: Clock) -> Self {
        Self {
            identity: Identity::from_settings(&settings.auth, billing.store().clone(), clock),
            billing,
        }
    }

    pub fn billing(&self) -> &Billing {
        &self.billing
    }
}

pub fn router(app: App, cors_allowed_origins: &[String]) -> Router {
    let routes = Router::new()
        .route("/v1/billing/plans", get(list_plans))
        .route(
            "/v1/billing/subscription",
            get(get_subscription)
                .post(create_subscription)
                .patch(change_subscription)
                .delete(cancel_subscription),
        )
        .route("/v1/billing/subscription/preview", get(preview_change))
        .route("/v1/billing/subscription/resume", post(resume_subscription))
        .route("/v1/billing/invoices", get(list_invoices))
        .route(
            "/v1/billing/payment-methods",
            get(list_payment_methods).post(add_payment_method),
        )
        .route(
            "/v1/billing/payment-methods/{id}",
            delete(remove_payment_method),
        )
        .route("/v1/billing/usage", get(usage));
    web::finish(routes, cors_allowed_origins, app)
}

fn problem(e: billing::BillingError) -> Problem {
    e.into()
}

/// Every plan with its prices (cents), limits and features; public.
#[utoipa::path(get, path = "/v1/billing/plans", tag = "billing", security(()),
    responses((status = 200, description = "Every plan, cheapest first", body = ListResponse<plans::Plan>)))]
async fn list_plans() -> Json<ListResponse<plans::Plan>> {
    Json(ListResponse {
        items: plans::all().to_vec(),
        next_cursor: None,
    })
}

/// The organization's subscription (owners and admins); `free`/`active` without one.
#[utoipa::path(get, path = "/v1/billing/subscription", tag = "billing", params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or the role may not read billing", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn get_subscription(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
) -> Result<Json<SubscriptionView>, Problem> {
    Ok(Json(
        app.billing.subscription(&member).await.map_err(problem)?,
    ))
}

/// Subscribe (owners): creates the organization's Stripe customer once, attaches the card and
/// charges the first period now.
#[utoipa::path(post, path = "/v1/billing/subscription", tag = "billing", request_body = CreateSubscription,
    params(web::openapi::OrgHeader, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Retries with the same key and body return the first result")),
    responses(
        (status = 201, description = "Subscribed: `active`, or `incomplete` with a `client_secret` to confirm (3D Secure)", body = CreatedSubscription),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 402, description = "The card was declined (`payment_declined`, with Stripe's message and decline code); nothing was subscribed", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Not a member, or not an owner", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "A subscription exists (`subscription_exists`), the Idempotency-Key was used for another request, or its first request is still running", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable; retry with the same Idempotency-Key", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn create_subscription(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    key: Result<IdempotencyKey, Problem>,
    ValidJson(request): ValidJson<CreateSubscription>,
) -> Result<Created<CreatedSubscription>, Problem> {
    let key = key?;
    let created = app
        .billing
        .subscribe(&member, request, key.as_deref())
        .await
        .map_err(problem)?;
    Ok(Created(created))
}

/// Change plan or interval (owners): an upgrade now, prorated and charged at once; a downgrade
/// or a cheaper interval at the period end (`pending_plan`). The current plan drops a pending
/// change.
#[utoipa::path(patch, path = "/v1/billing/subscription", tag = "billing", request_body = ChangeSubscription,
    params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The subscription after the change", body = SubscriptionView),
        (status = 400, description = "A bad body, an unknown or the free plan, or the current plan with nothing pending (`same_plan`)", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 402, description = "The upgrade's charge was declined; nothing changed", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Not a member, or not an owner", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No subscription to change (`no_subscription`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "More seats in use than the plan allows (`seats_in_use`), the subscription cannot change now (`subscription_not_changeable`), or Stripe refused the change (`stripe_refused`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn change_subscription(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    ValidJson(request): ValidJson<ChangeSubscription>,
) -> Result<Json<SubscriptionView>, Problem> {
    Ok(Json(
        app.billing
            .change(&member, request)
            .await
            .map_err(problem)?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PreviewParams {
    /// The plan to preview (default: the current one).
    #[param(pattern = "^[a-z]{1,20}$")]
    plan: Option<String>,
    /// `month` or `year` (default: the current one).
    #[param(value_type = Option<String>, pattern = "^(month|year)$")]
    interval: Option<String>,
}

fn interval(raw: Option<&str>) -> Result<Option<Interval>, Problem> {
    match raw.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some("month") => Ok(Some(Interval::Month)),
        Some("year") => Ok(Some(Interval::Year)),
        Some(_) => Err(Problem::validation(vec![FieldError::new(
            "interval",
            "must be month or year",
        )])),
    }
}

/// What a change would charge now and at the next renewal (owners and admins), from Stripe's
/// invoice preview; nothing changes.
#[utoipa::path(get, path = "/v1/billing/subscription/preview", tag = "billing", params(PreviewParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The amounts", body = ChangePreview),
        (status = 400, description = "An unknown or the free plan, a bad interval, or the current plan (`same_plan`)", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or the role may not read billing", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No subscription (`no_subscription`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Stripe refused the preview (`stripe_refused`, with its reason)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn preview_change(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    QueryParams(params): QueryParams<PreviewParams>,
) -> Result<Json<ChangePreview>, Problem> {
    let interval = interval(params.interval.as_deref())?;
    let plan = params.plan.filter(|p| !p.is_empty());
    Ok(Json(
        app.billing
            .preview(&member, plan, interval)
            .await
            .map_err(problem)?,
    ))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CancelParams {
    /// `true` (default): at the period end, undone by resume; `false`: now, the free plan's
    /// limits at once.
    #[param(value_type = Option<bool>)]
    at_period_end: Option<String>,
}

/// Cancel the subscription (owners).
#[utoipa::path(delete, path = "/v1/billing/subscription", tag = "billing", params(CancelParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "The subscription: set to end, or ended (free/active)", body = SubscriptionView),
        (status = 400, description = "A bad `at_period_end`", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or not an owner", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No subscription (`no_subscription`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Stripe refused the change (`stripe_refused`, with its reason)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn cancel_subscription(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    QueryParams(params): QueryParams<CancelParams>,
) -> Result<Json<SubscriptionView>, Problem> {
    let at_period_end = match params.at_period_end.as_deref() {
        None | Some("" | "true") => true,
        Some("false") => false,
        Some(_) => {
            return Err(Problem::validation(vec![FieldError::new(
                "at_period_end",
                "must be true or false",
            )]));
        }
    };
    Ok(Json(
        app.billing
            .cancel(&member, at_period_end)
            .await
            .map_err(problem)?,
    ))
}

/// Undo a cancellation at the period end (owners).
#[utoipa::path(post, path = "/v1/billing/subscription/resume", tag = "billing",
    params(web::openapi::OrgHeader, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Retries with the same key return the first result")),
    responses(
        (status = 200, description = "The subscription, renewing again", body = SubscriptionView),
        (status = 400, description = "A malformed Idempotency-Key (`invalid_header`)", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or not an owner", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No subscription (`no_subscription`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "Not set to end (`subscription_not_changeable`), Stripe refused (`stripe_refused`), or the Idempotency-Key was used for another request", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn resume_subscription(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    key: IdempotencyKey,
) -> Result<Json<SubscriptionView>, Problem> {
    Ok(Json(
        app.billing
            .resume(&member, key.as_deref())
            .await
            .map_err(problem)?,
    ))
}

/// The organization's invoices, newest first (owners and admins), as the webhook mirrored them.
#[utoipa::path(get, path = "/v1/billing/invoices", tag = "billing", params(ListParams, web::openapi::OrgHeader),
    responses(
        (status = 200, description = "A page of invoices", body = ListResponse<InvoiceRecord>),
        (status = 400, description = "Bad limit or cursor", body = ProblemDocument, content_type = "application/problem+json"),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or the role may not read billing", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn list_invoices(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    params: ListParams,
) -> Result<Json<ListResponse<InvoiceRecord>>, Problem> {
    let page = app
        .billing
        .invoices(&member, params.limit()?, params.cursor())
        .await
        .map_err(problem)?;
    Ok(Json(page.into()))
}

/// The organization's cards (owners and admins), read from Stripe.
#[utoipa::path(get, path = "/v1/billing/payment-methods", tag = "billing", params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "Every card (at most 100), the default marked", body = ListResponse<PaymentMethodView>),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or the role may not read billing", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn list_payment_methods(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
) -> Result<Json<ListResponse<PaymentMethodView>>, Problem> {
    Ok(Json(ListResponse {
        items: app
            .billing
            .payment_methods(&member)
            .await
            .map_err(problem)?,
        next_cursor: None,
    }))
}

/// Add a card (owners): a PaymentMethod from Stripe.js, attached to the organization's customer.
#[utoipa::path(post, path = "/v1/billing/payment-methods", tag = "billing", request_body = AddPaymentMethod,
    params(web::openapi::OrgHeader, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,255}$", description = "Retries with the same key and body return the first result")),
    responses(
        (status = 201, description = "The card", body = PaymentMethodView),
        web::openapi::InvalidBody,
        web::openapi::BodyRejected,
        web::openapi::Unauthorized,
        (status = 402, description = "The card was declined", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 403, description = "Not a member, or not an owner", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "The Idempotency-Key was used for another request, or its first request is still running", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn add_payment_method(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    key: Result<IdempotencyKey, Problem>,
    ValidJson(request): ValidJson<AddPaymentMethod>,
) -> Result<Created<PaymentMethodView>, Problem> {
    let key = key?;
    Ok(Created(
        app.billing
            .add_payment_method(&member, request, key.as_deref())
            .await
            .map_err(problem)?,
    ))
}

/// Remove a card (owners); not the default while a subscription is live.
#[utoipa::path(delete, path = "/v1/billing/payment-methods/{id}", tag = "billing",
    params(("id" = String, Path, description = "The PaymentMethod id, pm_…"), web::openapi::OrgHeader),
    responses(
        (status = 204, description = "Detached"),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or not an owner", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 404, description = "No such card of this organization", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 409, description = "It is the default of a live subscription (`default_payment_method`)", body = ProblemDocument, content_type = "application/problem+json"),
        (status = 503, description = "Stripe is unavailable", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn remove_payment_method(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
    PathParam(id): PathParam,
) -> Result<StatusCode, Problem> {
    app.billing
        .remove_payment_method(&member, &id)
        .await
        .map_err(problem)?;
    Ok(StatusCode::NO_CONTENT)
}

/// This period's usage against the effective plan's limits (owners and admins).
#[utoipa::path(get, path = "/v1/billing/usage", tag = "billing", params(web::openapi::OrgHeader),
    responses(
        (status = 200, description = "Usage in the current period", body = Usage),
        web::openapi::Unauthorized,
        (status = 403, description = "Not a member, or the role may not read billing", body = ProblemDocument, content_type = "application/problem+json"),
    ))]
async fn usage(
    State(app): State<App>,
    ActiveOrg(member): ActiveOrg,
) -> Result<Json<Usage>, Problem> {
    Ok(Json(app.billing.usage(&member).await.map_err(problem)?))
}

#[derive(OpenApi)]
#[openapi(
    paths(
        list_plans,
        get_subscription,
        create_subscription,
        change_subscription,
        preview_change,
        cancel_subscription,
        resume_subscription,
        list_invoices,
        list_payment_methods,
        add_payment_method,
        remove_payment_method,
        usage
    ),
    tags((name = "billing", description = "Plans, the subscription, invoices, payment methods, usage and the Stripe webhook"))
)]
struct BillingApi;

/// This function's part of the OpenAPI document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    BillingApi::openapi()
}
