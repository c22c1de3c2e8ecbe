//! Invoices mirrored from Stripe by the webhook (refetched, never taken from the event), listed
//! newest first without a Stripe call.
//!
//! Stripe invoices carry no version, so the mirror orders them by how far they got: a status
//! rank (draft < open < uncollectible < paid or void) and then the number of payment attempts.
//! A write is conditioned on the stored progress being lower, so a refetch that answers late
//! never replaces what a later one stored.

use audit::{Activity, Actor, AuditLog, AuditedChange, Category, ChangeError};
use clock::DateTime;
use serde::{Deserialize, Serialize};
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId};
use store::{Condition, Page, Query, Store, StoreError};
use stripe_billing::Invoice;
use utoipa::ToSchema;

use crate::writer::{self, SEEN};

const ENTITY: &str = "invoice";
const PROGRESS: &str = "progress";
const INVOICE: &str = "invoice";

/// An invoice as the API shows it (amounts in the currency's smallest unit).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct InvoiceRecord {
    /// Stripe's id, `in_…`.
    pub id: String,
    /// The invoice number printed on it (set when it is finalized).
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `void` or `uncollectible`.
    pub status: String,
    /// ISO currency code, lower case.
    pub currency: String,
    pub subtotal: i64,
    pub total: i64,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub amount_remaining: i64,
    /// Payment attempts so far.
    pub attempt_count: u64,
    /// Why it was made: `subscription_create`, `subscription_cycle`, `subscription_update`, …
    pub billing_reason: Option<String>,
    pub subscription_id: Option<String>,
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub period_start: DateTime,
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub period_end: DateTime,
    /// When the next automatic payment attempt is due, if one is.
    #[serde(default, with = "clock::serde_rfc3339::option")]
    #[schema(value_type = Option<String>, format = DateTime)]
    pub next_payment_attempt: Option<DateTime>,
    /// The page where the customer can see and pay it.
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
    #[serde(with = "clock::serde_rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub created_at: DateTime,
}

#[derive(Debug, thiserror::Error)]
#[error("the invoice has no id or a time out of range")]
pub struct NotAnInvoice;

impl InvoiceRecord {
    pub fn from_stripe(invoice: &Invoice) -> Result<Self, NotAnInvoice> {
        let time = |t: i64| DateTime::from_unix_timestamp(t).map_err(|_| NotAnInvoice);
        Ok(Self {
            id: invoice.id.as_ref().ok_or(NotAnInvoice)?.to_string(),
            number: invoice.number.clone(),
            status: invoice
                .status
                .as_ref()
                .map_or("draft", |s| s.as_str())
                .to_owned(),
            currency: invoice.currency.to_string(),
            subtotal: invoice.subtotal,
            total: invoice.total,
            amount_due: invoice.amount_due,
            amount_paid: invoice.amount_paid,
            amount_remaining: invoice.amount_remaining,
            attempt_count: invoice.attempt_count,
            billing_reason: invoice
                .billing_reason
                .as_ref()
                .map(|r| r.as_str().to_owned()),
            subscription_id: invoice.subscription.as_ref().map(|s| s.id().to_string()),
            period_start: time(invoice.period_start)?,
            period_end: time(invoice.period_end)?,
            next_payment_attempt: invoice.next_payment_attempt.map(time).transpose()?,
            hosted_invoice_url: invoice.hosted_invoice_url.clone(),
            invoice_pdf: invoice.invoice_pdf.clone(),
            created_at: time(invoice.created)?,
        })
    }

    /// How far the invoice got (see the module's comment).
    fn progress(&self) -> i64 {
        // An uncollectible invoice may still be paid or voided; paid and void are final.
        let rank = match self.status.as_str() {
            "draft" => 1,
            "open" => 2,
            "uncollectible" => 3,
            _ => 4,
        };
        rank * 1_000 + i64::try_from(self.attempt_count.min(999)).unwrap_or(999)
    }

    /// The activity log's name for the state it reached.
    fn action(&self) -> &'static str {
        match self.status.as_str() {
            "paid" => "invoice.paid",
            "void" => "invoice.voided",
            "uncollectible" => "invoice.uncollectible",
            "open" if self.attempt_count > 0 && self.amount_remaining > 0 => {
                "invoice.payment_failed"
            }
            "open" => "invoice.finalized",
            _ => "invoice.drafted",
        }
    }

    fn key(&self, org_id: &str) -> store::Key {
        keys::invoice(OrgId(org_id), self.created_at.unix_timestamp(), &self.id)
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Mirrored {
    /// Stored (newer than what the table had), with its activity entry and any notice.
    Changed,
    /// The table already had this state or a later one: only the event's marker was written.
    Unchanged,
    /// The event was processed before; nothing written.
    AlreadyProcessed,
}

/// Stores `invoice` for `org_id` if it got further than the stored copy, in one transaction
/// with the event's marker. A failed payment attempt the table did not know of also notifies
/// owners and admins, whichever event revealed it: one notice per attempt (attempts that all
/// failed before any event was processed are told as one, the latest).
pub async fn mirror(
    audit: &AuditLog,
    org_id: &str,
    invoice: InvoiceRecord,
    event_id: &str,
    now: DateTime,
) -> Result<Mirrored, ChangeError> {
    let store = audit.store();
    let key = invoice.key(org_id);
    let about = serde_json::json!({ "org_id": org_id, "invoice_id": invoice.id });
    let stored: Option<InvoiceRecord> = store.get(&key).await?;
    let newer = stored
        .as_ref()
        .is_none_or(|s| s.progress() < invoice.progress());
    if newer {
        let failed_attempt = invoice.action() == "invoice.payment_failed"
            && stored
                .as_ref()
                .is_none_or(|s| s.attempt_count < invoice.attempt_count);
        let activity = Activity {
            action: invoice.action(),
            category: Category::Billing,
            target_type: "invoice",
            target_id: &invoice.id,
            metadata: serde_json::json!({
                "number": invoice.number,
                "status": invoice.status,
                "amount_due": invoice.amount_due,
                "amount_paid": invoice.amount_paid,
                "currency": invoice.currency,
                "attempt_count": invoice.attempt_count,
            }),
        };
        let mut item = store::item(&key, ENTITY, &invoice)?;
        item.insert(
            PROGRESS.to_owned(),
            AttributeValue::N(invoice.progress().to_string()),
        );
        let condition = Condition::Expression {
            expression: "attribute_not_exists(#progress) OR #progress < :progress".into(),
            names: [("#progress".to_owned(), PROGRESS.to_owned())].into(),
            values: [(
                ":progress".to_owned(),
                AttributeValue::N(invoice.progress().to_string()),
            )]
            .into(),
        };
        let mut change = AuditedChange::new(Actor::system(org_id), activity, now)
            .put(item, condition)
            .label(INVOICE)
            .once(writer::event_marker(event_id, &about, now)?, SEEN);
        if failed_attempt {
            change = change.side_effect(crate::notices::payment_failed(&invoice));
        }
        match audit.commit(change).await {
            Ok(()) => return Ok(Mirrored::Changed),
            Err(e) if e.rejected(SEEN) => return Ok(Mirrored::AlreadyProcessed),
            // A later state was stored meanwhile: ours is older, only the marker remains.
            Err(e) if e.rejected(INVOICE) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(if writer::mark_event(store, event_id, &about, now).await? {
        Mirrored::Unchanged
    } else {
        Mirrored::AlreadyProcessed
    })
}

/// A page of the organization's invoices, newest first.
pub async fn list(
    store: &Store,
    org_id: &str,
    limit: u16,
    cursor: Option<&str>,
) -> Result<Page<InvoiceRecord>, StoreError> {
    store
        .query(Query::new("invoices", keys::invoices(OrgId(org_id)), limit, cursor).newest_first())
        .await
}

impl crate::Billing {
    /// The organization's invoices, newest first (owners and admins).
    pub async fn invoices(
        &self,
        member: &auth::OrgMember,
        limit: u16,
        cursor: Option<&str>,
    ) -> Result<Page<InvoiceRecord>, crate::BillingError> {
        member.require(auth::Permission::ReadBilling)?;
        Ok(list(&self.store, &member.org_id, limit, cursor).await?)
    }
}
