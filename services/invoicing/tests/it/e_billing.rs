//! E-billing over HTTP: each payer's settings, set whole behind If-Match in versions, read by
//! billers, refused naming every bad field with nothing stored.

use actix_web::http::StatusCode;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, fields, get, put, token};
use serde_json::{Value, json};

use crate::common::*;

both_backends!(
    a_payers_settings_are_set_in_versions_behind_if_match,
    bad_settings_are_refused_naming_each_field_and_nothing_is_stored,
);

pub(crate) fn uhc() -> Value {
    json!({
        "payer_id": "87726", "payer_name": "UNITEDHEALTHCARE", "claim_filing_indicator": "CI",
        "submitter": {"name": "SPRINGFIELD GENERAL", "id": "S123", "contact": "BILLING DESK", "phone": "2175551234"},
        "receiver": {"name": "CLEARINGHOUSE", "id": "R987"},
        "interchange": {"sender_qualifier": "ZZ", "sender_id": "S123", "receiver_qualifier": "ZZ", "receiver_id": "R987"},
        "application": {"sender_code": "S123", "receiver_code": "R987"}
    })
}

fn with_if_match(req: actix_web::test::TestRequest, tag: &str) -> actix_web::test::TestRequest {
    req.insert_header(("if-match", tag.to_owned()))
}

async fn a_payers_settings_are_set_in_versions_behind_if_match(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let manager = token(&["billing_manager"], None);
    let url = "/v1/e-billing-settings/UHC";
    let (s, first, _) = call(&app, put(url, &manager, &uhc())).await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(
        (first["version"].as_i64(), first["etag"].as_str()),
        (Some(1), Some("\"v1\""))
    );
    assert_eq!(first["claim_format"], "auto", "defaults are filled in");
    assert_eq!(first["usage"], "test");
    assert_eq!(first["requirements"]["max_patient_control_number"], 20);
    // Billers read them; the payer's portal users do not.
    let (s, read, _) = call(&app, get(url, &token(&["biller"], None))).await;
    assert_eq!((s, &read), (StatusCode::OK, &first));
    let (s, _, _) = call(&app, get(url, &payer_token("UHC"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&app, put(url, &token(&["biller"], None), &uhc())).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "billers do not set them");

    // A change needs the ETag read.
    let mut production = uhc();
    production["usage"] = json!("production");
    let (s, p, _) = call(&app, put(url, &manager, &production)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (
            StatusCode::PRECONDITION_REQUIRED,
            Some("precondition_required")
        )
    );
    let (s, _, _) = call(
        &app,
        with_if_match(put(url, &manager, &production), "\"v0\""),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "v0 is before the first");
    let (s, second, _) = call(
        &app,
        with_if_match(put(url, &manager, &production), "\"v1\""),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    assert_eq!(
        (second["version"].as_i64(), second["usage"].as_str()),
        (Some(2), Some("production"))
    );
    let (s, _, _) = call(&app, with_if_match(put(url, &manager, &uhc()), "\"v1\"")).await;
    assert_eq!(
        s,
        StatusCode::PRECONDITION_FAILED,
        "v1 is no longer current"
    );
    // The same settings again are no new version.
    let (s, same, _) = call(
        &app,
        with_if_match(put(url, &manager, &production), "\"v2\""),
    )
    .await;
    assert_eq!((s, same["version"].as_i64()), (StatusCode::OK, Some(2)));

    // Another payer, created with "v0".
    let (s, _, _) = call(
        &app,
        with_if_match(
            put("/v1/e-billing-settings/AETNA", &manager, &uhc()),
            "\"v0\"",
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, versions, _) = call(&app, get(&format!("{url}/versions"), &admin())).await;
    let versions: Vec<i64> = items(&versions)
        .iter()
        .map(|v| v["version"].as_i64().expect("v"))
        .collect();
    assert_eq!(versions, [2, 1]);
    let (_, all, _) = call(&app, get("/v1/e-billing-settings", &admin())).await;
    let current: Vec<(String, i64)> = items(&all)
        .iter()
        .map(|s| {
            (
                s["payer_code"].as_str().expect("code").to_owned(),
                s["version"].as_i64().expect("v"),
            )
        })
        .collect();
    assert_eq!(current, [("AETNA".to_owned(), 1), ("UHC".to_owned(), 2)]);
    let (_, trail, _) = call(
        &app,
        get(
            "/v1/invoicing/audit-events?entity_type=e_billing_settings&entity_id=UHC",
            &admin(),
        ),
    )
    .await;
    assert_eq!(items(&trail).len(), 2, "{trail}");
    let (s, _, _) = call(&app, get("/v1/e-billing-settings/NOBODY", &admin())).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn bad_settings_are_refused_naming_each_field_and_nothing_is_stored(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut bad = uhc();
    bad["claim_filing_indicator"] = json!("XX");
    bad["interchange"]["sender_id"] = json!("A-SENDER-ID-LONGER-THAN-15");
    bad["interchange"]["receiver_qualifier"] = json!("99");
    bad["submitter"]["phone"] = json!(null);
    bad["application"]["sender_code"] = json!("S*1");
    bad["requirements"] = json!({"max_patient_control_number": 0});
    let (s, problem, ct) = call(&app, put("/v1/e-billing-settings/UHC", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    let mut named = fields(&problem);
    named.sort();
    assert_eq!(
        named,
        [
            "application.sender_code",
            "claim_filing_indicator",
            "interchange.receiver_qualifier",
            "interchange.sender_id",
            "requirements.max_patient_control_number",
            "submitter.phone",
        ]
    );
    let mut unknown = uhc();
    unknown["isa_qualifier"] = json!("ZZ");
    let (s, problem, _) = call(&app, put("/v1/e-billing-settings/UHC", &t, &unknown)).await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an unknown field: {problem}"
    );
    let mut wrong = uhc();
    wrong["claim_format"] = json!("837D");
    let (s, _, _) = call(&app, put("/v1/e-billing-settings/UHC", &t, &wrong)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "837D is not made");
    let (s, _, _) = call(
        &app,
        put("/v1/e-billing-settings/not%20a%20code", &t, &uhc()),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, all, _) = call(&app, get("/v1/e-billing-settings", &t)).await;
    assert!(items(&all).is_empty(), "nothing stored: {all}");
}
