//! Rules for user-visible text, the same wherever it comes from (a request body, a token's
//! claims): names and titles are limited the same way everywhere (§3).

use validator::ValidationError;

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Characters that change how text around them is ordered (bidi embeddings, overrides and
/// isolates): a name could show as something else than it is.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// Characters that show nothing by themselves: zero-width and format characters, variation
/// selectors, tags, fillers, and combining marks (which only decorate a neighbour).
fn is_invisible(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{061C}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
                // Combining marks.
                | '\u{0300}'..='\u{036F}'
                | '\u{1AB0}'..='\u{1AFF}'
                | '\u{1DC0}'..='\u{1DFF}'
                | '\u{20D0}'..='\u{20FF}'
                | '\u{FE20}'..='\u{FE2F}'
        )
}

/// A name as the API document states it ([`display_name`] is the rule): 1–100 characters,
/// something other than whitespace, no control characters. (Invisible characters and bidi
/// controls are refused too; the description says so, a pattern could not.)
pub struct Name;

impl utoipa::PartialSchema for Name {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .description(Some(
                "1–100 characters after trimming, something visible among them (not only \
                 zero-width, format or combining characters), no control or bidirectional \
                 control characters.",
            ))
            .min_length(Some(1))
            .max_length(Some(100))
            .pattern(Some(
                "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Name {}

/// Names (organizations, profiles, API keys): 1–100 characters after trimming, something
/// visible among them, no control characters and no bidi controls.
pub fn display_name(value: &str) -> Result<(), ValidationError> {
    visible_line(value, 100)
}

/// A notification's `title` (§3: 1–200 characters), by the rule of names.
pub fn notification_title(value: &str) -> Result<(), ValidationError> {
    visible_line(value, 200)
}

/// A notification's `body` (§3: at most 4000 characters), tabs and line breaks allowed.
pub fn notification_body(value: &str) -> Result<(), ValidationError> {
    paragraphs(value, 4000)
}

/// One line of 1–`max` characters after trimming, something visible among them, no control
/// characters and no bidi controls.
fn visible_line(value: &str, max: usize) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.chars().all(is_invisible) {
        return Err(error("blank", "must not be blank or invisible"));
    }
    if trimmed.chars().any(is_bidi_control) {
        return Err(error(
            "bidi_controls",
            "must not contain bidirectional control characters",
        ));
    }
    if trimmed.chars().count() > max {
        return Err(too_long(max));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(error(
            "control_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// Free text of at most `max` characters (empty allowed): tabs and line breaks, no other
/// control characters (invitation messages, notification bodies).
pub fn paragraphs(value: &str, max: usize) -> Result<(), ValidationError> {
    if value.chars().count() > max {
        return Err(too_long(max));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(error(
            "control_characters",
            "must not contain control characters other than tabs and line breaks",
        ));
    }
    Ok(())
}

fn too_long(max: usize) -> ValidationError {
    ValidationError::new("too_long")
        .with_message(format!("must be at most {max} characters").into())
}

/// `job_title`: at most 100 characters, no control characters (empty clears it).
pub fn job_title(value: &str) -> Result<(), ValidationError> {
    if value.trim().chars().count() > 100 {
        return Err(too_long(100));
    }
    if value.chars().any(char::is_control) {
        return Err(error(
            "control_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// `avatar_url`: an absolute https URL of at most 2048 characters.
pub fn https_url(value: &str) -> Result<(), ValidationError> {
    if value.len() > 2048 {
        return Err(error("too_long", "must be at most 2048 characters"));
    }
    let Some(rest) = value.strip_prefix("https://") else {
        return Err(error("not_https", "must be an https URL"));
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(error("not_url", "must be an absolute https URL"));
    }
    Ok(())
}

/// An email address as a token's claim carries it: at most 254 characters, one `@` with
/// something on both sides, no whitespace or control characters. (Deliverability is the
/// identity provider's to check; this keeps junk out of the profile and of email headers.)
pub fn email_address(value: &str) -> Result<(), ValidationError> {
    if value.chars().count() > 254 {
        return Err(error("too_long", "must be at most 254 characters"));
    }
    let well_formed = value.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty() && !domain.is_empty() && !domain.contains('@')
    });
    if !well_formed
        || value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_bidi_control(c))
    {
        return Err(error("not_email", "must be an email address"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(display_name("Acme").is_ok());
        assert!(display_name(&"é".repeat(100)).is_ok());
        assert!(display_name(&"é".repeat(101)).is_err());
        assert!(display_name("   ").is_err());
        assert!(display_name("a\u{0}b").is_err());
        // Invisible only: zero-width, format characters, variation selectors, lone marks.
        for invisible in [
            "\u{200B}",
            "\u{200F}\u{200B}",
            "\u{FEFF}",
            "\u{FE0F}",
            "\u{0301}",
            " \u{200B} \u{0301} ",
            "\u{E0041}",
        ] {
            assert!(display_name(invisible).is_err(), "{invisible:?}");
        }
        for bidi in ["abc\u{202E}fed", "\u{2066}x\u{2069}", "a\u{202A}"] {
            assert!(display_name(bidi).is_err(), "{bidi:?}");
        }
        // Visible text keeps what it needs: accents, emoji with variation selectors, ZWJ.
        for fine in [
            "e\u{0301}",
            "❤\u{FE0F}",
            "👩\u{200D}💻 Lab",
            "مرحبا",
            "日本",
        ] {
            assert!(display_name(fine).is_ok(), "{fine:?}");
        }
    }

    #[test]
    fn email_addresses() {
        assert!(email_address("ada@example.com").is_ok());
        assert!(
            email_address("\u{212A}iss@example.com").is_ok(),
            "compared exactly later"
        );
        for bad in [
            "",
            "ada",
            "@example.com",
            "ada@",
            "a@b@c",
            "a b@c.d",
            "a\u{0}@b.c",
        ] {
            assert!(email_address(bad).is_err(), "{bad:?}");
        }
        assert!(email_address(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn urls() {
        assert!(https_url("https://cdn.example.com/a.png").is_ok());
        assert!(https_url("http://cdn.example.com/a.png").is_err());
        assert!(https_url("https:///a.png").is_err());
        assert!(https_url("javascript:alert(1)").is_err());
        assert!(https_url(&format!("https://x.example/{}", "a".repeat(2048))).is_err());
    }
}
