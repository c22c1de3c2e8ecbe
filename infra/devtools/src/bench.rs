//! `devtools bench`: each function's release binary run by the local cloud as Lambda runs it,
//! against DynamoDB Local. Cold starts and memory are read from the local cloud's own
//! measurements; warm latency is taken through the HTTP API and by invoking the function
//! directly, so the difference is the gateway's overhead.

use std::path::PathBuf;
use std::time::Instant;

use bytes::Bytes;

pub struct BenchOptions {
    pub binaries: PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    pub table: String,
    pub runs: usize,
    pub burst: usize,
    /// `(function logical id, event file)`.
    pub functions: Vec<(String, PathBuf)>,
}

/// The `p`th percentile of measurements taken (never empty here).
fn percentile(values: &[f64], p: f64) -> f64 {
    local_cloud::runtime::percentile(values, p).unwrap_or(f64::NAN)
}

fn ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// An API Gateway event file as an HTTP request: method, path with query, headers, body.
struct Sample {
    event: serde_json::Value,
}

impl Sample {
    /// The event with a fresh token and, where it names an organization, the bench user's own.
    fn load(path: &PathBuf, token: &str, org_id: &str) -> Result<Self, String> {
        let raw = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut event: serde_json::Value = serde_json::from_str(&raw).map_err(|e| e.to_string())?;
        event["headers"]["authorization"] = format!("Bearer {token}").into();
        if event["headers"].get("x-org-id").is_some() {
            event["headers"]["x-org-id"] = org_id.into();
        }
        Ok(Self { event })
    }

    /// Sends the sample through the HTTP API; anything but a 2xx ends the benchmark.
    async fn send(
        &self,
        client: &reqwest::Client,
        base: &str,
        function: &str,
    ) -> Result<(), String> {
        let status = self
            .request(client, base)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .status();
        if status.is_success() {
            Ok(())
        } else {
            Err(format!("{function} answered {status}"))
        }
    }

    fn request(&self, client: &reqwest::Client, base: &str) -> reqwest::RequestBuilder {
        let method = self.event["requestContext"]["http"]["method"]
            .as_str()
            .unwrap_or("GET");
        let query = self.event["rawQueryString"]
            .as_str()
            .filter(|q| !q.is_empty())
            .map(|q| format!("?{q}"))
            .unwrap_or_default();
        let url = format!(
            "{base}{}{query}",
            self.event["rawPath"].as_str().unwrap_or("/")
        );
        let mut request = client.request(method.parse().unwrap_or(reqwest::Method::GET), url);
        for (name, value) in self.event["headers"].as_object().into_iter().flatten() {
            if name != "host" && name != "content-length" {
                request = request.header(name, value.as_str().unwrap_or_default());
            }
        }
        if let Some(body) = self.event["body"].as_str() {
            request = request.body(body.to_owned());
        }
        request
    }
}

pub async fn run(options: BenchOptions, token: String) -> Result<String, String> {
    local_cloud::logs::set_quiet(true);
    // One instance per function: every cold start is measured on a fresh one.
    let cloud = local_cloud::start(local_cloud::Config {
        queue_prefix: "bench-".into(),
        max_instances: 1,
        ..test_support::cloud::config(
            options.binaries.clone(),
            &options.dynamodb,
            &options.sqs,
            &options.table,
        )
    })
    .await?;
    let base = format!("http://{}", cloud.http);
    let client = reqwest::Client::new();
    let template =
        sam_template::Template::load(&sam_template::default_path()).map_err(|e| e.to_string())?;
    let definitions = template.functions().map_err(|e| e.to_string())?;
    // An organization of the bench user, for routes that work inside one.
    let created: serde_json::Value = client
        .post(format!("{base}/v1/orgs"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(r#"{"name":"Bench"}"#)
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let org_id = created["id"]
        .as_str()
        .ok_or(format!("creating the bench organization failed: {created}"))?
        .to_owned();
    let mut report = Vec::new();
    for (name, event_file) in &options.functions {
        let function = cloud
            .functions
            .get(name)
            .ok_or_else(|| format!("no function {name} in the template"))?;
        let definition = definitions
            .iter()
            .find(|d| &d.logical_id == name)
            .expect("same template");
        let size = std::fs::metadata(options.binaries.join(&definition.binary))
            .map_err(|e| e.to_string())?
            .len();
        let sample = Sample::load(event_file, &token, &org_id)?;
        // Warm-up: creates the user, so every measured request does the same reads.
        sample.send(&client, &base, name).await?;
        let before = function.stats();
        let mut cold_gateway = Vec::new();
        for _ in 0..options.runs {
            function.recycle();
            let started = Instant::now();
            sample.send(&client, &base, name).await?;
            cold_gateway.push(ms(started));
        }
        let stats = function.stats();
        let init = &stats.init_ms[before.init_ms.len()..];
        let first = &stats.first_response_ms[before.first_response_ms.len()..];

        let mut through_gateway = Vec::with_capacity(options.burst);
        for _ in 0..options.burst {
            let started = Instant::now();
            sample.send(&client, &base, name).await?;
            through_gateway.push(ms(started));
        }
        let event = Bytes::from(sample.event.to_string());
        let mut direct = Vec::with_capacity(options.burst);
        for _ in 0..options.burst {
            let started = Instant::now();
            let answer = function
                .invoke(event.clone())
                .await
                .map_err(|e| format!("{e:?}"))?;
            direct.push(ms(started));
            let status = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["statusCode"].as_u64());
            if status != Some(200) {
                return Err(format!("{name} answered {status:?} when invoked directly"));
            }
        }
        let rss_mib = function.stats().peak_rss_kib as f64 / 1024.0;
        report.push(format!(
            "{name} ({}): binary {:.2} MiB\n  cold start, spawn to first poll: median {:.1} ms\n  \
             cold start, spawn to first response: median {:.1} ms (min {:.1}, max {:.1}; {} runs)\n  \
             cold request through the HTTP API (client side): median {:.1} ms\n  \
             warm, through the HTTP API: p50 {:.2} ms, p99 {:.2} ms\n  \
             warm, function invoked directly: p50 {:.2} ms, p99 {:.2} ms\n  \
             gateway overhead (p50 difference): {:.2} ms\n  peak RSS: {:.1} MiB over {} invocations",
            definition.binary,
            size as f64 / 1_048_576.0,
            percentile(init, 50.0),
            percentile(first, 50.0),
            percentile(first, 0.0),
            percentile(first, 100.0),
            first.len(),
            percentile(&cold_gateway, 50.0),
            percentile(&through_gateway, 50.0),
            percentile(&through_gateway, 99.0),
            percentile(&direct, 50.0),
            percentile(&direct, 99.0),
            percentile(&through_gateway, 50.0) - percentile(&direct, 50.0),
            rss_mib,
            stats.invocations + 2 * options.burst as u64,
        ));
    }
    cloud.shutdown();
    Ok(report.join("\n"))
}
