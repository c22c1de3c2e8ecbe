//! An organization's one Stripe customer: its id on the organization's profile
//! (`stripe_customer_id`) and the global lookup `STRIPE_CUSTOMER#<cus>` from the customer back to
//! the organization, for webhooks. Both are written together, and only once per organization.
//!
//! Every customer billing makes carries `metadata.org_id`, so a customer the table does not know
//! (its request died after Stripe made it and before the table recorded it) is still found: the
//! webhook reads the metadata and adopts the customer if the organization has none yet.

use serde::{Deserialize, Serialize};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId};
use store::{Condition, Store, Transaction, Update};

use crate::BillingError;
use crate::stripe_api::{StripeApi, StripeFailure};

const CUSTOMER_ID: &str = "stripe_customer_id";
const ENTITY: &str = "stripe_customer";
/// The label of the profile's condition: the organization has another customer.
pub const OTHER_CUSTOMER: &str = "stripe_customer";

#[derive(Serialize, Deserialize)]
struct Lookup {
    org_id: String,
}

/// The organization `customer_id` belongs to, if any.
pub async fn org_of(
    store: &Store,
    stripe: &StripeApi,
    customer_id: &str,
) -> Result<Option<String>, BillingError> {
    if let Some(lookup) = store
        .get::<Lookup>(&keys::stripe_customer(customer_id))
        .await?
    {
        return Ok(Some(lookup.org_id));
    }
    let customer = match stripe.customer(customer_id).await {
        Ok(Some(customer)) => customer,
        Ok(None) | Err(StripeFailure::NotFound) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let Some(org_id) = customer.metadata.as_ref().and_then(|m| m.get("org_id")) else {
        return Ok(None);
    };
    match record(store, org_id, customer_id).await {
        Ok(()) => Ok(Some(org_id.clone())),
        // No such organization, or it has another customer: not ours to act on.
        Err(e) if e.is_condition_failed() => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Records `customer_id` as the organization's customer, with its lookup item. Fails on
/// [`OTHER_CUSTOMER`] when the organization has another one (or does not exist).
pub async fn record(
    store: &Store,
    org_id: &str,
    customer_id: &str,
) -> Result<(), store::StoreError> {
    let profile = Update::new(keys::org_profile(OrgId(org_id)))
        .set(CUSTOMER_ID, &customer_id)
        .require_exists()
        .condition_on(Condition::Expression {
            expression: "attribute_not_exists(#customer) OR #customer = :customer".into(),
            names: [("#customer".to_owned(), CUSTOMER_ID.to_owned())].into(),
            values: [(
                ":customer".to_owned(),
                AttributeValue::S(customer_id.to_owned()),
            )]
            .into(),
        });
    let lookup = store::item(
        &keys::stripe_customer(customer_id),
        ENTITY,
        &Lookup {
            org_id: org_id.to_owned(),
        },
    )?;
    store
        .transact(
            Transaction::new()
                .update(profile)
                .label(OTHER_CUSTOMER)
                .put(lookup, Condition::Always),
        )
        .await
}
