//! What the billing routes take and answer.

use clock::DateTime;
use plans::{Interval, SubscriptionFacts, SubscriptionStatus};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

fn paid_plan(plan: &str) -> Result<(), ValidationError> {
    match plans::find(plan) {
        Some(p) if p.id != plans::FREE => Ok(()),
        Some(_) => Err(ValidationError::new("free_plan").with_message(
            "the free plan needs no subscription: cancel the subscription instead".into(),
        )),
        None => Err(ValidationError::new("unknown_plan")
            .with_message("must be starter, pro or enterprise".into())),
    }
}

fn stripe_payment_method_id(id: &str) -> Result<(), ValidationError> {
    if crate::subscriptions::valid_payment_method_id(id) {
        Ok(())
    } else {
        Err(ValidationError::new("payment_method_id")
            .with_message("must be a Stripe PaymentMethod id (pm_…)".into()))
    }
}

/// The organization's subscription. Without one (or after it ended) the organization is on
/// `free`/`active` and the other fields are empty.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SubscriptionView {
    /// The subscribed plan: `free`, `starter`, `pro` or `enterprise`.
    pub plan: String,
    /// Stripe's status: `active`, `trialing`, `past_due`, `incomplete`, `unpaid`, `paused`, …
    pub status: SubscriptionStatus,
    pub interval: Option<Interval>,
    #[serde(with = "clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub current_period_start: Option<DateTime>,
    #[serde(with = "clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub current_period_end: Option<DateTime>,
    /// It ends at `current_period_end` and does not renew.
    pub cancel_at_period_end: bool,
    /// A plan that takes over at `current_period_end` (a downgrade or a cheaper interval).
    pub pending_plan: Option<String>,
    pub pending_interval: Option<Interval>,
    /// When the renewal's payment first failed (`past_due`); the plan holds for 7 days from it.
    #[serde(with = "clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub past_due_since: Option<DateTime>,
    /// Whose limits apply now (free once a subscription is unpaid past its grace).
    pub effective_plan: String,
}

impl SubscriptionView {
    pub fn of(facts: Option<&SubscriptionFacts>, now: DateTime) -> Self {
        let effective_plan = plans::effective_plan(facts, now).id.clone();
        match facts.filter(|f| !crate::writer::ended(&f.status)) {
            Some(f) => Self {
                plan: f.plan.clone(),
                status: f.status.clone(),
                interval: Some(f.interval),
                current_period_start: Some(f.current_period_start),
                current_period_end: Some(f.current_period_end),
                cancel_at_period_end: f.cancel_at_period_end,
                pending_plan: f.pending_plan.clone(),
                pending_interval: f.pending_interval,
                past_due_since: f.past_due_since,
                effective_plan,
            },
            None => Self {
                plan: plans::FREE.to_owned(),
                status: SubscriptionStatus::Active,
                interval: None,
                current_period_start: None,
                current_period_end: None,
                cancel_at_period_end: false,
                pending_plan: None,
                pending_interval: None,
                past_due_since: None,
                effective_plan,
            },
        }
    }
}

/// A new subscription, and what the customer must still confirm.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreatedSubscription {
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// Set when the card needs the customer (3D Secure): confirm this PaymentIntent client
    /// secret with Stripe.js; the subscription stays `incomplete` until then (23 hours).
    pub client_secret: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateSubscription {
    /// `starter`, `pro` or `enterprise` (`free` needs no subscription).
    #[validate(custom(function = "paid_plan"))]
    #[schema(pattern = "^(starter|pro|enterprise)$")]
    pub plan: String,
    pub interval: Interval,
    /// A Stripe PaymentMethod (`pm_…`, from Stripe.js) to attach and pay with; required when
    /// the organization has no default payment method yet.
    #[validate(custom(function = "stripe_payment_method_id"))]
    #[schema(pattern = "^pm_[A-Za-z0-9_]{1,200}$")]
    pub payment_method_id: Option<String>,
}

/// At least one of the two; what is left out stays as it is.
#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeSubscription {
    #[validate(custom(function = "paid_plan"))]
    #[schema(pattern = "^(starter|pro|enterprise)$")]
    pub plan: Option<String>,
    pub interval: Option<Interval>,
}

/// What a change would bill, from Stripe's invoice preview.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ChangePreview {
    pub plan: String,
    pub interval: Interval,
    /// `now` for an upgrade (prorated), `period_end` for a downgrade or a cheaper interval.
    pub takes_effect: String,
    /// Charged when the change is made (0 when it waits for the period end).
    pub amount_due_now: i64,
    /// The invoice the change makes now, line by line (empty when it waits).
    pub lines_now: Vec<PreviewLine>,
    /// The first renewal after the change.
    pub amount_at_renewal: i64,
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub renews_at: DateTime,
    pub currency: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PreviewLine {
    pub description: Option<String>,
    pub amount: i64,
}

/// A card on file at Stripe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PaymentMethodView {
    /// Stripe's id, `pm_…`.
    pub id: String,
    pub brand: Option<String>,
    pub last4: Option<String>,
    pub exp_month: Option<i64>,
    pub exp_year: Option<i64>,
    /// Renewals charge it.
    pub default: bool,
}

#[derive(Clone, Debug, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPaymentMethod {
    /// A Stripe PaymentMethod from Stripe.js (`pm_…`).
    #[validate(custom(function = "stripe_payment_method_id"))]
    #[schema(pattern = "^pm_[A-Za-z0-9_]{1,200}$")]
    pub payment_method_id: String,
    /// Make it the one renewals charge (the first card always is).
    #[serde(default)]
    pub make_default: bool,
}

/// One metered quantity in the current period.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metric {
    pub used: u64,
    /// `null`: unlimited.
    pub limit: Option<u64>,
    /// `used / limit` in percent, one decimal (`null` when unlimited).
    pub percent: Option<f64>,
    /// The levels (percent of the limit) reached this period, each notified to owners and
    /// admins once: `[]`, `[80]` or `[80, 100]`.
    #[schema(example = json!([80]))]
    pub crossed: Vec<u8>,
}

impl Metric {
    pub fn new(used: u64, limit: Option<u64>, crossed: Vec<u8>) -> Self {
        let percent = limit.map(|limit| match limit {
            0 => 100.0,
            _ => (used as f64 * 1000.0 / limit as f64).round() / 10.0,
        });
        Self {
            used,
            limit,
            percent,
            crossed,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Metrics {
    pub messages: Metric,
    pub api_calls: Metric,
    pub storage_bytes: Metric,
    /// Members plus pending invitations.
    pub seats: Metric,
}

/// Usage in the current period: the calendar month (UTC) on the free plan, the month from the
/// subscription's anchor day on a paid one, in whole UTC days.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub plan: String,
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub period_start: DateTime,
    /// Exclusive: the next period starts here.
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub period_end: DateTime,
    pub metrics: Metrics,
}
