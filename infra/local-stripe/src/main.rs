//! `local-stripe`: the local Stripe on 127.0.0.1 (see docs/local-stripe.md).
//!
//! ```text
//! local-stripe [--addr 127.0.0.1:12111] [--webhook-url URL] [--webhook-secret whsec_local]
//!              [--api-key sk_test_...] [--retry-first-ms 1000] [--retry-max-attempts 8]
//! ```

use std::process::ExitCode;

fn parse(args: Vec<String>) -> Result<local_stripe::Config, String> {
    let mut config = local_stripe::Config::default();
    let mut args = args.into_iter();
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        match flag.as_str() {
            "--addr" => {
                let v = value()?;
                config.addr = v
                    .parse()
                    .map_err(|_| format!("--addr: {v} is not HOST:PORT"))?;
            }
            "--webhook-url" => config.webhook_url = Some(value()?).filter(|u| !u.is_empty()),
            "--webhook-secret" => config.webhook_secret = value()?,
            "--api-key" => config.api_key = Some(value()?),
            "--retry-first-ms" => {
                config.retry.first_ms = value()?
                    .parse()
                    .map_err(|_| "--retry-first-ms takes milliseconds")?;
            }
            "--retry-max-attempts" => {
                config.retry.max_attempts = value()?
                    .parse()
                    .map_err(|_| "--retry-max-attempts takes a count")?;
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(config)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let config = match parse(std::env::args().skip(1).collect()) {
        Ok(config) => config,
        Err(message) => {
            if !message.is_empty() {
                eprintln!("local-stripe: {message}");
            }
            eprintln!(
                "usage: local-stripe [--addr HOST:PORT] [--webhook-url URL] [--webhook-secret S] [--api-key K] [--retry-first-ms N] [--retry-max-attempts N]"
            );
            return ExitCode::from(2);
        }
    };
    let webhook = config.webhook_url.clone().unwrap_or_else(|| "none".into());
    match local_stripe::start(config).await {
        Ok(stripe) => {
            println!(
                "local-stripe: Stripe API on {} (webhooks to {webhook})",
                stripe.url()
            );
            let _ = tokio::signal::ctrl_c().await;
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("local-stripe: cannot listen: {error}");
            ExitCode::FAILURE
        }
    }
}
