//! Notification email: the email queue's consumer. One [`EmailJob`] is one email to one
//! recipient; SES has no idempotency key, so the job's delivery record (written `pending` by
//! the dispatcher before it queued the job) decides whether and by whom it is sent:
//!
//! 1. **claim**: a conditional update moves the record from `pending` (or `sending` whose lease
//!    has run out) to `sending` with a lease of [`EmailSender::lease`] and a claim id. A record
//!    already final means a redelivered job: nothing is sent. A live lease means another
//!    consumer is sending it: nothing is sent here either, and that is no failure (the holder's
//!    own copy of the job stays on the queue until it finishes, so if it dies the job comes
//!    back after the queue's visibility timeout, which is longer than the lease).
//! 2. **compose**: the recipient's profile (the address and whether the identity provider
//!    verified it), their membership (a notice for members is not mailed to someone removed
//!    meanwhile; the removal notice itself is email-only and skips this), the organization's
//!    name, and their preferences (read again: an unsubscribe may have come meanwhile), in one
//!    round trip. No verified address, no membership or email turned off ends the delivery as
//!    `skipped_no_verified_address`, `skipped_not_member` or `skipped_preference`.
//! 3. **send** through SES (one attempt: the client must not retry by itself, since a retried
//!    call SES had accepted is a second email), then record `sent` with SES's message id,
//!    retried a few times; if that write still fails the job is let go all the same (the record
//!    stays `sending`, the email went out once). A permanent refusal is recorded `failed` and
//!    not tried again; a transient one puts the record back to `pending` with the reason, for
//!    the queue to bring the job back later. On the last receive any failure is recorded
//!    `failed`.
//!
//! The window for a duplicate: SES accepted the email and then the process died before `sent`
//! was written, or SES's answer never arrived (a timeout: the outcome is unknown, and the job is
//! tried again). The job comes back, the lease runs out, and the email is sent again.

use auth::records::UserRecord;
use clock::{Clock, DateTime};
use mail::{Email, Mailer, escape_html, html_layout, one_line, text_layout};
use notify::{EmailJob, NotificationType, Severity};
use serde::Deserialize;
use store::aws_sdk_dynamodb::types::AttributeValue;
use store::keys::{self, OrgId, UserId};
use store::{Store, StoreError, Update};

use crate::deliveries::{self, Channel, DeliveryRecord, DeliveryStatus};
use crate::preferences::preferences_of;
use crate::unsubscribe::UnsubscribeLinks;

/// The lease a claim holds unless configured otherwise: longer than a consumer's invocation
/// can run, shorter than the email queue's visibility timeout.
pub const DEFAULT_LEASE: std::time::Duration = std::time::Duration::from_secs(60);
/// Tries of the `sent` write after SES accepted an email.
const SENT_WRITE_ATTEMPTS: u32 = 4;

/// What became of a job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EmailOutcome {
    Sent {
        ses_message_id: String,
    },
    /// Not sent, for the reason its status names (recorded).
    Skipped(DeliveryStatus),
    /// SES refused it for good, or it failed on the last attempt (recorded).
    Failed {
        reason: String,
    },
    /// A transient failure: the job should come back later (the record is `pending` again).
    Retry {
        reason: String,
    },
    /// The delivery was final already: a redelivered job.
    AlreadyDone(DeliveryStatus),
    /// Another consumer holds a live lease on it.
    LeaseHeld,
    /// No delivery record: nothing to send (the record expired, or the job is not ours).
    Unknown,
}

/// What claiming a delivery found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Claim {
    /// Ours until the lease ends; the id names the claim in the final write.
    Claimed {
        claim: String,
        attempts: u32,
    },
    AlreadyDone(DeliveryStatus),
    LeaseHeld,
    Unknown,
}

/// The email to send, or why there is none.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Composed {
    Email(Box<Email>),
    Skip(DeliveryStatus, String),
}

/// An organization's name, read from its profile (nothing else of it is needed here).
#[derive(Deserialize)]
struct OrgName {
    name: String,
}

/// Sends the email queue's jobs. Built once per cold start.
#[derive(Clone)]
pub struct EmailSender {
    store: Store,
    mailer: Mailer,
    links: UnsubscribeLinks,
    clock: Clock,
    lease: std::time::Duration,
}

fn epoch_ms(t: DateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

impl EmailSender {
    pub fn new(store: Store, mailer: Mailer, links: UnsubscribeLinks, clock: Clock) -> Self {
        Self {
            store,
            mailer,
            links,
            clock,
            lease: DEFAULT_LEASE,
        }
    }

    /// Another lease than [`DEFAULT_LEASE`] (it must stay below the queue's visibility timeout).
    pub fn with_lease(mut self, lease: std::time::Duration) -> Self {
        self.lease = lease;
        self
    }

    pub fn mailer(&self) -> &Mailer {
        &self.mailer
    }

    /// Delivers one job: claim, compose, send, record. `last_attempt`: the queue will not bring
    /// the job back again, so a transient failure is recorded as `failed`.
    pub async fn deliver(
        &self,
        job: &EmailJob,
        last_attempt: bool,
    ) -> Result<EmailOutcome, StoreError> {
        match self.try_deliver(job, last_attempt).await {
            Err(error) if last_attempt => {
                // The queue lets the job go after this: the record says why, if it still can.
                let reason = format!("gave up after the last attempt: {error}");
                if let Err(also) = self.give_up(job, &reason).await {
                    tracing::error!(request_id = %job.request_id, %also, "the failure not recorded");
                }
                Ok(EmailOutcome::Failed { reason })
            }
            other => other,
        }
    }

    async fn try_deliver(
        &self,
        job: &EmailJob,
        last_attempt: bool,
    ) -> Result<EmailOutcome, StoreError> {
        let claim = match self.claim(job).await? {
            Claim::Claimed { claim, .. } => claim,
            Claim::AlreadyDone(status) => return Ok(EmailOutcome::AlreadyDone(status)),
            Claim::LeaseHeld => return Ok(EmailOutcome::LeaseHeld),
            Claim::Unknown => return Ok(EmailOutcome::Unknown),
        };
        let email = match self.compose(job).await? {
            Composed::Email(email) => email,
            Composed::Skip(status, reason) => {
                self.finish(job, &claim, status, Some(&reason), None)
                    .await?;
                return Ok(EmailOutcome::Skipped(status));
            }
        };
        match self.mailer.send(&email).await {
            Ok(ses_message_id) => {
                self.record_sent(job, &claim, &ses_message_id).await;
                Ok(EmailOutcome::Sent { ses_message_id })
            }
            Err(error) if error.permanent || last_attempt => {
                let reason = if error.permanent {
                    format!("SES refused it: {}", error.reason)
                } else {
                    format!("gave up after the last attempt: {}", error.reason)
                };
                self.finish(job, &claim, DeliveryStatus::Failed, Some(&reason), None)
                    .await?;
                Ok(EmailOutcome::Failed { reason })
            }
            Err(error) => {
                let reason = format!("will try again: {}", error.reason);
                self.release(job, &claim, &reason).await?;
                Ok(EmailOutcome::Retry { reason })
            }
        }
    }

    /// Claims the job's delivery for [`EmailSender::lease`].
    pub async fn claim(&self, job: &EmailJob) -> Result<Claim, StoreError> {
        let now = self.clock.now();
        let now_ms = epoch_ms(now);
        let claim = ulid::Ulid::from_datetime(now.into()).to_string();
        let update = Update::new(deliveries::key(
            &job.org_id,
            &job.request_id,
            &job.user_id,
            Channel::Email,
        ))
        .set("status", &DeliveryStatus::Sending)
        .set("lease_until_ms", &(now_ms + self.lease.as_millis() as i64))
        .set("claim", &claim)
        .set("updated_at", &clock::rfc3339(now))
        .add("attempts", 1)
        .require_exists()
        .condition(
            // `wanted`: what the dispatcher wrote before email was sent (a pending one).
            "#status IN (:pending, :wanted) OR (#status = :sending AND #lease_until_ms < :now_ms)",
            [
                (":pending", AttributeValue::S("pending".into())),
                (":wanted", AttributeValue::S("wanted".into())),
                (":sending", AttributeValue::S("sending".into())),
                (":now_ms", AttributeValue::N(now_ms.to_string())),
            ],
        );
        match self.store.update::<DeliveryRecord>(update).await {
            Ok(record) => Ok(Claim::Claimed {
                claim,
                attempts: record.attempts,
            }),
            Err(e) if e.is_condition_failed() => {
                let record: Option<DeliveryRecord> = self
                    .store
                    .get(&deliveries::key(
                        &job.org_id,
                        &job.request_id,
                        &job.user_id,
                        Channel::Email,
                    ))
                    .await?;
                Ok(match record {
                    None => Claim::Unknown,
                    Some(r) if r.status.is_final() => Claim::AlreadyDone(r.status),
                    // `sending` with a live lease (or released to `pending` in between: then
                    // too the other copy of the job is still on the queue and brings it back).
                    Some(_) => Claim::LeaseHeld,
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The email of a job for its recipient as they are now, or why none is sent.
    pub async fn compose(&self, job: &EmailJob) -> Result<Composed, StoreError> {
        let org = job.org_id.as_str();
        let keys = [
            keys::user_profile(UserId(&job.user_id)),
            keys::org_profile(OrgId(org)),
            keys::org_member(OrgId(org), UserId(&job.user_id)),
        ];
        let users = [job.user_id.as_str()];
        let (found, preferences) = tokio::join!(
            self.store.batch_get(&keys),
            preferences_of(&self.store, org, &users)
        );
        let mut found = found?.into_iter();
        let profile: Option<UserRecord> =
            found.next().flatten().map(store::from_item).transpose()?;
        let org_name = found
            .next()
            .flatten()
            .map(store::from_item::<OrgName>)
            .transpose()?
            .map_or_else(|| "your organization".to_owned(), |o| o.name);
        let member = found.next().flatten().is_some();
        if !member && !job.notice.email_only {
            return Ok(Composed::Skip(
                DeliveryStatus::SkippedNotMember,
                "the recipient was no longer a member when it was sent".into(),
            ));
        }
        if !preferences?
            .first()
            .is_some_and(|p| p.allows_email(job.notice.kind))
        {
            return Ok(Composed::Skip(
                DeliveryStatus::SkippedPreference,
                "email for this type was turned off before it was sent".into(),
            ));
        }
        let address = match profile {
            Some(UserRecord {
                email: Some(email),
                email_verified: true,
                ..
            }) => email,
            Some(UserRecord { email: Some(_), .. }) => {
                return Ok(Composed::Skip(
                    DeliveryStatus::SkippedNoVerifiedAddress,
                    "the identity provider has not verified the recipient's email address".into(),
                ));
            }
            _ => {
                return Ok(Composed::Skip(
                    DeliveryStatus::SkippedNoVerifiedAddress,
                    "the recipient has no email address on record".into(),
                ));
            }
        };
        let token = self
            .links
            .token(org, &job.user_id, job.notice.kind, self.clock.now());
        Ok(Composed::Email(Box::new(notification_email(
            job,
            &org_name,
            &address,
            &self.links.url(&token),
        ))))
    }

    /// `sent` after SES accepted: retried, since the email is out either way; if it cannot be
    /// written the job is still let go (a redelivery after the lease would send it again).
    async fn record_sent(&self, job: &EmailJob, claim: &str, ses_message_id: &str) {
        for attempt in 1..=SENT_WRITE_ATTEMPTS {
            match self
                .finish(job, claim, DeliveryStatus::Sent, None, Some(ses_message_id))
                .await
            {
                Ok(()) => return,
                Err(error) if attempt == SENT_WRITE_ATTEMPTS => tracing::error!(
                    request_id = %job.request_id,
                    ses_message_id,
                    %error,
                    "email sent, but its record stays `sending`"
                ),
                Err(_) => {
                    tokio::time::sleep(std::time::Duration::from_millis(100 << (2 * attempt))).await
                }
            }
        }
    }

    /// An update of the job's email record to `status`, the lease and claim given up.
    fn end_claim(&self, job: &EmailJob, status: DeliveryStatus) -> Update {
        Update::new(deliveries::key(
            &job.org_id,
            &job.request_id,
            &job.user_id,
            Channel::Email,
        ))
        .set("status", &status)
        .set("updated_at", &clock::rfc3339(self.clock.now()))
        .remove("lease_until_ms")
        .remove("claim")
    }

    /// Applies `update` unless its condition says the record moved on meanwhile.
    async fn apply(&self, update: Update) -> Result<(), StoreError> {
        match self.store.update::<DeliveryRecord>(update).await {
            Err(e) if e.is_condition_failed() => Ok(()),
            other => other.map(|_| ()),
        }
    }

    /// Records `failed` whatever the claim (the last receive ended in an error), unless sent.
    async fn give_up(&self, job: &EmailJob, reason: &str) -> Result<(), StoreError> {
        let update = self
            .end_claim(job, DeliveryStatus::Failed)
            .set("reason", &reason)
            .require_exists()
            .condition(
                "#status <> :sent",
                [(":sent", AttributeValue::S("sent".into()))],
            );
        self.apply(update).await
    }

    /// The claim's final write: `sent` whoever holds the record now (the email went out);
    /// anything else only while the record is still this claim's (or no longer `sending`), and
    /// never over a `sent`.
    async fn finish(
        &self,
        job: &EmailJob,
        claim: &str,
        status: DeliveryStatus,
        reason: Option<&str>,
        ses_message_id: Option<&str>,
    ) -> Result<(), StoreError> {
        let mut update = self.end_claim(job, status).require_exists();
        update = match reason {
            Some(reason) => update.set("reason", &reason),
            None => update.remove("reason"),
        };
        if let Some(id) = ses_message_id {
            update = update.set("ses_message_id", &id);
        }
        if status != DeliveryStatus::Sent {
            // A `sent` written by another claim stays: that email went out; a live claim of
            // another consumer is left to finish.
            update = update.condition(
                "#status <> :sent AND (#claim = :claim OR #status <> :sending)",
                [
                    (":sent", AttributeValue::S("sent".into())),
                    (":sending", AttributeValue::S("sending".into())),
                    (":claim", AttributeValue::S(claim.to_owned())),
                ],
            );
        }
        tracing::info!(
            request_id = %job.request_id,
            claim,
            status = status.as_str(),
            "email delivery recorded"
        );
        self.apply(update).await
    }

    /// Gives a claim back after a transient failure: `pending` again, with the reason, if the
    /// record is still this claim's.
    async fn release(&self, job: &EmailJob, claim: &str, reason: &str) -> Result<(), StoreError> {
        let update = self
            .end_claim(job, DeliveryStatus::Pending)
            .set("reason", &reason)
            .condition(
                "#claim = :claim",
                [(":claim", AttributeValue::S(claim.to_owned()))],
            );
        self.apply(update).await
    }
}

/// How an email names a type: as the API does, but for `kb`.
fn type_label(kind: NotificationType) -> &'static str {
    match kind {
        NotificationType::Kb => "knowledge base",
        other => other.as_str(),
    }
}

/// A notification's email: the title and body, every value escaped in the HTML part, the
/// unsubscribe link in the footer and in the RFC 8058 headers.
pub fn notification_email(job: &EmailJob, org_name: &str, to: &str, unsubscribe: &str) -> Email {
    let notice = &job.notice;
    let kind = type_label(notice.kind);
    let subject = one_line(&format!("[{org_name}] {}", notice.title));
    let flag = match notice.severity {
        Severity::Warning => "Warning: ",
        Severity::Error => "Action needed: ",
        Severity::Info | Severity::Success => "",
    };
    let text = format!(
        "{flag}{title}\n\n{body}\n\nIt is also in your notification centre in {org_name}.\n",
        title = notice.title,
        body = notice.body,
    );
    let html = format!(
        "<h2 style=\"font-size:18px\">{flag}{title}</h2>\
         <p style=\"white-space:pre-wrap\">{body}</p>\
         <p>It is also in your notification centre in <strong>{org}</strong>.</p>",
        title = escape_html(&notice.title),
        body = escape_html(&notice.body),
        org = escape_html(org_name),
    );
    let footer_text = format!(
        "You get this email because {kind} email notifications are on for you in {org_name}. \
         Turn them off: {unsubscribe}"
    );
    let footer_html = format!(
        "You get this email because {kind} email notifications are on for you in {org}. \
         <a href=\"{href}\">Turn off {kind} email</a>",
        org = escape_html(org_name),
        href = escape_html(unsubscribe),
    );
    Email {
        to: to.to_owned(),
        subject,
        text: text_layout(&text, &footer_text),
        html: html_layout(&html, &footer_html),
        headers: vec![
            ("List-Unsubscribe".into(), format!("<{unsubscribe}>")),
            (
                "List-Unsubscribe-Post".into(),
                "List-Unsubscribe=One-Click".into(),
            ),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use notify::Notice;
    use time::macros::datetime;

    fn job(title: &str, body: &str) -> EmailJob {
        EmailJob {
            org_id: "01ORG".into(),
            request_id: "r1".into(),
            user_id: "ada".into(),
            notification_id: None,
            requested_at: datetime!(2026-12-01 10:00:00 UTC),
            notice: Notice {
                kind: NotificationType::Billing,
                severity: Severity::Error,
                title: title.into(),
                body: body.into(),
                data: serde_json::Value::Null,
                email_only: false,
            },
        }
    }

    #[test]
    fn the_email_escapes_values_and_carries_the_one_click_headers() {
        let link = "https://api.example.com/v1/notifications/unsubscribe?token=a.b";
        let email = notification_email(
            &job(
                "Payment <b>failed</b>\r\nBcc: x@evil.test",
                "Card & <script>x</script>",
            ),
            "Acme <img src=x>",
            "ada@example.com",
            link,
        );
        assert_eq!(email.to, "ada@example.com");
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
        assert!(email.subject.starts_with("[Acme <img src=x>] Payment"));
        assert!(!email.html.contains("<script>") && !email.html.contains("<img"));
        assert!(email.html.contains("Card &amp; &lt;script&gt;"));
        assert!(
            email
                .html
                .contains(&format!("href=\"{}\"", escape_html(link)))
        );
        assert!(email.text.contains("Card & <script>x</script>"));
        assert!(email.text.contains(link));
        assert!(email.text.starts_with("Action needed: Payment"));
        assert_eq!(
            email.headers,
            [
                ("List-Unsubscribe".to_owned(), format!("<{link}>")),
                (
                    "List-Unsubscribe-Post".to_owned(),
                    "List-Unsubscribe=One-Click".to_owned()
                ),
            ]
        );
        // And so SES gets them (moto keeps no headers: this is where they are checked).
        let message = mail::message(&email).unwrap();
        let headers: Vec<_> = message.headers().iter().map(|h| h.name()).collect();
        assert_eq!(headers, ["List-Unsubscribe", "List-Unsubscribe-Post"]);
    }
}
