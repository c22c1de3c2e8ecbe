//! Reading request parameters as Stripe does: unknown ones refused, strings where Stripe takes
//! strings, integers and booleans parsed from their form encoding, `metadata` merged.

use serde_json::{Map, Value};

use crate::error::StripeError;

/// Refuses any parameter not in `known` (`expand` is always known).
pub fn only(params: &Value, known: &[&str]) -> Result<(), StripeError> {
    if let Some(map) = params.as_object() {
        for name in map.keys() {
            if name != "expand" && !known.contains(&name.as_str()) {
                return Err(StripeError::unknown_param(name));
            }
        }
    }
    Ok(())
}

/// The parameters every list takes (read by [`page`]).
const PAGING: [&str; 3] = ["limit", "starting_after", "ending_before"];

/// Refuses any parameter of a list request but paging and the list's own `filters`.
pub fn only_listing(params: &Value, filters: &[&str]) -> Result<(), StripeError> {
    let known: Vec<&str> = PAGING.iter().chain(filters).copied().collect();
    only(params, &known)
}

/// Refuses any key of the nested object `params[name]` not in `known`.
pub fn only_in(params: &Value, name: &str, known: &[&str]) -> Result<(), StripeError> {
    if let Some(map) = params[name].as_object() {
        for key in map.keys() {
            if !known.contains(&key.as_str()) {
                return Err(StripeError::unknown_param(&format!("{name}[{key}]")));
            }
        }
    }
    Ok(())
}

pub fn string<'a>(params: &'a Value, name: &str) -> Result<Option<&'a str>, StripeError> {
    match &params[name] {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s.as_str())),
        _ => Err(StripeError::invalid_param(
            name,
            format!("Invalid string: {name}"),
        )),
    }
}

pub fn required<'a>(params: &'a Value, name: &str) -> Result<&'a str, StripeError> {
    string(params, name)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| StripeError::missing(name))
}

pub fn integer(params: &Value, name: &str) -> Result<Option<i64>, StripeError> {
    match string(params, name)? {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| StripeError::invalid_param(name, format!("Invalid integer: {s}"))),
    }
}

pub fn boolean(params: &Value, name: &str) -> Result<Option<bool>, StripeError> {
    match string(params, name)? {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(s) => Err(StripeError::invalid_param(
            name,
            format!("Invalid boolean: {s}"),
        )),
    }
}

/// One of `allowed`, or a 400 naming them.
pub fn one_of<'a>(
    params: &'a Value,
    name: &str,
    allowed: &[&str],
) -> Result<Option<&'a str>, StripeError> {
    match string(params, name)? {
        None => Ok(None),
        Some(value) if allowed.contains(&value) => Ok(Some(value)),
        Some(value) => Err(StripeError::invalid_param(
            name,
            format!(
                "Invalid {name}: must be one of {}; got '{value}'",
                allowed.join(", ")
            ),
        )),
    }
}

/// Applies `metadata[k]=v` to `target` as Stripe does: an empty value removes the key, and
/// `metadata=` (empty) clears all of it. Keys at most 40 characters, values at most 500, 50 keys.
pub fn merge_metadata(target: &mut Value, params: &Value) -> Result<(), StripeError> {
    let current = target
        .as_object_mut()
        .ok_or_else(|| StripeError::invalid_param("metadata", "Invalid object"))?;
    match &params["metadata"] {
        Value::Null => {}
        Value::String(s) if s.is_empty() => current.clear(),
        Value::Object(changes) => {
            for (key, value) in changes {
                let value = value.as_str().ok_or_else(|| {
                    StripeError::invalid_param("metadata", "Metadata values must be strings")
                })?;
                if key.chars().count() > 40 || value.chars().count() > 500 {
                    return Err(StripeError::invalid_param(
                        "metadata",
                        "Metadata keys are at most 40 characters and values at most 500",
                    ));
                }
                if value.is_empty() {
                    current.remove(key);
                } else {
                    current.insert(key.clone(), Value::String(value.to_owned()));
                }
            }
            if current.len() > 50 {
                return Err(StripeError::invalid_param(
                    "metadata",
                    "Metadata has at most 50 keys",
                ));
            }
        }
        _ => return Err(StripeError::invalid_param("metadata", "Invalid object")),
    }
    Ok(())
}

/// A page of a list, Stripe's way: `limit` (1–100, default 10), `starting_after`,
/// `ending_before`; items newest first.
pub fn page(items: Vec<Value>, params: &Value, url: &str) -> Result<Value, StripeError> {
    let limit = integer(params, "limit")?.unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(StripeError::invalid_param(
            "limit",
            "This value must be between 1 and 100.",
        ));
    }
    let limit = limit as usize;
    let position = |name: &str| -> Result<Option<usize>, StripeError> {
        match string(params, name)? {
            None | Some("") => Ok(None),
            Some(id) => items
                .iter()
                .position(|item| item["id"] == id)
                .map(Some)
                .ok_or_else(|| StripeError::missing_resource("object", id, name)),
        }
    };
    let (data, has_more) = if let Some(after) = position("starting_after")? {
        let rest = &items[after + 1..];
        (
            rest.iter().take(limit).cloned().collect::<Vec<_>>(),
            rest.len() > limit,
        )
    } else if let Some(before) = position("ending_before")? {
        let start = before.saturating_sub(limit);
        (items[start..before].to_vec(), start > 0)
    } else {
        (
            items.iter().take(limit).cloned().collect(),
            items.len() > limit,
        )
    };
    let mut list = Map::new();
    list.insert("object".into(), Value::String("list".into()));
    list.insert("data".into(), Value::Array(data));
    list.insert("has_more".into(), Value::Bool(has_more));
    list.insert("url".into(), Value::String(url.into()));
    Ok(Value::Object(list))
}
