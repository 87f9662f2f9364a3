//! Care records over HTTP against real databases (SQLite and a throwaway PostgreSQL): the seven
//! kinds recorded and announced, bad input refused naming the field, stays and evaluations that
//! would overlap refused, changes only with `If-Match` and as new versions, cancellation once,
//! list filters, and location scope.

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use serde_json::{Value, json};

use crate::common::{app, count, harness, outbox_types};

both_backends!(
    every_kind_is_recorded_as_version_one_and_announced,
    bad_input_names_the_field_and_stores_nothing,
    overlapping_stays_and_evaluations_are_refused,
    changes_need_if_match_and_make_new_versions,
    cancelling_is_a_version_and_happens_once,
    lists_filter_by_patient_location_and_kind,
    other_locations_are_out_of_sight,
);

const CHANGED: &str = "carebill.accounts.care_record.changed.v1";

/// Sends a request; returns the status, the JSON body and the `ETag` header.
async fn send(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    req: test::TestRequest,
) -> (StatusCode, Value, Option<String>) {
    let res = test::call_service(app, req.to_request()).await;
    let status = res.status();
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = test::read_body(res).await;
    (
        status,
        serde_json::from_slice(&body).unwrap_or(Value::Null),
        etag,
    )
}

/// A PUT of `body` with a bearer token and, when given, `If-Match`.
fn put(path: &str, tok: &str, if_match: Option<&str>, body: &Value) -> test::TestRequest {
    let req = test::TestRequest::put()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {tok}")))
        .set_json(body);
    match if_match {
        Some(tag) => req.insert_header(("if-match", tag)),
        None => req,
    }
}

/// Creates a location (EUR) and returns its id.
async fn location(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    code: &str,
) -> String {
    let (s, loc, _) = call(
        app,
        post(
            "/v1/locations",
            &admin(),
            &json!({"code": code, "name": "Care home", "time_zone": "Europe/Zurich"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{loc}");
    loc["id"].as_str().expect("id").to_owned()
}

/// Creates a patient and returns its id.
async fn patient(
    app: &impl Service<
        actix_http::Request,
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
    >,
    mrn: &str,
) -> String {
    let (s, p, _) = call(
        app,
        post(
            "/v1/patients",
            &admin(),
            &json!({"identifiers": [{"system": "mrn", "value": mrn}], "family_name": "Meier", "given_name": "Hans", "birth_date": "1940-02-03", "beneficiary_kind": "LTC"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    p["id"].as_str().expect("id").to_owned()
}

fn record(patient: &str, location: &str, details: Value) -> Value {
    json!({"patient_id": patient, "location_id": location, "details": details})
}

fn stay(entry: &str, leaving: Option<&str>) -> Value {
    json!({"kind": "stay", "beneficiary_kind": "LTC", "object_type": "SINGLE", "room": "B-204", "entry_date": entry, "leaving_date": leaving})
}

fn evaluation(from: &str, to: Option<&str>) -> Value {
    json!({"kind": "evaluation", "level": "L3", "valid_from": from, "valid_to": to})
}

/// One example of each kind.
fn every_kind() -> Vec<Value> {
    vec![
        stay("2026-09-10", None),
        json!({"kind": "absence", "reason": "hospital", "from": "2026-10-02", "to": "2026-10-05", "start_full_day": true, "end_full_day": null}),
        json!({"kind": "contract", "beneficiary_kind": "LTC", "start_date": "2026-09-10", "end_date": null, "services": [
            {"service_group": "LAUNDRY", "description": "Personal laundry", "quantity": "1", "unit_price": {"amount": "45.00", "currency": "EUR"}}]}),
        json!({"kind": "manual_entry", "date": "2026-10-07", "service_group": "HAIRDRESSER", "description": "Haircut", "quantity": "1", "unit_price": null}),
        evaluation("2026-09-10", None),
        json!({"kind": "gastro", "date": "2026-10-08", "service_group": "CAFETERIA", "description": "Coffee", "quantity": "2", "unit_price": {"amount": "3.50", "currency": "EUR"}}),
        json!({"kind": "ambulatory", "date": "2026-10-09", "service_group": "HOMECARE", "description": "Wound care", "quantity": "1.5", "practitioner": "N-KELLER"}),
    ]
}

/// The care record events in the outbox, oldest first.
async fn events(db: &carebill_platform::db::Db) -> Vec<Value> {
    outbox_types(db)
        .await
        .into_iter()
        .filter(|(t, _)| t == CHANGED)
        .map(|(_, body)| body)
        .collect()
}

async fn every_kind_is_recorded_as_version_one_and_announced(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let loc = location(&app, "CH1").await;
    let pat = patient(&app, "R-1").await;
    let t = token(&["integration"], None);
    let mut ids = Vec::new();
    for details in every_kind() {
        let kind = details["kind"].clone();
        let (s, r, etag) = send(
            &app,
            post("/v1/care-records", &t, &record(&pat, &loc, details.clone())),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
        assert_eq!(etag.as_deref(), Some("\"v1\""));
        assert_eq!(
            (&r["kind"], &r["version"], &r["cancelled"], &r["etag"]),
            (&kind, &json!(1), &json!(false), &json!("\"v1\""))
        );
        assert_eq!(r["details"]["kind"], kind);
        assert_eq!(
            (&r["patient_id"], &r["location_id"]),
            (&json!(pat), &json!(loc))
        );
        let id = r["id"].as_str().expect("id").to_owned();
        let (s, got, etag) = send(&app, get(&format!("/v1/care-records/{id}"), &t)).await;
        assert_eq!((s, etag.as_deref()), (StatusCode::OK, Some("\"v1\"")));
        assert_eq!(got["details"], r["details"]);
        ids.push((id, kind));
    }
    let events = events(&h.db).await;
    assert_eq!(events.len(), 7);
    for (e, (id, kind)) in events.iter().zip(&ids) {
        let record = &e["data"]["record"];
        assert_eq!(record["id"], json!(id));
        assert_eq!(record["version"], json!(1));
        assert_eq!(record["cancelled"], json!(false));
        assert_eq!(record["details"]["kind"], *kind);
        assert_eq!(e["data"]["location_code"], json!("CH1"));
        // What periodic settlements bill: the location, the patient and their coverages.
        assert_eq!(
            (
                &e["data"]["location"]["code"],
                &e["data"]["location"]["time_zone"],
                &e["data"]["patient"]["id"],
                &e["data"]["patient"]["beneficiary_kind"],
                &e["data"]["patient"]["sex"],
                &e["data"]["coverages"],
            ),
            (
                &json!("CH1"),
                &json!("Europe/Zurich"),
                &json!(pat),
                &json!("LTC"),
                &json!("unknown"),
                &json!([])
            ),
            "{e}"
        );
        assert_eq!(e["data"]["reason"], Value::Null);
        assert_eq!(e["subject"], json!(format!("care_record/{id}")));
    }
    // The gastro price travels as money.
    assert_eq!(
        events[5]["data"]["record"]["details"]["unit_price"],
        json!({"amount": "3.50", "currency": "EUR"})
    );
    // A retried POST with the same Idempotency-Key returns the first record and adds nothing.
    let body = record(&pat, &loc, every_kind()[3].clone());
    let retry =
        || post("/v1/care-records", &t, &body).insert_header(("idempotency-key", "hairdresser-1"));
    let (s1, first, _) = send(&app, retry()).await;
    let (s2, again, etag) = send(&app, retry()).await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(first["id"], again["id"]);
    assert_eq!(etag.as_deref(), Some("\"v1\""));
    assert_eq!(count(&h.db, "care_records").await, 8);
    assert_eq!(count(&h.db, "care_record_versions").await, 8);
}

async fn bad_input_names_the_field_and_stores_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let loc = location(&app, "CH1").await;
    let pat = patient(&app, "R-1").await;
    let t = admin();
    let unknown = "0190f5a0-0000-7000-8000-000000000000";
    let cases = [
        (
            record(&pat, &loc, stay("2026-09-10", Some("2026-09-01"))),
            "details.leaving_date",
            "before_start",
        ),
        (
            record(
                &pat,
                &loc,
                json!({"kind": "manual_entry", "date": "2026-10-07", "service_group": "HAIRDRESSER", "description": "Haircut", "quantity": "0", "unit_price": null}),
            ),
            "details.quantity",
            "invalid",
        ),
        (
            record(&pat, &loc, evaluation("0999-01-01", None)),
            "details.valid_from",
            "out_of_range",
        ),
        (
            record(
                &pat,
                &loc,
                json!({"kind": "gastro", "date": "2026-10-08", "service_group": "CAFETERIA", "description": "Coffee", "quantity": "2", "unit_price": {"amount": "3.50", "currency": "USD"}}),
            ),
            "details.unit_price",
            "currency_mismatch",
        ),
        (
            record(
                &pat,
                &loc,
                json!({"kind": "manual_entry", "date": "2026-10-07", "service_group": "HAIRDRESSER", "description": "x".repeat(201), "quantity": "1", "unit_price": null}),
            ),
            "details.description",
            "too_long",
        ),
        (
            record(unknown, &loc, stay("2026-09-10", None)),
            "patient_id",
            "unknown",
        ),
        (
            record(&pat, unknown, stay("2026-09-10", None)),
            "location_id",
            "unknown",
        ),
        (
            record("not-an-id", &loc, stay("2026-09-10", None)),
            "patient_id",
            "invalid",
        ),
    ];
    for (body, field, code) in cases {
        let (s, p, ct) = call(&app, post("/v1/care-records", &t, &body)).await;
        assert_eq!(
            (s, ct.as_deref()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("application/problem+json")
            ),
            "{body} → {p}"
        );
        let errors = p["errors"].as_array().expect("errors");
        assert!(
            errors
                .iter()
                .any(|e| e["field"] == json!(field) && e["code"] == json!(code)),
            "{field}/{code} missing in {p}"
        );
    }
    // Unknown kinds and unknown fields are refused too, naming where.
    for (body, field) in [
        (
            record(&pat, &loc, json!({"kind": "visit", "date": "2026-10-01"})),
            "details.kind",
        ),
        (
            record(
                &pat,
                &loc,
                json!({"kind": "stay", "beneficiary_kind": "LTC", "entry_date": "2026-09-10", "leaving": "2026-09-12"}),
            ),
            // Internally tagged: serde reports the unknown field at the details object.
            "details",
        ),
        (
            json!({"patient_id": pat, "location_id": loc, "details": stay("2026-09-10", None), "note": "x"}),
            "note",
        ),
    ] {
        let (s, p, _) = call(&app, post("/v1/care-records", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
        assert_eq!(p["errors"][0]["field"], json!(field), "{p}");
    }
    // An inactive location takes no new records.
    let (_, l, _) = call(&app, get(&format!("/v1/locations/{loc}"), &t)).await;
    let (s, _, _) = call(
        &app,
        test::TestRequest::put()
            .uri(&format!("/v1/locations/{loc}"))
            .insert_header(("authorization", format!("Bearer {t}")))
            .set_json(json!({"code": l["code"], "name": l["name"], "time_zone": l["time_zone"], "currency": l["currency"], "active": false})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, p, _) = call(
        &app,
        post(
            "/v1/care-records",
            &t,
            &record(&pat, &loc, stay("2026-09-10", None)),
        ),
    )
    .await;
    assert_eq!(
        (
            s,
            p["errors"][0]["field"].as_str(),
            p["errors"][0]["code"].as_str()
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("location_id"),
            Some("inactive")
        )
    );
    assert_eq!(count(&h.db, "care_records").await, 0);
    assert_eq!(count(&h.db, "care_record_versions").await, 0);
    assert!(events(&h.db).await.is_empty());
}

async fn overlapping_stays_and_evaluations_are_refused(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let loc = location(&app, "CH1").await;
    let other_loc = location(&app, "CH2").await;
    let pat = patient(&app, "R-1").await;
    let other_pat = patient(&app, "R-2").await;
    let t = admin();
    let create = |p: &str, l: &str, d: Value| post("/v1/care-records", &t, &record(p, l, d));
    let (s, open_stay, _) = call(&app, create(&pat, &loc, stay("2026-01-01", None))).await;
    assert_eq!(s, StatusCode::CREATED);
    let open_id = open_stay["id"].as_str().expect("id");
    // A later stay overlaps the open one; nothing is stored or announced.
    let (s, p, ct) = call(
        &app,
        create(&pat, &loc, stay("2026-03-01", Some("2026-03-31"))),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str(), ct.as_deref()),
        (
            StatusCode::CONFLICT,
            Some("overlapping_stay"),
            Some("application/problem+json")
        )
    );
    assert!(
        p["detail"].as_str().unwrap_or_default().contains(open_id),
        "{p}"
    );
    assert_eq!(count(&h.db, "care_records").await, 1);
    assert_eq!(events(&h.db).await.len(), 1);
    // An earlier stay that ends the day the open one starts shares that day.
    let (s, p, _) = call(
        &app,
        create(&pat, &loc, stay("2025-12-01", Some("2026-01-01"))),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("overlapping_stay"))
    );
    // The day before is free; so are another location and another patient.
    for (p, l, d) in [
        (&pat, &loc, stay("2025-12-01", Some("2025-12-31"))),
        (&pat, &other_loc, stay("2026-03-01", None)),
        (&other_pat, &loc, stay("2026-03-01", None)),
    ] {
        let (s, r, _) = call(&app, create(p, l, d)).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    // Once the open stay is cancelled it no longer blocks.
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/care-records/{open_id}/cancel"),
            &t,
            &json!({"reason": "wrong resident"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, r, _) = call(
        &app,
        create(&pat, &loc, stay("2026-03-01", Some("2026-03-31"))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");

    // Evaluations: a stated span blocks, an open one runs until the next begins.
    let (s, closed, _) = call(
        &app,
        create(&pat, &loc, evaluation("2026-01-01", Some("2026-03-31"))),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, p, _) = call(&app, create(&pat, &loc, evaluation("2026-03-15", None))).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("overlapping_evaluation"))
    );
    assert!(
        p["detail"]
            .as_str()
            .unwrap_or_default()
            .contains(closed["id"].as_str().expect("id")),
        "{p}"
    );
    let (s, p, _) = call(
        &app,
        create(&pat, &loc, evaluation("2025-12-01", Some("2026-01-01"))),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("overlapping_evaluation"))
    );
    for from in ["2026-04-01", "2026-06-01"] {
        let (s, r, _) = call(&app, create(&pat, &loc, evaluation(from, None))).await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    let (s, p, _) = call(
        &app,
        create(&pat, &loc, evaluation("2026-06-01", Some("2026-06-30"))),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("overlapping_evaluation"))
    );
    // Other kinds may overlap freely.
    for _ in 0..2 {
        let (s, r, _) = call(
            &app,
            create(
                &pat,
                &loc,
                json!({"kind": "absence", "reason": "holiday", "from": "2026-03-05", "to": null, "start_full_day": null, "end_full_day": null}),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }
    assert_eq!(count(&h.db, "care_records").await, 10);
}

async fn changes_need_if_match_and_make_new_versions(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let loc = location(&app, "CH1").await;
    let pat = patient(&app, "R-1").await;
    let t = token(&["biller"], None);
    let (s, r, _) = call(
        &app,
        post(
            "/v1/care-records",
            &t,
            &record(&pat, &loc, stay("2026-01-01", Some("2026-01-31"))),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let id = r["id"].as_str().expect("id").to_owned();
    let path = format!("/v1/care-records/{id}");
    let change = |details: Value| json!({"reason": "leaving date corrected", "details": details});
    let corrected = stay("2026-01-01", Some("2026-02-15"));

    // Unknown record: 404 before anything else; then If-Match missing, then stale.
    let (s, p, _) = send(
        &app,
        put(
            "/v1/care-records/0190f5a0-0000-7000-8000-000000000000",
            &t,
            None,
            &change(corrected.clone()),
        ),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, p, _) = send(
        &app,
        put(
            "/v1/care-records/nope",
            &t,
            Some("\"v1\""),
            &change(corrected.clone()),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{p}");
    let (s, p, _) = send(&app, put(&path, &t, None, &change(corrected.clone()))).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (
            StatusCode::PRECONDITION_REQUIRED,
            Some("precondition_required")
        )
    );
    let (s, p, _) = send(
        &app,
        put(&path, &t, Some("\"v7\""), &change(corrected.clone())),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::PRECONDITION_FAILED, Some("precondition_failed"))
    );
    // The kind stays; a reason is required; the details are checked under `details.`.
    let (s, p, _) = send(
        &app,
        put(
            &path,
            &t,
            Some("\"v1\""),
            &change(json!({"kind": "absence", "reason": "hospital", "from": "2026-01-10", "to": null, "start_full_day": null, "end_full_day": null})),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert!(
        p["errors"]
            .as_array()
            .expect("errors")
            .iter()
            .any(|e| e["field"] == "details.kind" && e["code"] == "kind_changed"),
        "{p}"
    );
    let (s, p, _) = send(
        &app,
        put(
            &path,
            &t,
            Some("\"v1\""),
            &json!({"reason": "  ", "details": corrected}),
        ),
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let (s, p, _) = send(
        &app,
        put(
            &path,
            &t,
            Some("\"v1\""),
            &change(stay("2026-01-01", Some("2025-12-01"))),
        ),
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("details.leaving_date")
        )
    );
    // The same details again: no new version, no event.
    let (s, same, etag) = send(
        &app,
        put(
            &path,
            &t,
            Some("\"v1\""),
            &change(stay("2026-01-01", Some("2026-01-31"))),
        ),
    )
    .await;
    assert_eq!((s, etag.as_deref()), (StatusCode::OK, Some("\"v1\"")));
    assert_eq!(same["version"], json!(1));
    assert_eq!(events(&h.db).await.len(), 1);
    assert_eq!(count(&h.db, "care_record_versions").await, 1);
    let audit_before = count(&h.db, "audit_log").await;

    // A real change: version 2, its ETag, a history row, an event, an audit entry.
    let (s, v2, etag) = send(
        &app,
        put(&path, &t, Some("\"v1\""), &change(corrected.clone())),
    )
    .await;
    assert_eq!(
        (s, etag.as_deref()),
        (StatusCode::OK, Some("\"v2\"")),
        "{v2}"
    );
    assert_eq!(
        (&v2["version"], &v2["details"]["leaving_date"], &v2["etag"]),
        (&json!(2), &json!("2026-02-15"), &json!("\"v2\""))
    );
    let (_, got, etag) = send(&app, get(&path, &t)).await;
    assert_eq!(
        (got["version"].clone(), etag.as_deref()),
        (json!(2), Some("\"v2\""))
    );
    let (s, versions, _) = call(&app, get(&format!("{path}/versions"), &t)).await;
    assert_eq!(s, StatusCode::OK);
    let versions = versions.as_array().expect("versions");
    assert_eq!(versions.len(), 2);
    assert_eq!(
        (
            &versions[0]["version"],
            &versions[0]["reason"],
            &versions[0]["details"]["leaving_date"]
        ),
        (&json!(1), &Value::Null, &json!("2026-01-31"))
    );
    assert_eq!(
        (
            &versions[1]["version"],
            &versions[1]["reason"],
            &versions[1]["cancelled"]
        ),
        (&json!(2), &json!("leaving date corrected"), &json!(false))
    );
    assert_eq!(versions[1]["changed_by"], json!("test-biller"));
    let events = events(&h.db).await;
    assert_eq!(events.len(), 2);
    let last = &events[1]["data"];
    assert_eq!(
        (
            &last["record"]["version"],
            &last["record"]["details"]["leaving_date"],
            &last["reason"]
        ),
        (
            &json!(2),
            &json!("2026-02-15"),
            &json!("leaving date corrected")
        )
    );
    assert_eq!(count(&h.db, "audit_log").await, audit_before + 1);
    // What was read as v1 is stale now.
    let (s, _, _) = send(
        &app,
        put(&path, &t, Some("\"v1\""), &change(stay("2026-01-01", None))),
    )
    .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED);

    // A change may not run into another stay; the record's own old span does not count.
    let (s, _, _) = call(
        &app,
        post(
            "/v1/care-records",
            &t,
            &record(&pat, &loc, stay("2026-03-01", None)),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, p, _) = send(
        &app,
        put(&path, &t, Some("\"v2\""), &change(stay("2026-01-01", None))),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("overlapping_stay"))
    );
    let (s, v3, _) = send(
        &app,
        put(
            &path,
            &t,
            Some("\"v2\""),
            &change(stay("2026-01-05", Some("2026-02-28"))),
        ),
    )
    .await;
    assert_eq!((s, &v3["version"]), (StatusCode::OK, &json!(3)), "{v3}");
    // If-Match takes a list of tags or `*` (RFC 9110); texts are stored trimmed.
    let mut padded = stay("2026-01-05", Some("2026-02-27"));
    padded["room"] = json!("  A-101 ");
    let (s, v4, _) = send(
        &app,
        put(&path, &t, Some("\"v1\", \"v3\""), &change(padded)),
    )
    .await;
    assert_eq!(
        (s, &v4["version"], &v4["details"]["room"]),
        (StatusCode::OK, &json!(4), &json!("A-101")),
        "{v4}"
    );
    let (s, v5, _) = send(
        &app,
        put(
            &path,
            &t,
            Some("*"),
            &change(stay("2026-01-05", Some("2026-02-26"))),
        ),
    )
    .await;
    assert_eq!((s, &v5["version"]), (StatusCode::OK, &json!(5)), "{v5}");
    // The records of an inactive location no longer change (they can still be cancelled).
    let (_, l, _) = call(&app, get(&format!("/v1/locations/{loc}"), &admin())).await;
    let (s, _, _) = call(
        &app,
        test::TestRequest::put()
            .uri(&format!("/v1/locations/{loc}"))
            .insert_header(("authorization", format!("Bearer {}", admin())))
            .set_json(json!({"code": l["code"], "name": l["name"], "time_zone": l["time_zone"], "currency": l["currency"], "active": false})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (s, p, _) = send(
        &app,
        put(
            &path,
            &t,
            Some("\"v5\""),
            &change(stay("2026-01-05", Some("2026-02-25"))),
        ),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("location_inactive")),
        "{p}"
    );
    let (s, cancelled, etag) = send(
        &app,
        post(
            &format!("{path}/cancel"),
            &t,
            &json!({"reason": "home closed"}),
        ),
    )
    .await;
    assert_eq!(
        (s, &cancelled["version"], etag.as_deref()),
        (StatusCode::OK, &json!(6), Some("\"v6\"")),
        "{cancelled}"
    );
}

async fn cancelling_is_a_version_and_happens_once(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let loc = location(&app, "CH1").await;
    let pat = patient(&app, "R-1").await;
    let t = admin();
    let (_, r, _) = call(
        &app,
        post(
            "/v1/care-records",
            &t,
            &record(&pat, &loc, evaluation("2026-01-01", None)),
        ),
    )
    .await;
    let id = r["id"].as_str().expect("id").to_owned();
    let cancel = format!("/v1/care-records/{id}/cancel");
    // A bad id is answered as such before the body is looked at.
    let (s, _, _) = call(
        &app,
        post(
            "/v1/care-records/not-an-id/cancel",
            &t,
            &json!({"reason": ""}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, p, _) = call(&app, post(&cancel, &t, &json!({"reason": ""}))).await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("reason"))
    );
    let (s, c, etag) = send(
        &app,
        post(&cancel, &t, &json!({"reason": "assessed in error"}))
            .insert_header(("idempotency-key", "cancel-eval-1")),
    )
    .await;
    assert_eq!(
        (s, etag.as_deref()),
        (StatusCode::OK, Some("\"v2\"")),
        "{c}"
    );
    // The same key again replays the answer; with another body it is refused.
    let (s, replay, etag) = send(
        &app,
        post(&cancel, &t, &json!({"reason": "assessed in error"}))
            .insert_header(("idempotency-key", "cancel-eval-1")),
    )
    .await;
    assert_eq!(
        (s, etag.as_deref(), &replay),
        (StatusCode::OK, Some("\"v2\""), &c)
    );
    let (s, p, _) = call(
        &app,
        post(&cancel, &t, &json!({"reason": "something else"}))
            .insert_header(("idempotency-key", "cancel-eval-1")),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{p}");
    assert_eq!(
        (&c["cancelled"], &c["version"], &c["etag"]),
        (&json!(true), &json!(2), &json!("\"v2\""))
    );
    let announced = events(&h.db).await;
    assert_eq!(announced.len(), 2);
    assert_eq!(
        (
            &announced[1]["data"]["record"]["cancelled"],
            &announced[1]["data"]["record"]["version"],
            &announced[1]["data"]["reason"]
        ),
        (&json!(true), &json!(2), &json!("assessed in error"))
    );
    let (s, p, _) = call(&app, post(&cancel, &t, &json!({"reason": "again"}))).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_cancelled"))
    );
    // A cancelled record cannot change either.
    let (s, p, _) = send(
        &app,
        put(
            &format!("/v1/care-records/{id}"),
            &t,
            Some("\"v2\""),
            &json!({"reason": "revive", "details": evaluation("2026-01-01", Some("2026-02-01"))}),
        ),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("cancelled"))
    );
    let (_, versions, _) = call(&app, get(&format!("/v1/care-records/{id}/versions"), &t)).await;
    let flags: Vec<&Value> = versions
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| &v["cancelled"])
        .collect();
    assert_eq!(flags, [&json!(false), &json!(true)]);
    assert_eq!(events(&h.db).await.len(), 2, "no event for refused changes");
    // Lists leave cancelled records out unless asked.
    let (_, page, _) = call(&app, get("/v1/care-records", &t)).await;
    assert_eq!(page["items"].as_array().expect("items").len(), 0);
    let (_, page, _) = call(&app, get("/v1/care-records?include_cancelled=true", &t)).await;
    assert_eq!(page["items"][0]["id"], json!(id));
}

async fn lists_filter_by_patient_location_and_kind(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let l1 = location(&app, "CH1").await;
    let l2 = location(&app, "CH2").await;
    let p1 = patient(&app, "R-1").await;
    let p2 = patient(&app, "R-2").await;
    let t = admin();
    for (p, l) in [(&p1, &l1), (&p2, &l1), (&p1, &l2)] {
        for details in every_kind() {
            let (s, r, _) = call(&app, post("/v1/care-records", &t, &record(p, l, details))).await;
            assert_eq!(s, StatusCode::CREATED, "{r}");
        }
    }
    let ids = |page: &Value| -> Vec<String> {
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|r| r["id"].as_str().expect("id").to_owned())
            .collect()
    };
    let (_, all, _) = call(&app, get("/v1/care-records?limit=500", &t)).await;
    assert_eq!(ids(&all).len(), 21);
    let (_, page, _) = call(&app, get(&format!("/v1/care-records?patient_id={p1}"), &t)).await;
    assert_eq!(ids(&page).len(), 14);
    assert!(
        page["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|r| r["patient_id"] == json!(p1))
    );
    let (_, page, _) = call(
        &app,
        get(
            &format!("/v1/care-records?patient_id={p1}&location_id={l2}&kind=stay"),
            &t,
        ),
    )
    .await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1, "{page}");
    assert_eq!(
        (&items[0]["kind"], &items[0]["location_id"]),
        (&json!("stay"), &json!(l2))
    );
    let (_, page, _) = call(&app, get("/v1/care-records?kind=manual_entry", &t)).await;
    assert_eq!(ids(&page).len(), 3);
    let (s, p, _) = call(&app, get("/v1/care-records?kind=consumption", &t)).await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("kind"))
    );
    for (query, status) in [
        ("kind=visit", StatusCode::BAD_REQUEST),
        ("include_cancelled=maybe", StatusCode::BAD_REQUEST),
        ("limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("cursor=garbage", StatusCode::UNPROCESSABLE_ENTITY),
    ] {
        let (s, p, ctype) = call(&app, get(&format!("/v1/care-records?{query}"), &t)).await;
        assert_eq!(s, status, "{query}: {p}");
        assert_eq!(
            ctype.as_deref(),
            Some("application/problem+json"),
            "{query}"
        );
    }
    // Pages of 8 walk all 21 once, in order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let uri = match &cursor {
            Some(c) => format!("/v1/care-records?limit=8&cursor={c}"),
            None => "/v1/care-records?limit=8".to_owned(),
        };
        let (s, page, _) = call(&app, get(&uri, &t)).await;
        assert_eq!(s, StatusCode::OK, "{page}");
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids(&all));
}

async fn other_locations_are_out_of_sight(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let l1 = location(&app, "CH1").await;
    let l2 = location(&app, "CH2").await;
    let pat = patient(&app, "R-1").await;
    let t = admin();
    let mut ids = Vec::new();
    for l in [&l1, &l2] {
        let (_, r, _) = call(
            &app,
            post(
                "/v1/care-records",
                &t,
                &record(&pat, l, stay("2026-01-01", None)),
            ),
        )
        .await;
        ids.push(r["id"].as_str().expect("id").to_owned());
    }
    let ch2 = token(&["biller"], Some(&["CH2"]));
    let foreign = format!("/v1/care-records/{}", ids[0]);
    assert_eq!(
        call(&app, get(&foreign, &ch2)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(&app, get(&format!("{foreign}/versions"), &ch2))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    let (s, _, _) = send(
        &app,
        put(
            &foreign,
            &ch2,
            Some("\"v1\""),
            &json!({"reason": "x", "details": stay("2026-01-01", Some("2026-01-02"))}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(
        call(
            &app,
            post(&format!("{foreign}/cancel"), &ch2, &json!({"reason": "x"}))
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // Recording at a location out of scope reads as an unknown location.
    let (s, p, _) = call(
        &app,
        post(
            "/v1/care-records",
            &ch2,
            &record(&pat, &l1, stay("2027-01-01", None)),
        ),
    )
    .await;
    assert_eq!(
        (s, p["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("location_id"))
    );
    // The list shows only CH2's record, even when asked for CH1's.
    let (_, page, _) = call(&app, get("/v1/care-records", &ch2)).await;
    let items = page["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], json!(ids[1]));
    let (_, page, _) = call(
        &app,
        get(&format!("/v1/care-records?location_id={l1}"), &ch2),
    )
    .await;
    assert!(page["items"].as_array().expect("items").is_empty());
    // Its own record is there; a malformed id is simply not found.
    assert_eq!(
        call(&app, get(&format!("/v1/care-records/{}", ids[1]), &ch2))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        call(&app, get("/v1/care-records/not-a-uuid", &ch2)).await.0,
        StatusCode::NOT_FOUND
    );
    // Roles: a payer user reads no care records; an auditor reads but cannot write.
    assert_eq!(
        call(&app, get("/v1/care-records", &token(&["payer"], None)))
            .await
            .0,
        StatusCode::FORBIDDEN
    );
    let auditor = token(&["auditor"], None);
    assert_eq!(call(&app, get(&foreign, &auditor)).await.0, StatusCode::OK);
    assert_eq!(
        call(
            &app,
            post(
                &format!("{foreign}/cancel"),
                &auditor,
                &json!({"reason": "x"})
            )
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        count(&h.db, "care_record_versions").await,
        2,
        "nothing changed"
    );
}
