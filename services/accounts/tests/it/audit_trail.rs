//! The accounts audit trail over HTTP: every write is in it.

use actix_web::http::StatusCode;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use serde_json::json;

use crate::common::fixtures::{consumption, fixture};
use crate::common::{app, harness};

carebill_platform::both_backends!(every_write_is_in_the_audit_trail);

async fn every_write_is_in_the_audit_trail(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    let (_, c, _) = call(
        &app,
        post("/v1/consumptions", &t, &consumption(&f.episode, None)),
    )
    .await;
    let id = c["id"].as_str().expect("id");
    let _ = call(
        &app,
        post(
            &format!("/v1/consumptions/{id}/void"),
            &t,
            &json!({"reason": "duplicate order"}),
        ),
    )
    .await;
    let (s, page, _) = call(
        &app,
        get(
            &format!("/v1/accounts/audit-events?entity_type=consumption&entity_id={id}"),
            &t,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let actions: Vec<(&str, Option<&str>)> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| (e["action"].as_str().unwrap_or(""), e["reason"].as_str()))
        .collect();
    assert_eq!(
        actions,
        vec![("create", None), ("void", Some("duplicate order"))]
    );
    assert_eq!(page["items"][0]["actor"], "test-admin");
    assert!(
        page["items"][0]["request_id"]
            .as_str()
            .is_some_and(|r| !r.is_empty())
    );
    let (_, all, _) = call(&app, get("/v1/accounts/audit-events?limit=500", &t)).await;
    let types: std::collections::BTreeSet<&str> = all["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["entity_type"].as_str())
        .collect();
    for expected in [
        "location",
        "payer",
        "patient",
        "coverage",
        "catalog_item",
        "episode",
        "consumption",
    ] {
        assert!(types.contains(expected), "{expected} writes are audited");
    }
    assert_eq!(
        call(
            &app,
            get("/v1/accounts/audit-events", &token(&["integration"], None))
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
}
