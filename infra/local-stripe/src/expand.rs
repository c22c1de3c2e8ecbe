//! `expand[]`: replaces an id with the object it names (`latest_invoice`,
//! `latest_invoice.confirmation_secret`, `data.customer` in a list), at most four levels deep.

use serde_json::Value;

use crate::error::StripeError;
use crate::state::State;

const MAX_DEPTH: usize = 4;

/// The `expand` parameter's paths (`expand[]=a&expand[]=b.c`).
pub fn paths(params: &Value) -> Result<Vec<String>, StripeError> {
    match &params["expand"] {
        Value::Null => Ok(Vec::new()),
        Value::Array(items) => items
            .iter()
            .map(|item| {
                item.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| StripeError::invalid_param("expand", "Invalid array"))
            })
            .collect(),
        _ => Err(StripeError::invalid_param("expand", "Invalid array")),
    }
}

pub fn apply(state: &State, mut value: Value, paths: &[String]) -> Result<Value, StripeError> {
    for path in paths {
        let segments: Vec<&str> = path.split('.').collect();
        if segments.len() > MAX_DEPTH || segments.iter().any(|s| s.is_empty()) {
            return Err(StripeError::invalid_param(
                "expand",
                format!("You cannot expand more than {MAX_DEPTH} levels of a property ({path})."),
            ));
        }
        expand_at(state, &mut value, &segments, path)?;
    }
    Ok(value)
}

fn expand_at(
    state: &State,
    value: &mut Value,
    segments: &[&str],
    path: &str,
) -> Result<(), StripeError> {
    let Some((field, rest)) = segments.split_first() else {
        return Ok(());
    };
    let cannot = || {
        StripeError::invalid_param(
            "expand",
            format!("This property cannot be expanded ({path})."),
        )
    };
    let Some(object) = value.as_object_mut() else {
        return Err(cannot());
    };
    if object.get("object").and_then(Value::as_str) == Some("list") && *field == "data" {
        if let Some(Value::Array(items)) = object.get_mut("data") {
            for item in items {
                expand_at(state, item, rest, path)?;
            }
        }
        return Ok(());
    }
    let Some(child) = object.get_mut(*field) else {
        return Err(cannot());
    };
    if let Some(id) = child.as_str() {
        let expanded = state.get(id).cloned().ok_or_else(cannot)?;
        *child = expanded;
    }
    match child {
        Value::Null => Ok(()),
        Value::Array(items) => {
            for item in items {
                expand_at(state, item, rest, path)?;
            }
            Ok(())
        }
        _ => expand_at(state, child, rest, path),
    }
}
