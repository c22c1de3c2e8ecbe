//! Every sample event of `events/` reaches its route: each goes through lambda_http's own event
//! parsing, as in Lambda, into the function's router.

use axum::body::Body;
use http::{Request, StatusCode};

use crate::api::ApiClient;

/// The organization id the samples name; replaced by a real one.
pub const SAMPLE_ORG: &str = "01JD3YQ9V4Z8K2M6N0P3R5T7W9";

/// The `events/` directory.
pub fn dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../events")
}

/// Sends each sample (`file`, with [`SAMPLE_ORG`] replaced by `org`) and checks its status.
pub async fn assert_samples_reach_their_routes(
    client: &ApiClient,
    org: &str,
    samples: &[(&str, StatusCode)],
) {
    for (file, status) in samples {
        let raw = std::fs::read_to_string(dir().join(file)).unwrap();
        let request = lambda_http::request::from_str(&raw.replace(SAMPLE_ORG, org)).unwrap();
        let (parts, body) = request.into_parts();
        let reply = client
            .send(Request::from_parts(parts, Body::from(body.to_vec())))
            .await;
        assert_eq!(reply.status, *status, "{file}: {}", reply.body);
    }
}
