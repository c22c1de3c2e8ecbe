//! Field rules shared by the accounts requests (and by later functions: names and titles are
//! limited the same way everywhere, §3).

use validator::ValidationError;

fn error(code: &'static str, message: &'static str) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Names and titles: 1–100 characters after trimming, no control characters.
pub fn display_name(value: &str) -> Result<(), ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(error("blank", "must not be blank"));
    }
    if trimmed.chars().count() > 100 {
        return Err(error("too_long", "must be at most 100 characters"));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(error(
            "control_characters",
            "must not contain control characters",
        ));
    }
    Ok(())
}

/// `job_title`: at most 100 characters, no control characters (empty clears it).
pub fn job_title(value: &str) -> Result<(), ValidationError> {
    if value.trim().chars().count() > 100 {
        return Err(error("too_long", "must be at most 100 characters"));
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
