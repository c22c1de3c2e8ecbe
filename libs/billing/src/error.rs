//! Billing's failures and their problem+json answers.

use audit::ChangeError;
use http::StatusCode;
use problem::Problem;
use store::{ReplayError, StoreError};

use crate::FactsError;
use crate::stripe_api::StripeFailure;

#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// A request field that is not acceptable (400 with a field error).
    #[error("{field}: {message}")]
    Field {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Denied(#[from] auth::Denied),
    #[error("the plan {0} does not exist")]
    UnknownPlan(String),
    #[error("the free plan needs no subscription; cancel the subscription to return to it")]
    FreePlan,
    #[error("the organization already has a subscription")]
    SubscriptionExists,
    #[error("the organization has no subscription")]
    NoSubscription,
    #[error("the subscription is already on {0}")]
    SamePlan(String),
    #[error(
        "{plan} allows {limit} seats and {used} are in use; remove members or revoke invitations first"
    )]
    TooManySeats { plan: String, limit: u32, used: i64 },
    #[error("{0}")]
    NotChangeable(String),
    #[error("no such payment method")]
    NoSuchPaymentMethod,
    #[error(
        "the default payment method pays an active subscription; make another card the default first"
    )]
    DefaultPaymentMethod,
    #[error("{message}")]
    Declined {
        message: String,
        decline_code: Option<String>,
    },
    #[error("a request with the same Idempotency-Key is still in progress; retry shortly")]
    RequestInProgress,
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error("Stripe is unavailable: {0}")]
    StripeUnavailable(String),
    #[error("Stripe refused a request: {0}")]
    StripeRefused(String),
    /// Stripe has no such object (an id from a client, or one deleted at Stripe).
    #[error("no such Stripe object")]
    StripeObjectMissing,
    #[error(transparent)]
    Facts(#[from] FactsError),
    #[error("the subscription kept changing while it was being stored; retry")]
    Busy,
    #[error(transparent)]
    Change(#[from] ChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl BillingError {
    pub fn field(field: &'static str, message: impl Into<String>) -> Self {
        Self::Field {
            field,
            message: message.into(),
        }
    }
}

impl From<StripeFailure> for BillingError {
    fn from(e: StripeFailure) -> Self {
        match e {
            StripeFailure::Declined {
                message,
                decline_code,
                ..
            } => Self::Declined {
                message,
                decline_code,
            },
            StripeFailure::KeyInUse => Self::RequestInProgress,
            StripeFailure::KeyReused => Self::IdempotencyKeyReused,
            StripeFailure::Unavailable(reason) => Self::StripeUnavailable(reason),
            StripeFailure::NotFound => Self::StripeObjectMissing,
            StripeFailure::Refused { message, .. } => Self::StripeRefused(message),
        }
    }
}

impl From<ReplayError> for BillingError {
    fn from(e: ReplayError) -> Self {
        match e {
            ReplayError::KeyReused => Self::IdempotencyKeyReused,
            ReplayError::Store(e) => Self::Store(e),
        }
    }
}

impl From<BillingError> for Problem {
    fn from(e: BillingError) -> Self {
        let detail = e.to_string();
        match e {
            BillingError::Field { field, message } => {
                Problem::validation(vec![problem::FieldError::new(field, message)])
            }
            BillingError::Denied(e) => e.into(),
            BillingError::UnknownPlan(_) => {
                Problem::validation(vec![problem::FieldError::new("plan", detail)])
            }
            BillingError::FreePlan => {
                Problem::validation(vec![problem::FieldError::new("plan", detail)])
            }
            BillingError::SamePlan(_) => Problem::bad_request("same_plan", detail),
            BillingError::SubscriptionExists => Problem::conflict("subscription_exists", detail),
            BillingError::NoSubscription => {
                Problem::new(StatusCode::NOT_FOUND, "no_subscription", detail)
            }
            BillingError::TooManySeats { .. } => Problem::conflict("seats_in_use", detail),
            BillingError::NotChangeable(_) => {
                Problem::conflict("subscription_not_changeable", detail)
            }
            BillingError::NoSuchPaymentMethod => Problem::not_found(detail),
            BillingError::DefaultPaymentMethod => {
                Problem::conflict("default_payment_method", detail)
            }
            BillingError::Declined {
                message,
                decline_code,
            } => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "payment_declined",
                match decline_code {
                    Some(code) => format!("{message} (decline code: {code})"),
                    None => message,
                },
            ),
            BillingError::RequestInProgress => Problem::conflict("request_in_progress", detail),
            BillingError::IdempotencyKeyReused => {
                Problem::conflict("idempotency_key_reused", detail)
            }
            BillingError::StripeUnavailable(reason) => {
                tracing::warn!(%reason, "Stripe unavailable");
                Problem::unavailable("the payment provider is unavailable; retry shortly")
            }
            BillingError::Busy => Problem::unavailable(detail),
            // Stripe refused a change the table said was possible (its state moved on, say, in
            // the Dashboard): the client learns why; the webhook brings the table up to date.
            BillingError::StripeRefused(reason) => {
                tracing::warn!(%reason, "Stripe refused a request");
                Problem::conflict(
                    "stripe_refused",
                    format!("Stripe refused the change: {reason}"),
                )
            }
            BillingError::StripeObjectMissing => Problem::not_found(detail),
            BillingError::Facts(e) => {
                tracing::error!(error = %e, "a Stripe subscription billing code cannot map");
                Problem::internal()
            }
            BillingError::Change(e) => e.into(),
            BillingError::Store(e) => e.into(),
        }
    }
}
