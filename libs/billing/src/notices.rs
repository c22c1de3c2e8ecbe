//! What billing tells owners and admins, recorded as outbox side effects with the change that
//! causes them (so a notice goes out once per change, however often Stripe sends its event).

use outbox::{Notice, Recipients, SideEffect};
use plans::{Interval, SubscriptionFacts, SubscriptionStatus};
use serde_json::json;

use crate::invoices::InvoiceRecord;

fn to_billing_managers(
    severity: notify::Severity,
    title: &str,
    body: String,
    data: serde_json::Value,
) -> SideEffect {
    SideEffect::Notify {
        recipients: Recipients::Roles(vec![notify::Role::Owner, notify::Role::Admin]),
        notice: Notice {
            kind: notify::NotificationType::Billing,
            severity,
            title: title.to_owned(),
            body,
            data,
            email_only: false,
        },
    }
}

fn plan_name(plan: &str) -> String {
    plans::find(plan).map_or_else(|| plan.to_owned(), |p| p.name.clone())
}

fn interval_name(interval: Interval) -> &'static str {
    match interval {
        Interval::Month => "monthly",
        Interval::Year => "yearly",
    }
}

fn day(t: clock::DateTime) -> String {
    let d = t.date();
    format!("{}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// The notice for a change of the stored facts (`before` is `None` for a new subscription), or
/// none when nothing a billing manager acts on changed (a renewal moving the period, say).
pub fn subscription_changed(
    before: Option<&SubscriptionFacts>,
    after: &SubscriptionFacts,
) -> Option<SideEffect> {
    use SubscriptionStatus as S;
    use notify::Severity::{Info, Success, Warning};
    let plan = plan_name(&after.plan);
    let data = json!({
        "plan": after.plan,
        "interval": after.interval,
        "status": after.status,
        "previous_plan": before.map(|b| &b.plan),
        "previous_status": before.map(|b| &b.status),
    });
    let status_changed = before.is_none_or(|b| b.status != after.status);
    let (severity, title, body) = if status_changed {
        match (&after.status, before.map(|b| &b.status)) {
            (S::Active | S::Trialing, Some(S::PastDue | S::Incomplete | S::Unpaid)) => (
                Success,
                "Payment received",
                format!("The {plan} subscription is active again."),
            ),
            (S::Active | S::Trialing, _) => (
                Success,
                "Subscription started",
                format!(
                    "The organization is on the {plan} plan, billed {}.",
                    interval_name(after.interval)
                ),
            ),
            (S::Incomplete, _) => (
                Warning,
                "Subscription awaiting payment",
                format!("The first payment of the {plan} subscription needs to be confirmed."),
            ),
            // The failed invoice's own notice says what happened and when it is retried.
            (S::PastDue, _) => return None,
            (S::Canceled | S::IncompleteExpired, _) => (
                Warning,
                "Subscription ended",
                format!("The {plan} subscription has ended; the free plan's limits apply."),
            ),
            (S::Unpaid | S::Paused | S::Unknown, _) => (
                Warning,
                "Subscription suspended",
                format!("The {plan} subscription is not being paid; the free plan's limits apply."),
            ),
        }
    } else {
        let before = before.expect("a status change otherwise");
        if before.plan != after.plan || before.interval != after.interval {
            (
                Info,
                "Plan changed",
                format!(
                    "The organization moved from {} to the {plan} plan, billed {}.",
                    plan_name(&before.plan),
                    interval_name(after.interval)
                ),
            )
        } else if after.cancel_at_period_end && !before.cancel_at_period_end {
            (
                Warning,
                "Subscription set to end",
                format!(
                    "The {plan} subscription ends on {} and will not renew.",
                    day(after.current_period_end)
                ),
            )
        } else if !after.cancel_at_period_end && before.cancel_at_period_end {
            (
                Info,
                "Subscription resumed",
                format!("The {plan} subscription will renew as usual."),
            )
        } else if after.pending_plan.is_some()
            && (after.pending_plan != before.pending_plan
                || after.pending_interval != before.pending_interval)
        {
            let next = after.pending_plan.as_deref().unwrap_or(&after.plan);
            (
                Info,
                "Plan change scheduled",
                format!(
                    "The organization moves to the {} plan on {}.",
                    plan_name(next),
                    day(after.current_period_end)
                ),
            )
        } else {
            return None;
        }
    };
    Some(to_billing_managers(severity, title, body, data))
}

/// One attempt to charge `invoice` failed (the notice goes once per attempt).
pub fn payment_failed(invoice: &InvoiceRecord) -> SideEffect {
    let amount = format!(
        "{}.{:02} {}",
        invoice.amount_due / 100,
        invoice.amount_due % 100,
        invoice.currency.to_uppercase()
    );
    let retry = match invoice.next_payment_attempt {
        Some(at) => format!(" It will be retried on {}.", day(at)),
        None => " It will not be retried automatically.".to_owned(),
    };
    let number = invoice.number.as_deref().unwrap_or(&invoice.id);
    to_billing_managers(
        notify::Severity::Error,
        "Payment failed",
        format!(
            "The payment of {amount} for invoice {number} failed (attempt {}).{retry} Update the payment method to keep the plan.",
            invoice.attempt_count
        ),
        json!({
            "invoice_id": invoice.id,
            "attempt_count": invoice.attempt_count,
            "amount_due": invoice.amount_due,
            "currency": invoice.currency,
        }),
    )
}
