//! Reports on what was invoiced: revenue per service group, code, location or payer (billed,
//! credited, net), utilization on the invoices that stand (quantities added exactly), credit
//! notes per reason; JSON and CSV, paged by cursor; bad input refused.

use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use carebill_domain::events::PartyRef;
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, token};
use rust_decimal::Decimal;
use serde_json::{Value, json};

use crate::common::*;

both_backends!(reports_add_up_what_was_billed_credited_and_used);

fn rows(v: &Value, fields: &[&str]) -> Vec<Vec<Value>> {
    items(v)
        .iter()
        .map(|i| {
            fields
                .iter()
                .map(|f| match &i[*f] {
                    Value::Object(m) if m.contains_key("amount") => m["amount"].clone(),
                    other => other.clone(),
                })
                .collect()
        })
        .collect()
}

async fn reports_add_up_what_was_billed_credited_and_used(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = token(&["billing_manager"], None);
    let w = world("H1");
    let pat = PartyRef::patient(w.patient.id);
    let mut rx = line(ConsumptionId::new(), "RX-01", 3_333, &[(&w.sanitas, 3_333)]);
    rx.service_group = "PHARMACY".to_owned();
    rx.quantity = Decimal::new(15, 1);
    let lines = vec![
        line(
            ConsumptionId::new(),
            "LAB-HB",
            10_000,
            &[(&w.sanitas, 8_000), (&pat, 2_000)],
        ),
        rx,
    ];
    deliver(
        &h.db,
        envelope(&approval(&w, SettlementId::new(), 1, lines)),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(&app, get("/v1/invoices", &t)).await;
    let sanitas = items(&list)
        .into_iter()
        .find(|i| i["recipient"]["payer_code"] == "SANITAS")
        .expect("SANITAS's invoice");
    let (s, cn) = credit(
        &app,
        &t,
        sanitas["id"].as_str().expect("id"),
        json!({"reason": "policy had ended", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{cn}");

    let fields = [
        "key",
        "currency",
        "lines",
        "billed",
        "credited_lines",
        "credited",
        "net",
    ];
    let (s, r, _) = call(&app, get("/v1/reports/revenue", &t)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["group_by"], "service_group");
    assert_eq!(
        rows(&r, &fields),
        vec![
            vec![
                json!("LAB"),
                json!("EUR"),
                json!(2),
                json!("100.00"),
                json!(1),
                json!("80.00"),
                json!("20.00")
            ],
            vec![
                json!("PHARMACY"),
                json!("EUR"),
                json!(1),
                json!("33.33"),
                json!(1),
                json!("33.33"),
                json!("0.00")
            ],
        ]
    );
    let (_, r, _) = call(&app, get("/v1/reports/revenue?group_by=payer", &t)).await;
    assert_eq!(
        rows(&r, &["key", "billed", "credited", "net"]),
        vec![
            vec![Value::Null, json!("20.00"), json!("0.00"), json!("20.00")],
            vec![
                json!("SANITAS"),
                json!("113.33"),
                json!("113.33"),
                json!("0.00")
            ],
        ]
    );
    // Utilization counts what stands: the cancelled invoice's lines are left out.
    let (_, u, _) = call(&app, get("/v1/reports/utilization?group_by=code", &t)).await;
    assert_eq!(
        rows(&u, &["key", "unit", "lines", "quantity"]),
        vec![vec![json!("LAB-HB"), json!("unit"), json!(1), json!("2")]]
    );
    // By practitioner and by the kind of service, as the approval said them.
    let (_, u, _) = call(
        &app,
        get("/v1/reports/utilization?group_by=practitioner", &t),
    )
    .await;
    assert_eq!(
        rows(&u, &["key", "unit", "lines", "quantity"]),
        vec![vec![json!("DR-ROSSI"), json!("unit"), json!(1), json!("2")]]
    );
    let (_, r, _) = call(&app, get("/v1/reports/revenue?group_by=service_type", &t)).await;
    assert_eq!(r["group_by"], "service_type");
    assert_eq!(
        rows(&r, &["key", "lines", "billed", "credited", "net"]),
        vec![vec![
            json!("lab"),
            json!(3),
            json!("133.33"),
            json!("113.33"),
            json!("20.00")
        ]]
    );
    let (_, c, _) = call(&app, get("/v1/reports/credit-notes", &t)).await;
    assert_eq!(
        rows(&c, &["reason", "currency", "credit_notes", "total"]),
        vec![vec![
            json!("policy had ended"),
            json!("EUR"),
            json!(1),
            json!("113.33")
        ]]
    );

    // A page at a time.
    let (_, first, _) = call(&app, get("/v1/reports/revenue?group_by=code&limit=1", &t)).await;
    assert_eq!(rows(&first, &["key"]), vec![vec![json!("LAB-HB")]]);
    let cursor = first["next_cursor"]
        .as_str()
        .expect("a next page")
        .to_owned();
    let (_, second, _) = call(
        &app,
        get(
            &format!("/v1/reports/revenue?group_by=code&limit=1&cursor={cursor}"),
            &t,
        ),
    )
    .await;
    assert_eq!(
        rows(&second, &["key", "billed"]),
        vec![vec![json!("RX-01"), json!("33.33")]]
    );
    assert_eq!(second["next_cursor"], Value::Null);

    // CSV, with the next page in Link.
    let csv = |uri: &str| {
        TestRequest::get()
            .uri(uri)
            .insert_header(("Authorization", format!("Bearer {t}")))
            .insert_header(("Accept", "text/csv"))
            .to_request()
    };
    let res =
        actix_web::test::call_service(&app, csv("/v1/reports/revenue?group_by=code&limit=1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    let link = res
        .headers()
        .get("link")
        .and_then(|v| v.to_str().ok())
        .expect("a Link to the next page")
        .to_owned();
    assert!(
        link.starts_with("</v1/reports/revenue?group_by=code&limit=1&cursor="),
        "{link}"
    );
    assert!(link.ends_with(">; rel=\"next\""), "{link}");
    let body = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).expect("utf-8");
    assert_eq!(
        body,
        "code,currency,lines,billed,credited_lines,credited,net\nLAB-HB,EUR,2,100.00,1,80.00,20.00\n"
    );
    let res = actix_web::test::call_service(&app, csv("/v1/reports/utilization")).await;
    let body = String::from_utf8(actix_web::test::read_body(res).await.to_vec()).expect("utf-8");
    assert_eq!(body, "service_group,unit,lines,quantity\nLAB,unit,1,2\n");

    // Bad input.
    for (q, field, code) in [
        (
            "/v1/reports/revenue?group_by=colour",
            "group_by",
            "unknown_grouping",
        ),
        (
            "/v1/reports/revenue?from=2026-05-02&to=2026-05-01",
            "to",
            "before_from",
        ),
        (
            "/v1/reports/revenue?from=2020-01-01&to=2026-01-01",
            "to",
            "period_too_long",
        ),
        (
            "/v1/reports/utilization?location=NOPE",
            "location",
            "unknown_location",
        ),
        (
            "/v1/reports/credit-notes?payer=NOPE",
            "payer",
            "unknown_payer",
        ),
        ("/v1/reports/revenue?cursor=nonsense", "cursor", "invalid"),
        ("/v1/reports/revenue?limit=0", "limit", "out_of_range"),
    ] {
        let (s, body, _) = call(&app, get(q, &t)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{q}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{q}: {body}");
    }
    let h2 = token(&["biller"], Some(&["H2"]));
    let (s, body, _) = call(&app, get("/v1/reports/revenue?location=H1", &h2)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (s, r, _) = call(&app, get("/v1/reports/revenue", &h2)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert!(items(&r).is_empty(), "another location's invoices: {r}");
    let (s, body, _) = call(&app, get("/v1/reports/revenue", &payer_token("SANITAS"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    let xml = TestRequest::get()
        .uri("/v1/reports/revenue")
        .insert_header(("Authorization", format!("Bearer {t}")))
        .insert_header(("Accept", "application/xml"))
        .to_request();
    let res = actix_web::test::call_service(&app, xml).await;
    assert_eq!(res.status(), StatusCode::NOT_ACCEPTABLE);
}
