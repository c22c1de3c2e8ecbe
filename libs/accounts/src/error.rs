use problem::Problem;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum AccountsError {
    #[error("organization not found")]
    OrganizationNotFound,
    #[error("the Idempotency-Key was already used with a different request")]
    IdempotencyKeyReused,
    #[error(transparent)]
    Denied(auth::Denied),
    /// A rule that needs stored state to check, e.g. the size of the merged preferences.
    #[error("the request is invalid")]
    Invalid(Vec<problem::FieldError>),
    /// An audited change failed in a way no accounts rule explains (standard answers).
    #[error(transparent)]
    Change(#[from] audit::ChangeError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<store::ReplayError> for AccountsError {
    fn from(e: store::ReplayError) -> Self {
        match e {
            store::ReplayError::KeyReused => Self::IdempotencyKeyReused,
            store::ReplayError::Store(e) => Self::Store(e),
        }
    }
}

impl From<AccountsError> for Problem {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::OrganizationNotFound => Problem::not_found(e.to_string()),
            AccountsError::Denied(denied) => denied.into(),
            AccountsError::IdempotencyKeyReused => {
                Problem::conflict("idempotency_key_reused", e.to_string())
            }
            AccountsError::Invalid(errors) => Problem::validation(errors),
            AccountsError::Change(e) => e.into(),
            AccountsError::Store(e) => e.into(),
        }
    }
}
