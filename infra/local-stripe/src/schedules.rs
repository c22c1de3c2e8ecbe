//! Subscription schedules, the way billing changes a plan at the period end: created
//! `from_subscription` (one phase: the current period), updated with a next phase, applied when
//! the period ends (the renewal invoice bills the next phase's price), released or canceled.

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::state::State;
use crate::{calendar, ids, params, subscriptions};

fn phase_item(price: &Value, quantity: u64) -> Value {
    json!({
        "billing_thresholds": null,
        "discounts": [],
        "metadata": {},
        "plan": price["id"],
        "price": price["id"],
        "quantity": quantity,
        "tax_rates": [],
    })
}

fn phase(currency: &Value, items: Vec<Value>, start: i64, end: i64, proration: &str) -> Value {
    json!({
        "add_invoice_items": [],
        "application_fee_percent": null,
        "billing_cycle_anchor": null,
        "billing_thresholds": null,
        "collection_method": null,
        "currency": currency,
        "default_payment_method": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "end_date": end,
        "invoice_settings": null,
        "items": items,
        "metadata": {},
        "on_behalf_of": null,
        "proration_behavior": proration,
        "start_date": start,
        "transfer_data": null,
        "trial_end": null,
    })
}

pub fn create(state: &mut State, p: &Value) -> Result<Value, StripeError> {
    params::only(
        p,
        &[
            "from_subscription",
            "metadata",
            "customer",
            "phases",
            "end_behavior",
            "start_date",
        ],
    )?;
    let Some(subscription_id) = params::string(p, "from_subscription")?.filter(|s| !s.is_empty())
    else {
        return Err(StripeError::invalid_param(
            "from_subscription",
            "The local Stripe creates schedules from an existing subscription only (from_subscription).",
        ));
    };
    for other in ["customer", "phases", "end_behavior", "start_date"] {
        if !p[other].is_null() {
            return Err(StripeError::invalid_param(
                other,
                format!("You cannot set `{other}` if `from_subscription` is set."),
            ));
        }
    }
    let subscription = state
        .find("subscription", subscription_id, "from_subscription")?
        .clone();
    if !subscription["schedule"].is_null() {
        return Err(StripeError::invalid_param(
            "from_subscription",
            format!("The subscription {subscription_id} is already attached to a schedule."),
        ));
    }
    if matches!(
        subscription["status"].as_str(),
        Some("canceled" | "incomplete_expired" | "incomplete")
    ) {
        return Err(StripeError::invalid_param(
            "from_subscription",
            "Only an active, trialing or past-due subscription can be moved to a schedule.",
        ));
    }
    let item = &subscription["items"]["data"][0];
    let (start, end) = (
        item["current_period_start"].as_i64().unwrap_or(0),
        item["current_period_end"].as_i64().unwrap_or(0),
    );
    let id = ids::new("sub_sched");
    let mut schedule = json!({
        "id": id,
        "object": "subscription_schedule",
        "application": null,
        "billing_mode": { "type": "classic", "flexible": null, "updated_at": null },
        "canceled_at": null,
        "completed_at": null,
        "created": state.now(),
        "current_phase": { "start_date": start, "end_date": end },
        "customer": subscription["customer"],
        "default_settings": {
            "application_fee_percent": null,
            "automatic_tax": { "enabled": false, "disabled_reason": null, "liability": null },
            "billing_cycle_anchor": "automatic",
            "billing_thresholds": null,
            "collection_method": "charge_automatically",
            "default_payment_method": subscription["default_payment_method"],
            "description": null,
            "invoice_settings": { "account_tax_ids": null, "days_until_due": null, "issuer": { "type": "self" } },
            "on_behalf_of": null,
            "transfer_data": null,
        },
        "end_behavior": "release",
        "livemode": false,
        "metadata": {},
        "phases": [phase(&subscription["currency"], vec![phase_item(&item["price"], item["quantity"].as_u64().unwrap_or(1))], start, end, "create_prorations")],
        "released_at": null,
        "released_subscription": null,
        "status": "active",
        "subscription": subscription_id,
        "test_clock": null,
    });
    params::merge_metadata(&mut schedule["metadata"], p)?;
    state.insert("subscription_schedule", schedule.clone());
    state.emit("subscription_schedule.created", &schedule, None);
    attach(state, subscription_id, json!(id));
    Ok(schedule)
}

fn attach(state: &mut State, subscription: &str, schedule: Value) {
    if let Ok(s) = state.find_mut("subscription", subscription, "id") {
        let previous = json!({ "schedule": s["schedule"] });
        s["schedule"] = schedule;
        let s = s.clone();
        state.emit("customer.subscription.updated", &s, Some(previous));
    }
}

/// `phases[i][items][j][price|quantity]`, `phases[i][start_date|end_date|iterations]`: phase 0
/// must start when the current phase started; each later phase starts when the one before ends.
pub fn update(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(
        p,
        &[
            "phases",
            "end_behavior",
            "metadata",
            "proration_behavior",
            "default_settings",
        ],
    )?;
    let before = state.find("subscription_schedule", id, "schedule")?.clone();
    if before["status"] != "active" && before["status"] != "not_started" {
        return Err(StripeError::invalid_request(
            format!(
                "You cannot update a schedule that is {}.",
                before["status"].as_str().unwrap_or_default()
            ),
            None,
        ));
    }
    let mut schedule = before.clone();
    if let Some(end_behavior) = params::one_of(p, "end_behavior", &["release", "cancel"])? {
        schedule["end_behavior"] = json!(end_behavior);
    }
    params::merge_metadata(&mut schedule["metadata"], p)?;
    if let Value::Array(phases) = &p["phases"] {
        if phases.is_empty() {
            return Err(StripeError::missing("phases"));
        }
        let current_start = before["current_phase"]["start_date"].as_i64().unwrap_or(0);
        let mut built = Vec::new();
        let mut previous_end: Option<i64> = None;
        for (index, requested) in phases.iter().enumerate() {
            let param = |name: &str| format!("phases[{index}][{name}]");
            params::only(
                requested,
                &[
                    "items",
                    "start_date",
                    "end_date",
                    "iterations",
                    "duration",
                    "proration_behavior",
                    "metadata",
                ],
            )
            .map_err(|e| StripeError {
                param: e.param.map(|n| param(&n)),
                ..e
            })?;
            let start = match (params::string(requested, "start_date")?, previous_end) {
                (Some("now"), _) => state.now(),
                (Some(s), _) => s.parse::<i64>().map_err(|_| {
                    StripeError::invalid_param(&param("start_date"), "Invalid timestamp")
                })?,
                (None, Some(end)) => end,
                (None, None) => current_start,
            };
            if index == 0 && start != current_start {
                return Err(StripeError::invalid_param(
                    &param("start_date"),
                    "You can not modify the start date of the current phase.",
                ));
            }
            if let Some(end) = previous_end
                && start != end
            {
                return Err(StripeError::invalid_param(
                    &param("start_date"),
                    "Each phase must start when the previous phase ends.",
                ));
            }
            let Value::Array(items) = &requested["items"] else {
                return Err(StripeError::missing(&param("items")));
            };
            if items.len() != 1 {
                return Err(StripeError::invalid_param(
                    &param("items"),
                    "The local Stripe emulates phases with exactly one item.",
                ));
            }
            params::only(&items[0], &["price", "quantity"])?;
            let price_id = params::required(&items[0], "price")
                .map_err(|_| StripeError::missing(&format!("phases[{index}][items][0][price]")))?;
            let price = state
                .find(
                    "price",
                    price_id,
                    &format!("phases[{index}][items][0][price]"),
                )?
                .clone();
            let quantity = params::integer(&items[0], "quantity")?.unwrap_or(1).max(1) as u64;
            let interval = price["recurring"]["interval"]
                .as_str()
                .unwrap_or("month")
                .to_owned();
            // `duration[interval]` + `duration[interval_count]` (today's API) or `iterations` (of
            // the price's interval).
            let (count, unit) =
                match params::one_of(&requested["duration"], "interval", &["month", "year"])? {
                    Some(unit) => (
                        params::integer(&requested["duration"], "interval_count")?.or(Some(1)),
                        unit,
                    ),
                    None => (params::integer(requested, "iterations")?, interval.as_str()),
                };
            // At most ten years of phases, as Stripe limits `iterations`.
            let duration = match count {
                Some(n) if (1..=120).contains(&n) && n * calendar::interval_months(unit) <= 120 => {
                    Some(n * calendar::interval_months(unit))
                }
                Some(_) => {
                    return Err(StripeError::invalid_param(
                        &param("duration"),
                        "A phase lasts 1 to 120 months.",
                    ));
                }
                None => None,
            };
            let end = match (params::integer(requested, "end_date")?, duration) {
                (Some(end), _) => end,
                (None, Some(months)) if months > 0 => calendar::add_months(start, months),
                _ if index + 1 == phases.len() => {
                    calendar::add_months(start, calendar::interval_months(&interval))
                }
                _ => return Err(StripeError::missing(&param("end_date"))),
            };
            if end <= start {
                return Err(StripeError::invalid_param(
                    &param("end_date"),
                    "A phase must end after it starts.",
                ));
            }
            let proration = params::one_of(
                requested,
                "proration_behavior",
                &["always_invoice", "create_prorations", "none"],
            )?
            .unwrap_or("create_prorations");
            built.push(phase(
                &price["currency"],
                vec![phase_item(&price, quantity)],
                start,
                end,
                proration,
            ));
            previous_end = Some(end);
        }
        // A phase 0 with another price changes the subscription now, as Stripe does.
        let current_price = before["phases"]
            .as_array()
            .and_then(|phases| {
                phases
                    .iter()
                    .find(|p| p["start_date"] == before["current_phase"]["start_date"])
            })
            .map_or(Value::Null, |phase| phase["items"][0]["price"].clone());
        if built[0]["items"][0]["price"] != current_price {
            return Err(StripeError::invalid_param(
                "phases[0][items][0][price]",
                "The local Stripe keeps the current phase's price; change it on the subscription, and put the next price in phases[1].",
            ));
        }
        schedule["phases"] = Value::Array(built);
    }
    *state.find_mut("subscription_schedule", id, "schedule")? = schedule.clone();
    let previous = crate::customers::previous_attributes(&before, &schedule);
    state.emit("subscription_schedule.updated", &schedule, previous);
    Ok(schedule)
}

pub fn release(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &["preserve_cancel_date"])?;
    let schedule = state.find("subscription_schedule", id, "schedule")?.clone();
    if schedule["status"] != "active" && schedule["status"] != "not_started" {
        return Err(StripeError::invalid_request(
            format!(
                "You cannot release a schedule that is {}.",
                schedule["status"].as_str().unwrap_or_default()
            ),
            None,
        ));
    }
    Ok(finish(state, id, "released"))
}

pub fn cancel(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &["invoice_now", "prorate"])?;
    let schedule = state.find("subscription_schedule", id, "schedule")?.clone();
    if schedule["status"] != "active" && schedule["status"] != "not_started" {
        return Err(StripeError::invalid_request(
            "You cannot cancel a schedule that has ended.",
            None,
        ));
    }
    let subscription = schedule["subscription"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let schedule = finish(state, id, "canceled");
    subscriptions::cancel(state, &subscription, &json!({})).ok();
    Ok(schedule)
}

/// Ends a schedule (`released`, `canceled` or `completed`), detaching its subscription.
fn finish(state: &mut State, id: &str, status: &str) -> Value {
    let now = state.now();
    let Ok(schedule) = state.find_mut("subscription_schedule", id, "schedule") else {
        return Value::Null;
    };
    let subscription = schedule["subscription"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    schedule["status"] = json!(status);
    schedule["current_phase"] = Value::Null;
    match status {
        "released" => {
            schedule["released_at"] = json!(now);
            schedule["released_subscription"] = json!(subscription);
            schedule["subscription"] = Value::Null;
        }
        "canceled" => schedule["canceled_at"] = json!(now),
        _ => schedule["completed_at"] = json!(now),
    }
    let schedule = schedule.clone();
    let kind = match status {
        "released" => "subscription_schedule.released",
        "canceled" => "subscription_schedule.canceled",
        _ => "subscription_schedule.completed",
    };
    state.emit(kind, &schedule, None);
    attach(state, &subscription, Value::Null);
    schedule
}

pub enum AtPeriodEnd {
    Continue,
    Cancel,
}

/// At a subscription's period end: a schedule's phase that ends now gives way to the next one
/// (the subscription takes its price), or, if it was the last, the schedule ends as its
/// `end_behavior` says.
pub fn at_period_end(state: &mut State, subscription: &str, at: i64) -> AtPeriodEnd {
    let Some(schedule_id) = state
        .get(subscription)
        .and_then(|s| s["schedule"].as_str())
        .map(str::to_owned)
    else {
        return AtPeriodEnd::Continue;
    };
    let Ok(schedule) = state
        .find("subscription_schedule", &schedule_id, "schedule")
        .cloned()
    else {
        return AtPeriodEnd::Continue;
    };
    let phases = schedule["phases"].as_array().cloned().unwrap_or_default();
    let Some(next) = phases.iter().find(|phase| {
        phase["start_date"].as_i64().is_some_and(|s| s <= at)
            && phase["end_date"].as_i64().is_some_and(|e| e > at)
    }) else {
        // The last phase is over.
        return if schedule["end_behavior"] == "cancel" {
            finish(state, &schedule_id, "completed");
            AtPeriodEnd::Cancel
        } else {
            finish(state, &schedule_id, "released");
            AtPeriodEnd::Continue
        };
    };
    let price_id = next["items"][0]["price"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let quantity = next["items"][0]["quantity"].as_u64().unwrap_or(1);
    if let Ok(price) = state.find("price", &price_id, "price").cloned()
        && let Ok(s) = state.find_mut("subscription", subscription, "id")
    {
        let item = &mut s["items"]["data"][0];
        let interval_changes = item["plan"]["interval"] != price["recurring"]["interval"];
        item["price"] = price.clone();
        item["plan"] = subscriptions::plan_of(&price);
        item["quantity"] = json!(quantity);
        // A new interval re-anchors the billing cycle at the phase start.
        if interval_changes {
            s["billing_cycle_anchor"] = json!(at);
        }
    }
    if let Ok(schedule) = state.find_mut("subscription_schedule", &schedule_id, "schedule") {
        schedule["current_phase"] =
            json!({ "start_date": next["start_date"], "end_date": next["end_date"] });
        let schedule = schedule.clone();
        state.emit("subscription_schedule.updated", &schedule, None);
    }
    AtPeriodEnd::Continue
}

pub fn retrieve(state: &State, id: &str) -> Result<Value, StripeError> {
    Ok(state.find("subscription_schedule", id, "schedule")?.clone())
}

pub fn list(state: &State, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(p, &["customer"])?;
    let customer = params::string(p, "customer")?;
    let items = state
        .list("subscription_schedule")
        .into_iter()
        .filter(|s| customer.is_none_or(|c| s["customer"] == c))
        .cloned()
        .collect();
    params::page(items, p, "/v1/subscription_schedules")
}
