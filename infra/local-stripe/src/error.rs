//! Stripe's error shape: `{"error": {"type", "code", "decline_code", "message", "param", …}}` with
//! the status Stripe uses for each kind.

use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct StripeError {
    pub status: u16,
    /// `invalid_request_error`, `card_error`, `idempotency_error`, `api_error`.
    pub kind: &'static str,
    pub code: Option<String>,
    pub decline_code: Option<String>,
    pub message: String,
    pub param: Option<String>,
    /// A card error's PaymentIntent or payment method, as Stripe attaches them.
    pub extra: Vec<(&'static str, Value)>,
}

impl StripeError {
    fn new(status: u16, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            code: None,
            decline_code: None,
            message: message.into(),
            param: None,
            extra: Vec::new(),
        }
    }

    /// 400 `invalid_request_error`, naming the parameter when there is one.
    pub fn invalid_request(message: impl Into<String>, param: Option<String>) -> Self {
        Self {
            param,
            ..Self::new(400, "invalid_request_error", message)
        }
    }

    /// 400 `parameter_missing`.
    pub fn missing(param: &str) -> Self {
        Self {
            code: Some("parameter_missing".into()),
            ..Self::invalid_request(
                format!("Missing required param: {param}."),
                Some(param.to_owned()),
            )
        }
    }

    /// 400 `parameter_invalid_*`-style refusal of one parameter's value.
    pub fn invalid_param(param: &str, message: impl Into<String>) -> Self {
        Self {
            code: Some("parameter_invalid".into()),
            ..Self::invalid_request(message, Some(param.to_owned()))
        }
    }

    /// 400 `parameter_unknown`: Stripe refuses parameters it does not know.
    pub fn unknown_param(param: &str) -> Self {
        Self {
            code: Some("parameter_unknown".into()),
            ..Self::invalid_request(
                format!("Received unknown parameter: {param}"),
                Some(param.to_owned()),
            )
        }
    }

    /// 404 `resource_missing`.
    pub fn missing_resource(kind: &str, id: &str, param: &str) -> Self {
        Self {
            code: Some("resource_missing".into()),
            param: Some(param.to_owned()),
            ..Self::new(
                404,
                "invalid_request_error",
                format!("No such {kind}: '{id}'"),
            )
        }
    }

    /// 402 `card_error` (`card_declined` with its `decline_code`, `authentication_required`, …).
    pub fn card(code: &str, decline_code: Option<&str>, message: impl Into<String>) -> Self {
        Self {
            code: Some(code.to_owned()),
            decline_code: decline_code.map(str::to_owned),
            ..Self::new(402, "card_error", message)
        }
    }

    /// 400 `idempotency_error`: a key reused with other parameters.
    pub fn idempotency_mismatch(key: &str) -> Self {
        Self::new(
            400,
            "idempotency_error",
            format!(
                "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."
            ),
        )
    }

    /// 409 `idempotency_key_in_use`: the first request with this key has not finished.
    pub fn idempotency_in_flight() -> Self {
        Self {
            code: Some("idempotency_key_in_use".into()),
            ..Self::new(
                409,
                "invalid_request_error",
                "There is currently another in-progress request using this Stripe API key and idempotency key. Please try again later.",
            )
        }
    }

    /// 401: no or a wrong API key.
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "invalid_request_error", message)
    }

    /// 404 for a route this server does not emulate.
    pub fn unknown_route(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "invalid_request_error",
            format!(
                "Unrecognized request URL ({method}: {path}). The local Stripe does not emulate this endpoint; see docs/local-stripe.md."
            ),
        )
    }

    pub fn with(mut self, name: &'static str, value: Value) -> Self {
        self.extra.push((name, value));
        self
    }

    pub fn body(&self) -> Value {
        let mut error = json!({
            "type": self.kind,
            "message": self.message,
        });
        let fields = [
            ("code", &self.code),
            ("decline_code", &self.decline_code),
            ("param", &self.param),
        ];
        for (name, value) in fields {
            if let Some(value) = value {
                error[name] = json!(value);
            }
        }
        if self.code.is_some() {
            error["doc_url"] = json!(format!(
                "https://stripe.com/docs/error-codes/{}",
                self.code.as_deref().unwrap_or_default().replace('_', "-")
            ));
        }
        for (name, value) in &self.extra {
            error[*name] = value.clone();
        }
        json!({ "error": error })
    }
}

impl IntoResponse for StripeError {
    fn into_response(self) -> Response {
        crate::json_response(self.status, self.body())
    }
}
