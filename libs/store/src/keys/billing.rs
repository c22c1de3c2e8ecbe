//! Billing's keys: two global lookups (a Stripe customer's organization, the Stripe events
//! already processed) and the invoices mirrored under their organization. The subscription's
//! facts live on the organization's profile (`subscription`, `billing_version`), so limits cost
//! no read of their own.

use super::{Key, OrgId, Partition};

/// The partition prefixes (global: Stripe's ids, not an organization's, lead to them).
pub(super) const STRIPE_CUSTOMER: &str = "STRIPE_CUSTOMER#";
pub(super) const STRIPE_EVENT: &str = "STRIPE_EVENT#";
/// Sort-key prefix of mirrored invoices under `ORG#<org>`.
pub(super) const INVOICE: &str = "INVOICE#";
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

/// An invoice mirrored from Stripe, under its organization, sorted by the time Stripe created
/// it (the id breaks ties): `INVOICE#<created, 12 digits>#<in_…>`.
pub fn invoice(org: OrgId<'_>, created_epoch: i64, invoice_id: &str) -> Key {
    Key::new(
        super::org_partition(org),
        format!("{INVOICE}{created_epoch:012}#{invoice_id}"),
    )
}

/// An organization's mirrored invoices.
pub fn invoices(org: OrgId<'_>) -> Partition {
    super::org_items(org, INVOICE)
}
