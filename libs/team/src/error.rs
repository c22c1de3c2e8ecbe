use problem::Problem;
use store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("no such member in this organization")]
    MemberNotFound,
    #[error("no such invitation in this organization")]
    InvitationNotFound,
    #[error(transparent)]
    Denied(#[from] auth::Denied),
    #[error("your role does not allow this change to this member")]
    NotAllowed,
    #[error("your role may not invite, resend or revoke invitations for this role")]
    InvitationNotAllowed,
    #[error("an organization must keep at least one owner: make another member owner first")]
    LastOwner,
    #[error("the member changed while this request ran; read it again and retry")]
    Conflict,
    #[error(
        "the invitation changed while this request ran (resent, accepted or revoked); read it again and retry"
    )]
    InvitationChanged,
    #[error("this address is already a member of the organization")]
    AlreadyMember,
    #[error("this address already has a pending invitation: resend or revoke it")]
    AlreadyInvited,
    #[error("the invitation was already accepted: remove the member instead")]
    InvitationAccepted,
    #[error("only a pending invitation can be resent; invite the address again")]
    InvitationNotPending,
    #[error("the organization's plan has no free seat (members plus pending invitations)")]
    SeatLimitReached { limit: u32 },
    #[error("this invitation is no longer valid (expired, revoked, used or replaced)")]
    InvitationGone,
    #[error(
        "this invitation was sent to another email address: sign in with the invited address, verified"
    )]
    WrongEmail,
    #[error("{0}: {1}")]
    InvalidField(&'static str, &'static str),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

/// The standard mapping of an audited change's failures; rules with a label of their own are
/// matched by the use case before this.
impl From<audit::ChangeError> for TeamError {
    fn from(e: audit::ChangeError) -> Self {
        match e {
            e if e.actor_not_allowed() => Self::NotAllowed,
            audit::ChangeError::Rejected(_) | audit::ChangeError::Conflict => Self::Conflict,
            audit::ChangeError::Store(e) => Self::Store(e),
        }
    }
}

impl From<TeamError> for Problem {
    fn from(e: TeamError) -> Self {
        use problem::StatusCode;
        match e {
            TeamError::MemberNotFound | TeamError::InvitationNotFound => {
                Problem::not_found(e.to_string())
            }
            TeamError::Denied(denied) => denied.into(),
            TeamError::NotAllowed | TeamError::InvitationNotAllowed => {
                Problem::forbidden("forbidden", e.to_string())
            }
            TeamError::WrongEmail => Problem::forbidden("email_mismatch", e.to_string()),
            TeamError::LastOwner => Problem::conflict("last_owner", e.to_string()),
            TeamError::Conflict | TeamError::InvitationChanged => {
                Problem::conflict("conflict", e.to_string())
            }
            TeamError::AlreadyMember => Problem::conflict("already_member", e.to_string()),
            TeamError::AlreadyInvited => Problem::conflict("already_invited", e.to_string()),
            TeamError::InvitationAccepted => {
                Problem::conflict("invitation_accepted", e.to_string())
            }
            TeamError::InvitationNotPending => {
                Problem::conflict("invitation_not_pending", e.to_string())
            }
            TeamError::SeatLimitReached { limit } => Problem::new(
                StatusCode::PAYMENT_REQUIRED,
                "seat_limit_reached",
                format!("{e}: the limit is {limit}; upgrade the plan or revoke an invitation"),
            ),
            TeamError::InvitationGone => {
                Problem::new(StatusCode::GONE, "invitation_gone", e.to_string())
            }
            TeamError::InvalidField(field, message) => {
                Problem::validation(vec![problem::FieldError::new(field, message)])
            }
            TeamError::Store(e) => e.into(),
            TeamError::Internal(detail) => {
                tracing::error!(error = %detail, "team failure");
                Problem::internal()
            }
        }
    }
}
