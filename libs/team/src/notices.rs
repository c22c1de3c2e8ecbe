//! What the team's changes tell people, as side effects recorded with the change (delivered by
//! the outbox relay). Texts are plain: the dispatcher escapes them where it renders them.

use auth::Role;
use notify::{Notice, NotificationType, Recipients, Severity};
use outbox::SideEffect;
use serde_json::Value;

fn notice(recipients: Recipients, title: &str, body: String, data: Value) -> SideEffect {
    SideEffect::Notify {
        recipients,
        notice: Notice {
            kind: NotificationType::Team,
            severity: Severity::Info,
            title: title.to_owned(),
            body,
            data,
            email_only: false,
        },
    }
}

fn to_user(user_id: &str) -> Recipients {
    Recipients::Users(vec![user_id.to_owned()])
}

/// Those who manage the organization's members.
fn to_managers() -> Recipients {
    Recipients::Roles(vec![Role::Owner, Role::Admin])
}

/// To the member whose role someone else changed.
pub fn role_changed(org_id: &str, user_id: &str, from: Role, to: Role, by: &str) -> SideEffect {
    notice(
        to_user(user_id),
        "Your role changed",
        format!("Your role in the organization is now {to}."),
        serde_json::json!({ "org_id": org_id, "from": from, "to": to, "by": by }),
    )
}

/// To the removed member, by email only: they can no longer read the organization.
pub fn you_were_removed(org_id: &str, user_id: &str, by: &str) -> SideEffect {
    let SideEffect::Notify {
        recipients,
        mut notice,
    } = notice(
        to_user(user_id),
        "You were removed",
        "You were removed from the organization.".to_owned(),
        serde_json::json!({ "org_id": org_id, "by": by }),
    )
    else {
        unreachable!("notice() builds a notification")
    };
    notice.email_only = true;
    SideEffect::Notify { recipients, notice }
}

/// To owners and admins, in the app: a member was removed, or left.
pub fn member_gone(org_id: &str, user_id: &str, who: &str, by: Option<&str>) -> SideEffect {
    let (title, body) = match by {
        Some(_) => (
            "Member removed",
            format!("{who} was removed from the organization."),
        ),
        None => ("Member left", format!("{who} left the organization.")),
    };
    notice(
        to_managers(),
        title,
        body,
        serde_json::json!({ "org_id": org_id, "user_id": user_id, "by": by }),
    )
}

/// To the inviter: their invitation was accepted.
pub fn invitation_accepted(
    org_id: &str,
    inviter: &str,
    invitation_id: &str,
    who: &str,
    user_id: &str,
    email: &str,
    role: Role,
) -> SideEffect {
    notice(
        to_user(inviter),
        "Invitation accepted",
        format!("{who} accepted your invitation and joined as {role}."),
        serde_json::json!({
            "org_id": org_id,
            "invitation_id": invitation_id,
            "user_id": user_id,
            "email": email,
            "role": role,
        }),
    )
}

/// Closes the member's open sockets in the organization (they can no longer read it).
pub fn close_connections(user_id: &str) -> SideEffect {
    SideEffect::CloseConnections {
        user_id: user_id.to_owned(),
    }
}
