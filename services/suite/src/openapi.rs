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

/// The merged document of the whole suite.
pub fn document() -> OpenApi {
    let mut doc = Operations::openapi();
    doc.merge(carebill_accounts::ApiDoc::openapi());
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
    doc
}

/// The document as pretty JSON with a trailing newline, exactly as committed.
pub fn json() -> String {
    let mut s = document().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}
