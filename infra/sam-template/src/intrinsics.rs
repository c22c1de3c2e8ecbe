//! CloudFormation intrinsic functions: YAML short forms normalized to long JSON forms, and a
//! resolver that evaluates them against local names (table and queue names, function ARNs) and
//! parameter values.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::{Template, TemplateError, shape};

/// YAML to JSON, `!Tag value` to `{"Fn::Tag": value}` (`!Ref` to `{"Ref": ...}`, `!GetAtt A.B`
/// to `{"Fn::GetAtt": ["A", "B"]}`).
pub(crate) fn normalize(value: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(u) = n.as_u64() {
                json!(u)
            } else {
                json!(n.as_f64())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(normalize).collect()),
        Y::Mapping(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_owned(),
                    };
                    (key, normalize(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = normalize(tagged.value);
            match tag {
                "Ref" => json!({ "Ref": inner }),
                "Condition" => json!({ "Condition": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (resource, attribute) = s.split_once('.').unwrap_or((&s, ""));
                        json!({ "Fn::GetAtt": [resource, attribute] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

/// Evaluates intrinsics with local values.
pub struct Resolver {
    parameters: BTreeMap<String, String>,
    list_parameters: Vec<String>,
    conditions: Map<String, Value>,
    refs: BTreeMap<String, String>,
    attributes: BTreeMap<(String, String), String>,
    pub region: String,
    pub account: String,
}

impl Resolver {
    /// Parameters take their template defaults, then `overrides`.
    pub fn new(template: &Template, overrides: BTreeMap<String, String>) -> Self {
        let mut parameters = template.parameter_defaults();
        parameters.extend(overrides);
        let list_parameters = template
            .document
            .get("Parameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(_, p)| {
                p.get("Type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| t.starts_with("CommaDelimitedList") || t.starts_with("List<"))
            })
            .map(|(name, _)| name.clone())
            .collect();
        Self {
            parameters,
            list_parameters,
            conditions: template
                .document
                .get("Conditions")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            refs: BTreeMap::new(),
            attributes: BTreeMap::new(),
            region: "us-east-1".into(),
            account: "123456789012".into(),
        }
    }

    /// What `!Ref logical_id` stands for locally (a table name, a queue URL, ...).
    pub fn set_ref(&mut self, logical_id: &str, value: impl Into<String>) {
        self.refs.insert(logical_id.to_owned(), value.into());
    }

    /// What `!GetAtt logical_id.attribute` stands for locally.
    pub fn set_attribute(&mut self, logical_id: &str, attribute: &str, value: impl Into<String>) {
        self.attributes
            .insert((logical_id.to_owned(), attribute.to_owned()), value.into());
    }

    pub fn parameter(&self, name: &str) -> Option<&str> {
        self.parameters.get(name).map(String::as_str)
    }

    /// Resolves to a string (numbers and booleans print as in YAML; lists join with commas).
    pub fn string(&self, value: &Value) -> Result<String, TemplateError> {
        match self.value(value)? {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Array(items)) => Ok(items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .unwrap_or_else(|| v.to_string())
                })
                .collect::<Vec<_>>()
                .join(",")),
            Some(other) => Ok(other.to_string()),
            None => Err(shape("AWS::NoValue where a value is needed")),
        }
    }

    /// Resolves a list (a CommaDelimitedList parameter, an array, or a comma-separated string).
    pub fn list(&self, value: &Value) -> Result<Vec<String>, TemplateError> {
        match self.value(value)? {
            Some(Value::Array(items)) => items.iter().map(|v| self.string(v)).collect(),
            Some(Value::String(s)) => Ok(s
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()),
            Some(other) => Ok(vec![other.to_string()]),
            None => Ok(Vec::new()),
        }
    }

    pub fn condition(&self, name: &str) -> Result<bool, TemplateError> {
        let definition = self
            .conditions
            .get(name)
            .ok_or_else(|| shape(format!("unknown condition {name}")))?;
        self.truth(definition)
    }

    fn truth(&self, value: &Value) -> Result<bool, TemplateError> {
        match self.value(value)? {
            Some(Value::Bool(b)) => Ok(b),
            Some(Value::String(s)) => Ok(s == "true"),
            other => Err(shape(format!("not a condition: {other:?}"))),
        }
    }

    /// Resolves every intrinsic inside `value`; `None` is `AWS::NoValue`.
    pub fn value(&self, value: &Value) -> Result<Option<Value>, TemplateError> {
        let Value::Object(map) = value else {
            return Ok(Some(match value {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .map(|v| self.value(v))
                        .collect::<Result<Vec<_>, _>>()?
                        .into_iter()
                        .flatten()
                        .collect(),
                ),
                other => other.clone(),
            }));
        };
        if map.len() == 1 {
            let (key, argument) = map.iter().next().expect("one entry");
            match key.as_str() {
                "Ref" => {
                    return self.reference(
                        argument
                            .as_str()
                            .ok_or_else(|| shape("Ref of a non-string"))?,
                    );
                }
                "Condition" => {
                    let name = argument
                        .as_str()
                        .ok_or_else(|| shape("Condition of a non-string"))?;
                    return Ok(Some(Value::Bool(self.condition(name)?)));
                }
                "Fn::GetAtt" => {
                    let (resource, attribute) = match argument.as_array().map(Vec::as_slice) {
                        Some([r, a]) => (self.string(r)?, self.string(a)?),
                        _ => return Err(shape(format!("malformed GetAtt {argument}"))),
                    };
                    return self
                        .attributes
                        .get(&(resource.clone(), attribute.clone()))
                        .map(|v| Some(Value::String(v.clone())))
                        .ok_or_else(|| {
                            shape(format!("no local value for {resource}.{attribute}"))
                        });
                }
                "Fn::Sub" => return self.sub(argument).map(|s| Some(Value::String(s))),
                "Fn::Join" => {
                    let (separator, items) = match argument.as_array().map(Vec::as_slice) {
                        Some([s, items]) => (self.string(s)?, self.list(items)?),
                        _ => return Err(shape(format!("malformed Join {argument}"))),
                    };
                    return Ok(Some(Value::String(items.join(&separator))));
                }
                "Fn::Split" => {
                    let (separator, text) = match argument.as_array().map(Vec::as_slice) {
                        Some([s, t]) => (self.string(s)?, self.string(t)?),
                        _ => return Err(shape(format!("malformed Split {argument}"))),
                    };
                    return Ok(Some(json!(
                        text.split(separator.as_str()).collect::<Vec<_>>()
                    )));
                }
                "Fn::Select" => {
                    let (index, items) = match argument.as_array().map(Vec::as_slice) {
                        Some([i, items]) => (self.string(i)?, self.list(items)?),
                        _ => return Err(shape(format!("malformed Select {argument}"))),
                    };
                    let index: usize = index.parse().map_err(|_| shape("Select index"))?;
                    return items
                        .get(index)
                        .map(|s| Some(Value::String(s.clone())))
                        .ok_or_else(|| shape("Select out of range"));
                }
                "Fn::If" => {
                    let (name, then, otherwise) = match argument.as_array().map(Vec::as_slice) {
                        Some([c, t, e]) => {
                            (c.as_str().ok_or_else(|| shape("If condition name"))?, t, e)
                        }
                        _ => return Err(shape(format!("malformed If {argument}"))),
                    };
                    return self.value(if self.condition(name)? {
                        then
                    } else {
                        otherwise
                    });
                }
                "Fn::Equals" => {
                    let (a, b) = match argument.as_array().map(Vec::as_slice) {
                        Some([a, b]) => (self.string(a)?, self.string(b)?),
                        _ => return Err(shape(format!("malformed Equals {argument}"))),
                    };
                    return Ok(Some(Value::Bool(a == b)));
                }
                "Fn::Not" => {
                    let inner = argument
                        .as_array()
                        .and_then(|a| a.first())
                        .ok_or_else(|| shape("malformed Not"))?;
                    return Ok(Some(Value::Bool(!self.truth(inner)?)));
                }
                "Fn::And" | "Fn::Or" => {
                    let items = argument
                        .as_array()
                        .ok_or_else(|| shape("malformed And/Or"))?;
                    let values = items
                        .iter()
                        .map(|v| self.truth(v))
                        .collect::<Result<Vec<_>, _>>()?;
                    let result = if key == "Fn::And" {
                        values.iter().all(|b| *b)
                    } else {
                        values.iter().any(|b| *b)
                    };
                    return Ok(Some(Value::Bool(result)));
                }
                other if other.starts_with("Fn::") => {
                    return Err(shape(format!("{other} is not supported locally")));
                }
                _ => {}
            }
        }
        let mut resolved = Map::new();
        for (key, inner) in map {
            if let Some(v) = self.value(inner)? {
                resolved.insert(key.clone(), v);
            }
        }
        Ok(Some(Value::Object(resolved)))
    }

    fn reference(&self, name: &str) -> Result<Option<Value>, TemplateError> {
        let pseudo = match name {
            "AWS::NoValue" => return Ok(None),
            "AWS::Region" => Some(self.region.clone()),
            "AWS::AccountId" => Some(self.account.clone()),
            "AWS::URLSuffix" => Some("amazonaws.com".into()),
            "AWS::Partition" => Some("aws".into()),
            "AWS::StackName" => Some("local".into()),
            _ => None,
        };
        if let Some(value) = pseudo {
            return Ok(Some(Value::String(value)));
        }
        if let Some(value) = self.parameters.get(name) {
            if self.list_parameters.iter().any(|p| p == name) {
                return Ok(Some(json!(
                    value
                        .split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .collect::<Vec<_>>()
                )));
            }
            return Ok(Some(Value::String(value.clone())));
        }
        self.refs
            .get(name)
            .map(|v| Some(Value::String(v.clone())))
            .ok_or_else(|| shape(format!("no local value for Ref {name}")))
    }

    fn sub(&self, argument: &Value) -> Result<String, TemplateError> {
        let (text, variables) = match argument {
            Value::String(s) => (s.clone(), Map::new()),
            Value::Array(items) => match items.as_slice() {
                [Value::String(s), Value::Object(vars)] => (s.clone(), vars.clone()),
                _ => return Err(shape(format!("malformed Sub {argument}"))),
            },
            _ => return Err(shape(format!("malformed Sub {argument}"))),
        };
        let mut out = String::new();
        let mut rest = text.as_str();
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let after = &rest[start + 2..];
            let end = after
                .find('}')
                .ok_or_else(|| shape(format!("unclosed ${{ in Sub {text}")))?;
            let name = &after[..end];
            if let Some(literal) = name.strip_prefix('!') {
                out.push_str("${");
                out.push_str(literal);
                out.push('}');
            } else if let Some(value) = variables.get(name) {
                out.push_str(&self.string(value)?);
            } else if let Some((resource, attribute)) =
                name.split_once('.').filter(|_| !name.starts_with("AWS::"))
            {
                out.push_str(&self.string(&json!({ "Fn::GetAtt": [resource, attribute] }))?);
            } else {
                out.push_str(&self.string(&json!({ "Ref": name }))?);
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }
}
