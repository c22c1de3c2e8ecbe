//! Delivers recorded events to the webhook endpoint: signed as Stripe signs them, in the order they
//! happened, each retried with exponential backoff while the endpoint answers non-2xx; chaos mode
//! sends some twice and holds some back until a later one has gone.

use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::sync::mpsc::UnboundedReceiver;

use crate::Shared;
use crate::state::{Attempt, wall_clock};

/// How long chaos mode holds an event back when no later one comes.
const HOLD_AT_MOST: Duration = Duration::from_millis(300);

/// `Stripe-Signature` for `payload` signed at `timestamp`: `t=…,v1=HMAC-SHA256(secret, "t.payload")`.
pub fn signature(payload: &str, secret: &str, timestamp: i64) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    mac.update(format!("{timestamp}.{payload}").as_bytes());
    format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// The delivery worker: one per server, fed the id of every new event.
pub async fn deliver(shared: Arc<Shared>, mut queue: UnboundedReceiver<String>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("an HTTP client without TLS roots to load builds");
    let mut held: Option<String> = None;
    loop {
        let next = match held {
            Some(_) => match tokio::time::timeout(HOLD_AT_MOST, queue.recv()).await {
                Ok(next) => next,
                Err(_) => {
                    // Nothing came after the held event: it goes now.
                    if let Some(earlier) = held.take() {
                        send(&shared, &client, earlier).await;
                    }
                    continue;
                }
            },
            None => queue.recv().await,
        };
        let Some(id) = next else { break };
        let (duplicate, hold) = chaos_for_next(&shared);
        if hold && held.is_none() {
            held = Some(id);
            continue;
        }
        send(&shared, &client, id.clone()).await;
        if duplicate {
            if let Some(record) = shared.state().event_mut(&id) {
                record.duplicated = true;
            }
            send(&shared, &client, id).await;
        }
        if let Some(earlier) = held.take() {
            send(&shared, &client, earlier).await;
        }
    }
}

fn chaos_for_next(shared: &Shared) -> (bool, bool) {
    let mut state = shared.state();
    state.event_counter += 1;
    let n = state.event_counter;
    let chaos = &state.chaos;
    if !chaos.enabled {
        return (false, false);
    }
    let every = |k: u32| k > 0 && n.is_multiple_of(k);
    (every(chaos.duplicate_every), every(chaos.reorder_every))
}

/// One delivery now; on failure, retries in the background so later events are not held up.
async fn send(shared: &Arc<Shared>, client: &reqwest::Client, id: String) {
    if attempt(shared, client, &id).await {
        return;
    }
    let shared = shared.clone();
    let client = client.clone();
    tokio::spawn(async move {
        let retry = shared.settings().retry;
        let mut wait = Duration::from_millis(retry.first_ms);
        for _ in 1..retry.max_attempts {
            tokio::time::sleep(wait).await;
            if attempt(&shared, &client, &id).await {
                return;
            }
            wait *= 2;
        }
    });
}

/// Posts the event once and records the attempt; true when the endpoint answered 2xx (or there
/// is no endpoint to send to).
async fn attempt(shared: &Shared, client: &reqwest::Client, id: &str) -> bool {
    let settings = shared.settings();
    let Some(url) = settings.webhook_url else {
        return true;
    };
    let payload = match shared.state().event_mut(id) {
        Some(record) => record.event.to_string(),
        None => return true,
    };
    let signed = signature(&payload, &settings.webhook_secret, wall_clock());
    let result = client
        .post(&url)
        .header("content-type", "application/json; charset=utf-8")
        .header(
            "user-agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .header("stripe-signature", signed)
        .body(payload)
        .send()
        .await;
    let (status, error) = match result {
        Ok(response) => (Some(response.status().as_u16()), None),
        Err(error) => (None, Some(error.to_string())),
    };
    let ok = status.is_some_and(|s| (200..300).contains(&s));
    let mut state = shared.state();
    let at = state.now();
    if let Some(record) = state.event_mut(id) {
        record.attempts.push(Attempt { at, status, error });
        record.delivered |= ok;
        // `pending_webhooks` counts endpoints still owed this event, as Stripe's does.
        record.event["pending_webhooks"] = serde_json::json!(if record.delivered { 0 } else { 1 });
    }
    ok
}

#[cfg(test)]
mod tests {
    #[test]
    fn signs_as_stripe_documents() {
        // printf '1700000000.{}' | openssl dgst -sha256 -hmac whsec_test
        assert_eq!(
            super::signature("{}", "whsec_test", 1_700_000_000),
            "t=1700000000,v1=35495024f4ef3f94e5a93e22221544c4b75e9a42300cd965ab81cb85cd994e91"
        );
    }
}
