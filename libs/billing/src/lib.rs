//! Billing's domain: which Stripe price is which plan, what the table keeps of a Stripe
//! subscription ([`plans::SubscriptionFacts`], read through [`plans::effective_plan`] wherever
//! limits are), the one writer of those facts, invoices mirrored from Stripe, and the webhook.

mod catalog;
pub mod customers;
mod error;
mod facts;
pub mod invoices;
pub mod notices;
mod payment_methods;
pub mod secrets;
mod service;
pub mod stripe_api;
mod subscriptions;
pub mod usage;
pub mod views;
pub mod webhook;
pub mod writer;

pub use catalog::{PriceCatalog, PricedPlan};
pub use error::BillingError;
pub use facts::{FactsError, facts_of};
pub use secrets::KeySource;
pub use service::Billing;
pub use stripe_api::{IdempotencyScope, StripeApi, StripeFailure};
