use problem::Problem;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("no such member in this organization")]
    MemberNotFound,
    #[error(transparent)]
    Denied(#[from] auth::Denied),
    #[error("your role does not allow this change to this member")]
    NotAllowed,
    #[error("an organization must keep at least one owner: make another member owner first")]
    LastOwner,
    #[error("the member changed while this request ran; read it again and retry")]
    Conflict,
    #[error("{0}: {1}")]
    InvalidField(&'static str, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TeamError> for Problem {
    fn from(e: TeamError) -> Self {
        match e {
            TeamError::MemberNotFound => Problem::not_found(e.to_string()),
            TeamError::Denied(denied) => denied.into(),
            TeamError::NotAllowed => Problem::forbidden("forbidden", e.to_string()),
            TeamError::LastOwner => Problem::conflict("last_owner", e.to_string()),
            TeamError::Conflict => Problem::conflict("conflict", e.to_string()),
            TeamError::InvalidField(field, message) => {
                Problem::validation(vec![problem::FieldError::new(field, message)])
            }
            TeamError::Store(e) => e.into(),
        }
    }
}
