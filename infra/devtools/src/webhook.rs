//! `devtools webhook`: the Stripe webhook's release binary behind the local cloud's HTTP API,
//! refetching from the local Stripe through a proxy that counts its calls.
//!
//! 1. Setup: ORGS organizations subscribe through the billing function (its release binary),
//!    then upgrade, set to cancel, resume, and a month passes (renewals). The local Stripe keeps
//!    the events it made (no delivery yet), and the table is behind on the renewals.
//! 2. Cold start: a signed subscription event (a fresh id each time, so it refetches) on a fresh
//!    instance, RUNS times: spawn → response of the webhook with its refetch.
//! 3. Delivery: every event the setup made (about 30 per organization), signed as Stripe signs them, CONCURRENCY at a time, in
//!    order (chaos off), or with every 3rd one sent twice and every 4th swapped with the next
//!    (chaos on, as the local Stripe's chaos mode): events/s, time to 2xx, Stripe calls per
//!    event, duplicates dropped, and how long after the last 2xx the table matches Stripe.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

pub struct WebhookOptions {
    pub binaries: PathBuf,
    pub dynamodb: String,
    pub sqs: String,
    pub runs: usize,
    pub orgs: usize,
    pub concurrency: usize,
}

fn percentile(values: &[f64], p: f64) -> f64 {
    local_cloud::runtime::percentile(values, p).unwrap_or(f64::NAN)
}

fn sign(payload: &str) -> String {
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let mut mac = Hmac::<Sha256>::new_from_slice(b"whsec_local").expect("any key length");
    mac.update(format!("{t}.{payload}").as_bytes());
    let signature: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("t={t},v1={signature}")
}

/// A proxy in front of the local Stripe counting the API requests that reach it.
async fn counting_proxy(target: String, count: Arc<AtomicU64>) -> Result<String, String> {
    let http = reqwest::Client::new();
    let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let (target, count, http) = (target.clone(), count.clone(), http.clone());
        async move {
            let (parts, body) = request.into_parts();
            let body = axum::body::to_bytes(body, usize::MAX)
                .await
                .unwrap_or_default();
            let path = parts
                .uri
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            if path.starts_with("/v1/") {
                count.fetch_add(1, Ordering::Relaxed);
            }
            let mut forward = http.request(parts.method.clone(), format!("{target}{path}"));
            for (name, value) in &parts.headers {
                if name != "host" {
                    forward = forward.header(name, value);
                }
            }
            let (status, bytes) = match forward.body(body).send().await {
                Ok(answer) => (
                    answer.status().as_u16(),
                    answer.bytes().await.unwrap_or_default(),
                ),
                Err(_) => (502, Default::default()),
            };
            axum::response::Response::builder()
                .status(status)
                .header("content-type", "application/json")
                .body(axum::body::Body::from(bytes))
                .expect("a response")
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tokio::spawn(async move { axum::serve(listener, router).await });
    Ok(format!("http://{addr}"))
}

struct Run {
    label: &'static str,
    report: String,
}

pub async fn run(options: WebhookOptions, token: String) -> Result<String, String> {
    local_cloud::logs::set_quiet(true);
    let mut reports = Vec::new();
    let size = std::fs::metadata(options.binaries.join("stripe-webhook"))
        .map_err(|e| e.to_string())?
        .len();
    let billing_size = std::fs::metadata(options.binaries.join("billing"))
        .map_err(|e| e.to_string())?
        .len();
    reports.push(format!(
        "binaries: stripe-webhook {:.2} MiB, billing {:.2} MiB (stripped)",
        size as f64 / 1_048_576.0,
        billing_size as f64 / 1_048_576.0
    ));
    for chaos in [false, true] {
        let run = one_run(&options, &token, chaos).await?;
        reports.push(format!("{}:\n{}", run.label, run.report));
    }
    Ok(reports.join("\n"))
}

/// Secrets Manager secrets (in moto) holding the local Stripe's keys; their ARNs.
async fn secrets_in_moto(moto: &str, table: &str) -> Result<(String, String), String> {
    let client = aws_sdk_secretsmanager::Client::new(&local_cloud::clients::sdk_config(moto));
    let mut arns = Vec::new();
    for (name, value) in [("key", "sk_test_local"), ("webhook", "whsec_local")] {
        let created = client
            .create_secret()
            .name(format!("{table}-stripe-{name}"))
            .secret_string(value)
            .send()
            .await
            .map_err(|e| aws_sdk_secretsmanager::error::DisplayErrorContext(e).to_string())?;
        arns.push(created.arn.unwrap_or_default());
    }
    Ok((arns[0].clone(), arns[1].clone()))
}

/// One setup and delivery run. Chaos off reads the keys from the environment; chaos on from
/// Secrets Manager (moto), so both cold starts are measured.
async fn one_run(options: &WebhookOptions, token: &str, chaos: bool) -> Result<Run, String> {
    let table = format!(
        "webhook-bench-{}",
        ulid::Ulid::generate().to_string().to_lowercase()
    );
    let stripe = local_stripe::start(local_stripe::Config {
        addr: "127.0.0.1:0".parse().expect("an address"),
        ..local_stripe::Config::default()
    })
    .await
    .map_err(|e| e.to_string())?;
    let calls = Arc::new(AtomicU64::new(0));
    let proxy = counting_proxy(stripe.url(), calls.clone()).await?;
    let mut config = test_support::cloud::config(
        options.binaries.clone(),
        &options.dynamodb,
        &options.sqs,
        &table,
    );
    config.queue_prefix = format!("{table}-");
    config.max_instances = options.concurrency.max(1);
    config
        .environment
        .insert("STRIPE_API_BASE".into(), proxy.clone());
    let keys_from = if chaos {
        let (key, webhook) = secrets_in_moto(&options.sqs, &table).await?;
        for (name, value) in [
            ("STRIPE_SECRET_KEY_SECRET_ID", key),
            ("STRIPE_WEBHOOK_SECRET_SECRET_ID", webhook),
            ("AWS_ENDPOINT_URL_SECRETS_MANAGER", options.sqs.clone()),
        ] {
            config.environment.insert(name.into(), value);
        }
        "keys from Secrets Manager (moto) on first use"
    } else {
        "keys from the environment"
    };
    let cloud = local_cloud::start(config).await?;
    let base = format!("http://{}", cloud.http);
    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, path: String, org: Option<String>, body: Option<Value>| {
        let mut request = http
            .request(method, format!("{base}{path}"))
            .bearer_auth(token);
        if let Some(org) = org {
            request = request.header("x-org-id", org);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        async move {
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let body: Value = response.json().await.unwrap_or(Value::Null);
            if status.is_success() {
                Ok(body)
            } else {
                Err(format!("{status}: {body}"))
            }
        }
    };
    let control = |path: &str, body: Value| {
        let request = http.post(format!("{}{path}", stripe.url())).json(&body);
        async move { request.send().await.map_err(|e| e.to_string()) }
    };

    // 1. Setup through the billing routes.
    let mut orgs = Vec::new();
    for i in 0..options.orgs {
        let org = call(
            reqwest::Method::POST,
            "/v1/orgs".into(),
            None,
            Some(json!({ "name": format!("Bench {i}") })),
        )
        .await?;
        let org = org["id"].as_str().ok_or("no org id")?.to_owned();
        let path = "/v1/billing/subscription".to_owned();
        let subscribe =
            json!({"plan": "starter", "interval": "month", "payment_method_id": "pm_card_visa"});
        call(
            reqwest::Method::POST,
            path.clone(),
            Some(org.clone()),
            Some(subscribe),
        )
        .await?;
        call(
            reqwest::Method::PATCH,
            path.clone(),
            Some(org.clone()),
            Some(json!({"plan": "pro"})),
        )
        .await?;
        call(
            reqwest::Method::DELETE,
            path.clone(),
            Some(org.clone()),
            None,
        )
        .await?;
        call(
            reqwest::Method::POST,
            format!("{path}/resume"),
            Some(org.clone()),
            None,
        )
        .await?;
        orgs.push(org);
    }
    control("/_local/clock/advance", json!({"days": 31})).await?;
    let events: Value = http
        .get(format!("{}/_local/events", stripe.url()))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let mut bodies: Vec<String> = events["events"]
        .as_array()
        .ok_or("no events")?
        .iter()
        .map(|e| e["event"].to_string())
        .collect();
    let made = bodies.len();
    let webhook = cloud
        .functions
        .get("StripeWebhookFunction")
        .ok_or("no StripeWebhookFunction in the template")?
        .clone();
    let url = format!("{base}/v1/webhooks/stripe");
    let post = |body: String| {
        let request = http
            .post(url.clone())
            .header("content-type", "application/json")
            .header("stripe-signature", sign(&body))
            .body(body);
        async move {
            let started = Instant::now();
            let response = request.send().await.map_err(|e| e.to_string())?;
            let status = response.status();
            let answer: Value = response.json().await.unwrap_or(Value::Null);
            let ms = started.elapsed().as_secs_f64() * 1000.0;
            if !status.is_success() {
                return Err(format!("the webhook answered {status}: {answer}"));
            }
            Ok::<_, String>((ms, answer["outcome"].as_str().unwrap_or("").to_owned()))
        }
    };

    // 2. Cold starts, each a subscription event that refetches.
    let cold;
    {
        let template = bodies
            .iter()
            .find(|b| b.contains("\"customer.subscription.updated\""))
            .ok_or("no subscription event")?
            .clone();
        let before = webhook.stats();
        for i in 0..options.runs {
            webhook.recycle();
            let mut event: Value = serde_json::from_str(&template).map_err(|e| e.to_string())?;
            event["id"] = format!("evt_cold_{i}").into();
            post(event.to_string()).await?;
        }
        let stats = webhook.stats();
        let first = &stats.first_response_ms[before.first_response_ms.len()..];
        cold = format!(
            "  cold start, spawn to the response of a signed subscription event with its refetch, {keys_from}: median {:.1} ms (min {:.1}, max {:.1}; {} runs)\n",
            percentile(first, 50.0),
            percentile(first, 0.0),
            percentile(first, 100.0),
            first.len()
        );
        webhook.recycle();
    }

    // 3. Delivery.
    if chaos {
        let mut shuffled = Vec::with_capacity(bodies.len() * 4 / 3);
        let mut i = 0;
        while i < bodies.len() {
            if i % 4 == 3 && i + 1 < bodies.len() {
                shuffled.push(bodies[i + 1].clone());
                shuffled.push(bodies[i].clone());
                i += 2;
            } else {
                shuffled.push(bodies[i].clone());
                i += 1;
            }
        }
        let mut with_duplicates = Vec::new();
        for (i, body) in shuffled.into_iter().enumerate() {
            with_duplicates.push(body.clone());
            if i % 3 == 2 {
                with_duplicates.push(body);
            }
        }
        bodies = with_duplicates;
    }
    let deliveries = bodies.len();
    let calls_before = calls.load(Ordering::Relaxed);
    let rss_before = webhook.stats().peak_rss_kib;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(deliveries);
    let mut outcomes = std::collections::BTreeMap::<String, usize>::new();
    let mut pending = bodies.into_iter();
    let mut in_flight = tokio::task::JoinSet::new();
    loop {
        while in_flight.len() < options.concurrency.max(1) {
            let Some(body) = pending.next() else { break };
            in_flight.spawn(post(body));
        }
        let Some(done) = in_flight.join_next().await else {
            break;
        };
        let (ms, outcome) = done.map_err(|e| e.to_string())??;
        latencies.push(ms);
        *outcomes.entry(outcome).or_default() += 1;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let stripe_calls = calls.load(Ordering::Relaxed) - calls_before;

    // The table against Stripe: every organization's stored facts equal a fresh read.
    let store = store::Store::new(
        local_cloud::clients::dynamodb(&options.dynamodb),
        table.as_str(),
    );
    let api = billing::StripeApi::new(
        Some(stripe.url()),
        billing::KeySource::fixed("sk_test_local", "whsec_local"),
    );
    let catalog = billing::PriceCatalog::local();
    let matched_at = Instant::now();
    let mut checks = 0;
    loop {
        let mut behind = 0;
        for org in &orgs {
            let stored = billing::writer::stored(&store, org)
                .await
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            let Some(id) = &stored.subscription_id else {
                behind += 1;
                continue;
            };
            let subscription = api.subscription(id).await.map_err(|e| e.to_string())?;
            let facts = billing::facts_of(
                &subscription,
                &catalog,
                stored.facts.as_ref(),
                clock::DateTime::now_utc(),
            )
            .map_err(|e| e.to_string())?;
            if stored.facts.as_ref() != Some(&facts) {
                behind += 1;
            }
        }
        checks += 1;
        if behind == 0 {
            break;
        }
        if checks > 100 {
            return Err(format!("{behind} organizations never matched Stripe"));
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let converged = matched_at.elapsed().as_secs_f64();
    let rss = webhook.stats().peak_rss_kib.max(rss_before) as f64 / 1024.0;
    cloud.shutdown();
    let report = format!(
        "{cold}  {made} events of {} organizations, {deliveries} deliveries, {} at a time: {:.0} events/s\n  \
         time to 2xx: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms\n  \
         Stripe calls per delivery: {:.2} ({stripe_calls} in all)\n  \
         outcomes: {}\n  \
         table matches Stripe {:.2} s after the last 2xx ({checks} check(s) of every organization)\n  \
         peak RSS: {rss:.1} MiB",
        orgs.len(),
        options.concurrency,
        deliveries as f64 / elapsed,
        percentile(&latencies, 50.0),
        percentile(&latencies, 99.0),
        percentile(&latencies, 100.0),
        stripe_calls as f64 / deliveries as f64,
        outcomes
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", "),
        converged,
    );
    Ok(Run {
        label: if chaos {
            "chaos on (every 3rd delivered twice, every 4th swapped with the next)"
        } else {
            "chaos off (in order)"
        },
        report,
    })
}
