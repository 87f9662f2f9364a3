//! Invoicing rules over HTTP against real databases (SQLite and a throwaway PostgreSQL): every
//! field of seed 003 kept, versions never edited in place, invoice contexts, the institution ×
//! rule matrix, and bad input refused with every problem named.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use serde_json::{Value, json};

use crate::common::{app, harness};

both_backends!(
    a_rule_keeps_every_field_and_changes_only_as_a_new_version,
    bad_rules_are_refused_with_every_problem_and_change_nothing,
    rules_are_listed_by_their_current_version_and_filtered,
    contexts_and_the_activation_matrix,
);

/// The seed's care rule: computed for the beneficiary, deducted from insurance and the public
/// authority.
fn care_rule() -> Value {
    json!({
        "code": "CARE-L",
        "description": "Care by level",
        "invoicing_kind": null,
        "beneficiary_kind": "LTC",
        "invoice_context": "beneficiary",
        "source": "evaluation",
        "object_type": null,
        "service_group": "CARE",
        "absence_threshold_days": 3,
        "description_method": "service",
        "quantity_method": "days_minus_absences",
        "negative_sign": false,
        "price_method": "service",
        "time_horizon": "subsequent",
        "date_calculation": null,
        "active_from": "2026-01-01",
        "inactive_from": null,
        "no_correction": false,
        "absence_start_full_day": true,
        "absence_end_full_day": true,
        "linked_rules": [
            {"context": "insurance", "operation": "negate"},
            {"context": "public_authority", "operation": "negate"}
        ],
        "rounding_precision": "0.05",
        "manual_correction": false
    })
}

fn put(path: &str, tok: &str, etag: Option<&str>, body: &Value) -> test::TestRequest {
    let mut req = test::TestRequest::put()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {tok}")))
        .set_json(body);
    if let Some(etag) = etag {
        req = req.insert_header(("if-match", etag.to_owned()));
    }
    req
}

async fn a_rule_keeps_every_field_and_changes_only_as_a_new_version(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let (s, v1, _) = call(&app, post("/v1/invoicing-rules", &t, &care_rule())).await;
    assert_eq!(s, StatusCode::CREATED, "{v1}");
    for (k, expected) in care_rule().as_object().expect("object") {
        assert_eq!(&v1["rule"][k], expected, "field {k}");
    }
    assert_eq!(v1["code"], "CARE-L");
    assert_eq!(v1["version"], 1);
    assert_eq!(v1["current"], true);
    assert_eq!(v1["linked_rule_count"], 2);
    assert_eq!(v1["etag"], "\"v1\"");

    // A second rule with the same code is refused.
    let (s, p, _) = call(&app, post("/v1/invoicing-rules", &t, &care_rule())).await;
    assert_eq!(s, StatusCode::CONFLICT);
    assert_eq!(p["code"], "already_exists");

    // Changes need If-Match, the current ETag and a reason.
    let mut changed = care_rule();
    changed["rounding_precision"] = json!("0.10");
    changed["inactive_from"] = json!("2027-01-01");
    let change = json!({"reason": "tariff 2026", "rule": changed});
    let (s, p, _) = call(&app, put("/v1/invoicing-rules/CARE-L", &t, None, &change)).await;
    assert_eq!(s, StatusCode::PRECONDITION_REQUIRED, "{p}");
    let (s, _, _) = call(
        &app,
        put("/v1/invoicing-rules/CARE-L", &t, Some("\"v9\""), &change),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);
    let no_reason = json!({"reason": " ", "rule": changed});
    let (s, p, _) = call(
        &app,
        put("/v1/invoicing-rules/CARE-L", &t, Some("\"v1\""), &no_reason),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "reason");
    let mut renamed = changed.clone();
    renamed["code"] = json!("CARE-X");
    let (s, p, _) = call(
        &app,
        put(
            "/v1/invoicing-rules/CARE-L",
            &t,
            Some("\"v1\""),
            &json!({"reason": "rename", "rule": renamed}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["code"], "immutable");

    let (s, v2, _) = call(
        &app,
        put("/v1/invoicing-rules/CARE-L", &t, Some("\"v1\""), &change),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{v2}");
    assert_eq!(v2["version"], 2);
    assert_eq!(v2["rule"]["rounding_precision"], "0.10");
    assert_eq!(v2["reason"], "tariff 2026");
    // The same definition again makes no version.
    let (s, same, _) = call(
        &app,
        put("/v1/invoicing-rules/CARE-L", &t, Some("\"v2\""), &change),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(same["version"], 2);

    // Version 1 stays readable as it was.
    let (_, old, _) = call(&app, get("/v1/invoicing-rules/CARE-L/versions/1", &t)).await;
    assert_eq!(old["rule"]["rounding_precision"], "0.05");
    assert_eq!(old["current"], false);
    let (_, all, _) = call(&app, get("/v1/invoicing-rules/CARE-L/versions", &t)).await;
    let versions: Vec<i64> = all
        .as_array()
        .expect("versions")
        .iter()
        .filter_map(|v| v["version"].as_i64())
        .collect();
    assert_eq!(versions, [1, 2]);
    let (_, now, _) = call(&app, get("/v1/invoicing-rules/CARE-L", &t)).await;
    assert_eq!(now["version"], 2);
    assert_eq!(
        call(&app, get("/v1/invoicing-rules/CARE-L/versions/3", &t))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, get("/v1/invoicing-rules/NOPE", &t)).await.0,
        StatusCode::NOT_FOUND
    );
    // Only billing managers write; billers and auditors read.
    let biller = token(&["biller"], None);
    let mut other = care_rule();
    other["code"] = json!("OTHER");
    assert_eq!(
        call(&app, post("/v1/invoicing-rules", &biller, &other))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(&app, get("/v1/invoicing-rules/CARE-L", &biller))
            .await
            .0,
        StatusCode::OK
    );
    // Every version is in the audit trail with who and why.
    let (_, audit, _) = call(
        &app,
        get("/v1/settlement/audit-events?entity_type=invoicing_rule", &t),
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["create", "update"], "{audit}");
}

async fn bad_rules_are_refused_with_every_problem_and_change_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let mut bad = care_rule();
    bad["invoice_context"] = json!("nobody");
    bad["inactive_from"] = json!("2025-06-01");
    bad["quantity_method"] = json!("manual");
    bad["rounding_precision"] = json!("0");
    bad["linked_rules"] = json!([{"context": "insurance", "operation": "negate"}, {"context": "insurance", "operation": "copy"}, {"context": "canton", "operation": "negate"}]);
    let (s, p, ctype) = call(&app, post("/v1/invoicing-rules", &t, &bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(ctype.as_deref(), Some("application/problem+json"));
    let problems: Vec<(String, String)> = p["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| {
            (
                e["field"].as_str().unwrap_or_default().to_owned(),
                e["code"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    for expected in [
        ("invoice_context", "unknown_context"),
        ("inactive_from", "before_start"),
        ("quantity_method", "needs_manual_source"),
        ("rounding_precision", "invalid"),
        ("linked_rules.1.context", "duplicate"),
        ("linked_rules.2.context", "unknown_context"),
    ] {
        assert!(
            problems.contains(&(expected.0.to_owned(), expected.1.to_owned())),
            "{expected:?} not in {problems:?}"
        );
    }
    // The seed's unused sources, unknown fields, a missing field: refused by name.
    for (field, value) in [
        ("source", json!("spitex")),
        ("quantity_method", json!("weeks")),
        ("bogus_field", json!(1)),
    ] {
        let mut r = care_rule();
        r[field] = value;
        let (s, p, _) = call(&app, post("/v1/invoicing-rules", &t, &r)).await;
        assert!(s.is_client_error(), "{field}: {s} {p}");
        assert!(p.to_string().contains(field), "{field}: {p}");
    }
    let mut r = care_rule();
    r.as_object_mut().expect("object").remove("active_from");
    let (s, p, _) = call(&app, post("/v1/invoicing-rules", &t, &r)).await;
    assert!(s.is_client_error(), "{p}");
    // Nothing was stored.
    let (_, list, _) = call(&app, get("/v1/invoicing-rules", &t)).await;
    assert_eq!(list["items"], json!([]));
    // A user limited to some locations cannot change organisation-wide rules.
    let scoped = token(&["billing_manager"], Some(&["H1"]));
    assert_eq!(
        call(&app, post("/v1/invoicing-rules", &scoped, &care_rule()))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
}

async fn rules_are_listed_by_their_current_version_and_filtered(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let mut pension = care_rule();
    pension["code"] = json!("PENSION");
    pension["source"] = json!("stay");
    pension["service_group"] = json!("ROOM");
    pension["quantity_method"] = json!("days");
    pension["time_horizon"] = json!("in_advance");
    pension["linked_rules"] = json!([]);
    pension["active_from"] = json!("2026-06-01");
    for r in [care_rule(), pension] {
        let (s, p, _) = call(&app, post("/v1/invoicing-rules", &t, &r)).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
    }
    let mut changed = care_rule();
    changed["description"] = json!("Care by level (2026)");
    let (s, _, _) = call(
        &app,
        put(
            "/v1/invoicing-rules/CARE-L",
            &t,
            Some("\"v1\""),
            &json!({"reason": "wording", "rule": changed}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let codes = |v: &Value| -> Vec<String> {
        v["items"]
            .as_array()
            .unwrap_or_else(|| panic!("items: {v}"))
            .iter()
            .map(|r| format!("{}@{}", r["code"].as_str().unwrap_or(""), r["version"]))
            .collect()
    };
    let list = |q: &str| get(&format!("/v1/invoicing-rules{q}"), &t);
    assert_eq!(
        codes(&call(&app, list("")).await.1),
        ["CARE-L@2", "PENSION@1"]
    );
    assert_eq!(
        codes(&call(&app, list("?source=stay")).await.1),
        ["PENSION@1"]
    );
    assert_eq!(
        codes(&call(&app, list("?service_group=CARE")).await.1),
        ["CARE-L@2"]
    );
    assert_eq!(
        codes(&call(&app, list("?active_on=2026-03-01")).await.1),
        ["CARE-L@2"]
    );
    assert_eq!(
        codes(&call(&app, list("?invoice_context=insurance")).await.1),
        Vec::<String>::new()
    );
    let (_, first, _) = call(&app, list("?limit=1")).await;
    assert_eq!(codes(&first), ["CARE-L@2"]);
    let cursor = first["next_cursor"].as_str().expect("cursor");
    assert_eq!(
        codes(
            &call(&app, list(&format!("?limit=1&cursor={cursor}")))
                .await
                .1
        ),
        ["PENSION@1"]
    );
    assert_eq!(
        call(&app, list("?active_on=someday")).await.0,
        StatusCode::BAD_REQUEST
    );
}

async fn contexts_and_the_activation_matrix(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let (_, contexts, _) = call(&app, get("/v1/invoice-contexts", &t)).await;
    let codes: Vec<&str> = contexts
        .as_array()
        .expect("contexts")
        .iter()
        .filter_map(|c| c["code"].as_str())
        .collect();
    assert_eq!(codes, ["beneficiary", "insurance", "public_authority"]);
    let canton = json!({"code": "canton_zh", "name": "Canton of Zurich", "party": "payer", "payer_code": "ZH"});
    let (s, c, _) = call(&app, post("/v1/invoice-contexts", &t, &canton)).await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        call(&app, post("/v1/invoice-contexts", &t, &canton))
            .await
            .0,
        StatusCode::CONFLICT
    );
    let (s, p, _) = call(
        &app,
        post(
            "/v1/invoice-contexts",
            &t,
            &json!({"code": "x", "name": "", "party": "insurer", "payer_code": "ZH"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(p["errors"].as_array().is_some_and(|e| e.len() >= 2), "{p}");
    // A rule may now bill the new context.
    let mut r = care_rule();
    r["linked_rules"] = json!([{"context": "canton_zh", "operation": "negate"}]);
    let (s, p, _) = call(&app, post("/v1/invoicing-rules", &t, &r)).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");

    // The matrix: enabled at H1, disabled again, never at H2.
    let set = |loc: &str, rule: &str, enabled: bool, tok: &str| {
        put(
            &format!("/v1/invoicing-rule-activations/{loc}/{rule}"),
            tok,
            None,
            &json!({"enabled": enabled}),
        )
    };
    let (s, a, _) = call(&app, set("H1", "CARE-L", true, &t)).await;
    assert_eq!(s, StatusCode::OK, "{a}");
    assert_eq!(a["enabled"], true);
    assert_eq!(
        call(&app, set("H1", "NOPE", true, &t)).await.0,
        StatusCode::NOT_FOUND
    );
    // Not a boolean, or a field that does not exist: 422 naming it, nothing stored.
    for body in [
        json!({"enabled": "yes"}),
        json!({"enabled": true, "from": "2026-01-01"}),
    ] {
        let (s, p, _) = call(
            &app,
            put("/v1/invoicing-rule-activations/H9/CARE-L", &t, None, &body),
        )
        .await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
    }
    let (_, h9, _) = call(
        &app,
        get("/v1/invoicing-rule-activations?location_code=H9", &t),
    )
    .await;
    assert_eq!(h9, json!([]));
    // A manager of H2 only cannot switch rules at H1.
    let h2 = token(&["billing_manager"], Some(&["H2"]));
    assert_eq!(
        call(&app, set("H1", "CARE-L", false, &h2)).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, _, _) = call(&app, set("H1", "CARE-L", false, &t)).await;
    assert_eq!(s, StatusCode::OK);
    let (_, matrix, _) = call(
        &app,
        get("/v1/invoicing-rule-activations?location_code=H1", &t),
    )
    .await;
    assert_eq!(matrix.as_array().map(Vec::len), Some(1), "{matrix}");
    assert_eq!(matrix[0]["enabled"], false);
    let (_, none, _) = call(
        &app,
        get("/v1/invoicing-rule-activations?location_code=H2", &t),
    )
    .await;
    assert_eq!(none, json!([]));
}
