//! Billing's global lookup items: a Stripe customer's organization, and the Stripe events already
//! processed. The subscription's facts live on the organization's profile (`subscription`,
//! `billing_version`), so limits cost no read of their own.

use super::Key;

/// The partition prefixes (global: Stripe's ids, not an organization's, lead to them).
pub(super) const STRIPE_CUSTOMER: &str = "STRIPE_CUSTOMER#";
pub(super) const STRIPE_EVENT: &str = "STRIPE_EVENT#";
/// Sort keys: the partition's own name, as the API-key lookup's.
const STRIPE_CUSTOMER_SORT: &str = "STRIPE_CUSTOMER";
const STRIPE_EVENT_SORT: &str = "STRIPE_EVENT";

/// Global lookup: the organization of a Stripe customer (written once, with the customer).
pub fn stripe_customer(customer_id: &str) -> Key {
    Key::new(
        format!("{STRIPE_CUSTOMER}{customer_id}"),
        STRIPE_CUSTOMER_SORT,
    )
}

/// Global once-marker: a Stripe event id, written in the transaction that processed the event.
pub fn stripe_event(event_id: &str) -> Key {
    Key::new(format!("{STRIPE_EVENT}{event_id}"), STRIPE_EVENT_SORT)
}
