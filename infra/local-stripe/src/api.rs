//! Routes of Stripe's API this server emulates, by method and path. Each handler reads the
//! parameters, changes the state, records the events Stripe would send, and returns the object
//! (with `expand[]` applied).

use axum::http::Method;
use serde_json::Value;

use crate::error::StripeError;
use crate::state::State;
use crate::{
    customers, expand, invoices, params, payment_intents, payment_methods, schedules, subscriptions,
};

pub fn handle(
    state: &mut State,
    method: &Method,
    path: &str,
    params: &Value,
) -> Result<Value, StripeError> {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let expand = expand::paths(params)?;
    let object = route(state, method, &segments, params).map_err(|error| match error {
        Route::Unknown => StripeError::unknown_route(method.as_str(), path),
        Route::Error(error) => error,
    })?;
    expand::apply(state, object, &expand)
}

enum Route {
    Unknown,
    Error(StripeError),
}

impl From<StripeError> for Route {
    fn from(error: StripeError) -> Self {
        Route::Error(error)
    }
}

fn route(state: &mut State, method: &Method, segments: &[&str], p: &Value) -> Result<Value, Route> {
    let get = *method == Method::GET;
    let post = *method == Method::POST;
    let delete = *method == Method::DELETE;
    Ok(match segments {
        ["v1", "customers"] if post => customers::create(state, p)?,
        ["v1", "customers"] if get => customers::list(state, p)?,
        ["v1", "customers", id] if get => customers::retrieve(state, id)?,
        ["v1", "customers", id] if post => customers::update(state, id, p)?,
        ["v1", "customers", id] if delete => customers::delete(state, id)?,
        ["v1", "customers", id, "payment_methods"] if get => {
            payment_methods::list_for_customer(state, id, p)?
        }
        ["v1", "payment_methods"] if get => payment_methods::list(state, p)?,
        ["v1", "payment_methods", id] if get => payment_methods::retrieve(state, id)?,
        ["v1", "payment_methods", id, "attach"] if post => payment_methods::attach(state, id, p)?,
        ["v1", "payment_methods", id, "detach"] if post => payment_methods::detach(state, id, p)?,
        ["v1", "subscriptions"] if post => subscriptions::create(state, p)?,
        ["v1", "subscriptions"] if get => subscriptions::list(state, p)?,
        ["v1", "subscriptions", id] if get => subscriptions::retrieve(state, id)?,
        ["v1", "subscriptions", id] if post => subscriptions::update(state, id, p)?,
        ["v1", "subscriptions", id] if delete => subscriptions::cancel(state, id, p)?,
        ["v1", "subscriptions", id, "resume"] if post => subscriptions::resume(state, id, p)?,
        ["v1", "invoices"] if get => invoices::list(state, p)?,
        ["v1", "invoices", "create_preview"] if post => crate::preview::create(state, p)?,
        ["v1", "invoices", id] if get => invoices::retrieve(state, id)?,
        ["v1", "invoices", id, "lines"] if get => invoices::lines(state, id, p)?,
        ["v1", "invoices", id, "pay"] if post => invoices::pay(state, id, p)?,
        ["v1", "payment_intents", id] if get => payment_intents::retrieve(state, id, p)?,
        ["v1", "payment_intents", id, "confirm"] if post => payment_intents::confirm(state, id, p)?,
        ["v1", "subscription_schedules"] if post => schedules::create(state, p)?,
        ["v1", "subscription_schedules"] if get => schedules::list(state, p)?,
        ["v1", "subscription_schedules", id] if get => schedules::retrieve(state, id)?,
        ["v1", "subscription_schedules", id] if post => schedules::update(state, id, p)?,
        ["v1", "subscription_schedules", id, "release"] if post => {
            schedules::release(state, id, p)?
        }
        ["v1", "subscription_schedules", id, "cancel"] if post => schedules::cancel(state, id, p)?,
        ["v1", "prices"] if get => list_of(
            state,
            "price",
            p,
            "/v1/prices",
            &[
                "active",
                "product",
                "lookup_keys",
                "type",
                "currency",
                "recurring",
            ],
        )?,
        ["v1", "prices", id] if get => state.find("price", id, "price")?.clone(),
        ["v1", "products"] if get => list_of(state, "product", p, "/v1/products", &["active"])?,
        ["v1", "products", id] if get => state.find("product", id, "id")?.clone(),
        ["v1", "events"] if get => events(state, p)?,
        ["v1", "events", id] if get => state
            .events
            .iter()
            .find(|r| r.event["id"] == *id)
            .map(|r| r.event.clone())
            .ok_or_else(|| StripeError::missing_resource("event", id, "id"))?,
        _ => return Err(Route::Unknown),
    })
}

/// Every object of a kind, filtered by the simple equality parameters Stripe lists take.
fn list_of(
    state: &State,
    kind: &str,
    p: &Value,
    url: &str,
    filters: &[&str],
) -> Result<Value, StripeError> {
    params::only_listing(p, filters)?;
    let mut items: Vec<Value> = state.list(kind).into_iter().cloned().collect();
    if let Some(active) = params::boolean(p, "active")? {
        items.retain(|item| item["active"] == active);
    }
    if let Some(product) = params::string(p, "product")? {
        items.retain(|item| item["product"] == product);
    }
    if let Value::Array(keys) = &p["lookup_keys"] {
        items.retain(|item| keys.contains(&item["lookup_key"]));
    }
    params::page(items, p, url)
}

fn events(state: &State, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(p, &["type"])?;
    let wanted = params::string(p, "type")?;
    let items = state
        .events
        .iter()
        .rev()
        .map(|r| r.event.clone())
        .filter(|e| wanted.is_none_or(|w| e["type"] == w))
        .collect();
    params::page(items, p, "/v1/events")
}

/// Runs what falls due between two readings of the clock (renewals, retries, period ends).
pub fn advance_clock(state: &mut State, from: i64, to: i64) {
    subscriptions::advance(state, from, to);
}
