//! Settings read once from the environment at cold start. Every missing or malformed value is
//! reported by name, so a misconfigured deployment fails at init with a message that says what to
//! fix instead of failing on the first request.

use std::collections::HashMap;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("missing setting {0}: set it in the function's environment")]
    Missing(&'static str),
    #[error("malformed setting {name}: {reason}")]
    Malformed { name: &'static str, reason: String },
}

/// Where settings come from: the process environment, or a map in tests.
pub struct Env(HashMap<String, String>);

impl Env {
    pub fn from_process() -> Self {
        Self(std::env::vars().collect())
    }

    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Self(
            pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        )
    }

    /// A set, non-blank value.
    pub fn optional(&self, name: &str) -> Option<String> {
        self.0
            .get(name)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.optional(name).ok_or(ConfigError::Missing(name))
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.optional(name).unwrap_or_else(|| default.to_owned())
    }

    /// A comma-separated list; blank entries are dropped.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.optional(name)
            .map(|v| {
                v.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }

    pub fn parsed<T: std::str::FromStr>(
        &self,
        name: &'static str,
        default: T,
    ) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.optional(name) {
            None => Ok(default),
            Some(raw) => raw.parse().map_err(|e: T::Err| ConfigError::Malformed {
                name,
                reason: format!("{raw:?}: {e}"),
            }),
        }
    }
}

/// How bearer tokens are verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthSettings {
    /// Production: RS256 against the issuer's JWKS.
    Jwks {
        jwks_url: String,
        issuer: String,
        audience: String,
    },
    /// Local development only, chosen explicitly with `AUTH_MODE=local`: HS256 with a shared secret.
    LocalHs256 {
        secret: String,
        issuer: String,
        audience: String,
    },
}

pub const LOCAL_SECRET: &str = "local-dev-secret";
pub const LOCAL_ISSUER: &str = "objecta-local";
pub const LOCAL_AUDIENCE: &str = "objecta-api";

impl AuthSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.or("AUTH_MODE", "jwks").as_str() {
            "jwks" => {
                let jwks_url = env.required("JWKS_URL")?;
                if !(jwks_url.starts_with("https://") || is_loopback_http(&jwks_url)) {
                    return Err(ConfigError::Malformed {
                        name: "JWKS_URL",
                        reason: "must be an https URL".into(),
                    });
                }
                Ok(Self::Jwks {
                    jwks_url,
                    issuer: env.required("JWT_ISSUER")?,
                    audience: env.required("JWT_AUDIENCE")?,
                })
            }
            "local" => Ok(Self::LocalHs256 {
                secret: env.or("JWT_HS256_SECRET", LOCAL_SECRET),
                issuer: env.or("JWT_ISSUER", LOCAL_ISSUER),
                audience: env.or("JWT_AUDIENCE", LOCAL_AUDIENCE),
            }),
            other => Err(ConfigError::Malformed {
                name: "AUTH_MODE",
                reason: format!("{other:?} is neither \"jwks\" nor \"local\""),
            }),
        }
    }
}

/// `http://127.0.0.1[:port][/...]`: plain HTTP is only for a JWKS served on this machine (tests).
fn is_loopback_http(url: &str) -> bool {
    url.strip_prefix("http://127.0.0.1")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(':') || rest.starts_with('/'))
}

/// `scheme://host[:port]`, nothing more (no wildcard, no path).
fn is_origin(origin: &str) -> bool {
    let Some(rest) = origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
    else {
        return false;
    };
    !rest.is_empty() && !rest.contains(['/', '*', ' ', '?', '#'])
}

/// What every HTTP function needs.
#[derive(Clone, Debug)]
pub struct HttpSettings {
    pub table_name: String,
    pub auth: AuthSettings,
    /// Origins allowed by CORS; empty means no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
}

impl HttpSettings {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let cors_allowed_origins = env.list("CORS_ALLOWED_ORIGINS");
        if let Some(bad) = cors_allowed_origins.iter().find(|o| !is_origin(o)) {
            return Err(ConfigError::Malformed {
                name: "CORS_ALLOWED_ORIGINS",
                reason: format!("{bad:?} is not an origin such as https://app.example.com"),
            });
        }
        Ok(Self {
            table_name: env.required("TABLE_NAME")?,
            auth: AuthSettings::from_env(env)?,
            cors_allowed_origins,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwks_is_the_default_and_needs_its_settings() {
        let env = Env::from_pairs([("TABLE_NAME", "t")]);
        assert_eq!(
            HttpSettings::from_env(&env).unwrap_err(),
            ConfigError::Missing("JWKS_URL")
        );
    }

    #[test]
    fn local_mode_must_be_explicit_and_has_defaults() {
        let env = Env::from_pairs([("TABLE_NAME", "t"), ("AUTH_MODE", "local")]);
        let settings = HttpSettings::from_env(&env).unwrap();
        assert_eq!(
            settings.auth,
            AuthSettings::LocalHs256 {
                secret: LOCAL_SECRET.into(),
                issuer: LOCAL_ISSUER.into(),
                audience: LOCAL_AUDIENCE.into()
            }
        );
    }

    #[test]
    fn malformed_settings_are_named() {
        let env = Env::from_pairs([("TABLE_NAME", "t"), ("AUTH_MODE", "hs256")]);
        let err = HttpSettings::from_env(&env).unwrap_err().to_string();
        assert!(err.contains("AUTH_MODE"), "{err}");

        let env = Env::from_pairs([
            ("TABLE_NAME", "t"),
            ("AUTH_MODE", "local"),
            ("CORS_ALLOWED_ORIGINS", "https://a.example, ftp://b"),
        ]);
        let err = HttpSettings::from_env(&env).unwrap_err().to_string();
        assert!(
            err.contains("CORS_ALLOWED_ORIGINS") && err.contains("ftp://b"),
            "{err}"
        );

        let env = Env::from_pairs([
            ("TABLE_NAME", "t"),
            ("JWKS_URL", "http://evil"),
            ("JWT_ISSUER", "i"),
            ("JWT_AUDIENCE", "a"),
        ]);
        assert!(
            HttpSettings::from_env(&env)
                .unwrap_err()
                .to_string()
                .contains("JWKS_URL")
        );
    }

    #[test]
    fn missing_table_is_reported() {
        let env = Env::from_pairs([("AUTH_MODE", "local")]);
        assert_eq!(
            HttpSettings::from_env(&env).unwrap_err(),
            ConfigError::Missing("TABLE_NAME")
        );
    }

    #[test]
    fn plain_http_jwks_only_on_loopback_and_no_wildcard_origins() {
        let jwks = |url: &'static str| {
            Env::from_pairs([
                ("TABLE_NAME", "t"),
                ("JWKS_URL", url),
                ("JWT_ISSUER", "i"),
                ("JWT_AUDIENCE", "a"),
            ])
        };
        for bad in [
            "http://evil",
            "http://127.0.0.1.evil.example/jwks",
            "ftp://127.0.0.1/jwks",
        ] {
            let err = HttpSettings::from_env(&jwks(bad)).unwrap_err().to_string();
            assert!(err.contains("JWKS_URL"), "{bad}: {err}");
        }
        for good in [
            "https://idp.example.com/.well-known/jwks.json",
            "http://127.0.0.1:9000/jwks",
        ] {
            assert!(HttpSettings::from_env(&jwks(good)).is_ok(), "{good}");
        }
        for bad in ["*", "https://*.example.com", "https://app.example.com/path"] {
            let env = Env::from_pairs([
                ("TABLE_NAME", "t"),
                ("AUTH_MODE", "local"),
                ("CORS_ALLOWED_ORIGINS", bad),
            ]);
            assert!(HttpSettings::from_env(&env).is_err(), "{bad}");
        }
    }
}
