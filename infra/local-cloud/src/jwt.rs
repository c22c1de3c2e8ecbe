//! API Gateway's JWT authorizer, emulated: the token from the `Authorization` header (with or
//! without `Bearer `), its signature, `iss`, `aud` (or `client_id`), `exp` and `nbf` checked;
//! claims handed to the function as strings in `requestContext.authorizer.jwt.claims`.
//!
//! API Gateway fetches RS256 keys from the issuer's discovery document; locally the key is
//! configured: the local HS256 secret by default, or an RS256 public key.

use axum::http::HeaderMap;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

pub enum JwtKey {
    Hs256(String),
    Rs256Pem(Vec<u8>),
}

/// The token did not pass; API Gateway answers 401 without saying why.
#[derive(Debug, PartialEq, Eq)]
pub struct Unauthorized;

pub struct JwtAuthorizer {
    key: DecodingKey,
    validation: Validation,
}

impl JwtAuthorizer {
    pub fn new(issuer: &str, audiences: &[String], key: JwtKey) -> Result<Self, String> {
        let (key, algorithm) = match key {
            JwtKey::Hs256(secret) => (
                DecodingKey::from_secret(secret.as_bytes()),
                Algorithm::HS256,
            ),
            JwtKey::Rs256Pem(pem) => (
                DecodingKey::from_rsa_pem(&pem).map_err(|e| e.to_string())?,
                Algorithm::RS256,
            ),
        };
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[issuer]);
        // `aud` or `client_id` must match; the audience is checked below to allow either.
        validation.validate_aud = false;
        validation.set_required_spec_claims(&["exp", "iss"]);
        validation.validate_nbf = true;
        validation.leeway = 0;
        let mut authorizer = Self { key, validation };
        authorizer.validation.aud = Some(audiences.iter().cloned().collect());
        Ok(authorizer)
    }

    /// The token's claims, or `Err` for API Gateway's 401 `{"message":"Unauthorized"}`.
    pub fn authorize(&self, headers: &HeaderMap) -> Result<Map<String, Value>, Unauthorized> {
        let header = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .ok_or(Unauthorized)?
            .trim();
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => header,
        };
        let data = jsonwebtoken::decode::<Map<String, Value>>(token, &self.key, &self.validation)
            .map_err(|_| Unauthorized)?;
        let claims = data.claims;
        let audiences = self.validation.aud.as_ref().ok_or(Unauthorized)?;
        let audience_ok = match claims.get("aud") {
            Some(Value::String(aud)) => audiences.contains(aud),
            Some(Value::Array(list)) => list
                .iter()
                .filter_map(Value::as_str)
                .any(|a| audiences.contains(a)),
            _ => false,
        } || claims
            .get("client_id")
            .and_then(Value::as_str)
            .is_some_and(|c| audiences.contains(c));
        if !audience_ok {
            return Err(Unauthorized);
        }
        Ok(claims
            .into_iter()
            .map(|(name, value)| {
                let text = match value {
                    Value::String(s) => s,
                    Value::Array(items) => {
                        format!(
                            "[{}]",
                            items
                                .iter()
                                .map(|v| v
                                    .as_str()
                                    .map(str::to_owned)
                                    .unwrap_or_else(|| v.to_string()))
                                .collect::<Vec<_>>()
                                .join(" ")
                        )
                    }
                    other => other.to_string(),
                };
                (name, Value::String(text))
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    fn token(claims: serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("authorization", value.parse().unwrap());
        headers
    }

    #[test]
    fn accepts_and_rejects_as_api_gateway_does() {
        let authorizer =
            JwtAuthorizer::new("iss-1", &["aud-1".into()], JwtKey::Hs256("s".into())).unwrap();
        let exp = jsonwebtoken::get_current_timestamp() + 600;
        let good = token(
            serde_json::json!({"iss": "iss-1", "aud": "aud-1", "exp": exp, "sub": "u1", "email_verified": true}),
            "s",
        );
        let claims = authorizer
            .authorize(&headers(&format!("Bearer {good}")))
            .unwrap();
        assert_eq!(claims["sub"], "u1");
        assert_eq!(claims["email_verified"], "true", "claims arrive as strings");
        assert!(
            authorizer.authorize(&headers(&good)).is_ok(),
            "the Bearer prefix is optional"
        );

        let client_id = token(
            serde_json::json!({"iss": "iss-1", "client_id": "aud-1", "exp": exp}),
            "s",
        );
        assert!(authorizer.authorize(&headers(&client_id)).is_ok());

        for bad in [
            token(
                serde_json::json!({"iss": "other", "aud": "aud-1", "exp": exp}),
                "s",
            ),
            token(
                serde_json::json!({"iss": "iss-1", "aud": "other", "exp": exp}),
                "s",
            ),
            token(
                serde_json::json!({"iss": "iss-1", "aud": "aud-1", "exp": 1000}),
                "s",
            ),
            token(
                serde_json::json!({"iss": "iss-1", "aud": "aud-1", "exp": exp}),
                "wrong-secret",
            ),
            token(serde_json::json!({"iss": "iss-1", "aud": "aud-1"}), "s"),
        ] {
            assert!(
                authorizer
                    .authorize(&headers(&format!("Bearer {bad}")))
                    .is_err()
            );
        }
        assert!(authorizer.authorize(&HeaderMap::new()).is_err());
    }
}
