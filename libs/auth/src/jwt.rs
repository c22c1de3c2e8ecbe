//! Bearer-token verification, done by the functions themselves (an API Gateway authorizer, where
//! deployed, is only a second check).
//!
//! - Production: RS256 against the issuer's JWKS. Keys are cached; a token naming an unknown
//!   `kid` triggers a refetch at most once a minute, so rotated keys are picked up and forged
//!   `kid`s cannot turn into a flood of requests to the identity provider.
//! - Local development, only with `AUTH_MODE=local`: HS256 with a shared secret.
//!
//! Algorithms are pinned per mode, and `exp`, `iss`, `aud` and `sub` are required.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use clock::{Clock, DateTime, Duration};
use config::AuthSettings;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, Jwk, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use problem::Problem;
use serde::{Deserialize, Serialize};
use tokio::sync::{Mutex, OnceCell, RwLock};

/// The claims this API uses. `sub` is the user's id, verbatim.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Defaulted only so that a token without `sub` is reported as missing the claim.
    #[serde(default)]
    pub sub: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub email_verified: Option<bool>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub org_id: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("the Authorization header must be `Bearer <token>`")]
    NotBearer,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's algorithm is not accepted")]
    WrongAlgorithm,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's signing key is unknown")]
    UnknownKey,
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    #[error("the token's audience is not accepted")]
    WrongAudience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token's subject is not a usable user id")]
    BadSubject,
    #[error("the token is malformed")]
    Malformed,
    /// The identity provider's keys could not be fetched: not the caller's fault.
    #[error("the signing keys cannot be fetched right now; retry shortly")]
    KeysUnavailable,
}

impl From<AuthError> for Problem {
    fn from(e: AuthError) -> Self {
        match e {
            AuthError::KeysUnavailable => Problem::unavailable(e.to_string()),
            _ => Problem::unauthorized(e.to_string()),
        }
    }
}

fn classify(e: jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidAlgorithm
        | ErrorKind::InvalidAlgorithmName
        | ErrorKind::UnsupportedAlgorithm => AuthError::WrongAlgorithm,
        ErrorKind::InvalidSignature => AuthError::BadSignature,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim(claim.clone()),
        _ => AuthError::Malformed,
    }
}

/// Where JWKS documents come from: HTTPS in production, a fixed set in tests.
pub trait JwksSource: Send + Sync {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Vec<Jwk>, String>> + Send + '_>>;
}

/// Fetches the JWKS over HTTPS. The client is built on first use, not at cold start.
pub struct HttpJwks {
    url: String,
    client: OnceCell<reqwest::Client>,
}

impl HttpJwks {
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            client: OnceCell::new(),
        }
    }
}

impl JwksSource for HttpJwks {
    fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Vec<Jwk>, String>> + Send + '_>> {
        Box::pin(async move {
            let client = self
                .client
                .get_or_try_init(|| async {
                    reqwest::Client::builder()
                        .timeout(std::time::Duration::from_secs(3))
                        .build()
                        .map_err(|e| e.to_string())
                })
                .await?;
            let response = client
                .get(&self.url)
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let response = response.error_for_status().map_err(|e| e.to_string())?;
            let body = response.bytes().await.map_err(|e| e.to_string())?;
            parse_jwks(&body)
        })
    }
}

/// Parses a JWKS document, keeping the keys this API can use and skipping the others (an
/// identity provider may publish key types we do not verify with).
pub fn parse_jwks(body: &[u8]) -> Result<Vec<Jwk>, String> {
    #[derive(Deserialize)]
    struct Document {
        keys: Vec<serde_json::Value>,
    }
    let document: Document =
        serde_json::from_slice(body).map_err(|e| format!("not a JWKS document: {e}"))?;
    Ok(document
        .keys
        .into_iter()
        .filter_map(|k| serde_json::from_value(k).ok())
        .collect())
}

struct KeyCache {
    keys: HashMap<String, DecodingKey>,
    /// When the keys were last fetched successfully.
    fetched_at: Option<DateTime>,
    /// When a fetch was last tried, successful or not.
    attempted_at: Option<DateTime>,
}

struct JwksVerifier {
    source: Box<dyn JwksSource>,
    cache: RwLock<KeyCache>,
    /// Serializes refetches, so concurrent requests with a new `kid` cause one fetch.
    refetch: Mutex<()>,
}

/// An unknown `kid` refetches the JWKS at most this often.
const REFETCH_INTERVAL: Duration = Duration::minutes(1);
/// Without any keys (a cold start during an identity-provider hiccup), retry sooner.
const RETRY_WITHOUT_KEYS: Duration = Duration::seconds(5);
/// Keys are refreshed after this long, so a key the provider withdrew stops being accepted.
const MAX_KEY_AGE: Duration = Duration::hours(1);

impl KeyCache {
    fn fresh_key(&self, kid: &str, now: DateTime) -> Option<DecodingKey> {
        let fresh = self.fetched_at.is_some_and(|at| now - at < MAX_KEY_AGE);
        fresh.then(|| self.keys.get(kid).cloned()).flatten()
    }

    fn may_fetch(&self, now: DateTime) -> bool {
        let wait = if self.keys.is_empty() {
            RETRY_WITHOUT_KEYS
        } else {
            REFETCH_INTERVAL
        };
        self.attempted_at.is_none_or(|at| now - at >= wait)
    }
}

impl JwksVerifier {
    async fn key(&self, kid: &str, clock: &Clock) -> Result<DecodingKey, AuthError> {
        if let Some(key) = self.cache.read().await.fresh_key(kid, clock.now()) {
            return Ok(key);
        }
        let _one_fetch_at_a_time = self.refetch.lock().await;
        let now = clock.now();
        {
            let cache = self.cache.read().await;
            if let Some(key) = cache.fresh_key(kid, now) {
                return Ok(key);
            }
            if !cache.may_fetch(now) {
                // Too soon to ask again: answer from what we have, stale or not.
                return match cache.keys.get(kid) {
                    Some(key) => Ok(key.clone()),
                    None if cache.keys.is_empty() => Err(AuthError::KeysUnavailable),
                    None => Err(AuthError::UnknownKey),
                };
            }
        }
        let fetched = self.source.fetch().await;
        let mut cache = self.cache.write().await;
        cache.attempted_at = Some(now);
        let failed = match fetched {
            Ok(jwks) => {
                cache.keys = usable_keys(jwks);
                cache.fetched_at = Some(now);
                false
            }
            // Keep the keys we had: an identity-provider hiccup must not lock everyone out.
            Err(error) => {
                tracing::error!(%error, "fetching the JWKS failed");
                true
            }
        };
        match cache.keys.get(kid) {
            Some(key) => Ok(key.clone()),
            // We could not ask the provider, so we cannot say the token is bad.
            None if failed => Err(AuthError::KeysUnavailable),
            None => Err(AuthError::UnknownKey),
        }
    }
}

fn usable_keys(jwks: Vec<Jwk>) -> HashMap<String, DecodingKey> {
    jwks.into_iter()
        .filter(|jwk| matches!(jwk.algorithm, AlgorithmParameters::RSA(_)))
        .filter(|jwk| matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::RS256)))
        .filter_map(|jwk| {
            let kid = jwk.common.key_id.clone()?;
            DecodingKey::from_jwk(&jwk).ok().map(|key| (kid, key))
        })
        .collect()
}

enum Mode {
    LocalHs256(DecodingKey),
    Jwks(JwksVerifier),
}

/// Verifies bearer tokens. Built once per cold start and shared by every request.
#[derive(Clone)]
pub struct Authenticator {
    mode: Arc<Mode>,
    validation: Arc<Validation>,
    clock: Clock,
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.validate_nbf = true;
    validation.leeway = 30;
    validation
}

impl Authenticator {
    pub fn from_settings(settings: &AuthSettings, clock: Clock) -> Self {
        match settings {
            AuthSettings::Jwks {
                jwks_url,
                issuer,
                audience,
            } => Self::with_jwks_source(
                Box::new(HttpJwks::new(jwks_url.clone())),
                issuer,
                audience,
                clock,
            ),
            AuthSettings::LocalHs256 {
                secret,
                issuer,
                audience,
            } => Self {
                mode: Arc::new(Mode::LocalHs256(DecodingKey::from_secret(
                    secret.as_bytes(),
                ))),
                validation: Arc::new(validation(Algorithm::HS256, issuer, audience)),
                clock,
            },
        }
    }

    pub fn with_jwks_source(
        source: Box<dyn JwksSource>,
        issuer: &str,
        audience: &str,
        clock: Clock,
    ) -> Self {
        Self {
            mode: Arc::new(Mode::Jwks(JwksVerifier {
                source,
                cache: RwLock::new(KeyCache {
                    keys: HashMap::new(),
                    fetched_at: None,
                    attempted_at: None,
                }),
                refetch: Mutex::new(()),
            })),
            validation: Arc::new(validation(Algorithm::RS256, issuer, audience)),
            clock,
        }
    }

    /// Verifies the value of an `Authorization` header.
    pub async fn verify_header(&self, authorization: Option<&str>) -> Result<Claims, AuthError> {
        let header = authorization.ok_or(AuthError::Missing)?;
        self.verify(bearer_token(header).ok_or(AuthError::NotBearer)?)
            .await
    }

    pub async fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(classify)?;
        if !self.validation.algorithms.contains(&header.alg) {
            return Err(AuthError::WrongAlgorithm);
        }
        let key = match &*self.mode {
            Mode::LocalHs256(key) => key.clone(),
            Mode::Jwks(verifier) => {
                let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
                verifier.key(kid, &self.clock).await?
            }
        };
        let data =
            jsonwebtoken::decode::<Claims>(token, &key, &self.validation).map_err(classify)?;
        let claims = data.claims;
        if !is_usable_user_id(&claims.sub) {
            return Err(AuthError::BadSubject);
        }
        Ok(claims)
    }
}

/// The credential of an `Authorization: Bearer <credential>` header value (scheme in any case),
/// or `None` for another scheme or an empty credential.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// A user id becomes part of storage keys, so it must be short and printable.
pub fn is_usable_user_id(sub: &str) -> bool {
    !sub.is_empty() && sub.len() <= 256 && !sub.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use time::macros::datetime;

    const SIGNING_KEY: &str = include_str!("../tests/fixtures/signing-key.pem");
    const FOREIGN_KEY: &str = include_str!("../tests/fixtures/foreign-key.pem");
    const JWKS: &str = include_str!("../tests/fixtures/jwks.json");
    const ISSUER: &str = "https://issuer.example.com/";
    const AUDIENCE: &str = "objecta-api";

    /// A JWKS source that counts its fetches.
    struct CountingJwks(Arc<AtomicUsize>);

    impl JwksSource for CountingJwks {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Vec<Jwk>, String>> + Send + '_>> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Box::pin(async { parse_jwks(JWKS.as_bytes()) })
        }
    }

    fn now() -> u64 {
        jsonwebtoken::get_current_timestamp()
    }

    fn claims() -> serde_json::Value {
        serde_json::json!({"sub": "user-1", "iss": ISSUER, "aud": AUDIENCE, "exp": now() + 600, "email": "a@example.com"})
    }

    fn rs256(claims: &serde_json::Value, kid: Option<&str>, pem: &str) -> String {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(
            &header,
            claims,
            &EncodingKey::from_rsa_pem(pem.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn jwks_authenticator() -> (Authenticator, Arc<AtomicUsize>, Clock) {
        let fetches = Arc::new(AtomicUsize::new(0));
        let clock = Clock::manual(datetime!(2026-06-01 00:00:00 UTC));
        let auth = Authenticator::with_jwks_source(
            Box::new(CountingJwks(fetches.clone())),
            ISSUER,
            AUDIENCE,
            clock.clone(),
        );
        (auth, fetches, clock)
    }

    fn local_authenticator() -> Authenticator {
        Authenticator::from_settings(
            &AuthSettings::LocalHs256 {
                secret: "s3cret".into(),
                issuer: ISSUER.into(),
                audience: AUDIENCE.into(),
            },
            Clock::system(),
        )
    }

    fn hs256(claims: &serde_json::Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    }

    #[tokio::test]
    async fn accepts_a_good_rs256_token() {
        let (auth, fetches, _) = jwks_authenticator();
        let verified = auth
            .verify(&rs256(&claims(), Some("test-key-1"), SIGNING_KEY))
            .await
            .unwrap();
        assert_eq!(verified.sub, "user-1");
        assert_eq!(verified.email.as_deref(), Some("a@example.com"));
        // The second token is verified from the cache.
        auth.verify(&rs256(&claims(), Some("test-key-1"), SIGNING_KEY))
            .await
            .unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn refuses_expired_and_not_yet_valid_tokens() {
        let (auth, _, _) = jwks_authenticator();
        let mut expired = claims();
        expired["exp"] = (now() - 120).into();
        assert_eq!(
            auth.verify(&rs256(&expired, Some("test-key-1"), SIGNING_KEY))
                .await,
            Err(AuthError::Expired)
        );

        let mut early = claims();
        early["nbf"] = (now() + 300).into();
        assert_eq!(
            auth.verify(&rs256(&early, Some("test-key-1"), SIGNING_KEY))
                .await,
            Err(AuthError::NotYetValid)
        );
    }

    #[tokio::test]
    async fn refuses_wrong_issuer_audience_and_missing_claims() {
        let (auth, _, _) = jwks_authenticator();
        let mut c = claims();
        c["iss"] = "https://evil.example.com/".into();
        assert_eq!(
            auth.verify(&rs256(&c, Some("test-key-1"), SIGNING_KEY))
                .await,
            Err(AuthError::WrongIssuer)
        );

        let mut c = claims();
        c["aud"] = "another-api".into();
        assert_eq!(
            auth.verify(&rs256(&c, Some("test-key-1"), SIGNING_KEY))
                .await,
            Err(AuthError::WrongAudience)
        );

        for claim in ["exp", "iss", "aud", "sub"] {
            let mut c = claims();
            c.as_object_mut().unwrap().remove(claim);
            let result = auth
                .verify(&rs256(&c, Some("test-key-1"), SIGNING_KEY))
                .await;
            assert_eq!(
                result,
                Err(AuthError::MissingClaim(claim.into())),
                "{claim}"
            );
        }

        let mut c = claims();
        c["sub"] = "".into();
        assert_eq!(
            auth.verify(&rs256(&c, Some("test-key-1"), SIGNING_KEY))
                .await,
            Err(AuthError::BadSubject)
        );
    }

    #[tokio::test]
    async fn refuses_tampered_and_forged_signatures() {
        let (auth, _, _) = jwks_authenticator();
        let token = rs256(&claims(), Some("test-key-1"), SIGNING_KEY);
        // Swap in a payload naming another user, keeping the signature.
        let parts: Vec<&str> = token.split('.').collect();
        let mut evil = claims();
        evil["sub"] = "admin".into();
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            evil.to_string(),
        );
        let tampered = format!("{}.{}.{}", parts[0], payload, parts[2]);
        assert_eq!(auth.verify(&tampered).await, Err(AuthError::BadSignature));

        let forged = rs256(&claims(), Some("test-key-1"), FOREIGN_KEY);
        assert_eq!(auth.verify(&forged).await, Err(AuthError::BadSignature));
    }

    #[tokio::test]
    async fn pins_the_algorithm_and_refuses_alg_none() {
        let (auth, _, _) = jwks_authenticator();
        // HS256 signed with the public key's bytes: the classic algorithm-confusion attack.
        let confused = hs256(&claims(), JWKS);
        assert_eq!(auth.verify(&confused).await, Err(AuthError::WrongAlgorithm));

        let header = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            r#"{"alg":"none","typ":"JWT"}"#,
        );
        let payload = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            claims().to_string(),
        );
        for unsigned in [
            format!("{header}.{payload}."),
            format!("{header}.{payload}"),
        ] {
            assert!(auth.verify(&unsigned).await.is_err(), "{unsigned}");
        }

        // Local mode accepts HS256 only.
        let local = local_authenticator();
        assert!(local.verify(&hs256(&claims(), "s3cret")).await.is_ok());
        assert_eq!(
            local.verify(&hs256(&claims(), "guess")).await,
            Err(AuthError::BadSignature)
        );
        assert_eq!(
            local
                .verify(&rs256(&claims(), Some("test-key-1"), SIGNING_KEY))
                .await,
            Err(AuthError::WrongAlgorithm)
        );
    }

    #[tokio::test]
    async fn unknown_kid_refetches_at_most_once_a_minute() {
        let (auth, fetches, clock) = jwks_authenticator();
        let unknown = rs256(&claims(), Some("rotated-key"), SIGNING_KEY);
        assert_eq!(auth.verify(&unknown).await, Err(AuthError::UnknownKey));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        for _ in 0..5 {
            assert_eq!(auth.verify(&unknown).await, Err(AuthError::UnknownKey));
        }
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            1,
            "no refetch within the minute"
        );
        clock.advance(Duration::seconds(61));
        assert_eq!(auth.verify(&unknown).await, Err(AuthError::UnknownKey));
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "one refetch after the minute"
        );

        let no_kid = rs256(&claims(), None, SIGNING_KEY);
        assert_eq!(auth.verify(&no_kid).await, Err(AuthError::UnknownKey));
    }

    /// Fails its first `failures` fetches, then serves the fixture.
    struct FlakyJwks {
        failures: AtomicUsize,
        fetches: Arc<AtomicUsize>,
    }

    impl JwksSource for FlakyJwks {
        fn fetch(&self) -> Pin<Box<dyn Future<Output = Result<Vec<Jwk>, String>> + Send + '_>> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let fail = self
                .failures
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            Box::pin(async move {
                if fail {
                    Err("connection refused".into())
                } else {
                    parse_jwks(JWKS.as_bytes())
                }
            })
        }
    }

    #[tokio::test]
    async fn an_unreachable_identity_provider_is_a_503_and_retried_soon() {
        let fetches = Arc::new(AtomicUsize::new(0));
        let clock = Clock::manual(datetime!(2026-06-01 00:00:00 UTC));
        let source = FlakyJwks {
            failures: AtomicUsize::new(1),
            fetches: fetches.clone(),
        };
        let auth =
            Authenticator::with_jwks_source(Box::new(source), ISSUER, AUDIENCE, clock.clone());
        let token = rs256(&claims(), Some("test-key-1"), SIGNING_KEY);
        assert_eq!(auth.verify(&token).await, Err(AuthError::KeysUnavailable));
        assert_eq!(Problem::from(AuthError::KeysUnavailable).status, 503);
        // Not hammered: within the retry delay nobody fetches again.
        assert_eq!(auth.verify(&token).await, Err(AuthError::KeysUnavailable));
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        clock.advance(Duration::seconds(6));
        assert!(auth.verify(&token).await.is_ok());
        assert_eq!(fetches.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn keys_are_refreshed_after_an_hour() {
        let (auth, fetches, clock) = jwks_authenticator();
        let token = rs256(&claims(), Some("test-key-1"), SIGNING_KEY);
        auth.verify(&token).await.unwrap();
        clock.advance(Duration::minutes(59));
        auth.verify(&token).await.unwrap();
        assert_eq!(fetches.load(Ordering::SeqCst), 1);
        clock.advance(Duration::minutes(2));
        auth.verify(&token).await.unwrap();
        assert_eq!(
            fetches.load(Ordering::SeqCst),
            2,
            "a key older than an hour is fetched again"
        );
    }

    #[tokio::test]
    async fn reads_the_authorization_header_strictly() {
        let local = local_authenticator();
        let token = hs256(&claims(), "s3cret");
        assert_eq!(local.verify_header(None).await, Err(AuthError::Missing));
        assert_eq!(
            local.verify_header(Some(&token)).await,
            Err(AuthError::NotBearer)
        );
        assert_eq!(
            local.verify_header(Some(&format!("Basic {token}"))).await,
            Err(AuthError::NotBearer)
        );
        assert_eq!(
            local.verify_header(Some("Bearer ")).await,
            Err(AuthError::NotBearer)
        );
        assert!(
            local
                .verify_header(Some(&format!("bearer {token}")))
                .await
                .is_ok()
        );
        assert_eq!(
            local.verify_header(Some("Bearer not.a.jwt")).await,
            Err(AuthError::Malformed)
        );
    }

    #[test]
    fn jwks_parsing_skips_unusable_keys() {
        let keys = usable_keys(parse_jwks(JWKS.as_bytes()).unwrap());
        assert_eq!(keys.keys().collect::<Vec<_>>(), vec!["test-key-1"]);
        assert!(parse_jwks(b"<html>").is_err());
    }
}
