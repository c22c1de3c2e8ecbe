//! Outgoing email through SES v2 with `Simple` content: a subject, a text part and an HTML part,
//! both rendered by the application (SES v2 templates are not emulated locally, and rendering
//! here keeps escaping under our control), in one shared layout ([`html_layout`],
//! [`text_layout`]), with optional extra headers (`List-Unsubscribe`, say).

use aws_sdk_sesv2::Client;
use aws_sdk_sesv2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sesv2::operation::send_email::SendEmailError;
use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message, MessageHeader};

pub use html_escape::encode_safe as escape_html;

/// One email to one recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Extra headers, name and value (each on one line: see [`one_line`]).
    pub headers: Vec<(String, String)>,
}

/// Why an email was not sent, and whether trying again can help.
#[derive(Debug, thiserror::Error)]
#[error("the email could not be sent: {reason}")]
pub struct MailError {
    /// SES refused this email for good (the message rejected, the request malformed): sending
    /// it again changes nothing. Refusals of the account's setup (a sender domain not
    /// verified, the account suspended, sending paused) are not permanent: they end when the
    /// setup is fixed.
    pub permanent: bool,
    /// Short and safe to show to whoever reads the delivery log: SES's error code and message,
    /// or what happened to the call (no ARNs, no SDK internals).
    pub reason: String,
}

impl MailError {
    fn permanent(reason: impl Into<String>) -> Self {
        Self {
            permanent: true,
            reason: reason.into(),
        }
    }
}

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
        .map_err(|e| MailError::permanent(e.to_string()))
}

/// Control characters (from names in tokens, say) become spaces: a subject or header value
/// stays on one line, so no value can start a header of its own.
pub fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// The HTML part of every email: `content` (HTML the caller escaped) and a muted `footer`.
pub fn html_layout(content: &str, footer: &str) -> String {
    format!(
        "<!DOCTYPE html><html><body style=\"font-family:sans-serif;color:#222\">{content}\
         <hr style=\"border:none;border-top:1px solid #ddd\">\
         <p style=\"color:#666;font-size:13px\">{footer}</p></body></html>"
    )
}

/// The text part of every email: `content`, then `footer` under a signature separator.
pub fn text_layout(content: &str, footer: &str) -> String {
    format!("{}\n\n-- \n{}\n", content.trim_end(), footer.trim_end())
}

/// The SES message of `email`: subject, both parts, its headers.
pub fn message(email: &Email) -> Result<Message, MailError> {
    let mut message = Message::builder()
        .subject(utf8(&one_line(&email.subject))?)
        .body(
            Body::builder()
                .text(utf8(&email.text)?)
                .html(utf8(&email.html)?)
                .build(),
        );
    for (name, value) in &email.headers {
        let header = MessageHeader::builder()
            .name(one_line(name))
            .value(one_line(value))
            .build()
            .map_err(|e| MailError::permanent(e.to_string()))?;
        message = message.headers(header);
    }
    Ok(message.build())
}

/// Whether SES's answer means this email can never be sent as it is.
fn is_permanent(error: &SdkError<SendEmailError>) -> bool {
    matches!(
        error.as_service_error(),
        Some(SendEmailError::MessageRejected(_) | SendEmailError::BadRequestException(_))
    )
    // Throttled, the account's setup, a timeout, a 5xx: worth trying again later.
}

/// What a delivery log may say of a failed call.
fn short_reason(error: &SdkError<SendEmailError>) -> String {
    match error {
        SdkError::TimeoutError(_) => "SES did not answer in time".into(),
        SdkError::DispatchFailure(_) => "SES could not be reached".into(),
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => {
            let code = error.code().unwrap_or("an error");
            match error.message() {
                Some(message) => one_line(&format!("SES answered {code}: {message}"))
                    .chars()
                    .take(300)
                    .collect(),
                None => format!("SES answered {code}"),
            }
        }
        _ => "the request to SES could not be made".into(),
    }
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
        let output = self
            .client
            .send_email()
            .from_email_address(&self.from)
            .destination(Destination::builder().to_addresses(&email.to).build())
            .content(EmailContent::builder().simple(message(email)?).build())
            .send()
            .await
            .map_err(|e| {
                let permanent = is_permanent(&e);
                tracing::error!(error = %DisplayErrorContext(&e), permanent, "SES SendEmail failed");
                MailError {
                    permanent,
                    reason: short_reason(&e),
                }
            })?;
        Ok(output.message_id.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_message_carries_both_parts_and_its_headers_on_one_line() {
        let email = Email {
            to: "ada@example.com".into(),
            subject: "Hello\r\nBcc: eve@evil.test".into(),
            text: "text".into(),
            html: "<p>html</p>".into(),
            headers: vec![
                ("List-Unsubscribe".into(), "<https://x.test/u?t=1>".into()),
                ("X-Evil".into(), "a\r\nBcc: eve@evil.test".into()),
            ],
        };
        let message = message(&email).unwrap();
        assert_eq!(
            message.subject().unwrap().data(),
            "Hello  Bcc: eve@evil.test"
        );
        let body = message.body().unwrap();
        assert_eq!(body.text().unwrap().data(), "text");
        assert_eq!(body.html().unwrap().data(), "<p>html</p>");
        let headers: Vec<(&str, &str)> = message
            .headers()
            .iter()
            .map(|h| (h.name(), h.value()))
            .collect();
        assert_eq!(
            headers,
            [
                ("List-Unsubscribe", "<https://x.test/u?t=1>"),
                ("X-Evil", "a  Bcc: eve@evil.test"),
            ]
        );
    }

    #[test]
    fn the_layout_frames_content_and_footer() {
        let html = html_layout("<p>hi</p>", "footer");
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<p>hi</p>") && html.contains(">footer</p>"));
        assert_eq!(text_layout("hi\n", "footer"), "hi\n\n-- \nfooter\n");
    }
}
