//! One-click unsubscribe (RFC 8058): every notification email carries a link naming its
//! recipient, organization and type, signed with a key from configuration, so the public
//! unsubscribe route needs no login and a link can turn off only what it names.
//!
//! A token is `<payload>.<mac>`, both unpadded base64url: the payload is JSON
//! `{"v":1,"o":org,"u":user,"t":type,"e":expiry}`, the MAC an HMAC-SHA256 over a domain tag and
//! the payload's text. Tokens stay valid for [`VALIDITY`] (mail is read late); nothing is stored.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use clock::DateTime;
use hmac::{Hmac, KeyInit, Mac};
use notify::NotificationType;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use store::{Store, StoreError};

use crate::preferences::{ChannelsChange, Preferences, PreferencesChange, update_preferences};

/// How long an unsubscribe link works.
pub const VALIDITY: clock::Duration = clock::Duration::days(60);
/// The shortest signing key taken (bytes).
pub const MIN_KEY_BYTES: usize = 32;
/// Longer tokens are refused before any decoding.
pub const MAX_TOKEN_CHARS: usize = 1024;
/// The route the links point at (after the API's public base URL).
pub const PATH: &str = "/v1/notifications/unsubscribe";
/// Keeps these MACs apart from anything else the key might ever sign.
const DOMAIN: &[u8] = b"objecta.unsubscribe.v1\n";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Payload {
    v: u8,
    o: String,
    u: String,
    t: NotificationType,
    /// Expiry, epoch seconds.
    e: i64,
}

/// What a valid token names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsubscribe {
    pub org_id: String,
    pub user_id: String,
    pub kind: NotificationType,
    pub expires_at: DateTime,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadToken {
    #[error("the unsubscribe token is not well formed")]
    Malformed,
    #[error("the unsubscribe token's signature does not match")]
    Forged,
    #[error("the unsubscribe link has expired")]
    Expired,
}

#[derive(Debug, thiserror::Error)]
#[error("the unsubscribe signing key must have at least {MIN_KEY_BYTES} bytes")]
pub struct WeakKey;

/// Makes and checks unsubscribe links. Built once per cold start.
#[derive(Clone)]
pub struct UnsubscribeLinks {
    mac: Hmac<Sha256>,
    /// The API's public base URL, without a trailing `/`.
    base_url: String,
}

impl std::fmt::Debug for UnsubscribeLinks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnsubscribeLinks")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl UnsubscribeLinks {
    pub fn new(key: &[u8], base_url: &str) -> Result<Self, WeakKey> {
        if key.len() < MIN_KEY_BYTES {
            return Err(WeakKey);
        }
        let mac = Hmac::<Sha256>::new_from_slice(key).map_err(|_| WeakKey)?;
        Ok(Self {
            mac,
            base_url: base_url.trim_end_matches('/').to_owned(),
        })
    }

    fn signature(&self, payload: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(payload.as_bytes());
        mac
    }

    /// A token for `user` in `org` and `kind`, valid for [`VALIDITY`] from `now`.
    pub fn token(&self, org: &str, user: &str, kind: NotificationType, now: DateTime) -> String {
        let payload = Payload {
            v: 1,
            o: org.to_owned(),
            u: user.to_owned(),
            t: kind,
            e: (now + VALIDITY).unix_timestamp(),
        };
        let payload =
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&payload).expect("plain fields serialize"));
        let mac = URL_SAFE_NO_PAD.encode(self.signature(&payload).finalize().into_bytes());
        format!("{payload}.{mac}")
    }

    /// The link of a token: `https://<api>/v1/notifications/unsubscribe?token=<token>`.
    pub fn url(&self, token: &str) -> String {
        format!("{}{PATH}?token={token}", self.base_url)
    }

    /// What `token` names, if this key signed it and it has not expired.
    pub fn verify(&self, token: &str, now: DateTime) -> Result<Unsubscribe, BadToken> {
        if token.len() > MAX_TOKEN_CHARS {
            return Err(BadToken::Malformed);
        }
        let (payload, mac) = token.split_once('.').ok_or(BadToken::Malformed)?;
        let mac = URL_SAFE_NO_PAD
            .decode(mac)
            .map_err(|_| BadToken::Malformed)?;
        // Constant time; before the payload is even decoded.
        self.signature(payload)
            .verify_slice(&mac)
            .map_err(|_| BadToken::Forged)?;
        let payload: Payload = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .ok_or(BadToken::Malformed)?;
        if payload.v != 1 {
            return Err(BadToken::Malformed);
        }
        let expires_at =
            DateTime::from_unix_timestamp(payload.e).map_err(|_| BadToken::Malformed)?;
        if expires_at <= now {
            return Err(BadToken::Expired);
        }
        Ok(Unsubscribe {
            org_id: payload.o,
            user_id: payload.u,
            kind: payload.t,
            expires_at,
        })
    }
}

/// Turns email off for the type the token names (idempotent: the same write each time) and
/// answers the recipient's preferences after it.
pub async fn unsubscribe(store: &Store, what: &Unsubscribe) -> Result<Preferences, StoreError> {
    let change = PreferencesChange {
        types: [(
            what.kind,
            ChannelsChange {
                in_app: None,
                email: Some(false),
            },
        )]
        .into(),
    };
    update_preferences(store, &what.org_id, &what.user_id, &change).await
}

/// Why a one-click body is refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BadBody {
    #[error("send the body as application/x-www-form-urlencoded or multipart/form-data")]
    MediaType,
    #[error("the body must be exactly List-Unsubscribe=One-Click")]
    NotOneClick,
}

/// The form field RFC 8058 posts, and its one value.
const FIELD: &str = "List-Unsubscribe";
const ONE_CLICK: &str = "One-Click";

/// Checks the body a mail client posts for a one-click unsubscribe (RFC 8058 §3.1): the single
/// field `List-Unsubscribe=One-Click`, form-encoded (`application/x-www-form-urlencoded`) or as
/// the one part of `multipart/form-data`. Nothing else is taken.
pub fn check_one_click(content_type: Option<&str>, body: &[u8]) -> Result<(), BadBody> {
    let content_type = content_type.ok_or(BadBody::MediaType)?;
    let mut parameters = content_type.split(';');
    let essence = parameters
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match essence.as_str() {
        "application/x-www-form-urlencoded" => {
            let text = std::str::from_utf8(body).map_err(|_| BadBody::NotOneClick)?;
            let pairs: Vec<_> = form_urlencoded::parse(text.trim_end().as_bytes()).collect();
            match pairs.as_slice() {
                [(name, value)] if name == FIELD && value == ONE_CLICK => Ok(()),
                _ => Err(BadBody::NotOneClick),
            }
        }
        "multipart/form-data" => {
            let boundary = parameters
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("boundary"))
                .map(|(_, value)| value.trim().trim_matches('"'))
                .filter(|b| !b.is_empty() && b.len() <= 70)
                .ok_or(BadBody::NotOneClick)?;
            multipart_one_click(body, boundary)
        }
        _ => Err(BadBody::MediaType),
    }
}

/// A `multipart/form-data` body of exactly one part, `name="List-Unsubscribe"`, value
/// `One-Click`.
fn multipart_one_click(body: &[u8], boundary: &str) -> Result<(), BadBody> {
    let text = std::str::from_utf8(body).map_err(|_| BadBody::NotOneClick)?;
    let delimiter = format!("--{boundary}");
    let mut sections = text.split(delimiter.as_str());
    // Before the first delimiter: a preamble, ignored; after the last (`--`): the end.
    sections.next();
    let parts: Vec<&str> = sections.collect();
    let [part, end] = parts.as_slice() else {
        return Err(BadBody::NotOneClick);
    };
    if !end.starts_with("--") {
        return Err(BadBody::NotOneClick);
    }
    let part = part.strip_prefix("\r\n").ok_or(BadBody::NotOneClick)?;
    let (headers, value) = part.split_once("\r\n\r\n").ok_or(BadBody::NotOneClick)?;
    let named = headers.split("\r\n").any(|header| {
        header.split_once(':').is_some_and(|(name, value)| {
            name.trim().eq_ignore_ascii_case("content-disposition")
                && value.split(';').map(str::trim).next() == Some("form-data")
                && value
                    .split(';')
                    .map(str::trim)
                    .any(|p| p == format!("name=\"{FIELD}\""))
        })
    });
    if named && value.strip_suffix("\r\n") == Some(ONE_CLICK) {
        Ok(())
    } else {
        Err(BadBody::NotOneClick)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn links() -> UnsubscribeLinks {
        UnsubscribeLinks::new(KEY, "https://api.example.com/").unwrap()
    }

    #[test]
    fn a_token_names_what_it_was_made_for_until_it_expires() {
        let now = datetime!(2026-12-01 10:00:00 UTC);
        let token = links().token("01ORG", "auth0|a.b#c", NotificationType::Team, now);
        assert!(
            token
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        );
        let what = links()
            .verify(&token, now + clock::Duration::days(59))
            .unwrap();
        assert_eq!(
            (what.org_id.as_str(), what.user_id.as_str(), what.kind),
            ("01ORG", "auth0|a.b#c", NotificationType::Team)
        );
        assert_eq!(
            links().verify(&token, now + clock::Duration::days(60)),
            Err(BadToken::Expired)
        );
        assert_eq!(
            links().url(&token),
            format!("https://api.example.com/v1/notifications/unsubscribe?token={token}")
        );
    }

    #[test]
    fn a_changed_or_foreign_token_is_refused() {
        let now = datetime!(2026-12-01 10:00:00 UTC);
        let token = links().token("01ORG", "ada", NotificationType::Billing, now);
        let (payload, mac) = token.split_once('.').unwrap();
        // Another organization in the payload, the old MAC.
        let forged_payload = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap())
                .unwrap()
                .replace("01ORG", "02ORG"),
        );
        assert_eq!(
            links().verify(&format!("{forged_payload}.{mac}"), now),
            Err(BadToken::Forged)
        );
        let other =
            UnsubscribeLinks::new(b"another key, also 32 bytes long!", "https://x").unwrap();
        assert_eq!(other.verify(&token, now), Err(BadToken::Forged));
        for bad in [
            "",
            ".",
            "abc",
            &format!("{token}x"),
            &format!("{token}.x"),
            &format!("{payload}.{mac}="),
            &"a".repeat(MAX_TOKEN_CHARS + 1),
        ] {
            assert!(links().verify(bad, now).is_err(), "{bad}");
        }
        assert!(UnsubscribeLinks::new(b"short", "https://x").is_err());
    }

    #[test]
    fn only_the_one_click_field_is_taken() {
        let form = Some("application/x-www-form-urlencoded");
        assert_eq!(check_one_click(form, b"List-Unsubscribe=One-Click"), Ok(()));
        assert_eq!(
            check_one_click(
                Some("Application/X-WWW-Form-Urlencoded; charset=utf-8"),
                b"List-Unsubscribe=One-Click\r\n"
            ),
            Ok(())
        );
        for bad in [
            &b""[..],
            b"List-Unsubscribe=One-Click&List-Unsubscribe=One-Click",
            b"List-Unsubscribe=one-click",
            b"List-Unsubscribe=One-Click&x=1",
            b"{\"List-Unsubscribe\":\"One-Click\"}",
            b"List-Unsubscribe=One-Click\xff",
        ] {
            assert_eq!(
                check_one_click(form, bad),
                Err(BadBody::NotOneClick),
                "{bad:?}"
            );
        }
        assert_eq!(
            check_one_click(
                Some("application/json"),
                b"{\"List-Unsubscribe\":\"One-Click\"}"
            ),
            Err(BadBody::MediaType)
        );
        assert_eq!(
            check_one_click(None, b"List-Unsubscribe=One-Click"),
            Err(BadBody::MediaType)
        );

        let multipart = Some("multipart/form-data; boundary=XyZ");
        let part = |name: &str, value: &str| {
            format!(
                "--XyZ\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n--XyZ--\r\n"
            )
        };
        assert_eq!(
            check_one_click(multipart, part("List-Unsubscribe", "One-Click").as_bytes()),
            Ok(())
        );
        for bad in [
            part("List-Unsubscribe", "no"),
            part("Other", "One-Click"),
            format!("{}{}", part("List-Unsubscribe", "One-Click"), part("x", "y")),
            "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n".into(),
        ] {
            assert_eq!(check_one_click(multipart, bad.as_bytes()), Err(BadBody::NotOneClick), "{bad}");
        }
        assert_eq!(
            check_one_click(
                Some("multipart/form-data"),
                part("List-Unsubscribe", "One-Click").as_bytes()
            ),
            Err(BadBody::NotOneClick)
        );
    }
}
