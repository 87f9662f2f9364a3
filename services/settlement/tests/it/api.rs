//! Settlement configuration over HTTP against real databases: every scenario runs on SQLite and
//! on a throwaway PostgreSQL database.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};
use serde_json::{Value, json};

use crate::common::{app, harness};

use carebill_platform::both_backends;

both_backends!(
    the_most_specific_price_in_force_applies_and_prices_never_overlap,
    bad_prices_and_terms_are_refused_and_change_nothing,
    coverage_terms_are_one_per_payer_and_plan_and_audited,
);

fn price(
    code: &str,
    cents: &str,
    from: &str,
    location: Option<&str>,
    payer: Option<&str>,
) -> Value {
    json!({"code": code, "unit_price": {"amount": cents, "currency": "EUR"}, "valid_from": from, "location_code": location, "payer_code": payer})
}

async fn the_most_specific_price_in_force_applies_and_prices_never_overlap(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    for p in [
        price("LAB-HB", "10.00", "2026-01-01", None, None),
        price("LAB-HB", "9.00", "2026-01-01", Some("H1"), None),
        price("LAB-HB", "8.00", "2026-01-01", None, Some("SANITAS")),
        price("LAB-HB", "7.00", "2026-01-01", Some("H1"), Some("SANITAS")),
    ] {
        let (s, body, _) = call(&app, post("/v1/prices", &t, &p)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    let resolve = |q: &str| {
        get(
            &format!("/v1/prices/resolve?code=LAB-HB&on=2026-03-01&{q}"),
            &t,
        )
    };
    let amount = |v: &Value| v["unit_price"]["amount"].as_str().unwrap_or("").to_owned();
    assert_eq!(
        amount(&call(&app, resolve("location_code=H2")).await.1),
        "10.00"
    );
    assert_eq!(
        amount(&call(&app, resolve("location_code=H1")).await.1),
        "9.00"
    );
    assert_eq!(
        amount(
            &call(&app, resolve("location_code=H2&payer_code=SANITAS"))
                .await
                .1
        ),
        "8.00"
    );
    assert_eq!(
        amount(
            &call(&app, resolve("location_code=H1&payer_code=SANITAS"))
                .await
                .1
        ),
        "7.00"
    );
    assert_eq!(
        call(
            &app,
            get(
                "/v1/prices/resolve?code=LAB-HB&on=2025-12-31&location_code=H1",
                &t
            )
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    // A second general price for the same period overlaps.
    let (s, p, _) = call(
        &app,
        post(
            "/v1/prices",
            &t,
            &price("LAB-HB", "12.00", "2026-06-01", None, None),
        ),
    )
    .await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("price_overlap"))
    );
    // End the old one, then the new tariff applies from the next day.
    let (_, list, _) = call(
        &app,
        get("/v1/prices?code=LAB-HB&in_force_on=2026-03-01", &t),
    )
    .await;
    let general = list["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|p| p["location_code"].is_null() && p["payer_code"].is_null())
        .cloned()
        .expect("general");
    let (s, ended, _) = call(
        &app,
        post(
            &format!("/v1/prices/{}/end", general["id"].as_str().expect("id")),
            &t,
            &json!({"valid_to": "2026-05-31", "reason": "new tariff"}),
        ),
    )
    .await;
    assert_eq!(
        (s, ended["valid_to"].as_str()),
        (StatusCode::OK, Some("2026-05-31"))
    );
    let (s, _, _) = call(
        &app,
        post(
            "/v1/prices",
            &t,
            &price("LAB-HB", "12.00", "2026-06-01", None, None),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        amount(
            &call(
                &app,
                get(
                    "/v1/prices/resolve?code=LAB-HB&on=2026-05-31&location_code=H2",
                    &t
                )
            )
            .await
            .1
        ),
        "10.00"
    );
    assert_eq!(
        amount(
            &call(
                &app,
                get(
                    "/v1/prices/resolve?code=LAB-HB&on=2026-06-01&location_code=H2",
                    &t
                )
            )
            .await
            .1
        ),
        "12.00"
    );
    // Roles and scope.
    assert_eq!(
        call(
            &app,
            post(
                "/v1/prices",
                &token(&["biller"], None),
                &price("X", "1.00", "2026-01-01", None, None)
            )
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    let h1_manager = token(&["billing_manager"], Some(&["H1"]));
    assert_eq!(
        call(
            &app,
            post(
                "/v1/prices",
                &h1_manager,
                &price("X", "1.00", "2026-01-01", None, None)
            )
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        call(
            &app,
            post(
                "/v1/prices",
                &h1_manager,
                &price("X", "1.00", "2026-01-01", Some("H1"), None)
            )
        )
        .await
        .0,
        StatusCode::CREATED
    );
}

async fn bad_prices_and_terms_are_refused_and_change_nothing(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let (s, p, _) = call(
        &app,
        post(
            "/v1/prices",
            &t,
            &price(
                "LAB-HB",
                "79228162514264337593543950335",
                "2026-01-01",
                None,
                None,
            ),
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "an amount beyond storage is refused: {p}"
    );
    assert_eq!(
        call(
            &app,
            get(
                "/v1/prices/resolve?code=LAB%20HB&on=2026-01-01&location_code=H1",
                &t
            )
        )
        .await
        .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let scoped = token(&["billing_manager"], Some(&["H1"]));
    let (s, _, _) = call(
        &app,
        post(
            "/v1/coverage-terms",
            &scoped,
            &json!({"payer_code": "SANITAS", "covered_percent": "80"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN, "terms are organisation-wide");
    let cases = [
        (
            price("LAB-HB", "-1.00", "2026-01-01", None, None),
            "unit_price.amount",
        ),
        (
            price("LAB-HB", "1.001", "2026-01-01", None, None),
            "unit_price",
        ),
        (
            json!({"code": "LAB-HB", "unit_price": {"amount": "1.00", "currency": "EURO"}, "valid_from": "2026-01-01"}),
            "unit_price",
        ),
        (
            json!({"code": "LAB-HB", "unit_price": {"amount": "1.00", "currency": "EUR"}, "valid_from": "2026-02-01", "valid_to": "2026-01-01"}),
            "valid_to",
        ),
        (
            json!({"code": "LAB HB", "unit_price": {"amount": "1.00", "currency": "EUR"}, "valid_from": "2026-01-01"}),
            "code",
        ),
        (
            json!({"code": "LAB-HB", "unit_price": {"amount": "1.00", "currency": "EUR"}, "valid_from": "1850-01-01"}),
            "valid_from",
        ),
    ];
    for (body, field) in cases {
        let (s, p, ct) = call(&app, post("/v1/prices", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {p}");
        assert_eq!(ct.as_deref(), Some("application/problem+json"));
        assert!(
            p["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["field"] == field)),
            "{field} not named in {p}"
        );
    }
    let terms = [
        (
            json!({"payer_code": "SANITAS", "covered_percent": "120"}),
            "covered_percent",
        ),
        (
            json!({"payer_code": "SANITAS", "covered_percent": "80", "copay_per_line": {"amount": "5.00", "currency": "USD"}}),
            "copay_per_line.currency",
        ),
        (
            json!({"payer_code": "SANITAS", "covered_percent": "80", "copay_per_episode": {"amount": "-5.00", "currency": "EUR"}}),
            "copay_per_episode.amount",
        ),
        (
            json!({"payer_code": "SANITAS", "covered_percent": "80", "excluded_service_groups": ["ok", "not ok"]}),
            "excluded_service_groups.1",
        ),
    ];
    for (body, field) in terms {
        let (s, p, _) = call(&app, post("/v1/coverage-terms", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} -> {p}");
        assert!(
            p["errors"]
                .as_array()
                .is_some_and(|e| e.iter().any(|e| e["field"] == field)),
            "{field} not named in {p}"
        );
    }
    assert_eq!(
        call(&app, get("/v1/prices?in_force_on=1200-01-01", &t))
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        call(&app, get("/v1/prices/resolve?code=X", &t)).await.0,
        StatusCode::BAD_REQUEST
    );
    let (_, prices, _) = call(&app, get("/v1/prices", &t)).await;
    let (_, terms, _) = call(&app, get("/v1/coverage-terms", &t)).await;
    assert_eq!(
        (
            prices["items"].as_array().map(Vec::len),
            terms["items"].as_array().map(Vec::len)
        ),
        (Some(0), Some(0))
    );
}

async fn coverage_terms_are_one_per_payer_and_plan_and_audited(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = admin();
    let body = json!({"payer_code": "SANITAS", "plan_code": "GOLD", "covered_percent": "80", "copay_per_line": {"amount": "5.00", "currency": "EUR"}, "excluded_service_groups": ["DENTAL", "DENTAL"]});
    let (s, terms, _) = call(&app, post("/v1/coverage-terms", &t, &body)).await;
    assert_eq!(s, StatusCode::CREATED, "{terms}");
    assert_eq!(terms["excluded_service_groups"], json!(["DENTAL"]));
    assert_eq!(terms["copay_per_line"]["amount"], "5.00");
    let (s, p, _) = call(&app, post("/v1/coverage-terms", &t, &body)).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists"))
    );
    let (s, _, _) = call(
        &app,
        post(
            "/v1/coverage-terms",
            &t,
            &json!({"payer_code": "SANITAS", "covered_percent": "70"}),
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the payer's default terms are another set"
    );
    let id = terms["id"].as_str().expect("id");
    let changed = json!({"payer_code": "SANITAS", "plan_code": "GOLD", "covered_percent": "90"});
    let req = test::TestRequest::put()
        .uri(&format!("/v1/coverage-terms/{id}"))
        .insert_header(("authorization", format!("Bearer {t}")))
        .set_json(&changed);
    let (s, after, _) = call(&app, req).await;
    assert_eq!(
        (
            s,
            after["covered_percent"].as_str(),
            after["copay_per_line"].is_null()
        ),
        (StatusCode::OK, Some("90"), true)
    );
    let moved = json!({"payer_code": "MUTUA", "plan_code": "GOLD", "covered_percent": "90"});
    let req = test::TestRequest::put()
        .uri(&format!("/v1/coverage-terms/{id}"))
        .insert_header(("authorization", format!("Bearer {t}")))
        .set_json(&moved);
    assert_eq!(call(&app, req).await.0, StatusCode::UNPROCESSABLE_ENTITY);
    let (_, list, _) = call(&app, get("/v1/coverage-terms?payer_code=SANITAS", &t)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(2));
    let (_, audit, _) = call(
        &app,
        get(&format!("/v1/settlement/audit-events?entity_id={id}"), &t),
    )
    .await;
    let actions: Vec<&str> = audit["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, vec!["create", "update"]);
    let (_, scoped, _) = call(
        &app,
        get(
            "/v1/settlement/audit-events",
            &token(&["auditor"], Some(&["H1"])),
        ),
    )
    .await;
    assert_eq!(
        scoped["items"].as_array().map(Vec::len),
        Some(0),
        "organisation-wide entries are for unscoped readers"
    );
}
