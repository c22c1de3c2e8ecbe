//! Each member's notification preferences: for every type, whether it is shown in the app and
//! sent by email (all on by default). Stored as one boolean attribute per type and channel
//! (`billing_email`, ...), so a partial update is one UpdateItem of the attributes it names, and
//! two concurrent partial updates never undo each other.

use std::collections::BTreeMap;

use notify::NotificationType;
use serde::{Deserialize, Serialize};
use store::keys::{self, OrgId, UserId};
use store::{Store, StoreError, Update};

/// The stored attributes, read loosely (only the flags are looked at).
type Stored = std::collections::HashMap<String, serde_json::Value>;
use utoipa::ToSchema;

const ENTITY: &str = "notification_preferences";

/// Every type, in the order the API lists them.
pub const TYPES: [NotificationType; 6] = NotificationType::ALL;

/// The two channels of one type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Channels {
    pub in_app: bool,
    pub email: bool,
}

/// Every type's channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Preferences {
    #[schema(value_type = TypesView)]
    pub types: BTreeMap<NotificationType, Channels>,
}

/// The shape of `types` in an answer (for the OpenAPI document): all six, always.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct TypesView {
    system: Channels,
    billing: Channels,
    agent: Channels,
    workflow: Channels,
    team: Channels,
    kb: Channels,
}

/// The shape of `types` in a change (for the OpenAPI document): any of the six, no other.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TypesChange {
    system: Option<ChannelsChange>,
    billing: Option<ChannelsChange>,
    agent: Option<ChannelsChange>,
    workflow: Option<ChannelsChange>,
    team: Option<ChannelsChange>,
    kb: Option<ChannelsChange>,
}

impl Preferences {
    pub fn allows_in_app(&self, kind: NotificationType) -> bool {
        self.types.get(&kind).is_none_or(|c| c.in_app)
    }

    pub fn allows_email(&self, kind: NotificationType) -> bool {
        self.types.get(&kind).is_none_or(|c| c.email)
    }

    fn from_item(item: Option<&Stored>) -> Self {
        let flag = |name: String| {
            item.and_then(|i| i.get(&name))
                .and_then(serde_json::Value::as_bool)
                .unwrap_or(true)
        };
        let types = TYPES
            .into_iter()
            .map(|kind| {
                let name = kind.as_str();
                let channels = Channels {
                    in_app: flag(format!("{name}_in_app")),
                    email: flag(format!("{name}_email")),
                };
                (kind, channels)
            })
            .collect();
        Self { types }
    }
}

/// Part of the shape: any types, any of their channels.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferencesChange {
    #[serde(default)]
    #[schema(value_type = Option<TypesChange>)]
    pub types: BTreeMap<NotificationType, ChannelsChange>,
}

/// The body as it must be sent: a JSON object (serde would also take `[]` for a struct); a
/// `null` type or `types` counts as absent, as the schema allows.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChangeBody {
    #[serde(default)]
    types: Option<BTreeMap<NotificationType, Option<ChannelsChange>>>,
}

impl<'de> Deserialize<'de> for PreferencesChange {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let object = serde_json::Map::<String, serde_json::Value>::deserialize(deserializer)?;
        let body: ChangeBody = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(serde::de::Error::custom)?;
        let types = body
            .types
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(kind, channels)| channels.map(|c| (kind, c)))
            .collect();
        Ok(Self { types })
    }
}

/// The channels of one type a change names.
#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChannelsChange {
    pub in_app: Option<bool>,
    pub email: Option<bool>,
}

impl validator::Validate for PreferencesChange {
    fn validate(&self) -> Result<(), validator::ValidationErrors> {
        Ok(())
    }
}

/// A member's preferences (defaults where nothing was set).
pub async fn preferences(store: &Store, org: &str, user: &str) -> Result<Preferences, StoreError> {
    let item: Option<Stored> = store
        .get(&keys::notification_preferences(OrgId(org), UserId(user)))
        .await?;
    Ok(Preferences::from_item(item.as_ref()))
}

/// The preferences of each of `users` (at most 100), in their order: one BatchGetItem.
pub async fn preferences_of(
    store: &Store,
    org: &str,
    users: &[&str],
) -> Result<Vec<Preferences>, StoreError> {
    let keys: Vec<_> = users
        .iter()
        .map(|user| keys::notification_preferences(OrgId(org), UserId(user)))
        .collect();
    store
        .batch_get(&keys)
        .await?
        .into_iter()
        .map(|item| {
            let stored: Option<Stored> = item.map(store::from_item).transpose()?;
            Ok(Preferences::from_item(stored.as_ref()))
        })
        .collect()
}

/// Applies `change` (only what it names) and answers the whole.
pub async fn update_preferences(
    store: &Store,
    org: &str,
    user: &str,
    change: &PreferencesChange,
) -> Result<Preferences, StoreError> {
    let key = keys::notification_preferences(OrgId(org), UserId(user));
    let mut update = Update::new(key).set(keys::ENTITY, &ENTITY);
    let mut any = false;
    for (kind, channels) in &change.types {
        let name = kind.as_str();
        if let Some(on) = channels.in_app {
            update = update.set(&format!("{name}_in_app"), &on);
            any = true;
        }
        if let Some(on) = channels.email {
            update = update.set(&format!("{name}_email"), &on);
            any = true;
        }
    }
    if !any {
        return preferences(store, org, user).await;
    }
    let item: Stored = store.update(update).await?;
    Ok(Preferences::from_item(Some(&item)))
}
