//! The billing dashboard: settlements waiting per stage and per biller as the settlement
//! service announces them (newest sequence wins), money month by month against a year before,
//! totals that reconcile with the aging report, scope, CSV, SVG charts and bad input.

use crate::common::*;
use actix_web::http::StatusCode;
use actix_web::test::TestRequest;
use carebill_domain::events::{SettlementChangedV1, SettlementProgress};
use carebill_domain::ids::{LocationId, SettlementId};
use carebill_domain::settlement::SettlementStatus;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, post, token};
use chrono::{Datelike as _, Duration, Months, NaiveDate, Utc};
use serde_json::{Value, json};

both_backends!(the_dashboard_counts_what_waits_and_what_was_billed_collected_and_owed);
both_backends!(the_dashboard_refuses_what_it_cannot_answer);

fn first_of(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("first day")
}

fn progress(
    id: SettlementId,
    number: &str,
    location: &str,
    status: SettlementStatus,
    total: Option<&str>,
    assigned_to: Option<&str>,
    sequence: i64,
) -> SettlementProgress {
    SettlementProgress {
        settlement_id: id,
        number: number.to_owned(),
        location_id: LocationId::new(),
        location_code: location.to_owned(),
        payer_code: Some("SANITAS".to_owned()),
        status,
        total: total.map(eur),
        assigned_to: assigned_to.map(str::to_owned),
        status_since: Utc::now() - Duration::days(sequence),
        sequence,
    }
}

fn month<'a>(d: &'a Value, m: NaiveDate, currency: &str) -> &'a Value {
    let key = m.format("%Y-%m").to_string();
    d["progress"]
        .as_array()
        .expect("progress")
        .iter()
        .find(|p| p["month"] == key.as_str() && p["currency"] == currency)
        .unwrap_or(&Value::Null)
}

fn total<'a>(totals: &'a Value, currency: &str) -> &'a Value {
    totals
        .as_array()
        .expect("totals")
        .iter()
        .find(|t| t["currency"] == currency)
        .unwrap_or(&Value::Null)
}

fn figures(v: &Value, keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| amount(&v[*k]).to_owned()).collect()
}

async fn the_dashboard_counts_what_waits_and_what_was_billed_collected_and_owed(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let collector = token(&["collector"], None);
    let manager = token(&["billing_manager"], None);
    let (sanitas, mapfre, ana) = (payer("SANITAS"), payer("MAPFRE"), patient());
    let (h1, h2) = (
        location("H1", "Europe/Madrid"),
        location("H2", "Atlantic/Canary"),
    );
    let today = today();
    let this_month = first_of(today);
    let last_month = this_month - Months::new(1);
    // Billed this month, last month, and a year before this month.
    let mut a = invoice(
        &sanitas,
        &h1,
        "A-1",
        eur("100.00"),
        today + Duration::days(30),
    );
    a.issue_date = today;
    let mut bb = invoice(
        &sanitas,
        &h1,
        "A-2",
        eur("50.00"),
        last_month + Duration::days(10),
    );
    bb.issue_date = last_month;
    let mut c = invoice(&ana, &h2, "C-1", eur("30.00"), today - Duration::days(1));
    c.issue_date = today;
    let mut d = invoice(
        &mapfre,
        &h2,
        "M-1",
        money_in("20.00", "USD"),
        today + Duration::days(30),
    );
    d.issue_date = today;
    let mut e = invoice(&sanitas, &h1, "A-0", eur("40.00"), today);
    e.issue_date = this_month - Months::new(12);
    for i in [&a, &bb, &c, &d, &e] {
        feed(&h, &envelope(i)).await;
    }
    // A year-old invoice cancelled now, 30.00 paid on written off.
    feed(&h, &envelope(&credit_note(&e))).await;
    let (s, body, _) = call(
        &app,
        post(
            "/v1/payments",
            &collector,
            &payment(&sanitas, eur("30.00"), &[(&a, eur("30.00"))]),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (_, page, _) = call(
        &app,
        get(
            &format!("/v1/receivables?invoice_id={}", bb.invoice_id),
            &collector,
        ),
    )
    .await;
    let written = page["items"][0]["id"].as_str().expect("id").to_owned();
    let (s, body, _) = call(
        &app,
        post(
            &format!("/v1/receivables/{written}/write-offs"),
            &manager,
            &json!({"kind": "bad_debt", "reason": "insolvent"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");

    // Settlements as announced, one out of order, one invoiced since.
    let ids: Vec<SettlementId> = (0..5).map(|_| SettlementId::new()).collect();
    let announce = |items: Vec<SettlementProgress>| SettlementChangedV1 { settlements: items };
    feed(
        &h,
        &envelope(&announce(vec![
            progress(
                ids[0],
                "S-1",
                "H1",
                SettlementStatus::Draft,
                Some("10.00"),
                None,
                1,
            ),
            progress(
                ids[1],
                "S-2",
                "H1",
                SettlementStatus::InReview,
                Some("20.00"),
                Some("alice"),
                3,
            ),
            progress(
                ids[2],
                "S-3",
                "H2",
                SettlementStatus::InAudit,
                Some("30.00"),
                Some("bob"),
                2,
            ),
            progress(
                ids[3],
                "S-4",
                "H1",
                SettlementStatus::Approved,
                Some("40.00"),
                Some("alice"),
                5,
            ),
            progress(ids[4], "S-5", "H1", SettlementStatus::Draft, None, None, 7),
        ])),
    )
    .await;
    feed(
        &h,
        &envelope(&announce(vec![
            // Older than what is kept: ignored.
            progress(
                ids[1],
                "S-2",
                "H1",
                SettlementStatus::Draft,
                Some("20.00"),
                None,
                2,
            ),
            progress(
                ids[3],
                "S-4",
                "H1",
                SettlementStatus::Invoiced,
                Some("40.00"),
                Some("alice"),
                6,
            ),
        ])),
    )
    .await;

    let q = format!("/v1/dashboard?from={last_month}&to={today}");
    let (s, dash, _) = call(&app, get(&q, &collector)).await;
    assert_eq!(s, StatusCode::OK, "{dash}");
    assert_eq!(
        dash["locations"],
        Value::Null,
        "an unlimited reader sees every location"
    );
    let stages: Vec<(String, i64, Vec<String>)> = dash["pending"]
        .as_array()
        .expect("pending")
        .iter()
        .map(|p| {
            (
                p["status"].as_str().expect("status").to_owned(),
                p["count"].as_i64().expect("count"),
                p["amounts"]
                    .as_array()
                    .expect("amounts")
                    .iter()
                    .map(|m| amount(m).to_owned())
                    .collect(),
            )
        })
        .collect();
    assert_eq!(
        stages,
        vec![
            ("draft".to_owned(), 2, vec!["10.00".to_owned()]),
            ("in_review".to_owned(), 1, vec!["20.00".to_owned()]),
            ("observed".to_owned(), 0, vec![]),
            ("in_audit".to_owned(), 1, vec!["30.00".to_owned()]),
            ("approved".to_owned(), 0, vec![]),
        ]
    );
    assert_eq!(dash["pending"][0]["oldest"]["number"], "S-5", "{dash}");
    assert!(dash["pending"][0]["oldest"]["days"].as_i64().expect("days") >= 6);
    let held: Vec<(Value, String, String, i64)> = dash["validation"]
        .as_array()
        .expect("validation")
        .iter()
        .map(|v| {
            (
                v["user"].clone(),
                v["role"].as_str().expect("role").to_owned(),
                v["stage"].as_str().expect("stage").to_owned(),
                v["count"].as_i64().expect("count"),
            )
        })
        .collect();
    assert_eq!(
        held,
        vec![
            (Value::Null, "biller".into(), "draft".into(), 2),
            (json!("alice"), "biller".into(), "in_review".into(), 1),
            (Value::Null, "auditor".into(), "in_audit".into(), 1),
        ]
    );

    let keys = [
        "billed",
        "billed_year_before",
        "credited",
        "collected",
        "written_off",
        "outstanding",
    ];
    assert_eq!(
        figures(month(&dash, last_month, "EUR"), &keys),
        ["50.00", "0.00", "0.00", "0.00", "0.00", "90.00"],
        "{dash}"
    );
    assert_eq!(
        figures(month(&dash, this_month, "EUR"), &keys),
        ["130.00", "40.00", "40.00", "30.00", "50.00", "100.00"],
        "{dash}"
    );
    assert_eq!(month(&dash, this_month, "EUR")["invoices"], 2);
    assert_eq!(
        figures(month(&dash, this_month, "USD"), &keys),
        ["20.00", "0.00", "0.00", "0.00", "0.00", "20.00"]
    );
    let eur_totals = total(&dash["totals"], "EUR");
    assert_eq!(
        figures(
            eur_totals,
            &[
                "billed",
                "credited",
                "collected",
                "written_off",
                "outstanding",
                "overdue"
            ]
        ),
        ["180.00", "40.00", "30.00", "50.00", "100.00", "30.00"]
    );
    let (_, aging, _) = call(
        &app,
        get(&format!("/v1/collections/aging?as_of={today}"), &collector),
    )
    .await;
    // What is outstanding is what the open receivables owe, and overdue what of it is past
    // due, as the aging report adds them up.
    for currency in ["EUR", "USD"] {
        let (d, a) = (
            total(&dash["totals"], currency),
            total(&aging["totals"], currency),
        );
        assert_eq!(amount(&d["outstanding"]), amount(&a["total"]), "{currency}");
        assert_eq!(
            cents(&d["overdue"]),
            cents(&a["total"]) - cents(&a["current"]),
            "{currency}"
        );
    }

    // Broken down by location; limited to one; one payer.
    let (_, by, _) = call(&app, get(&format!("{q}&by=location"), &collector)).await;
    let locs = by["by_location"].as_array().expect("by_location");
    assert_eq!(locs.len(), 2);
    assert_eq!(locs[0]["location"], "H1");
    assert_eq!(locs[0]["name"], "Hospital H1");
    assert_eq!(
        figures(
            total(&locs[0]["totals"], "EUR"),
            &["billed", "outstanding", "overdue"]
        ),
        ["150.00", "70.00", "0.00"]
    );
    assert_eq!(
        figures(
            total(&locs[1]["totals"], "EUR"),
            &["billed", "outstanding", "overdue"]
        ),
        ["30.00", "30.00", "30.00"]
    );
    let h2_only = token(&["biller"], Some(&["H2"]));
    let (s, lim, _) = call(&app, get(&q, &h2_only)).await;
    assert_eq!(s, StatusCode::OK, "{lim}");
    assert_eq!(
        lim["locations"],
        json!([{"code": "H2", "name": "Hospital H2"}])
    );
    assert_eq!(amount(&total(&lim["totals"], "EUR")["billed"]), "30.00");
    assert_eq!(lim["pending"][3]["count"], 1, "S-3 waits in audit at H2");
    assert_eq!(lim["pending"][0]["count"], 0);
    let (s, body, _) = call(&app, get(&format!("{q}&location=H1"), &h2_only)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["errors"][0]["code"], "unknown_location");
    let (_, one, _) = call(&app, get(&format!("{q}&payer=SANITAS"), &collector)).await;
    assert_eq!(amount(&total(&one["totals"], "EUR")["billed"]), "150.00");
    assert_eq!(total(&one["totals"], "USD"), &Value::Null);

    // The months as CSV.
    let (s, csv, headers) = call_text(
        &app,
        TestRequest::get()
            .uri(&q)
            .insert_header(("Authorization", format!("Bearer {collector}")))
            .insert_header(("Accept", "text/csv")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        headers
            .as_deref()
            .is_some_and(|h| h.starts_with("text/csv")),
        "{headers:?}"
    );
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "month,currency,invoices,billed,billed_year_before,adjusted,credited,collected,written_off,outstanding"
        )
    );
    let line = format!(
        "{},EUR,2,130.00,40.00,0.00,40.00,30.00,50.00,100.00",
        this_month.format("%Y-%m")
    );
    assert!(csv.lines().any(|l| l == line), "{line} not in\n{csv}");

    // Billed and collected per payer, patients last; as CSV too.
    let (s, rep, _) = call(
        &app,
        get(
            &format!("/v1/reports/payers?from={last_month}&to={today}"),
            &collector,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{rep}");
    let lines: Vec<(Value, String, Vec<String>)> = rep["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            (
                l["payer"].clone(),
                l["currency"].as_str().expect("currency").to_owned(),
                figures(
                    l,
                    &[
                        "billed",
                        "credited",
                        "collected",
                        "written_off",
                        "outstanding",
                    ],
                ),
            )
        })
        .collect();
    let f = |v: [&str; 5]| v.map(str::to_owned).to_vec();
    assert_eq!(
        lines,
        vec![
            (
                json!("MAPFRE"),
                "USD".into(),
                f(["20.00", "0.00", "0.00", "0.00", "20.00"])
            ),
            (
                json!("SANITAS"),
                "EUR".into(),
                f(["150.00", "40.00", "30.00", "50.00", "70.00"])
            ),
            (
                Value::Null,
                "EUR".into(),
                f(["30.00", "0.00", "0.00", "0.00", "30.00"])
            ),
        ]
    );
    let (s, csv, _) = call_text(
        &app,
        TestRequest::get()
            .uri(&format!("/v1/reports/payers?from={last_month}&to={today}"))
            .insert_header(("Authorization", format!("Bearer {collector}")))
            .insert_header(("Accept", "text/csv")),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        csv.starts_with(
            "payer,currency,invoices,billed,adjusted,credited,collected,written_off,outstanding\n"
        ),
        "{csv}"
    );
    assert!(
        csv.contains("\nSANITAS,EUR,2,150.00,0.00,40.00,30.00,50.00,70.00\n"),
        "{csv}"
    );
    assert!(
        csv.ends_with("\n,EUR,1,30.00,0.00,0.00,0.00,0.00,30.00\n"),
        "{csv}"
    );
    let (s, body, _) = call(&app, get("/v1/reports/payers", &payer_token("SANITAS"))).await;
    assert_eq!(s, StatusCode::FORBIDDEN, "{body}");

    // The payment history as CSV.
    let (s, csv, _) = call_text(
        &app,
        TestRequest::get()
            .uri(&format!("/v1/payments?received_from={today}"))
            .insert_header(("Authorization", format!("Bearer {collector}")))
            .insert_header(("Accept", "text/csv")),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{csv}");
    let mut rows = csv.lines();
    assert_eq!(
        rows.next(),
        Some(
            "id,received_on,kind,party_kind,party_id,payer_code,method,currency,amount,allocated,refunded,unallocated,reference,invoices,recorded_by,recorded_at"
        )
    );
    let row = rows.next().expect("the payment");
    assert!(
        row.contains(&format!(
            ",{today},payment,payer,{},SANITAS,transfer,EUR,30.00,30.00,0.00,0.00,BANK-REF-1,A-1,",
            sanitas.id
        )),
        "{row}"
    );
    assert_eq!(rows.next(), None);

    // The charts.
    let chart = |path: &str| {
        TestRequest::get()
            .uri(path)
            .insert_header(("Authorization", format!("Bearer {collector}")))
            .insert_header(("Accept", "image/svg+xml"))
    };
    let (s, svg, ct) = call_text(
        &app,
        chart(&format!(
            "/v1/dashboard/charts/progress?from={last_month}&to={today}&location=H1"
        )),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{svg}");
    assert_eq!(ct.as_deref(), Some("image/svg+xml"));
    assert!(svg.starts_with("<svg"), "{svg}");
    assert!(svg.contains("Billed per month — Hospital H1"), "{svg}");
    assert!(svg.contains("billed (EUR)"));
    let (s, svg, _) = call_text(&app, chart("/v1/dashboard/charts/pending")).await;
    assert_eq!(s, StatusCode::OK, "{svg}");
    assert!(
        svg.contains("Waiting to be invoiced — All locations"),
        "{svg}"
    );
    assert!(svg.contains("1 · 20.00"), "in review: {svg}");
    assert!(svg.contains("2 · 10.00"), "draft: {svg}");
}

async fn the_dashboard_refuses_what_it_cannot_answer(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["billing_manager"], None);
    let inv = invoice(
        &payer("SANITAS"),
        &location("H1", "Europe/Madrid"),
        "A-1",
        eur("1.00"),
        today(),
    );
    feed(&h, &envelope(&inv)).await;
    for (q, field, code) in [
        ("from=2026-05-01&to=2026-04-30", "to", "before_from"),
        ("from=2020-01-01&to=2025-01-01", "to", "period_too_long"),
        ("location=NOPE", "location", "unknown_location"),
        ("payer=NOPE", "payer", "unknown_payer"),
        ("by=payer", "by", "unknown_grouping"),
        ("currency=EUR", "currency", "not_here"),
    ] {
        let (s, body, _) = call(&app, get(&format!("/v1/dashboard?{q}"), &t)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{q}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{q}: {body}");
    }
    // Five whole years (60 months) is the longest period.
    let (s, body, _) = call(&app, get("/v1/dashboard?from=2021-01-01&to=2025-12-31", &t)).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let (s, _, _) = call(&app, get("/v1/dashboard?from=yesterday", &t)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, _, _) = call(&app, get("/v1/dashboard?color=blue", &t)).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    for who in [payer_token("SANITAS"), token(&["integration"], None)] {
        let (s, body, _) = call(&app, get("/v1/dashboard", &who)).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{body}");
    }
    let xml = TestRequest::get()
        .uri("/v1/dashboard")
        .insert_header(("Authorization", format!("Bearer {t}")))
        .insert_header(("Accept", "application/xml"));
    let (s, body, _) = call_text(&app, xml).await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
    assert!(body.contains("application/json, text/csv"), "{body}");
    let json_chart = TestRequest::get()
        .uri("/v1/dashboard/charts/progress")
        .insert_header(("Authorization", format!("Bearer {t}")))
        .insert_header(("Accept", "application/json"));
    let (s, body, _) = call_text(&app, json_chart).await;
    assert_eq!(s, StatusCode::NOT_ACCEPTABLE);
    assert!(body.contains("image/svg+xml"), "{body}");
    let (s, body, _) = call(&app, get("/v1/dashboard/charts/pending?currency=EURO", &t)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // The payers report refuses as the dashboard does; the payments list gives JSON or CSV only.
    for (q, field, code) in [
        (
            "/v1/reports/payers?from=2026-05-01&to=2026-04-30",
            "to",
            "before_from",
        ),
        ("/v1/reports/payers?payer=NOPE", "payer", "unknown_payer"),
        (
            "/v1/reports/payers?location=NOPE",
            "location",
            "unknown_location",
        ),
    ] {
        let (s, body, _) = call(&app, get(q, &t)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{q}: {body}");
        assert_eq!(body["errors"][0]["field"], field, "{q}: {body}");
        assert_eq!(body["errors"][0]["code"], code, "{q}: {body}");
    }
    let (s, _, _) = call(&app, get("/v1/reports/payers?by=location", &t)).await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "no grouping on the payers report"
    );
    for uri in ["/v1/reports/payers", "/v1/payments"] {
        let xml = TestRequest::get()
            .uri(uri)
            .insert_header(("Authorization", format!("Bearer {t}")))
            .insert_header(("Accept", "application/xml"));
        let (s, body, _) = call_text(&app, xml).await;
        assert_eq!(s, StatusCode::NOT_ACCEPTABLE, "{uri}: {body}");
        assert!(body.contains("application/json, text/csv"), "{uri}: {body}");
    }
}
