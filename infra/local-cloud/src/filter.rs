//! Lambda's event filtering (`FilterCriteria`), for the subset of the pattern language this
//! project's templates use. A record passes when any filter matches it; a filter matches when
//! every field it names matches. A field's condition is a nested pattern (an object) or a list
//! of alternatives: a literal (string, number, boolean, null), `{"exists": bool}`,
//! `{"prefix": "..."}` or `{"anything-but": literal or [literals]}`. Anything else is refused
//! when the local cloud starts, so a template never relies on a filter evaluated wrongly here.

use serde_json::Value;

#[derive(Clone, Debug)]
pub struct Filters(Vec<Value>);

fn check(pattern: &Value, at: &str) -> Result<(), String> {
    let fields = pattern
        .as_object()
        .ok_or_else(|| format!("{at}: a pattern is a JSON object"))?;
    for (name, condition) in fields {
        let at = format!("{at}.{name}");
        match condition {
            Value::Object(_) => check(condition, &at)?,
            Value::Array(alternatives) if !alternatives.is_empty() => {
                for alternative in alternatives {
                    match alternative {
                        Value::Object(operator) => {
                            match operator.iter().next().map(|(k, v)| (k.as_str(), v)) {
                                Some(("exists", Value::Bool(_))) if operator.len() == 1 => {}
                                Some(("prefix", Value::String(_))) if operator.len() == 1 => {}
                                Some(("anything-but", _)) if operator.len() == 1 => {}
                                _ => {
                                    return Err(format!(
                                        "{at}: unsupported operator {alternative}"
                                    ));
                                }
                            }
                        }
                        Value::Array(_) => return Err(format!("{at}: nested list")),
                        _ => {}
                    }
                }
            }
            _ => {
                return Err(format!(
                    "{at}: a condition is an object or a non-empty list"
                ));
            }
        }
    }
    Ok(())
}

fn equal(literal: &Value, value: &Value) -> bool {
    match (literal, value) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        _ => literal == value,
    }
}

/// Whether `value` (absent: `None`) satisfies one alternative of a field's list.
fn alternative_matches(alternative: &Value, value: Option<&Value>) -> bool {
    // A list value matches when any of its elements does (Lambda's rule for arrays).
    if let Some(Value::Array(elements)) = value {
        return elements
            .iter()
            .any(|e| alternative_matches(alternative, Some(e)));
    }
    match alternative {
        Value::Object(operator) => match operator.iter().next().map(|(k, v)| (k.as_str(), v)) {
            Some(("exists", Value::Bool(wanted))) => value.is_some() == *wanted,
            Some(("prefix", Value::String(prefix))) => value
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with(prefix.as_str())),
            Some(("anything-but", excluded)) => value.is_some_and(|v| match excluded {
                Value::Array(list) => !list.iter().any(|x| equal(x, v)),
                single => !equal(single, v),
            }),
            _ => false,
        },
        literal => value.is_some_and(|v| equal(literal, v)),
    }
}

fn pattern_matches(pattern: &Value, record: &Value) -> bool {
    pattern
        .as_object()
        .into_iter()
        .flatten()
        .all(|(name, condition)| {
            let value = record.get(name);
            match condition {
                Value::Object(_) => value.is_some_and(|v| pattern_matches(condition, v)),
                Value::Array(alternatives) => {
                    alternatives.iter().any(|a| alternative_matches(a, value))
                }
                _ => false,
            }
        })
}

impl Filters {
    /// Parses `FilterCriteria.Filters[].Pattern` strings; an empty list lets everything pass.
    pub fn parse(patterns: &[String]) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for (i, text) in patterns.iter().enumerate() {
            let pattern: Value =
                serde_json::from_str(text).map_err(|e| format!("filter {i} is not JSON: {e}"))?;
            check(&pattern, &format!("filter {i}"))?;
            parsed.push(pattern);
        }
        Ok(Self(parsed))
    }

    pub fn pass(&self, record: &Value) -> bool {
        self.0.is_empty() || self.0.iter().any(|p| pattern_matches(p, record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filters(patterns: &[Value]) -> Filters {
        Filters::parse(&patterns.iter().map(Value::to_string).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn the_templates_outbox_filter_passes_marked_inserts_only() {
        let f = filters(&[json!({
            "eventName": ["INSERT"],
            "dynamodb": { "NewImage": { "outbox": { "S": [{ "exists": true }] } } }
        })]);
        let record =
            |name: &str, image: Value| json!({"eventName": name, "dynamodb": {"NewImage": image}});
        assert!(f.pass(&record(
            "INSERT",
            json!({"outbox": {"S": "v1"}, "PK": {"S": "x"}})
        )));
        assert!(f.pass(&record("INSERT", json!({"outbox": {"S": "v2"}}))));
        assert!(!f.pass(&record("MODIFY", json!({"outbox": {"S": "v1"}}))));
        assert!(!f.pass(&record("INSERT", json!({"PK": {"S": "x"}}))));
        assert!(!f.pass(&record("INSERT", json!({"outbox": {"N": "1"}}))));
        assert!(!f.pass(&json!({"eventName": "REMOVE", "dynamodb": {}})));
    }

    #[test]
    fn literals_prefixes_exclusions_lists_and_alternative_filters() {
        let f = filters(&[
            json!({"a": [1, "x"], "b": [{"prefix": "ORG#"}]}),
            json!({"c": [{"anything-but": ["no", "never"]}]}),
        ]);
        assert!(f.pass(&json!({"a": 1.0, "b": "ORG#1"})));
        assert!(f.pass(&json!({"a": "x", "b": "ORG#"})));
        assert!(!f.pass(&json!({"a": 2, "b": "ORG#1"})));
        assert!(!f.pass(&json!({"a": 1, "b": "USER#1"})));
        assert!(f.pass(&json!({"c": "yes"})));
        assert!(!f.pass(&json!({"c": "no"})));
        assert!(!f.pass(&json!({})), "anything-but needs the field");
        assert!(
            f.pass(&json!({"a": [5, 1], "b": ["x", "ORG#2"]})),
            "lists match by element"
        );
        assert!(filters(&[json!({"d": [{"exists": false}]})]).pass(&json!({"e": 1})));
        assert!(filters(&[]).pass(&json!({"anything": true})));
    }

    #[test]
    fn unsupported_patterns_are_refused_at_start() {
        for bad in [
            json!({"a": [{"numeric": [">", 1]}]}),
            json!({"a": []}),
            json!({"a": "x"}),
            json!(["x"]),
            json!({"a": [[1]]}),
        ] {
            assert!(Filters::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
        assert!(Filters::parse(&["{not json".into()]).is_err());
    }
}
