//! Stripe's webhook: the signature checked on the raw body, only the envelope read (id, type,
//! object id, customer), the object refetched before anything is written, and each event id
//! processed once (its marker lands in the transaction of the change it causes).
//!
//! async-stripe's `Webhook::construct_event` is not used: it parses every nested object of the
//! event, so one field a newer API version adds or changes fails the whole delivery, and it has
//! no verify-only call.

use audit::Actor;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::Sha256;
use store::keys;

use crate::invoices::{self, InvoiceRecord, Mirrored};
use crate::stripe_api::StripeFailure;
use crate::writer::{self, Recorded};
use crate::{Billing, BillingError, customers};

/// How old (or how far ahead of our clock) a signature's timestamp may be, as Stripe's libraries.
pub const TOLERANCE_SECS: i64 = 300;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is not t=<time>,v1=<signature>")]
    Malformed,
    #[error("the signature's timestamp is more than 300 seconds from now")]
    Stale,
    #[error("no v1 signature matches the body")]
    Mismatch,
}

/// Checks `header` (`t=<unix time>,v1=<hex HMAC-SHA256 of "t.body">`, possibly several `v1`
/// while a secret is rolled) against `payload` as received.
pub fn verify(
    payload: &[u8],
    header: Option<&str>,
    secret: &str,
    now_epoch: i64,
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (name, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match name {
            "t" if timestamp.is_none() => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "t" => return Err(SignatureError::Malformed),
            "v1" => signatures.push(value),
            // v0 (test-mode legacy) and future schemes are ignored, as Stripe's libraries do.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    if now_epoch.abs_diff(timestamp) > TOLERANCE_SECS.unsigned_abs() {
        return Err(SignatureError::Stale);
    }
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    let matches = signatures.iter().any(|signature| {
        hex::decode(signature).is_ok_and(|bytes| mac.clone().verify_slice(&bytes).is_ok())
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// What the webhook reads of an event; everything else comes from the refetch. Only `id` and
/// `type` are required: an event of a type billing does not handle may carry any object (a
/// Balance has no id).
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub data: EnvelopeData,
}

#[derive(Debug, Default, Deserialize)]
pub struct EnvelopeData {
    #[serde(default)]
    pub object: EnvelopeObject,
}

#[derive(Debug, Default, Deserialize)]
pub struct EnvelopeObject {
    #[serde(default)]
    pub id: String,
    #[serde(default)]
    pub object: String,
    /// A customer id, or an expanded customer.
    #[serde(default)]
    pub customer: serde_json::Value,
}

impl Envelope {
    /// The customer the event is about.
    fn customer_id(&self) -> Option<&str> {
        let object = &self.data.object;
        if object.object == "customer" {
            return Some(object.id.as_str()).filter(|id| !id.is_empty());
        }
        object
            .customer
            .as_str()
            .or_else(|| object.customer.get("id").and_then(|id| id.as_str()))
    }
}

/// What became of a verified event.
#[derive(Debug, PartialEq, Eq)]
pub enum Handled {
    /// State changed (with its activity entry, and a notice where one is due).
    Changed,
    /// Nothing new to store; the event's marker is written.
    Unchanged,
    /// Processed before: dropped.
    Duplicate,
    /// Not for billing to act on (a type it does not handle, a customer it does not know).
    Ignored(&'static str),
}

impl Handled {
    pub fn name(&self) -> &'static str {
        match self {
            Handled::Changed => "changed",
            Handled::Unchanged => "unchanged",
            Handled::Duplicate => "duplicate",
            Handled::Ignored(_) => "ignored",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Signed, so it came from Stripe, but not an event envelope.
    #[error("the body is not a Stripe event: {0}")]
    NotAnEvent(String),
    #[error(transparent)]
    Billing(#[from] BillingError),
}

/// An event whose object cannot be stored: acknowledged (200, no marker, so a redelivery after
/// the cause is fixed, say a price added to the catalogue, is processed), and logged loudly.
fn unprocessable(e: BillingError) -> Result<Handled, BillingError> {
    match e {
        BillingError::StripeObjectMissing => Ok(Handled::Ignored("no such object at Stripe")),
        BillingError::Facts(e) => {
            tracing::error!(error = %e, "a Stripe subscription no plan describes; not stored");
            Ok(Handled::Ignored("a subscription no plan describes"))
        }
        e => Err(e),
    }
}

/// Subscription events: the subscription is refetched and its facts stored.
const SUBSCRIPTION_EVENTS: &[&str] = &[
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
];
/// Invoice events: the invoice is refetched and mirrored (its subscription synced first).
const INVOICE_EVENTS: &[&str] = &[
    "invoice.finalized",
    "invoice.paid",
    "invoice.payment_succeeded",
    "invoice.payment_failed",
    "invoice.payment_action_required",
    "invoice.voided",
    "invoice.marked_uncollectible",
];
/// Payment methods and the customer's default are read through from Stripe when listed, so
/// these events leave nothing to store but their marker.
const READ_THROUGH_EVENTS: &[&str] = &[
    "payment_method.attached",
    "payment_method.detached",
    "payment_method.updated",
    "customer.updated",
];

impl Billing {
    /// Verifies and processes one webhook delivery.
    pub async fn handle_webhook(
        &self,
        payload: &[u8],
        signature: Option<&str>,
    ) -> Result<Handled, WebhookError> {
        // Both secrets at once on a cold start (the refetch needs the other): one round trip to
        // Secrets Manager instead of two. A failure of the second shows where it is used.
        let keys = self.stripe.keys();
        let (secret, _) = tokio::join!(keys.webhook_secret(), keys.secret_key());
        let secret = secret.map_err(|e| BillingError::StripeUnavailable(e.to_string()))?;
        verify(
            payload,
            signature,
            secret,
            self.clock.now().unix_timestamp(),
        )?;
        let event: Envelope =
            serde_json::from_slice(payload).map_err(|e| WebhookError::NotAnEvent(e.to_string()))?;
        let kind = event.kind.as_str();
        let handled = SUBSCRIPTION_EVENTS.contains(&kind)
            || INVOICE_EVENTS.contains(&kind)
            || READ_THROUGH_EVENTS.contains(&kind);
        if !handled {
            return Ok(Handled::Ignored("an event type billing does not handle"));
        }
        // A redelivery costs one read, no Stripe call.
        if self
            .store
            .get::<serde_json::Value>(&keys::stripe_event(&event.id))
            .await
            .map_err(BillingError::from)?
            .is_some()
        {
            return Ok(Handled::Duplicate);
        }
        let Some(customer_id) = event.customer_id() else {
            return Ok(Handled::Ignored("an event without a customer"));
        };
        let Some(org_id) = customers::org_of(&self.store, &self.stripe, customer_id).await? else {
            return Ok(Handled::Ignored("a customer of no organization"));
        };
        let actor = Actor::system(&org_id);
        let object_id = event.data.object.id.as_str();
        if object_id.is_empty() {
            return Ok(Handled::Ignored("an event without an object id"));
        }
        if SUBSCRIPTION_EVENTS.contains(&kind) {
            let recorded = self
                .sync_subscription(&org_id, object_id, &actor, Some(&event.id))
                .await;
            return Ok(match recorded {
                Ok(Some(Recorded::Changed)) => Handled::Changed,
                Ok(Some(Recorded::AlreadyProcessed)) => Handled::Duplicate,
                Ok(Some(_)) => Handled::Unchanged,
                Ok(None) => Handled::Ignored("a subscription of another customer"),
                Err(e) => return unprocessable(e).map_err(WebhookError::from),
            });
        }
        if INVOICE_EVENTS.contains(&kind) {
            return self
                .invoice_event(&org_id, customer_id, &event, &actor)
                .await;
        }
        self.mark_processed(&org_id, &event.id).await
    }

    async fn invoice_event(
        &self,
        org_id: &str,
        customer_id: &str,
        event: &Envelope,
        actor: &Actor,
    ) -> Result<Handled, WebhookError> {
        let invoice = match self.stripe.invoice(&event.data.object.id).await {
            Ok(invoice) => invoice,
            Err(StripeFailure::NotFound) => return Ok(Handled::Ignored("no such invoice")),
            Err(e) => return Err(BillingError::from(e).into()),
        };
        if invoice.customer.as_ref().map(|c| c.id().as_str()) != Some(customer_id) {
            return Ok(Handled::Ignored("an invoice of another customer"));
        }
        let record = InvoiceRecord::from_stripe(&invoice)
            .map_err(|e| WebhookError::NotAnEvent(e.to_string()))?;
        // The subscription first, without the marker: its write is idempotent, so a delivery
        // that fails after it and is retried finds it done.
        if let Some(subscription_id) = &record.subscription_id {
            match self
                .sync_subscription(org_id, subscription_id, actor, None)
                .await
            {
                Ok(_) => {}
                // The invoice is mirrored anyway; the subscription's own events say the rest.
                Err(e @ (BillingError::Facts(_) | BillingError::StripeObjectMissing)) => {
                    tracing::warn!(error = %e, subscription_id, "the invoice's subscription is not stored");
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mirrored = invoices::mirror(&self.audit, org_id, record, &event.id, self.clock.now())
            .await
            .map_err(BillingError::from)?;
        Ok(match mirrored {
            Mirrored::Changed => Handled::Changed,
            Mirrored::Unchanged => Handled::Unchanged,
            Mirrored::AlreadyProcessed => Handled::Duplicate,
        })
    }

    /// An event with nothing to store: its marker alone, so a redelivery is dropped early.
    async fn mark_processed(&self, org_id: &str, event_id: &str) -> Result<Handled, WebhookError> {
        let about = serde_json::json!({ "org_id": org_id });
        let now = self.clock.now();
        Ok(
            if writer::mark_event(&self.store, event_id, &about, now)
                .await
                .map_err(BillingError::from)?
            {
                Handled::Unchanged
            } else {
                Handled::Duplicate
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(payload: &str, secret: &str, t: i64) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(format!("{t}.{payload}").as_bytes());
        format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
    }

    #[test]
    fn a_signature_stripe_documents_verifies() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        let header = sign("{}", "whsec_test", 1_700_000_000);
        assert_eq!(
            verify(b"{}", Some(&header), "whsec_test", 1_700_000_000),
            Ok(())
        );
        // Another v1 beside it (a secret being rolled) still verifies.
        let rolled = format!("t=1700000000,v1={},{}", "00".repeat(32), &header[13..]);
        assert_eq!(
            verify(b"{}", Some(&rolled), "whsec_test", 1_700_000_100),
            Ok(())
        );
    }

    #[test]
    fn bad_missing_stale_and_tampered_signatures_are_refused() {
        let now = 1_700_000_000;
        let header = sign("{\"a\":1}", "whsec_test", now);
        let check = |body: &str, header: Option<&str>, secret: &str, at: i64| {
            verify(body.as_bytes(), header, secret, at)
        };
        assert_eq!(
            check("{\"a\":1}", None, "whsec_test", now),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            check("{\"a\":2}", Some(&header), "whsec_test", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("{\"a\":1}", Some(&header), "whsec_other", now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            check("{\"a\":1}", Some(&header), "whsec_test", now + 301),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            check("{\"a\":1}", Some(&header), "whsec_test", now + 300),
            Ok(())
        );
        assert_eq!(
            check("{\"a\":1}", Some(&header), "whsec_test", now - 301),
            Err(SignatureError::Stale)
        );
        for malformed in [
            "",
            "t=abc,v1=00",
            "v1=00",
            "t=1700000000",
            "t=1,t=2,v1=00",
            "garbage",
        ] {
            assert_eq!(
                check("{\"a\":1}", Some(malformed), "whsec_test", now),
                Err(SignatureError::Malformed),
                "{malformed:?}"
            );
        }
        // A signature that is not hex is a mismatch, not a panic.
        assert_eq!(
            check("{\"a\":1}", Some("t=1700000000,v1=zz"), "whsec_test", now),
            Err(SignatureError::Mismatch)
        );
    }
}
