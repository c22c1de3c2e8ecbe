//! Stream event-source mappings (`AWS::Lambda::EventSourceMapping` on the table's stream).
//!
//! The project declares its one stream mapping as a plain CloudFormation resource, not as a SAM
//! `DynamoDB` event: SAM would attach `AWSLambdaDynamoDBExecutionRole`, which reads every stream
//! of the account.

use serde_json::Value;

use crate::{Template, TemplateError, as_u64, shape, str_at, strings};

/// Where a stream mapping starts reading a shard it finds when it is created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartingPosition {
    /// The oldest record the stream still keeps (24 hours).
    TrimHorizon,
    /// Only records written after the mapping starts.
    Latest,
}

/// One stream mapping, values unresolved where they are intrinsics.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamMappingDefinition {
    pub logical_id: String,
    /// `FunctionName` (usually `{"Ref": function}`).
    pub function: Value,
    /// `EventSourceArn` (usually `{"Fn::GetAtt": [table, "StreamArn"]}`).
    pub event_source: Value,
    pub starting_position: StartingPosition,
    pub batch_size: u32,
    pub batching_window_secs: u32,
    /// `FilterCriteria.Filters[].Pattern`, as the JSON text Lambda takes.
    pub filter_patterns: Vec<String>,
    pub report_batch_item_failures: bool,
    pub bisect_batch_on_function_error: bool,
    /// `None`: retried until the record expires (Lambda's `-1`).
    pub maximum_retry_attempts: Option<u32>,
    /// `None`: no age limit (Lambda's `-1`).
    pub maximum_record_age_secs: Option<u32>,
    /// `DestinationConfig.OnFailure.Destination`, unresolved.
    pub on_failure: Option<Value>,
    pub enabled: bool,
}

/// A setting where `-1` (or absence) means "no limit".
fn limit(value: Option<&Value>) -> Option<u32> {
    let number = value.and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })?;
    u32::try_from(number).ok()
}

impl Template {
    /// Every `AWS::Lambda::EventSourceMapping` that reads a DynamoDB stream (its
    /// `EventSourceArn` names a `StreamArn`).
    pub fn stream_mappings(&self) -> Result<Vec<StreamMappingDefinition>, TemplateError> {
        self.of_type("AWS::Lambda::EventSourceMapping")
            .filter(|(_, r)| {
                r.pointer("/Properties/EventSourceArn")
                    .is_some_and(|arn| arn.to_string().contains("StreamArn"))
            })
            .map(|(logical_id, resource)| {
                let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
                let starting_position = match str_at(&props, "StartingPosition") {
                    Some("TRIM_HORIZON") => StartingPosition::TrimHorizon,
                    Some("LATEST") => StartingPosition::Latest,
                    other => {
                        return Err(shape(format!(
                            "{logical_id}: StartingPosition {other:?} (TRIM_HORIZON or LATEST)"
                        )));
                    }
                };
                let filter_patterns = props
                    .pointer("/FilterCriteria/Filters")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .map(|f| {
                        str_at(f, "Pattern").map(str::to_owned).ok_or_else(|| {
                            shape(format!("{logical_id}: a filter without a Pattern string"))
                        })
                    })
                    .collect::<Result<_, _>>()?;
                Ok(StreamMappingDefinition {
                    logical_id: logical_id.clone(),
                    function: props
                        .get("FunctionName")
                        .cloned()
                        .ok_or_else(|| shape(format!("{logical_id}: FunctionName missing")))?,
                    event_source: props["EventSourceArn"].clone(),
                    starting_position,
                    batch_size: as_u64(props.get("BatchSize")).unwrap_or(100) as u32,
                    batching_window_secs: as_u64(props.get("MaximumBatchingWindowInSeconds"))
                        .unwrap_or(0) as u32,
                    filter_patterns,
                    report_batch_item_failures: strings(props.get("FunctionResponseTypes"))
                        .iter()
                        .any(|t| t == "ReportBatchItemFailures"),
                    bisect_batch_on_function_error: props
                        .get("BisectBatchOnFunctionError")
                        .and_then(Value::as_bool)
                        .unwrap_or(false),
                    maximum_retry_attempts: limit(props.get("MaximumRetryAttempts")),
                    maximum_record_age_secs: limit(props.get("MaximumRecordAgeInSeconds")),
                    on_failure: props
                        .pointer("/DestinationConfig/OnFailure/Destination")
                        .cloned(),
                    enabled: props
                        .get("Enabled")
                        .and_then(Value::as_bool)
                        .unwrap_or(true),
                })
            })
            .collect()
    }
}
