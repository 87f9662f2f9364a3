//! Who sees what: a payer only its own receivables, payments and balance; a location-limited
//! reader only its locations; roles are checked.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::PatientId;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{admin, call, get, post, token};

both_backends!(
    readers_see_only_their_payer_and_locations_and_roles_are_checked,
    a_payer_limited_reader_sees_no_audit_entries,
    allocating_looks_the_payment_up_and_answers_in_the_callers_scope,
);

async fn readers_see_only_their_payer_and_locations_and_roles_are_checked(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let sanitas = payer("SANITAS");
    let inv = invoice(
        &sanitas,
        &location("H1", "Europe/Madrid"),
        "H1-20",
        eur("40.00"),
        today(),
    );
    let patient = PartyRef::patient(PatientId::new());
    let pinv = invoice(
        &patient,
        &location("H1", "Europe/Madrid"),
        "H1-21",
        eur("9.00"),
        today(),
    );
    feed(&h, &envelope(&inv)).await;
    feed(&h, &envelope(&pinv)).await;
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &admin(),
            &payment(&sanitas, eur("40.00"), &[(&inv, eur("40.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let p_path = format!("/v1/payments/{}", p["id"].as_str().expect("id"));
    let (_, page, _) = call(&app, get("/v1/receivables?party_kind=payer", &admin())).await;
    let r_path = format!(
        "/v1/receivables/{}",
        page["items"][0]["id"].as_str().expect("id")
    );

    // Its own payer sees its documents, and only those.
    let own = payer_token("SANITAS");
    for path in [&r_path, &p_path, &balance_path(&sanitas)] {
        let (s, body, _) = call(&app, get(path, &own)).await;
        assert_eq!(s, StatusCode::OK, "{path}: {body}");
    }
    let (_, list, _) = call(&app, get("/v1/receivables", &own)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (_, list, _) = call(&app, get("/v1/payments", &own)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    let (s, _, _) = call(&app, get(&balance_path(&patient), &own)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Another payer sees nothing of it.
    let stranger = payer_token("DKV");
    for path in [&r_path, &p_path, &balance_path(&sanitas)] {
        let (s, body, _) = call(&app, get(path, &stranger)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (_, list, _) = call(&app, get("/v1/receivables", &stranger)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let (_, list, _) = call(&app, get("/v1/payments", &stranger)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));

    // Location scope.
    let h2_collector = token(&["collector"], Some(&["H2"]));
    let (s, _, _) = call(&app, get(&r_path, &h2_collector)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, list, _) = call(&app, get("/v1/receivables", &h2_collector)).await;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(0));
    let (s, pay, _) = call(&app, get(&p_path, &h2_collector)).await;
    assert_eq!(
        (s, pay["allocations"].as_array().map(Vec::len)),
        (StatusCode::OK, Some(0))
    );
    // An invoice outside its locations is unknown to a scoped collector.
    let (s, err, _) = call(
        &app,
        post(
            "/v1/payments",
            &h2_collector,
            &payment(&patient, eur("9.00"), &[(&pinv, eur("9.00"))]),
        ),
    )
    .await;
    assert_eq!(
        (s, err["errors"][0]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("unknown_invoice"))
    );
    let h1_collector = token(&["collector"], Some(&["H1"]));
    let (s, _, _) = call(&app, get(&r_path, &h1_collector)).await;
    assert_eq!(s, StatusCode::OK);

    // Roles.
    for role in ["biller", "auditor", "payer", "integration"] {
        let (s, _, _) = call(
            &app,
            post(
                "/v1/payments",
                &token(&[role], None),
                &payment(&patient, eur("1.00"), &[]),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{role} may not record payments");
    }
    let (s, _, _) = call(
        &app,
        post(
            &format!("{p_path}/allocations"),
            &token(&["biller"], None),
            &allocations(&[(&pinv, eur("1.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    for path in [
        "/v1/receivables",
        "/v1/payments",
        r_path.as_str(),
        "/v1/collections/audit-events",
    ] {
        let (s, _, _) = call(&app, get(path, &token(&["integration"], None))).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{path}");
    }
    for role in ["biller", "auditor", "billing_manager", "collector"] {
        let (s, _, _) = call(&app, get(&r_path, &token(&[role], None))).await;
        assert_eq!(s, StatusCode::OK, "{role} reads receivables");
    }
    let (s, _, _) = call(&app, get("/v1/collections/audit-events", &own)).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _, _) = call(&app, get("/v1/receivables", "not-a-token")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

async fn a_payer_limited_reader_sees_no_audit_entries(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let sanitas = payer("SANITAS");
    let inv = invoice(
        &sanitas,
        &location("H1", "Europe/Madrid"),
        "H1-30",
        eur("40.00"),
        today(),
    );
    feed(&h, &envelope(&inv)).await;
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &admin(),
            &payment(&sanitas, eur("40.00"), &[(&inv, eur("40.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    // Entries exist: an auditor reads them.
    let (s, trail, _) = call(
        &app,
        get("/v1/collections/audit-events", &token(&["auditor"], None)),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{trail}");
    assert!(
        trail["items"].as_array().is_some_and(|i| !i.is_empty()),
        "{trail}"
    );
    // A staff token with a payer claim (even its own payer's) reads none of them.
    for tok in [
        staff_payer_token(&["auditor"], None, "SANITAS"),
        staff_payer_token(&["collector"], Some(&["H1"]), "SANITAS"),
    ] {
        let (s, trail, _) = call(&app, get("/v1/collections/audit-events", &tok)).await;
        assert_eq!(
            (s, trail["items"].as_array().map(Vec::len)),
            (StatusCode::OK, Some(0)),
            "{trail}"
        );
    }
}

async fn allocating_looks_the_payment_up_and_answers_in_the_callers_scope(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let sanitas = payer("SANITAS");
    let at_h1 = invoice(
        &sanitas,
        &location("H1", "Europe/Madrid"),
        "H1-40",
        eur("20.00"),
        today(),
    );
    let at_h2 = invoice(
        &sanitas,
        &location("H2", "Europe/Madrid"),
        "H2-40",
        eur("10.00"),
        today(),
    );
    feed(&h, &envelope(&at_h1)).await;
    feed(&h, &envelope(&at_h2)).await;
    let (s, p, _) = call(
        &app,
        post(
            "/v1/payments",
            &admin(),
            &payment(&sanitas, eur("50.00"), &[(&at_h1, eur("20.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let p_path = format!("/v1/payments/{}", p["id"].as_str().expect("id"));
    let alloc_path = format!("{p_path}/allocations");

    // A collector limited to another payer does not find the payment: 404, nothing allocated.
    let dkv = staff_payer_token(&["collector"], None, "DKV");
    let (s, err, _) = call(
        &app,
        post(&alloc_path, &dkv, &allocations(&[(&at_h2, eur("10.00"))])),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{err}");
    let (_, after, _) = call(&app, get(&p_path, &admin())).await;
    assert_eq!(amount(&after["unallocated"]), "30.00", "{after}");

    // An H2 collector allocates to H2 and sees only that allocation, as reading it shows.
    let h2 = token(&["collector"], Some(&["H2"]));
    let (s, answer, _) = call(
        &app,
        post(&alloc_path, &h2, &allocations(&[(&at_h2, eur("10.00"))])),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{answer}");
    let numbers = |v: &serde_json::Value| -> Vec<String> {
        v["allocations"]
            .as_array()
            .expect("allocations")
            .iter()
            .map(|a| a["invoice_number"].as_str().expect("number").to_owned())
            .collect()
    };
    assert_eq!(numbers(&answer), vec!["H2-40".to_owned()], "{answer}");
    let (_, read, _) = call(&app, get(&p_path, &h2)).await;
    assert_eq!(numbers(&read), numbers(&answer));
    let (_, all, _) = call(&app, get(&p_path, &admin())).await;
    assert_eq!(numbers(&all).len(), 2, "{all}");
}
