//! Reads what local tooling needs from `template.yaml`: the table's definition (to create it in
//! DynamoDB Local exactly as deployed) and each function's HTTP routes. The template is the one
//! description of the system; nothing local restates it.

use std::collections::BTreeMap;
use std::path::Path;

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_norway::Value;

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template: {0}")]
    Read(#[from] std::io::Error),
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template: {0}")]
    Shape(String),
}

fn shape(message: impl Into<String>) -> TemplateError {
    TemplateError::Shape(message.into())
}

pub struct Template {
    resources: BTreeMap<String, Value>,
}

/// The path of `template.yaml` at the repository root, from any crate of the workspace.
pub fn default_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyPart {
    pub attribute: String,
    pub hash: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Index {
    pub name: String,
    pub keys: Vec<KeyPart>,
    pub projection: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableDefinition {
    pub logical_id: String,
    /// Attribute name and scalar type (`S`, `N`, `B`).
    pub attributes: Vec<(String, String)>,
    pub keys: Vec<KeyPart>,
    pub indexes: Vec<Index>,
    pub ttl_attribute: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FunctionDefinition {
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    /// `(METHOD, path)` of every `HttpApi` event.
    pub routes: Vec<(String, String)>,
}

fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

fn key_parts(value: Option<&Value>) -> Result<Vec<KeyPart>, TemplateError> {
    let list = value
        .and_then(Value::as_sequence)
        .ok_or_else(|| shape("KeySchema missing"))?;
    list.iter()
        .map(|k| {
            Ok(KeyPart {
                attribute: str_at(k, "AttributeName")
                    .ok_or_else(|| shape("AttributeName missing"))?
                    .to_owned(),
                hash: str_at(k, "KeyType") == Some("HASH"),
            })
        })
        .collect()
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let document: Value = serde_norway::from_str(yaml)?;
        let resources = document
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(|| shape("no Resources"))?
            .iter()
            .filter_map(|(k, v)| Some((k.as_str()?.to_owned(), v.clone())))
            .collect();
        Ok(Self { resources })
    }

    fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources
            .iter()
            .filter(move |(_, r)| str_at(r, "Type") == Some(kind))
    }

    /// The one DynamoDB table of the template.
    pub fn table(&self) -> Result<TableDefinition, TemplateError> {
        let mut tables = self.of_type("AWS::DynamoDB::Table");
        let (logical_id, resource) = tables
            .next()
            .ok_or_else(|| shape("no AWS::DynamoDB::Table"))?;
        if tables.next().is_some() {
            return Err(shape("more than one table: the design is single-table"));
        }
        let props = resource
            .get("Properties")
            .ok_or_else(|| shape("table without Properties"))?;
        let attributes = props
            .get("AttributeDefinitions")
            .and_then(Value::as_sequence)
            .ok_or_else(|| shape("AttributeDefinitions missing"))?
            .iter()
            .map(|a| {
                Ok((
                    str_at(a, "AttributeName")
                        .ok_or_else(|| shape("AttributeName missing"))?
                        .to_owned(),
                    str_at(a, "AttributeType")
                        .ok_or_else(|| shape("AttributeType missing"))?
                        .to_owned(),
                ))
            })
            .collect::<Result<_, TemplateError>>()?;
        let indexes = match props
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
        {
            None => Vec::new(),
            Some(list) => list
                .iter()
                .map(|gsi| {
                    Ok(Index {
                        name: str_at(gsi, "IndexName")
                            .ok_or_else(|| shape("IndexName missing"))?
                            .to_owned(),
                        keys: key_parts(gsi.get("KeySchema"))?,
                        projection: gsi
                            .get("Projection")
                            .and_then(|p| str_at(p, "ProjectionType"))
                            .unwrap_or("ALL")
                            .to_owned(),
                    })
                })
                .collect::<Result<_, TemplateError>>()?,
        };
        let ttl_attribute = props
            .get("TimeToLiveSpecification")
            .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
            .and_then(|t| str_at(t, "AttributeName"))
            .map(str::to_owned);
        Ok(TableDefinition {
            logical_id: logical_id.clone(),
            attributes,
            keys: key_parts(props.get("KeySchema"))?,
            indexes,
            ttl_attribute,
        })
    }

    /// Every `AWS::Serverless::Function`, with its binary and HTTP routes.
    pub fn functions(&self) -> Result<Vec<FunctionDefinition>, TemplateError> {
        self.of_type("AWS::Serverless::Function")
            .map(|(logical_id, resource)| {
                let binary = resource
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| str_at(b, "Binary"))
                    .ok_or_else(|| {
                        shape(format!(
                            "{logical_id}: Metadata.BuildProperties.Binary missing"
                        ))
                    })?
                    .to_owned();
                let mut routes = Vec::new();
                if let Some(events) = resource
                    .get("Properties")
                    .and_then(|p| p.get("Events"))
                    .and_then(Value::as_mapping)
                {
                    for event in events.values() {
                        if str_at(event, "Type") != Some("HttpApi") {
                            continue;
                        }
                        let props = event
                            .get("Properties")
                            .ok_or_else(|| shape("HttpApi event without Properties"))?;
                        let method = str_at(props, "Method")
                            .unwrap_or("ANY")
                            .to_ascii_uppercase();
                        let path = str_at(props, "Path")
                            .ok_or_else(|| shape("HttpApi event without Path"))?;
                        routes.push((method, path.to_owned()));
                    }
                }
                routes.sort();
                Ok(FunctionDefinition {
                    logical_id: logical_id.clone(),
                    binary,
                    routes,
                })
            })
            .collect()
    }
}

impl Template {
    /// `(METHOD, path)` of the routes the HTTP API's OpenAPI body puts behind the optional
    /// gateway JWT authorizer.
    pub fn gateway_authorized_routes(&self) -> Result<Vec<(String, String)>, TemplateError> {
        let (_, api) = self
            .of_type("AWS::Serverless::HttpApi")
            .next()
            .ok_or_else(|| shape("no HttpApi"))?;
        let paths = api
            .get("Properties")
            .and_then(|p| p.get("DefinitionBody"))
            .and_then(|d| d.get("paths"))
            .and_then(Value::as_mapping);
        let mut routes = Vec::new();
        for (path, methods) in paths.into_iter().flatten() {
            let path = path.as_str().ok_or_else(|| shape("non-string path"))?;
            for (method, operation) in methods.as_mapping().into_iter().flatten() {
                if operation.get("security").is_some() {
                    let method = method.as_str().ok_or_else(|| shape("non-string method"))?;
                    routes.push((method.to_ascii_uppercase(), path.to_owned()));
                }
            }
        }
        routes.sort();
        Ok(routes)
    }
}

impl TableDefinition {
    /// Creates this table (and turns on its TTL) under `table_name`.
    pub async fn create(
        &self,
        client: &aws_sdk_dynamodb::Client,
        table_name: &str,
    ) -> Result<(), String> {
        let schema = |parts: &[KeyPart]| {
            parts
                .iter()
                .map(|k| {
                    KeySchemaElement::builder()
                        .attribute_name(&k.attribute)
                        .key_type(if k.hash {
                            KeyType::Hash
                        } else {
                            KeyType::Range
                        })
                        .build()
                        .map_err(|e| e.to_string())
                })
                .collect::<Result<Vec<_>, _>>()
        };
        let mut request = client
            .create_table()
            .table_name(table_name)
            .billing_mode(BillingMode::PayPerRequest);
        for (name, kind) in &self.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
        request = request.set_key_schema(Some(schema(&self.keys)?));
        for index in &self.indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(schema(&index.keys)?))
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::from(index.projection.as_str()))
                            .build(),
                    )
                    .build()
                    .map_err(|e| e.to_string())?,
            );
        }
        request
            .send()
            .await
            .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        if let Some(attribute) = &self.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(table_name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .enabled(true)
                        .attribute_name(attribute)
                        .build()
                        .map_err(|e| e.to_string())?,
                )
                .send()
                .await
                .map_err(|e| aws_sdk_dynamodb::error::DisplayErrorContext(e).to_string())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_projects_template() {
        let template = Template::load(&default_path()).unwrap();
        let table = template.table().unwrap();
        assert_eq!(
            table.keys,
            vec![
                KeyPart {
                    attribute: "PK".into(),
                    hash: true
                },
                KeyPart {
                    attribute: "SK".into(),
                    hash: false
                }
            ]
        );
        assert_eq!(table.ttl_attribute.as_deref(), Some("ttl"));
        let functions = template.functions().unwrap();
        let accounts = functions
            .iter()
            .find(|f| f.binary == "accounts")
            .expect("accounts function");
        assert!(accounts.routes.contains(&("GET".into(), "/v1/me".into())));
    }
}
