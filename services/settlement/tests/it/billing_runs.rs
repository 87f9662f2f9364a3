//! Billing runs against real databases (SQLite and a throwaway PostgreSQL), with amounts
//! computed by hand: a long-term-care month with a hospital absence over the month's edge and
//! care linked into three contexts, a late absence corrected by the next month's run, a rule
//! inactive at one institution, runs that are previews or idempotent, and bad input refused
//! without changing anything.

use actix_web::http::StatusCode;
use actix_web::test;
use carebill_domain::accounts::PayerKind;
use carebill_domain::events::{
    CareRecordChangedV1, CoverageChangedV1, CoverageRef, Envelope, LocationRef, PatientRef,
};
use carebill_domain::ids::{CoverageId, PayerId};
use carebill_domain::sources::{AbsenceKind, CareRecord, CareRecordDetails};
use carebill_platform::both_backends;
use carebill_platform::db::AnyConnection;
use carebill_platform::db::Backend;
use carebill_platform::events::run_handler;
use carebill_platform::schema::outbox;
use carebill_platform::testing::{admin, call, get, post, token};
use chrono::{NaiveDate, Utc};
use diesel::prelude::*;
use serde_json::{Value, json};

use crate::common::{Harness, app, harness};

both_backends!(
    a_care_home_month_is_billed_and_corrected_the_month_after,
    a_committed_run_feeds_periodic_settlements_invoiced_per_party,
    rules_are_tried_on_given_care_records_and_nothing_is_stored,
    bad_runs_are_refused_and_change_nothing,
    care_records_keep_the_newest_coverages_whatever_order_events_come_in,
);

fn d(s: &str) -> NaiveDate {
    s.parse().expect("date")
}

fn rule(code: &str, source: &str, group: &str, extra: Value) -> Value {
    let mut r = json!({
        "code": code, "description": code, "beneficiary_kind": "LTC",
        "invoice_context": "beneficiary", "source": source, "service_group": group,
        "description_method": "service", "quantity_method": "days", "price_method": "service",
        "time_horizon": "subsequent", "active_from": "2026-01-01"
    });
    for (k, v) in extra.as_object().expect("object") {
        r[k] = v.clone();
    }
    r
}

fn hotel() -> Value {
    rule(
        "HOTEL",
        "stay",
        "ROOM",
        json!({"object_type": "SINGLE", "absence_threshold_days": 3, "quantity_method": "days_minus_absences"}),
    )
}

fn care() -> Value {
    rule(
        "CARE",
        "evaluation",
        "CARE",
        json!({"quantity_method": "effective_days", "linked_rules": [
            {"context": "insurance", "operation": "negate"},
            {"context": "public_authority", "operation": "negate"}
        ]}),
    )
}

async fn deliver(
    h: &Harness,
    id: &str,
    patient: &str,
    location: &str,
    version: i64,
    details: CareRecordDetails,
) {
    let location_id = format!("00000000-0000-7000-8000-00000000000{}", &location[1..]);
    let payload = CareRecordChangedV1 {
        record: CareRecord {
            id: id.to_owned(),
            patient_id: patient.to_owned(),
            location_id: location_id.clone(),
            version,
            cancelled: false,
            details,
        },
        location_code: location.to_owned(),
        location: Some(LocationRef {
            id: location_id.parse().expect("location id"),
            code: location.to_owned(),
            name: format!("Care home {location}"),
            time_zone: "Europe/Zurich".to_owned(),
            tax_id: Some("CHE-123.456.789".to_owned()),
            billing: None,
        }),
        patient: Some(PatientRef {
            id: patient.parse().expect("patient id"),
            beneficiary_kind: "LTC".to_owned(),
            birth_date: None,
            flags: vec![],
            sex: None,
            billing: None,
        }),
        coverages: coverages(patient),
        reason: None,
        changed_by: "test".to_owned(),
        changed_at: Utc::now(),
    };
    let env = Envelope::new("accounts", &payload, Utc::now(), None, None).expect("envelope");
    run_handler(&h.events.handler, env).await.expect("applied");
}

fn stay(from: &str) -> CareRecordDetails {
    CareRecordDetails::Stay {
        beneficiary_kind: "LTC".to_owned(),
        object_type: Some("SINGLE".to_owned()),
        room: Some("B-204".to_owned()),
        entry_date: d(from),
        leaving_date: None,
    }
}

fn absence(from: &str, to: &str, reason: AbsenceKind) -> CareRecordDetails {
    CareRecordDetails::Absence {
        reason,
        from: d(from),
        to: Some(d(to)),
        start_full_day: None,
        end_full_day: None,
    }
}

/// Every resident's insurer (CSS) and public authority (the canton), with ids of their own.
fn coverages(patient: &str) -> Vec<CoverageRef> {
    [
        ("CSS", PayerKind::Insurer, 1),
        ("CANTON-ZH", PayerKind::PublicAuthority, 2),
    ]
    .into_iter()
    .map(|(code, kind, priority)| CoverageRef {
        id: CoverageId(uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("{patient}/{code}").as_bytes(),
        )),
        payer_id: PayerId(uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            code.as_bytes(),
        )),
        payer_code: code.to_owned(),
        payer_kind: kind,
        policy_number: format!("{code}-{}", &patient[30..]),
        plan_code: None,
        priority,
        valid_from: None,
        valid_to: None,
        payer_billing: None,
    })
    .collect()
}

const P1: &str = "019a0000-0000-7000-8000-000000000001";
const P2: &str = "019a0000-0000-7000-8000-000000000002";

/// Rules HOTEL and CARE at H1, only HOTEL at H2; room 120.00 (130.00 from 16 November), care
/// level L3 85.50; resident P1 at H1 from 15 September, level L3, in hospital from 28 October
/// to 6 November; resident P2 at H2 from 1 September.
async fn setup(
    h: &Harness,
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
    >,
) {
    let t = admin();
    for r in [hotel(), care()] {
        let (s, body, _) = call(app, post("/v1/invoicing-rules", &t, &r)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    for (loc, code) in [("H1", "HOTEL"), ("H1", "CARE"), ("H2", "HOTEL")] {
        let (s, body, _) = call(
            app,
            test::TestRequest::put()
                .uri(&format!("/v1/invoicing-rule-activations/{loc}/{code}"))
                .insert_header(("authorization", format!("Bearer {t}")))
                .set_json(json!({"enabled": true})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    for p in [
        json!({"code": "ROOM", "unit_price": {"amount": "120.00", "currency": "CHF"}, "valid_from": "2026-01-01", "valid_to": "2026-11-15", "beneficiary_kind": "LTC", "object_type": "SINGLE"}),
        json!({"code": "ROOM", "unit_price": {"amount": "130.00", "currency": "CHF"}, "valid_from": "2026-11-16", "beneficiary_kind": "LTC", "object_type": "SINGLE"}),
        json!({"code": "CARE", "unit_price": {"amount": "85.50", "currency": "CHF"}, "valid_from": "2026-01-01", "care_level": "L3"}),
        // An unqualified ROOM price of the consumption list never prices a billing run.
        json!({"code": "ROOM", "unit_price": {"amount": "1.00", "currency": "CHF"}, "valid_from": "2026-01-01"}),
    ] {
        let (s, body, _) = call(app, post("/v1/prices", &t, &p)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    deliver(h, "stay-1", P1, "H1", 1, stay("2026-09-15")).await;
    deliver(
        h,
        "eval-1",
        P1,
        "H1",
        1,
        CareRecordDetails::Evaluation {
            level: "L3".to_owned(),
            valid_from: d("2026-09-15"),
            valid_to: None,
        },
    )
    .await;
    deliver(
        h,
        "abs-1",
        P1,
        "H1",
        1,
        absence("2026-10-28", "2026-11-06", AbsenceKind::Hospital),
    )
    .await;
    deliver(h, "stay-2", P2, "H2", 1, stay("2026-09-01")).await;
}

fn lines_summary(lines: &Value) -> Vec<String> {
    lines
        .as_array()
        .expect("lines")
        .iter()
        .map(|l| {
            format!(
                "{} {}/{} {}..{} {} {}{}",
                &l["patient_id"].as_str().expect("patient")[34..],
                l["rule_code"].as_str().expect("rule"),
                l["context"].as_str().expect("context"),
                l["days"]["from"].as_str().expect("from"),
                l["days"]["to"].as_str().expect("to"),
                l["quantity"].as_str().expect("quantity"),
                l["amount"]["amount"].as_str().expect("amount"),
                if l["correction"] == json!(true) {
                    " correction"
                } else {
                    ""
                }
            )
        })
        .collect()
}

fn totals(run: &Value) -> Vec<String> {
    run["totals"]
        .as_array()
        .expect("totals")
        .iter()
        .map(|t| {
            format!(
                "{} {}",
                t["context"].as_str().expect("context"),
                t["amount"]["amount"].as_str().expect("amount")
            )
        })
        .collect()
}

async fn a_care_home_month_is_billed_and_corrected_the_month_after(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let t = admin();
    setup(&h, &app).await;

    // Preview October at H1: 4 absent days in October (28-31; 9 in all, over the threshold).
    // Hotel 31 - 4 = 27 x 120.00; care 27 presence days x 85.50 = 2308.50, deducted from the
    // insurance and public authority contexts.
    let (s, preview, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H1", "period": "2026-10", "preview": true}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{preview}");
    assert_eq!(preview["preview"], json!(true));
    assert_eq!(
        lines_summary(&preview["lines"]),
        [
            "01 CARE/beneficiary 2026-10-01..2026-10-31 27 2308.50",
            "01 CARE/insurance 2026-10-01..2026-10-31 -27 -2308.50",
            "01 CARE/public_authority 2026-10-01..2026-10-31 -27 -2308.50",
            "01 HOTEL/beneficiary 2026-10-01..2026-10-31 27 3240.00",
        ]
    );
    let hotel_line = &preview["lines"][3];
    assert_eq!(
        hotel_line["explanation"]["considered_absent_days"],
        json!(4)
    );
    assert!(
        hotel_line["explanation"]["price_source"]
            .as_str()
            .expect("source")
            .contains("object type SINGLE"),
        "{hotel_line}"
    );
    // A draft of the hotel rule tried before it is saved: absences count only from 10 days, so
    // the 9-day hospital stay no longer reduces the room: 31 x 120.00 = 3720.00 instead of
    // 3240.00. Nothing else changes.
    let mut draft = hotel();
    draft["absence_threshold_days"] = json!(10);
    let (s, tried, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H1", "period": "2026-10", "preview": true, "draft_rules": [draft]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{tried}");
    assert_eq!(
        tried["comparison"]["differences"],
        json!([{"patient_id": P1, "rule_code": "HOTEL", "context": "beneficiary",
                "in_force": {"amount": "3240.00", "currency": "CHF"},
                "draft": {"amount": "3720.00", "currency": "CHF"}}])
    );
    let mut bad = hotel();
    bad["invoice_context"] = json!("nobody");
    let (s, problem, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H1", "period": "2026-10", "preview": true, "draft_rules": [bad]}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    assert_eq!(
        problem["errors"][0]["field"],
        json!("draft_rules.0.invoice_context")
    );
    let (_, listed, _) = call(&app, get("/v1/billing-runs", &t)).await;
    assert_eq!(listed["items"], json!([]), "a preview stores nothing");

    // Commit; again with nothing changed: the same run.
    let commit = json!({"location_code": "H1", "period": "2026-10"});
    let (s, october, _) = call(&app, post("/v1/billing-runs", &t, &commit)).await;
    assert_eq!(s, StatusCode::CREATED, "{october}");
    assert_eq!(
        totals(&october),
        [
            "beneficiary 5548.50",
            "insurance -2308.50",
            "public_authority -2308.50"
        ]
    );
    let (s, again, _) = call(&app, post("/v1/billing-runs", &t, &commit)).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["id"], october["id"]);
    let id = october["id"].as_str().expect("id");
    // The run fed one periodic settlement, for P1. Nothing charges the insurance and public
    // authority contexts here, so the care deducted from them would bill them less than
    // nothing: those lines are flagged and the settlement cannot be approved as it is.
    let (_, fed, _) = call(
        &app,
        get(&format!("/v1/settlements?billing_run_id={id}"), &t),
    )
    .await;
    assert_eq!(fed["items"].as_array().map(Vec::len), Some(1), "{fed}");
    assert_eq!(fed["items"][0]["kind"], json!("periodic"));
    assert_eq!(fed["items"][0]["issue_count"], json!(2), "{fed}");
    let (_, doc, _) = call(
        &app,
        get(
            &format!(
                "/v1/settlements/{}",
                fed["items"][0]["id"].as_str().expect("id")
            ),
            &t,
        ),
    )
    .await;
    let flagged: Vec<&str> = doc["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["issues"][0]["code"].as_str())
        .collect();
    assert_eq!(flagged, ["negative_total", "negative_total"], "{doc}");
    let (s, lines, _) = call(
        &app,
        get(&format!("/v1/billing-runs/{id}/lines?limit=2"), &t),
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(lines["items"].as_array().expect("items").len(), 2);
    let cursor = lines["next_cursor"].as_str().expect("more");
    let (_, rest, _) = call(
        &app,
        get(&format!("/v1/billing-runs/{id}/lines?cursor={cursor}"), &t),
    )
    .await;
    assert_eq!(rest["items"].as_array().expect("items").len(), 2);
    for bad in ["cursor=garbage", "limit=0"] {
        let (s, problem, _) =
            call(&app, get(&format!("/v1/billing-runs/{id}/lines?{bad}"), &t)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
    }

    // H2 bills the hotel only: CARE is not active there. P2: 31 x 120.00.
    let (s, h2, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H2", "period": "2026-10"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{h2}");
    assert_eq!(totals(&h2), ["beneficiary 3720.00"]);

    // A holiday from 10 to 13 October is recorded late. October stays as billed ...
    deliver(
        &h,
        "abs-2",
        P1,
        "H1",
        1,
        absence("2026-10-10", "2026-10-13", AbsenceKind::Holiday),
    )
    .await;
    let (s, refused, _) = call(&app, post("/v1/billing-runs", &t, &commit)).await;
    assert_eq!(s, StatusCode::CONFLICT, "{refused}");
    assert_eq!(refused["code"], json!("period_already_billed"));
    let (_, still, _) = call(&app, get(&format!("/v1/billing-runs/{id}"), &t)).await;
    assert_eq!(still["line_count"], json!(4));
    // ... and November corrects it: 3 more absent days (over the threshold): -3 x 120.00,
    // -3 x 85.50 and its links; November itself: 1-5 absent, room 10 x 120.00 to the 15th and
    // 15 x 130.00 from the 16th; care 25 x 85.50.
    let (s, november, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H1", "period": "2026-11"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{november}");
    let nid = november["id"].as_str().expect("id");
    let (_, lines, _) = call(&app, get(&format!("/v1/billing-runs/{nid}/lines"), &t)).await;
    assert_eq!(
        lines_summary(&lines["items"]),
        [
            "01 CARE/beneficiary 2026-10-01..2026-10-31 -3 -256.50 correction",
            "01 CARE/insurance 2026-10-01..2026-10-31 3 256.50 correction",
            "01 CARE/public_authority 2026-10-01..2026-10-31 3 256.50 correction",
            "01 HOTEL/beneficiary 2026-10-01..2026-10-31 -3 -360.00 correction",
            "01 CARE/beneficiary 2026-11-01..2026-11-30 25 2137.50",
            "01 CARE/insurance 2026-11-01..2026-11-30 -25 -2137.50",
            "01 CARE/public_authority 2026-11-01..2026-11-30 -25 -2137.50",
            "01 HOTEL/beneficiary 2026-11-01..2026-11-15 10 1200.00",
            "01 HOTEL/beneficiary 2026-11-16..2026-11-30 15 1950.00",
        ]
    );
    assert_eq!(
        lines["items"][3]["explanation"]["corrects"]["billed_amount"]["amount"],
        json!("3240.00")
    );
    // Now October cannot be run again at all: November is billed.
    let (s, _, _) = call(&app, post("/v1/billing-runs", &t, &commit)).await;
    assert_eq!(s, StatusCode::CONFLICT);

    // An older version of a record arriving late changes nothing.
    deliver(
        &h,
        "abs-2",
        P1,
        "H1",
        2,
        absence("2026-10-10", "2026-10-11", AbsenceKind::Holiday),
    )
    .await;
    deliver(
        &h,
        "abs-2",
        P1,
        "H1",
        1,
        absence("2026-10-10", "2026-10-20", AbsenceKind::Holiday),
    )
    .await;
    let (_, preview, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H1", "period": "2026-11", "preview": true, "patient_id": P1}),
        ),
    )
    .await;
    // The preview shows what November would bill today, against October as billed: version 2
    // (one day away, under the hotel's threshold) counts, not the late version 1 (ten days):
    // care corrects one presence day, the hotel nothing.
    let fixes: Vec<String> = lines_summary(&preview["lines"])
        .into_iter()
        .filter(|l| l.contains("2026-10-01"))
        .collect();
    assert_eq!(
        fixes,
        [
            "01 CARE/beneficiary 2026-10-01..2026-10-31 -1 -85.50 correction",
            "01 CARE/insurance 2026-10-01..2026-10-31 1 85.50 correction",
            "01 CARE/public_authority 2026-10-01..2026-10-31 1 85.50 correction",
        ]
    );
    let (_, dec, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H1", "period": "2026-11", "preview": true, "patient_id": P2}),
        ),
    )
    .await;
    assert_eq!(dec["lines"], json!([]), "P2 lives at H2");
}

/// A committed run becomes one periodic settlement per beneficiary, approved like any other;
/// its approval bills each context's party: the care deducted from the insurer's and the
/// canton's own care tariffs, the rest to the resident.
async fn a_committed_run_feeds_periodic_settlements_invoiced_per_party(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let t = admin();
    setup(&h, &app).await;
    // The insurer's (110.00) and the canton's (95.50) care tariffs at level L3, each billed into
    // its own context.
    for (code, context, price) in [
        ("CARE-KVG", "insurance", "110.00"),
        ("CARE-REST", "public_authority", "95.50"),
    ] {
        // The insurer's tariff may be corrected by hand in the settlement; the others not.
        let r = rule(
            code,
            "evaluation",
            code,
            json!({"invoice_context": context, "quantity_method": "effective_days",
                   "manual_correction": context == "insurance"}),
        );
        let (s, body, _) = call(&app, post("/v1/invoicing-rules", &t, &r)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
        let (s, body, _) = call(
            &app,
            test::TestRequest::put()
                .uri(&format!("/v1/invoicing-rule-activations/H1/{code}"))
                .insert_header(("authorization", format!("Bearer {t}")))
                .set_json(json!({"enabled": true})),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{body}");
        let p = json!({"code": code, "unit_price": {"amount": price, "currency": "CHF"}, "valid_from": "2026-01-01", "care_level": "L3"});
        let (s, body, _) = call(&app, post("/v1/prices", &t, &p)).await;
        assert_eq!(s, StatusCode::CREATED, "{body}");
    }
    // A biller for H1: the run's settlements are assigned like any new one.
    let (s, body, _) = call(
        &app,
        test::TestRequest::put()
            .uri("/v1/billers/lucia")
            .insert_header(("authorization", format!("Bearer {t}")))
            .set_json(json!({"name": "Lucía Pérez", "locations": ["H1"]})),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{body}");
    // October, 27 presence days: resident 3240.00 room + 2308.50 care = 5548.50; insurer
    // 27 x 110.00 = 2970.00 less 2308.50 = 661.50; canton 27 x 95.50 = 2578.50 less 2308.50 =
    // 270.00. In all 6480.00.
    let (s, run, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &t,
            &json!({"location_code": "H1", "period": "2026-10"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{run}");
    assert_eq!(
        totals(&run),
        [
            "beneficiary 5548.50",
            "insurance 661.50",
            "public_authority 270.00"
        ]
    );
    let run_id = run["id"].as_str().expect("id");
    let (_, fed, _) = call(
        &app,
        get(&format!("/v1/settlements?billing_run_id={run_id}"), &t),
    )
    .await;
    let summary = &fed["items"][0];
    assert_eq!(fed["items"].as_array().map(Vec::len), Some(1), "{fed}");
    assert_eq!(
        (
            summary["kind"].as_str(),
            summary["number"].as_str(),
            summary["patient_id"].as_str(),
            summary["total"]["amount"].as_str(),
            summary["issue_count"].as_i64(),
            summary["line_count"].as_i64(),
            summary["assigned_to"].as_str(),
            summary["version"].as_i64()
        ),
        (
            Some("periodic"),
            Some("H1/2026-10/1"),
            Some(P1),
            Some("6480.00"),
            Some(0),
            Some(6),
            Some("lucia"),
            Some(1)
        ),
        "{summary}"
    );
    let url = format!("/v1/settlements/{}", summary["id"].as_str().expect("id"));
    let (_, doc, _) = call(&app, get(&url, &t)).await;
    let mut parties: Vec<(String, String)> = doc["parties"]
        .as_array()
        .expect("parties")
        .iter()
        .map(|p| {
            (
                p["party"]["payer_code"]
                    .as_str()
                    .unwrap_or("resident")
                    .to_owned(),
                p["amount"]["amount"].as_str().expect("amount").to_owned(),
            )
        })
        .collect();
    parties.sort();
    let pair = |a: &str, b: &str| (a.to_owned(), b.to_owned());
    assert_eq!(
        parties,
        [
            pair("CANTON-ZH", "270.00"),
            pair("CSS", "661.50"),
            pair("resident", "5548.50")
        ],
        "{doc}"
    );
    let deduction = doc["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .find(|l| l["run_line"]["rule_code"] == "CARE" && l["run_line"]["context"] == "insurance")
        .expect("the deduction from the insurer");
    assert_eq!(deduction["amount"]["amount"], json!("-2308.50"));
    assert_eq!(
        deduction["shares"][0]["reason"],
        json!({"kind": "invoice_context", "context": "insurance"})
    );

    // A biller corrects the insurer's tariff line to the 100.00 a day agreed by letter (its
    // rule allows manual correction): 27 x 100.00 = 2700.00, the insurer now 391.50. The
    // room's rule does not allow it.
    let line_of = |rule: &str| {
        doc["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .find(|l| l["run_line"]["rule_code"] == rule)
            .and_then(|l| l["consumption_id"].as_str())
            .expect("a line of the rule")
            .to_owned()
    };
    let correct = |line: String, body: Value, etag: String| {
        test::TestRequest::put()
            .uri(&format!("{url}/lines/{line}"))
            .insert_header((
                "authorization",
                format!("Bearer {}", token(&["biller"], None)),
            ))
            .insert_header(("if-match", etag))
            .set_json(body)
    };
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, problem, _) = call(
        &app,
        correct(
            line_of("HOTEL"),
            json!({"unit_price": {"amount": "100.00", "currency": "CHF"}, "reason": "discount"}),
            etag.clone(),
        ),
    )
    .await;
    assert_eq!(
        (s, problem["code"].as_str()),
        (StatusCode::CONFLICT, Some("manual_correction_not_allowed")),
        "{problem}"
    );
    let (s, problem, _) = call(
        &app,
        correct(
            line_of("CARE-KVG"),
            json!({"unit_price": {"amount": "100.00", "currency": "EUR"}, "reason": "letter"}),
            etag.clone(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{problem}");
    let (s, doc, _) = call(
        &app,
        correct(
            line_of("CARE-KVG"),
            json!({"unit_price": {"amount": "100.00", "currency": "CHF"}, "reason": "tariff agreed by letter of 2 November"}),
            etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    let tariff = |doc: &Value| {
        doc["lines"]
            .as_array()
            .expect("lines")
            .iter()
            .find(|l| l["run_line"]["rule_code"] == "CARE-KVG")
            .expect("the tariff line")
            .clone()
    };
    let corrected = tariff(&doc);
    assert_eq!(
        (
            corrected["amount"]["amount"].as_str(),
            corrected["price_source"].as_str(),
            corrected["shares"][0]["amount"]["amount"].as_str()
        ),
        (Some("2700.00"), Some("manual"), Some("2700.00")),
        "{corrected}"
    );
    assert_eq!(doc["total"]["amount"], json!("6210.00"));
    // A line the settlement does not have: 404, nothing changes.
    let etag = doc["etag"].as_str().expect("etag").to_owned();
    let (s, problem, _) = call(
        &app,
        correct(
            "no-such-line".to_owned(),
            json!({"excluded": true, "reason": "typo"}),
            etag.clone(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{problem}");
    // Excluding the tariff line takes it off the insurer's bill; including it again with the
    // agreed price brings the corrected line back.
    let (s, doc, _) = call(
        &app,
        correct(
            line_of("CARE-KVG"),
            json!({"excluded": true, "reason": "insurer disputes the month"}),
            etag,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(tariff(&doc)["excluded"], json!(true), "{doc}");
    assert_eq!(tariff(&doc)["shares"], json!([]), "{doc}");
    // Without its tariff the insurer would be billed the deduction alone: flagged, so the
    // settlement cannot be approved like this.
    let css = doc["parties"]
        .as_array()
        .expect("parties")
        .iter()
        .find(|p| p["party"]["payer_code"] == "CSS")
        .expect("the insurer");
    assert_eq!(css["amount"]["amount"], json!("-2308.50"), "{doc}");
    assert_eq!(doc["issue_count"], json!(1), "{doc}");
    let flagged: Vec<&Value> = doc["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter(|l| l["issues"] != json!([]))
        .collect();
    assert_eq!(
        (
            flagged.len(),
            flagged[0]["run_line"]["context"].as_str(),
            flagged[0]["issues"][0]["code"].as_str()
        ),
        (1, Some("insurance"), Some("negative_total")),
        "{doc}"
    );
    let (s, doc, _) = call(
        &app,
        correct(
            line_of("CARE-KVG"),
            json!({"unit_price": {"amount": "100.00", "currency": "CHF"}, "reason": "tariff agreed by letter of 2 November"}),
            doc["etag"].as_str().expect("etag").to_owned(),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{doc}");
    assert_eq!(
        (doc["total"]["amount"].as_str(), doc["issue_count"].as_i64()),
        (Some("6210.00"), Some(0)),
        "{doc}"
    );
    // A recomputation (the insurer's policy number changed: a new version) keeps the correction.
    let version = doc["version"].as_i64().expect("version");
    let mut renewed = coverages(P1);
    "CSS-RENEWED".clone_into(&mut renewed[0].policy_number);
    let changed = CoverageChangedV1 {
        patient_id: P1.parse().expect("patient id"),
        coverage_id: renewed[0].id,
        change: "updated".to_owned(),
        coverages: renewed,
        claims: Vec::new(),
        changed_at: Utc::now(),
    };
    let env = Envelope::new("accounts", &changed, Utc::now(), None, None).expect("envelope");
    run_handler(&h.events.handler, env).await.expect("applied");
    let (_, doc, _) = call(&app, get(&url, &t)).await;
    assert_eq!(
        (
            tariff(&doc)["amount"]["amount"].as_str(),
            tariff(&doc)["price_source"].as_str(),
            doc["total"]["amount"].as_str()
        ),
        (Some("2700.00"), Some("manual"), Some("6210.00")),
        "{doc}"
    );
    assert_eq!(
        (
            doc["version"].as_i64(),
            tariff(&doc)["shares"][0]["party"]["policy_number"].as_str()
        ),
        (Some(version + 1), Some("CSS-RENEWED")),
        "{doc}"
    );

    // Review, audit, approval: the approval carries the lines invoicing bills, and invoicing's
    // plan gives one invoice per party with the deduction as a negative line.
    let mut etag = doc["etag"].as_str().expect("etag").to_owned();
    for (to, who) in [
        ("in_review", "biller"),
        ("in_audit", "biller"),
        ("approved", "auditor"),
    ] {
        let (s, next, _) = call(
            &app,
            post(
                &format!("{url}/transitions"),
                &token(&[who], None),
                &json!({"to": to}),
            )
            .insert_header(("if-match", etag.clone())),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{to}: {next}");
        etag = next["etag"].as_str().expect("etag").to_owned();
    }
    let bodies: Vec<String> =
        h.db.read(|c: &mut AnyConnection| {
            Ok(outbox::table
                .filter(outbox::event_type.eq("carebill.settlement.settlement.approved.v1"))
                .select(outbox::body)
                .load(c)?)
        })
        .await
        .expect("outbox");
    assert_eq!(bodies.len(), 1);
    let envelope: Envelope = serde_json::from_str(&bodies[0]).expect("envelope");
    let approval: carebill_domain::events::SettlementApprovedV1 =
        envelope.payload().expect("approval");
    assert_eq!(approval.kind.as_str(), "periodic");
    assert_eq!(approval.episode.location.name, "Care home H1");
    let plans = carebill_domain::invoicing::plan_invoices(&approval, |_, _| false).expect("plans");
    let mut billed: Vec<(String, usize, String)> = plans
        .iter()
        .map(|p| {
            (
                p.recipient
                    .payer_code
                    .clone()
                    .unwrap_or_else(|| "resident".to_owned()),
                p.lines.len(),
                p.total.amount_string(),
            )
        })
        .collect();
    billed.sort();
    assert_eq!(
        billed,
        [
            ("CANTON-ZH".to_owned(), 2, "270.00".to_owned()),
            ("CSS".to_owned(), 2, "391.50".to_owned()),
            ("resident".to_owned(), 2, "5548.50".to_owned())
        ]
    );
}

async fn bad_runs_are_refused_and_change_nothing(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let t = admin();
    setup(&h, &app).await;
    for (body, field, code) in [
        (
            json!({"location_code": "H1", "period": "2099-01"}),
            "period",
            "in_future",
        ),
        (
            json!({"location_code": "H1", "period": "2026-13"}),
            "period",
            "invalid",
        ),
        (
            json!({"location_code": "H 1", "period": "2026-10"}),
            "location_code",
            "invalid",
        ),
        (
            json!({"location_code": "H1", "period": "2026-10", "patient_id": P1}),
            "patient_id",
            "preview_only",
        ),
    ] {
        let (s, problem, ctype) = call(&app, post("/v1/billing-runs", &t, &body)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body} {problem}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"));
        assert_eq!(problem["errors"][0]["field"], json!(field), "{problem}");
        assert_eq!(problem["errors"][0]["code"], json!(code), "{problem}");
    }
    let (s, _, _) = call(
        &app,
        post("/v1/billing-runs", &t, &json!({"location_code": "H1"})),
    )
    .await;
    assert!(s.is_client_error());
    // A user of H2 cannot run H1.
    let h2_only = carebill_platform::testing::token(&["billing_manager"], Some(&["H2"]));
    let (s, _, _) = call(
        &app,
        post(
            "/v1/billing-runs",
            &h2_only,
            &json!({"location_code": "H1", "period": "2026-10"}),
        ),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Two rules for the same slot at one institution: refused when a new version of a rule
    // would take another's slot, and when enabling the second.
    let twin = rule(
        "HOTEL-B",
        "stay",
        "ROOM",
        json!({"object_type": "DOUBLE", "quantity_method": "days"}),
    );
    let (s, body, _) = call(&app, post("/v1/invoicing-rules", &t, &twin)).await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let enable = |loc: &str| {
        test::TestRequest::put()
            .uri(&format!("/v1/invoicing-rule-activations/{loc}/HOTEL-B"))
            .insert_header(("authorization", format!("Bearer {t}")))
            .set_json(json!({"enabled": true}))
    };
    let (s, body, _) = call(&app, enable("H2")).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    let mut overlapping = twin.clone();
    overlapping["object_type"] = json!("SINGLE");
    let (s, problem, _) = call(
        &app,
        test::TestRequest::put()
            .uri("/v1/invoicing-rules/HOTEL-B")
            .insert_header(("authorization", format!("Bearer {t}")))
            .insert_header(("if-match", "\"v1\""))
            .set_json(json!({"reason": "single rooms too", "rule": overlapping})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    assert_eq!(problem["code"], json!("conflicting_rules"));
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("HOTEL")
    );
    let (_, kept, _) = call(&app, get("/v1/invoicing-rules/HOTEL-B", &t)).await;
    assert_eq!(kept["version"], json!(1), "{kept}");
    // Enabling at H1 an overlapping rule: refused, the matrix unchanged.
    let early = rule(
        "HOTEL-C",
        "stay",
        "ROOM",
        json!({"object_type": "SINGLE", "quantity_method": "days"}),
    );
    let (s, _, _) = call(&app, post("/v1/invoicing-rules", &t, &early)).await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, problem, _) = call(
        &app,
        test::TestRequest::put()
            .uri("/v1/invoicing-rule-activations/H1/HOTEL-C")
            .insert_header(("authorization", format!("Bearer {t}")))
            .set_json(json!({"enabled": true})),
    )
    .await;
    assert_eq!(s, StatusCode::CONFLICT, "{problem}");
    let (_, matrix, _) = call(
        &app,
        get("/v1/invoicing-rule-activations?location_code=H1", &t),
    )
    .await;
    assert!(
        !matrix.to_string().contains("HOTEL-C"),
        "nothing half-applied: {matrix}"
    );
    let (_, listed, _) = call(&app, get("/v1/billing-runs", &t)).await;
    assert_eq!(listed["items"], json!([]), "nothing committed");
    let (s, _, _) = call(
        &app,
        get("/v1/billing-runs/019a0000-0000-7000-8000-0000000000ff", &t),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Draft rules tried on care records given in the request (a resident who does not exist yet):
/// the lines under the rules in force and under the drafts, compared; nothing is stored.
async fn rules_are_tried_on_given_care_records_and_nothing_is_stored(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    let t = admin();
    setup(&h, &app).await;
    // A resident from 11 October in a single room, away from the 20th, back on the 22nd: two
    // days away, under the hotel's threshold of three. The draft counts absences from one day.
    let mut draft = hotel();
    draft["absence_threshold_days"] = json!(1);
    let body = json!({
        "location_code": "H1", "period": "2026-10",
        "care_records": [
            {"id": "stay", "details": {"kind": "stay", "beneficiary_kind": "LTC", "object_type": "SINGLE", "entry_date": "2026-10-11"}},
            {"details": {"kind": "absence", "reason": "hospital", "from": "2026-10-20", "to": "2026-10-22"}}
        ],
        "draft_rules": [draft]
    });
    let (s, tried, _) = call(&app, post("/v1/billing-runs/try", &t, &body)).await;
    assert_eq!(s, StatusCode::OK, "{tried}");
    let hotel_of = |lines: &Value| -> Vec<String> {
        lines
            .as_array()
            .expect("lines")
            .iter()
            .filter(|l| l["rule_code"] == "HOTEL")
            .map(|l| {
                format!(
                    "{} {}/{} {}..{} {} {}",
                    l["patient_id"].as_str().unwrap_or("?"),
                    l["rule_code"].as_str().unwrap_or("?"),
                    l["context"].as_str().unwrap_or("?"),
                    l["days"]["from"].as_str().unwrap_or("?"),
                    l["days"]["to"].as_str().unwrap_or("?"),
                    l["quantity"].as_str().unwrap_or("?"),
                    l["amount"]["amount"].as_str().unwrap_or("?"),
                )
            })
            .collect()
    };
    // In force: 21 days x 120.00; the draft: 21 - 2 = 19 days.
    assert_eq!(
        hotel_of(&tried["lines"]),
        ["given HOTEL/beneficiary 2026-10-11..2026-10-31 21 2520.00"],
        "{tried}"
    );
    assert_eq!(
        hotel_of(&tried["draft_lines"]),
        ["given HOTEL/beneficiary 2026-10-11..2026-10-31 19 2280.00"]
    );
    assert_eq!(tried["lines"][0]["record_id"], json!("stay"));
    assert_eq!(
        tried["comparison"]["differences"],
        json!([{"patient_id": "given", "rule_code": "HOTEL", "context": "beneficiary",
                "in_force": {"amount": "2520.00", "currency": "CHF"},
                "draft": {"amount": "2280.00", "currency": "CHF"}}])
    );
    // Nothing was stored: no run, no settlement; the real records bill as before.
    let (_, runs, _) = call(&app, get("/v1/billing-runs", &t)).await;
    assert_eq!(runs["items"], json!([]));
    let (_, fed, _) = call(&app, get("/v1/settlements", &t)).await;
    assert_eq!(fed["items"], json!([]));

    for (bad, field) in [
        (
            json!({"location_code": "H1", "period": "2026-13", "care_records": body["care_records"]}),
            "period",
        ),
        (
            json!({"location_code": "H1", "period": "2026-10", "care_records": []}),
            "care_records",
        ),
        (
            json!({"location_code": "H1", "period": "2026-10", "care_records": [
            {"details": {"kind": "stay", "beneficiary_kind": "LTC", "entry_date": "2026-10-11", "leaving_date": "2026-10-01"}}]}),
            "care_records.0.details.leaving_date",
        ),
        (
            json!({"location_code": "H 1", "period": "2026-10", "care_records": body["care_records"]}),
            "location_code",
        ),
    ] {
        let (s, problem, _) = call(&app, post("/v1/billing-runs/try", &t, &bad)).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {problem}");
        assert_eq!(problem["errors"][0]["field"], json!(field), "{problem}");
    }
    let (s, _, _) = call(
        &app,
        post(
            "/v1/billing-runs/try",
            &token(&["biller"], Some(&["H2"])),
            &body,
        ),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "another location's rules stay unseen"
    );
    let (s, _, _) = call(
        &app,
        post("/v1/billing-runs/try", &token(&["auditor"], None), &body),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
}

/// Coverages reach care records from two kinds of events, which two consumers or replicas may
/// apply out of order: the payers a billing run bills are those of the newest event.
async fn care_records_keep_the_newest_coverages_whatever_order_events_come_in(backend: Backend) {
    let h = harness(backend);
    let app = app(&h).await;
    setup(&h, &app).await;
    let changed = |code: &str, at: chrono::DateTime<Utc>| {
        let mut coverages = coverages(P1);
        code.clone_into(&mut coverages[0].payer_code);
        CoverageChangedV1 {
            patient_id: P1.parse().expect("patient id"),
            coverage_id: coverages[0].id,
            change: "updated".to_owned(),
            coverages,
            claims: Vec::new(),
            changed_at: at,
        }
    };
    let apply = |payload: CoverageChangedV1| {
        let env = Envelope::new("accounts", &payload, Utc::now(), None, None).expect("envelope");
        run_handler(&h.events.handler, env)
    };
    let insurers = || async {
        let mut found: Vec<(String, String)> =
            h.db.read(|c: &mut AnyConnection| {
                use carebill_settlement::schema::care_records;
                Ok(care_records::table
                    .filter(care_records::patient_id.eq(P1))
                    .select((care_records::id, care_records::coverages))
                    .load::<(String, String)>(c)?)
            })
            .await
            .expect("care records")
            .into_iter()
            .map(|(id, c)| {
                let c: Vec<CoverageRef> = serde_json::from_str(&c).expect("coverages");
                (id, c[0].payer_code.clone())
            })
            .collect();
        found.sort();
        found
    };
    let all = |code: &str| {
        ["abs-1", "eval-1", "stay-1"]
            .map(|id| (id.to_owned(), code.to_owned()))
            .to_vec()
    };
    assert_eq!(insurers().await, all("CSS"));
    // The insurer changes an hour from now (as accounts stamps it); then a new version of a
    // record, stamped now, carrying the coverages accounts had when it was written.
    let later = Utc::now() + chrono::Duration::hours(1);
    apply(changed("HELSANA", later)).await.expect("applied");
    deliver(
        &h,
        "eval-1",
        P1,
        "H1",
        2,
        CareRecordDetails::Evaluation {
            level: "L3".to_owned(),
            valid_from: d("2026-09-15"),
            valid_to: None,
        },
    )
    .await;
    assert_eq!(insurers().await, all("HELSANA"));
    // A coverage change older than what the records hold is applied late: nothing moves back.
    apply(changed("OLD", later - chrono::Duration::minutes(30)))
        .await
        .expect("applied");
    assert_eq!(insurers().await, all("HELSANA"));
    // A newer one still applies.
    apply(changed("SWICA", later + chrono::Duration::minutes(1)))
        .await
        .expect("applied");
    assert_eq!(insurers().await, all("SWICA"));
    // A new record written before that change (stamped now, with the coverages accounts had
    // then) but applied after it takes the newer coverages.
    deliver(
        &h,
        "abs-2",
        P1,
        "H1",
        1,
        absence("2026-11-20", "2026-11-22", AbsenceKind::Holiday),
    )
    .await;
    let mut expected = all("SWICA");
    expected.insert(1, ("abs-2".to_owned(), "SWICA".to_owned()));
    assert_eq!(insurers().await, expected);
}
