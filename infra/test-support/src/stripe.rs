//! The local Stripe's control API, as the billing suites drive it (`docs/local-stripe.md`).

use serde_json::Value;

/// A client of one local Stripe's control routes (`/_local/...`) and its event log.
#[derive(Clone)]
pub struct StripeControl {
    url: String,
    http: reqwest::Client,
}

impl StripeControl {
    /// The local Stripe at `url` (`LocalStripe::url()`).
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            http: reqwest::Client::new(),
        }
    }

    /// A control request; anything but a 2xx fails the test.
    pub async fn call(&self, method: reqwest::Method, path: &str, body: Value) -> Value {
        self.http
            .request(method, format!("{}{path}", self.url))
            .json(&body)
            .send()
            .await
            .expect("the local Stripe answers")
            .error_for_status()
            .expect("the control route succeeds")
            .json()
            .await
            .expect("a JSON answer")
    }

    /// Moves the clock by `days` and waits until every event it brought was delivered.
    pub async fn advance_days(&self, days: u32) {
        self.call(
            reqwest::Method::POST,
            "/_local/clock/advance",
            serde_json::json!({ "days": days }),
        )
        .await;
        self.settled().await;
    }

    /// The next charge of `customer` is declined.
    pub async fn fail_next_payment(&self, customer: &str) {
        let path = format!("/_local/customers/{customer}/fail_next_payment");
        self.call(reqwest::Method::POST, &path, serde_json::json!({}))
            .await;
    }

    /// Every event made so far, oldest first, as sent.
    pub async fn events(&self) -> Vec<Value> {
        let log = self
            .call(reqwest::Method::GET, "/_local/events", Value::Null)
            .await;
        log["events"]
            .as_array()
            .map(|events| events.iter().map(|e| e["event"].clone()).collect())
            .unwrap_or_default()
    }

    /// Waits (up to 10 s) until every event made so far was delivered (answered 2xx).
    pub async fn settled(&self) {
        for _ in 0..400 {
            let log = self
                .call(reqwest::Method::GET, "/_local/events", Value::Null)
                .await;
            let delivered = log["events"]
                .as_array()
                .is_some_and(|events| events.iter().all(|e| e["delivered"] == true));
            if delivered {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the local Stripe's events were not all delivered");
    }

    /// How many customers and subscriptions it holds.
    pub async fn counts(&self) -> (u64, u64) {
        let status = self
            .call(reqwest::Method::GET, "/_local/status", Value::Null)
            .await;
        let count = |kind: &str| status["objects"][kind].as_u64().unwrap_or(0);
        (count("customer"), count("subscription"))
    }
}
