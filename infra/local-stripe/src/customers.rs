//! Customers: create, retrieve, update (metadata, default payment method), list, delete.

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::state::State;
use crate::{ids, params, payment_methods};

const FIELDS: &[&str] = &[
    "email",
    "name",
    "description",
    "metadata",
    "phone",
    "payment_method",
    "invoice_settings",
    "preferred_locales",
];

pub fn create(state: &mut State, p: &Value) -> Result<Value, StripeError> {
    params::only(p, FIELDS)?;
    params::only_in(p, "invoice_settings", &["default_payment_method"])?;
    let id = ids::new("cus");
    let mut customer = json!({
        "id": id,
        "object": "customer",
        "address": null,
        "balance": 0,
        "created": state.now(),
        "currency": null,
        "default_source": null,
        "delinquent": false,
        "description": null,
        "discount": null,
        "email": null,
        "invoice_prefix": invoice_prefix(&id),
        "invoice_settings": {
            "custom_fields": null,
            "default_payment_method": null,
            "footer": null,
            "rendering_options": null,
        },
        "livemode": false,
        "metadata": {},
        "name": null,
        "next_invoice_sequence": 1,
        "phone": null,
        "preferred_locales": [],
        "shipping": null,
        "tax_exempt": "none",
        "test_clock": null,
    });
    apply(&mut customer, p)?;
    state.insert("customer", customer.clone());
    let requested = params::string(p, "payment_method")?.filter(|s| !s.is_empty());
    // Stripe attaches `payment_method` to the new customer (a test id becomes a new `pm_…`).
    let attached = match requested {
        Some(pm) => Some(payment_methods::attach_to(
            state,
            pm,
            &id,
            "payment_method",
        )?),
        None => None,
    };
    if let Some(pm) =
        params::string(&p["invoice_settings"], "default_payment_method")?.filter(|s| !s.is_empty())
    {
        // The default may name the `payment_method` just attached, as Stripe's docs do.
        let pm = match (requested, &attached) {
            (Some(requested), Some(attached)) if requested == pm => attached.clone(),
            _ => pm.to_owned(),
        };
        set_default_payment_method(state, &id, &pm)?;
    }
    let customer = state.find("customer", &id, "id")?.clone();
    state.emit("customer.created", &customer, None);
    Ok(customer)
}

/// A customer, or the stub of a deleted one (`{"id", "deleted": true}`), as Stripe answers.
pub fn retrieve(state: &State, id: &str) -> Result<Value, StripeError> {
    match state.get(id) {
        Some(customer) if customer["object"] == "customer" => Ok(customer.clone()),
        _ => Err(StripeError::missing_resource("customer", id, "id")),
    }
}

pub fn update(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, FIELDS)?;
    params::only_in(p, "invoice_settings", &["default_payment_method"])?;
    let before = state.find("customer", id, "id")?.clone();
    let mut customer = before.clone();
    apply(&mut customer, p)?;
    *state.find_mut("customer", id, "id")? = customer;
    if let Some(pm) = params::string(&p["invoice_settings"], "default_payment_method")? {
        if pm.is_empty() {
            state.find_mut("customer", id, "id")?["invoice_settings"]["default_payment_method"] =
                Value::Null;
        } else {
            set_default_payment_method(state, id, pm)?;
        }
    }
    let customer = state.find("customer", id, "id")?.clone();
    if let Some(previous) = previous_attributes(&before, &customer) {
        state.emit("customer.updated", &customer, Some(previous));
    }
    Ok(customer)
}

pub fn delete(state: &mut State, id: &str) -> Result<Value, StripeError> {
    let customer = state.find("customer", id, "id")?.clone();
    // Deleting a customer cancels their subscriptions at once, as in Stripe.
    let live: Vec<String> = state
        .list("subscription")
        .into_iter()
        .filter(|s| s["customer"] == id)
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect();
    for subscription in live {
        crate::subscriptions::end(state, &subscription, "cancellation_requested");
    }
    // Stripe keeps a deleted customer's id: retrieving it answers the deleted stub.
    let deleted = json!({ "id": id, "object": "customer", "deleted": true });
    state.objects.insert(id.to_owned(), deleted.clone());
    state.emit("customer.deleted", &customer, None);
    Ok(deleted)
}

pub fn list(state: &State, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(p, &["email"])?;
    let email = params::string(p, "email")?;
    let items = state
        .list("customer")
        .into_iter()
        .filter(|c| email.is_none_or(|e| c["email"] == e))
        .cloned()
        .collect();
    params::page(items, p, "/v1/customers")
}

/// The customer's default payment method must be attached to them (Stripe refuses others).
fn set_default_payment_method(
    state: &mut State,
    customer: &str,
    pm: &str,
) -> Result<(), StripeError> {
    let method = state.find(
        "payment_method",
        pm,
        "invoice_settings[default_payment_method]",
    )?;
    if method["customer"] != customer {
        return Err(StripeError::invalid_param(
            "invoice_settings[default_payment_method]",
            format!(
                "The payment method `{pm}` does not belong to the customer `{customer}`. Attach it first."
            ),
        ));
    }
    state.find_mut("customer", customer, "id")?["invoice_settings"]["default_payment_method"] =
        json!(pm);
    Ok(())
}

fn apply(customer: &mut Value, p: &Value) -> Result<(), StripeError> {
    for field in ["email", "name", "description", "phone"] {
        if let Some(value) = params::string(p, field)? {
            customer[field] = if value.is_empty() {
                Value::Null
            } else {
                json!(value)
            };
        }
    }
    if let Some(email) = customer["email"].as_str()
        && email.chars().count() > 512
    {
        return Err(StripeError::invalid_param(
            "email",
            "Invalid email address: at most 512 characters",
        ));
    }
    if let Value::Array(locales) = &p["preferred_locales"] {
        customer["preferred_locales"] = Value::Array(locales.clone());
    }
    params::merge_metadata(&mut customer["metadata"], p)
}

/// The top-level fields that changed, with their old values (an event's `previous_attributes`).
pub fn previous_attributes(before: &Value, after: &Value) -> Option<Value> {
    let (before, after) = (before.as_object()?, after.as_object()?);
    let changed: serde_json::Map<String, Value> = before
        .iter()
        .filter(|(key, value)| after.get(*key) != Some(value))
        .map(|(key, value)| (key.clone(), value.clone()))
        .collect();
    (!changed.is_empty()).then_some(Value::Object(changed))
}

fn invoice_prefix(id: &str) -> String {
    id.trim_start_matches("cus_")
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(8)
        .collect::<String>()
        .to_ascii_uppercase()
}
