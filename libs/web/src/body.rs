//! Strict JSON bodies: size-limited, unknown fields refused, every field error reported.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use problem::{FieldError, Problem};
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors, ValidationErrorsKind};

/// Request bodies larger than this are refused with 413 (§3).
pub const MAX_BODY_BYTES: usize = 256 * 1024;

/// A JSON body that parsed into `T` and passed `T`'s validation.
pub struct ValidJson<T>(pub T);

impl<T, S> FromRequest<S> for ValidJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request(request: Request, state: &S) -> Result<Self, Problem> {
        require_json_content_type(request.headers())?;
        let declared = request
            .headers()
            .get(axum::http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<usize>().ok());
        if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
            return Err(Problem::payload_too_large(MAX_BODY_BYTES));
        }
        let body = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                    Problem::payload_too_large(MAX_BODY_BYTES)
                } else {
                    Problem::bad_request("invalid_body", "the request body could not be read")
                }
            })?;
        parse(&body).map(ValidJson)
    }
}

/// A body route's media type: JSON (`application/json` or `+json`), or no `Content-Type` at
/// all; anything else is 415.
pub fn require_json_content_type(headers: &axum::http::HeaderMap) -> Result<(), Problem> {
    let Some(content_type) = headers.get(CONTENT_TYPE) else {
        return Ok(());
    };
    let content_type = content_type
        .to_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    if essence == "application/json" || essence.ends_with("+json") {
        Ok(())
    } else {
        Err(Problem::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the body as application/json",
        ))
    }
}

/// Parses and validates a JSON body (also used where a body arrives some other way).
pub fn parse<T: DeserializeOwned + Validate>(body: &[u8]) -> Result<T, Problem> {
    if body.len() > MAX_BODY_BYTES {
        return Err(Problem::payload_too_large(MAX_BODY_BYTES));
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::bad_request(
            "invalid_body",
            "a JSON body is required",
        ));
    }
    let deserializer = &mut serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut *deserializer).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let message = without_position(&inner.to_string());
        if inner.is_data() && path != "." {
            Problem {
                errors: vec![FieldError::new(&path, &message)],
                ..Problem::bad_request("invalid_body", format!("{path}: {message}"))
            }
        } else {
            Problem::bad_request(
                "invalid_body",
                format!("the body is not valid JSON for this route: {message}"),
            )
        }
    })?;
    // Exactly one JSON value: anything after it but whitespace (a second object, a NUL,
    // garbage) makes the body ambiguous, so it is refused and nothing changes.
    deserializer.end().map_err(|_| {
        Problem::bad_request(
            "invalid_body",
            "the body must be exactly one JSON value: something follows it",
        )
    })?;
    value
        .validate()
        .map_err(|errors| Problem::validation(field_errors(&errors, "")))?;
    Ok(value)
}

/// serde_json appends " at line 1 column 17"; the field path says more.
fn without_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_owned(),
        None => message.to_owned(),
    }
}

/// Flattens validator's nested errors into `{field, message}` pairs with dotted paths.
pub fn field_errors(errors: &ValidationErrors, prefix: &str) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => out.extend(list.iter().map(|e| {
                let message = e
                    .message
                    .as_ref()
                    .map(|m| m.to_string())
                    .unwrap_or_else(|| format!("is invalid ({})", e.code));
                FieldError::new(&path, message)
            })),
            ValidationErrorsKind::Struct(inner) => out.extend(field_errors(inner, &path)),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    out.extend(field_errors(inner, &format!("{path}[{index}]")));
                }
            }
        }
    }
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[validate(length(min = 1, max = 3, message = "must be 1-3 characters"))]
        name: String,
    }

    #[test]
    fn a_body_is_exactly_one_json_value() {
        for trailing in [
            &br#"{"name":"x"} garbage"#[..],
            br#"{"name":"x"}{"name":"y"}"#,
            b"{\"name\":\"x\"}\0",
            br#"{"name":"x"}]"#,
            br#"{"name":"x"} {}"#,
        ] {
            let p = parse::<Body>(trailing).unwrap_err();
            assert_eq!(
                (p.status, p.code.as_str()),
                (400, "invalid_body"),
                "{trailing:?}"
            );
        }
        assert_eq!(
            parse::<Body>(b" {\"name\":\"x\"} \r\n\t").unwrap().name,
            "x"
        );
    }

    #[test]
    fn malformed_unknown_and_invalid_bodies_are_4xx_problems() {
        let p = parse::<Body>(b"{").unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (400, "invalid_body"));

        let p = parse::<Body>(br#"{"name":"a","admin":true}"#).unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.contains("admin"), "{}", p.detail);

        let p = parse::<Body>(br#"{"name":5}"#).unwrap_err();
        assert_eq!(p.errors[0].field, "name");

        let p = parse::<Body>(br#"{"name":"abcd"}"#).unwrap_err();
        assert_eq!((p.status, p.code.as_str()), (400, "validation_failed"));
        assert_eq!(
            p.errors,
            vec![FieldError::new("name", "must be 1-3 characters")]
        );

        let p = parse::<Body>(b"").unwrap_err();
        assert_eq!(p.code, "invalid_body");

        let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(MAX_BODY_BYTES));
        assert_eq!(parse::<Body>(big.as_bytes()).unwrap_err().status, 413);
    }
}
