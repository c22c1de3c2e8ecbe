//! Card payment methods from Stripe's test ids, attached to and detached from customers.
//!
//! As in Stripe's test mode, a test id such as `pm_card_visa` names a card rather than an object:
//! each use (attach, a customer's `payment_method`) creates a new `pm_…` with that card's details
//! and behaviour.

use serde_json::{Value, json};

use crate::error::StripeError;
use crate::state::State;
use crate::{ids, params};

/// What a test card does when charged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    Succeeds,
    /// Declined: `card_declined` with this `decline_code`.
    Declined(&'static str),
    /// Needs the customer to authenticate (3D Secure): the PaymentIntent `requires_action`.
    RequiresAction,
}

struct TestCard {
    id: &'static str,
    brand: &'static str,
    last4: &'static str,
    funding: &'static str,
    behaviour: Behaviour,
}

const TEST_CARDS: &[TestCard] = &[
    TestCard {
        id: "pm_card_visa",
        brand: "visa",
        last4: "4242",
        funding: "credit",
        behaviour: Behaviour::Succeeds,
    },
    TestCard {
        id: "pm_card_visa_debit",
        brand: "visa",
        last4: "5556",
        funding: "debit",
        behaviour: Behaviour::Succeeds,
    },
    TestCard {
        id: "pm_card_mastercard",
        brand: "mastercard",
        last4: "4444",
        funding: "credit",
        behaviour: Behaviour::Succeeds,
    },
    TestCard {
        id: "pm_card_amex",
        brand: "amex",
        last4: "8431",
        funding: "credit",
        behaviour: Behaviour::Succeeds,
    },
    TestCard {
        id: "pm_card_chargeDeclined",
        brand: "visa",
        last4: "0002",
        funding: "credit",
        behaviour: Behaviour::Declined("generic_decline"),
    },
    TestCard {
        id: "pm_card_chargeDeclinedInsufficientFunds",
        brand: "visa",
        last4: "9995",
        funding: "credit",
        behaviour: Behaviour::Declined("insufficient_funds"),
    },
    TestCard {
        id: "pm_card_chargeDeclinedExpiredCard",
        brand: "visa",
        last4: "0069",
        funding: "credit",
        behaviour: Behaviour::Declined("expired_card"),
    },
    TestCard {
        id: "pm_card_authenticationRequired",
        brand: "visa",
        last4: "3184",
        funding: "credit",
        behaviour: Behaviour::RequiresAction,
    },
];

/// How the payment method `id` behaves when charged (cards made from test ids).
pub fn behaviour(state: &State, id: &str) -> Behaviour {
    state.cards.get(id).copied().unwrap_or(Behaviour::Succeeds)
}

/// A payment method by id; a test id makes a new one.
fn resolve(state: &mut State, id: &str, param: &str) -> Result<String, StripeError> {
    if let Some(card) = TEST_CARDS.iter().find(|card| card.id == id) {
        let pm = new_card(state, card);
        return Ok(pm);
    }
    state.find("payment_method", id, param)?;
    Ok(id.to_owned())
}

fn new_card(state: &mut State, card: &TestCard) -> String {
    let id = ids::new("pm");
    let object = json!({
        "id": id,
        "object": "payment_method",
        "allow_redisplay": "unspecified",
        "billing_details": {
            "address": { "city": null, "country": null, "line1": null, "line2": null, "postal_code": null, "state": null },
            "email": null,
            "name": null,
            "phone": null,
            "tax_id": null,
        },
        "card": {
            "brand": card.brand,
            "checks": { "address_line1_check": null, "address_postal_code_check": null, "cvc_check": "pass" },
            "country": "US",
            "display_brand": card.brand,
            "exp_month": 12,
            "exp_year": 2034,
            "fingerprint": format!("local{}{}", card.brand, card.last4),
            "funding": card.funding,
            "generated_from": null,
            "last4": card.last4,
            "networks": { "available": [card.brand], "preferred": null },
            "regulated_status": "unregulated",
            "three_d_secure_usage": { "supported": true },
            "wallet": null,
        },
        "created": state.now(),
        "customer": null,
        "livemode": false,
        "metadata": {},
        "type": "card",
    });
    state.insert("payment_method", object);
    state.cards.insert(id.clone(), card.behaviour);
    id
}

/// Attaches a payment method (or a new one from a test id) to a customer; returns its id.
pub fn attach_to(
    state: &mut State,
    id: &str,
    customer: &str,
    param: &str,
) -> Result<String, StripeError> {
    state.find("customer", customer, "customer")?;
    let pm = resolve(state, id, param)?;
    let method = state.find_mut("payment_method", &pm, param)?;
    match method["customer"].as_str() {
        Some(owner) if owner == customer => return Ok(pm),
        Some(_) => {
            return Err(StripeError::invalid_param(
                param,
                "The payment method you provided has already been attached to a customer.",
            ));
        }
        None => method["customer"] = json!(customer),
    }
    let method = method.clone();
    state.emit(
        "payment_method.attached",
        &method,
        Some(json!({ "customer": null })),
    );
    Ok(pm)
}

pub fn attach(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &["customer"])?;
    let customer = params::required(p, "customer")?;
    let pm = attach_to(state, id, customer, "payment_method")?;
    Ok(state.find("payment_method", &pm, "payment_method")?.clone())
}

pub fn detach(state: &mut State, id: &str, p: &Value) -> Result<Value, StripeError> {
    params::only(p, &[])?;
    let method = state.find_mut("payment_method", id, "payment_method")?;
    let Some(customer) = method["customer"].as_str().map(str::to_owned) else {
        return Err(StripeError::invalid_param(
            "payment_method",
            "The payment method you provided is not attached to a customer so detachment is impossible.",
        ));
    };
    method["customer"] = Value::Null;
    let method = method.clone();
    // A detached default is no longer the customer's default.
    if let Ok(owner) = state.find_mut("customer", &customer, "customer")
        && owner["invoice_settings"]["default_payment_method"] == id
    {
        owner["invoice_settings"]["default_payment_method"] = Value::Null;
    }
    state.emit(
        "payment_method.detached",
        &method,
        Some(json!({ "customer": customer })),
    );
    Ok(method)
}

pub fn retrieve(state: &State, id: &str) -> Result<Value, StripeError> {
    Ok(state.find("payment_method", id, "payment_method")?.clone())
}

pub fn list_for_customer(state: &State, customer: &str, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(p, &["type", "allow_redisplay"])?;
    state.find("customer", customer, "customer")?;
    params::one_of(p, "type", &["card"])?;
    let items = state
        .list("payment_method")
        .into_iter()
        .filter(|m| m["customer"] == customer)
        .cloned()
        .collect();
    params::page(
        items,
        p,
        &format!("/v1/customers/{customer}/payment_methods"),
    )
}

pub fn list(state: &State, p: &Value) -> Result<Value, StripeError> {
    params::only_listing(p, &["type", "customer"])?;
    let customer = params::required(p, "customer")?;
    let mut p = p.clone();
    p.as_object_mut().map(|m| m.remove("customer"));
    list_for_customer(state, customer, &p).map(|mut list| {
        list["url"] = json!("/v1/payment_methods");
        list
    })
}
