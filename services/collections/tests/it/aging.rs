//! The aging report: what open receivables owe on a day, in buckets of days past due, per payer,
//! patient, location or batch and in total, scoped like receivables, as JSON or CSV.

use crate::common::*;
use actix_web::http::StatusCode;
use carebill_platform::both_backends;
use carebill_platform::db::Backend;
use carebill_platform::testing::{call, get, post, token};
use chrono::NaiveDate;
use serde_json::Value;

both_backends!(aging_buckets_what_is_owed_by_days_past_due_per_group_and_scope);

fn day(s: &str) -> NaiveDate {
    s.parse().expect("day")
}

/// The group with `key` in `currency`.
fn group<'a>(report: &'a Value, key: Option<&str>, currency: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| g["key"].as_str() == key && g["currency"] == currency)
        .unwrap_or(&Value::Null)
}

fn buckets(g: &Value) -> [&str; 6] {
    [
        &g["current"],
        &g["days_1_30"],
        &g["days_31_60"],
        &g["days_61_90"],
        &g["over_90"],
        &g["total"],
    ]
    .map(amount)
}

async fn aging_buckets_what_is_owed_by_days_past_due_per_group_and_scope(b: Backend) {
    let h = harness(b);
    let app = app(&h).await;
    let t = token(&["collector"], None);
    let manager = token(&["billing_manager"], None);
    let (sanitas, mapfre, ana) = (payer("SANITAS"), payer("MAPFRE"), patient());
    let (h1, h2) = (
        location("H1", "Europe/Madrid"),
        location("H2", "Atlantic/Canary"),
    );
    let as_of = day("2026-06-30");
    // Due dates around each bucket's edges, seen on 2026-06-30.
    let s1 = invoice(&sanitas, &h1, "A-1", eur("10.00"), day("2026-06-30")); // current
    let s2 = invoice(&sanitas, &h1, "A-2", eur("20.00"), day("2026-06-29")); // 1 day
    let s3 = invoice(&sanitas, &h2, "A-3", eur("30.00"), day("2026-05-31")); // 30 days
    let s4 = invoice(&sanitas, &h2, "A-4", eur("40.00"), day("2026-05-30")); // 31 days
    let s5 = invoice(&sanitas, &h1, "A-5", eur("50.00"), day("2026-04-01")); // 90 days
    let s6 = invoice(&sanitas, &h1, "A-6", eur("60.00"), day("2026-03-31")); // 91 days
    let m1 = invoice(&mapfre, &h2, "B-1", eur("70.00"), day("2026-07-15")); // current
    let m2 = invoice(
        &mapfre,
        &h2,
        "B-2",
        money_in("80.00", "USD"),
        day("2026-06-01"),
    ); // 29 days
    let p1 = invoice(&ana, &h1, "C-1", eur("90.00"), day("2026-02-01")); // over 90
    let paid = invoice(&sanitas, &h1, "A-7", eur("5.00"), day("2026-06-01"));
    let cancelled = invoice(&sanitas, &h1, "A-8", eur("6.00"), day("2026-06-01"));
    let written = invoice(&sanitas, &h1, "A-9", eur("7.00"), day("2026-06-01"));
    let mut later = invoice(&sanitas, &h1, "A-10", eur("8.00"), day("2026-08-30"));
    later.issue_date = day("2026-07-01"); // issued after the day: not counted
    for i in [
        &s1, &s2, &s3, &s4, &s5, &s6, &m1, &m2, &p1, &paid, &cancelled, &written, &later,
    ] {
        feed(&h, &envelope(i)).await;
    }
    feed(&h, &envelope(&credit_note(&cancelled))).await;
    feed(
        &h,
        &envelope(&batch_sent("BAT-1", &h1, Some("SANITAS"), &[&s1, &s5], &[])),
    )
    .await;
    let (s, _, _) = call(
        &app,
        post(
            "/v1/payments",
            &t,
            &payment(
                &sanitas,
                eur("12.50"),
                &[(&paid, eur("5.00")), (&s6, eur("7.50"))],
            ),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (_, page, _) = call(
        &app,
        get(
            &format!("/v1/receivables?invoice_id={}", written.invoice_id),
            &t,
        ),
    )
    .await;
    let w_id = page["items"][0]["id"].as_str().expect("id").to_owned();
    let (s, _, _) = call(
        &app,
        post(
            &format!("/v1/receivables/{w_id}/write-offs"),
            &manager,
            &serde_json::json!({"kind": "bad_debt", "reason": "insolvent"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);

    let report =
        |q: &str, tok: &str| get(&format!("/v1/collections/aging?as_of=2026-06-30{q}"), tok);
    let (s, r, _) = call(&app, report("&group_by=payer", &t)).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["as_of"], as_of.to_string());
    assert_eq!(
        buckets(group(&r, Some("SANITAS"), "EUR")),
        ["10.00", "50.00", "40.00", "50.00", "52.50", "202.50"]
    );
    assert_eq!(group(&r, Some("SANITAS"), "EUR")["receivables"], 6);
    assert_eq!(
        buckets(group(&r, Some("MAPFRE"), "EUR")),
        ["70.00", "0.00", "0.00", "0.00", "0.00", "70.00"]
    );
    assert_eq!(
        buckets(group(&r, Some("MAPFRE"), "USD")),
        ["0.00", "80.00", "0.00", "0.00", "0.00", "80.00"]
    );
    assert_eq!(
        buckets(group(&r, None, "EUR")),
        ["0.00", "0.00", "0.00", "0.00", "90.00", "90.00"]
    );
    let totals = r["totals"].as_array().expect("totals");
    assert_eq!(totals.len(), 2);
    assert_eq!(
        buckets(&totals[0]),
        ["80.00", "50.00", "40.00", "50.00", "142.50", "362.50"]
    );
    assert_eq!(totals[1]["currency"], "USD");
    // The total is what the open receivables owe, the groups add up to it.
    let owed: i64 = r["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["currency"] == "EUR")
        .map(|g| cents(&g["total"]))
        .sum();
    assert_eq!(owed, cents(&totals[0]["total"]));

    // By location, patient and batch.
    let (_, r, _) = call(&app, report("&group_by=location", &t)).await;
    assert_eq!(
        buckets(group(&r, Some("H2"), "EUR")),
        ["70.00", "30.00", "40.00", "0.00", "0.00", "140.00"]
    );
    assert_eq!(group(&r, Some("H1"), "EUR")["receivables"], 5);
    let (_, r, _) = call(&app, report("&group_by=patient", &t)).await;
    let ana_patient = p1.patient_id.to_string();
    assert_eq!(
        amount(&group(&r, Some(&ana_patient), "EUR")["over_90"]),
        "90.00"
    );
    let (_, r, _) = call(&app, report("&group_by=batch", &t)).await;
    assert_eq!(
        buckets(group(&r, Some("BAT-1"), "EUR")),
        ["10.00", "0.00", "0.00", "50.00", "0.00", "60.00"]
    );
    assert_eq!(cents(&group(&r, None, "EUR")["total"]), 36_250 - 6_000);

    // Scoped like receivables: a reader of H2 sees H2's; a payer its own.
    let (_, r, _) = call(&app, report("", &token(&["collector"], Some(&["H2"])))).await;
    assert_eq!(r["group_by"], "payer");
    assert_eq!(
        buckets(group(&r, Some("SANITAS"), "EUR")),
        ["0.00", "30.00", "40.00", "0.00", "0.00", "70.00"]
    );
    assert!(group(&r, None, "EUR").is_null());
    let (_, r, _) = call(&app, report("", &payer_token("MAPFRE"))).await;
    assert_eq!(r["groups"].as_array().map(Vec::len), Some(2), "{r}");
    assert!(group(&r, Some("SANITAS"), "EUR").is_null());

    // The default day is today: everything above is well past due by then... or not yet
    // issued; the report answers either way.
    let (s, _, _) = call(&app, get("/v1/collections/aging", &t)).await;
    assert_eq!(s, StatusCode::OK);

    // CSV, by format or by Accept.
    let (s, text, ctype) = call_text(&app, report("&group_by=location&format=csv", &t)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(ctype.unwrap_or_default().starts_with("text/csv"));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "line,location,currency,current,days_1_30,days_31_60,days_61_90,over_90,total,receivables"
    );
    assert!(
        lines.contains(&"group,H2,EUR,70.00,30.00,40.00,0.00,0.00,140.00,3"),
        "{text}"
    );
    assert!(
        lines.contains(&"total,,EUR,80.00,50.00,40.00,50.00,142.50,362.50,8"),
        "{text}"
    );
    let (s, by_accept, ctype) = call_text(
        &app,
        report("&group_by=location", &t).insert_header(("accept", "text/csv")),
    )
    .await;
    assert_eq!((s, by_accept), (StatusCode::OK, text));
    assert!(ctype.unwrap_or_default().starts_with("text/csv"));

    // Bad parameters: 4xx, never 500.
    for q in [
        "&group_by=insurer",
        "&format=xml",
        "&colour=red",
        "&as_of=2026-13-01",
        "&as_of=0001-01-01",
    ] {
        let (s, err, _) = call(&app, report(q, &t)).await;
        assert!(s.is_client_error(), "{q}: {s} {err}");
    }
    let (s, _, _) = call(
        &app,
        get(
            "/v1/collections/aging?as_of=2026-06-30",
            &token(&["auditor"], None),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
}
