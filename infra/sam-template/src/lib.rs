//! Reads what local tooling needs from `template.yaml`: the table (to create it in DynamoDB
//! Local exactly as deployed), the functions with their environment, HTTP routes and SQS event
//! sources, the stream mappings, the queues, the HTTP API's CORS and JWT authorizer, and
//! WebSocket APIs. The template is the one description of the system; nothing local restates it.
//!
//! YAML short-form intrinsics (`!Ref`, `!GetAtt`, `!Sub`, ...) are normalized to their long JSON
//! form on load; [`Resolver`] evaluates them against local names and parameter values.

mod intrinsics;
mod mappings;
mod table;

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::{Map, Value};

pub use intrinsics::Resolver;
pub use mappings::{StartingPosition, StreamMappingDefinition};
pub use table::{Index, KeyPart, TableDefinition};

#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("cannot read the template: {0}")]
    Read(#[from] std::io::Error),
    #[error("the template is not valid YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
    #[error("template: {0}")]
    Shape(String),
}

pub(crate) fn shape(message: impl Into<String>) -> TemplateError {
    TemplateError::Shape(message.into())
}

/// The path of `template.yaml` at the repository root, from any crate of the workspace.
pub fn default_path() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml")
}

pub struct Template {
    pub(crate) document: Value,
}

pub(crate) fn str_at<'a>(value: &'a Value, key: &str) -> Option<&'a str> {
    value.get(key).and_then(Value::as_str)
}

/// An AWS Lambda function of the template (`AWS::Serverless::Function`), Globals applied.
#[derive(Clone, Debug, PartialEq)]
pub struct FunctionDefinition {
    pub logical_id: String,
    /// The cargo binary (`Metadata.BuildProperties.Binary`).
    pub binary: String,
    pub timeout_secs: u64,
    pub memory_mb: u64,
    /// Environment variables, values unresolved (see [`Resolver`]).
    pub environment: BTreeMap<String, Value>,
    /// `(METHOD, path)` of every `HttpApi` event.
    pub routes: Vec<(String, String)>,
    pub sqs_events: Vec<SqsEvent>,
}

/// An `SQS` event source of a function.
#[derive(Clone, Debug, PartialEq)]
pub struct SqsEvent {
    /// The queue, unresolved (usually `{"Fn::GetAtt": [queue, "Arn"]}`).
    pub queue: Value,
    pub batch_size: u32,
    pub batching_window_secs: u32,
    pub report_batch_item_failures: bool,
    pub maximum_concurrency: Option<u32>,
    /// `Enabled: false` keeps the mapping from polling (default true).
    pub enabled: bool,
}

/// An `AWS::SQS::Queue`.
#[derive(Clone, Debug, PartialEq)]
pub struct QueueDefinition {
    pub logical_id: String,
    pub queue_name: Option<Value>,
    pub visibility_timeout_secs: u32,
    /// Dead-letter queue (unresolved target ARN) and `maxReceiveCount`.
    pub redrive: Option<(Value, u32)>,
    /// `FifoQueue`, and the FIFO attributes the template sets (`ContentBasedDeduplication`,
    /// `DeduplicationScope`, `FifoThroughputLimit`), as SQS attribute names and values.
    pub fifo: Option<Vec<(String, String)>>,
}

/// The HTTP API's CORS configuration, values unresolved.
#[derive(Clone, Debug, PartialEq)]
pub struct CorsDefinition {
    pub allow_origins: Value,
    pub allow_methods: Vec<String>,
    pub allow_headers: Vec<String>,
    pub expose_headers: Vec<String>,
    pub max_age_secs: Option<u64>,
    pub allow_credentials: bool,
}

/// A JWT authorizer of the HTTP API and the routes it guards, conditions unresolved.
#[derive(Clone, Debug, PartialEq)]
pub struct JwtAuthorizerDefinition {
    /// The whole `x-amazon-apigateway-authorizer` object, possibly under `Fn::If`.
    pub scheme: Value,
    /// `(METHOD, path, security)`: the route's `security` value, possibly under `Fn::If`.
    pub routes: Vec<(String, String, Value)>,
}

/// A WebSocket API (`AWS::ApiGatewayV2::Api` with `ProtocolType: WEBSOCKET`).
#[derive(Clone, Debug, PartialEq)]
pub struct WebSocketApiDefinition {
    pub logical_id: String,
    pub route_selection_expression: String,
    /// Route key (`$connect`, `$disconnect`, `$default`, or an action) to function logical id.
    pub routes: BTreeMap<String, String>,
}

pub(crate) fn as_u64(value: Option<&Value>) -> Option<u64> {
    value.and_then(|v| {
        v.as_u64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    })
}

pub(crate) fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

impl Template {
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        Self::parse(&std::fs::read_to_string(path)?)
    }

    pub fn parse(yaml: &str) -> Result<Self, TemplateError> {
        let document: serde_norway::Value = serde_norway::from_str(yaml)?;
        let document = intrinsics::normalize(document);
        if !document.get("Resources").is_some_and(Value::is_object) {
            return Err(shape("no Resources"));
        }
        Ok(Self { document })
    }

    pub(crate) fn resources(&self) -> &Map<String, Value> {
        self.document["Resources"]
            .as_object()
            .expect("checked on load")
    }

    pub(crate) fn of_type<'a>(
        &'a self,
        kind: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a Value)> + 'a {
        self.resources()
            .iter()
            .filter(move |(_, r)| str_at(r, "Type") == Some(kind))
    }

    /// Every `AWS::Serverless::Function`, with the template's `Globals.Function` applied.
    pub fn functions(&self) -> Result<Vec<FunctionDefinition>, TemplateError> {
        let globals = self
            .document
            .pointer("/Globals/Function")
            .cloned()
            .unwrap_or(Value::Null);
        self.of_type("AWS::Serverless::Function")
            .map(|(logical_id, resource)| {
                let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
                let setting = |name: &str| props.get(name).or_else(|| globals.get(name));
                let binary = resource
                    .pointer("/Metadata/BuildProperties/Binary")
                    .and_then(Value::as_str)
                    .ok_or_else(|| {
                        shape(format!(
                            "{logical_id}: Metadata.BuildProperties.Binary missing"
                        ))
                    })?
                    .to_owned();
                let mut environment = BTreeMap::new();
                for source in [
                    globals.pointer("/Environment/Variables"),
                    props.pointer("/Environment/Variables"),
                ] {
                    if let Some(vars) = source.and_then(Value::as_object) {
                        environment.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
                    }
                }
                let mut routes = Vec::new();
                let mut sqs_events = Vec::new();
                for event in props
                    .get("Events")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flat_map(|e| e.values())
                {
                    let event_props = event.get("Properties").cloned().unwrap_or(Value::Null);
                    match str_at(event, "Type") {
                        Some("HttpApi") => {
                            let method = str_at(&event_props, "Method")
                                .unwrap_or("ANY")
                                .to_ascii_uppercase();
                            let path = str_at(&event_props, "Path").unwrap_or("$default");
                            routes.push((method, path.to_owned()));
                        }
                        Some("SQS") => sqs_events.push(SqsEvent {
                            queue: event_props
                                .get("Queue")
                                .cloned()
                                .ok_or_else(|| shape("SQS event without Queue"))?,
                            batch_size: as_u64(event_props.get("BatchSize")).unwrap_or(10) as u32,
                            batching_window_secs: as_u64(
                                event_props.get("MaximumBatchingWindowInSeconds"),
                            )
                            .unwrap_or(0) as u32,
                            report_batch_item_failures: strings(
                                event_props.get("FunctionResponseTypes"),
                            )
                            .iter()
                            .any(|t| t == "ReportBatchItemFailures"),
                            maximum_concurrency: as_u64(
                                event_props.pointer("/ScalingConfig/MaximumConcurrency"),
                            )
                            .map(|n| n as u32),
                            enabled: event_props
                                .get("Enabled")
                                .and_then(Value::as_bool)
                                .unwrap_or(true),
                        }),
                        _ => {}
                    }
                }
                routes.sort();
                Ok(FunctionDefinition {
                    logical_id: logical_id.clone(),
                    binary,
                    timeout_secs: as_u64(setting("Timeout")).unwrap_or(3),
                    memory_mb: as_u64(setting("MemorySize")).unwrap_or(128),
                    environment,
                    routes,
                    sqs_events,
                })
            })
            .collect()
    }

    /// Every `AWS::SQS::Queue`.
    pub fn queues(&self) -> Vec<QueueDefinition> {
        self.of_type("AWS::SQS::Queue")
            .map(|(logical_id, resource)| {
                let props = resource.get("Properties").cloned().unwrap_or(Value::Null);
                let redrive = props.get("RedrivePolicy").and_then(|policy| {
                    let target = policy.get("deadLetterTargetArn")?.clone();
                    let count = as_u64(policy.get("maxReceiveCount")).unwrap_or(1) as u32;
                    Some((target, count))
                });
                QueueDefinition {
                    logical_id: logical_id.clone(),
                    queue_name: props.get("QueueName").cloned(),
                    visibility_timeout_secs: as_u64(props.get("VisibilityTimeout")).unwrap_or(30)
                        as u32,
                    redrive,
                    fifo: (props.get("FifoQueue").and_then(Value::as_bool) == Some(true)).then(
                        || {
                            [
                                "ContentBasedDeduplication",
                                "DeduplicationScope",
                                "FifoThroughputLimit",
                            ]
                            .into_iter()
                            .filter_map(|name| {
                                let value = match props.get(name)? {
                                    Value::Bool(b) => b.to_string(),
                                    Value::String(s) => s.clone(),
                                    _ => return None,
                                };
                                Some((name.to_owned(), value))
                            })
                            .collect()
                        },
                    ),
                }
            })
            .collect()
    }

    fn http_api(&self) -> Option<&Value> {
        self.of_type("AWS::Serverless::HttpApi")
            .next()
            .map(|(_, api)| api)
    }

    /// The HTTP API's CORS configuration, if it has one.
    pub fn cors(&self) -> Option<CorsDefinition> {
        let cors = self.http_api()?.pointer("/Properties/CorsConfiguration")?;
        Some(CorsDefinition {
            allow_origins: cors
                .get("AllowOrigins")
                .cloned()
                .unwrap_or(Value::Array(Vec::new())),
            allow_methods: strings(cors.get("AllowMethods")),
            allow_headers: strings(cors.get("AllowHeaders")),
            expose_headers: strings(cors.get("ExposeHeaders")),
            max_age_secs: as_u64(cors.get("MaxAge")),
            allow_credentials: cors
                .get("AllowCredentials")
                .and_then(Value::as_bool)
                .unwrap_or(false),
        })
    }

    /// The JWT authorizer declared in the HTTP API's OpenAPI body, if any.
    pub fn jwt_authorizer(&self) -> Option<JwtAuthorizerDefinition> {
        let body = self.http_api()?.pointer("/Properties/DefinitionBody")?;
        let schemes = body.pointer("/components/securitySchemes")?.clone();
        let mut routes = Vec::new();
        for (path, methods) in body
            .get("paths")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            for (method, operation) in methods.as_object().into_iter().flatten() {
                if let Some(security) = operation.get("security") {
                    let method = if method == "x-amazon-apigateway-any-method" {
                        "ANY".to_owned()
                    } else {
                        method.to_ascii_uppercase()
                    };
                    routes.push((method, path.clone(), security.clone()));
                }
            }
        }
        routes.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        Some(JwtAuthorizerDefinition {
            scheme: schemes,
            routes,
        })
    }

    /// `(METHOD, path)` of the routes the HTTP API's OpenAPI body puts behind the optional
    /// gateway JWT authorizer.
    pub fn gateway_authorized_routes(&self) -> Result<Vec<(String, String)>, TemplateError> {
        self.http_api().ok_or_else(|| shape("no HttpApi"))?;
        Ok(self
            .jwt_authorizer()
            .map(|a| a.routes.into_iter().map(|(m, p, _)| (m, p)).collect())
            .unwrap_or_default())
    }

    /// WebSocket APIs with their routes resolved to function logical ids.
    pub fn websocket_apis(&self) -> Vec<WebSocketApiDefinition> {
        let resources = self.resources();
        let function_of_integration = |integration_id: &str| -> Option<String> {
            let uri = resources
                .get(integration_id)?
                .pointer("/Properties/IntegrationUri")?;
            let text = uri.to_string();
            // The URI names the function as `${Fn.Arn}` in a Sub or as a GetAtt: find which.
            self.of_type("AWS::Serverless::Function")
                .map(|(id, _)| id.clone())
                .find(|id| {
                    text.contains(&format!("${{{id}.Arn}}")) || text.contains(&format!("\"{id}\""))
                })
        };
        self.of_type("AWS::ApiGatewayV2::Api")
            .filter(|(_, api)| {
                api.pointer("/Properties/ProtocolType")
                    .and_then(Value::as_str)
                    == Some("WEBSOCKET")
            })
            .map(|(api_id, api)| {
                let mut routes = BTreeMap::new();
                for (_, route) in self.of_type("AWS::ApiGatewayV2::Route") {
                    let props = route.get("Properties").cloned().unwrap_or(Value::Null);
                    if props.get("ApiId") != Some(&serde_json::json!({"Ref": api_id})) {
                        continue;
                    }
                    let Some(key) = str_at(&props, "RouteKey") else {
                        continue;
                    };
                    let target = props
                        .get("Target")
                        .map(Value::to_string)
                        .unwrap_or_default();
                    let integration = resources
                        .iter()
                        .filter(|(_, r)| {
                            str_at(r, "Type") == Some("AWS::ApiGatewayV2::Integration")
                        })
                        .map(|(id, _)| id)
                        .find(|id| {
                            target.contains(&format!("\"{id}\""))
                                || target.contains(&format!("${{{id}}}"))
                        });
                    if let Some(function) = integration.and_then(|i| function_of_integration(i)) {
                        routes.insert(key.to_owned(), function);
                    }
                }
                WebSocketApiDefinition {
                    logical_id: api_id.clone(),
                    route_selection_expression: api
                        .pointer("/Properties/RouteSelectionExpression")
                        .and_then(Value::as_str)
                        .unwrap_or("$request.body.action")
                        .to_owned(),
                    routes,
                }
            })
            .collect()
    }

    /// Parameter defaults, by name.
    pub fn parameter_defaults(&self) -> BTreeMap<String, String> {
        self.document
            .get("Parameters")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(name, p)| {
                let default = match p.get("Default")? {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                Some((name.clone(), default))
            })
            .collect()
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
        assert_eq!(accounts.timeout_secs, 10);
        assert!(accounts.environment.contains_key("TABLE_NAME"));
        let cors = template.cors().unwrap();
        assert!(cors.allow_headers.contains(&"x-org-id".to_owned()));
        assert!(template.jwt_authorizer().is_some());
    }

    const SAMPLE: &str = r#"
Parameters:
  Mode: { Type: String, Default: on }
Conditions:
  IsOn: !Equals [!Ref Mode, "on"]
Globals:
  Function:
    Timeout: 5
    Environment:
      Variables:
        SHARED: yes
Resources:
  Queue:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 60
      RedrivePolicy:
        deadLetterTargetArn: !GetAtt DeadLetters.Arn
        maxReceiveCount: 3
  DeadLetters:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: worker } }
    Properties:
      MemorySize: 512
      Environment:
        Variables:
          QUEUE_URL: !Ref Queue
          GREETING: !If [IsOn, !Sub "hello ${AWS::Region}", bye]
      Events:
        Jobs:
          Type: SQS
          Properties:
            Queue: !GetAtt Queue.Arn
            BatchSize: 5
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
            ScalingConfig: { MaximumConcurrency: 2 }
  Sockets:
    Type: AWS::ApiGatewayV2::Api
    Properties: { ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action }
  SocketIntegration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Sockets
      IntegrationType: AWS_PROXY
      IntegrationUri: !Sub arn:aws:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${Worker.Arn}/invocations
  ConnectRoute:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Sockets
      RouteKey: $connect
      Target: !Join [/, [integrations, !Ref SocketIntegration]]
"#;

    #[test]
    fn reads_functions_queues_and_websocket_routes() {
        let template = Template::parse(SAMPLE).unwrap();
        let worker = &template.functions().unwrap()[0];
        assert_eq!((worker.timeout_secs, worker.memory_mb), (5, 512));
        assert_eq!(
            worker.environment["SHARED"], "yes",
            "YAML 1.2: yes is a string"
        );
        let event = &worker.sqs_events[0];
        assert_eq!(
            (
                event.batch_size,
                event.batching_window_secs,
                event.maximum_concurrency
            ),
            (5, 1, Some(2))
        );
        assert!(event.report_batch_item_failures);
        assert!(event.enabled, "mappings poll unless disabled");

        let queues = template.queues();
        let queue = queues.iter().find(|q| q.logical_id == "Queue").unwrap();
        assert_eq!(queue.visibility_timeout_secs, 60);
        assert_eq!(queue.redrive.as_ref().unwrap().1, 3);

        let apis = template.websocket_apis();
        assert_eq!(apis[0].routes["$connect"], "Worker");

        let mut resolver = Resolver::new(&template, BTreeMap::new());
        resolver.set_ref("Queue", "http://127.0.0.1:5000/123456789012/queue");
        assert_eq!(
            resolver.string(&worker.environment["QUEUE_URL"]).unwrap(),
            "http://127.0.0.1:5000/123456789012/queue"
        );
        assert_eq!(
            resolver.string(&worker.environment["GREETING"]).unwrap(),
            "hello us-east-1"
        );
        let off = Resolver::new(
            &template,
            BTreeMap::from([("Mode".to_owned(), "off".to_owned())]),
        );
        assert_eq!(off.string(&worker.environment["GREETING"]).unwrap(), "bye");
    }
}
