//! Billing's domain (being built, see the billing issue): which Stripe price is which plan, and
//! what the table keeps of a Stripe subscription ([`plans::SubscriptionFacts`], read through
//! [`plans::effective_plan`] wherever limits are).

mod catalog;
mod facts;
pub mod writer;

pub use catalog::{PriceCatalog, PricedPlan};
pub use facts::{FactsError, facts_of};
