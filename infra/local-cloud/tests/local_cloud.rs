//! The local cloud end to end: real test functions (test-functions/), moto for SQS, and the
//! HTTP API, WebSocket API, @connections and SQS event sources of tests/fixtures/template.yaml.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use futures_util::{SinkExt, StreamExt};
use local_cloud::jwt::JwtKey;
use local_cloud::{Cloud, Config};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

/// Builds the test functions once (they are another package's binaries) and says where they are.
fn binaries() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/<this test> -> target/<profile>
            let dir = std::env::current_exe()
                .unwrap()
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .to_path_buf();
            let mut build = std::process::Command::new(env!("CARGO"));
            build.args(["build", "-q", "-p", "local-cloud-test-functions", "--bins"]);
            if dir.ends_with("release") {
                build.arg("--release");
            }
            assert!(
                build.status().expect("cargo runs").success(),
                "building the test functions failed"
            );
            dir
        })
        .clone()
}

fn sqs_client() -> aws_sdk_sqs::Client {
    local_cloud::clients::sqs(&sqs_endpoint())
}

fn dynamodb_endpoint() -> String {
    std::env::var("DYNAMODB_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:8000".into())
}

fn sqs_endpoint() -> String {
    std::env::var("SQS_ENDPOINT").unwrap_or_else(|_| "http://127.0.0.1:5000".into())
}

struct Harness {
    cloud: Cloud,
    table: String,
    records: PathBuf,
    http: reqwest::Client,
}

async fn start(parameters: &[(&str, &str)]) -> Harness {
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    start_on(&format!("lc-{id}"), parameters).await
}

/// Starts the local cloud on `table` (created from the fixture's template when missing).
async fn start_on(table: &str, parameters: &[(&str, &str)]) -> Harness {
    start_pausing(table, parameters, &[]).await
}

/// [`start_on`], with the named consumers (functions or stream mappings) paused.
async fn start_pausing(table: &str, parameters: &[(&str, &str)], paused: &[&str]) -> Harness {
    local_cloud::logs::set_quiet(std::env::var_os("LOCAL_CLOUD_LOGS").is_none());
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let records = std::env::temp_dir().join(format!("local-cloud-{id}.jsonl"));
    let config = Config {
        template: PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/template.yaml"
        )),
        binaries_dir: binaries(),
        http_addr: "127.0.0.1:0".parse().unwrap(),
        websocket_addr: "127.0.0.1:0".parse().unwrap(),
        admin_addr: "127.0.0.1:0".parse().unwrap(),
        dynamodb_endpoint: Some(dynamodb_endpoint()),
        table_name: table.to_owned(),
        sqs_endpoint: Some(sqs_endpoint()),
        queue_prefix: format!("t{}-", &id[16..]),
        parameters: parameters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        environment: BTreeMap::from([("RECORD_FILE".to_owned(), records.display().to_string())]),
        max_instances: 2,
        jwt_key: JwtKey::Hs256("test-secret".into()),
        websocket_idle_timeout: Duration::from_secs(60),
        websocket_max_connection: local_cloud::websocket::DEFAULT_MAX_CONNECTION,
        paused_consumers: paused.iter().map(|p| p.to_string()).collect(),
    };
    let cloud = local_cloud::start(config).await.unwrap_or_else(|e| {
        panic!(
            "the local cloud did not start: {e}\n(are moto at {} and DynamoDB Local at {} \
             running? ./infra/test starts them)",
            sqs_endpoint(),
            dynamodb_endpoint()
        )
    });
    Harness {
        cloud,
        table: table.to_owned(),
        records,
        http: reqwest::Client::new(),
    }
}

impl Harness {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.cloud.http)
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// The recorded events, waiting until `done` holds for them.
    async fn records_until(&self, done: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let text = std::fs::read_to_string(&self.records).unwrap_or_default();
            // Only complete lines: the last one may still be being written.
            let complete = text.rfind('\n').map_or("", |end| &text[..end]);
            let records: Vec<Value> = complete
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            if done(&records) {
                return records;
            }
            assert!(
                Instant::now() < deadline,
                "timed out; records so far: {records:#?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn status(&self) -> Value {
        self.http
            .get(format!("http://{}/__local/status", self.cloud.admin))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn token(claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"test-secret"),
    )
    .unwrap()
}

#[tokio::test]
async fn requests_become_payload_2_events_and_answers_map_back() {
    let h = start(&[]).await;
    let response = h
        .http
        .get(h.url("/items/abc%20d?x=1&x=2&y=%C3%A9"))
        .header("X-Custom", "One")
        .header("cookie", "session=s1; theme=dark")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let event: Value = response.json().await.unwrap();
    assert_eq!(event["version"], "2.0");
    assert_eq!(event["routeKey"], "GET /items/{id}");
    assert_eq!(event["rawPath"], "/items/abc%20d");
    assert_eq!(event["rawQueryString"], "x=1&x=2&y=%C3%A9");
    assert_eq!(
        event["queryStringParameters"],
        json!({"x": "1,2", "y": "é"})
    );
    assert_eq!(event["pathParameters"], json!({"id": "abc d"}));
    assert_eq!(event["headers"]["x-custom"], "One");
    assert_eq!(event["cookies"], json!(["session=s1", "theme=dark"]));
    let context = &event["requestContext"];
    assert_eq!(context["http"]["method"], "GET");
    assert_eq!(context["http"]["path"], "/items/abc%20d");
    assert_eq!(context["http"]["sourceIp"], "127.0.0.1");
    assert_eq!(context["routeKey"], "GET /items/{id}");
    assert_eq!(context["stage"], "$default");
    assert!(context["requestId"].is_string() && context["timeEpoch"].is_i64());
    assert!(context.get("authorizer").is_none());

    // Bodies arrive byte for byte: text as is, anything else base64.
    let binary = vec![0u8, 159, 146, 150, 255, b'\r', b'\n'];
    let event: Value = h
        .http
        .post(h.url("/items"))
        .body(binary.clone())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(event["isBase64Encoded"], true);
    assert_eq!(
        STANDARD.decode(event["body"].as_str().unwrap()).unwrap(),
        binary
    );
    let text = "{\"sig\":\"t=1,v1=abc\"}\r\n  é";
    let event: Value = h
        .http
        .post(h.url("/items"))
        .body(text)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        (event["isBase64Encoded"].as_bool(), event["body"].as_str()),
        (Some(false), Some(text))
    );

    // Greedy paths and ANY.
    let event: Value = h
        .http
        .delete(h.url("/misc/a/b"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(event["routeKey"], "ANY /misc/{proxy+}");
    assert_eq!(event["pathParameters"]["proxy"], "a/b");

    // Responses: base64 bodies decoded, cookies and headers kept, bare JSON answers taken whole.
    let binary = h.get("/binary").await;
    assert_eq!(binary.headers()["content-type"], "application/octet-stream");
    assert_eq!(
        binary.bytes().await.unwrap().as_ref(),
        &[0u8, 159, 146, 150]
    );
    let cookies = h.get("/cookies").await;
    assert_eq!(cookies.status(), 204);
    assert_eq!(cookies.headers()["x-test"], "yes");
    assert_eq!(cookies.headers().get_all("set-cookie").iter().count(), 2);
    let bare = h.get("/bare").await;
    assert_eq!(bare.headers()["content-type"], "application/json");
    assert_eq!(bare.json::<Value>().await.unwrap(), json!({"bare": true}));

    let missing = h.get("/nowhere").await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap(),
        json!({"message": "Not Found"})
    );
}

#[tokio::test]
async fn request_lines_and_header_values_over_10240_bytes_are_refused_at_the_gateway() {
    let h = start(&[("GatewayJwtAuthorizer", "disabled")]).await;
    let send = |size: usize| {
        let h = &h;
        async move {
            h.http
                .get(h.url("/items/1"))
                .header("x-filler", "a".repeat(size))
                .send()
                .await
                .unwrap()
        }
    };
    // Request line and the other headers take about 60 bytes: 10,000 fits, 10,240 does not.
    assert_eq!(send(10_000).await.status(), 200);
    let refused = send(10_240).await;
    assert_eq!(refused.status(), 431);
    assert_eq!(
        refused.json::<Value>().await.unwrap(),
        json!({"message": "Request Header Fields Too Large"})
    );
    let huge = h
        .http
        .get(h.url("/items/1"))
        .header("authorization", format!("Bearer {}", "x".repeat(270_000)))
        .send()
        .await
        .unwrap();
    assert_eq!(huge.status(), 431);
}

#[tokio::test]
async fn the_jwt_authorizer_accepts_and_rejects_as_api_gateway_does() {
    let h = start(&[]).await;
    let exp = jsonwebtoken::get_current_timestamp() + 600;
    let unauthorized = h.get("/secure").await;
    assert_eq!(unauthorized.status(), 401);
    assert_eq!(
        unauthorized.json::<Value>().await.unwrap(),
        json!({"message": "Unauthorized"})
    );
    for claims in [
        json!({"iss": "test-issuer", "aud": "other", "exp": exp, "sub": "u1"}),
        json!({"iss": "other", "aud": "test-api", "exp": exp, "sub": "u1"}),
        json!({"iss": "test-issuer", "aud": "test-api", "exp": 1000, "sub": "u1"}),
    ] {
        let response = h
            .http
            .get(h.url("/secure"))
            .bearer_auth(token(claims))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 401);
    }
    let good = token(
        json!({"iss": "test-issuer", "aud": "test-api", "exp": exp, "sub": "u1", "scope": "read write"}),
    );
    let event: Value = h
        .http
        .get(h.url("/secure"))
        .bearer_auth(good)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        event["requestContext"]["authorizer"]["jwt"]["claims"]["sub"],
        "u1"
    );
    assert_eq!(
        event["requestContext"]["authorizer"]["jwt"]["scopes"],
        json!(["read", "write"])
    );
    // Routes the authorizer does not guard need no token.
    assert_eq!(h.get("/items/1").await.status(), 200);

    // With the template's condition off, there is no authorizer at all.
    let open = start(&[("GatewayJwtAuthorizer", "disabled")]).await;
    assert_eq!(open.get("/secure").await.status(), 200);
}

#[tokio::test]
async fn cors_follows_the_template() {
    let h = start(&[]).await;
    let preflight = h
        .http
        .request(reqwest::Method::OPTIONS, h.url("/items"))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 204);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(
        preflight.headers()["access-control-allow-methods"],
        "GET,POST"
    );
    assert_eq!(preflight.headers()["access-control-max-age"], "300");
    let foreign = h
        .http
        .request(reqwest::Method::OPTIONS, h.url("/items"))
        .header("origin", "https://evil.example.com")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert!(
        foreign
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let simple = h
        .http
        .get(h.url("/items/1"))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
}

#[tokio::test]
async fn a_crashed_instance_is_replaced_and_errors_map_to_gateway_statuses() {
    let h = start(&[]).await;
    assert_eq!(h.get("/items/1").await.status(), 200);
    let crashed = h.get("/crash").await;
    assert_eq!(
        crashed.status(),
        500,
        "a crash is a function error to API Gateway"
    );
    assert_eq!(
        crashed.json::<Value>().await.unwrap(),
        json!({"message": "Internal Server Error"})
    );
    assert_eq!(
        h.get("/items/2").await.status(),
        200,
        "a fresh instance serves the next request"
    );
    assert_eq!(h.get("/fail").await.status(), 500);
    let started = Instant::now();
    assert_eq!(
        h.get("/sleep").await.status(),
        500,
        "past the function's timeout"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(h.get("/items/3").await.status(), 200);

    let status = h.status().await;
    let echo = &status["functions"]["EchoFunction"];
    assert!(echo["instances_started"].as_u64().unwrap() >= 3, "{echo}");
    assert!(
        echo["init_ms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|ms| ms.as_f64().unwrap() > 0.0)
    );
    assert!(echo["peak_rss_kib"].as_u64().unwrap() > 0);
    assert!(echo["invocations"].as_u64().unwrap() >= 6);
}

#[tokio::test]
async fn websocket_connect_route_disconnect_and_connections_api() {
    let h = start(&[]).await;
    let url = format!("ws://{}/?token=abc", h.cloud.websocket);
    let (mut socket, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let records = h
        .records_until(|r| {
            r.iter()
                .any(|e| e["requestContext"]["eventType"] == "CONNECT")
        })
        .await;
    let connect = records
        .iter()
        .find(|e| e["requestContext"]["eventType"] == "CONNECT")
        .unwrap();
    assert_eq!(connect["requestContext"]["routeKey"], "$connect");
    assert_eq!(connect["queryStringParameters"]["token"], "abc");
    let id = connect["requestContext"]["connectionId"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 16, "shaped like API Gateway's ids: {id}");

    socket
        .send(Message::text(r#"{"action":"sendmessage","text":"hi"}"#))
        .await
        .unwrap();
    socket.send(Message::text("not json at all")).await.unwrap();
    let records = h
        .records_until(|r| {
            r.iter()
                .filter(|e| e["requestContext"]["eventType"] == "MESSAGE")
                .count()
                == 2
        })
        .await;
    let messages: Vec<_> = records
        .iter()
        .filter(|e| e["requestContext"]["eventType"] == "MESSAGE")
        .collect();
    assert_eq!(messages[0]["requestContext"]["routeKey"], "sendmessage");
    assert_eq!(
        messages[0]["body"],
        r#"{"action":"sendmessage","text":"hi"}"#
    );
    assert_eq!(messages[1]["requestContext"]["routeKey"], "$default");
    assert_eq!(messages[1]["requestContext"]["connectionId"], id.as_str());

    // @connections: deliver, describe, delete.
    let encoded: String = id
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let admin = format!("http://{}/@connections/{encoded}", h.cloud.admin);
    assert_eq!(
        h.http
            .post(&admin)
            .body(r#"{"type":"notification"}"#)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let received = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(received, Message::text(r#"{"type":"notification"}"#));
    let described: Value = h
        .http
        .get(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        described["ConnectedAt"].is_string() && described["Identity"]["SourceIp"] == "127.0.0.1"
    );
    assert_eq!(h.http.delete(&admin).send().await.unwrap().status(), 204);
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    assert!(
        matches!(closed, Some(Ok(Message::Close(_))) | None),
        "{closed:?}"
    );
    let records = h
        .records_until(|r| {
            r.iter()
                .any(|e| e["requestContext"]["eventType"] == "DISCONNECT")
        })
        .await;
    let disconnect = records
        .iter()
        .find(|e| e["requestContext"]["eventType"] == "DISCONNECT")
        .unwrap();
    assert_eq!(disconnect["requestContext"]["connectionId"], id.as_str());

    // Gone: the closed connection and an unknown one answer 410 GoneException.
    for target in [
        admin.clone(),
        format!("http://{}/@connections/nope", h.cloud.admin),
    ] {
        let gone = h.http.post(&target).body("x").send().await.unwrap();
        assert_eq!(gone.status(), 410);
        assert_eq!(gone.headers()["x-amzn-errortype"], "GoneException");
    }
}

#[tokio::test]
async fn a_refused_connect_refuses_the_upgrade_and_oversized_frames_end_the_connection() {
    let h = start(&[]).await;
    let refused =
        tokio_tungstenite::connect_async(format!("ws://{}/?deny=1", h.cloud.websocket)).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 403)
        }
        other => panic!("expected a refused upgrade, got {other:?}"),
    }
    let (mut socket, _) = tokio_tungstenite::connect_async(format!("ws://{}/", h.cloud.websocket))
        .await
        .unwrap();
    socket
        .send(Message::text("x".repeat(129 * 1024)))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .unwrap();
    match closed {
        Some(Ok(Message::Close(Some(frame)))) => assert_eq!(u16::from(frame.code), 1009),
        other => assert!(matches!(other, None | Some(Err(_))), "{other:?}"),
    }
}

#[tokio::test]
async fn sqs_batches_partial_failures_retries_and_dead_letters() {
    let h = start(&[]).await;
    let sqs = sqs_client();
    let jobs = &h.cloud.queues["Jobs"];
    let dead = &h.cloud.queues["JobsDeadLetters"];
    for body in ["ok-1", "ok-2", "poison-1"] {
        sqs.send_message()
            .queue_url(&jobs.url)
            .message_body(body)
            .message_attributes(
                "kind",
                aws_sdk_sqs::types::MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value("test")
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    let seen = |records: &[Value], body: &str| -> Vec<Value> {
        records
            .iter()
            .flat_map(|e| e["Records"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["body"] == body)
            .collect()
    };
    // The poison message fails alone: it comes back (receive count 2), the others do not.
    let records = h.records_until(|r| seen(r, "poison-1").len() >= 2).await;
    let ok = seen(&records, "ok-1");
    assert_eq!(
        ok.len(),
        1,
        "a successful message is deleted, not redelivered"
    );
    let record = &ok[0];
    assert_eq!(record["eventSource"], "aws:sqs");
    assert_eq!(record["eventSourceARN"], jobs.arn.as_str());
    assert_eq!(record["awsRegion"], "us-east-1");
    assert_eq!(record["attributes"]["ApproximateReceiveCount"], "1");
    assert!(
        record["messageId"].is_string()
            && record["receiptHandle"].is_string()
            && record["md5OfBody"].is_string()
    );
    assert_eq!(record["messageAttributes"]["kind"]["stringValue"], "test");
    assert_eq!(record["messageAttributes"]["kind"]["dataType"], "String");
    let counts: Vec<_> = seen(&records, "poison-1")
        .iter()
        .map(|r| r["attributes"]["ApproximateReceiveCount"].clone())
        .collect();
    assert_eq!(counts[..2], [json!("1"), json!("2")]);

    // After maxReceiveCount (2) the queue's redrive policy moves it to the dead-letter queue.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut dead_bodies = Vec::new();
    while dead_bodies.is_empty() && Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(&dead.url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        dead_bodies.extend(
            output
                .messages
                .unwrap_or_default()
                .into_iter()
                .filter_map(|m| m.body),
        );
    }
    assert_eq!(dead_bodies, ["poison-1"]);
    assert_eq!(seen(&h.records_until(|_| true).await, "ok-2").len(), 1);
}

#[tokio::test]
async fn a_fifo_queue_hands_each_group_over_in_order() {
    let h = start(&[]).await;
    let sqs = sqs_client();
    let ordered = &h.cloud.queues["OrderedJobs"];
    assert!(ordered.name.ends_with(".fifo") && ordered.fifo);
    // Two groups, interleaved, ten messages each; pollers run four at a time.
    for i in 0..10 {
        for group in ["a", "b"] {
            sqs.send_message()
                .queue_url(&ordered.url)
                .message_body(format!("{group}-{i}"))
                .message_group_id(group)
                .message_deduplication_id(format!("{group}-{i}"))
                .send()
                .await
                .unwrap();
        }
    }
    let bodies = |records: &[Value], group: &str| -> Vec<String> {
        records
            .iter()
            .flat_map(|e| e["Records"].as_array().cloned().unwrap_or_default())
            .filter(|r| r["attributes"]["MessageGroupId"] == group)
            .filter_map(|r| r["body"].as_str().map(str::to_owned))
            .collect()
    };
    let records = h
        .records_until(|r| bodies(r, "a").len() >= 10 && bodies(r, "b").len() >= 10)
        .await;
    for group in ["a", "b"] {
        let expected: Vec<String> = (0..10).map(|i| format!("{group}-{i}")).collect();
        // First deliveries in order. moto's ReceiveMessage is not atomic: two pollers asking at
        // once have been seen to get the same message (once in about 15 runs), as SQS's
        // at-least-once delivery allows; consumers drop such duplicates.
        let mut first = bodies(&records, group);
        let mut seen = std::collections::HashSet::new();
        first.retain(|b| seen.insert(b.clone()));
        assert_eq!(first, expected, "group {group} in order");
    }
    let record = &records
        .iter()
        .flat_map(|e| e["Records"].as_array().cloned().unwrap_or_default())
        .next()
        .unwrap();
    assert!(record["attributes"]["SequenceNumber"].is_string());
    assert!(record["attributes"]["MessageDeduplicationId"].is_string());
}

#[tokio::test]
async fn a_failed_invocation_is_retried_then_dead_lettered() {
    let h = start(&[]).await;
    let sqs = sqs_client();
    let jobs = &h.cloud.queues["Jobs"];
    // `crash` ends the instance mid-batch: the whole batch fails and is delivered again.
    sqs.send_message()
        .queue_url(&jobs.url)
        .message_body("crash")
        .send()
        .await
        .unwrap();
    let records = h
        .records_until(|r| {
            r.iter()
                .filter(|e| e["Records"][0]["body"] == "crash")
                .count()
                >= 2
        })
        .await;
    let attempts: Vec<_> = records
        .iter()
        .filter(|e| e["Records"][0]["body"] == "crash")
        .map(|e| e["Records"][0]["attributes"]["ApproximateReceiveCount"].clone())
        .collect();
    assert_eq!(attempts[..2], [json!("1"), json!("2")]);
    let dead = &h.cloud.queues["JobsDeadLetters"];
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut found = false;
    while !found && Instant::now() < deadline {
        let output = sqs
            .receive_message()
            .queue_url(&dead.url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        found = output
            .messages
            .unwrap_or_default()
            .iter()
            .any(|m| m.body.as_deref() == Some("crash"));
    }
    assert!(found, "the failed message reached the dead-letter queue");
    let status = h.status().await;
    assert!(
        status["functions"]["WorkerFunction"]["instances_started"]
            .as_u64()
            .unwrap()
            >= 2
    );
}

/// The fixture's table, created before the local cloud starts (so TRIM_HORIZON has something
/// to read), and a client of it.
async fn stream_table() -> (String, aws_sdk_dynamodb::Client) {
    let id = ulid::Ulid::generate().to_string().to_lowercase();
    let table = format!("lc-{id}");
    let template = sam_template::Template::load(&PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/template.yaml"
    )))
    .unwrap();
    local_cloud::ensure_table(&template, &dynamodb_endpoint(), &table)
        .await
        .unwrap();
    (table, local_cloud::clients::dynamodb(&dynamodb_endpoint()))
}

async fn put(db: &aws_sdk_dynamodb::Client, table: &str, pk: &str, attributes: &[(&str, &str)]) {
    use aws_sdk_dynamodb::types::AttributeValue;
    let mut request = db
        .put_item()
        .table_name(table)
        .item("PK", AttributeValue::S(pk.into()));
    for (name, value) in attributes {
        request = request.item(*name, AttributeValue::S((*value).into()));
    }
    request.send().await.unwrap();
}

/// Stream records the functions received: `(tag, batch)` per invocation.
fn stream_batches(records: &[Value], tag: &str) -> Vec<Vec<Value>> {
    records
        .iter()
        .filter(|e| e["tag"] == tag)
        .map(|e| e["Records"].as_array().cloned().unwrap_or_default())
        .collect()
}

fn pk(record: &Value) -> &str {
    record["dynamodb"]["Keys"]["PK"]["S"].as_str().unwrap()
}

/// The failure pointers on the mapping's `OnFailure` queue, waiting for at least `n`.
async fn failure_pointers(h: &Harness, n: usize) -> Vec<Value> {
    let sqs = sqs_client();
    let queue = &h.cloud.queues["StreamFailures"];
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut pointers = Vec::new();
    while pointers.len() < n {
        assert!(Instant::now() < deadline, "pointers so far: {pointers:#?}");
        let output = sqs
            .receive_message()
            .queue_url(&queue.url)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        pointers.extend(
            output
                .messages
                .unwrap_or_default()
                .into_iter()
                .map(|m| serde_json::from_str::<Value>(m.body().unwrap()).unwrap()),
        );
    }
    pointers
}

#[tokio::test]
async fn streams_filter_batch_retry_from_the_failed_record_and_discard_to_the_failure_queue() {
    let (table, db) = stream_table().await;
    // Written before the mappings start: TRIM_HORIZON delivers them, LATEST does not.
    for (pk, kind) in [
        ("j1", "job"),
        ("j2", "job"),
        ("other", "counter"),
        ("note-before", "note"),
    ] {
        put(&db, &table, pk, &[("kind", kind)]).await;
    }
    put(&db, &table, "p", &[("kind", "job"), ("poison", "1")]).await;
    for pk in ["j4", "j5", "j6"] {
        put(&db, &table, pk, &[("kind", "job")]).await;
    }
    let h = start_on(&table, &[]).await;
    let delivered = |records: &[Value], tag: &str, key: &str| {
        stream_batches(records, tag)
            .iter()
            .flatten()
            .filter(|r| pk(r) == key)
            .count()
    };
    let records = h.records_until(|r| delivered(r, "jobs", "j6") >= 1).await;
    let batches = stream_batches(&records, "jobs");
    let keys: Vec<Vec<&str>> = batches.iter().map(|b| b.iter().map(pk).collect()).collect();
    // Filtered before batching; at most BatchSize records; after the partial failure only the
    // failed record is retried (the records before it are checkpointed), once (retry limit 1).
    assert_eq!(
        keys,
        [vec!["j1", "j2", "p"], vec!["p"], vec!["j4", "j5", "j6"]],
        "{batches:#?}"
    );
    let first = &batches[0][0];
    assert_eq!(first["eventName"], "INSERT");
    assert_eq!(first["eventSource"], "aws:dynamodb");
    assert_eq!(first["eventVersion"], "1.1");
    assert_eq!(first["awsRegion"], "us-east-1");
    assert!(
        first["eventSourceARN"]
            .as_str()
            .unwrap()
            .contains(&format!("table/{table}/stream/"))
    );
    assert_eq!(first["dynamodb"]["NewImage"]["kind"], json!({"S": "job"}));
    assert_eq!(first["dynamodb"]["StreamViewType"], "NEW_AND_OLD_IMAGES");
    assert!(first["dynamodb"]["SequenceNumber"].is_string());
    assert!(first["dynamodb"]["ApproximateCreationDateTime"].is_number());
    assert!(first.get("userIdentity").is_none());

    // The discarded batch reaches the failure queue as Lambda's pointer, not the record.
    let pointers = failure_pointers(&h, 1).await;
    let info = &pointers[0]["DDBStreamBatchInfo"];
    assert_eq!(
        pointers[0]["requestContext"]["condition"],
        "RetryAttemptsExhausted"
    );
    assert_eq!(pointers[0]["requestContext"]["approximateInvokeCount"], 2);
    assert_eq!(
        info["startSequenceNumber"],
        batches[1][0]["dynamodb"]["SequenceNumber"]
    );
    assert_eq!(info["endSequenceNumber"], info["startSequenceNumber"]);
    assert_eq!(info["batchSize"], 1);
    assert_eq!(info["streamArn"], first["eventSourceARN"]);
    assert!(info["shardId"].as_str().unwrap().starts_with("shardId-"));
    assert!(pointers[0].get("Records").is_none());

    // LATEST: only what is written after the mapping started; both images of a change.
    tokio::time::sleep(Duration::from_millis(500)).await;
    put(&db, &table, "note-after", &[("kind", "note")]).await;
    put(&db, &table, "j1", &[("kind", "job"), ("changed", "yes")]).await;
    let records = h
        .records_until(|r| {
            delivered(r, "latest", "note-after") >= 1 && delivered(r, "jobs", "j1") >= 2
        })
        .await;
    let latest = stream_batches(&records, "latest");
    let latest: Vec<&str> = latest.iter().flatten().map(pk).collect();
    assert_eq!(latest, ["note-after"]);
    let modify = stream_batches(&records, "jobs")
        .into_iter()
        .flatten()
        .find(|r| r["eventName"] == "MODIFY")
        .unwrap();
    assert_eq!(
        modify["dynamodb"]["NewImage"]["changed"],
        json!({"S": "yes"})
    );
    assert!(modify["dynamodb"]["OldImage"].get("changed").is_none());
    assert_eq!(h.table, table);
}

#[tokio::test]
async fn a_stream_batch_that_crashes_the_function_is_bisected_down_to_the_bad_record() {
    let (table, db) = stream_table().await;
    put(&db, &table, "c1", &[("kind", "job")]).await;
    put(&db, &table, "x", &[("kind", "job"), ("crash", "1")]).await;
    put(&db, &table, "c2", &[("kind", "job")]).await;
    put(&db, &table, "c3", &[("kind", "job")]).await;
    let h = start_on(&table, &[]).await;
    let pointers = failure_pointers(&h, 1).await;
    let records = h
        .records_until(|r| {
            stream_batches(r, "jobs")
                .iter()
                .any(|b| b.iter().map(pk).collect::<Vec<_>>() == ["c2", "c3"])
        })
        .await;
    let batches = stream_batches(&records, "jobs");
    let keys: Vec<Vec<&str>> = batches.iter().map(|b| b.iter().map(pk).collect()).collect();
    // Halved on each crash (not counted as retries); alone, the record is retried once, then
    // discarded, and the records around it are delivered.
    assert_eq!(
        keys,
        [
            vec!["c1", "x", "c2"],
            vec!["c1", "x"],
            vec!["c1"],
            vec!["x", "c2", "c3"],
            vec!["x", "c2"],
            vec!["x"],
            vec!["x"],
            vec!["c2", "c3"],
        ]
    );
    assert_eq!(pointers[0]["DDBStreamBatchInfo"]["batchSize"], 1);
    assert_eq!(pointers[0]["responseContext"]["functionError"], "Unhandled");
}

#[tokio::test]
async fn a_paused_stream_mapping_reads_nothing_while_the_others_deliver() {
    let (table, db) = stream_table().await;
    // Written before the start: the jobs mapping (TRIM_HORIZON) would deliver it at its first read.
    put(&db, &table, "j-paused", &[("kind", "job")]).await;
    let h = start_pausing(&table, &[], &["JobsStream"]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    put(&db, &table, "note-while-paused", &[("kind", "note")]).await;
    h.records_until(|r| {
        stream_batches(r, "latest")
            .iter()
            .flatten()
            .any(|record| pk(record) == "note-while-paused")
    })
    .await;
    // Four more poll intervals: time for the jobs mapping to have read, had it run.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let records = h.records_until(|_| true).await;
    assert!(
        stream_batches(&records, "jobs").is_empty(),
        "the paused mapping delivered: {records:#?}"
    );
}
