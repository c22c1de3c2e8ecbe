//! Subscriptions with one item: create (per `payment_behavior`), change price with
//! `proration_behavior`, cancel at period end or now, resume, and what the clock brings: renewals,
//! failed payments and their retries, expiry of an unpaid first invoice, schedule phases.

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::invoices::{self, Collected};
use crate::payment_methods::{self, Behaviour};
use crate::state::State;
use crate::{calendar, customers, ids, params, schedules};

/// An unpaid first invoice expires the subscription after 23 hours, as in Stripe.
const INCOMPLETE_FOR: i64 = 23 * 3600;

const PAYMENT_BEHAVIORS: &[&str] = &[
    "allow_incomplete",
    "default_incomplete",
    "error_if_incomplete",
    "pending_if_incomplete",
];
const PRORATION_BEHAVIORS: &[&str] = &["always_invoice", "create_prorations", "none"];

pub fn plan_of(price: &Value) -> Value {
    let recurring = &price["recurring"];
    json!({
        "id": price["id"],
        "object": "plan",
        "active": price["active"],
        "amount": price["unit_amount"],
        "amount_decimal": price["unit_amount_decimal"],
        "billing_scheme": price["billing_scheme"],
        "created": price["created"],
        "currency": price["currency"],
        "interval": recurring["interval"],
        "interval_count": recurring["interval_count"],
        "livemode": false,
        "metadata": price["metadata"],
        "meter": null,
        "nickname": price["nickname"],
        "product": price["product"],
        "tiers_mode": null,
        "transform_usage": null,
        "trial_period_days": null,
        "usage_type": recurring["usage_type"],
    })
}

fn item_json(
    subscription: &str,
    id: String,
    price: &Value,
    quantity: u64,
    period: (i64, i64),
    created: i64,
) -> Value {
    json!({
        "id": id,
        "object": "subscription_item",
        "billing_thresholds": null,
        "created": created,
        "current_period_end": period.1,
        "current_period_start": period.0,
        "discounts": [],
        "metadata": {},
        "plan": plan_of(price),
        "price": price,
        "quantity": quantity,
        "subscription": subscription,
        "tax_rates": [],
    })
}

fn item(subscription: &Value) -> &Value {
    &subscription["items"]["data"][0]
}

fn amount(item: &Value) -> i64 {
    item["price"]["unit_amount"].as_i64().unwrap_or(0) * item["quantity"].as_i64().unwrap_or(1)
}

fn interval(item: &Value) -> String {
    item["price"]["recurring"]["interval"]
        .as_str()
        .unwrap_or("month")
        .to_owned()
}

fn period(item: &Value) -> (i64, i64) {
    (
        item["current_period_start"].as_i64().unwrap_or(0),
        item["current_period_end"].as_i64().unwrap_or(0),
    )
}

/// The one item `items[0]` of a request: its price (a recurring one) and quantity.
fn requested_item(
    state: &State,
    p: &Value,
    param: &str,
) -> Result<Option<(Option<String>, Value, u64)>, StripeError> {
    let items = match &p[param] {
        Value::Null => return Ok(None),
        Value::Array(items) => items,
        _ => return Err(StripeError::invalid_param(param, "Invalid array")),
    };
    if items.len() != 1 {
        return Err(StripeError::invalid_param(
            param,
            "The local Stripe emulates subscriptions with exactly one item (the plan).",
        ));
    }
    let entry = &items[0];
    params::only(entry, &["id", "price", "quantity", "metadata"]).map_err(|e| StripeError {
        param: Some(format!("{param}[0]")),
        ..e
    })?;
    let id = params::string(entry, "id")?.map(str::to_owned);
    let price_id = params::string(entry, "price")?;
    let price = match price_id {
        Some(price_id) => {
            let price = state
                .find("price", price_id, &format!("{param}[0][price]"))?
                .clone();
            if price["type"] != "recurring" || price["active"] != true {
                return Err(StripeError::invalid_param(
                    &format!("{param}[0][price]"),
                    "The price must be an active recurring price.",
                ));
            }
            price
        }
        None => Value::Null,
    };
    let quantity = params::integer(entry, "quantity")?.unwrap_or(1);
    if !(1..=10_000).contains(&quantity) {
        return Err(StripeError::invalid_param(
            &format!("{param}[0][quantity]"),
            "Invalid quantity",
        ));
    }
    Ok(Some((id, price, quantity as u64)))
}

/// The payment method a subscription's invoices are charged to.
fn payment_method_for(state: &State, subscription: &Value) -> Option<String> {
    subscription["default_payment_method"]
        .as_str()
        .or_else(|| {
            state
                .get(subscription["customer"].as_str().unwrap_or_default())
                .and_then(|c| c["invoice_settings"]["default_payment_method"].as_str())
        })
        .map(str::to_owned)
}

/// Whether charging `pm` would fail now (for `error_if_incomplete`, decided before anything is
/// created). Does not consume a requested failure.
fn would_fail(state: &State, customer: &str, pm: Option<&str>) -> Option<StripeError> {
    let Some(pm) = pm else {
        return Some(StripeError::invalid_request(
            "This customer has no attached payment source or default payment method.",
            None,
        ));
    };
    if state.fail_next_payment.contains(customer) {
        return Some(StripeError::card(
            "card_declined",
            Some("generic_decline"),
            "Your card was declined.",
        ));
    }
    match payment_methods::behaviour(state, pm) {
        Behaviour::Succeeds => None,
        Behaviour::Declined(code) => Some(StripeError::card(
            "card_declined",
            Some(code),
            "Your card was declined.",
        )),
        Behaviour::RequiresAction => Some(StripeError::card(
            "subscription_payment_intent_requires_action",
            None,
            "Payment for this subscription requires additional user action before it can be completed successfully.",
        )),
    }
}

pub fn create(state: &mut State, p: &Value) -> Result<Value, StripeError> {
    params::only(
        p,
        &[
            "customer",
            "items",
            "default_payment_method",
            "payment_behavior",
            "proration_behavior",
            "metadata",
            "trial_period_days",
            "cancel_at_period_end",
            "collection_method",
            "off_session",
            "payment_settings",
            "description",
        ],
    )?;
    let customer = params::required(p, "customer")?.to_owned();
    state.find("customer", &customer, "customer")?;
    let Some((_, price, quantity)) = requested_item(state, p, "items")? else {
        return Err(StripeError::missing("items"));
    };
    if price.is_null() {
        return Err(StripeError::missing("items[0][price]"));
    }
    params::one_of(p, "collection_method", &["charge_automatically"])?;
    params::one_of(p, "proration_behavior", PRORATION_BEHAVIORS)?;
    let behavior =
        params::one_of(p, "payment_behavior", PAYMENT_BEHAVIORS)?.unwrap_or("allow_incomplete");
    if behavior == "pending_if_incomplete" {
        return Err(StripeError::invalid_param(
            "payment_behavior",
            "pending_if_incomplete is only supported when updating a subscription.",
        ));
    }
    let default_pm = match params::string(p, "default_payment_method")? {
        Some(pm) if !pm.is_empty() => Some(payment_methods::attach_to(
            state,
            pm,
            &customer,
            "default_payment_method",
        )?),
        _ => None,
    };
    let trial_days = params::integer(p, "trial_period_days")?.unwrap_or(0);
    if !(0..=730).contains(&trial_days) {
        return Err(StripeError::invalid_param(
            "trial_period_days",
            "Invalid trial_period_days: at most 730",
        ));
    }
    let now = state.now();
    let interval = price["recurring"]["interval"]
        .as_str()
        .unwrap_or("month")
        .to_owned();
    let (anchor, status, trial) = if trial_days > 0 {
        (
            now + trial_days * 86_400,
            "trialing",
            Some((now, now + trial_days * 86_400)),
        )
    } else {
        (now, "incomplete", None)
    };
    let period_end = trial.map_or_else(|| calendar::period_end(anchor, now, &interval), |t| t.1);
    if behavior == "error_if_incomplete" && trial.is_none() {
        let pm = default_pm.clone().or_else(|| {
            state
                .get(&customer)
                .and_then(|c| c["invoice_settings"]["default_payment_method"].as_str())
                .map(str::to_owned)
        });
        if let Some(error) = would_fail(state, &customer, pm.as_deref()) {
            state.fail_next_payment.remove(&customer);
            return Err(error);
        }
    }
    let id = ids::new("sub");
    let mut subscription = json!({
        "id": id,
        "object": "subscription",
        "application": null,
        "application_fee_percent": null,
        "automatic_tax": { "enabled": false, "disabled_reason": null, "liability": null },
        "billing_cycle_anchor": anchor,
        "billing_cycle_anchor_config": null,
        "billing_mode": { "type": "classic", "flexible": null, "updated_at": null },
        "billing_schedules": [],
        "billing_thresholds": null,
        "cancel_at": null,
        "cancel_at_period_end": false,
        "canceled_at": null,
        "cancellation_details": { "comment": null, "feedback": null, "reason": null },
        "collection_method": "charge_automatically",
        "created": now,
        "currency": price["currency"],
        "customer": customer,
        "days_until_due": null,
        "default_payment_method": default_pm,
        "default_source": null,
        "default_tax_rates": [],
        "description": params::string(p, "description")?,
        "discounts": [],
        "ended_at": null,
        "invoice_settings": { "account_tax_ids": null, "issuer": { "type": "self" } },
        "items": {
            "object": "list",
            "data": [item_json(&id, ids::new("si"), &price, quantity, (now, period_end), now)],
            "has_more": false,
            "url": format!("/v1/subscription_items?subscription={id}"),
        },
        "latest_invoice": null,
        "livemode": false,
        "metadata": {},
        "next_pending_invoice_item_invoice": null,
        "on_behalf_of": null,
        "pause_collection": null,
        "payment_settings": { "payment_method_options": null, "payment_method_types": null, "save_default_payment_method": "off" },
        "pending_invoice_item_interval": null,
        "pending_setup_intent": null,
        "pending_update": null,
        "schedule": null,
        "start_date": now,
        "status": status,
        "test_clock": null,
        "transfer_data": null,
        "trial_end": trial.map(|t| t.1),
        "trial_settings": { "end_behavior": { "missing_payment_method": "create_invoice" } },
        "trial_start": trial.map(|t| t.0),
    });
    if let Some(save) = params::string(&p["payment_settings"], "save_default_payment_method")? {
        subscription["payment_settings"]["save_default_payment_method"] = json!(save);
    }
    params::merge_metadata(&mut subscription["metadata"], p)?;
    if params::boolean(p, "cancel_at_period_end")? == Some(true) {
        subscription["cancel_at_period_end"] = json!(true);
        subscription["cancel_at"] = json!(period_end);
        subscription["canceled_at"] = json!(now);
    }
    state.insert("subscription", subscription.clone());
    state.emit("customer.subscription.created", &subscription, None);

    let item = item(&subscription).clone();
    let (amount, reason) = if trial.is_some() {
        (0, "subscription_create")
    } else {
        (amount(&item), "subscription_create")
    };
    let line = period_line(state, &subscription, &item, amount, (now, period_end));
    let invoice = invoices::build(
        state,
        &subscription,
        vec![line],
        reason,
        Some(ids::new("in")),
    );
    let invoice_id = invoices::create_and_finalize(state, invoice);
    set(state, &id, "latest_invoice", json!(invoice_id));
    if behavior != "default_incomplete" || trial.is_some() {
        let pm = payment_method_for(state, &subscription);
        invoices::collect(state, &invoice_id, pm);
    }
    Ok(state.find("subscription", &id, "id")?.clone())
}

/// The line billing an item for a whole period ("1 × Pro (at $99.00 / month)").
fn period_line(
    state: &State,
    subscription: &Value,
    item: &Value,
    amount: i64,
    period: (i64, i64),
) -> Value {
    let price = &item["price"];
    let description = format!(
        "{} × {} (at {})",
        item["quantity"],
        product_name(state, price),
        money(price)
    );
    invoices::line(
        state,
        subscription,
        item,
        amount,
        period,
        false,
        description,
    )
}

fn product_name(state: &State, price: &Value) -> String {
    state
        .get(price["product"].as_str().unwrap_or_default())
        .and_then(|p| p["name"].as_str())
        .unwrap_or("Plan")
        .to_owned()
}

fn money(price: &Value) -> String {
    let cents = price["unit_amount"].as_i64().unwrap_or(0);
    format!(
        "${}.{:02} / {}",
        cents / 100,
        cents % 100,
        price["recurring"]["interval"].as_str().unwrap_or("month")
    )
}

fn set(state: &mut State, id: &str, field: &str, value: Value) {
    if let Ok(subscription) = state.find_mut("subscription", id, "id") {
        subscription[field] = value;
    }
}

/// Sets a subscription's status, announcing the change.
fn set_status(state: &mut State, id: &str, status: &str) {
    let Ok(subscription) = state.find_mut("subscription", id, "id") else {
        return;
    };
    if subscription["status"] == status {
        return;
    }
    let previous = subscription["status"].clone();
    subscription["status"] = json!(status);
    let subscription = subscription.clone();
    state.emit(
        "customer.subscription.updated",
        &subscription,
        Some(json!({ "status": previous })),
    );
}

/// An invoice of a subscription was paid: an incomplete or past-due subscription is active, and
/// a change waiting for this payment (`pending_if_incomplete`) is applied.
pub fn invoice_paid(state: &mut State, invoice: &Value) {
    let Some(id) = invoice["subscription"].as_str().map(str::to_owned) else {
        return;
    };
    let Ok(subscription) = state.find("subscription", &id, "id").cloned() else {
        return;
    };
    if let Some(pending) = subscription["pending_update"].as_object().cloned() {
        // The change waits for the invoice it made, which is the latest.
        if subscription["latest_invoice"] == invoice["id"] {
            let before = subscription.clone();
            if let Ok(s) = state.find_mut("subscription", &id, "id") {
                if let Some(items) = pending.get("subscription_items") {
                    s["items"]["data"] = items.clone();
                }
                if let Some(anchor) = pending.get("billing_cycle_anchor").filter(|a| !a.is_null()) {
                    s["billing_cycle_anchor"] = anchor.clone();
                }
                s["pending_update"] = Value::Null;
                let after = s.clone();
                let previous = customers::previous_attributes(&before, &after);
                state.emit(
                    "customer.subscription.pending_update_applied",
                    &after,
                    previous,
                );
            }
        }
    }
    if matches!(
        subscription["status"].as_str(),
        Some("incomplete" | "past_due" | "unpaid" | "trialing")
    ) {
        let trial_over = subscription["trial_end"]
            .as_i64()
            .is_none_or(|end| end <= state.now());
        if subscription["status"] != "trialing" || trial_over {
            set_status(state, &id, "active");
        }
    }
}

pub fn retrieve(state: &State, id: &str) -> Result<Value, StripeError> {
    Ok(state.find("subscription", id, "id")?.clone())
}

pub fn list(state: &State, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(p, &["customer", "status", "price"])?;
    let customer = params::string(p, "customer")?;
    let status = params::one_of(
        p,
        "status",
        &[
            "active",
            "all",
            "canceled",
            "ended",
            "incomplete",
            "incomplete_expired",
            "past_due",
            "paused",
            "trialing",
            "unpaid",
        ],
    )?;
    let items = state
        .list("subscription")
        .into_iter()
        .filter(|s| customer.is_none_or(|c| s["customer"] == c))
        .filter(|s| match status {
            None => s["status"] != "canceled" && s["status"] != "incomplete_expired",
            Some("all") => true,
            Some("ended") => s["status"] == "canceled" || s["status"] == "incomplete_expired",
            Some(wanted) => s["status"] == wanted,
        })
        .cloned()
        .collect();
    params::page(items, p, "/v1/subscriptions")
}

pub fn update(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(
        p,
        &[
            "items",
            "proration_behavior",
            "proration_date",
            "cancel_at_period_end",
            "default_payment_method",
            "metadata",
            "payment_behavior",
            "billing_cycle_anchor",
            "description",
            "off_session",
            "cancellation_details",
        ],
    )?;
    let before = state.find("subscription", id, "id")?.clone();
    if matches!(
        before["status"].as_str(),
        Some("canceled" | "incomplete_expired")
    ) {
        return Err(StripeError::invalid_request(
            "A canceled subscription can only update its cancellation_details and metadata.",
            None,
        ));
    }
    let proration = params::one_of(p, "proration_behavior", PRORATION_BEHAVIORS)?
        .unwrap_or("create_prorations");
    let behavior =
        params::one_of(p, "payment_behavior", PAYMENT_BEHAVIORS)?.unwrap_or("allow_incomplete");
    // `now` would restart the cycle and invoice now; only a new interval does that here.
    params::one_of(p, "billing_cycle_anchor", &["unchanged"])?;
    let customer = before["customer"].as_str().unwrap_or_default().to_owned();
    let now = state.now();
    let mut after = before.clone();
    params::merge_metadata(&mut after["metadata"], p)?;
    if let Some(description) = params::string(p, "description")? {
        after["description"] = if description.is_empty() {
            Value::Null
        } else {
            json!(description)
        };
    }
    if let Some(pm) = params::string(p, "default_payment_method")? {
        after["default_payment_method"] = if pm.is_empty() {
            Value::Null
        } else {
            json!(payment_methods::attach_to(
                state,
                pm,
                &customer,
                "default_payment_method"
            )?)
        };
    }
    let current = item(&before).clone();
    let (start, end) = period(&current);
    if let Some(cancel) = params::boolean(p, "cancel_at_period_end")? {
        after["cancel_at_period_end"] = json!(cancel);
        after["cancel_at"] = if cancel { json!(end) } else { Value::Null };
        after["canceled_at"] = if cancel { json!(now) } else { Value::Null };
        after["cancellation_details"]["reason"] = if cancel {
            json!("cancellation_requested")
        } else {
            Value::Null
        };
    }
    let change = requested_item(state, p, "items")?;
    let mut invoice_lines: Option<(Vec<Value>, &str)> = None;
    if let Some((item_id, price, quantity)) = change {
        if item_id.as_deref() != current["id"].as_str() {
            return Err(StripeError::invalid_param(
                "items[0][id]",
                "Name the subscription's item (items[0][id]) to change its price; the local Stripe does not add a second item.",
            ));
        }
        let price = if price.is_null() {
            current["price"].clone()
        } else {
            price
        };
        if price["id"] != current["price"]["id"] || Some(quantity) != current["quantity"].as_u64() {
            let proration_date = params::integer(p, "proration_date")?.unwrap_or(now);
            if proration_date < start || proration_date > end {
                return Err(StripeError::invalid_param(
                    "proration_date",
                    "The proration date must be within the subscription's current period.",
                ));
            }
            let new_interval = price["recurring"]["interval"]
                .as_str()
                .unwrap_or("month")
                .to_owned();
            let interval_changes = new_interval != interval(&current);
            let mut lines = Vec::new();
            let remaining = end - proration_date;
            let total = (end - start).max(1);
            let new_item_period = if interval_changes {
                (now, calendar::period_end(now, now, &new_interval))
            } else {
                (start, end)
            };
            let new_item = item_json(
                id,
                current["id"].as_str().unwrap_or_default().to_owned(),
                &price,
                quantity,
                new_item_period,
                current["created"].as_i64().unwrap_or(now),
            );
            if proration != "none" && remaining > 0 {
                let credit = -prorate(amount(&current), remaining, total);
                let name = product_name(state, &current["price"]);
                lines.push(invoices::line(
                    state,
                    &before,
                    &current,
                    credit,
                    (proration_date, end),
                    true,
                    format!("Unused time on {name} after {}", proration_date),
                ));
                if !interval_changes {
                    let debit = prorate(amount(&new_item), remaining, total);
                    let name = product_name(state, &price);
                    lines.push(invoices::line(
                        state,
                        &before,
                        &new_item,
                        debit,
                        (proration_date, end),
                        true,
                        format!("Remaining time on {name} after {}", proration_date),
                    ));
                }
            }
            if interval_changes {
                // A new interval starts a new period now, billed at once in full.
                lines.push(period_line(
                    state,
                    &before,
                    &new_item,
                    amount(&new_item),
                    new_item_period,
                ));
                after["billing_cycle_anchor"] = json!(now);
                invoice_lines = Some((lines, "subscription_update"));
            } else if proration == "always_invoice" {
                invoice_lines = Some((lines, "subscription_update"));
            } else {
                state
                    .pending_lines
                    .entry(id.to_owned())
                    .or_default()
                    .extend(lines);
            }
            after["items"]["data"] = json!([new_item]);
        }
    }

    if let Some((lines, reason)) = invoice_lines {
        let pm = payment_method_for(state, &after);
        if matches!(behavior, "error_if_incomplete" | "pending_if_incomplete") {
            let total: i64 = lines
                .iter()
                .map(|l| l["amount"].as_i64().unwrap_or(0))
                .sum();
            if total > 0
                && let Some(error) = would_fail(state, &customer, pm.as_deref())
            {
                if behavior == "error_if_incomplete" {
                    state.fail_next_payment.remove(&customer);
                    return Err(error);
                }
                // pending_if_incomplete: the change waits for its invoice to be paid.
                let invoice = invoices::build(state, &after, lines, reason, Some(ids::new("in")));
                let invoice_id = invoices::create_and_finalize(state, invoice);
                let mut kept = before.clone();
                // A new interval's anchor waits with the items.
                let anchor = (after["billing_cycle_anchor"] != before["billing_cycle_anchor"])
                    .then(|| after["billing_cycle_anchor"].clone());
                kept["pending_update"] = json!({
                    "billing_cycle_anchor": anchor,
                    "expires_at": now + INCOMPLETE_FOR,
                    "subscription_items": after["items"]["data"],
                    "trial_end": null,
                    "trial_from_plan": null,
                });
                kept["latest_invoice"] = json!(invoice_id);
                *state.find_mut("subscription", id, "id")? = kept.clone();
                state.emit(
                    "customer.subscription.updated",
                    &kept,
                    Some(json!({ "pending_update": null })),
                );
                invoices::collect(state, &invoice_id, pm);
                return retrieve(state, id);
            }
        }
        // Pending prorations go on this invoice too.
        let mut lines = lines;
        lines.extend(state.pending_lines.remove(id).unwrap_or_default());
        *state.find_mut("subscription", id, "id")? = after.clone();
        let invoice = invoices::build(state, &after, lines, reason, Some(ids::new("in")));
        let invoice_id = invoices::create_and_finalize(state, invoice);
        set(state, id, "latest_invoice", json!(invoice_id));
        let announced = state.find("subscription", id, "id")?.clone();
        if let Some(previous) = customers::previous_attributes(&before, &announced) {
            state.emit("customer.subscription.updated", &announced, Some(previous));
        }
        if behavior != "default_incomplete" {
            match invoices::collect(state, &invoice_id, pm) {
                Collected::Paid => {}
                Collected::Failed(_) | Collected::RequiresAction => {
                    set_status(state, id, "past_due")
                }
            }
        }
        return retrieve(state, id);
    }
    *state.find_mut("subscription", id, "id")? = after.clone();
    if let Some(previous) = customers::previous_attributes(&before, &after) {
        state.emit("customer.subscription.updated", &after, Some(previous));
    }
    Ok(after)
}

/// `amount` × `remaining` / `total`, rounded to the nearest cent (half away from zero).
pub fn prorate(amount: i64, remaining: i64, total: i64) -> i64 {
    let numerator = i128::from(amount.abs()) * i128::from(remaining);
    let total = i128::from(total.max(1));
    let rounded = ((2 * numerator + total) / (2 * total)) as i64;
    if amount < 0 { -rounded } else { rounded }
}

pub fn cancel(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &["cancellation_details", "invoice_now", "prorate"])?;
    // Final invoices and credits for a cancellation now are not emulated: refuse rather than
    // ignore them, so billing code never relies on something this server does not do.
    for unsupported in ["invoice_now", "prorate"] {
        if params::boolean(p, unsupported)? == Some(true) {
            return Err(StripeError::invalid_param(
                unsupported,
                format!("The local Stripe does not emulate `{unsupported}=true` on cancel."),
            ));
        }
    }
    params::only_in(p, "cancellation_details", &["comment", "feedback"])?;
    let subscription = state.find("subscription", id, "id")?;
    if matches!(
        subscription["status"].as_str(),
        Some("canceled" | "incomplete_expired")
    ) {
        return Err(StripeError::invalid_request(
            format!("This subscription has already been canceled: {id}"),
            None,
        ));
    }
    let comment = params::string(&p["cancellation_details"], "comment")?.map(str::to_owned);
    let feedback = params::string(&p["cancellation_details"], "feedback")?.map(str::to_owned);
    end(state, id, "cancellation_requested");
    if let Ok(subscription) = state.find_mut("subscription", id, "id") {
        subscription["cancellation_details"]["comment"] = json!(comment);
        subscription["cancellation_details"]["feedback"] = json!(feedback);
    }
    retrieve(state, id)
}

/// Ends a subscription now (canceled), with the reason Stripe records.
pub fn end(state: &mut State, id: &str, reason: &str) {
    let now = state.now();
    let Ok(subscription) = state.find_mut("subscription", id, "id") else {
        return;
    };
    if matches!(
        subscription["status"].as_str(),
        Some("canceled" | "incomplete_expired")
    ) {
        return;
    }
    let previous = json!({ "status": subscription["status"] });
    subscription["status"] = json!("canceled");
    subscription["ended_at"] = json!(now);
    if subscription["canceled_at"].is_null() {
        subscription["canceled_at"] = json!(now);
    }
    subscription["cancellation_details"]["reason"] = json!(reason);
    let subscription = subscription.clone();
    state.pending_lines.remove(id);
    invoices::stop_collecting(state, id);
    state.emit(
        "customer.subscription.deleted",
        &subscription,
        Some(previous),
    );
}

pub fn resume(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(
        p,
        &[
            "billing_cycle_anchor",
            "proration_behavior",
            "proration_date",
            "payment_behavior",
        ],
    )?;
    let subscription = state.find("subscription", id, "id")?;
    if subscription["status"] != "paused" {
        return Err(StripeError::invalid_request(
            "Only a paused subscription can be resumed. To keep a subscription that cancels at the period end, update cancel_at_period_end to false.",
            None,
        ));
    }
    set_status(state, id, "active");
    retrieve(state, id)
}

/// What falls due for subscriptions and their invoices between `from` and `to` (exclusive of
/// `from`), run in time order at the moment each falls due.
pub fn advance(state: &mut State, _from: i64, to: i64) {
    // Each step moves an object past what fell due; the cap is a backstop against a rule that
    // would not (the server must never hang on one request).
    let mut steps = 0;
    while let Some((at, due)) = next_due(state, to) {
        steps += 1;
        if steps > 100_000 {
            eprintln!("local-stripe: clock advance stopped after {steps} steps at {at}");
            break;
        }
        state.time_override = Some(at);
        match due {
            Due::Renew(id) => renew(state, &id, at),
            Due::Expire(id) => expire(state, &id),
            Due::Retry(invoice) => retry(state, &invoice),
            Due::PendingUpdateExpired(id) => {
                // The change is dropped, and the invoice that was to pay for it voided.
                let latest = state
                    .find("subscription", &id, "id")
                    .ok()
                    .and_then(|s| s["latest_invoice"].as_str().map(str::to_owned));
                if let Some(invoice) = latest {
                    invoices::void(state, &invoice);
                }
                if let Ok(subscription) = state.find_mut("subscription", &id, "id") {
                    subscription["pending_update"] = Value::Null;
                    let subscription = subscription.clone();
                    state.emit(
                        "customer.subscription.pending_update_expired",
                        &subscription,
                        None,
                    );
                }
            }
        }
    }
    state.time_override = None;
}

enum Due {
    Renew(String),
    Expire(String),
    Retry(String),
    PendingUpdateExpired(String),
}

fn next_due(state: &State, to: i64) -> Option<(i64, Due)> {
    let mut best: Option<(i64, Due)> = None;
    let mut consider = |at: i64, due: Due| {
        if at <= to && best.as_ref().is_none_or(|(b, _)| at < *b) {
            best = Some((at, due));
        }
    };
    for subscription in state.list("subscription") {
        let id = subscription["id"].as_str().unwrap_or_default().to_owned();
        match subscription["status"].as_str() {
            Some("active" | "trialing" | "past_due" | "unpaid") => {
                consider(period(item(subscription)).1, Due::Renew(id.clone()));
            }
            Some("incomplete") => {
                consider(
                    subscription["created"].as_i64().unwrap_or(0) + INCOMPLETE_FOR,
                    Due::Expire(id.clone()),
                );
            }
            _ => {}
        }
        if let Some(expires) = subscription["pending_update"]["expires_at"].as_i64() {
            consider(expires, Due::PendingUpdateExpired(id));
        }
    }
    for invoice in state.list("invoice") {
        if invoice["status"] == "open"
            && let Some(at) = invoice["next_payment_attempt"].as_i64()
        {
            consider(
                at,
                Due::Retry(invoice["id"].as_str().unwrap_or_default().to_owned()),
            );
        }
    }
    best
}

/// A period ended: cancel if asked, else apply a schedule's next phase, start the next period and
/// invoice it (with pending prorations), and collect.
fn renew(state: &mut State, id: &str, at: i64) {
    let Ok(before) = state.find("subscription", id, "id").cloned() else {
        return;
    };
    if before["cancel_at_period_end"] == true {
        end(state, id, "cancellation_requested");
        return;
    }
    match schedules::at_period_end(state, id, at) {
        schedules::AtPeriodEnd::Cancel => {
            end(state, id, "cancellation_requested");
            return;
        }
        schedules::AtPeriodEnd::Continue => {}
    }
    let Ok(subscription) = state.find_mut("subscription", id, "id") else {
        return;
    };
    let anchor = subscription["billing_cycle_anchor"].as_i64().unwrap_or(at);
    let interval = interval(item(subscription));
    let next_end = calendar::period_end(anchor, at, &interval);
    subscription["items"]["data"][0]["current_period_start"] = json!(at);
    subscription["items"]["data"][0]["current_period_end"] = json!(next_end);
    if subscription["status"] == "trialing" {
        subscription["trial_end"] = json!(at);
    }
    let subscription = subscription.clone();
    let item = item(&subscription).clone();
    let mut lines = state.pending_lines.remove(id).unwrap_or_default();
    lines.push(period_line(
        state,
        &subscription,
        &item,
        amount(&item),
        (at, next_end),
    ));
    let invoice = invoices::build(
        state,
        &subscription,
        lines,
        "subscription_cycle",
        Some(ids::new("in")),
    );
    let invoice_id = invoices::create_and_finalize(state, invoice);
    set(state, id, "latest_invoice", json!(invoice_id));
    let announced = state
        .find("subscription", id, "id")
        .cloned()
        .unwrap_or_default();
    let previous = customers::previous_attributes(&before, &announced);
    state.emit("customer.subscription.updated", &announced, previous);
    let pm = payment_method_for(state, &announced);
    match invoices::collect(state, &invoice_id, pm) {
        Collected::Paid => {}
        Collected::Failed(_) | Collected::RequiresAction => set_status(state, id, "past_due"),
    }
}

/// A failed invoice's next attempt; when the last one fails, the subscription is canceled.
fn retry(state: &mut State, invoice_id: &str) {
    let Ok(invoice) = state.find("invoice", invoice_id, "invoice").cloned() else {
        return;
    };
    let subscription = invoice["subscription"].as_str().map(str::to_owned);
    let pm = subscription
        .as_deref()
        .and_then(|s| state.get(s).cloned())
        .and_then(|s| payment_method_for(state, &s));
    match invoices::collect(state, invoice_id, pm) {
        Collected::Paid => {}
        Collected::Failed(_) | Collected::RequiresAction => {
            let exhausted = state
                .find("invoice", invoice_id, "invoice")
                .map(|i| i["next_payment_attempt"].is_null())
                .unwrap_or(true);
            if let (true, Some(subscription)) = (exhausted, subscription) {
                end(state, &subscription, "payment_failed");
            }
        }
    }
}

/// The first invoice went unpaid for 23 hours: `incomplete_expired`, its invoice voided.
fn expire(state: &mut State, id: &str) {
    let latest = state
        .find("subscription", id, "id")
        .ok()
        .and_then(|s| s["latest_invoice"].as_str().map(str::to_owned));
    if let Some(invoice) = latest {
        invoices::void(state, &invoice);
    }
    let now = state.now();
    if let Ok(subscription) = state.find_mut("subscription", id, "id") {
        let previous = json!({ "status": subscription["status"] });
        subscription["status"] = json!("incomplete_expired");
        subscription["ended_at"] = json!(now);
        let subscription = subscription.clone();
        state.emit(
            "customer.subscription.deleted",
            &subscription,
            Some(previous),
        );
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn proration_rounds_to_the_nearest_cent() {
        assert_eq!(super::prorate(2900, 1, 2), 1450);
        assert_eq!(super::prorate(999, 1, 2), 500);
        assert_eq!(super::prorate(-999, 1, 2), -500);
        assert_eq!(super::prorate(-1000, 1, 3), -333);
        assert_eq!(super::prorate(9900, 15 * 86_400, 30 * 86_400), 4950);
    }
}
