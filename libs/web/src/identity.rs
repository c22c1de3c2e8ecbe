//! Extractors that authenticate the caller and load their request context.

use auth::{Authenticator, Caller, Claims, ContextError, ContextLoader, OrgMember};
use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use problem::Problem;

/// Token verification and context loading, built once per cold start.
#[derive(Clone)]
pub struct Identity {
    authenticator: Authenticator,
    contexts: ContextLoader,
}

impl Identity {
    pub fn new(authenticator: Authenticator, contexts: ContextLoader) -> Self {
        Self {
            authenticator,
            contexts,
        }
    }

    /// Token verification per the settings, contexts read from `store`.
    pub fn from_settings(
        auth: &config::AuthSettings,
        store: store::Store,
        clock: clock::Clock,
    ) -> Self {
        Self::new(
            Authenticator::from_settings(auth, clock.clone()),
            ContextLoader::new(store, clock),
        )
    }

    pub fn contexts(&self) -> &ContextLoader {
        &self.contexts
    }

    async fn claims(&self, parts: &Parts) -> Result<Claims, Problem> {
        let header =
            match parts.headers.get(axum::http::header::AUTHORIZATION) {
                None => None,
                Some(value) => Some(value.to_str().map_err(|_| {
                    Problem::unauthorized("the Authorization header is not readable")
                })?),
            };
        Ok(self.authenticator.verify_header(header).await?)
    }
}

/// A verified token, nothing loaded yet.
pub struct Verified(pub Claims);

/// The authenticated caller (user record loaded, created on first sight).
pub struct Authenticated(pub Caller);

/// The caller acting in their active organization: `X-Org-Id`, else the token's `org_id`.
/// 400 `org_required` without one, 403 when not a member.
pub struct ActiveOrg(pub OrgMember);

impl<S> FromRequestParts<S> for Verified
where
    Identity: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        Ok(Self(Identity::from_ref(state).claims(parts).await?))
    }
}

impl<S> FromRequestParts<S> for Authenticated
where
    Identity: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let identity = Identity::from_ref(state);
        let claims = identity.claims(parts).await?;
        Ok(Self(identity.contexts.caller(claims).await?))
    }
}

impl<S> FromRequestParts<S> for ActiveOrg
where
    Identity: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = Problem;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Problem> {
        let identity = Identity::from_ref(state);
        let claims = identity.claims(parts).await?;
        let header = match parts.headers.get("x-org-id") {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .map_err(|_| Problem::from(ContextError::InvalidOrgId))?
                    .to_owned(),
            ),
        };
        let org_id = header
            .or_else(|| claims.org_id.clone())
            .ok_or(ContextError::OrgRequired)?;
        Ok(Self(identity.contexts.org_member(claims, &org_id).await?))
    }
}
