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
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AccountsError> for Problem {
    fn from(e: AccountsError) -> Self {
        match e {
            AccountsError::OrganizationNotFound => Problem::not_found(e.to_string()),
            AccountsError::Denied(denied) => denied.into(),
            AccountsError::IdempotencyKeyReused => {
                Problem::conflict("idempotency_key_reused", e.to_string())
            }
            AccountsError::Store(StoreError::InvalidCursor) => {
                Problem::bad_request("invalid_cursor", "the cursor is not valid for this list")
            }
            AccountsError::Store(StoreError::Throttled | StoreError::TransactionConflict) => {
                Problem::unavailable("the service is busy; retry shortly")
            }
            AccountsError::Store(_) => Problem::internal(),
        }
    }
}
