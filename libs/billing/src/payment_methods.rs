//! Cards, read through from Stripe (never mirrored: the list is two Stripe reads, always
//! current, and a card added in the customer portal shows at once), and the organization's
//! one Stripe customer they belong to.

use audit::{Activity, Actor, AuditedChange, Category};
use auth::{OrgMember, Permission};
use stripe_core::customer::{CreateCustomer, UpdateCustomer, UpdateCustomerInvoiceSettings};
use stripe_payment::payment_method::{
    AttachPaymentMethod, DetachPaymentMethod, ListPaymentMethod, ListPaymentMethodType,
    RetrievePaymentMethod,
};
use stripe_shared::PaymentMethod;

use crate::subscriptions::valid_payment_method_id;
use crate::views::{AddPaymentMethod, PaymentMethodView};
use crate::writer::Stored;
use crate::{Billing, BillingError, IdempotencyScope, StripeFailure, customers};

fn view(pm: &PaymentMethod, default: Option<&str>) -> PaymentMethodView {
    let card = pm.card.as_ref();
    PaymentMethodView {
        id: pm.id.to_string(),
        brand: card.map(|c| c.brand.clone()),
        last4: card.map(|c| c.last4.clone()),
        exp_month: card.map(|c| c.exp_month),
        exp_year: card.map(|c| c.exp_year),
        default: default == Some(pm.id.as_str()),
    }
}

impl Billing {
    /// The organization's Stripe customer, made on first need. Its idempotency key is the
    /// organization's own (`<org>:create-customer`), not the request's: requests racing to make
    /// it get one customer from Stripe, and the table records it once ([`customers::record`]).
    pub(crate) async fn customer_for(
        &self,
        member: &OrgMember,
        stored: &Stored,
    ) -> Result<String, BillingError> {
        if let Some(id) = &stored.customer_id {
            return Ok(id.clone());
        }
        // The create call carries nothing that may differ between two requests of the same
        // organization (the key is the organization's); name and email follow in an update.
        let create = CreateCustomer::new().metadata(std::collections::HashMap::from([(
            "org_id".to_owned(),
            member.org_id.clone(),
        )]));
        let key = format!("{}:create-customer", member.org_id);
        let customer = self.stripe.write(create, &key).await?.id.to_string();
        let org = self.org(member).await?;
        let mut describe = UpdateCustomer::new(customer.as_str()).name(org.name.as_str());
        let claims = &member.caller.claims;
        if let (Some(email), Some(true)) = (&claims.email, claims.email_verified) {
            describe = describe.email(email.as_str());
        }
        let scope = IdempotencyScope::new(&member.org_id, None, self.clock.now());
        if let Err(error) = self
            .stripe
            .write(describe, &scope.key("describe-customer"))
            .await
        {
            // Only receipts' name and address depend on it; the customer is usable.
            tracing::warn!(%error, customer, "could not name the new Stripe customer");
        }
        match customers::record(&self.store, &member.org_id, &customer).await {
            Ok(()) => Ok(customer),
            // Another request recorded one first (possible only after Stripe's 24 hours).
            Err(e) if e.failed(customers::OTHER_CUSTOMER) => self
                .stored(member)
                .await?
                .customer_id
                .ok_or(BillingError::Busy),
            Err(e) => Err(e.into()),
        }
    }

    /// Attaches `payment_method` to `customer`, and makes it the default when asked (or when
    /// the customer has none).
    pub(crate) async fn attach(
        &self,
        customer: &str,
        payment_method: &str,
        make_default: bool,
        scope: &IdempotencyScope,
    ) -> Result<PaymentMethodView, BillingError> {
        let attached = self
            .stripe
            .write(
                AttachPaymentMethod::new(payment_method).customer(customer),
                &scope.key("attach-payment-method"),
            )
            .await
            .map_err(|e| match e {
                StripeFailure::NotFound => {
                    BillingError::field("payment_method_id", "no such payment method")
                }
                // Another customer's card: not found, never described.
                StripeFailure::Refused { message, .. }
                    if message.contains("already been attached") =>
                {
                    BillingError::NoSuchPaymentMethod
                }
                StripeFailure::Refused { message, .. } => {
                    BillingError::field("payment_method_id", message)
                }
                other => other.into(),
            })?;
        let current = self.default_payment_method(customer).await?;
        let default = if make_default || current.is_none() {
            let update =
                UpdateCustomer::new(customer).invoice_settings(UpdateCustomerInvoiceSettings {
                    default_payment_method: Some(attached.id.to_string()),
                    ..Default::default()
                });
            self.stripe
                .write(update, &scope.key("set-default-payment-method"))
                .await?;
            Some(attached.id.to_string())
        } else {
            current
        };
        Ok(view(&attached, default.as_deref()))
    }

    async fn default_payment_method(&self, customer: &str) -> Result<Option<String>, BillingError> {
        Ok(self
            .stripe
            .customer(customer)
            .await?
            .and_then(|c| c.invoice_settings)
            .and_then(|s| s.default_payment_method)
            .map(|pm| pm.id().to_string()))
    }

    /// The organization's cards, the default marked.
    pub async fn payment_methods(
        &self,
        member: &OrgMember,
    ) -> Result<Vec<PaymentMethodView>, BillingError> {
        member.require(Permission::ReadBilling)?;
        let Some(customer) = self.stored(member).await?.customer_id else {
            return Ok(Vec::new());
        };
        let default = self.default_payment_method(&customer).await?;
        let list = ListPaymentMethod::new()
            .customer(customer.as_str())
            .type_(ListPaymentMethodType::Card)
            .limit(100);
        let methods = self.stripe.read(list).await?;
        Ok(methods
            .data
            .iter()
            .map(|pm| view(pm, default.as_deref()))
            .collect())
    }

    /// Adds a card (from Stripe.js) to the organization's customer.
    pub async fn add_payment_method(
        &self,
        member: &OrgMember,
        request: AddPaymentMethod,
        idempotency_key: Option<&str>,
    ) -> Result<PaymentMethodView, BillingError> {
        member.require(Permission::ManageBilling)?;
        if !valid_payment_method_id(&request.payment_method_id) {
            return Err(BillingError::field(
                "payment_method_id",
                "not a Stripe PaymentMethod id (pm_…)",
            ));
        }
        let fingerprint = format!("{}\n{}", request.payment_method_id, request.make_default);
        self.once(
            member,
            idempotency_key,
            "add-payment-method",
            fingerprint.as_bytes(),
            |scope| async move {
                let stored = self.stored(member).await?;
                let customer = self.customer_for(member, &stored).await?;
                let added = self
                    .attach(
                        &customer,
                        &request.payment_method_id,
                        request.make_default,
                        &scope,
                    )
                    .await?;
                self.log_payment_method(member, "payment_method.added", &added)
                    .await?;
                Ok(added)
            },
        )
        .await
    }

    /// Detaches a card of the organization's customer; not the default while a subscription
    /// is live (renewals would have nothing to charge).
    pub async fn remove_payment_method(
        &self,
        member: &OrgMember,
        id: &str,
    ) -> Result<(), BillingError> {
        member.require(Permission::ManageBilling)?;
        if !valid_payment_method_id(id) {
            return Err(BillingError::NoSuchPaymentMethod);
        }
        let stored = self.stored(member).await?;
        let Some(customer) = stored.customer_id.clone() else {
            return Err(BillingError::NoSuchPaymentMethod);
        };
        let pm = match self.stripe.read(RetrievePaymentMethod::new(id)).await {
            Ok(pm) => pm,
            Err(StripeFailure::NotFound) => return Err(BillingError::NoSuchPaymentMethod),
            Err(e) => return Err(e.into()),
        };
        // Another customer's card is not found, never described.
        if pm.customer.as_ref().map(|c| c.id().as_str()) != Some(customer.as_str()) {
            return Err(BillingError::NoSuchPaymentMethod);
        }
        let default = self.default_payment_method(&customer).await?;
        let removed = view(&pm, default.as_deref());
        if removed.default && stored.has_live_subscription() {
            return Err(BillingError::DefaultPaymentMethod);
        }
        let scope = IdempotencyScope::new(&member.org_id, None, self.clock.now());
        self.stripe
            .write(
                DetachPaymentMethod::new(id),
                &scope.key("detach-payment-method"),
            )
            .await?;
        self.log_payment_method(member, "payment_method.removed", &removed)
            .await
    }

    async fn log_payment_method(
        &self,
        member: &OrgMember,
        action: &str,
        pm: &PaymentMethodView,
    ) -> Result<(), BillingError> {
        let activity = Activity {
            action,
            category: Category::Billing,
            target_type: "payment_method",
            target_id: &pm.id,
            metadata: serde_json::json!({
                "brand": pm.brand, "last4": pm.last4, "default": pm.default,
            }),
        };
        let change = AuditedChange::new(
            Actor::allowed_to(member, Permission::ManageBilling),
            activity,
            self.clock.now(),
        );
        Ok(self.audit.commit(change).await?)
    }
}
