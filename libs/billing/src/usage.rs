//! `GET /v1/billing/usage`: the current period's metered usage against the effective plan, with
//! the levels (80 %, 100 %) each metric reached in it, as `metering` reads them.

use accounts::OrgRecord;
use auth::{OrgMember, Permission};
use plans::usage::{Metric as Quantity, crossed};

use crate::views::{Metric, Metrics, Usage};
use crate::{Billing, BillingError};

impl Billing {
    pub async fn usage(&self, member: &OrgMember) -> Result<Usage, BillingError> {
        member.require(Permission::ReadBilling)?;
        let org = self.org(member).await?;
        let now = self.clock.now();
        let usage = metering::current_usage(&self.store, &org, now).await?;
        let metric = |quantity: Quantity| {
            Metric::new(
                usage.used(quantity),
                usage.limit(quantity),
                crossed(usage.reached.of(quantity)),
            )
        };
        Ok(Usage {
            plan: usage.plan.id.clone(),
            period_start: usage.period_start,
            period_end: usage.period_end,
            metrics: Metrics {
                messages: metric(Quantity::Messages),
                api_calls: metric(Quantity::ApiCalls),
                storage_bytes: metric(Quantity::StorageBytes),
                seats: metric(Quantity::Seats),
            },
        })
    }

    pub(crate) async fn org(&self, member: &OrgMember) -> Result<OrgRecord, BillingError> {
        self.store
            .get(&store::keys::org_profile(store::keys::OrgId(
                &member.org_id,
            )))
            .await?
            .ok_or(BillingError::NoSubscription)
    }
}
