//! Invitation tokens: 256 bits from the OS random generator, sent only in the email
//! (base64url) and stored only as their SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use store::keys;

use crate::TeamError;

const TOKEN_BYTES: usize = 32;

/// A new token (base64url, sent in the email) and its hash (stored).
pub(crate) fn new_token() -> Result<(String, String), TeamError> {
    let mut bytes = [0u8; TOKEN_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| TeamError::Internal(format!("the OS random generator failed: {e}")))?;
    Ok((URL_SAFE_NO_PAD.encode(bytes), keys::digest(&bytes)))
}

/// The stored hash of a token, if it is one that this code could have issued.
pub(crate) fn token_hash(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    (bytes.len() == TOKEN_BYTES).then(|| keys::digest(&bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_random_bits_and_only_their_hash_is_kept() {
        let (token, hash) = new_token().unwrap();
        assert_eq!(token.len(), 43, "32 bytes in unpadded base64url");
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(token_hash(&token).as_deref(), Some(hash.as_str()));
        assert_eq!(hash.len(), 64);
        assert!(!hash.contains(&token));
        let (other, _) = new_token().unwrap();
        assert_ne!(token, other);
        for bad in ["", "short", &format!("{token}A"), &token.replace('-', "+")] {
            if bad != token {
                assert_eq!(token_hash(bad), None, "{bad}");
            }
        }
    }
}
