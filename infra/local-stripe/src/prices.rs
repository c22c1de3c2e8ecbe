//! Products and prices come from configuration (`libs/plans`), as the billing code expects them in
//! a Stripe account: one product per paid plan and a monthly and a yearly price, with fixed ids
//! `price_<plan>_<month|year>` so the local environment can name them.

use serde_json::{Value, json};

use crate::state::State;

/// The price id of a plan and interval (`month` or `year`).
pub fn price_id(plan: &str, interval: &str) -> String {
    format!("price_{plan}_{interval}")
}

pub fn seed(state: &mut State) {
    let created = state.now();
    for plan in plans::all() {
        if plan.prices.month == 0 && plan.prices.year == 0 {
            continue;
        }
        let product_id = format!("prod_{}", plan.id);
        state.insert(
            "product",
            json!({
                "id": product_id,
                "object": "product",
                "active": true,
                "created": created,
                "default_price": price_id(&plan.id, "month"),
                "description": null,
                "images": [],
                "livemode": false,
                "marketing_features": [],
                "metadata": { "plan": plan.id },
                "name": plan.name,
                "package_dimensions": null,
                "shippable": null,
                "statement_descriptor": null,
                "tax_code": null,
                "type": "service",
                "unit_label": null,
                "updated": created,
                "url": null,
            }),
        );
        for (interval, amount) in [("month", plan.prices.month), ("year", plan.prices.year)] {
            state.insert(
                "price",
                price(
                    &plan.id,
                    &product_id,
                    &plan.prices.currency,
                    interval,
                    amount,
                    created,
                ),
            );
        }
    }
}

fn price(
    plan: &str,
    product: &str,
    currency: &str,
    interval: &str,
    amount: u64,
    created: i64,
) -> Value {
    json!({
        "id": price_id(plan, interval),
        "object": "price",
        "active": true,
        "billing_scheme": "per_unit",
        "created": created,
        "currency": currency,
        "custom_unit_amount": null,
        "livemode": false,
        "lookup_key": format!("{plan}_{interval}"),
        "metadata": { "plan": plan, "interval": interval },
        "nickname": null,
        "product": product,
        "recurring": {
            "interval": interval,
            "interval_count": 1,
            "meter": null,
            "trial_period_days": null,
            "usage_type": "licensed",
        },
        "tax_behavior": "unspecified",
        "tiers_mode": null,
        "transform_quantity": null,
        "type": "recurring",
        "unit_amount": amount,
        "unit_amount_decimal": amount.to_string(),
    })
}
