//! The subscription routes: read, start, change (upgrade now, downgrade at the period end),
//! preview, cancel, resume. Each Stripe write carries its own idempotency key
//! ([`IdempotencyScope`]); whatever Stripe answers, the table is written through the one facts
//! writer ([`Billing::sync_subscription`]), exactly as the webhook writes it, so a request and
//! the webhook of the same change store it once and never disagree.

use audit::Actor;
use auth::{OrgMember, Permission};
use plans::{Interval, SubscriptionFacts, SubscriptionStatus};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId};
use store::{Condition, Update};
use stripe_billing::subscription::{
    CancelSubscription, CreateSubscription as StripeCreateSubscription, CreateSubscriptionItems,
    CreateSubscriptionPaymentBehavior, UpdateSubscription, UpdateSubscriptionItems,
    UpdateSubscriptionPaymentBehavior, UpdateSubscriptionProrationBehavior,
};
use stripe_billing::subscription_schedule::{
    CreateSubscriptionSchedule, ReleaseSubscriptionSchedule, UpdateSubscriptionSchedule,
    UpdateSubscriptionSchedulePhases, UpdateSubscriptionSchedulePhasesEndDate,
    UpdateSubscriptionSchedulePhasesItems, UpdateSubscriptionSchedulePhasesStartDate,
};
use stripe_billing::{Subscription, SubscriptionSchedule};

use crate::views::{
    ChangePreview, ChangeSubscription, CreateSubscription, CreatedSubscription, PreviewLine,
    SubscriptionView,
};
use crate::writer::{self, Stored};
use crate::{Billing, BillingError, IdempotencyScope, StripeFailure, facts_of};

/// How long a request holds the right to start the organization's subscription: longer than
/// its Stripe calls can take (at most five, 10 s each), short enough that a crashed request does not block a retry.
const CLAIM_SECS: i64 = 120;
const CLAIM: &str = "billing_claim";
const CLAIM_UNTIL: &str = "billing_claim_until";
/// Stripe's codes for a first payment that needs the customer (3D Secure).
const NEEDS_ACTION: &[&str] = &[
    "subscription_payment_intent_requires_action",
    "invoice_payment_intent_requires_action",
    "authentication_required",
];

/// A Stripe PaymentMethod id as a client may send one.
pub(crate) fn valid_payment_method_id(id: &str) -> bool {
    id.len() <= 203
        && id.strip_prefix("pm_").is_some_and(|rest| {
            !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
}

/// The yearly amount of a plan and interval, to tell an upgrade from a downgrade.
fn yearly_amount(plan: &str, interval: Interval) -> u64 {
    plans::find(plan).map_or(0, |p| match interval {
        Interval::Month => p.prices.month * 12,
        Interval::Year => p.prices.year,
    })
}

fn interval_price(plan: &str, interval: Interval) -> u64 {
    plans::find(plan).map_or(0, |p| match interval {
        Interval::Month => p.prices.month,
        Interval::Year => p.prices.year,
    })
}

impl Billing {
    /// The organization's subscription (free/active without one).
    pub async fn subscription(&self, member: &OrgMember) -> Result<SubscriptionView, BillingError> {
        member.require(Permission::ReadBilling)?;
        let stored = self.stored(member).await?;
        Ok(SubscriptionView::of(
            stored.facts.as_ref(),
            self.clock.now(),
        ))
    }

    pub(crate) async fn stored(&self, member: &OrgMember) -> Result<Stored, BillingError> {
        Ok(writer::stored(&self.store, &member.org_id)
            .await?
            .unwrap_or_default())
    }

    /// The price of a paid plan, or the field error that says why there is none.
    pub(crate) fn price(&self, plan: &str, interval: Interval) -> Result<String, BillingError> {
        if plan == plans::FREE {
            return Err(BillingError::FreePlan);
        }
        if plans::find(plan).is_none() {
            return Err(BillingError::UnknownPlan(plan.to_owned()));
        }
        self.catalog
            .price_for(plan, interval)
            .map(str::to_owned)
            .ok_or_else(|| BillingError::UnknownPlan(plan.to_owned()))
    }

    /// Starts the organization's subscription: its Stripe customer (once per organization),
    /// the card, then the subscription, charged now. A declined card answers 402 and leaves no
    /// subscription; a card that needs 3D Secure leaves an `incomplete` one and its client
    /// secret. Ten concurrent first requests make one customer and one subscription: the
    /// organization's profile holds a claim that only one request (or retries of one, by their
    /// `Idempotency-Key`) can take while no live subscription exists.
    pub async fn subscribe(
        &self,
        member: &OrgMember,
        request: CreateSubscription,
        idempotency_key: Option<&str>,
    ) -> Result<CreatedSubscription, BillingError> {
        member.require(Permission::ManageBilling)?;
        let price = self.price(&request.plan, request.interval)?;
        if let Some(pm) = &request.payment_method_id
            && !valid_payment_method_id(pm)
        {
            return Err(BillingError::field(
                "payment_method_id",
                "not a Stripe PaymentMethod id (pm_…)",
            ));
        }
        let fingerprint = serde_json::to_vec(&serde_json::json!({
            "plan": request.plan,
            "interval": request.interval,
            "payment_method_id": request.payment_method_id,
        }))
        .expect("JSON values serialize");
        let keyed = idempotency_key.is_some();
        let mut token = None;
        let answer = self
            .once(
                member,
                idempotency_key,
                "create-subscription",
                &fingerprint,
                |scope| {
                    token = Some(scope.token().to_owned());
                    self.start(member, price, request.payment_method_id, scope, keyed)
                },
            )
            .await;
        // A keyed request holds its claim until its answer is saved, so its retries find the
        // answer rather than a 409 (see `start`).
        if let (true, Some(token), Ok(_)) = (keyed, &token, &answer) {
            self.release_claim(&member.org_id, token).await;
        }
        answer
    }

    async fn start(
        &self,
        member: &OrgMember,
        price: String,
        payment_method: Option<String>,
        scope: IdempotencyScope,
        retried_by_key: bool,
    ) -> Result<CreatedSubscription, BillingError> {
        let stored = self.stored(member).await?;
        let ours = |stored: &Stored| stored.claim.as_deref() == Some(scope.token());
        if stored.has_live_subscription() {
            // Stored by this very request's first attempt, which has not answered yet: wait
            // for its answer; anyone else's is simply there.
            return Err(if ours(&stored) {
                BillingError::RequestInProgress
            } else {
                BillingError::SubscriptionExists
            });
        }
        if let Err(e) = self.claim(&member.org_id, &stored, scope.token()).await {
            let now = self.stored(member).await?;
            return Err(match e {
                BillingError::SubscriptionExists if ours(&now) => BillingError::RequestInProgress,
                e => e,
            });
        }
        match self
            .start_claimed(member, &stored, &price, payment_method, &scope)
            .await
        {
            Ok(created) => {
                // Retries by key release it once the answer is saved (see `subscribe`).
                if !retried_by_key {
                    self.release_claim(&member.org_id, scope.token()).await;
                }
                Ok(created)
            }
            // Nothing was subscribed: the next attempt (another card, say) may start at once.
            Err(Start::Before(e)) => {
                self.release_claim(&member.org_id, scope.token()).await;
                Err(e)
            }
            // Stripe made the subscription and the table did not record it: the claim stays
            // until it lapses, by when the webhook has stored the subscription, so a retry
            // without a key cannot start a second one.
            Err(Start::After(e)) => Err(e),
        }
    }

    async fn start_claimed(
        &self,
        member: &OrgMember,
        stored: &Stored,
        price: &str,
        payment_method: Option<String>,
        scope: &IdempotencyScope,
    ) -> Result<CreatedSubscription, Start> {
        let customer = self.customer_for(member, stored).await?;
        // The card becomes the customer's default, which renewals charge (the subscription
        // gets no default of its own, so the payment-method routes show and guard the card
        // that is really charged).
        let payment_method = match payment_method {
            Some(pm) => Some(self.attach(&customer, &pm, true, scope).await?.id),
            None => None,
        };
        let create = |behavior| {
            StripeCreateSubscription::new()
                .customer(customer.as_str())
                .items(vec![CreateSubscriptionItems {
                    price: Some(price.to_owned()),
                    ..CreateSubscriptionItems::new()
                }])
                .payment_behavior(behavior)
                .metadata(std::collections::HashMap::from([(
                    "org_id".to_owned(),
                    member.org_id.clone(),
                )]))
                .expand(vec![
                    "schedule".to_owned(),
                    "latest_invoice.confirmation_secret".to_owned(),
                ])
        };
        let charged = self
            .stripe
            .write(
                create(CreateSubscriptionPaymentBehavior::ErrorIfIncomplete),
                &scope.key("create-subscription"),
            )
            .await;
        let (subscription, client_secret) = match charged {
            Ok(subscription) => (subscription, None),
            Err(StripeFailure::Declined {
                code: Some(code), ..
            }) if NEEDS_ACTION.contains(&code.as_str()) => {
                // The customer must authenticate: an incomplete subscription whose first
                // invoice the client confirms with Stripe.js.
                let subscription = self
                    .stripe
                    .write(
                        create(CreateSubscriptionPaymentBehavior::DefaultIncomplete),
                        &scope.key("create-subscription-to-confirm"),
                    )
                    .await
                    .map_err(BillingError::from)?;
                let secret = subscription
                    .latest_invoice
                    .as_ref()
                    .and_then(|invoice| invoice.as_object())
                    .and_then(|invoice| invoice.confirmation_secret.as_ref())
                    .map(|c| c.client_secret.clone());
                (subscription, secret)
            }
            Err(StripeFailure::Refused { message, .. })
                if payment_method.is_none() && message.contains("payment") =>
            {
                return Err(BillingError::field(
                    "payment_method_id",
                    "required: the organization has no default payment method",
                )
                .into());
            }
            Err(e) => return Err(BillingError::from(e).into()),
        };
        let actor = Actor::allowed_to(member, Permission::ManageBilling);
        let view = self
            .record(member, subscription, &actor)
            .await
            .map_err(Start::After)?;
        Ok(CreatedSubscription {
            subscription: view,
            client_secret,
        })
    }

    /// Stores the subscription Stripe just answered (or, if another writer got there first, a
    /// fresh refetch of it) and answers the stored view.
    async fn record(
        &self,
        member: &OrgMember,
        subscription: Subscription,
        actor: &Actor,
    ) -> Result<SubscriptionView, BillingError> {
        let id = subscription.id.to_string();
        self.store_subscription(&member.org_id, &id, Some(subscription), actor, None)
            .await?;
        self.subscription(member).await
    }

    /// Takes the right to start a subscription: no claim held by another request, and no
    /// subscription stored since `stored` was read.
    async fn claim(&self, org_id: &str, stored: &Stored, token: &str) -> Result<(), BillingError> {
        let now = self.clock.now().unix_timestamp();
        let update = Update::new(keys::org_profile(OrgId(org_id)))
            .set(CLAIM, &token)
            .set(CLAIM_UNTIL, &(now + CLAIM_SECS))
            .require_exists()
            .condition_on(Condition::number_is(writer::VERSION, stored.version))
            .condition_on(Condition::Expression {
                expression: "attribute_not_exists(#claim) OR #claim = :token OR #until < :now"
                    .into(),
                names: [
                    ("#claim".to_owned(), CLAIM.to_owned()),
                    ("#until".to_owned(), CLAIM_UNTIL.to_owned()),
                ]
                .into(),
                values: [
                    (":token".to_owned(), AttributeValue::S(token.to_owned())),
                    (":now".to_owned(), AttributeValue::N(now.to_string())),
                ]
                .into(),
            });
        match self.store.update::<serde_json::Value>(update).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_condition_failed() => Err(BillingError::SubscriptionExists),
            Err(e) => Err(e.into()),
        }
    }

    async fn release_claim(&self, org_id: &str, token: &str) {
        let update = Update::new(keys::org_profile(OrgId(org_id)))
            .remove(CLAIM)
            .remove(CLAIM_UNTIL)
            .condition_on(Condition::Expression {
                expression: "#claim = :token".into(),
                names: [("#claim".to_owned(), CLAIM.to_owned())].into(),
                values: [(":token".to_owned(), AttributeValue::S(token.to_owned()))].into(),
            });
        if let Err(error) = self.store.update::<serde_json::Value>(update).await
            && !error.is_condition_failed()
        {
            // It lapses by itself after CLAIM_SECS.
            tracing::warn!(%error, org_id, "could not release the subscription claim");
        }
    }

    /// The live subscription's facts and id, or 404.
    async fn live(&self, member: &OrgMember) -> Result<(Stored, String), BillingError> {
        let stored = self.stored(member).await?;
        match (&stored.subscription_id, stored.has_live_subscription()) {
            (Some(id), true) => {
                let id = id.clone();
                Ok((stored, id))
            }
            _ => Err(BillingError::NoSubscription),
        }
    }

    /// The live subscription as Stripe holds it now, with its facts: a change is decided on
    /// Stripe's state, not on a table the webhook may not have caught up on yet. One that ended
    /// at Stripe (canceled in the Dashboard, say) is stored as ended, and is 404.
    async fn current(
        &self,
        member: &OrgMember,
    ) -> Result<(String, Subscription, SubscriptionFacts), BillingError> {
        let (stored, id) = self.live(member).await?;
        let subscription = self.stripe.subscription(&id).await?;
        let facts = facts_of(
            &subscription,
            &self.catalog,
            stored.facts.as_ref(),
            self.clock.now(),
        )?;
        if writer::ended(&facts.status) {
            let actor = Actor::allowed_to(member, Permission::ManageBilling);
            self.sync_subscription(&member.org_id, &id, &actor, None)
                .await?;
            return Err(BillingError::NoSubscription);
        }
        Ok((id, subscription, facts))
    }

    /// Validates a change to `plan`/`interval` of the live subscription: the target, its price,
    /// and whether it is an upgrade (takes effect now).
    fn target(
        &self,
        facts: &SubscriptionFacts,
        plan: Option<String>,
        interval: Option<Interval>,
    ) -> Result<(String, Interval, String, bool), BillingError> {
        if plan.is_none() && interval.is_none() {
            return Err(BillingError::field(
                "plan",
                "give a plan, an interval or both",
            ));
        }
        let plan = plan.unwrap_or_else(|| facts.plan.clone());
        let interval = interval.unwrap_or(facts.interval);
        let price = self.price(&plan, interval)?;
        let upgrade = yearly_amount(&plan, interval) > yearly_amount(&facts.plan, facts.interval);
        Ok((plan, interval, price, upgrade))
    }

    /// Changes the plan or interval: an upgrade takes effect now, the difference prorated and
    /// charged at once (a declined card: 402, nothing changed); a downgrade or a cheaper interval
    /// waits for the period end in a subscription schedule (`pending_plan`). Asking for the
    /// current plan while a change is pending drops the pending change.
    pub async fn change(
        &self,
        member: &OrgMember,
        request: ChangeSubscription,
    ) -> Result<SubscriptionView, BillingError> {
        member.require(Permission::ManageBilling)?;
        let (subscription_id, subscription, facts) = self.current(member).await?;
        let (plan, interval, price, upgrade) =
            self.target(&facts, request.plan, request.interval)?;
        if !matches!(
            facts.status,
            SubscriptionStatus::Active | SubscriptionStatus::Trialing | SubscriptionStatus::PastDue
        ) {
            return Err(BillingError::NotChangeable(
                "the subscription's first payment is not made yet".into(),
            ));
        }
        if facts.cancel_at_period_end {
            return Err(BillingError::NotChangeable(
                "the subscription is set to end: resume it before changing the plan".into(),
            ));
        }
        let scope = IdempotencyScope::new(&member.org_id, None, self.clock.now());
        let current = (plan == facts.plan) && (interval == facts.interval);
        if current {
            let Some(schedule) = schedule_of(&subscription) else {
                return Err(BillingError::SamePlan(plan));
            };
            // Back to the current plan: the pending change is dropped.
            self.release_schedule(schedule, &scope).await?;
        } else {
            let org = self.org(member).await?;
            if let Some(limit) = plans::find(&plan).and_then(|p| p.limits.seats)
                && org.seats_used > i64::from(limit)
            {
                return Err(BillingError::TooManySeats {
                    plan,
                    limit,
                    used: org.seats_used,
                });
            }
            if upgrade {
                // A pending downgrade gives way to the upgrade, and comes back if the upgrade's
                // charge is declined (nothing changed, as the route promises).
                let pending = facts
                    .pending_plan
                    .as_deref()
                    .zip(facts.pending_interval)
                    .and_then(|(plan, interval)| self.catalog.price_for(plan, interval))
                    .map(str::to_owned);
                if let Some(schedule) = schedule_of(&subscription) {
                    self.release_schedule(schedule, &scope).await?;
                }
                let item = &subscription.items.data[0];
                let update = UpdateSubscription::new(subscription_id.as_str())
                    .items(vec![UpdateSubscriptionItems {
                        id: Some(item.id.to_string()),
                        price: Some(price),
                        ..UpdateSubscriptionItems::new()
                    }])
                    .proration_behavior(UpdateSubscriptionProrationBehavior::AlwaysInvoice)
                    .payment_behavior(UpdateSubscriptionPaymentBehavior::ErrorIfIncomplete);
                if let Err(e) = self
                    .stripe
                    .write(update, &scope.key("upgrade-subscription"))
                    .await
                {
                    if let Some(price) = pending {
                        let unchanged = self.stripe.subscription(&subscription_id).await?;
                        let restore = IdempotencyScope::new(&member.org_id, None, self.clock.now());
                        self.schedule_change(&unchanged, &price, &restore).await?;
                    }
                    return Err(e.into());
                }
            } else {
                self.schedule_change(&subscription, &price, &scope).await?;
            }
        }
        let actor = Actor::allowed_to(member, Permission::ManageBilling);
        self.sync_subscription(&member.org_id, &subscription_id, &actor, None)
            .await?;
        self.subscription(member).await
    }

    /// The current period at the current price, then `price` from the period end.
    async fn schedule_change(
        &self,
        subscription: &Subscription,
        price: &str,
        scope: &IdempotencyScope,
    ) -> Result<(), BillingError> {
        let schedule = match schedule_of(subscription) {
            Some(schedule) => schedule.id.to_string(),
            None => {
                let created =
                    CreateSubscriptionSchedule::new().from_subscription(subscription.id.as_str());
                self.stripe
                    .write(created, &scope.key("create-schedule"))
                    .await?
                    .id
                    .to_string()
            }
        };
        let item = &subscription.items.data[0];
        let phases = vec![
            UpdateSubscriptionSchedulePhases {
                start_date: Some(UpdateSubscriptionSchedulePhasesStartDate::Timestamp(
                    item.current_period_start,
                )),
                end_date: Some(UpdateSubscriptionSchedulePhasesEndDate::Timestamp(
                    item.current_period_end,
                )),
                ..UpdateSubscriptionSchedulePhases::new(vec![
                    UpdateSubscriptionSchedulePhasesItems {
                        price: Some(item.price.id.to_string()),
                        ..UpdateSubscriptionSchedulePhasesItems::new()
                    },
                ])
            },
            UpdateSubscriptionSchedulePhases::new(vec![UpdateSubscriptionSchedulePhasesItems {
                price: Some(price.to_owned()),
                ..UpdateSubscriptionSchedulePhasesItems::new()
            }]),
        ];
        let update = UpdateSubscriptionSchedule::new(schedule.as_str())
            .phases(phases)
            .end_behavior(stripe_shared::SubscriptionScheduleEndBehavior::Release);
        self.stripe
            .write(update, &scope.key("schedule-change"))
            .await?;
        Ok(())
    }

    async fn release_schedule(
        &self,
        schedule: &SubscriptionSchedule,
        scope: &IdempotencyScope,
    ) -> Result<(), BillingError> {
        self.stripe
            .write(
                ReleaseSubscriptionSchedule::new(schedule.id.as_str()),
                &scope.key("release-schedule"),
            )
            .await?;
        Ok(())
    }

    /// What changing to `plan`/`interval` would bill now and at the next renewal, from Stripe's
    /// invoice preview of the same change (nothing is changed).
    pub async fn preview(
        &self,
        member: &OrgMember,
        plan: Option<String>,
        interval: Option<Interval>,
    ) -> Result<ChangePreview, BillingError> {
        use stripe_billing::invoice::{
            CreatePreviewInvoice, CreatePreviewInvoiceSubscriptionDetails,
            CreatePreviewInvoiceSubscriptionDetailsItems,
            CreatePreviewInvoiceSubscriptionDetailsProrationBehavior as Proration,
        };
        member.require(Permission::ReadBilling)?;
        let (subscription_id, subscription, facts) = self.current(member).await?;
        let (plan, interval, price, upgrade) = self.target(&facts, plan, interval)?;
        if plan == facts.plan && interval == facts.interval {
            return Err(BillingError::SamePlan(plan));
        }
        let item = &subscription.items.data[0];
        let preview = |proration| {
            CreatePreviewInvoice::new()
                .customer(subscription.customer.id().as_str())
                .subscription(subscription_id.as_str())
                .subscription_details(CreatePreviewInvoiceSubscriptionDetails {
                    items: Some(vec![CreatePreviewInvoiceSubscriptionDetailsItems {
                        id: Some(item.id.to_string()),
                        price: Some(price.clone()),
                        ..CreatePreviewInvoiceSubscriptionDetailsItems::new()
                    }]),
                    proration_behavior: Some(proration),
                    ..CreatePreviewInvoiceSubscriptionDetails::new()
                })
        };
        let period_end = facts.current_period_end;
        let interval_changed = interval != facts.interval;
        let (amount_due_now, lines_now, currency) = if upgrade {
            let now = self.stripe.read(preview(Proration::AlwaysInvoice)).await?;
            let lines = now
                .lines
                .data
                .iter()
                .map(|line| PreviewLine {
                    description: line.description.clone(),
                    amount: line.amount,
                })
                .collect();
            (now.amount_due, lines, now.currency.to_string())
        } else {
            (0, Vec::new(), subscription.currency.to_string())
        };
        // The renewal after the change: Stripe's own preview while the cycle stays; a new
        // interval restarts the cycle now, so the renewal is the new price one interval on.
        let (amount_at_renewal, renews_at) = if upgrade && interval_changed {
            let now = self.clock.now();
            let next = match interval {
                Interval::Month => now + clock::Duration::days(30),
                Interval::Year => now + clock::Duration::days(365),
            };
            (
                i64::try_from(interval_price(&plan, interval)).unwrap_or(i64::MAX),
                next,
            )
        } else {
            let renewal = self.stripe.read(preview(Proration::None)).await?;
            (renewal.amount_due, period_end)
        };
        Ok(ChangePreview {
            plan,
            interval,
            takes_effect: if upgrade { "now" } else { "period_end" }.to_owned(),
            amount_due_now,
            lines_now,
            amount_at_renewal,
            renews_at,
            currency,
        })
    }

    /// Cancels at the period end (a pending plan change is dropped) or now.
    pub async fn cancel(
        &self,
        member: &OrgMember,
        at_period_end: bool,
    ) -> Result<SubscriptionView, BillingError> {
        member.require(Permission::ManageBilling)?;
        let (subscription_id, subscription, facts) = self.current(member).await?;
        let scope = IdempotencyScope::new(&member.org_id, None, self.clock.now());
        if at_period_end {
            if facts.cancel_at_period_end {
                let actor = Actor::allowed_to(member, Permission::ManageBilling);
                self.sync_subscription(&member.org_id, &subscription_id, &actor, None)
                    .await?;
                return self.subscription(member).await;
            }
            if let Some(schedule) = schedule_of(&subscription) {
                self.release_schedule(schedule, &scope).await?;
            }
            let update =
                UpdateSubscription::new(subscription_id.as_str()).cancel_at_period_end(true);
            self.stripe
                .write(update, &scope.key("cancel-at-period-end"))
                .await?;
        } else {
            self.stripe
                .write(
                    CancelSubscription::new(subscription_id.as_str()),
                    &scope.key("cancel-now"),
                )
                .await?;
        }
        let actor = Actor::allowed_to(member, Permission::ManageBilling);
        self.sync_subscription(&member.org_id, &subscription_id, &actor, None)
            .await?;
        self.subscription(member).await
    }

    /// Undoes a cancellation at the period end.
    pub async fn resume(
        &self,
        member: &OrgMember,
        idempotency_key: Option<&str>,
    ) -> Result<SubscriptionView, BillingError> {
        member.require(Permission::ManageBilling)?;
        self.once(
            member,
            idempotency_key,
            "resume-subscription",
            b"",
            |scope| async move {
                let (stored, subscription_id) = self.live(member).await?;
                if !stored.facts.as_ref().expect("live").cancel_at_period_end {
                    return Err(BillingError::NotChangeable(
                        "the subscription is not set to end".into(),
                    ));
                }
                let update =
                    UpdateSubscription::new(subscription_id.as_str()).cancel_at_period_end(false);
                self.stripe.write(update, &scope.key("resume")).await?;
                let actor = Actor::allowed_to(member, Permission::ManageBilling);
                self.sync_subscription(&member.org_id, &subscription_id, &actor, None)
                    .await?;
                self.subscription(member).await
            },
        )
        .await
    }
}

/// Why starting a subscription failed: before Stripe made it, or after.
enum Start {
    Before(BillingError),
    After(BillingError),
}

impl From<BillingError> for Start {
    fn from(e: BillingError) -> Self {
        Self::Before(e)
    }
}

fn schedule_of(subscription: &Subscription) -> Option<&SubscriptionSchedule> {
    subscription.schedule.as_ref().and_then(|s| s.as_object())
}
