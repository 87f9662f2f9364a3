//! Invoices: issued on an approval, one per party, numbered without gaps; a later version bills
//! only what is not billed yet; documents out of scope are not found, and neither is the audit
//! trail for a payer-limited reader; stored lines are checked when read.

use std::sync::Arc;

use actix_web::http::StatusCode;
use carebill_domain::events::{Envelope, PartyRef};
use carebill_domain::ids::{ConsumptionId, SettlementId};
use carebill_platform::both_backends;
use carebill_platform::db::{Backend, Db, PLATFORM_MIGRATIONS};
use carebill_platform::schema::outbox;
use carebill_platform::testing::{PgTestDb, admin, call, get, token};
use chrono::Datelike as _;
use diesel::prelude::*;
use serde_json::{Value, json};
use tokio::sync::Notify;

use crate::common::*;

both_backends!(
    an_approval_issues_one_numbered_invoice_per_party_to_the_cent,
    a_later_version_bills_only_what_is_not_billed_yet,
    documents_out_of_scope_are_not_found_and_bad_requests_are_refused,
    a_payer_limited_reader_sees_no_audit_entries,
    a_stored_line_quantity_that_is_not_a_decimal_is_an_error,
    the_due_date_follows_the_payers_terms_else_the_locations,
    invoice_lines_explain_their_amounts_as_the_settlement_did,
);

async fn an_approval_issues_one_numbered_invoice_per_party_to_the_cent(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let w = world("H1");
    let settlement = SettlementId::new();
    let (c1, c2) = (ConsumptionId::new(), ConsumptionId::new());
    let pat = PartyRef::patient(w.patient.id);
    let a = approval(
        &w,
        settlement,
        1,
        vec![
            line(c1, "LAB-HB", 10_000, &[(&w.sanitas, 8_000), (&pat, 2_000)]),
            line(c2, "RX-01", 1_051, &[(&w.sanitas, 1_000), (&pat, 51)]),
        ],
    );
    let env = envelope(&a);
    deliver(&h.db, env.clone()).await.expect("applied");
    // The same event again, and another event for the same version: nothing new.
    deliver(&h.db, env).await.expect("duplicate ignored");
    deliver(&h.db, envelope(&a))
        .await
        .expect("version seen ignored");

    let (s, list, _) = call(
        &app,
        get(&format!("/v1/invoices?settlement_id={settlement}"), &t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    let invoices = items(&list);
    assert_eq!(invoices.len(), 2, "ADESLAS owes nothing: {list}");
    let year = year_of(&invoices[0]);
    let payer = &invoices[0];
    let patient = &invoices[1];
    assert_eq!(payer["number"], format!("H1-INV-{year}-000001"));
    assert_eq!(patient["number"], format!("H1-INV-{year}-000002"));
    assert_eq!(payer["recipient"]["payer_code"], "SANITAS");
    assert_eq!(payer["recipient"]["kind"], "payer");
    assert_eq!(patient["recipient"]["kind"], "patient");
    assert_eq!(patient["recipient"]["id"], w.patient.id.to_string());
    assert_eq!(
        payer["total"],
        json!({"amount": "90.00", "currency": "EUR"})
    );
    assert_eq!(
        patient["total"],
        json!({"amount": "20.51", "currency": "EUR"})
    );
    assert_eq!(payer["tax_total"]["amount"], "0.00");
    assert_eq!(payer["status"], "issued");
    assert!(payer.get("lines").is_none(), "lists show headers only");

    let (s, full, _) = call(
        &app,
        get(
            &format!("/v1/invoices/{}", patient["id"].as_str().expect("id")),
            &t,
        ),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{full}");
    assert_eq!(full["issuer"]["code"], "H1");
    assert_eq!(full["issuer"]["tax_id"], "ESB12345678");
    assert_eq!(full["episode"]["number"], "ENC-0001");
    assert_eq!(full["settlement"]["version"], 1);
    let lines = full["lines"].as_array().expect("lines");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["consumption_id"], c1.to_string());
    assert_eq!(lines[0]["line_amount"]["amount"], "100.00");
    assert_eq!(lines[0]["amount"]["amount"], "20.00");
    assert_eq!(lines[1]["amount"]["amount"], "0.51");
    assert_eq!(lines[1]["unit_price"]["amount"], "5.25");
    assert_eq!(lines[1]["quantity"], "2");
    assert_eq!(lines[0]["tax"]["category"], "E");
    assert_eq!(lines[0]["tax"]["exemption_reason_code"], "VATEX-EU-132-1B");
    let issued =
        chrono::NaiveDate::parse_from_str(full["issue_date"].as_str().expect("date"), "%Y-%m-%d")
            .expect("date");
    assert_eq!(
        full["due_date"],
        (issued + chrono::Duration::days(30)).to_string()
    );

    let events = outbox_bodies(&h.db, INVOICE_ISSUED).await;
    assert_eq!(events.len(), 2, "one invoice.issued per invoice");
    assert_eq!(events[0]["data"]["number"], payer["number"]);
    assert_eq!(events[0]["data"]["total"]["amount"], "90.00");
    assert_eq!(events[1]["data"]["lines"][1]["amount"]["amount"], "0.51");
    assert_eq!(events[1]["correlationid"], "corr-1");

    let (s, trail, _) = call(
        &app,
        get("/v1/invoicing/audit-events?entity_type=invoice", &t),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{trail}");
    let trail = items(&trail);
    assert_eq!(trail.len(), 2);
    assert_eq!(trail[0]["action"], "issue");
    assert_eq!(trail[0]["actor"], "system:invoicing");
}

async fn a_later_version_bills_only_what_is_not_billed_yet(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let w = world("H1");
    let settlement = SettlementId::new();
    let pat = PartyRef::patient(w.patient.id);
    let (c1, c2) = (ConsumptionId::new(), ConsumptionId::new());
    let first = line(c1, "LAB-HB", 10_000, &[(&w.sanitas, 8_000), (&pat, 2_000)]);
    deliver(
        &h.db,
        envelope(&approval(&w, settlement, 1, vec![first.clone()])),
    )
    .await
    .expect("v1");
    // A late consumption: version 2 carries both lines; only the new one is billed.
    let late = line(c2, "RX-01", 700, &[(&w.adeslas, 500), (&pat, 200)]);
    deliver(
        &h.db,
        envelope(&approval(&w, settlement, 2, vec![first.clone(), late])),
    )
    .await
    .expect("v2");
    let (_, list, _) = call(
        &app,
        get(
            &format!("/v1/invoices?settlement_id={settlement}&limit=500"),
            &t,
        ),
    )
    .await;
    let invoices = items(&list);
    let totals: Vec<(String, String)> = invoices
        .iter()
        .map(|i| {
            (
                i["recipient"]["kind"].as_str().expect("kind").to_owned()
                    + i["recipient"]["payer_code"].as_str().unwrap_or(""),
                i["total"]["amount"].as_str().expect("amount").to_owned(),
            )
        })
        .collect();
    assert_eq!(
        totals,
        vec![
            ("payerSANITAS".to_owned(), "80.00".to_owned()),
            ("patient".to_owned(), "20.00".to_owned()),
            ("payerADESLAS".to_owned(), "5.00".to_owned()),
            ("patient".to_owned(), "2.00".to_owned()),
        ]
    );
    // Filters.
    let (_, mine, _) = call(
        &app,
        get("/v1/invoices?recipient_kind=payer&payer_code=ADESLAS", &t),
    )
    .await;
    assert_eq!(items(&mine).len(), 1);
    let (_, page, _) = call(&app, get("/v1/invoices?limit=3", &t)).await;
    let cursor = page["next_cursor"].as_str().expect("cursor").to_owned();
    let (_, rest, _) = call(
        &app,
        get(&format!("/v1/invoices?limit=3&cursor={cursor}"), &t),
    )
    .await;
    assert_eq!(items(&rest).len(), 1);
    assert!(rest["next_cursor"].is_null());
    let number = invoices[2]["number"].as_str().expect("number");
    let (_, by_number, _) = call(&app, get(&format!("/v1/invoices?number={number}"), &t)).await;
    assert_eq!(items(&by_number)[0]["id"], invoices[2]["id"]);
    let day = invoices[0]["issue_date"].as_str().expect("day");
    let (_, that_day, _) = call(
        &app,
        get(
            &format!("/v1/invoices?issued_from={day}&issued_to={day}"),
            &t,
        ),
    )
    .await;
    assert_eq!(items(&that_day).len(), 4);
    let (_, before, _) = call(&app, get("/v1/invoices?issued_to=2001-01-01", &t)).await;
    assert!(items(&before).is_empty());

    // Everything already billed: a version 3 issues nothing.
    deliver(&h.db, envelope(&approval(&w, settlement, 3, vec![first])))
        .await
        .expect("v3");
    assert_eq!(outbox_bodies(&h.db, INVOICE_ISSUED).await.len(), 4);

    // A late redelivery of an older version (here with a line since corrected away) is
    // superseded by the versions invoiced after it.
    let stale = line(ConsumptionId::new(), "GONE", 4_000, &[(&w.sanitas, 4_000)]);
    deliver(&h.db, envelope(&approval(&w, settlement, 1, vec![stale])))
        .await
        .expect("stale version ignored");
    assert_eq!(outbox_bodies(&h.db, INVOICE_ISSUED).await.len(), 4);

    // An approval whose shares do not add up is refused (and dead-lettered by the bus).
    let mut broken = line(ConsumptionId::new(), "X", 1_000, &[(&w.sanitas, 900)]);
    broken.shares[0].amount = eur(900);
    let err = deliver(
        &h.db,
        envelope(&approval(&w, SettlementId::new(), 1, vec![broken])),
    )
    .await
    .expect_err("refused");
    assert!(err.contains("invalid_event"), "{err}");
    assert_eq!(outbox_bodies(&h.db, INVOICE_ISSUED).await.len(), 4);
}

async fn documents_out_of_scope_are_not_found_and_bad_requests_are_refused(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let w = world("H1");
    let pat = PartyRef::patient(w.patient.id);
    deliver(
        &h.db,
        envelope(&approval(
            &w,
            SettlementId::new(),
            1,
            vec![line(
                ConsumptionId::new(),
                "LAB-HB",
                10_000,
                &[(&w.sanitas, 8_000), (&pat, 2_000)],
            )],
        )),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(&app, get("/v1/invoices", &admin())).await;
    let invoices = items(&list);
    let payer_invoice = invoices[0]["id"].as_str().expect("id").to_owned();
    let patient_invoice = invoices[1]["id"].as_str().expect("id").to_owned();

    // Location scope.
    let h1 = token(&["biller"], Some(&["H1"]));
    let h2 = token(&["billing_manager"], Some(&["H2"]));
    let path = format!("/v1/invoices/{payer_invoice}");
    assert_eq!(call(&app, get(&path, &h1)).await.0, StatusCode::OK);
    assert_eq!(call(&app, get(&path, &h2)).await.0, StatusCode::NOT_FOUND);
    let (_, none, _) = call(&app, get("/v1/invoices", &h2)).await;
    assert!(items(&none).is_empty());
    let reason = json!({"reason": "wrong", "reissue": false});
    let (s, _) = credit(&app, &h2, &payer_invoice, reason.clone(), None).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, still, _) = call(&app, get(&path, &admin())).await;
    assert_eq!(still["status"], "issued");

    // Payer scope.
    let sanitas = payer_token("SANITAS");
    let adeslas = payer_token("ADESLAS");
    assert_eq!(call(&app, get(&path, &sanitas)).await.0, StatusCode::OK);
    assert_eq!(
        call(&app, get(&path, &adeslas)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        call(
            &app,
            get(&format!("/v1/invoices/{patient_invoice}"), &sanitas)
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, theirs, _) = call(&app, get("/v1/invoices", &sanitas)).await;
    assert_eq!(items(&theirs).len(), 1);
    let (_, theirs, _) = call(&app, get("/v1/invoices", &adeslas)).await;
    assert!(items(&theirs).is_empty());

    let unnamed = token(&["payer"], None);
    let (_, theirs, _) = call(&app, get("/v1/invoices", &unnamed)).await;
    assert!(
        items(&theirs).is_empty(),
        "a payer token without a payer sees nothing"
    );
    let (_, trail, _) = call(&app, get("/v1/invoicing/audit-events", &h1)).await;
    assert_eq!(items(&trail).len(), 2);
    let auditor_h2 = token(&["auditor"], Some(&["H2"]));
    let (_, trail, _) = call(&app, get("/v1/invoicing/audit-events", &auditor_h2)).await;
    assert!(items(&trail).is_empty());

    // Roles.
    let his = token(&["integration"], None);
    assert_eq!(call(&app, get(&path, &his)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&app, get("/v1/credit-notes", &his)).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, p) = credit(&app, &h1, &payer_invoice, reason.clone(), None).await;
    assert_eq!(
        (s, p["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden"))
    );
    let (s, _) = credit(&app, &sanitas, &payer_invoice, reason, None).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(
        call(&app, get("/v1/invoicing/audit-events", &sanitas))
            .await
            .0,
        StatusCode::FORBIDDEN
    );

    // Bad bodies: 422 naming the field, nothing credited.
    let t = admin();
    for (body, field) in [
        (json!({"reason": "   ", "reissue": false}), "reason"),
        (
            json!({"reason": "x".repeat(501), "reissue": false}),
            "reason",
        ),
        (json!({"reason": "why"}), "body"),
        (json!({"reason": "why", "reissue": "yes"}), "reissue"),
        (
            json!({"reason": "why", "reissue": false, "extra": 1}),
            "extra",
        ),
    ] {
        let (s, p) = credit(&app, &t, &payer_invoice, body.clone(), None).await;
        assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {p}");
        assert_eq!(p["errors"][0]["field"], field, "{body}: {p}");
    }
    let (_, still, _) = call(&app, get(&path, &t)).await;
    assert_eq!(still["status"], "issued");
    let (s, _) = credit(
        &app,
        &t,
        &uuid::Uuid::now_v7().to_string(),
        json!({"reason": "why", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Bad queries: 400 or 422 problem+json, never 500.
    for (q, status) in [
        ("/v1/invoices?status=paid", StatusCode::BAD_REQUEST),
        ("/v1/invoices?colour=red", StatusCode::BAD_REQUEST),
        ("/v1/invoices?patient_id=nope", StatusCode::BAD_REQUEST),
        (
            "/v1/invoices?issued_from=2026-13-01",
            StatusCode::BAD_REQUEST,
        ),
        ("/v1/invoices?recipient_kind=robot", StatusCode::BAD_REQUEST),
        ("/v1/invoices?limit=0", StatusCode::UNPROCESSABLE_ENTITY),
        ("/v1/invoices?limit=-1", StatusCode::BAD_REQUEST),
        ("/v1/invoices?cursor=abc", StatusCode::UNPROCESSABLE_ENTITY),
        (
            "/v1/invoices?issued_from=2026-02-01&issued_to=2026-01-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            "/v1/invoices?issued_from=0001-01-01",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v1/credit-notes?invoice_id=nope", StatusCode::BAD_REQUEST),
        ("/v1/credit-notes?status=issued", StatusCode::BAD_REQUEST),
        ("/v1/invoicing/audit-events?who=me", StatusCode::BAD_REQUEST),
        (
            "/v1/invoicing/audit-events?limit=501",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        ("/v1/invoices/not-an-id", StatusCode::NOT_FOUND),
        ("/v1/credit-notes/not-an-id", StatusCode::NOT_FOUND),
    ] {
        let (s, p, ctype) = call(&app, get(q, &t)).await;
        assert_eq!(s, status, "{q}: {p}");
        assert_eq!(ctype.as_deref(), Some("application/problem+json"), "{q}");
    }
    let req = actix_web::test::TestRequest::get().uri("/v1/invoices");
    assert_eq!(call(&app, req).await.0, StatusCode::UNAUTHORIZED);
}

/// Two replicas (two connection pools) on one PostgreSQL database invoice 40 settlements each
/// at the same time, for one location: the numbers are 1..N, no gap, no duplicate.
#[actix_web::test]
async fn two_replicas_number_invoices_without_gaps_or_duplicates() {
    let pg = PgTestDb::create();
    let replica_a = Db::connect(&pg.url, 6).expect("replica a");
    replica_a
        .migrate(&[&PLATFORM_MIGRATIONS, &carebill_invoicing::MIGRATIONS])
        .expect("migrate");
    let replica_b = Db::connect(&pg.url, 6).expect("replica b");
    // Approvals of two hospitals, interleaved: a batch numbers invoices of both series.
    let worlds = [world("H1"), world("H2")];
    let approvals: Vec<Envelope> = (0..120)
        .map(|i| {
            let w = &worlds[usize::try_from(i % 2).expect("index")];
            let pat = PartyRef::patient(w.patient.id);
            let mut a = approval(
                w,
                SettlementId::new(),
                1,
                vec![line(
                    ConsumptionId::new(),
                    "LAB-HB",
                    1_000 + i,
                    &[(&w.sanitas, 700), (&pat, 300 + i)],
                )],
            );
            a.number = format!("S-{i}");
            envelope(&a)
        })
        .collect();
    let (left, right) = approvals.split_at(60);
    // Both replicas' pools work at once: every approval of the first 20 on its own task, the
    // rest in batches of 8 (one transaction each, as the broker's consumers apply them).
    let mut tasks = Vec::new();
    for (db, envs) in [(&replica_a, left), (&replica_b, right)] {
        let sub = carebill_invoicing::events(db.clone(), Arc::new(Notify::new()));
        let (alone, batched) = envs.split_at(20);
        for env in alone {
            tasks.push(tokio::spawn((sub.handler)(env.clone())));
        }
        let batch = sub.batch.clone().expect("a batch handler");
        for chunk in batched.chunks(8) {
            tasks.push(tokio::spawn(batch(chunk.to_vec())));
        }
    }
    for t in tasks {
        t.await.expect("task").expect("applied");
    }
    let app = app(&replica_b).await;
    let (_, list, _) = call(&app, get("/v1/invoices?limit=500", &admin())).await;
    let invoices = items(&list);
    assert_eq!(invoices.len(), 240);
    let year = year_of(&invoices[0]);
    for code in ["H1", "H2"] {
        let mut numbers: Vec<String> = invoices
            .iter()
            .filter_map(|i| i["number"].as_str())
            .filter(|n| n.starts_with(code))
            .map(str::to_owned)
            .collect();
        numbers.sort();
        let expected: Vec<String> = (1..=120)
            .map(|n| format!("{code}-INV-{year}-{n:06}"))
            .collect();
        assert_eq!(numbers, expected, "{code}");
        // Numbers follow the moments of issue: a later number is never issued earlier.
        let mut by_number: Vec<(&str, chrono::DateTime<chrono::Utc>)> = invoices
            .iter()
            .filter(|i| i["number"].as_str().is_some_and(|n| n.starts_with(code)))
            .map(|i| {
                (
                    i["number"].as_str().expect("number"),
                    i["issued_at"]
                        .as_str()
                        .and_then(|t| t.parse().ok())
                        .expect("issued_at"),
                )
            })
            .collect();
        by_number.sort();
        for pair in by_number.windows(2) {
            assert!(pair[0].1 <= pair[1].1, "{pair:?}");
        }
    }
    // Each announcement carries its invoice's number, and each approval's report to settlement
    // comes after its invoices' announcements.
    let stored: std::collections::HashMap<&str, &str> = invoices
        .iter()
        .map(|i| {
            (
                i["id"].as_str().expect("id"),
                i["number"].as_str().expect("number"),
            )
        })
        .collect();
    let events: Vec<(String, Value)> = replica_a
        .read(|conn| {
            Ok(outbox::table
                .order(outbox::seq.asc())
                .select((outbox::event_type, outbox::body))
                .load::<(String, String)>(conn)?)
        })
        .await
        .expect("outbox")
        .into_iter()
        .map(|(t, b)| (t, serde_json::from_str(&b).expect("json")))
        .collect();
    let mut announced = std::collections::HashSet::new();
    for (kind, body) in &events {
        let data = &body["data"];
        if kind == INVOICE_ISSUED {
            let id = data["invoice_id"].as_str().expect("id");
            assert_eq!(
                Some(&data["number"].as_str().expect("number")),
                stored.get(id)
            );
            announced.insert(id.to_owned());
        } else {
            for id in data["invoice_ids"].as_array().expect("ids") {
                assert!(
                    announced.contains(id.as_str().expect("id")),
                    "settlement.invoiced before its invoice: {body}"
                );
            }
        }
    }
    assert_eq!(announced.len(), 240);
    // The audit trail records the numbers too, not the provisional ones.
    let (_, trail, _) = call(
        &app,
        get(
            "/v1/invoicing/audit-events?entity_type=invoice&limit=500",
            &admin(),
        ),
    )
    .await;
    let trail = items(&trail);
    assert_eq!(trail.len(), 240);
    for record in &trail {
        let id = record["entity_id"].as_str().expect("id");
        assert_eq!(
            Some(
                &record["changes"]["after"]["number"]
                    .as_str()
                    .expect("number")
            ),
            stored.get(id),
            "{record}"
        );
    }
}

/// One invoice to SANITAS and one to the patient, from one approval at H1.
async fn two_invoices(db: &Db) {
    let w = world("H1");
    let pat = PartyRef::patient(w.patient.id);
    deliver(
        db,
        envelope(&approval(
            &w,
            SettlementId::new(),
            1,
            vec![line(
                ConsumptionId::new(),
                "LAB-HB",
                10_000,
                &[(&w.sanitas, 8_000), (&pat, 2_000)],
            )],
        )),
    )
    .await
    .expect("approved");
}

async fn a_payer_limited_reader_sees_no_audit_entries(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    two_invoices(&h.db).await;
    let (s, trail, _) = call(
        &app,
        get("/v1/invoicing/audit-events", &token(&["auditor"], None)),
    )
    .await;
    assert_eq!((s, items(&trail).len()), (StatusCode::OK, 2), "{trail}");
    // A staff token with a payer claim (its own payer's invoice is among them) reads none.
    for roles in [&["auditor"][..], &["billing_manager", "collector"][..]] {
        let (s, trail, _) = call(
            &app,
            get(
                "/v1/invoicing/audit-events",
                &staff_payer_token(roles, "SANITAS"),
            ),
        )
        .await;
        assert_eq!(s, StatusCode::OK, "{trail}");
        assert!(items(&trail).is_empty(), "{roles:?}: {trail}");
    }
}

async fn a_stored_line_quantity_that_is_not_a_decimal_is_an_error(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    two_invoices(&h.db).await;
    let (_, list, _) = call(&app, get("/v1/invoices", &admin())).await;
    let invoice = items(&list)[0]["id"].as_str().expect("id").to_owned();
    let (s, note) = credit(
        &app,
        &admin(),
        &invoice,
        json!({"reason": "wrong payer", "reissue": false}),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{note}");
    let note_path = format!("/v1/credit-notes/{}", note["id"].as_str().expect("id"));
    let invoice_path = format!("/v1/invoices/{invoice}");
    for path in [&invoice_path, &note_path] {
        let (s, doc, _) = call(&app, get(path, &admin())).await;
        assert_eq!(s, StatusCode::OK, "{path}: {doc}");
        assert_eq!(doc["lines"][0]["quantity"], "2", "{path}: {doc}");
    }
    h.db.write(|conn| {
        Ok(diesel::sql_query("UPDATE document_lines SET quantity = 'several'").execute(conn)?)
    })
    .await
    .expect("quantities spoiled");
    for path in [&invoice_path, &note_path] {
        let (s, problem, _) = call(&app, get(path, &admin())).await;
        assert_eq!(
            (s, problem["code"].as_str()),
            (StatusCode::INTERNAL_SERVER_ERROR, Some("internal")),
            "{path}: {problem}"
        );
    }
}

/// Payment terms: an invoice to a payer follows the payer's terms (60 days end of month), the
/// patient's follows the location's (15 days, its own words); the invoice states them (BT-20),
/// and collections learns the due date from the event.
async fn the_due_date_follows_the_payers_terms_else_the_locations(b: Backend) {
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let mut w = world("H1");
    let terms = |json: Value| -> Option<carebill_domain::events::PartyBilling> {
        Some(serde_json::from_value(json).expect("billing"))
    };
    w.location.billing = terms(json!({"legal_name": "Hospital Central S.L.",
        "payment_terms": {"days": 15, "text": "Pay within 15 days to the account below."}}));
    w.sanitas.billing = terms(json!({"legal_name": "Sanitas S.A.",
        "payment_terms": {"days": 60, "end_of_month": true}}));
    let settlement = SettlementId::new();
    let pat = PartyRef::patient(w.patient.id);
    deliver(
        &h.db,
        envelope(&approval(
            &w,
            settlement,
            1,
            vec![line(
                ConsumptionId::new(),
                "LAB-HB",
                10_000,
                &[(&w.sanitas, 8_000), (&pat, 2_000)],
            )],
        )),
    )
    .await
    .expect("applied");
    let (_, list, _) = call(
        &app,
        get(&format!("/v1/invoices?settlement_id={settlement}"), &t),
    )
    .await;
    let invoices = items(&list);
    let date =
        |v: &Value| -> chrono::NaiveDate { v.as_str().expect("date").parse().expect("date") };
    let (payer, patient) = (&invoices[0], &invoices[1]);
    let issued = date(&payer["issue_date"]);
    let end_of_month = chrono::NaiveDate::from_ymd_opt(
        if issued.month() == 12 {
            issued.year() + 1
        } else {
            issued.year()
        },
        if issued.month() == 12 {
            1
        } else {
            issued.month() + 1
        },
        1,
    )
    .and_then(|d| d.pred_opt())
    .expect("end of month");
    let payer_due = end_of_month + chrono::Days::new(60);
    assert_eq!(date(&payer["due_date"]), payer_due, "{payer}");
    assert_eq!(
        payer["payment_terms"],
        format!("Payment within 60 days of the end of the invoice month, by {payer_due}.")
    );
    assert_eq!(
        date(&patient["due_date"]),
        issued + chrono::Days::new(15),
        "{patient}"
    );
    assert_eq!(
        patient["payment_terms"],
        "Pay within 15 days to the account below."
    );
    // The event collections opens the receivable from carries the same due date.
    let issued_events = outbox_bodies(&h.db, "carebill.invoicing.invoice.issued.v1").await;
    let event = issued_events
        .iter()
        .find(|e| e["data"]["invoice_id"] == payer["id"])
        .expect("the payer's invoice event");
    assert_eq!(event["data"]["due_date"], payer_due.to_string());
}

/// Coordination of benefits on the invoice: each line shows what the recipient's part is made of
/// (the parts of the share, which add up to it) and the method a payer after the first paid by;
/// a line of an older approval explains nothing.
async fn invoice_lines_explain_their_amounts_as_the_settlement_did(b: Backend) {
    use carebill_domain::settlement::{Coordination, Part, PartKind};
    let h = harness(b);
    let app = app(&h.db).await;
    let t = admin();
    let w = world("H1");
    let pat = PartyRef::patient(w.patient.id);
    let settlement = SettlementId::new();
    // SANITAS 114.75 (covered), ADESLAS 12.75 (coinsurance, supplemental), the patient 60.00
    // (copay 10.00, deductible 50.00) of a 187.50 line; a second line of an older approval.
    let mut explained = line(
        ConsumptionId::new(),
        "CONS",
        18_750,
        &[(&w.sanitas, 11_475), (&w.adeslas, 1_275), (&pat, 6_000)],
    );
    let part = |kind, cents| Part {
        kind,
        amount: eur(cents),
    };
    explained.shares[0].parts = vec![part(PartKind::Covered, 11_475)];
    explained.shares[1].parts = vec![part(PartKind::Coinsurance, 1_275)];
    explained.shares[1].method = Some(Coordination::Supplemental);
    explained.shares[2].parts = vec![
        part(PartKind::Copay, 1_000),
        part(PartKind::Deductible, 5_000),
    ];
    let plain = line(ConsumptionId::new(), "LAB-HB", 1_000, &[(&pat, 1_000)]);
    deliver(
        &h.db,
        envelope(&approval(&w, settlement, 1, vec![explained, plain])),
    )
    .await
    .expect("approved");
    let (_, list, _) = call(
        &app,
        get(&format!("/v1/invoices?settlement_id={settlement}"), &t),
    )
    .await;
    let explanation_of = |recipient: Option<&str>| {
        let invoice = items(&list)
            .into_iter()
            .find(|i| i["recipient"]["payer_code"].as_str() == recipient)
            .expect("the invoice");
        let id = invoice["id"].as_str().expect("id").to_owned();
        let app = &app;
        let t = &t;
        async move {
            let (_, doc, _) = call(app, get(&format!("/v1/invoices/{id}"), t)).await;
            doc["lines"]
                .as_array()
                .expect("lines")
                .iter()
                .map(|l| l.get("explanation").cloned().unwrap_or(Value::Null))
                .collect::<Vec<Value>>()
        }
    };
    assert_eq!(
        explanation_of(Some("SANITAS")).await,
        [
            json!({"parts": [{"kind": "covered", "amount": {"amount": "114.75", "currency": "EUR"}}]})
        ]
    );
    assert_eq!(
        explanation_of(Some("ADESLAS")).await,
        [
            json!({"method": "supplemental", "parts": [{"kind": "coinsurance", "amount": {"amount": "12.75", "currency": "EUR"}}]})
        ]
    );
    assert_eq!(
        explanation_of(None).await,
        [
            json!({"parts": [{"kind": "copay", "amount": {"amount": "10.00", "currency": "EUR"}},
                             {"kind": "deductible", "amount": {"amount": "50.00", "currency": "EUR"}}]}),
            Value::Null
        ]
    );
}
