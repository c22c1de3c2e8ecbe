//! Invoices: built from lines, finalized, paid through a PaymentIntent (or the customer's credit
//! balance), listed, retrieved and previewed. The customer's balance is applied as Stripe applies
//! it: a credit (negative balance) reduces `amount_due`, a negative total adds to the credit.

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::payment_intents::{self, Charge};
use crate::state::State;
use crate::{ids, params};

/// Days between failed payment attempts of a subscription invoice (Stripe's Smart Retries
/// stand-in: attempts on days 0, 3, 5 and 7), after which the subscription is canceled.
pub const RETRY_AFTER_DAYS: [i64; 3] = [3, 2, 2];

/// One invoice line for a price over a period (`proration` lines carry their own amount).
pub fn line(
    state: &State,
    subscription: &Value,
    item: &Value,
    amount: i64,
    period: (i64, i64),
    proration: bool,
    description: String,
) -> Value {
    let price = &item["price"];
    json!({
        "id": ids::new("il"),
        "object": "line_item",
        "amount": amount,
        "currency": price["currency"],
        "description": description,
        "discount_amounts": [],
        "discountable": !proration,
        "discounts": [],
        "invoice": null,
        "livemode": false,
        "metadata": {},
        "parent": {
            "type": "subscription_item_details",
            "invoice_item_details": null,
            "subscription_item_details": {
                "invoice_item": null,
                "proration": proration,
                "proration_details": { "credited_items": null },
                "subscription": subscription["id"],
                "subscription_item": item["id"],
            },
        },
        "period": { "start": period.0, "end": period.1 },
        "pretax_credit_amounts": [],
        "pricing": {
            "type": "price_details",
            "price_details": { "price": price["id"], "product": price["product"] },
            "unit_amount_decimal": price["unit_amount_decimal"],
        },
        "quantity": item["quantity"],
        "subtotal": amount,
        "taxes": [],
        "created": state.now(),
    })
}

/// A new invoice for a subscription with these lines, not yet saved. `id` is `None` for a preview.
pub fn build(
    state: &State,
    subscription: &Value,
    lines: Vec<Value>,
    billing_reason: &str,
    id: Option<String>,
) -> Value {
    let customer = state.get(subscription["customer"].as_str().unwrap_or_default());
    let total: i64 = lines
        .iter()
        .map(|l| l["amount"].as_i64().unwrap_or(0))
        .sum();
    let starting_balance = customer.and_then(|c| c["balance"].as_i64()).unwrap_or(0);
    let (amount_due, ending_balance) = apply_balance(total, starting_balance);
    let now = state.now();
    let (period_start, period_end) = lines
        .iter()
        .filter_map(|l| Some((l["period"]["start"].as_i64()?, l["period"]["end"].as_i64()?)))
        .fold((now, now), |(s, e), (ls, le)| (s.min(ls), e.max(le)));
    let lines_url = match &id {
        Some(id) => format!("/v1/invoices/{id}/lines"),
        None => "/v1/invoices/create_preview/lines".to_owned(),
    };
    let mut lines = lines;
    for line in &mut lines {
        line["invoice"] = json!(id);
    }
    json!({
        "id": id,
        "object": "invoice",
        "account_country": "US",
        "account_name": "Objecta (local Stripe)",
        "account_tax_ids": null,
        "amount_due": amount_due,
        "amount_overpaid": 0,
        "amount_paid": 0,
        "amount_remaining": amount_due,
        "amount_shipping": 0,
        "application": null,
        "attempt_count": 0,
        "attempted": false,
        "auto_advance": true,
        "automatic_tax": { "enabled": false, "disabled_reason": null, "liability": null, "provider": null, "status": null },
        "automatically_finalizes_at": null,
        "billing_reason": billing_reason,
        "collection_method": "charge_automatically",
        "confirmation_secret": null,
        "created": now,
        "currency": subscription["currency"],
        "custom_fields": null,
        "customer": subscription["customer"],
        "customer_address": null,
        "customer_email": customer.map_or(Value::Null, |c| c["email"].clone()),
        "customer_name": customer.map_or(Value::Null, |c| c["name"].clone()),
        "customer_phone": null,
        "customer_shipping": null,
        "customer_tax_exempt": "none",
        "customer_tax_ids": [],
        "default_payment_method": null,
        "default_source": null,
        "default_tax_rates": [],
        "description": null,
        "discounts": [],
        "due_date": null,
        "effective_at": null,
        "ending_balance": ending_balance,
        "footer": null,
        "from_invoice": null,
        "hosted_invoice_url": null,
        "invoice_pdf": null,
        "issuer": { "type": "self" },
        "last_finalization_error": null,
        "latest_revision": null,
        "lines": { "object": "list", "data": lines, "has_more": false, "url": lines_url },
        "livemode": false,
        "metadata": {},
        "next_payment_attempt": null,
        "number": null,
        "on_behalf_of": null,
        "parent": {
            "type": "subscription_details",
            "quote_details": null,
            "subscription_details": { "metadata": subscription["metadata"], "subscription": subscription["id"] },
        },
        "payment_settings": { "default_mandate": null, "payment_method_options": null, "payment_method_types": null },
        "payments": { "object": "list", "data": [], "has_more": false, "url": format!("/v1/invoice_payments?invoice={}", id.as_deref().unwrap_or_default()) },
        "period_end": period_end,
        "period_start": period_start,
        "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0,
        "receipt_number": null,
        "rendering": null,
        "shipping_cost": null,
        "shipping_details": null,
        "starting_balance": starting_balance,
        "statement_descriptor": null,
        "status": "draft",
        "status_transitions": { "finalized_at": null, "marked_uncollectible_at": null, "paid_at": null, "voided_at": null },
        "subscription": subscription["id"],
        "subtotal": total,
        "subtotal_excluding_tax": total,
        "test_clock": null,
        "total": total,
        "total_discount_amounts": [],
        "total_excluding_tax": total,
        "total_pretax_credit_amounts": [],
        "total_taxes": [],
        "webhooks_delivered_at": now,
    })
}

/// (amount due, ending balance) of a total against a starting balance (negative = credit).
fn apply_balance(total: i64, starting_balance: i64) -> (i64, i64) {
    let owed = total + starting_balance;
    if owed >= 0 { (owed, 0) } else { (0, owed) }
}

/// Saves a built invoice, finalizes it (number, PaymentIntent for what is due) and records the
/// customer's new balance. Returns the invoice id.
pub fn create_and_finalize(state: &mut State, mut invoice: Value) -> String {
    let id = invoice["id"].as_str().unwrap_or_default().to_owned();
    let customer_id = invoice["customer"].as_str().unwrap_or_default().to_owned();
    state.emit("invoice.created", &invoice, None);
    let now = state.now();
    let sequence = state
        .find_mut("customer", &customer_id, "customer")
        .map(|c| {
            let n = c["next_invoice_sequence"].as_i64().unwrap_or(1);
            c["next_invoice_sequence"] = json!(n + 1);
            c["balance"] = invoice["ending_balance"].clone();
            (
                c["invoice_prefix"].as_str().unwrap_or("LOCAL").to_owned(),
                n,
            )
        })
        .unwrap_or(("LOCAL".into(), 1));
    invoice["number"] = json!(format!("{}-{:04}", sequence.0, sequence.1));
    invoice["status"] = json!("open");
    invoice["status_transitions"]["finalized_at"] = json!(now);
    invoice["effective_at"] = json!(now);
    invoice["hosted_invoice_url"] = json!(format!("https://invoice.stripe.local/{id}"));
    invoice["invoice_pdf"] = json!(format!("https://invoice.stripe.local/{id}/pdf"));
    let amount_due = invoice["amount_due"].as_i64().unwrap_or(0);
    if amount_due > 0 {
        let intent = payment_intents::create_for_invoice(state, &invoice);
        invoice["confirmation_secret"] = json!({
            "client_secret": intent["client_secret"],
            "type": "payment_intent",
        });
        invoice["payments"]["data"] = json!([{
            "id": ids::new("inpay"),
            "object": "invoice_payment",
            "amount_paid": null,
            "amount_requested": amount_due,
            "created": now,
            "currency": invoice["currency"],
            "invoice": id,
            "is_default": true,
            "livemode": false,
            "payment": { "type": "payment_intent", "payment_intent": intent["id"] },
            "status": "open",
            "status_transitions": { "canceled_at": null, "paid_at": null },
        }]);
    }
    state.insert("invoice", invoice.clone());
    state.emit("invoice.finalized", &invoice, None);
    id
}

/// The PaymentIntent of an invoice, if it has one.
pub fn intent_of(invoice: &Value) -> Option<String> {
    invoice["payments"]["data"][0]["payment"]["payment_intent"]
        .as_str()
        .map(str::to_owned)
}

/// What an attempt to collect an invoice came to.
#[derive(Clone, Debug)]
pub enum Collected {
    Paid,
    /// The card was declined, or there is no payment method: the invoice stays open.
    Failed(Option<StripeError>),
    /// The card needs the customer to authenticate.
    RequiresAction,
}

/// Tries to collect an open invoice with a payment method (the subscription's, else the
/// customer's default). Nothing due → paid at once.
pub fn collect(state: &mut State, invoice_id: &str, payment_method: Option<String>) -> Collected {
    let Ok(invoice) = state.find("invoice", invoice_id, "invoice").cloned() else {
        return Collected::Failed(None);
    };
    if invoice["status"] != "open" {
        return if invoice["status"] == "paid" {
            Collected::Paid
        } else {
            Collected::Failed(None)
        };
    }
    if invoice["amount_due"].as_i64().unwrap_or(0) == 0 {
        mark_paid(state, invoice_id);
        return Collected::Paid;
    }
    let Some(intent) = intent_of(&invoice) else {
        return Collected::Failed(None);
    };
    let outcome = payment_intents::charge(state, &intent, payment_method);
    let now = state.now();
    match outcome {
        Charge::Succeeded => {
            if let Ok(invoice) = state.find_mut("invoice", invoice_id, "invoice") {
                bump_attempts(invoice);
            }
            mark_paid(state, invoice_id);
            Collected::Paid
        }
        Charge::RequiresAction => {
            // An attempt that needs the customer counts as a failed one: the next attempt is
            // scheduled as after a decline (the customer may authenticate before it).
            failed_attempt(state, invoice_id, now, "invoice.payment_action_required");
            Collected::RequiresAction
        }
        Charge::Failed(error) => {
            failed_attempt(state, invoice_id, now, "invoice.payment_failed");
            Collected::Failed(error)
        }
    }
}

/// Counts an attempt that did not pay, schedules the next one and announces it as `event`.
fn failed_attempt(state: &mut State, invoice_id: &str, now: i64, event: &str) {
    let invoice = state
        .find_mut("invoice", invoice_id, "invoice")
        .map(|invoice| {
            bump_attempts(invoice);
            schedule_next_attempt(invoice, now);
            invoice.clone()
        });
    if let Ok(invoice) = invoice {
        state.emit(event, &invoice, None);
    }
}

/// After a failed attempt: the next one per [`RETRY_AFTER_DAYS`], none once they are used up,
/// and none for a subscription's first invoice (Stripe does not retry it; it expires instead).
fn schedule_next_attempt(invoice: &mut Value, now: i64) {
    let attempts = invoice["attempt_count"].as_u64().unwrap_or(1).max(1) as usize;
    let retried = invoice["billing_reason"] != "subscription_create";
    invoice["next_payment_attempt"] = match RETRY_AFTER_DAYS.get(attempts - 1) {
        Some(days) if retried => json!(now + days * 86_400),
        _ => Value::Null,
    };
}

/// Stops automatic collection of a subscription's open invoices (it ended).
pub fn stop_collecting(state: &mut State, subscription: &str) {
    for id in state
        .list("invoice")
        .into_iter()
        .filter(|i| i["subscription"] == subscription && i["status"] == "open")
        .filter_map(|i| i["id"].as_str().map(str::to_owned))
        .collect::<Vec<_>>()
    {
        if let Ok(invoice) = state.find_mut("invoice", &id, "invoice") {
            invoice["next_payment_attempt"] = Value::Null;
            invoice["auto_advance"] = json!(false);
        }
    }
}

fn bump_attempts(invoice: &mut Value) {
    let attempts = invoice["attempt_count"].as_u64().unwrap_or(0) + 1;
    invoice["attempt_count"] = json!(attempts);
    invoice["attempted"] = json!(true);
}

/// Marks an invoice paid (its PaymentIntent succeeded, or nothing was due) and tells the
/// subscription.
pub fn mark_paid(state: &mut State, invoice_id: &str) {
    let now = state.now();
    let Ok(invoice) = state.find_mut("invoice", invoice_id, "invoice") else {
        return;
    };
    if invoice["status"] == "paid" {
        return;
    }
    let due = invoice["amount_due"].clone();
    invoice["status"] = json!("paid");
    invoice["amount_paid"] = due.clone();
    invoice["amount_remaining"] = json!(0);
    invoice["next_payment_attempt"] = Value::Null;
    invoice["status_transitions"]["paid_at"] = json!(now);
    if let Some(payment) = invoice["payments"]["data"].get_mut(0) {
        payment["status"] = json!("paid");
        payment["amount_paid"] = due;
        payment["status_transitions"]["paid_at"] = json!(now);
    }
    let invoice = invoice.clone();
    state.emit("invoice.paid", &invoice, None);
    state.emit("invoice.payment_succeeded", &invoice, None);
    crate::subscriptions::invoice_paid(state, &invoice);
}

/// Voids an open invoice (an expired first payment).
pub fn void(state: &mut State, invoice_id: &str) {
    let now = state.now();
    if let Ok(invoice) = state.find_mut("invoice", invoice_id, "invoice") {
        if invoice["status"] != "open" {
            return;
        }
        invoice["status"] = json!("void");
        invoice["amount_remaining"] = json!(0);
        invoice["next_payment_attempt"] = Value::Null;
        invoice["status_transitions"]["voided_at"] = json!(now);
        let invoice = invoice.clone();
        if let Some(intent) = intent_of(&invoice) {
            payment_intents::cancel(state, &intent);
        }
        state.emit("invoice.voided", &invoice, None);
    }
}

pub fn retrieve(state: &State, id: &str) -> Result<Value, StripeError> {
    Ok(state.find("invoice", id, "invoice")?.clone())
}

pub fn lines(state: &State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(p, &[])?;
    let invoice = state.find("invoice", id, "invoice")?;
    let items = invoice["lines"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    params::page(items, p, &format!("/v1/invoices/{id}/lines"))
}

pub fn list(state: &State, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(
        p,
        &["customer", "subscription", "status", "collection_method"],
    )?;
    let customer = params::string(p, "customer")?;
    let subscription = params::string(p, "subscription")?;
    let status = params::one_of(
        p,
        "status",
        &["draft", "open", "paid", "uncollectible", "void"],
    )?;
    let items = state
        .list("invoice")
        .into_iter()
        .filter(|i| customer.is_none_or(|c| i["customer"] == c))
        .filter(|i| subscription.is_none_or(|s| i["subscription"] == s))
        .filter(|i| status.is_none_or(|s| i["status"] == s))
        .cloned()
        .collect();
    params::page(items, p, "/v1/invoices")
}

/// `POST /v1/invoices/:id/pay`: collect now, with `payment_method` if given.
pub fn pay(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &["payment_method", "off_session"])?;
    let invoice = state.find("invoice", id, "invoice")?.clone();
    if invoice["status"] == "paid" {
        return Err(StripeError::invalid_request(
            "Invoice is already paid",
            None,
        ));
    }
    if invoice["status"] != "open" {
        return Err(StripeError::invalid_request(
            format!(
                "You can only pay an open invoice; this one is {}.",
                invoice["status"].as_str().unwrap_or("?")
            ),
            None,
        ));
    }
    let pm = match params::string(p, "payment_method")? {
        Some(pm) if !pm.is_empty() => Some(pm.to_owned()),
        _ => None,
    };
    match collect(state, id, pm) {
        Collected::Paid => retrieve(state, id),
        Collected::Failed(Some(error)) => Err(error),
        Collected::Failed(None) => Err(StripeError::invalid_request(
            "This invoice has no payment method to charge. Attach one to the customer or pass payment_method.",
            None,
        )),
        Collected::RequiresAction => Err(StripeError::card(
            "invoice_payment_intent_requires_action",
            None,
            "Payment for this invoice requires a customer action (3D Secure).",
        )),
    }
}
