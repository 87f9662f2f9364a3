//! Consumptions over HTTP (with the master data they need, authentication and scope, lists and
//! hostile input): recorded, retried, batched and voided.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_platform::db::Backend;
use carebill_platform::testing::{TEST_SECRET, admin, call, get, post, put, token};
use serde_json::{Value, json};

use crate::common::fixtures::{consumption, fixture};
use crate::common::{app, count, harness, outbox_types};

use carebill_platform::both_backends;

both_backends!(
    recorded_consumption_emits_an_event_carrying_what_settlement_needs,
    bad_input_gets_problem_json_and_changes_nothing,
    retries_return_the_original_and_create_nothing,
    batch_reports_a_result_per_item_and_accepts_a_thousand,
    auth_rejects_bad_tokens_roles_and_foreign_locations,
    voiding_needs_a_reason_and_happens_once,
    lists_filter_and_paginate_with_cursors,
    concurrent_retries_and_voids_take_effect_once,
    hostile_input_is_refused_without_touching_the_database,
);

async fn concurrent_retries_and_voids_take_effect_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    // The HIS times out and retries while the first push is still in flight.
    let push = || {
        call(
            &app,
            post(
                "/v1/consumptions",
                &t,
                &consumption(&f.episode, Some("race-1")),
            ),
        )
    };
    let ((s1, c1, _), (s2, c2, _)) = futures::join!(push(), push());
    let mut statuses = [s1.as_u16(), s2.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 201], "{c1} {c2}");
    assert_eq!(c1["id"], c2["id"]);
    assert_eq!(count(&h.db, "consumptions").await, 1);
    // Two clerks void the same consumption at once.
    let url = format!("/v1/consumptions/{}/void", c1["id"].as_str().expect("id"));
    let void = || call(&app, post(&url, &t, &json!({"reason": "duplicate"})));
    let ((v1, _, _), (v2, _, _)) = futures::join!(void(), void());
    let mut statuses = [v1.as_u16(), v2.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let voided = outbox_types(&h.db)
        .await
        .iter()
        .filter(|(t, _)| t.ends_with("consumption.voided.v1"))
        .count();
    assert_eq!(voided, 1, "one void, one event");
    // Close and cancel at once: one wins.
    let status = format!("/v1/episodes/{}/status", f.episode);
    let close = call(
        &app,
        post(
            &status,
            &t,
            &json!({"status": "closed", "reason": "discharged"}),
        ),
    );
    let cancel = call(
        &app,
        post(
            &status,
            &t,
            &json!({"status": "cancelled", "reason": "opened by mistake"}),
        ),
    );
    let ((a, _, _), (b2, _, _)) = futures::join!(close, cancel);
    let mut statuses = [a.as_u16(), b2.as_u16()];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 409]);
    let closed = outbox_types(&h.db)
        .await
        .iter()
        .filter(|(t, _)| t.ends_with("episode.closed.v1"))
        .count();
    assert_eq!(closed, 1);
}

async fn hostile_input_is_refused_without_touching_the_database(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    let before = count(&h.db, "audit_log").await;
    let (s, p, _) = call(&app, get("/v1/patients?family_name=%00", &t)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("bad_query"))
    );
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payers",
            &t,
            &json!({"code": "NUL", "name": "bad\u{0}name", "kind": "insurer"}),
        ),
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("name")),
        "{p}"
    );
    let trailing = test::TestRequest::post()
        .uri("/v1/payers")
        .insert_header(("authorization", format!("Bearer {t}")))
        .insert_header(("content-type", "application/json"))
        .set_payload(r#"{"code": "T1", "name": "x", "kind": "insurer"} and more"#);
    assert_eq!(call(&app, trailing).await.0, StatusCode::BAD_REQUEST);
    let (s, p, _) = call(&app, post("/v1/coverages", &t, &json!({"patient_id": f.patient, "payer_id": f.patient, "policy_number": "P", "priority": 2, "valid_from": "-5000-01-01"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["errors"]
            .as_array()
            .is_some_and(|e| e.iter().any(|e| e["field"] == "valid_from")),
        "{p}"
    );
    assert_eq!(
        call(
            &app,
            get("/v1/consumptions?performed_from=-5000-01-01T00:00:00Z", &t)
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        count(&h.db, "audit_log").await,
        before,
        "nothing was written"
    );
    // A scoped auditor reads the audit trail of its locations only.
    let other = fixture(&app, "H2", "ENC-2").await;
    let (_, page, _) = call(
        &app,
        get(
            "/v1/accounts/audit-events?limit=500",
            &token(&["auditor"], Some(&["H2"])),
        ),
    )
    .await;
    let items = page["items"].as_array().expect("items");
    assert!(!items.is_empty());
    assert!(
        items
            .iter()
            .all(|e| e["entity_type"] != "payer" && e["entity_type"] != "patient"),
        "organisation-wide entries are for unscoped readers"
    );
    assert!(
        items
            .iter()
            .any(|e| e["entity_id"] == other.episode.as_str())
    );
    assert!(
        items.iter().all(|e| e["entity_id"] != f.episode.as_str()),
        "H1's records stay hidden"
    );
}

async fn recorded_consumption_emits_an_event_carrying_what_settlement_needs(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let (s, c, _) = call(
        &app,
        post(
            "/v1/consumptions",
            &admin(),
            &consumption(&f.episode, Some("o-1")),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(c["quantity"], "2");
    assert_eq!(
        c["attending_practitioner"], "DR-ROSSI",
        "defaults to the episode's"
    );
    let events = outbox_types(&h.db).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(
        types,
        vec![
            "carebill.accounts.location.changed.v1",
            "carebill.accounts.payer.changed.v1",
            "carebill.accounts.patient.changed.v1",
            "carebill.accounts.coverage.changed.v1",
            "carebill.accounts.catalog_item.changed.v1",
            "carebill.accounts.episode.opened.v1",
            "carebill.accounts.consumption.recorded.v1"
        ]
    );
    // Master data announces what invoices name its parties by.
    assert_eq!(
        events[0].1["data"]["location"]["billing"]["legal_name"],
        "Hospital"
    );
    assert_eq!(events[1].1["data"]["billing"]["legal_name"], "Insurer");
    let env = &events[6].1;
    assert_eq!(env["specversion"], "1.0");
    assert_eq!(env["subject"], format!("episode/{}", f.episode));
    let data = &env["data"];
    assert_eq!(data["consumption_id"], c["id"]);
    assert_eq!(data["item"]["service_group"], "LAB");
    assert_eq!(data["item"]["kind"], "lab");
    assert_eq!(data["item"]["description"], "Hemoglobin");
    assert_eq!(data["episode"]["location"]["id"], f.location.as_str());
    assert_eq!(data["episode"]["location"]["time_zone"], "Europe/Madrid");
    assert_eq!(data["episode"]["patient"]["beneficiary_kind"], "INSURED");
    assert_eq!(data["episode"]["patient"]["flags"], json!(["chronic"]));
    assert_eq!(data["coverages"][0]["plan_code"], "GOLD");
    assert_eq!(data["coverages"][0]["payer_kind"], "insurer");
    assert_eq!(data["quantity"], "2");
    assert_eq!(data["attributes"]["urgent"], true);
    // What invoices name the parties by: without e-invoicing data, their names.
    assert_eq!(
        data["episode"]["location"]["billing"],
        json!({"legal_name": "Hospital"})
    );
    assert_eq!(
        data["episode"]["patient"]["billing"],
        json!({"legal_name": "Ana Garcia"})
    );
    assert_eq!(
        data["coverages"][0]["payer_billing"],
        json!({"legal_name": "Insurer"})
    );

    // With e-invoicing data in master data, the next consumption carries it.
    let (_, payers, _) = call(&app, get("/v1/payers", &admin())).await;
    let payer = payers["items"][0]["id"].as_str().expect("payer").to_owned();
    let (s, body, _) = call(
        &app,
        put(
            &format!("/v1/payers/{payer}"),
            &admin(),
            &json!({"code": "INS-ENC-1", "name": "Insurer", "kind": "insurer",
                "address": {"lines": ["Calle Ribera del Loira 52"], "city": "Madrid", "country": "ES"},
                "legal_name": "Insurer S.A.", "vat_id": "ESA28037042",
                "endpoint": {"scheme": "9920", "id": "ESA28037042"}, "buyer_reference": "INS-HOSP"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let events = outbox_types(&h.db).await;
    let (_, changed) = events
        .iter()
        .rfind(|(t, _)| t == "carebill.accounts.payer.changed.v1")
        .expect("payer changed");
    assert_eq!(changed["data"]["billing"]["legal_name"], "Insurer S.A.");
    assert_eq!(changed["data"]["billing"]["endpoint"]["id"], "ESA28037042");
    let (s, c, _) = call(
        &app,
        post(
            "/v1/consumptions",
            &admin(),
            &consumption(&f.episode, Some("o-2")),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let events = outbox_types(&h.db).await;
    let (_, env) = events
        .iter()
        .rfind(|(t, _)| t == "carebill.accounts.consumption.recorded.v1")
        .expect("recorded");
    assert_eq!(
        env["data"]["coverages"][0]["payer_billing"],
        json!({"legal_name": "Insurer S.A.", "vat_id": "ESA28037042",
            "endpoint": {"scheme": "9920", "id": "ESA28037042"},
            "address": {"lines": ["Calle Ribera del Loira 52"], "city": "Madrid", "country": "ES"},
            "buyer_reference": "INS-HOSP"})
    );
}

async fn bad_input_gets_problem_json_and_changes_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    let before = (
        count(&h.db, "consumptions").await,
        count(&h.db, "outbox").await,
    );
    let malformed = test::TestRequest::post()
        .uri("/v1/consumptions")
        .insert_header(("authorization", format!("Bearer {t}")))
        .insert_header(("content-type", "application/json"))
        .set_payload("{\"episode_id\": ");
    let (s, p, ct) = call(&app, malformed).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("malformed_json"))
    );
    assert_eq!(ct.as_deref(), Some("application/problem+json"));

    let mut cases: Vec<(Value, StatusCode, &str)> = Vec::new();
    let mut wrong_type = consumption(&f.episode, None);
    wrong_type["quantity"] = json!({"n": 1});
    cases.push((wrong_type, StatusCode::UNPROCESSABLE_ENTITY, "quantity"));
    let mut missing = consumption(&f.episode, None);
    missing.as_object_mut().expect("obj").remove("performed_at");
    cases.push((missing, StatusCode::UNPROCESSABLE_ENTITY, "body"));
    for q in ["0", "-1", "0.00001", "2000000"] {
        let mut c = consumption(&f.episode, None);
        c["quantity"] = json!(q);
        cases.push((c, StatusCode::UNPROCESSABLE_ENTITY, "quantity"));
    }
    let mut unknown_code = consumption(&f.episode, None);
    unknown_code["code"] = json!("NOPE");
    cases.push((unknown_code, StatusCode::UNPROCESSABLE_ENTITY, "code"));
    cases.push((
        consumption(&uuid::Uuid::now_v7().to_string(), None),
        StatusCode::UNPROCESSABLE_ENTITY,
        "episode_id",
    ));
    let mut future = consumption(&f.episode, None);
    future["performed_at"] = json!("2099-01-01T00:00:00Z");
    cases.push((future, StatusCode::UNPROCESSABLE_ENTITY, "performed_at"));
    let mut ancient = consumption(&f.episode, None);
    ancient["performed_at"] = json!("1850-01-01T00:00:00Z");
    cases.push((ancient, StatusCode::UNPROCESSABLE_ENTITY, "performed_at"));
    let mut unknown_field = consumption(&f.episode, None);
    unknown_field["colour"] = json!("red");
    cases.push((unknown_field, StatusCode::UNPROCESSABLE_ENTITY, "colour"));
    let mut half_key = consumption(&f.episode, None);
    half_key["external_id"] = json!("x");
    cases.push((half_key, StatusCode::UNPROCESSABLE_ENTITY, "external_id"));
    let mut wrong_unit = consumption(&f.episode, None);
    wrong_unit["unit"] = json!("ml");
    cases.push((wrong_unit, StatusCode::UNPROCESSABLE_ENTITY, "unit"));
    for (body, status, field) in cases {
        let (s, p, ct) = call(&app, post("/v1/consumptions", &t, &body)).await;
        assert_eq!(s, status, "{body} -> {p}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        assert!(
            p["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["field"] == field)),
            "{field} not named in {p}"
        );
    }
    // Nested objects must be objects: serde would otherwise fill a struct from an array.
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payers",
            &t,
            &json!({"code": "X1", "name": "x", "kind": "insurer", "contact": [null, null]}),
        ),
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("contact")),
        "{p}"
    );
    let (s, _, _) = call(&app, post("/v1/locations", &t, &json!(["H9", "Hospital"]))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    // Unknown enum values are named too.
    let (s, p, _) = call(&app, post("/v1/catalog-items", &t, &json!({"code": "X", "description": "x", "service_group": "G", "kind": "surgery", "unit": "u"}))).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        p["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("unknown variant")),
        "{p}"
    );
    // Wrong media type.
    let plain = test::TestRequest::post()
        .uri("/v1/consumptions")
        .insert_header(("authorization", format!("Bearer {t}")))
        .insert_header(("content-type", "text/plain"))
        .set_payload("hi");
    assert_eq!(
        call(&app, plain).await.0,
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    // Oversized body and batch.
    let big = json!({"episode_id": f.episode, "code": "LAB-HB", "quantity": "1", "performed_at": "2026-11-20T10:00:00Z", "attributes": {"blob": "x".repeat(2 << 20)}});
    assert_eq!(
        call(&app, post("/v1/consumptions", &t, &big)).await.0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    let many: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let (s, p, _) = call(
        &app,
        post("/v1/consumptions/batch", &t, &json!({"items": many})),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("payload_too_large"))
    );
    // Closed episode.
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/episodes/{}/status", f.episode),
            &t,
            &json!({"status": "closed", "reason": "discharged"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let outbox_after_close = count(&h.db, "outbox").await;
    let (s, p, _) = call(
        &app,
        post("/v1/consumptions", &t, &consumption(&f.episode, None)),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("episode_not_open"))
    );
    // Bad query strings and ids.
    assert_eq!(
        call(&app, get("/v1/consumptions?limit=0", &t)).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(&app, get("/v1/consumptions?cursor=forged", &t))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(&app, get("/v1/consumptions?performed_from=yesterday", &t))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        call(&app, get("/v1/consumptions/not-an-id", &t)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        before.0,
        count(&h.db, "consumptions").await,
        "no consumption was written"
    );
    assert_eq!(
        count(&h.db, "outbox").await,
        outbox_after_close,
        "no event was written after the close"
    );
    assert_eq!(
        before.1 + 1,
        outbox_after_close,
        "only the close emitted an event"
    );
}

async fn retries_return_the_original_and_create_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    let with_key = |body: &Value, key: &str| {
        post("/v1/consumptions", &t, body).insert_header(("idempotency-key", key.to_owned()))
    };
    let (s1, c1, _) = call(&app, with_key(&consumption(&f.episode, None), "k-1")).await;
    let (s2, c2, _) = call(&app, with_key(&consumption(&f.episode, None), "k-1")).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(c1, c2, "the replay returns the original response");
    let mut other = consumption(&f.episode, None);
    other["quantity"] = json!("5");
    let (s3, p3, _) = call(&app, with_key(&other, "k-1")).await;
    assert_eq!(
        (s3, p3["code"].as_str()),
        (StatusCode::CONFLICT, Some("idempotency_key_reused"))
    );
    assert_eq!(count(&h.db, "consumptions").await, 1);
    // The same source system + external id.
    let (s4, c4, _) = call(
        &app,
        post(
            "/v1/consumptions",
            &t,
            &consumption(&f.episode, Some("ord-7")),
        ),
    )
    .await;
    let (s5, c5, _) = call(
        &app,
        post(
            "/v1/consumptions",
            &t,
            &consumption(&f.episode, Some("ord-7")),
        ),
    )
    .await;
    assert_eq!((s4, s5), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(c4["id"], c5["id"]);
    let mut changed = consumption(&f.episode, Some("ord-7"));
    changed["quantity"] = json!("3");
    let (s6, p6, _) = call(&app, post("/v1/consumptions", &t, &changed)).await;
    assert_eq!(
        (s6, p6["code"].as_str()),
        (StatusCode::CONFLICT, Some("external_id_reused"))
    );
    assert_eq!(count(&h.db, "consumptions").await, 2);
    let recorded = outbox_types(&h.db)
        .await
        .iter()
        .filter(|(t, _)| t.ends_with("consumption.recorded.v1"))
        .count();
    assert_eq!(recorded, 2, "one event per consumption, none for retries");
}

async fn batch_reports_a_result_per_item_and_accepts_a_thousand(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    let mut bad = consumption(&f.episode, None);
    bad["quantity"] = json!("-3");
    let items = json!([consumption(&f.episode, Some("a")), bad, consumption(&f.episode, Some("a")), {"episode_id": f.episode}, consumption(&f.episode, Some("b"))]);
    let (s, r, _) = call(
        &app,
        post("/v1/consumptions/batch", &t, &json!({"items": items})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let outcomes: Vec<&str> = r["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|i| i["outcome"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        outcomes,
        vec!["created", "rejected", "duplicate", "rejected", "created"]
    );
    assert_eq!(
        (
            r["created"].as_u64(),
            r["duplicates"].as_u64(),
            r["rejected"].as_u64()
        ),
        (Some(2), Some(1), Some(2))
    );
    assert_eq!(r["results"][1]["problem"]["errors"][0]["field"], "quantity");
    assert_eq!(
        r["results"][0]["consumption"]["id"],
        r["results"][2]["consumption"]["id"]
    );
    assert_eq!(count(&h.db, "consumptions").await, 2);

    let thousand: Vec<Value> = (0..1000)
        .map(|i| consumption(&f.episode, Some(&format!("bulk-{i}"))))
        .collect();
    let minimal = post("/v1/consumptions/batch", &t, &json!({"items": thousand}))
        .insert_header(("prefer", "return=minimal"));
    let (s, r, _) = call(&app, minimal).await;
    assert!(
        r["results"][0]["id"].is_string() && r["results"][0].get("consumption").is_none(),
        "minimal results carry ids only"
    );
    assert_eq!((s, r["created"].as_u64()), (StatusCode::OK, Some(1000)));
    assert_eq!(count(&h.db, "consumptions").await, 1002);
    let recorded = outbox_types(&h.db)
        .await
        .iter()
        .filter(|(t, _)| t.ends_with("consumption.recorded.v1"))
        .count();
    assert_eq!(recorded, 1002);
    let (s, p, _) = call(
        &app,
        post("/v1/consumptions/batch", &t, &json!({"items": [{}, 7]})),
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("items[1]")),
        "{p}"
    );
    let (s, p, _) = call(
        &app,
        post("/v1/consumptions/batch", &t, &json!({"items": []})),
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("items"))
    );
}

async fn auth_rejects_bad_tokens_roles_and_foreign_locations(b: Backend) {
    use base64::Engine as _;
    let h = harness(b);
    let app = app(&h).await;
    let h1 = fixture(&app, "H1", "ENC-1").await;
    let h2 = fixture(&app, "H2", "ENC-2").await;
    let (s, p, ct) = call(&app, test::TestRequest::get().uri("/v1/episodes")).await;
    assert_eq!(
        (s, p["code"].as_str(), ct.as_deref()),
        (
            StatusCode::UNAUTHORIZED,
            Some("unauthorized"),
            Some("application/problem+json")
        )
    );
    let now = chrono::Utc::now().timestamp();
    let claims = |exp: i64, aud: &str| carebill_platform::auth::Claims {
        sub: "x".into(),
        iss: "carebill".into(),
        aud: aud.into(),
        exp,
        iat: now,
        roles: vec!["admin".into()],
        locations: None,
        payer: None,
        patient: None,
        carer: None,
    };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bad_tokens = vec![
        carebill_platform::auth::mint_hs256(
            b"another-secret-another-secret-xx",
            &claims(now + 60, "carebill"),
        )
        .expect("mint"),
        carebill_platform::auth::mint_hs256(
            TEST_SECRET.as_bytes(),
            &claims(now - 3600, "carebill"),
        )
        .expect("mint"),
        carebill_platform::auth::mint_hs256(TEST_SECRET.as_bytes(), &claims(now + 60, "elsewhere"))
            .expect("mint"),
        format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none"}"#),
            b64.encode(serde_json::to_vec(&claims(now + 60, "carebill")).expect("json"))
        ),
    ];
    for bad in bad_tokens {
        assert_eq!(
            call(&app, get("/v1/episodes", &bad)).await.0,
            StatusCode::UNAUTHORIZED,
            "{bad}"
        );
    }
    // Wrong role.
    let (s, p, _) = call(
        &app,
        post(
            "/v1/locations",
            &token(&["biller"], None),
            &json!({"code": "H9", "name": "x"}),
        ),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    assert_eq!(
        call(&app, get("/v1/episodes", &token(&["payer"], None)))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    // Location scope: H1's biller sees H1, not H2.
    let h1_biller = token(&["biller"], Some(&["H1"]));
    assert_eq!(
        call(
            &app,
            get(&format!("/v1/episodes/{}", h1.episode), &h1_biller)
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        call(
            &app,
            get(&format!("/v1/episodes/{}", h2.episode), &h1_biller)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            get(&format!("/v1/locations/{}", h2.location), &h1_biller)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (s, c, _) = call(
        &app,
        post(
            "/v1/consumptions",
            &admin(),
            &consumption(&h2.episode, None),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        call(
            &app,
            get(
                &format!("/v1/consumptions/{}", c["id"].as_str().expect("id")),
                &h1_biller
            )
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, list, _) = call(&app, get("/v1/episodes", &h1_biller)).await;
    let ids: Vec<&str> = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["id"].as_str())
        .collect();
    assert_eq!(ids, vec![h1.episode.as_str()]);
    let (s, _, _) = call(
        &app,
        post(
            "/v1/consumptions",
            &h1_biller,
            &consumption(&h2.episode, None),
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "another location's episode is unknown to a scoped user"
    );
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/consumptions/{}/void", c["id"].as_str().expect("id")),
            &h1_biller,
            &json!({"reason": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

async fn voiding_needs_a_reason_and_happens_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let t = admin();
    let (_, c, _) = call(
        &app,
        post("/v1/consumptions", &t, &consumption(&f.episode, None)),
    )
    .await;
    let url = format!("/v1/consumptions/{}/void", c["id"].as_str().expect("id"));
    assert_eq!(
        call(&app, post(&url, &t, &json!({"reason": "  "}))).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(&app, post(&url, &t, &json!({}))).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (s, v, _) = call(
        &app,
        post(&url, &t, &json!({"reason": "charged to the wrong episode"})),
    )
    .await;
    assert_eq!(
        (s, v["status"].as_str(), v["void_reason"].as_str()),
        (
            StatusCode::OK,
            Some("voided"),
            Some("charged to the wrong episode")
        )
    );
    // A void retried with its Idempotency-Key gets the first answer, not a 409.
    let (_, other, _) = call(
        &app,
        post("/v1/consumptions", &t, &consumption(&f.episode, None)),
    )
    .await;
    let other_url = format!(
        "/v1/consumptions/{}/void",
        other["id"].as_str().expect("id")
    );
    let keyed = || {
        post(&other_url, &t, &json!({"reason": "wrong patient"}))
            .insert_header(("idempotency-key", "void-1"))
    };
    let (s1, v1, _) = call(&app, keyed()).await;
    let (s2, v2, _) = call(&app, keyed()).await;
    assert_eq!((s1, s2), (StatusCode::OK, StatusCode::OK));
    assert_eq!(v1, v2);
    let (s, p, _) = call(&app, post(&url, &t, &json!({"reason": "again"}))).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_voided"))
    );
    let events = outbox_types(&h.db).await;
    let voided: Vec<&Value> = events
        .iter()
        .filter(|(t, _)| t == "carebill.accounts.consumption.voided.v1")
        .map(|(_, e)| e)
        .collect();
    assert_eq!(voided.len(), 2, "one event per void, none for the replay");
    assert_eq!(voided[0]["data"]["reason"], "charged to the wrong episode");
    assert_eq!(voided[1]["data"]["reason"], "wrong patient");
    assert_eq!(
        count(&h.db, "consumptions").await,
        2,
        "voiding never deletes"
    );
}

async fn lists_filter_and_paginate_with_cursors(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let f = fixture(&app, "H1", "ENC-1").await;
    let g = fixture(&app, "H1", "ENC-2").await;
    let t = admin();
    for i in 0..5 {
        let mut c = consumption(&f.episode, None);
        c["performed_at"] = json!(format!("2026-11-1{i}T08:00:00Z"));
        assert_eq!(
            call(&app, post("/v1/consumptions", &t, &c)).await.0,
            StatusCode::CREATED
        );
    }
    let mut other = consumption(&g.episode, None);
    other["performed_by"] = json!("DR-OTHER");
    assert_eq!(
        call(&app, post("/v1/consumptions", &t, &other)).await.0,
        StatusCode::CREATED
    );
    let mut seen = Vec::new();
    let mut url = format!("/v1/consumptions?episode_id={}&limit=2", f.episode);
    loop {
        let (s, page, _) = call(&app, get(&url, &t)).await;
        assert_eq!(s, StatusCode::OK);
        seen.extend(
            page["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|c| c["id"].as_str().unwrap_or("").to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => {
                url = format!(
                    "/v1/consumptions?episode_id={}&limit=2&cursor={c}",
                    f.episode
                )
            }
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), 5, "no item twice across pages");
    let n = |url: String| {
        let app = &app;
        let t = t.clone();
        async move {
            call(app, get(&url, &t)).await.1["items"]
                .as_array()
                .map_or(0, Vec::len)
        }
    };
    assert_eq!(
        n(format!("/v1/consumptions?patient_id={}", g.patient)).await,
        1
    );
    assert_eq!(
        n("/v1/consumptions?performed_by=DR-OTHER".to_owned()).await,
        1
    );
    assert_eq!(
        n("/v1/consumptions?service_group=LAB&kind=lab".to_owned()).await,
        6
    );
    assert_eq!(n("/v1/consumptions?kind=imaging".to_owned()).await, 0);
    assert_eq!(
        n(format!("/v1/consumptions?location_id={}", f.location)).await,
        6
    );
    assert_eq!(n("/v1/consumptions?performed_from=2026-11-11T00:00:00Z&performed_to=2026-11-13T00:00:00Z".to_owned()).await, 2);
    assert_eq!(
        n("/v1/patients?identifier=mrn%7CMRN-ENC-2".to_owned()).await,
        1
    );
    assert_eq!(n("/v1/episodes?status=open".to_owned()).await, 2);
}
