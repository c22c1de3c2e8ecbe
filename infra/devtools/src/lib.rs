//! Developer commands (see `main.rs`), kept as library functions so tests can call them.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{InfoBuilder, OpenApi, SecurityRequirement};

/// Where the generated document lives; the accounts function serves this file.
pub fn openapi_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json")
}

/// The OpenAPI document of the whole API: every function's routes merged, bearer JWT by default.
pub fn openapi() -> OpenApi {
    let mut document = accounts_function::openapi();
    // Every function adds its part here.
    document.merge(team_function::openapi());
    document.merge(analytics_function::openapi());
    document.merge(billing_function::openapi());
    document.merge(stripe_webhook_function::openapi());
    document.merge(notifications_function::openapi());
    document.info = InfoBuilder::new()
        .title("Objecta platform API")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Billing, team collaboration, analytics and notifications. Errors are RFC 9457 \
             application/problem+json; lists are {items, next_cursor}; times are RFC 3339 UTC.",
        ))
        .build();
    let components = document.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    document.security = Some(vec![SecurityRequirement::new(
        "bearer",
        Vec::<String>::new(),
    )]);
    document
}

pub fn openapi_json() -> String {
    let mut json = openapi()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_openapi_document_is_current() {
        let committed = std::fs::read_to_string(openapi_path()).unwrap_or_default();
        assert!(
            committed == openapi_json(),
            "docs/openapi.json is stale: run `cargo run -p devtools -- openapi` and commit it"
        );
    }

    /// Routes served without a token (§3 of the brief; the unsubscribe link is its own
    /// credential).
    const PUBLIC_ROUTES: [(&str, &str); 6] = [
        ("GET", "/v1/health"),
        ("GET", "/v1/openapi.json"),
        ("GET", "/v1/billing/plans"),
        ("POST", "/v1/webhooks/stripe"),
        ("GET", "/v1/notifications/unsubscribe"),
        ("POST", "/v1/notifications/unsubscribe"),
    ];

    /// Routes that also take org API keys (`Bearer oak_...`, not JWTs): a gateway JWT authorizer
    /// would refuse those, so the function alone checks them.
    const API_KEY_ROUTES: [(&str, &str); 1] = [("POST", "/v1/analytics/track")];

    #[test]
    fn the_optional_gateway_authorizer_covers_every_private_route() {
        let template = sam_template::Template::load(&sam_template::default_path()).unwrap();
        let mut private: Vec<(String, String)> = template
            .functions()
            .unwrap()
            .into_iter()
            .flat_map(|f| f.routes)
            .filter(|(m, p)| !PUBLIC_ROUTES.contains(&(m.as_str(), p.as_str())))
            .filter(|(m, p)| !API_KEY_ROUTES.contains(&(m.as_str(), p.as_str())))
            .collect();
        private.sort();
        assert_eq!(template.gateway_authorized_routes().unwrap(), private);
    }

    /// The `[workspace.metadata.lambda.watch.router]` table of the workspace's `Cargo.toml`:
    /// `"path" = "binary"` lines, read as written (the table is flat).
    fn cargo_lambda_router() -> Vec<(String, String)> {
        let manifest = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../Cargo.toml"),
        )
        .unwrap();
        let mut lines = manifest
            .lines()
            .skip_while(|l| l.trim() != "[workspace.metadata.lambda.watch.router]")
            .skip(1);
        let mut routes = Vec::new();
        for line in lines.by_ref() {
            let line = line.trim();
            if line.starts_with('[') {
                break;
            }
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (path, binary) = line
                .split_once('=')
                .expect("a `\"path\" = \"binary\"` line");
            let unquote = |s: &str| s.trim().trim_matches('"').to_owned();
            routes.push((unquote(path), unquote(binary)));
        }
        routes.sort();
        routes
    }

    #[test]
    fn the_cargo_lambda_router_serves_every_template_path_by_its_function() {
        let template = sam_template::Template::load(&sam_template::default_path()).unwrap();
        let mut served: Vec<(String, String)> = template
            .functions()
            .unwrap()
            .into_iter()
            .flat_map(|f| {
                let binary = f.binary.clone();
                f.routes
                    .into_iter()
                    .map(move |(_, path)| (path, binary.clone()))
            })
            .collect();
        served.sort();
        served.dedup();
        assert_eq!(
            cargo_lambda_router(),
            served,
            "Cargo.toml's [workspace.metadata.lambda.watch.router] must list every path of \
             template.yaml with the binary that serves it"
        );
    }

    #[test]
    fn every_template_route_is_documented_and_every_documented_route_deployed() {
        let template = sam_template::Template::load(&sam_template::default_path()).unwrap();
        let mut deployed: Vec<(String, String)> = template
            .functions()
            .unwrap()
            .into_iter()
            .flat_map(|f| f.routes)
            .collect();
        deployed.sort();
        let document = openapi();
        let mut documented = Vec::new();
        for (path, item) in &document.paths.paths {
            for (method, op) in [
                ("GET", &item.get),
                ("POST", &item.post),
                ("PATCH", &item.patch),
                ("PUT", &item.put),
                ("DELETE", &item.delete),
            ] {
                if op.is_some() {
                    documented.push((method.to_owned(), path.clone()));
                }
            }
        }
        documented.sort();
        assert_eq!(deployed, documented);
    }
}
