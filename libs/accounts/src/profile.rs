//! The caller's own profile: `GET /v1/me` and `PATCH /v1/me`.

use auth::Caller;
use auth::records::UserRecord;
use serde::{Deserialize, Deserializer, Serialize};
use store::{Store, Update, keys};
use utoipa::ToSchema;
use validator::{Validate, ValidationError, ValidationErrors};

use crate::AccountsError;
use crate::validation::{display_name, https_url, job_title};

/// Preferences are a small JSON object kept on the user record.
const PREFERENCES_MAX_BYTES: usize = 16 * 1024;
const PREFERENCES_MAX_DEPTH: usize = 8;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Profile {
    /// The token's `sub`.
    pub id: String,
    pub email: Option<String>,
    pub name: Option<String>,
    pub avatar_url: Option<String>,
    pub job_title: Option<String>,
    /// Free-form UI preferences.
    #[schema(value_type = Object)]
    pub preferences: serde_json::Map<String, serde_json::Value>,
    /// RFC 3339, UTC; refreshed at most once a minute.
    pub last_active_at: String,
    pub created_at: String,
}

impl From<&UserRecord> for Profile {
    fn from(user: &UserRecord) -> Self {
        Self {
            id: user.id.clone(),
            email: user.email.clone(),
            name: user.name.clone(),
            avatar_url: user.avatar_url.clone(),
            job_title: user.job_title.clone(),
            preferences: user.preferences.clone(),
            last_active_at: clock::rfc3339(user.last_active_at),
            created_at: clock::rfc3339(user.created_at),
        }
    }
}

/// Changes to the caller's profile. Absent fields stay as they are; `null` clears `avatar_url`
/// and `job_title`. `preferences` is merged key by key, and a key set to `null` is removed.
#[derive(Clone, Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// 1–100 characters.
    #[schema(value_type = Option<text::Name>)]
    pub name: Option<String>,
    /// An https URL of at most 2048 characters, or null to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 2048, pattern = "^https://[^\\s/?#]+[^\\s]*$")]
    pub avatar_url: Option<Option<String>>,
    /// At most 100 characters, or null to remove it.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 100, pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$")]
    pub job_title: Option<Option<String>>,
    /// Merged into the stored preferences key by key; a key set to `null` is removed, and
    /// `null` for the whole field changes nothing. At most 16 KiB of JSON, both as sent and
    /// once merged; nested at most 8 levels; no empty keys; numbers 0 or of magnitude 1e-130
    /// to below 1e126 (what DynamoDB stores).
    #[schema(value_type = Option<Object>)]
    pub preferences: Option<serde_json::Map<String, serde_json::Value>>,
}

/// Tells a field sent as `null` (`Some(None)`) from one not sent at all (`None`).
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

/// What DynamoDB can store: numbers of magnitude 1e-130 to below 1e126 (and zero), and maps
/// whose keys are not empty.
fn storable_numbers(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Number(n) => n
            .as_f64()
            .is_some_and(|x| x == 0.0 || (x.is_finite() && (1e-130..1e126).contains(&x.abs()))),
        serde_json::Value::Object(map) => map
            .iter()
            .all(|(k, v)| !k.is_empty() && storable_numbers(v)),
        serde_json::Value::Array(items) => items.iter().all(storable_numbers),
        _ => true,
    }
}

fn preferences_too_large(preferences: &serde_json::Map<String, serde_json::Value>) -> bool {
    serde_json::to_vec(preferences).map_or(true, |v| v.len() > PREFERENCES_MAX_BYTES)
}

fn depth(value: &serde_json::Value) -> usize {
    match value {
        serde_json::Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        serde_json::Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

impl Validate for ProfilePatch {
    fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::new();
        let mut check = |field: &'static str, result: Result<(), ValidationError>| {
            if let Err(e) = result {
                errors.add(field, e);
            }
        };
        if let Some(name) = &self.name {
            check("name", display_name(name));
        }
        if let Some(Some(url)) = &self.avatar_url {
            check("avatar_url", https_url(url));
        }
        if let Some(Some(title)) = &self.job_title {
            check("job_title", job_title(title));
        }
        if let Some(preferences) = &self.preferences {
            let as_value = serde_json::Value::Object(preferences.clone());
            if serde_json::to_vec(&as_value).map_or(true, |v| v.len() > PREFERENCES_MAX_BYTES) {
                check(
                    "preferences",
                    Err(ValidationError::new("too_large")
                        .with_message("must be at most 16 KiB of JSON".into())),
                );
            } else if !storable_numbers(&as_value) {
                check(
                    "preferences",
                    Err(ValidationError::new("number_range")
                        .with_message("keys must not be empty, and numbers must be 0 or of magnitude 1e-130 to 1e125".into())),
                );
            } else if depth(&as_value) > PREFERENCES_MAX_DEPTH {
                check(
                    "preferences",
                    Err(ValidationError::new("too_deep")
                        .with_message("must nest at most 8 levels".into())),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }
}

impl ProfilePatch {
    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.avatar_url.is_none()
            && self.job_title.is_none()
            && self.preferences.is_none()
    }
}

/// Applies a validated patch to the caller's profile in one write.
pub async fn update_profile(
    store: &Store,
    caller: &Caller,
    patch: ProfilePatch,
) -> Result<Profile, AccountsError> {
    if patch.is_empty() {
        return Ok(Profile::from(&caller.user));
    }
    let mut update =
        Update::new(keys::user_profile(keys::UserId(caller.user_id()))).require_exists();
    if let Some(name) = &patch.name {
        update = update.set("name", &name.trim());
    }
    if let Some(avatar_url) = &patch.avatar_url {
        update = update.set("avatar_url", avatar_url);
    }
    if let Some(title) = &patch.job_title {
        let title = title.as_deref().map(str::trim).filter(|t| !t.is_empty());
        update = update.set("job_title", &title);
    }
    if let Some(changes) = patch.preferences {
        let mut preferences = caller.user.preferences.clone();
        for (key, value) in changes {
            if value.is_null() {
                preferences.remove(&key);
            } else {
                preferences.insert(key, value);
            }
        }
        // The patch was bounded; the merged whole must be too.
        if preferences_too_large(&preferences) {
            return Err(AccountsError::Invalid(vec![problem::FieldError::new(
                "preferences",
                "must be at most 16 KiB of JSON once merged with the stored preferences",
            )]));
        }
        update = update.set("preferences", &preferences);
    }
    let user: UserRecord = store.update(update).await?;
    Ok(Profile::from(&user))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> Result<ProfilePatch, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn null_clears_and_absence_keeps() {
        let p = patch(r#"{"avatar_url": null}"#).unwrap();
        assert_eq!(p.avatar_url, Some(None));
        assert_eq!(p.job_title, None);
        assert!(p.validate().is_ok());
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(patch(r#"{"nickname": "x"}"#).is_err());
    }

    #[test]
    fn every_bad_field_is_reported() {
        let p = patch(&format!(
            r#"{{"name": "", "avatar_url": "http://x", "job_title": "{}"}}"#,
            "t".repeat(101)
        ))
        .unwrap();
        let errors = p.validate().unwrap_err();
        let fields: std::collections::BTreeSet<_> = errors
            .field_errors()
            .keys()
            .map(|k| k.to_string())
            .collect();
        assert_eq!(
            fields,
            ["avatar_url", "job_title", "name"].map(String::from).into()
        );
    }

    #[test]
    fn preferences_are_bounded() {
        let big = format!(r#"{{"preferences": {{"k": "{}"}}}}"#, "x".repeat(17 * 1024));
        assert!(patch(&big).unwrap().validate().is_err());
        let deep = format!(
            r#"{{"preferences": {}1{}}}"#,
            r#"{"a":"#.repeat(9),
            "}".repeat(9)
        );
        assert!(patch(&deep).unwrap().validate().is_err());
        assert!(
            patch(r#"{"preferences": {"theme": "dark"}}"#)
                .unwrap()
                .validate()
                .is_ok()
        );
    }

    #[test]
    fn preferences_hold_only_what_dynamodb_stores() {
        for bad in [
            r#"{"preferences": {"k": [1e300]}}"#,
            r#"{"preferences": {"k": -1e200}}"#,
            r#"{"preferences": {"k": 1e-200}}"#,
            r#"{"preferences": {"": true}}"#,
            r#"{"preferences": {"a": {"": 1}}}"#,
        ] {
            assert!(patch(bad).unwrap().validate().is_err(), "{bad}");
        }
        let fine = r#"{"preferences": {"k": 0, "j": -2.5, "i": 1e100, "nested": {"x": [1, "y"]}}}"#;
        assert!(patch(fine).unwrap().validate().is_ok());
    }
}
