//! Prices and coverage terms widened, against real databases (SQLite and a throwaway PostgreSQL): a payer's
//! cap per episode (its shares stop there and the next payer and the patient take the rest) and
//! service groups it pays only with a pre-authorization (a line without one is flagged, never
//! silently paid); package prices (a bundle priced as a whole, its components at zero but
//! visible); promotional offers (prepaid bundles used up across episodes); a yearly deductible and cap counted across all of a patient's episodes. Amounts
//! computed by hand.

use actix_web::http::StatusCode;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, put, token};
use serde_json::{Value, json};

use crate::common::{app, consumption, create_all, deliver, harness, share, world};

both_backends!(
    a_second_payer_pays_by_its_coordination_method,
    a_bad_coordination_method_is_refused_naming_the_field,
    a_prepaid_bundle_pays_for_later_sessions_until_it_is_used_up,
    a_yearly_deductible_and_cap_count_across_the_patients_episodes,
    a_cap_per_episode_and_pre_authorization_shape_the_split,
    a_package_is_priced_whole_and_its_components_at_zero,
);

async fn a_package_is_priced_whole_and_its_components_at_zero(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    create_all(
        &app,
        &[
            ("/v1/prices", json!({"code": "CHECKUP-PKG", "unit_price": {"amount": "150.00", "currency": "EUR"}, "valid_from": "2026-01-01",
               "components": ["LAB-HB", "LAB-GLU"]})),
            ("/v1/prices", json!({"code": "LAB-HB", "unit_price": {"amount": "10.00", "currency": "EUR"}, "valid_from": "2026-01-01"})),
            ("/v1/prices", json!({"code": "LAB-GLU", "unit_price": {"amount": "8.00", "currency": "EUR"}, "valid_from": "2026-01-01"})),
            ("/v1/coverage-terms", json!({"payer_code": "SANITAS", "covered_percent": "80", "currency": "EUR"})),
            ("/v1/coverage-terms", json!({"payer_code": "MUTUA", "covered_percent": "50", "currency": "EUR"})),
        ],
    )
    .await;
    for (bad, field) in [
        (
            json!({"code": "P2", "unit_price": {"amount": "1.00", "currency": "EUR"}, "valid_from": "2026-01-01", "components": ["P2"]}),
            "components.0",
        ),
        (
            json!({"code": "P3", "unit_price": {"amount": "1.00", "currency": "EUR"}, "valid_from": "2026-01-01", "components": ["X"], "beneficiary_kind": "LTC"}),
            "components",
        ),
    ] {
        let (s, problem, _) = call(&app, post("/v1/prices", &t, &bad)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
        assert_eq!(problem["errors"][0]["field"], json!(field), "{problem}");
    }
    // With the package: 150.00 for it, the two tests at zero (kept visible, the package named).
    let w = world();
    for code in ["CHECKUP-PKG", "LAB-HB", "LAB-GLU"] {
        deliver(
            &h,
            "accounts",
            &consumption(&w, code, 1, "2026-11-02T09:00:00Z"),
        )
        .await;
    }
    // Without it, elsewhere, a test costs what it costs.
    let mut other = world();
    other.episode.number = "ENC-2".to_owned();
    deliver(
        &h,
        "accounts",
        &consumption(&other, "LAB-HB", 1, "2026-11-02T09:00:00Z"),
    )
    .await;
    let doc_of = |episode: String| {
        let app = &app;
        let t = t.clone();
        async move {
            let (_, page, _) = call(
                app,
                get(&format!("/v1/settlements?episode_id={episode}"), &t),
            )
            .await;
            let (_, doc, _) = call(
                app,
                get(
                    &format!(
                        "/v1/settlements/{}",
                        page["items"][0]["id"].as_str().expect("id")
                    ),
                    &t,
                ),
            )
            .await;
            doc
        }
    };
    let doc = doc_of(w.episode.id.to_string()).await;
    let line = |code: &str| {
        doc["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .find(|l| l["code"] == code)
            .cloned()
            .expect("line")
    };
    assert_eq!(line("CHECKUP-PKG")["amount"]["amount"], json!("150.00"));
    for code in ["LAB-HB", "LAB-GLU"] {
        let l = line(code);
        assert_eq!(
            (
                l["amount"]["amount"].as_str(),
                l["price_source"].as_str(),
                l["package"].as_str()
            ),
            (Some("0.00"), Some("package"), Some("CHECKUP-PKG")),
            "{l}"
        );
    }
    assert_eq!(doc["total"]["amount"], json!("150.00"));
    assert_eq!(doc["issue_count"], json!(0));
    let alone = doc_of(other.episode.id.to_string()).await;
    assert_eq!(alone["total"]["amount"], json!("10.00"), "{alone}");
}

async fn a_cap_per_episode_and_pre_authorization_shape_the_split(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    create_all(
        &app,
        &[
            ("/v1/prices", json!({"code": "CONS", "unit_price": {"amount": "100.00", "currency": "EUR"}, "valid_from": "2026-01-01"})),
            ("/v1/prices", json!({"code": "MRI", "unit_price": {"amount": "200.00", "currency": "EUR"}, "valid_from": "2026-01-01"})),
            ("/v1/coverage-terms", json!({"payer_code": "SANITAS", "covered_percent": "80", "currency": "EUR",
               "copay_per_line": {"amount": "1.00", "currency": "EUR"},
               "cap_per_episode": {"amount": "100.00", "currency": "EUR"},
               "preauthorization_service_groups": ["IMAGING"]})),
            ("/v1/coverage-terms", json!({"payer_code": "MUTUA", "covered_percent": "50", "currency": "EUR"})),
        ],
    )
    .await;
    let (s, problem, _) = call(
        &app,
        post("/v1/coverage-terms", &t, &json!({"payer_code": "OTHER", "covered_percent": "50",
            "cap_per_episode": {"amount": "-1.00", "currency": "EUR"}, "preauthorization_service_groups": ["a b"]})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"].as_array().map(Vec::len),
        Some(2),
        "{problem}"
    );

    let w = world();
    let mri = |at: &str, authorization: Option<&str>| {
        let mut c = consumption(&w, "MRI", 1, at);
        c.item.service_group = "IMAGING".to_owned();
        if let Some(a) = authorization {
            c.attributes = json!({"authorization_number": a});
        }
        c
    };
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T09:00:00Z"),
    )
    .await;
    deliver(
        &h,
        "accounts",
        &consumption(&w, "CONS", 1, "2026-11-02T10:00:00Z"),
    )
    .await;
    let authorized = mri("2026-11-02T11:00:00Z", Some("AUTH-778"));
    let unauthorized = mri("2026-11-02T12:00:00Z", None);
    deliver(&h, "accounts", &authorized).await;
    deliver(&h, "accounts", &unauthorized).await;

    let (_, page, _) = call(
        &app,
        get(&format!("/v1/settlements?episode_id={}", w.episode.id), &t),
    )
    .await;
    let (_, doc, _) = call(
        &app,
        get(
            &format!(
                "/v1/settlements/{}",
                page["items"][0]["id"].as_str().expect("id")
            ),
            &t,
        ),
    )
    .await;
    let lines: Vec<&Value> = doc["lines"].as_array().expect("lines").iter().collect();
    let split = |l: &Value| {
        (
            share(l, Some("SANITAS")),
            share(l, Some("MUTUA")),
            share(l, None),
        )
    };
    let s3 = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    // First consultation: SANITAS 80 % of 99.00 = 79.20 (20.80 left under its 100.00 cap);
    // MUTUA half of 20.80; the patient the other half.
    assert_eq!(split(lines[0]), s3("79.20", "10.40", "10.40"), "{doc}");
    // Second: SANITAS would pay 79.20 but only 20.80 is left under the cap.
    assert_eq!(split(lines[1]), s3("20.80", "39.60", "39.60"));
    let reason = lines[1]["shares"]
        .as_array()
        .expect("shares")
        .iter()
        .find(|s| s["party"]["payer_code"] == "SANITAS")
        .expect("SANITAS")["reason"]["kind"]
        .clone();
    assert_eq!(reason, json!("cap_reached"));
    // The authorized MRI: SANITAS's cap is spent; MUTUA half; the patient the rest.
    assert_eq!(split(lines[2]), s3("0.00", "100.00", "100.00"));
    // The MRI without authorization is flagged, not paid, and blocks approval.
    let flagged = lines
        .iter()
        .find(|l| l["consumption_id"] == json!(unauthorized.consumption_id.to_string()))
        .expect("line");
    assert_eq!(
        flagged["issues"][0]["code"],
        json!("authorization_missing"),
        "{flagged}"
    );
    assert_eq!(flagged["shares"], json!([]));
    assert_eq!(doc["issue_count"], json!(1));
    assert_eq!(
        doc["total"]["amount"],
        json!("400.00"),
        "the flagged line is not in the total"
    );
}

async fn a_yearly_deductible_and_cap_count_across_the_patients_episodes(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let made = create_all(
        &app,
        &[
        (
            "/v1/prices",
            json!({"code": "CONS", "unit_price": {"amount": "100.00", "currency": "EUR"}, "valid_from": "2026-01-01"}),
        ),
        (
            "/v1/coverage-terms",
            json!({"payer_code": "SANITAS", "covered_percent": "80", "currency": "EUR",
            "deductible_per_year": {"amount": "150.00", "currency": "EUR"},
            "cap_per_year": {"amount": "200.00", "currency": "EUR"}}),
        ),
        ],
    )
    .await;
    let terms = &made[1];
    assert_eq!(
        terms["deductible_per_year"]["amount"],
        json!("150.00"),
        "{terms}"
    );
    assert_eq!(terms["cap_per_year"]["amount"], json!("200.00"), "{terms}");
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/coverage-terms",
            &t,
            &json!({"payer_code": "OTHER", "covered_percent": "50", "currency": "EUR",
            "deductible_per_year": {"amount": "-1.00", "currency": "EUR"},
            "cap_per_year": {"amount": "10.00", "currency": "USD"}}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["deductible_per_year.amount", "cap_per_year.currency"],
        "{problem}"
    );

    // Four episodes of one patient covered by SANITAS alone, one after another.
    let first = {
        let mut w = world();
        w.coverages.truncate(1);
        w
    };
    let episode = |number: &str| {
        let mut w = world();
        w.episode.number = number.to_owned();
        w.episode.patient = first.episode.patient.clone();
        w.coverages = first.coverages.clone();
        w
    };
    let settled = |w: &crate::common::World, quantity: i64, at: &str| {
        let c = consumption(w, "CONS", quantity, at);
        let episode = w.episode.id;
        let (h, app, t) = (&h, &app, t.clone());
        async move {
            deliver(h, "accounts", &c).await;
            let (_, page, _) = call(
                app,
                get(&format!("/v1/settlements?episode_id={episode}"), &t),
            )
            .await;
            let id = page["items"][0]["id"].as_str().expect("id").to_owned();
            let (_, doc, _) = call(app, get(&format!("/v1/settlements/{id}"), &t)).await;
            doc["lines"][0].clone()
        }
    };
    let deductible = |line: &Value, payer: Option<&str>| {
        line["shares"]
            .as_array()
            .expect("shares")
            .iter()
            .find(|s| s["party"]["payer_code"].as_str() == payer)
            .and_then(|s| s["deductible"]["amount"].as_str())
            .unwrap_or("none")
            .to_owned()
    };
    // March: 100.00, all of it deductible.
    let march = settled(&first, 1, "2026-03-02T09:00:00Z").await;
    assert_eq!(
        (share(&march, Some("SANITAS")), share(&march, None)),
        ("0.00".into(), "100.00".into()),
        "{march}"
    );
    assert_eq!(
        march["shares"][0]["reason"]["kind"],
        json!("deductible_not_met")
    );
    assert_eq!(deductible(&march, Some("SANITAS")), "100.00");
    // May, another episode: 200.00; 50.00 ends the deductible, 80 % of 150.00 = 120.00.
    let may = settled(&episode("ENC-2"), 2, "2026-05-02T09:00:00Z").await;
    assert_eq!(
        (share(&may, Some("SANITAS")), share(&may, None)),
        ("120.00".into(), "80.00".into()),
        "{may}"
    );
    assert_eq!(deductible(&may, Some("SANITAS")), "50.00");
    assert_eq!(
        deductible(&may, None),
        "50.00",
        "the patient's share names its deductible part"
    );
    // July: 200.00 would give 160.00, but only 80.00 is left under the yearly cap.
    let july = settled(&episode("ENC-3"), 2, "2026-07-01T09:00:00Z").await;
    assert_eq!(
        (share(&july, Some("SANITAS")), share(&july, None)),
        ("80.00".into(), "120.00".into()),
        "{july}"
    );
    assert_eq!(
        july["shares"][0]["reason"]["kind"],
        json!("year_cap_reached")
    );
    // January 2027: a new year, a new deductible.
    let january = settled(&episode("ENC-4"), 1, "2027-01-10T09:00:00Z").await;
    assert_eq!(
        (share(&january, Some("SANITAS")), share(&january, None)),
        ("0.00".into(), "100.00".into()),
        "{january}"
    );
    // Another patient starts from nothing.
    let stranger = {
        let mut w = world();
        w.episode.number = "ENC-9".to_owned();
        w.coverages.truncate(1);
        w
    };
    let theirs = settled(&stranger, 2, "2026-07-01T09:00:00Z").await;
    assert_eq!(
        (share(&theirs, Some("SANITAS")), share(&theirs, None)),
        ("40.00".into(), "160.00".into()),
        "{theirs}"
    );
}

async fn a_prepaid_bundle_pays_for_later_sessions_until_it_is_used_up(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    create_all(
        &app,
        &[
        (
            "/v1/prices",
            json!({"code": "PHYSIO", "unit_price": {"amount": "50.00", "currency": "EUR"}, "valid_from": "2026-01-01"}),
        ),
        (
            "/v1/prices",
            json!({"code": "PHYSIO-5", "unit_price": {"amount": "200.00", "currency": "EUR"}, "valid_from": "2026-01-01"}),
        ),
        (
            "/v1/offers",
            json!({"code": "PHYSIO-5-SPRING", "description": "Five physiotherapy sessions for the price of four",
            "bundle_code": "PHYSIO-5", "service_codes": ["PHYSIO"], "units": "5", "valid_days": 90, "active_from": "2026-01-01"}),
        ),
        ],
    )
    .await;
    let (s, problem, _) = call(
        &app,
        post("/v1/offers", &t, &json!({"code": "BAD", "description": "x", "bundle_code": "PHYSIO-5",
            "service_codes": ["PHYSIO-5", "not a code"], "units": "0", "valid_days": 0, "active_from": "2026-01-01"})),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let fields: Vec<&str> = problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(
        fields,
        ["service_codes.0", "service_codes.1", "units", "valid_days"],
        "{problem}"
    );
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/offers",
            &t,
            &json!({"code": "PHYSIO-5-SPRING", "description": "again", "bundle_code": "X",
            "service_codes": ["PHYSIO"], "units": "1", "active_from": "2026-01-01"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    let (s, _, _) = call(&app, get("/v1/offers/NOPE", &t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(
        &app,
        post(
            "/v1/offers/NOPE/end",
            &t,
            &json!({"inactive_from": "2026-06-01", "reason": "x"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, listed, _) = call(&app, get("/v1/offers", &t)).await;
    assert_eq!(
        listed["items"].as_array().map(Vec::len),
        Some(1),
        "nothing half-made: {listed}"
    );

    // The patient pays privately (no coverages). Bought on 1 March (usable to 29 May).
    let first = {
        let mut w = world();
        w.coverages.clear();
        w
    };
    let mut second = world();
    second.episode.number = "ENC-2".to_owned();
    second.episode.patient = first.episode.patient.clone();
    second.coverages.clear();
    let lines_of = |w: &crate::common::World| {
        let episode = w.episode.id;
        let (app, t) = (&app, t.clone());
        async move {
            let (_, page, _) = call(
                app,
                get(&format!("/v1/settlements?episode_id={episode}"), &t),
            )
            .await;
            let id = page["items"][0]["id"].as_str().expect("id").to_owned();
            let (_, doc, _) = call(app, get(&format!("/v1/settlements/{id}"), &t)).await;
            doc["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| {
                    format!(
                        "{} x{} {} {}",
                        l["code"].as_str().unwrap_or("?"),
                        l["quantity"].as_str().unwrap_or("?"),
                        l["amount"]["amount"].as_str().unwrap_or("?"),
                        l["offer"].as_object().map_or_else(String::new, |o| format!(
                            "offer {} units {} left {}",
                            o["offer"].as_str().unwrap_or("?"),
                            o["units"].as_str().unwrap_or("?"),
                            o["remaining"].as_str().unwrap_or("?")
                        ))
                    )
                    .trim_end()
                    .to_owned()
                })
                .collect::<Vec<_>>()
        }
    };
    deliver(
        &h,
        "accounts",
        &consumption(&first, "PHYSIO", 1, "2026-02-27T09:00:00Z"),
    )
    .await;
    deliver(
        &h,
        "accounts",
        &consumption(&first, "PHYSIO-5", 1, "2026-03-01T09:00:00Z"),
    )
    .await;
    deliver(
        &h,
        "accounts",
        &consumption(&first, "PHYSIO", 2, "2026-03-02T09:00:00Z"),
    )
    .await;
    // Before the purchase a session costs what it costs; after it, the bundle pays.
    assert_eq!(
        lines_of(&first).await,
        [
            "PHYSIO x1 50.00",
            "PHYSIO-5 x1 200.00",
            "PHYSIO x2 0.00 offer PHYSIO-5-SPRING units 2 left 3"
        ]
    );
    // Another episode uses the three left; the fourth session is billed.
    deliver(
        &h,
        "accounts",
        &consumption(&second, "PHYSIO", 4, "2026-03-10T09:00:00Z"),
    )
    .await;
    assert_eq!(
        lines_of(&second).await,
        ["PHYSIO x4 50.00 offer PHYSIO-5-SPRING units 3 left 0"]
    );
    let (s, balances, _) = call(
        &app,
        get(
            &format!("/v1/offer-balances?patient_id={}", first.episode.patient.id),
            &t,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{balances}");
    assert_eq!(balances[0]["offer"], json!("PHYSIO-5-SPRING"));
    assert_eq!(
        (
            &balances[0]["bought_on"],
            &balances[0]["valid_until"],
            &balances[0]["units"],
            &balances[0]["used"],
            &balances[0]["remaining"]
        ),
        (
            &json!("2026-03-01"),
            &json!("2026-05-29"),
            &json!("5"),
            &json!("5"),
            &json!("0")
        ),
        "{balances}"
    );
    let (s, _, _) = call(&app, get("/v1/offer-balances?patient_id=nope", &t)).await;
    assert!(s.is_client_error());

    // New terms are a new offer: one bundle is sold by one offer on any day, so the old sale
    // ends first; bundles bought from then on carry the new offer's units.
    let summer = json!({"code": "PHYSIO-5-SUMMER", "description": "Six sessions for the price of four",
        "bundle_code": "PHYSIO-5", "service_codes": ["PHYSIO"], "units": "6", "active_from": "2026-06-01"});
    let (s, problem, _) = call(&app, post("/v1/offers", &t, &summer)).await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("overlapping_offer")),
        "{problem}"
    );
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/offers/PHYSIO-5-SPRING/end",
            &t,
            &json!({"inactive_from": "2025-12-01", "reason": "summer terms"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    // What was sold stays sold: the sale cannot end on or before a day it sold a bundle (the
    // first patient's, on 2026-03-01), which would take those units away.
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/offers/PHYSIO-5-SPRING/end",
            &t,
            &json!({"inactive_from": "2026-03-01", "reason": "back-dated"}),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("sold_after")),
        "{problem}"
    );
    // No reason, a day out of range, a location-scoped manager (offers are organisation-wide):
    // refused the same way, nothing changed.
    for (body, who, status, field, code) in [
        (
            json!({"inactive_from": "2026-06-01", "reason": " "}),
            t.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "reason",
            "required",
        ),
        (
            json!({"inactive_from": "3026-06-01", "reason": "far away"}),
            t.clone(),
            StatusCode::UNPROCESSABLE_ENTITY,
            "inactive_from",
            "out_of_range",
        ),
        (
            json!({"inactive_from": "2026-06-01", "reason": "summer terms"}),
            token(&["billing_manager"], Some(&["H1"])),
            StatusCode::FORBIDDEN,
            "",
            "",
        ),
    ] {
        let (s, problem, _) = call(&app, post("/v1/offers/PHYSIO-5-SPRING/end", &who, &body)).await;
        assert_eq!(s, status, "{body}: {problem}");
        if !field.is_empty() {
            assert_eq!(
                (
                    problem["errors"][0]["field"].as_str(),
                    problem["errors"][0]["code"].as_str()
                ),
                (Some(field), Some(code)),
                "{problem}"
            );
        }
    }
    let (_, still, _) = call(&app, get("/v1/offers/PHYSIO-5-SPRING", &t)).await;
    assert_eq!(
        still["inactive_from"],
        json!(null),
        "nothing changed: {still}"
    );
    let (s, ended, _) = call(
        &app,
        post(
            "/v1/offers/PHYSIO-5-SPRING/end",
            &t,
            &json!({"inactive_from": "2026-06-01", "reason": "summer terms"}),
        ),
    )
    .await;
    assert_eq!(
        (s, &ended["inactive_from"]),
        (StatusCode::OK, &json!("2026-06-01")),
        "{ended}"
    );
    // Ending it again later than it already ends would prolong the sale: refused.
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/offers/PHYSIO-5-SPRING/end",
            &t,
            &json!({"inactive_from": "2026-07-01", "reason": "longer"}),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("later")),
        "{problem}"
    );
    let (s, created, _) = call(&app, post("/v1/offers", &t, &summer)).await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    deliver(
        &h,
        "accounts",
        &consumption(&second, "PHYSIO-5", 1, "2026-06-10T09:00:00Z"),
    )
    .await;
    deliver(
        &h,
        "accounts",
        &consumption(&second, "PHYSIO", 1, "2026-06-11T09:00:00Z"),
    )
    .await;
    let (_, balances, _) = call(
        &app,
        get(
            &format!("/v1/offer-balances?patient_id={}", first.episode.patient.id),
            &t,
        ),
    )
    .await;
    let summary: Vec<(String, String, String)> = balances
        .as_array()
        .expect("balances")
        .iter()
        .map(|b| {
            (
                b["offer"].as_str().unwrap_or("?").to_owned(),
                b["units"].as_str().unwrap_or("?").to_owned(),
                b["remaining"].as_str().unwrap_or("?").to_owned(),
            )
        })
        .collect();
    let three = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    assert_eq!(
        summary,
        [
            three("PHYSIO-5-SPRING", "5", "0"),
            three("PHYSIO-5-SUMMER", "6", "5")
        ],
        "{balances}"
    );
    // Someone limited to another location sees nothing of it.
    let (_, theirs, _) = call(
        &app,
        get(
            &format!("/v1/offer-balances?patient_id={}", first.episode.patient.id),
            &carebill_platform::testing::token(&["biller"], Some(&["H9"])),
        ),
    )
    .await;
    assert_eq!(theirs, json!([]));
}

/// Coordination of benefits (issue 22). SANITAS first: 10.00 copay per episode, 50.00 yearly
/// deductible, then 90 %. MUTUA second, under each method in turn; a 187.50 line each time,
/// for a new patient (so the deductible starts from nothing). Amounts computed by hand.
async fn a_second_payer_pays_by_its_coordination_method(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let made = create_all(
        &app,
        &[
            ("/v1/prices", json!({"code": "CONS", "unit_price": {"amount": "187.50", "currency": "EUR"}, "valid_from": "2026-01-01"})),
            ("/v1/coverage-terms", json!({"payer_code": "SANITAS", "covered_percent": "90", "currency": "EUR",
                "copay_per_episode": {"amount": "10.00", "currency": "EUR"},
                "deductible_per_year": {"amount": "50.00", "currency": "EUR"}})),
            ("/v1/coverage-terms", json!({"payer_code": "MUTUA", "covered_percent": "100", "currency": "EUR",
                "coordination": "supplemental", "supplemental_parts": ["coinsurance"]})),
        ],
    )
    .await;
    assert_eq!(made[1]["coordination"], json!("sequential"), "the default");
    assert_eq!(made[2]["coordination"], json!("supplemental"));
    assert_eq!(made[2]["supplemental_parts"], json!(["coinsurance"]));
    let mutua = format!("/v1/coverage-terms/{}", made[2]["id"].as_str().expect("id"));
    let settle = |number: &'static str| {
        let (h, app, t) = (&h, &app, t.clone());
        async move {
            let mut w = world();
            w.episode.number = number.to_owned();
            deliver(
                h,
                "accounts",
                &consumption(&w, "CONS", 1, "2026-11-02T09:00:00Z"),
            )
            .await;
            let (_, page, _) = call(
                app,
                get(&format!("/v1/settlements?episode_id={}", w.episode.id), &t),
            )
            .await;
            let id = page["items"][0]["id"].as_str().expect("id").to_owned();
            let (_, doc, _) = call(app, get(&format!("/v1/settlements/{id}"), &t)).await;
            (id, doc)
        }
    };
    let split = |doc: &Value| {
        let line = &doc["lines"][0];
        (
            share(line, Some("SANITAS")),
            share(line, Some("MUTUA")),
            share(line, None),
        )
    };
    let s = |a: &str, b: &str, c: &str| (a.to_owned(), b.to_owned(), c.to_owned());
    // The example: MUTUA pays only the coinsurance SANITAS leaves.
    let (first, doc) = settle("ENC-1").await;
    assert_eq!(split(&doc), s("114.75", "12.75", "60.00"), "{doc}");
    // Each share explains itself: parts that add up to it, the method on the second payer's.
    let shares = &doc["lines"][0]["shares"];
    let parts = |i: usize| -> Vec<(String, String)> {
        shares[i]["parts"]
            .as_array()
            .expect("parts")
            .iter()
            .map(|p| {
                (
                    p["kind"].as_str().unwrap_or("").to_owned(),
                    p["amount"]["amount"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let p = |k: &str, a: &str| (k.to_owned(), a.to_owned());
    assert_eq!(parts(0), [p("covered", "114.75")], "{shares}");
    assert_eq!(shares[0].get("method"), None, "{shares}");
    assert_eq!(parts(1), [p("coinsurance", "12.75")], "{shares}");
    assert_eq!(shares[1]["method"], json!("supplemental"), "{shares}");
    assert_eq!(
        parts(2),
        [p("copay", "10.00"), p("deductible", "50.00")],
        "{shares}"
    );
    // Each other method, one line each.
    for (terms, expected) in [
        (
            json!({"covered_percent": "100"}),
            s("114.75", "72.75", "0.00"),
        ),
        (
            json!({"covered_percent": "40", "coordination": "standard",
                "copay_per_line": {"amount": "20.00", "currency": "EUR"}}),
            s("114.75", "67.00", "5.75"),
        ),
        (
            json!({"covered_percent": "80", "coordination": "non_duplication"}),
            s("114.75", "35.25", "37.50"),
        ),
        (
            json!({"covered_percent": "100", "coordination": "supplemental",
                "supplemental_parts": ["copay", "deductible"]}),
            s("114.75", "60.00", "12.75"),
        ),
    ] {
        let mut body = terms.clone();
        body["payer_code"] = json!("MUTUA");
        body["currency"] = json!("EUR");
        let (st, replaced, _) = call(&app, put(&mutua, &t, &body)).await;
        assert_eq!(st, StatusCode::OK, "{replaced}");
        let number: &'static str = match terms["coordination"].as_str() {
            None => "ENC-SEQ",
            Some("standard") => "ENC-STD",
            Some("non_duplication") => "ENC-NOD",
            _ => "ENC-SUP",
        };
        let (_, doc) = settle(number).await;
        assert_eq!(split(&doc), expected, "{terms}: {doc}");
    }
    // The change of method is in the audit trail like any change of terms.
    let (_, trail, _) = call(
        &app,
        get(
            &format!(
                "/v1/settlement/audit-events?entity_type=coverage_terms&limit=100&entity_id={}",
                made[2]["id"].as_str().expect("id")
            ),
            &t,
        ),
    )
    .await;
    assert!(trail.to_string().contains("non_duplication"), "{trail}");
    // The first settlement is still open: recomputed on request, MUTUA now pays the copay and
    // deductible, and the diff shows the shift.
    let url = format!("/v1/settlements/{first}");
    let (_, before, _) = call(&app, get(&url, &t)).await;
    let (st, body, _) = call(
        &app,
        post(
            &format!("{url}/recompute"),
            &t,
            &json!({"reason": "MUTUA is supplemental of copay and deductible"}),
        )
        .insert_header((
            "if-match",
            before["etag"].as_str().expect("etag").to_owned(),
        )),
    )
    .await;
    assert!(st.is_success(), "{body}");
    let (_, after, _) = call(&app, get(&url, &t)).await;
    assert_eq!(split(&after), s("114.75", "60.00", "12.75"), "{after}");
    let (st, diff, _) = call(
        &app,
        get(
            &format!(
                "{url}/diff?from={}&to={}",
                before["version"], after["version"]
            ),
            &t,
        ),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{diff}");
    let changed = &diff["changed"][0];
    assert_eq!(share(&changed["before"], Some("MUTUA")), "12.75", "{diff}");
    assert_eq!(share(&changed["after"], Some("MUTUA")), "60.00", "{diff}");
}

/// An unknown method, `supplemental` naming no part, and a payer's default terms whose method
/// contradicts its plan terms: 422 naming the field, nothing stored.
async fn a_bad_coordination_method_is_refused_naming_the_field(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    create_all(
        &app,
        &[(
            "/v1/coverage-terms",
            json!({"payer_code": "OTHER", "plan_code": "GOLD", "covered_percent": "50",
            "currency": "EUR", "coordination": "standard"}),
        )],
    )
    .await;
    for (bad, field) in [
        (
            json!({"payer_code": "X", "covered_percent": "50", "coordination": "first_come"}),
            "coordination",
        ),
        (
            json!({"payer_code": "X", "covered_percent": "50", "coordination": "supplemental"}),
            "supplemental_parts",
        ),
        (
            json!({"payer_code": "X", "covered_percent": "50", "coordination": "supplemental",
                "supplemental_parts": ["excluded"]}),
            "supplemental_parts.0",
        ),
        (
            json!({"payer_code": "X", "covered_percent": "50", "supplemental_parts": ["copay"]}),
            "supplemental_parts",
        ),
        (
            json!({"payer_code": "OTHER", "covered_percent": "50", "coordination": "supplemental",
                "supplemental_parts": ["copay"]}),
            "coordination",
        ),
    ] {
        let (st, problem, _) = call(&app, post("/v1/coverage-terms", &t, &bad)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert_eq!(problem["errors"][0]["field"], json!(field), "{problem}");
    }
    let (_, page, _) = call(&app, get("/v1/coverage-terms", &t)).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
    // The same method as its plans is fine.
    create_all(
        &app,
        &[(
            "/v1/coverage-terms",
            json!({"payer_code": "OTHER", "covered_percent": "50", "currency": "EUR",
            "coordination": "standard"}),
        )],
    )
    .await;
}
