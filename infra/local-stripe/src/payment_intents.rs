//! PaymentIntents behind invoices: created at finalization, charged with a card's test behaviour
//! (or a failure the control API asked for), confirmed by the customer, retrieved.

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::payment_methods::{self, Behaviour};
use crate::state::State;
use crate::{ids, invoices, params};

/// What a charge came to.
#[derive(Debug)]
pub enum Charge {
    Succeeded,
    RequiresAction,
    /// Declined (the card error), or no payment method (`None`).
    Failed(Option<StripeError>),
}

pub fn create_for_invoice(state: &mut State, invoice: &Value) -> Value {
    let id = ids::new("pi");
    let intent = json!({
        "id": id,
        "object": "payment_intent",
        "amount": invoice["amount_due"],
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": 0,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic",
        "client_secret": ids::secret_for(&id),
        "confirmation_method": "automatic",
        "created": state.now(),
        "currency": invoice["currency"],
        "customer": invoice["customer"],
        "description": format!("Invoice {}", invoice["number"].as_str().unwrap_or_default()),
        "last_payment_error": null,
        "latest_charge": null,
        "livemode": false,
        "metadata": { "invoice": invoice["id"] },
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": null,
        "payment_method_options": {},
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": "off_session",
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": "requires_payment_method",
        "transfer_data": null,
        "transfer_group": null,
    });
    state.insert("payment_intent", intent.clone());
    state.emit("payment_intent.created", &intent, None);
    intent
}

/// Charges the intent with `payment_method`, else the one it has, else the invoice customer's
/// default.
pub fn charge(state: &mut State, id: &str, payment_method: Option<String>) -> Charge {
    charge_as(state, id, payment_method, None)
}

/// A charge whose card behaves as `forced` this once (a completed 3D Secure challenge).
fn charge_as(
    state: &mut State,
    id: &str,
    payment_method: Option<String>,
    forced: Option<Behaviour>,
) -> Charge {
    let Ok(intent) = state.find("payment_intent", id, "payment_intent").cloned() else {
        return Charge::Failed(None);
    };
    let customer = intent["customer"].as_str().unwrap_or_default().to_owned();
    let pm = payment_method
        .or_else(|| intent["payment_method"].as_str().map(str::to_owned))
        .or_else(|| {
            state
                .get(&customer)
                .and_then(|c| c["invoice_settings"]["default_payment_method"].as_str())
                .map(str::to_owned)
        });
    let Some(pm) = pm else {
        return Charge::Failed(None);
    };
    let behaviour = if let Some(forced) = forced {
        forced
    } else if state.fail_next_payment.remove(&customer) {
        Behaviour::Declined("generic_decline")
    } else {
        payment_methods::behaviour(state, &pm)
    };
    let Ok(intent) = state.find_mut("payment_intent", id, "payment_intent") else {
        return Charge::Failed(None);
    };
    intent["payment_method"] = json!(pm);
    match behaviour {
        Behaviour::Succeeds => {
            intent["status"] = json!("succeeded");
            intent["amount_received"] = intent["amount"].clone();
            intent["last_payment_error"] = Value::Null;
            intent["next_action"] = Value::Null;
            intent["latest_charge"] = json!(ids::new("ch"));
            let intent = intent.clone();
            state.emit("payment_intent.succeeded", &intent, None);
            Charge::Succeeded
        }
        Behaviour::RequiresAction => {
            intent["status"] = json!("requires_action");
            intent["next_action"] = json!({
                "type": "use_stripe_sdk",
                "use_stripe_sdk": { "type": "three_d_secure_redirect", "stripe_js": "https://hooks.stripe.local/3d_secure" },
            });
            let intent = intent.clone();
            state.emit("payment_intent.requires_action", &intent, None);
            Charge::RequiresAction
        }
        Behaviour::Declined(decline_code) => {
            let error = StripeError::card(
                "card_declined",
                Some(decline_code),
                decline_message(decline_code),
            );
            let mut error_body = error.body()["error"].clone();
            error_body["payment_method"] = state.get(&pm).cloned().unwrap_or(Value::Null);
            let Ok(intent) = state.find_mut("payment_intent", id, "payment_intent") else {
                return Charge::Failed(Some(error));
            };
            intent["status"] = json!("requires_payment_method");
            intent["last_payment_error"] = error_body;
            intent["latest_charge"] = json!(ids::new("ch"));
            let intent = intent.clone();
            state.emit("payment_intent.payment_failed", &intent, None);
            Charge::Failed(Some(error.with("payment_intent", intent)))
        }
    }
}

fn decline_message(decline_code: &str) -> &'static str {
    match decline_code {
        "insufficient_funds" => "Your card has insufficient funds.",
        "expired_card" => "Your card has expired.",
        _ => "Your card was declined.",
    }
}

pub fn cancel(state: &mut State, id: &str) {
    let now = state.now();
    if let Ok(intent) = state.find_mut("payment_intent", id, "payment_intent")
        && intent["status"] != "succeeded"
    {
        intent["status"] = json!("canceled");
        intent["canceled_at"] = json!(now);
        intent["cancellation_reason"] = json!("void_invoice");
        let intent = intent.clone();
        state.emit("payment_intent.canceled", &intent, None);
    }
}

pub fn retrieve(state: &State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &["client_secret"])?;
    Ok(state.find("payment_intent", id, "intent")?.clone())
}

/// `POST /v1/payment_intents/:id/confirm`: charge it now (with `payment_method` if given) and, if
/// it belongs to an invoice, pay the invoice.
pub fn confirm(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(
        p,
        &[
            "payment_method",
            "off_session",
            "return_url",
            "mandate_data",
        ],
    )?;
    let intent = state.find("payment_intent", id, "intent")?.clone();
    if intent["status"] == "succeeded" || intent["status"] == "canceled" {
        return Err(StripeError::invalid_request(
            format!(
                "This PaymentIntent's status is {}, so it cannot be confirmed.",
                intent["status"].as_str().unwrap_or_default()
            ),
            None,
        )
        .with("code", json!("payment_intent_unexpected_state")));
    }
    let pm = match params::string(p, "payment_method")? {
        Some(pm) if !pm.is_empty() => Some(resolve_for(state, pm, &intent)?),
        _ => None,
    };
    let outcome = charge(state, id, pm);
    finish(state, &intent, outcome)
}

/// The customer completed 3D Secure for an intent that `requires_action` (local control route).
pub fn authenticate(state: &mut State, id: &str) -> Result<Value, StripeError> {
    let intent = state.find("payment_intent", id, "intent")?.clone();
    if intent["status"] != "requires_action" {
        return Err(StripeError::invalid_request(
            "This PaymentIntent does not require an action.",
            None,
        ));
    }
    let pm = intent["payment_method"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // The customer authenticated: this one charge goes through.
    let outcome = charge_as(state, id, Some(pm), Some(Behaviour::Succeeds));
    finish(state, &intent, outcome)
}

fn resolve_for(state: &mut State, pm: &str, intent: &Value) -> Result<String, StripeError> {
    let customer = intent["customer"].as_str().unwrap_or_default().to_owned();
    payment_methods::attach_to(state, pm, &customer, "payment_method")
}

fn finish(state: &mut State, intent: &Value, outcome: Charge) -> Result<Value, StripeError> {
    let invoice = intent["metadata"]["invoice"].as_str().map(str::to_owned);
    match outcome {
        Charge::Succeeded => {
            if let Some(invoice) = invoice {
                invoices::mark_paid(state, &invoice);
            }
        }
        Charge::Failed(Some(error)) => return Err(error),
        Charge::Failed(None) => {
            return Err(StripeError::missing("payment_method"));
        }
        Charge::RequiresAction => {}
    }
    Ok(state
        .find(
            "payment_intent",
            intent["id"].as_str().unwrap_or_default(),
            "intent",
        )?
        .clone())
}
