//! Records of requests made with an `Idempotency-Key` (see [`crate::IdempotentRequest`]).

use super::{Key, OrgId, UserId, digest, org_partition, user_partition};

pub(super) const IDEMPOTENCY: &str = "IDEMPOTENCY#";

/// Whose `Idempotency-Key` it is: the caller, in the organization the request acts in (`None`
/// for routes outside one, such as creating an organization).
#[derive(Clone, Copy, Debug)]
pub struct ReplayScope<'a> {
    pub org: Option<OrgId<'a>>,
    pub caller: UserId<'a>,
}

/// Where a request's outcome is kept for a day: under the organization it acted in (tenant
/// data), or under the caller for routes outside one (a global lookup item). The sort key holds
/// a digest of the caller and the key, never the key itself.
pub fn request(scope: ReplayScope<'_>, header_key: &str) -> Key {
    let caller_and_key = digest(format!("{}\n{header_key}", scope.caller.0).as_bytes());
    let pk = match scope.org {
        Some(org) => org_partition(org),
        None => user_partition(scope.caller),
    };
    Key::new(pk, format!("{IDEMPOTENCY}{caller_and_key}"))
}
