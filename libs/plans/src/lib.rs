//! The billing plans and their limits: configuration (`plans.json` next to this crate), not code.
//! Team reads seat limits from here; billing lists, prices and meters the same plans. Which
//! plan's limits apply to an organization now is [`effective_plan`] of its subscription's facts.
//!
//! The file is compiled in (a Lambda has no config directory) and checked by this crate's tests,
//! so a bad edit fails the build's tests rather than a request.

mod entitlement;
pub mod usage;

pub use entitlement::{
    Interval, PAST_DUE_GRACE, SubscriptionFacts, SubscriptionStatus, effective_plan,
};

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

const PLANS_JSON: &str = include_str!("../plans.json");

/// A plan as configured.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// `free`, `starter`, `pro` or `enterprise`.
    pub id: String,
    pub name: String,
    pub prices: Prices,
    pub limits: Limits,
    pub features: Vec<String>,
}

/// Prices in the currency's smallest unit (cents).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    pub currency: String,
    pub month: u64,
    pub year: u64,
}

/// Limits per organization; `null` is unlimited. Messages and API calls are per calendar month.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Members plus pending invitations.
    pub seats: Option<u32>,
    pub messages: Option<u64>,
    pub api_calls: Option<u64>,
    pub storage_bytes: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PlanFile {
    plans: Vec<Plan>,
}

/// Every plan, in the configured order (cheapest first).
pub fn all() -> &'static [Plan] {
    static PLANS: OnceLock<Vec<Plan>> = OnceLock::new();
    PLANS.get_or_init(|| {
        serde_json::from_str::<PlanFile>(PLANS_JSON)
            .expect("plans.json is valid (checked by the plans crate's tests)")
            .plans
    })
}

/// The plan with this id.
pub fn find(id: &str) -> Option<&'static Plan> {
    all().iter().find(|plan| plan.id == id)
}

/// The plan every organization starts on.
pub const FREE: &str = "free";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_configured_plans_are_the_briefs_defaults() {
        let ids: Vec<&str> = all().iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["free", "starter", "pro", "enterprise"]);
        let seats: Vec<Option<u32>> = all().iter().map(|p| p.limits.seats).collect();
        assert_eq!(seats, [Some(5), Some(10), Some(50), None]);
        let pro = find("pro").unwrap();
        assert_eq!((pro.prices.month, pro.prices.year), (9900, 99000));
        assert_eq!(pro.limits.messages, Some(100_000));
        assert_eq!(pro.limits.api_calls, Some(1_000_000));
        assert_eq!(find("enterprise").unwrap().limits.messages, None);
    }
}
