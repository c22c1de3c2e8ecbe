//! The invitation email: one text and one HTML part with the same content, every value from a
//! person HTML-escaped, the subject on one line.

use mail::{Email, escape_html, html_layout, one_line, text_layout};

use super::InvitationRecord;

/// The invitation email: text and HTML parts with the same content, in the shared layout. Every
/// value that comes from a person (names, the message) is HTML-escaped in the HTML part.
pub fn invitation_email(
    org: &accounts::OrgRecord,
    invitation: &InvitationRecord,
    app_url: &str,
    token: &str,
) -> Email {
    let link = format!("{app_url}/accept-invitation?token={token}");
    let inviter = invitation
        .inviter_name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or("A teammate");
    let role = invitation.role.as_str();
    let expires = clock::rfc3339(invitation.expires_at);
    let subject = one_line(&format!(
        "{inviter} invited you to join {} on Objecta",
        org.name
    ));
    let mut text = format!(
        "{inviter} invited you to join {} on Objecta as {role}.\n\n",
        org.name
    );
    let mut html = format!(
        "<p><strong>{}</strong> invited you to join <strong>{}</strong> on Objecta as {role}.</p>",
        escape_html(inviter),
        escape_html(&org.name)
    );
    if let Some(message) = &invitation.message {
        text.push_str(&format!("Message from {inviter}:\n{message}\n\n"));
        html.push_str(&format!(
            "<blockquote style=\"white-space:pre-wrap\">{}</blockquote>",
            escape_html(message)
        ));
    }
    text.push_str(&format!("Accept the invitation:\n{link}\n"));
    html.push_str(&format!(
        "<p><a href=\"{}\">Accept the invitation</a></p>",
        escape_html(&link)
    ));
    let footer = |email: &str| {
        format!(
            "The link works until {expires} (UTC) for {email}. \
             If you did not expect this invitation, ignore this email."
        )
    };
    Email {
        to: invitation.email.clone(),
        subject,
        text: text_layout(&text, &footer(&invitation.email)),
        html: html_layout(&html, &footer(&escape_html(&invitation.email))),
        headers: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invitations::record::tests::record;
    use time::macros::datetime;

    fn org(name: &str) -> accounts::OrgRecord {
        let now = datetime!(2026-11-24 10:00:00 UTC);
        accounts::OrgRecord {
            id: "01JORG".into(),
            name: name.into(),
            plan: "free".into(),
            created_by: "u1".into(),
            created_at: now,
            updated_at: now,
            member_count: 1,
            owner_count: 1,
            seats_used: 1,
            subscription: None,
            usage_levels: None,
            usage_version: 0,
        }
    }

    #[test]
    fn the_email_escapes_names_and_messages_and_carries_the_link() {
        let invitation = record(
            "<script>alert(1)</script> Eve",
            Some("Join us & <b>win</b>\n\"quoted\""),
        );
        let email = invitation_email(
            &org("Acme <img src=x onerror=alert(1)>"),
            &invitation,
            "https://app.example.com",
            "TOKEN_abc-123",
        );
        assert_eq!(email.to, "Ada@Example.com");
        let link = "https://app.example.com/accept-invitation?token=TOKEN_abc-123";
        assert!(email.text.contains(link));
        assert!(
            email
                .html
                .contains(&format!("href=\"{}\"", escape_html(link)))
        );
        assert!(!email.html.contains("<script>"));
        assert!(!email.html.contains("<img"));
        assert!(!email.html.contains("<b>win"));
        assert!(email.html.contains("&lt;script&gt;"));
        assert!(
            email
                .html
                .contains("Join us &amp; &lt;b&gt;win&lt;&#x2F;b&gt;")
        );
        // The text part is plain text: the message as written.
        assert!(email.text.contains("Join us & <b>win</b>\n\"quoted\""));
        assert!(email.text.contains("as member"));
        assert!(
            email
                .subject
                .starts_with("<script>alert(1)</script> Eve invited you")
        );
    }

    #[test]
    fn subjects_stay_on_one_line() {
        let email = invitation_email(
            &org("Acme"),
            &record("Eve\r\nBcc: x@evil.test", None),
            "https://app.example.com",
            "t",
        );
        assert!(!email.subject.contains('\n') && !email.subject.contains('\r'));
    }
}
