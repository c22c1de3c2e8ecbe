//! Who is calling, and what they may do: JWT verification, the request context (user and
//! membership in one round trip), and the role table of the brief.

mod context;
mod jwt;
pub mod records;
pub mod roles;

pub use context::{
    ACTIVITY_WRITE_INTERVAL, Caller, ContextError, ContextLoader, Denied, OrgMember, parse_org_id,
};
pub use jwt::{
    AuthError, Authenticator, Claims, HttpJwks, JwksSource, bearer_token, is_usable_user_id,
    parse_jwks,
};
pub use roles::{Permission, Role, allows, role_in};
