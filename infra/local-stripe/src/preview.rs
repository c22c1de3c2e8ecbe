//! `POST /v1/invoices/create_preview`: the invoice a proposed change would produce, computed by
//! making the change on a copy of the state. A change billed at once (`always_invoice`, a new
//! interval) previews that invoice; otherwise the preview is the next renewal's invoice with the
//! prorations on it. Nothing is saved and no event is sent.

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::state::State;
use crate::{params, subscriptions};

pub fn create(state: &State, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &["customer", "subscription", "subscription_details"])?;
    params::only_in(
        p,
        "subscription_details",
        &[
            "items",
            "proration_behavior",
            "proration_date",
            "cancel_at_period_end",
            "billing_cycle_anchor",
        ],
    )?;
    let details = &p["subscription_details"];
    let mut copy = state.clone();
    copy.events.clear();
    copy.undispatched.clear();
    copy.fail_next_payment.clear();
    let subscription_id = match params::string(p, "subscription")?.filter(|s| !s.is_empty()) {
        Some(id) => {
            let subscription = state.find("subscription", id, "subscription")?;
            if let Some(customer) = params::string(p, "customer")?
                && subscription["customer"] != customer
            {
                return Err(StripeError::invalid_param(
                    "subscription",
                    "The subscription belongs to another customer.",
                ));
            }
            let mut change = json!({ "payment_behavior": "default_incomplete" });
            for field in [
                "items",
                "proration_behavior",
                "proration_date",
                "cancel_at_period_end",
                "billing_cycle_anchor",
            ] {
                if !details[field].is_null() {
                    change[field] = details[field].clone();
                }
            }
            let before = subscription["latest_invoice"].clone();
            subscriptions::update(&mut copy, id, &change)
                .map_err(|e| prefixed(e, "subscription_details"))?;
            let after = copy.find("subscription", id, "subscription")?.clone();
            if after["latest_invoice"] != before {
                return Ok(as_preview(
                    copy.find(
                        "invoice",
                        after["latest_invoice"].as_str().unwrap_or_default(),
                        "invoice",
                    )?
                    .clone(),
                ));
            }
            if after["cancel_at_period_end"] == true || after["status"] == "canceled" {
                return Err(StripeError::invalid_request(
                    "No upcoming invoices for the subscription: it ends at the period end.",
                    None,
                )
                .with("code", json!("invoice_upcoming_none")));
            }
            id.to_owned()
        }
        None => {
            let customer = params::required(p, "customer")?;
            let create = json!({
                "customer": customer,
                "items": details["items"],
                "payment_behavior": "default_incomplete",
            });
            let created = subscriptions::create(&mut copy, &create)
                .map_err(|e| prefixed(e, "subscription_details"))?;
            let invoice = created["latest_invoice"].as_str().unwrap_or_default();
            return Ok(as_preview(
                copy.find("invoice", invoice, "invoice")?.clone(),
            ));
        }
    };
    // The next renewal, on the copy.
    let end = copy
        .find("subscription", &subscription_id, "subscription")?["items"]["data"][0]["current_period_end"]
        .as_i64()
        .unwrap_or(0);
    let latest =
        copy.find("subscription", &subscription_id, "subscription")?["latest_invoice"].clone();
    let now = copy.now();
    subscriptions::advance(&mut copy, now, end);
    let renewed =
        copy.find("subscription", &subscription_id, "subscription")?["latest_invoice"].clone();
    if renewed == latest {
        return Err(StripeError::invalid_request(
            "No upcoming invoices for the subscription.",
            None,
        )
        .with("code", json!("invoice_upcoming_none")));
    }
    Ok(as_preview(
        copy.find("invoice", renewed.as_str().unwrap_or_default(), "invoice")?
            .clone(),
    ))
}

fn prefixed(mut error: StripeError, prefix: &str) -> StripeError {
    if let Some(param) = error.param.take() {
        let (head, rest) = param
            .split_once('[')
            .map_or((param.as_str(), String::new()), |(h, r)| {
                (h, format!("[{r}"))
            });
        error.param = Some(format!("{prefix}[{head}]{rest}"));
    }
    error
}

/// A finalized invoice of the copy, shown as Stripe shows a preview: no id, a draft, unpaid.
fn as_preview(mut invoice: Value) -> Value {
    invoice["id"] = Value::Null;
    invoice["number"] = Value::Null;
    invoice["status"] = json!("draft");
    invoice["amount_paid"] = json!(0);
    invoice["amount_remaining"] = invoice["amount_due"].clone();
    invoice["attempt_count"] = json!(0);
    invoice["attempted"] = json!(false);
    invoice["next_payment_attempt"] = Value::Null;
    invoice["confirmation_secret"] = Value::Null;
    invoice["hosted_invoice_url"] = Value::Null;
    invoice["invoice_pdf"] = Value::Null;
    invoice["effective_at"] = Value::Null;
    invoice["payments"] =
        json!({ "object": "list", "data": [], "has_more": false, "url": "/v1/invoice_payments" });
    invoice["status_transitions"] = json!({ "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null });
    invoice["lines"]["url"] = json!("/v1/invoices/create_preview/lines");
    if let Some(lines) = invoice["lines"]["data"].as_array_mut() {
        for line in lines {
            line["invoice"] = Value::Null;
        }
    }
    invoice
}
