//! Org API keys: the record under the organization, and the global lookup by secret hash.

use super::{Key, OrgId, Partition, org_items, org_partition};

pub(super) const API_KEY: &str = "API_KEY#";
/// The partition prefix of the lookup items (the same spelling as the records' sort keys).
pub(super) const SECRET: &str = "API_KEY#";
const SECRET_SORT: &str = "API_KEY";

/// An organization's API key (name, prefix, creator); the secret itself is never stored.
pub fn api_key(org: OrgId<'_>, key_id: &str) -> Key {
    Key::new(org_partition(org), format!("{API_KEY}{key_id}"))
}

pub fn api_keys(org: OrgId<'_>) -> Partition {
    org_items(org, API_KEY)
}

/// Global lookup: an API key by the SHA-256 (hex) of its secret, naming its organization. Written
/// and deleted in the same transaction as [`api_key`].
pub fn api_key_secret(secret_hash: &str) -> Key {
    Key::new(format!("{SECRET}{secret_hash}"), SECRET_SORT)
}
