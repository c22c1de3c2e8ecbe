//! The Stripe price of each paid plan and interval. Prices are configuration of the Stripe
//! account, so their ids come from the environment (`STRIPE_PRICE_<PLAN>_<MONTH|YEAR>`); the
//! amounts stay in `libs/plans/plans.json`, and the local Stripe creates its prices from there.

use config::{ConfigError, Env};
use plans::Interval;

/// Every paid plan and interval with the setting that names its price.
const SETTINGS: &[(&str, Interval, &str)] = &[
    ("starter", Interval::Month, "STRIPE_PRICE_STARTER_MONTH"),
    ("starter", Interval::Year, "STRIPE_PRICE_STARTER_YEAR"),
    ("pro", Interval::Month, "STRIPE_PRICE_PRO_MONTH"),
    ("pro", Interval::Year, "STRIPE_PRICE_PRO_YEAR"),
    (
        "enterprise",
        Interval::Month,
        "STRIPE_PRICE_ENTERPRISE_MONTH",
    ),
    ("enterprise", Interval::Year, "STRIPE_PRICE_ENTERPRISE_YEAR"),
];

/// A plan and interval, as one Stripe price bills them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PricedPlan {
    pub plan: String,
    pub interval: Interval,
    pub price_id: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PriceCatalog {
    prices: Vec<PricedPlan>,
}

impl PriceCatalog {
    /// Every price from its setting; a missing one is named at cold start.
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let mut prices = Vec::with_capacity(SETTINGS.len());
        for (plan, interval, setting) in SETTINGS {
            prices.push(PricedPlan {
                plan: (*plan).to_owned(),
                interval: *interval,
                price_id: env.required(setting)?,
            });
        }
        Self::checked(prices).map_err(|reason| ConfigError::Malformed {
            name: "STRIPE_PRICE_*",
            reason,
        })
    }

    /// The local Stripe's prices (`price_<plan>_<month|year>`), as `./infra/run` sets them.
    pub fn local() -> Self {
        let prices = SETTINGS
            .iter()
            .map(|(plan, interval, _)| PricedPlan {
                plan: (*plan).to_owned(),
                interval: *interval,
                price_id: format!("price_{plan}_{}", interval_name(*interval)),
            })
            .collect();
        Self { prices }
    }

    fn checked(prices: Vec<PricedPlan>) -> Result<Self, String> {
        for (i, a) in prices.iter().enumerate() {
            if prices[..i].iter().any(|b| b.price_id == a.price_id) {
                return Err(format!(
                    "{} is the price of two plans or intervals",
                    a.price_id
                ));
            }
        }
        Ok(Self { prices })
    }

    /// The price that bills `plan` per `interval`; `None` for the free plan or an unknown one.
    pub fn price_for(&self, plan: &str, interval: Interval) -> Option<&str> {
        self.prices
            .iter()
            .find(|p| p.plan == plan && p.interval == interval)
            .map(|p| p.price_id.as_str())
    }

    /// The plan and interval a Stripe price bills, if it is one of ours.
    pub fn plan_of(&self, price_id: &str) -> Option<&PricedPlan> {
        self.prices.iter().find(|p| p.price_id == price_id)
    }
}

pub fn interval_name(interval: Interval) -> &'static str {
    match interval {
        Interval::Month => "month",
        Interval::Year => "year",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_paid_plan_has_a_price_per_interval() {
        for plan in plans::all().iter().filter(|p| p.prices.month > 0) {
            for interval in [Interval::Month, Interval::Year] {
                assert!(
                    SETTINGS
                        .iter()
                        .any(|(p, i, _)| *p == plan.id && *i == interval),
                    "{} {interval:?} has no price setting",
                    plan.id
                );
            }
        }
        let local = PriceCatalog::local();
        assert_eq!(
            local.price_for("pro", Interval::Year),
            Some("price_pro_year")
        );
        assert_eq!(local.price_for("free", Interval::Month), None);
        assert_eq!(
            local.plan_of("price_starter_month").unwrap().plan,
            "starter"
        );
        assert!(local.plan_of("price_other").is_none());
    }

    #[test]
    fn prices_come_from_the_environment_and_must_differ() {
        let pairs: Vec<(&str, String)> = SETTINGS
            .iter()
            .map(|(plan, interval, setting)| (*setting, format!("price_live_{plan}_{interval:?}")))
            .collect();
        let env = Env::from_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str())));
        let catalog = PriceCatalog::from_env(&env).unwrap();
        assert_eq!(
            catalog.price_for("pro", Interval::Month),
            Some("price_live_pro_Month")
        );

        let missing = Env::from_pairs(pairs.iter().skip(1).map(|(k, v)| (*k, v.as_str())));
        assert_eq!(
            PriceCatalog::from_env(&missing),
            Err(ConfigError::Missing("STRIPE_PRICE_STARTER_MONTH"))
        );
        let mut same = pairs.clone();
        same[1].1 = same[0].1.clone();
        let same = Env::from_pairs(same.iter().map(|(k, v)| (*k, v.as_str())));
        assert!(matches!(
            PriceCatalog::from_env(&same),
            Err(ConfigError::Malformed { .. })
        ));
    }
}
