//! The invoicing part of the OpenAPI document.

/// The OpenAPI part lists every route with a unique operation id, and every schema it refers to
/// is in its components.
#[test]
fn the_openapi_document_describes_every_route_and_resolves_its_references() {
    use utoipa::OpenApi as _;
    let doc = serde_json::to_value(carebill_invoicing::ApiDoc::openapi()).expect("json");
    let paths = doc["paths"].as_object().expect("paths");
    let mut ops = Vec::new();
    for (path, methods) in [
        ("/v1/invoices", &["get"][..]),
        ("/v1/invoices/{id}", &["get"]),
        ("/v1/invoices/{id}/credit-notes", &["post"]),
        ("/v1/credit-notes", &["get"]),
        ("/v1/credit-notes/{id}", &["get"]),
        ("/v1/invoices/{id}/ubl", &["get"]),
        ("/v1/credit-notes/{id}/ubl", &["get"]),
        ("/v1/invoicing/audit-events", &["get"]),
        ("/v1/reports/revenue", &["get"]),
        ("/v1/reports/utilization", &["get"]),
        ("/v1/reports/credit-notes", &["get"]),
    ] {
        for m in methods {
            let op = &paths[path][*m];
            ops.push(op["operationId"].as_str().expect("operation id").to_owned());
        }
    }
    assert!(ops.contains(&"list_invoicing_audit_events".to_owned()));
    let unique: std::collections::HashSet<_> = ops.iter().collect();
    assert_eq!(unique.len(), ops.len(), "{ops:?}");
    let text = doc.to_string();
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    for r in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = r.split('"').next().expect("name");
        assert!(schemas.contains_key(name), "unresolved schema {name}");
    }
    assert!(schemas.contains_key("Invoice") && schemas.contains_key("CreditNote"));
}
