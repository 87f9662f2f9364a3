//! Settlement management against real databases (SQLite and a throwaway PostgreSQL): billers
//! with location and payer skills, new settlements assigned to the least loaded eligible biller
//! or in turn, reassignment with a reason, and the workload view.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use serde_json::{Value, json};

use crate::common::{Harness, app, configure, consumption, deliver, harness, world};

both_backends!(
    new_settlements_go_to_eligible_billers_and_can_be_reassigned,
    reads_refuse_other_roles_and_bad_pages,
);

fn put(path: &str, tok: &str, body: &Value) -> test::TestRequest {
    test::TestRequest::put()
        .uri(path)
        .insert_header(("authorization", format!("Bearer {tok}")))
        .set_json(body)
}

/// A new episode (at `location`) with one consumption: its settlement is created.
async fn new_settlement(
    h: &Harness,
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
    location: &str,
) -> Value {
    let mut w = world();
    w.episode.location.code = location.to_owned();
    w.episode.number = format!("ENC-{}", w.episode.id);
    deliver(
        h,
        "accounts",
        &consumption(&w, "LAB-HB", 1, "2026-11-02T09:00:00Z"),
    )
    .await;
    let (_, page, _) = call(
        app,
        get(
            &format!("/v1/settlements?episode_id={}", w.episode.id),
            &admin(),
        ),
    )
    .await;
    page["items"][0].clone()
}

async fn new_settlements_go_to_eligible_billers_and_can_be_reassigned(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    configure(&app).await;
    let t = admin();
    for (subject, body) in [
        (
            "lucia",
            json!({"name": "Lucía", "locations": ["H1"], "payers": ["SANITAS"]}),
        ),
        ("marco", json!({"name": "Marco"})),
        ("nina", json!({"name": "Nina", "active": false})),
    ] {
        let (s, v, _) = call(&app, put(&format!("/v1/billers/{subject}"), &t, &body)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (_, policy, _) = call(&app, get("/v1/settlement-assignment", &t)).await;
    assert_eq!(policy["mode"], json!("least_loaded"));

    // Least loaded: lucia (tie, by subject), marco, lucia (tie again); at H2 only marco bills.
    let mut assigned = Vec::new();
    for loc in ["H1", "H1", "H1", "H2"] {
        let s = new_settlement(&h, &app, loc).await;
        assigned.push(s["assigned_to"].as_str().unwrap_or("-").to_owned());
    }
    assert_eq!(assigned, ["lucia", "marco", "lucia", "marco"]);

    // In turn: after the last assigned in turn (none yet): lucia, marco, lucia.
    let (s, _, _) = call(
        &app,
        put(
            "/v1/settlement-assignment",
            &t,
            &json!({"mode": "round_robin"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let mut turns = Vec::new();
    for _ in 0..3 {
        let s = new_settlement(&h, &app, "H1").await;
        turns.push(s["assigned_to"].as_str().unwrap_or("-").to_owned());
    }
    assert_eq!(turns, ["lucia", "marco", "lucia"]);

    // Off: nobody; the biller who takes it into review gets it.
    let (s, _, _) = call(
        &app,
        put("/v1/settlement-assignment", &t, &json!({"mode": "off"})),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let loose = new_settlement(&h, &app, "H1").await;
    assert_eq!(loose["assigned_to"], Value::Null);

    // Who works on what: lucia 4 drafts, marco 3, one unassigned.
    let (_, work, _) = call(&app, get("/v1/settlement-workload", &t)).await;
    let totals: Vec<(Value, Value)> = work
        .as_array()
        .expect("workload")
        .iter()
        .map(|w| (w["assigned_to"].clone(), w["total"].clone()))
        .collect();
    assert_eq!(
        totals,
        [
            (Value::Null, json!(1)),
            (json!("lucia"), json!(4)),
            (json!("marco"), json!(3))
        ]
    );
    let (_, billers, _) = call(&app, get("/v1/billers", &token(&["biller"], None))).await;
    assert_eq!(billers[0]["open"], json!({"draft": 4}), "{billers}");

    // Reassignment: a reason and an active biller, or nothing changes.
    let id = loose["id"].as_str().expect("id");
    let reassign =
        |body: Value, tok: &str| post(&format!("/v1/settlements/{id}/assignment"), tok, &body);
    let (s, problem, _) = call(
        &app,
        reassign(json!({"assigned_to": "nina", "reason": "cover"}), &t),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(problem["errors"][0]["code"], json!("not_a_biller"));
    let (s, _, _) = call(
        &app,
        reassign(json!({"assigned_to": "marco", "reason": " "}), &t),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = call(
        &app,
        reassign(
            json!({"assigned_to": "marco", "reason": "cover"}),
            &token(&["biller"], None),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (_, doc, _) = call(&app, get(&format!("/v1/settlements/{id}"), &t)).await;
    assert_eq!(doc["assigned_to"], Value::Null, "refusals change nothing");
    let (s, now, _) = call(
        &app,
        reassign(
            json!({"assigned_to": "marco", "reason": "Lucía is on holiday"}),
            &t,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{now}");
    assert_eq!(
        (&now["assigned_to"], &now["total"]),
        (&json!("marco"), &json!(4))
    );
    let (_, doc, _) = call(&app, get(&format!("/v1/settlements/{id}"), &t)).await;
    assert_eq!(doc["assigned_to"], json!("marco"));
    let (_, mine, _) = call(&app, get("/v1/settlements?assigned_to=marco", &t)).await;
    assert_eq!(mine["items"].as_array().map(Vec::len), Some(4));
    let (s, _, _) = call(
        &app,
        put("/v1/billers/has%20space", &t, &json!({"name": "X"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/billers/x",
            &t,
            &json!({"name": "X", "locations": ["a b"]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY);
    let (s, _, _) = call(
        &app,
        put(
            "/v1/settlement-assignment",
            &t,
            &json!({"mode": "sometimes"}),
        ),
    )
    .await;
    assert!(s.is_client_error(), "an unknown mode: {s}");
    let (_, policy, _) = call(&app, get("/v1/settlement-assignment", &t)).await;
    assert_eq!(policy["mode"], json!("off"), "unchanged");
    let (s, _, _) = call(
        &app,
        post(
            "/v1/settlements/019a0000-0000-7000-8000-0000000000ff/assignment",
            &t,
            &json!({"assigned_to": "marco", "reason": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A user limited to H2 sees the work of H2 only: marco's one settlement there.
    let h2 = token(&["biller"], Some(&["H2"]));
    let (_, work, _) = call(&app, get("/v1/settlement-workload", &h2)).await;
    assert_eq!(
        work,
        json!([{"assigned_to": "marco", "by_status": {"draft": 1}, "total": 1}])
    );
}

/// The read side of settlement management, business conditions and offers: those without the
/// role get 403, a bad page request 422 naming the parameter (400 for a NUL byte in the URL).
async fn reads_refuse_other_roles_and_bad_pages(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let collector = token(&["collector"], None);
    for path in [
        "/v1/billers",
        "/v1/settlement-assignment",
        "/v1/settlement-workload",
        "/v1/business-conditions",
        "/v1/business-conditions/versions",
        "/v1/offers",
        "/v1/offer-balances?patient_id=019a0000-0000-7000-8000-000000000001",
    ] {
        let (s, problem, _) = call(&app, get(path, &collector)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}: {problem}");
        assert_eq!(problem["code"], json!("forbidden"), "{path}");
    }
    let t = admin();
    for (path, field) in [
        ("/v1/offers?limit=0", "limit"),
        ("/v1/offers?cursor=%21%21", "cursor"),
    ] {
        let (s, problem, _) = call(&app, get(path, &t)).await;
        assert_eq!(
            (s, &problem["status"], &problem["errors"][0]["field"]),
            (StatusCode::UNPROCESSABLE_ENTITY, &json!(422), &json!(field)),
            "{path}: {problem}"
        );
    }
    // A NUL byte is refused before any parameter is read.
    let (s, problem, _) = call(&app, get("/v1/offers?cursor=%00", &t)).await;
    assert_eq!(
        (s, &problem["code"]),
        (StatusCode::BAD_REQUEST, &json!("bad_query")),
        "{problem}"
    );
    // The same reads as a biller answer.
    for path in [
        "/v1/billers",
        "/v1/settlement-assignment",
        "/v1/business-conditions",
        "/v1/offers",
    ] {
        let (s, body, _) = call(&app, get(path, &token(&["biller"], None))).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
    }
}
