//! The suite's OpenAPI 3.1 document: every service's paths, the operational endpoints, the
//! bearer security scheme. `carebill openapi` prints it; `openapi/carebill.json` holds it
//! committed; the running suite serves it at `/openapi.json` and a page at `/docs/`.

use utoipa::OpenApi as _;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ComponentsBuilder, InfoBuilder, OpenApi};

#[derive(utoipa::OpenApi)]
#[openapi(
    paths(carebill_platform::health::live, carebill_platform::health::ready, carebill_platform::health::metrics),
    tags((name = "operations", description = "Health probes and metrics (no token needed)"))
)]
struct Operations;

/// Each service's paths, as its own OpenAPI document declares them (what a gateway must route
/// to it).
pub fn paths_by_service() -> Vec<(&'static str, Vec<String>)> {
    let paths = |doc: OpenApi| doc.paths.paths.keys().cloned().collect::<Vec<_>>();
    vec![
        ("accounts", paths(carebill_accounts::ApiDoc::openapi())),
        ("settlement", paths(carebill_settlement::ApiDoc::openapi())),
        ("invoicing", paths(carebill_invoicing::ApiDoc::openapi())),
        (
            "collections",
            paths(carebill_collections::ApiDoc::openapi()),
        ),
    ]
}

/// The merged document of the whole suite.
pub fn document() -> OpenApi {
    let mut doc = Operations::openapi();
    doc.merge(carebill_accounts::ApiDoc::openapi());
    doc.merge(carebill_settlement::ApiDoc::openapi());
    doc.merge(carebill_invoicing::ApiDoc::openapi());
    doc.merge(carebill_collections::ApiDoc::openapi());
    doc.info = InfoBuilder::new()
        .title("Carebill")
        .version(env!("CARGO_PKG_VERSION"))
        .description(Some(
            "Healthcare billing back office: accounts, settlement, invoicing and collections. \
             Every endpoint but the operational ones needs a bearer JWT; errors are RFC 9457 \
             problem+json documents with a stable `code`.",
        ))
        .build();
    let components = doc
        .components
        .take()
        .unwrap_or_else(|| ComponentsBuilder::new().build());
    let mut components = components;
    components.add_security_scheme(
        "bearer",
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .build(),
        ),
    );
    doc.components = Some(components);
    document_standard_problems(&mut doc);
    doc
}

/// Adds the problem responses every operation can give, so that clients (and schemathesis)
/// see the whole contract: 400 malformed request, 401/403 for secured operations, 404 for paths
/// with an id, 413/415 for request bodies, 422 validation, 503 a dependency down.
fn document_standard_problems(doc: &mut OpenApi) {
    use utoipa::openapi::path::Operation;
    use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        if !path.starts_with("/v1/") {
            continue;
        }
        let ops: [&mut Option<Operation>; 4] = [
            &mut item.get,
            &mut item.post,
            &mut item.put,
            &mut item.delete,
        ];
        for op in ops.into_iter().flatten() {
            let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
            let has_body = op.request_body.is_some();
            let mut wanted = vec![
                ("400", "Malformed request or query string"),
                ("422", "Invalid fields; `errors` names each one"),
                (
                    "503",
                    "A database or the broker is unavailable; retry later",
                ),
            ];
            if secured {
                wanted.push(("401", "No token, or an invalid, expired or foreign one"));
                wanted.push(("403", "The token's roles do not allow this"));
            }
            if path.contains('{') {
                wanted.push(("404", "No such record in your scope"));
            }
            let idempotent = op
                .parameters
                .as_ref()
                .is_some_and(|ps| ps.iter().any(|p| p.name == "Idempotency-Key"));
            if idempotent {
                wanted.push(("409", "Conflicts with the current state, or the Idempotency-Key was used with another request"));
            }
            if has_body {
                wanted.push(("413", "The body is too large"));
                wanted.push(("415", "The body is not JSON"));
            }
            for (code, description) in wanted {
                op.responses
                    .responses
                    .entry(code.to_owned())
                    .or_insert_with(|| problem(description));
            }
        }
    }
}

/// The document as pretty JSON with a trailing newline, exactly as committed.
pub fn json() -> String {
    let mut s = document().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
