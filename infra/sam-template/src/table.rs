//! The table definition, and creating it in DynamoDB Local.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, StreamSpecification, StreamViewType,
    TimeToLiveSpecification,
};
use serde_json::Value;

use crate::{Template, TemplateError, shape, str_at};

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
    /// The stream's view type (`NEW_AND_OLD_IMAGES`, ...), when the table has a stream.
    pub stream_view_type: Option<String>,
}

fn key_parts(value: Option<&Value>) -> Result<Vec<KeyPart>, TemplateError> {
    let list = value
        .and_then(Value::as_array)
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
            .and_then(Value::as_array)
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
            .and_then(Value::as_array)
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
        let stream_view_type = props
            .get("StreamSpecification")
            .and_then(|s| str_at(s, "StreamViewType"))
            .map(str::to_owned);
        Ok(TableDefinition {
            logical_id: logical_id.clone(),
            attributes,
            keys: key_parts(props.get("KeySchema"))?,
            indexes,
            ttl_attribute,
            stream_view_type,
        })
    }
}

impl TableDefinition {
    /// Creates this table (with its stream, and its TTL turned on) under `table_name`.
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
        if let Some(view) = &self.stream_view_type {
            request = request.stream_specification(
                StreamSpecification::builder()
                    .stream_enabled(true)
                    .stream_view_type(StreamViewType::from(view.as_str()))
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
