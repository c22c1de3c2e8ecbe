//! Outgoing email through SES v2 with `Simple` content: a subject, a text part and an HTML part,
//! both rendered by the application (SES v2 templates are not emulated locally, and rendering
//! here keeps escaping under our control).

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::DisplayErrorContext;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};

pub use html_escape::encode_safe as escape_html;

/// One email to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
}

#[derive(Debug, thiserror::Error)]
#[error("the email could not be sent: {0}")]
pub struct MailError(String);

/// Sends email from one configured sender. Built once per cold start.
#[derive(Clone)]
pub struct Mailer {
    client: Client,
    /// `Name <address>` or an address, on a verified SES identity.
    from: String,
}

fn utf8(data: &str) -> Result<Content, MailError> {
    Content::builder()
        .data(data)
        .charset("UTF-8")
        .build()
        .map_err(|e| MailError(e.to_string()))
}

impl Mailer {
    pub fn new(client: Client, from: impl Into<String>) -> Self {
        Self {
            client,
            from: from.into(),
        }
    }

    /// Sends `email`; answers SES's message id.
    pub async fn send(&self, email: &Email) -> Result<String, MailError> {
        let message = Message::builder()
            .subject(utf8(&email.subject)?)
            .body(
                Body::builder()
                    .text(utf8(&email.text)?)
                    .html(utf8(&email.html)?)
                    .build(),
            )
            .build();
        let output = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message).build())
            .send()
            .await
            .map_err(|e| {
                let detail = DisplayErrorContext(&e).to_string();
                tracing::error!(error = %detail, "SES SendEmail failed");
                MailError(detail)
            })?;
        Ok(output.message_id.unwrap_or_default())
    }
}
